"""
Built in or learned: a G-CNN against data augmentation on rotated digits
========================================================================

With few upright training digits and a test set in all four orientations, a plain CNN, the
same CNN trained on the rotated copies of its training set (augmentation with the whole C4
orbit), and a C4 G-CNN trained on the upright digits only are compared, paired over several
training sets.

The figure shows, on the left, the test accuracy on the rotated test digits of the three
models for every repetition (thin lines join the models of one training set) and their means,
with the accuracy on the upright test digits for reference; on the right, the invariance error
of the logits of each trained model under rotations by 90, 180 and 270 degrees, on a log
scale. Look at the ordering of the means, and at the error of the
augmented model: much smaller than the plain model's, but not zero; only the G-CNN's is
float32 rounding.

Try:
- Set `N_PER_CLASS = 50`: does the augmented CNN catch up with the G-CNN?
- Keep the digit 9 (`DROPPED_CLASSES = []`): which pair of classes does every invariant
  classifier confuse, and why can no C4-invariant model tell them apart?
- Train the G-CNN on the augmented set too: does its accuracy change? Why should it not
  (up to the order of the optimizer's steps)?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

N_PER_CLASS = 5  # upright training digits per class: few on purpose
REPETITIONS = 1 if SMOKE else 3  # independent training sets; the models are paired on each
EPOCHS = 1 if SMOKE else 100  # full-batch Adam steps
LEARNING_RATE = 5e-3
G_FILTERS = 10  # channels per orientation of the G-CNN
PLAIN_FILTERS = 20  # channels of the plain CNN (about the same number of parameters)
DROPPED_CLASSES = [9]  # a 9 rotated by 180 degrees is a 6: no invariant model can tell

# %% [markdown]
# ## Data
# Training digits are upright. The test digits are used in all four orientations, which is
# the expectation over a uniformly random rotation by a multiple of 90°, without sampling
# noise. The 9 is left out: $r^2 \cdot 9$ looks like a 6, so the labels of the rotated digits
# would not be invariant.

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(flatten=False, seed=SEED)
keep_train = ~np.isin(split.y_train, DROPPED_CLASSES)
keep_test = ~np.isin(split.y_test, DROPPED_CLASSES)
x_pool, y_pool = split.x_train[keep_train][..., None], split.y_train[keep_train]
x_test, y_test = split.x_test[keep_test][..., None], split.y_test[keep_test]
classes = np.unique(y_pool)
label_of = {c: i for i, c in enumerate(classes)}
y_pool = np.array([label_of[c] for c in y_pool])
y_test = np.array([label_of[c] for c in y_test])
x_test_rotated = np.concatenate([np.rot90(x_test, a, axes=(1, 2)) for a in range(4)])
y_test_rotated = np.tile(y_test, 4)
rng = np.random.default_rng(SEED)


def training_set():
    """N_PER_CLASS upright digits of every class, drawn without replacement."""
    index = np.concatenate(
        [
            rng.choice(np.flatnonzero(y_pool == k), N_PER_CLASS, replace=False)
            for k in range(len(classes))
        ]
    )
    return x_pool[index], y_pool[index]


# %% [markdown]
# ## The models
# The C4 lifting and group convolutions of the previous script (four rotated copies of one
# kernel; the group convolution indexes its kernel by the relative orientation) and the same
# plain CNN. The G-CNN ends with the maximum over space and orientations instead of the mean:
# the maximum over a set that the group permutes is invariant too, and it trains more
# reliably on so few digits. Augmentation trains the plain CNN on the orbit
# $\{r^a x_i : a = 0, 1, 2, 3\}$ of every training digit: the empirical risk becomes the
# average over the group, $\frac{1}{4n}\sum_{i,a} \ell(f(r^a x_i), y_i)$, whose minimizers need
# not be invariant functions.


# %%
class LiftingConv2D(keras.layers.Layer):
    """C4 lifting convolution: (batch, H, W, C) -> (batch, H, W, 4, filters)."""

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = filters, kernel_size

    def build(self, input_shape):
        k = self.kernel_size
        self.kernel = self.add_weight(
            shape=(k, k, input_shape[-1], self.filters), initializer="he_normal", name="kernel"
        )
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")

    def call(self, x):
        kernel = ops.concatenate(
            [ops.rot90(self.kernel, k=j, axes=(0, 1)) for j in range(4)], axis=-1
        )
        y = ops.conv(x, kernel, padding="same")
        return ops.reshape(y, (-1, y.shape[1], y.shape[2], 4, self.filters)) + self.bias


class GroupConv2D(keras.layers.Layer):
    """C4 group convolution: (batch, H, W, 4, C) -> (batch, H, W, 4, filters)."""

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = filters, kernel_size

    def build(self, input_shape):
        k = self.kernel_size
        self.kernel = self.add_weight(
            shape=(k, k, 4, input_shape[-1], self.filters), initializer="he_normal", name="kernel"
        )
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")

    def call(self, y):
        _, height, width, _, channels = y.shape
        k = self.kernel_size
        blocks = []
        for j in range(4):
            rotated = ops.rot90(ops.roll(self.kernel, shift=j, axis=2), k=j, axes=(0, 1))
            blocks.append(ops.reshape(rotated, (k, k, 4 * channels, self.filters)))
        flat = ops.reshape(y, (-1, height, width, 4 * channels))
        z = ops.conv(flat, ops.concatenate(blocks, axis=-1), padding="same")
        return ops.reshape(z, (-1, height, width, 4, self.filters)) + self.bias


def make_gcnn():
    inputs = keras.Input(shape=(8, 8, 1))
    h = keras.layers.ReLU()(LiftingConv2D(G_FILTERS, 3)(inputs))
    h = keras.layers.ReLU()(GroupConv2D(G_FILTERS, 3)(h))
    h = keras.layers.Reshape((8, 8, 4 * G_FILTERS))(h)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Reshape((4, 4, 4, G_FILTERS))(h)
    h = keras.layers.ReLU()(GroupConv2D(G_FILTERS, 3)(h))
    h = keras.layers.GlobalMaxPooling3D()(h)  # max over space and orientations
    return keras.Model(inputs, keras.layers.Dense(len(classes))(h), name="gcnn")


def make_plain():
    inputs = keras.Input(shape=(8, 8, 1))
    h = keras.layers.Conv2D(PLAIN_FILTERS, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.Conv2D(PLAIN_FILTERS, 3, padding="same", activation="relu")(h)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Conv2D(PLAIN_FILTERS, 3, padding="same", activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inputs, keras.layers.Dense(len(classes))(h), name="plain")


compiled = {}  # one compiled model per architecture: its training step is traced only once


def train(make, x, y, seed):
    """Full-batch Adam for EPOCHS steps on (x, y), from the initial weights `seed` draws.

    A new model for every run would cost a new trace of its training step, which takes longer
    than the training itself. The compiled model of the architecture is reused instead: it
    gets the fresh initial weights and a fresh Adam state (moments and step count zero), which
    is exactly a new model compiled with a new optimizer."""
    keras.utils.set_random_seed(seed)  # the same seed for every model of one repetition
    fresh = make()
    if make not in compiled:
        fresh.compile(
            optimizer=keras.optimizers.Adam(LEARNING_RATE),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            steps_per_execution=EPOCHS,  # all the steps in one compiled call
        )
        compiled[make] = fresh
    model = compiled[make]
    model.set_weights(fresh.get_weights())
    for variable in model.optimizer.variables:
        if variable.name != "learning_rate":
            variable.assign(ops.zeros_like(variable))
    # EPOCHS copies of the training set, one full batch each: the same steps as
    # model.fit(x, y, epochs=EPOCHS, batch_size=len(x)), without Keras' per-epoch overhead.
    model.fit(
        np.concatenate([x] * EPOCHS),
        np.tile(y, EPOCHS),
        batch_size=len(x),
        epochs=1,
        shuffle=False,
        verbose=0,
    )
    return model


def evaluate(model):
    """Accuracy on the rotated and on the upright test digits, and the invariance error
    ||F(r^a x) - F(x)|| / ||F(x)|| of the logits, averaged over a = 1, 2, 3."""
    logits = ops.convert_to_numpy(model(x_test_rotated))  # one eager call: nothing to trace
    correct = np.argmax(logits, axis=1) == y_test_rotated
    logits = logits.reshape(4, len(x_test), -1)
    error = np.mean(
        [np.linalg.norm(logits[a] - logits[0]) / np.linalg.norm(logits[0]) for a in (1, 2, 3)]
    )
    return float(np.mean(correct)), float(np.mean(correct[: len(x_test)])), float(error)


# %% [markdown]
# ## Paired repetitions
# Each repetition draws a new training set; the three models are trained on it from the same
# seed, so the differences between them are the lesson's and not the training set's. The
# plain CNN sees four upright copies of every digit and the augmented one its four rotations:
# two training sets of the same size that differ only by the group action (four copies give
# the same mean loss, and so the same full-batch steps, as one).

# %%
names = ["plain CNN", "plain CNN + augmentation", "C4 G-CNN"]
rotated_acc = {name: [] for name in names}
upright_acc = {name: [] for name in names}
inv_error = {name: [] for name in names}
for rep in range(REPETITIONS):
    x_train, y_train = training_set()
    x_orbit = np.concatenate([np.rot90(x_train, a, axes=(1, 2)) for a in range(4)])
    x_copies = np.concatenate([x_train] * 4)  # four upright copies: the same full-batch loss
    y_orbit = np.tile(y_train, 4)  # as x_train, and the same shape as the orbit
    runs = {
        "plain CNN": (make_plain, x_copies, y_orbit),
        "plain CNN + augmentation": (make_plain, x_orbit, y_orbit),
        "C4 G-CNN": (make_gcnn, x_train, y_train),
    }
    for name, (make, x, y) in runs.items():
        rotated, upright, error = evaluate(train(make, x, y, SEED + rep))
        rotated_acc[name].append(rotated)
        upright_acc[name].append(upright)
        inv_error[name].append(error)
    print(f"repetition {rep}: " + ", ".join(f"{n} {rotated_acc[n][-1]:.3f}" for n in names))
mean = {name: float(np.mean(rotated_acc[name])) for name in names}
print("params:", {m.__name__: compiled[m].count_params() for m in compiled})

# %% [markdown]
# ## Figure: accuracy on rotated digits, and how invariant each model became

# %%
use_course_style()
fig, (ax_acc, ax_err) = plt.subplots(1, 2, figsize=(14, 5.6))
positions = np.arange(len(names))
for rep in range(REPETITIONS):
    ax_acc.plot(
        positions,
        [rotated_acc[n][rep] for n in names],
        "o-",
        color="gray",
        alpha=0.6,
        label="one training set (rotated test)" if rep == 0 else None,
    )
ax_acc.plot(
    positions,
    [mean[n] for n in names],
    "D-",
    color="black",
    markersize=10,
    label="mean (rotated test)",
)
ax_acc.plot(
    positions,
    [np.mean(upright_acc[n]) for n in names],
    "^--",
    color="tab:green",
    markersize=9,
    label="mean (upright test)",
)
ax_acc.axhline(1 / len(classes), color="tab:red", linestyle=":", label="chance")
ax_acc.set_xticks(positions, names, fontsize=11)
ax_acc.set(
    ylabel="test accuracy",
    ylim=(0, 1),
    title=f"{N_PER_CLASS} upright digits per class; test in all 4 orientations",
)
ax_acc.legend(fontsize=10, loc="lower right")

for i, name in enumerate(names):
    ax_err.scatter(np.full(REPETITIONS, i), inv_error[name], s=60, zorder=3)
ax_err.set_yscale("log")
ax_err.set_xticks(positions, names, fontsize=11)
ax_err.set(
    ylabel="‖F(r^a x) − F(x)‖ / ‖F(x)‖ (logits)",
    title="Invariance error, mean over a = 1, 2, 3",
)
fig.suptitle("Symmetry built into the architecture against symmetry taught by augmentation")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "repetitions": REPETITIONS,
    "n_train": N_PER_CLASS * len(classes),
    "n_test_rotated": len(y_test_rotated),
    "acc_plain": mean["plain CNN"],
    "acc_augmented": mean["plain CNN + augmentation"],
    "acc_gcnn": mean["C4 G-CNN"],
    "upright_acc_plain": float(np.mean(upright_acc["plain CNN"])),
    "upright_acc_gcnn": float(np.mean(upright_acc["C4 G-CNN"])),
    "gcnn_minus_augmented": mean["C4 G-CNN"] - mean["plain CNN + augmentation"],
    "augmented_minus_plain": mean["plain CNN + augmentation"] - mean["plain CNN"],
    "inv_error_plain": float(np.mean(inv_error["plain CNN"])),
    "inv_error_augmented": float(np.mean(inv_error["plain CNN + augmentation"])),
    "inv_error_gcnn_max": float(np.max(inv_error["C4 G-CNN"])),
    "inv_error_augmented_min": float(np.min(inv_error["plain CNN + augmentation"])),
}
for key, value in SUMMARY.items():
    print(f"{key:>26s}: {value:.4g}" if isinstance(value, float) else f"{key:>26s}: {value}")
