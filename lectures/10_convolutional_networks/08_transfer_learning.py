"""
Transfer learning without downloads: features learned on five digits help with the other five
==============================================================================================

A small convolutional network (two 3 x 3 convolutions, max pooling, global max pooling) is
pretrained on the digits 0-4, placed at random positions on a 12 x 12 canvas. It then has to
learn the digits 5-9 from k labelled images per class, k = 1, 2, 4, 8, in three ways: a new
linear head on the frozen pretrained features; fine-tuning, the whole pretrained network trained
on from its pretrained weights with a new head; and the same architecture trained from scratch.
Each method is trained on the same many draws of k labels per class (16 draws for k = 1, 8 for
k = 2 and k = 8, 4 for k = 4: the budgets the claims are about get the most), and each draw is
tested on the same 448 held-out digits 5-9, also at random positions. The many
networks of one budget are trained as one Keras model whose layers hold one independent
convolution per network (checked against Keras' `Conv2D`).

The figure shows the test accuracy of the three methods against the number of labels per class
(mean over draws, bars: two standard errors), and the paired gains over training from scratch
at one label per class, one point per draw. Look at k = 1: five labelled images are too few to
learn stroke detectors, and the pretrained ones, learned on other digits, carry over; the
network trained from scratch is behind, by about 11 points for fine-tuning (0.04 to 0.13 over
seeds 0-9) and less, by an amount that depends more on the pretrained network, for the frozen
features (0.01 to 0.10: in seeds 4 and 5 hardly anything). Then look at larger k: fine-tuning's
lead shrinks (at k = 8, -0.05 to 0.09 over seeds 0-9), and the frozen features fall behind
even training from scratch (at k = 8 by 0.07 to 0.22, 2.9 to 8.3 paired standard errors).
They were shaped for telling 0-4 apart; with enough labels a network learns better ones for 5-9
itself. Every network starts as Keras would start it: the
pretrained one and the scratch networks from the Glorot uniform initializer of `Conv2D`, every
new head from that of `Dense`.

Try:
- Set `PRETRAIN_EPOCHS = 3`: how much of the gain at k = 1 is left with a worse pretrained
  network?
- Set `SHIFT = 0` (centred digits): does pretraining still help as much?
- Set `FINE_TUNE_RATE = 5e-2` (ten times larger; it is also the rate of training from
  scratch): fine-tuning moves far from the pretrained weights in the first steps. What happens
  to its gain at k = 1, and to the scratch network?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits, place_on_canvas
from common.plotting import use_course_style
from common.training import fit_fast

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

CANVAS = 12  # 8 x 8 digits on a 12 x 12 canvas ...
SHIFT = 2  # ... each moved by a random offset in {-2, ..., 2}^2
CHANNELS = (16, 64)  # the two 3 x 3 convolutions
SOURCE_CLASSES, TARGET_CLASSES = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)
SOURCE_COPIES = 1 if SMOKE else 3  # each source digit at this many random positions
PRETRAIN_EPOCHS = 1 if SMOKE else 30
PRETRAIN_RATE = 3e-3
LABELS_PER_CLASS = (1,) if SMOKE else (1, 2, 4, 8)  # the budgets k
DRAWS = (2,) if SMOKE else (16, 8, 4, 8)  # independent draws of k labels per class
STEPS = 1 if SMOKE else 50  # full-batch Adam steps on the k labels per class
HEAD_RATE = 2e-2  # the new head on frozen features
FINE_TUNE_RATE = 5e-3  # fine-tuning and training from scratch (the same rate for both)
if len(DRAWS) != len(LABELS_PER_CLASS) or min(DRAWS) < 2:
    raise ValueError(f"DRAWS must give >= 2 draws for each budget in {LABELS_PER_CLASS}: {DRAWS}")
if any(max(LABELS_PER_CLASS) % k for k in LABELS_PER_CLASS):
    raise ValueError(f"every budget must divide the largest one, got {LABELS_PER_CLASS}")
if not 0 <= SHIFT <= (CANVAS - 8) // 2:
    raise ValueError(f"SHIFT must lie in [0, {(CANVAS - 8) // 2}] on a {CANVAS} canvas: {SHIFT}")

# %% [markdown]
# ## Data: source digits 0-4, target digits 5-9
# The digits are split in half (stratified, by `SEED`). The source set is every digit 0-4 of
# both halves, each placed at `SOURCE_COPIES` random positions; the labelled target images are
# drawn from the first half's digits 5-9, the test set is the second half's digits 5-9. Every
# image is an 8 x 8 digit moved by an offset uniform on $\{-2, \dots, 2\}^2$ from the centre of
# a 12 x 12 canvas.

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(val_fraction=0.0, test_fraction=0.5, flatten=False, seed=SEED)
rng = np.random.default_rng([SEED, 8])


def place(digits):
    """8 x 8 digits at random positions on the canvas, shape (n, CANVAS, CANVAS, 1)."""
    offsets = rng.integers(-SHIFT, SHIFT + 1, (len(digits), 2))
    return place_on_canvas(digits, CANVAS, offsets=offsets)[..., np.newaxis]


x_all = np.concatenate([split.x_train, split.x_test])
y_all = np.concatenate([split.y_train, split.y_test])
source = np.isin(y_all, SOURCE_CLASSES)
x_source = np.concatenate([place(x_all[source]) for _ in range(SOURCE_COPIES)])
y_source = np.tile(y_all[source], SOURCE_COPIES)
target_pool = np.isin(split.y_train, TARGET_CLASSES)
pool_x, pool_y = split.x_train[target_pool], split.y_train[target_pool] - TARGET_CLASSES[0]
target_test = np.isin(split.y_test, TARGET_CLASSES)
x_test, y_test = place(split.x_test[target_test]), split.y_test[target_test] - TARGET_CLASSES[0]
n_classes = len(TARGET_CLASSES)
print(f"{len(x_source)} source images, {len(pool_y)} target digits to label, {len(y_test)} to test")

# %% [markdown]
# ## Pretraining on the source digits
# The network is $f = h \circ \phi$: the features $\phi(x) \in \mathbb R^{64}$ are the maxima
# over all positions of the 64 channels of $\operatorname{relu}(W_2 *
# \operatorname{maxpool}(\operatorname{relu}(W_1 * x)))$, and the head $h(z) = Az + b$ gives the
# logits. The global maximum makes $\phi$ insensitive to where a stroke lies, but not invariant
# to translations: the 2 x 2 max pooling is invariant only to even shifts (script 3) and the
# canvas has borders: moving a digit by one or two pixels changes the features of an untrained
# $\phi$ by 18 % to 31 % of their norm (median over the digits; seeds 0-2, shifts (1, 0), (0, 1),
# (2, 0), (2, 2)). Every method below shares this same, only partly invariant architecture:
# what pretraining can add is the filters $W_1, W_2$.


# %%
def features_model():
    inputs = keras.Input((CANVAS, CANVAS, 1))
    h = keras.layers.Conv2D(CHANNELS[0], 3, activation="relu")(inputs)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Conv2D(CHANNELS[1], 3, activation="relu")(h)
    return keras.Model(inputs, keras.layers.GlobalMaxPooling2D()(h), name="features")


keras.utils.set_random_seed(SEED)
phi = features_model()
pretrained = keras.Sequential([phi, keras.layers.Dense(len(SOURCE_CLASSES))])
pretrained.compile(
    optimizer=keras.optimizers.Adam(PRETRAIN_RATE),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
# Replaces pretrained.fit(x_source, y_source, epochs=PRETRAIN_EPOCHS, batch_size=128).
history = fit_fast(
    pretrained,
    x_source,
    y_source,
    epochs=PRETRAIN_EPOCHS,
    batch_size=128,
    every=PRETRAIN_EPOCHS,
    seed=SEED,
)
source_accuracy = float(history["accuracy"][-1])
kernel1, bias1, kernel2, bias2 = (keras.ops.convert_to_numpy(w) for w in phi.weights)
print(f"pretrained on digits 0-4: training accuracy {source_accuracy:.3f}")

# %% [markdown]
# ## Many networks as one model
# One draw of k labels per class trains one network; the networks of one budget are trained
# together as one Keras model whose layers hold an independent kernel per network $g$:
# $$y_{n,i,j,g,:} = \operatorname{relu}\Big(b_g + \sum_{a,c=0}^{2} W_{g,a,c}^\top
# x_{n,i+a,j+c,g,:}\Big),$$
# a "valid" 3 x 3 convolution written as nine shifted copies of the input and one batched
# matrix product (`ops.einsum`). The loss is the mean of the networks' losses, so each
# network's gradient is its own loss's gradient divided by the number of networks, and Adam,
# which divides each step by a running root mean square of the gradient, takes the same steps as
# if each network were trained alone (up to its $\epsilon = 10^{-7}$). The labels of draw $g$
# sit in column $g$: row $r$ of every draw holds a digit of class $\lfloor r / k \rfloor$.


# %%
class BatchedConv2D(keras.layers.Layer):
    """G independent valid 3 x 3 convolutions with relu: (n, h, w, G, c) -> (n, h-2, w-2, G, c')."""

    def __init__(self, kernel, bias, **kwargs):
        super().__init__(**kwargs)
        self.initial = (kernel, bias)  # (G, 9 c, c') and (G, c'), in Conv2D's kernel order

    def build(self, input_shape):
        kernel, bias = self.initial
        self.kernel = self.add_weight(kernel.shape, initializer=keras.initializers.Constant(kernel))
        self.bias = self.add_weight(bias.shape, initializer=keras.initializers.Constant(bias))

    def call(self, x):
        rows, cols = x.shape[1] - 2, x.shape[2] - 2
        patches = ops.concatenate(
            [x[:, a : a + rows, c : c + cols] for a in range(3) for c in range(3)], axis=-1
        )
        return ops.relu(ops.einsum("nijgp,gpc->nijgc", patches, self.kernel) + self.bias)


class BatchedDense(keras.layers.Layer):
    """G independent affine maps: (n, G, f) -> (n, G, f')."""

    def __init__(self, kernel, **kwargs):
        super().__init__(**kwargs)
        self.initial = kernel  # (G, f, f'); the biases start at zero, as in Dense

    def build(self, input_shape):
        groups, _, units = self.initial.shape
        init = keras.initializers.Constant(self.initial)
        self.kernel = self.add_weight(self.initial.shape, initializer=init)
        self.bias = self.add_weight((groups, units), initializer="zeros")

    def call(self, z):
        return ops.einsum("ngf,gfk->ngk", z, self.kernel) + self.bias


def batched_network(kernels1, biases1, kernels2, biases2, heads):
    """The architecture of `pretrained`, one independent copy per group: (n, h, w, G) -> logits."""
    groups = len(heads)
    inputs = keras.Input((CANVAS, CANVAS, groups))
    h = BatchedConv2D(kernels1, biases1)(ops.expand_dims(inputs, -1))
    half = h.shape[1] // 2  # 2 x 2 max pooling, as MaxPooling2D(2) (floor)
    h = h[:, : 2 * half, : 2 * half]
    h = ops.max(ops.reshape(h, (-1, half, 2, half, 2, groups, CHANNELS[0])), axis=(2, 4))
    h = ops.max(BatchedConv2D(kernels2, biases2)(h), axis=(1, 2))  # global max pooling
    return keras.Model(inputs, BatchedDense(heads)(h))


def glorot(shape, groups, generator):
    """`groups` draws of Keras' Glorot uniform initializer for one kernel of `shape`.

    For a convolution kernel of shape (3, 3, c, c') the fans are 9 c and 9 c', as in `Conv2D`.
    """
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    limit = np.sqrt(6.0 / (receptive * (shape[-2] + shape[-1])))
    return generator.uniform(-limit, limit, (groups, *shape)).astype("float32")


def tile(array, groups):
    return np.broadcast_to(array, (groups, *array.shape)).astype("float32")


# The check: group 0 holds the pretrained weights and reads the test images, group 1 holds the
# weights of a new, untrained Keras network and reads the test images in reverse order. Each
# group must compute its own network's features (the head is replaced by the identity), so a
# mix-up between the groups would show.
keras.utils.set_random_seed(SEED + 1)
fresh = features_model()
weights = [[keras.ops.convert_to_numpy(w) for w in net.weights] for net in (phi, fresh)]
check = batched_network(
    np.stack([w[0].reshape(9, -1) for w in weights]),
    np.stack([w[1] for w in weights]),
    np.stack([w[2].reshape(9 * CHANNELS[0], -1) for w in weights]),
    np.stack([w[3] for w in weights]),
    tile(np.eye(CHANNELS[1]), 2),
)
reference = keras.ops.convert_to_numpy(phi(x_test))
references = np.stack([reference, keras.ops.convert_to_numpy(fresh(x_test[::-1]))], axis=1)
batched = keras.ops.convert_to_numpy(check(np.concatenate([x_test, x_test[::-1]], axis=-1)))
batched_error = float(
    (np.abs(batched - references).max(axis=(0, 2)) / np.abs(references).max(axis=(0, 2))).max()
)
print(f"batched network against Keras' Conv2D: relative error {batched_error:.1e}")

# %% [markdown]
# ## Three ways to learn the target digits from k labels per class
# For each budget $k$ and each draw $g$ of $k$ labelled digits per class:
#
# * **frozen features**: the pretrained $\phi$ is kept, only a new head is trained on the
#   features $\phi(x)$, a multinomial logistic regression with $64 \cdot 5 + 5 = 325$ parameters
#   (a convex problem);
# * **fine-tuning**: $W_1, W_2$ start at their pretrained values, the head is new, everything is
#   trained;
# * **from scratch**: the same network, every weight from Keras' default (Glorot uniform)
#   initializer, everything is trained.
#
# The three methods of one draw start from the same new head, see the same labelled images and
# take the same `STEPS` full-batch Adam steps. The heads of all budgets are trained as one model:
# a draw with $k$ labels per class repeats each of its images $k_{\max}/k$ times, which leaves
# its mean loss the same in exact arithmetic, hence its Adam steps the same up to rounding and
# Adam's $\epsilon$ (which, as above, acts on a gradient divided by the number of networks).

# %%
k_max = max(LABELS_PER_CLASS)
draws, heads = {}, {}
for k, n_draws in zip(LABELS_PER_CLASS, DRAWS, strict=True):
    generator = np.random.default_rng([SEED, 8, k])
    # (5 k, n_draws) indices into the pool: row c * k + j is the j-th digit of class c.
    draws[k] = np.stack(
        [
            np.concatenate(
                [generator.choice(np.flatnonzero(pool_y == c), k, replace=False) for c in range(5)]
            )
            for _ in range(n_draws)
        ],
        axis=1,
    )
    heads[k] = glorot((CHANNELS[1], n_classes), n_draws, generator)
images = {
    k: place(pool_x[index.reshape(-1)])[..., 0].reshape(*index.shape, CANVAS, CANVAS)
    for k, index in draws.items()
}
labels = {k: np.repeat(np.arange(n_classes), k) for k in LABELS_PER_CLASS}
loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
accuracy = {}

# Frozen features: one linear head per draw, all budgets in one model.
repeat_rows = {
    k: np.arange(n_classes * k_max) // k_max * k + np.arange(n_classes * k_max) % k
    for k in LABELS_PER_CLASS
}
z_train = np.concatenate(
    [
        keras.ops.convert_to_numpy(
            phi(images[k][repeat_rows[k]].reshape(-1, CANVAS, CANVAS, 1))
        ).reshape(n_classes * k_max, -1, CHANNELS[1])
        for k in LABELS_PER_CLASS
    ],
    axis=1,
)
keras.utils.set_random_seed(SEED)
inputs = keras.Input((sum(DRAWS), CHANNELS[1]))
frozen = keras.Model(
    inputs, BatchedDense(np.concatenate([heads[k] for k in LABELS_PER_CLASS]))(inputs)
)
frozen.compile(optimizer=keras.optimizers.Adam(HEAD_RATE), loss=loss)
y_train = np.repeat(np.arange(n_classes), k_max)[:, np.newaxis].repeat(sum(DRAWS), axis=1)
# Replaces frozen.fit(z_train, y_train, epochs=STEPS, batch_size=len(z_train)).
fit_fast(frozen, z_train, y_train, epochs=STEPS, every=STEPS, seed=SEED)
z_test = np.repeat(reference[:, np.newaxis], sum(DRAWS), axis=1)
correct = np.argmax(keras.ops.convert_to_numpy(frozen(z_test)), axis=-1) == y_test[:, np.newaxis]
per_draw = np.split(correct.mean(axis=0), np.cumsum(DRAWS)[:-1])  # one array per budget
for k, part in zip(LABELS_PER_CLASS, per_draw, strict=True):
    accuracy["frozen", k] = part

# Fine-tuning and training from scratch: one model per budget, the first n_draws networks
# pretrained, the last n_draws from scratch, all trained.
for k, n_draws in zip(LABELS_PER_CLASS, DRAWS, strict=True):
    generator = np.random.default_rng([SEED, 10, k])
    network = batched_network(
        np.concatenate(
            [
                tile(kernel1.reshape(9, -1), n_draws),
                glorot((3, 3, 1, CHANNELS[0]), n_draws, generator).reshape(n_draws, 9, -1),
            ]
        ),
        np.concatenate([tile(bias1, n_draws), np.zeros((n_draws, CHANNELS[0]), "float32")]),
        np.concatenate(
            [
                tile(kernel2.reshape(9 * CHANNELS[0], -1), n_draws),
                glorot((3, 3, *CHANNELS), n_draws, generator).reshape(n_draws, 9 * CHANNELS[0], -1),
            ]
        ),
        np.concatenate([tile(bias2, n_draws), np.zeros((n_draws, CHANNELS[1]), "float32")]),
        np.concatenate([heads[k], heads[k]]),
    )
    network.compile(optimizer=keras.optimizers.Adam(FINE_TUNE_RATE), loss=loss)
    x_k = np.tile(images[k].transpose(0, 2, 3, 1), (1, 1, 1, 2))  # (5 k, h, w, 2 n_draws)
    y_k = np.repeat(labels[k][:, np.newaxis], 2 * n_draws, axis=1)
    keras.utils.set_random_seed(SEED)
    # Replaces network.fit(x_k, y_k, epochs=STEPS, batch_size=len(x_k)).
    fit_fast(network, x_k, y_k, epochs=STEPS, every=STEPS, seed=SEED)
    logits = np.concatenate(  # in chunks of test digits, to bound the memory
        [
            keras.ops.convert_to_numpy(network(np.repeat(chunk, 2 * n_draws, axis=-1)))
            for chunk in np.array_split(x_test, 4)
        ]
    )
    correct = (np.argmax(logits, axis=-1) == y_test[:, np.newaxis]).mean(axis=0)
    accuracy["fine-tuned", k], accuracy["scratch", k] = correct[:n_draws], correct[n_draws:]

METHODS = ("frozen", "fine-tuned", "scratch")
for k in LABELS_PER_CLASS:
    means = ", ".join(f"{m} {accuracy[m, k].mean():.3f}" for m in METHODS)
    print(f"k = {k} labels per class ({len(accuracy['scratch', k])} draws): {means}")

# %% [markdown]
# ## The gain at one label per class, paired over draws
# For draw $g$ let $d_g = a_g^{\text{pretrained}} - a_g^{\text{scratch}}$, the difference of
# the two test accuracies on the same labelled images and the same test digits. The mean gain
# $\bar d$ over the $D$ draws has standard error $s_d/\sqrt D$, with $s_d$ the standard
# deviation of the $d_g$: the standard error over label draws, given the pretrained network and
# the test set. Every draw is tested on the same 448 digits, so it does not contain the chance in
# the test digits, nor that in the pretrained network (one per seed; across seeds 0-9 the gain
# varies more than this standard error says). Pairing removes what the two methods share (an
# easy or a hard draw).

# %%
k0 = LABELS_PER_CLASS[0]
gains = {m: accuracy[m, k0] - accuracy["scratch", k0] for m in METHODS[:2]}
gain_mean = {m: float(d.mean()) for m, d in gains.items()}
gain_se = {m: float(d.std(ddof=1) / np.sqrt(len(d))) for m, d in gains.items()}
for m in METHODS[:2]:
    print(f"k = {k0}: {m} - scratch = {gain_mean[m]:+.3f} (standard error {gain_se[m]:.3f})")
# At the largest budget: how far the frozen features fall behind training from scratch (paired).
lag = accuracy["scratch", k_max] - accuracy["frozen", k_max]
lag_mean, lag_se = float(lag.mean()), float(lag.std(ddof=1) / np.sqrt(len(lag)))
print(f"k = {k_max}: scratch - frozen = {lag_mean:+.3f} (standard error {lag_se:.3f})")

# %% [markdown]
# ## Figure

# %%
use_course_style()
fig, (ax, right) = plt.subplots(1, 2, figsize=(14, 5.6), width_ratios=[2, 1])
for method, marker in zip(METHODS, "osD", strict=True):
    mean = [accuracy[method, k].mean() for k in LABELS_PER_CLASS]
    se = [
        accuracy[method, k].std(ddof=1) / np.sqrt(len(accuracy[method, k]))
        for k in LABELS_PER_CLASS
    ]
    ax.errorbar(
        LABELS_PER_CLASS, mean, yerr=2 * np.array(se), marker=marker, capsize=4, label=method
    )
ax.axhline(1 / n_classes, color="grey", linestyle=":", label="chance (1/5)")
ax.set(
    xscale="log",
    xticks=LABELS_PER_CLASS,
    xticklabels=[str(k) for k in LABELS_PER_CLASS],
    xlabel="labelled images per class of the target digits 5-9",
    ylabel=f"test accuracy ({len(y_test)} digits 5-9)",
    title="Pretrained on digits 0-4, then few labels of 5-9",
    ylim=(0, 1),
)
ax.minorticks_off()
ax.legend(loc="upper left", title="mean over draws ± 2 se", framealpha=1)
for j, method in enumerate(METHODS[:2]):
    d = gains[method]
    right.plot(np.full(len(d), j) + np.linspace(-0.15, 0.15, len(d)), d, "o", alpha=0.6)
    right.errorbar(j + 0.3, d.mean(), yerr=2 * gain_se[method], fmt="k_", capsize=6, markersize=14)
right.axhline(0, color="grey", linestyle=":")
right.set(
    xticks=[0, 1],
    xticklabels=["frozen\n- scratch", "fine-tuned\n- scratch"],
    xlim=(-0.5, 1.6),
    ylabel="paired gain in test accuracy",
    title=f"k = {k0}: one point per draw,\nmean ± 2 se",
)
fig.suptitle("Transfer learning: pretrained features against training from scratch")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "source_train_accuracy": source_accuracy,
    "batched_rel_error": batched_error,
    "test_digits": len(y_test),
    "smallest_budget": k0,
    "draws_smallest_budget": len(gains["frozen"]),
    "frozen_accuracy_k1": float(accuracy["frozen", k0].mean()),
    "fine_tuned_accuracy_k1": float(accuracy["fine-tuned", k0].mean()),
    "scratch_accuracy_k1": float(accuracy["scratch", k0].mean()),
    "frozen_gain_k1": gain_mean["frozen"],
    "frozen_gain_se_k1": gain_se["frozen"],
    "fine_tuned_gain_k1": gain_mean["fine-tuned"],
    "fine_tuned_gain_se_k1": gain_se["fine-tuned"],
    "largest_budget": k_max,
    "frozen_accuracy_kmax": float(accuracy["frozen", k_max].mean()),
    "fine_tuned_accuracy_kmax": float(accuracy["fine-tuned", k_max].mean()),
    "scratch_accuracy_kmax": float(accuracy["scratch", k_max].mean()),
    "draws_largest_budget": len(lag),
    "scratch_minus_frozen_kmax": lag_mean,
    "scratch_minus_frozen_se_kmax": lag_se,
}
for key, value in SUMMARY.items():
    print(f"{key:>24s}: {value:.4g}" if isinstance(value, float) else f"{key:>24s}: {value}")
