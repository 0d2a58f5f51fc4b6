"""
The comparison table: seven ways to train the overfitting MLP, three initializations each
=========================================================================================

No regularization, L2, dropout, batch normalization, early stopping, data augmentation and a
combination, each trained from three initializations on lecture 03's 300 digits, compared by
the test loss and the test accuracy of the model each method returns, as mean and standard
deviation over the initializations.

The figure shows, per method, the test accuracy of the returned model (the final weights; for
early stopping the restored ones) and, for contrast, the best validation accuracy seen during
training, each as the mean over the initializations with a bar of one standard deviation; and
the test cross-entropy of the returned model. The best value seen on the validation set is a
maximum over sixty evaluations on that same set: it is at least the validation accuracy of
the returned model and biased upwards as an estimate of it, so the methods are scored on the
test set, used once at the end. With 360 test digits one digit is 0.28 %, so accuracy
differences smaller than the error bars are not evidence; the losses separate the methods more
clearly.

Try:
- Set `WIDTH = 512` (lecture 03's network; about ten times slower): does the ranking change?
- Set `EPOCHS = 100`: the plain network has barely started to overfit. Which methods still
  help?
- Set `REPLICATES = 6`: how much do the standard deviations shrink, and the standard errors?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

N_TRAIN = 300  # lecture 03's data, Adam 1e-3, full batch
WIDTH = 128  # a quarter of lecture 03's width, so that 18 networks train in a lecture
LEARNING_RATE = 1e-3
REPLICATES = 2 if SMOKE else 3  # initializations per method
EPOCHS = 2 if SMOKE else 300  # full-batch steps
EVERY = 1 if SMOKE else 5  # validate every EVERY steps
L2_PENALTY = 3e-4
DROPOUT_RATE = 0.5
NOISE_STD = 0.2  # augmentation: Gaussian noise on the pixels, as in script 05
PATIENCE = 15  # early stopping: steps without improvement of the validation loss

# %% [markdown]
# ## Data
# One split for all runs: 300 training digits, 360 validation digits that early stopping
# watches, 360 test digits that score every returned model once, at the end. The
# initializations change the initial weights, the dropout masks and the noise, not the data.
# The training digits are one cached full batch; one Keras epoch of `train_data` is `EVERY`
# full-batch steps, run in one compiled call (`steps_per_execution`).

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(n_train=N_TRAIN, seed=SEED)

# %% [markdown]
# ## The methods
# All share the 2-hidden-layer ReLU MLP and Adam; each changes one thing (the combination
# two):
#
# | method | change |
# |---|---|
# | L2 | `kernel_regularizer=L2(3e-4)` on every kernel: loss $+\ \lambda\sum\|W\|_F^2$ |
# | dropout | `Dropout(0.5)` after each hidden layer |
# | batch normalization | `Dense(use_bias=False) -> BatchNormalization(momentum=0.9) -> ReLU` |
# | early stopping | restore the best validation loss; stop 15 steps without improvement |
# | augmentation | `GaussianNoise(0.2)` on the pixels (training only) |
# | combination | batch normalization + augmentation |
#
# Batch normalization uses momentum 0.9 instead of Keras' 0.99: after $t$ full-batch steps
# the moving averages still hold the fraction $m^t$ of their initial values (script 04), and
# $0.99^{300} \approx 5\,\%$ against $0.9^{300} \approx 2\cdot10^{-14}$.

# %%
METHODS = {  # name: options of `stacked_network`
    "none": {},
    "L2": {"penalty": L2_PENALTY},
    "dropout": {"rate": DROPOUT_RATE},
    "batch norm": {"batch_norm": True},
    "augmentation": {"noise": NOISE_STD},
    "combination": {"batch_norm": True, "noise": NOISE_STD},
}
TABLE = [*METHODS, "early stopping"]  # early stopping returns snapshots of "none"

# %% [markdown]
# ## Eighteen networks in one Keras model
# Training $7 \times 3$ networks one after another would pay Keras' per-call overhead 21 times.
# Instead, as in lecture 02 (script 03), the `REPLICATES` networks of a method are stacked:
# `StackedDense` holds their kernels in one tensor of shape $(k, d_{\text{in}}, d_{\text{out}})$
# and multiplies network $r$'s activations by its own kernel with `einsum`; activations have
# shape (batch, $k$, units). The other layers act on each network separately as they are:
# `Dropout` and `GaussianNoise` draw independent masks and noise for every entry;
# `L2(lam)` on a stacked kernel is $\lambda\sum_r\|W_r\|_F^2$, the sum of the networks'
# penalties; `BatchNormalization` on the flattened (batch, $k \cdot$ units) activations keeps
# its statistics, $\gamma$ and $\beta$ per feature, that is per network and unit. Network $r$
# of every method starts from the same kernels (the initializers are seeded by the layer), so
# methods are compared *paired*: for each initialization, method against none.
#
# The six stacks share the input and nothing else. The model's loss is the sum over the six
# outputs of `loss_weights` $= k$ times the mean cross-entropy over examples and networks, that
# is $\sum_{\text{methods}} \sum_r \hat R(\theta_r)$, plus the penalties. No parameter appears
# in two networks, so the gradient with respect to network $r$'s weights is the gradient of its
# own objective, and Adam treats every parameter separately: each network trains exactly as it
# would alone. Early stopping needs no networks of its own: it returns snapshots of the plain
# networks (below).


# %%
class StackedDense(keras.layers.Layer):
    """k independent dense layers side by side: (batch, k, d_in) -> (batch, k, units)."""

    def __init__(self, units, replicates, *, seed, activation=None, use_bias=True, penalty=0.0):
        super().__init__()
        self.units, self.replicates, self.seed = units, replicates, seed
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.regularizer = keras.regularizers.L2(penalty) if penalty > 0 else None

    def build(self, input_shape):
        d_in = input_shape[-1]
        limit = float(np.sqrt(6.0 / (d_in + self.units)))  # Glorot uniform for each network
        self.kernel = self.add_weight(
            shape=(self.replicates, d_in, self.units),
            initializer=keras.initializers.RandomUniform(-limit, limit, seed=self.seed),
            regularizer=self.regularizer,
            name="kernel",
        )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.replicates, self.units), initializer="zeros", name="bias"
            )

    def call(self, inputs):
        # out[b, r, u] = sum_j inputs[b, r, j] * kernel[r, j, u] (+ bias[r, u])
        outputs = keras.ops.einsum("brj,rju->bru", inputs, self.kernel)
        return self.activation(outputs + self.bias if self.use_bias else outputs)


def stacked_network(name, penalty=0.0, rate=0.0, batch_norm=False, noise=0.0):
    """`REPLICATES` MLPs of one method; every method gets the same initial kernels."""
    layers = [keras.Input(shape=(64,)), keras.layers.RepeatVector(REPLICATES)]  # (batch, k, 64)
    if noise > 0:
        layers.append(keras.layers.GaussianNoise(noise))
    for layer in range(2):
        layers.append(
            StackedDense(
                WIDTH,
                REPLICATES,
                seed=1000 * SEED + layer,  # the same for every method: paired comparisons
                use_bias=not batch_norm,
                penalty=penalty,
            )
        )
        if batch_norm:
            layers += [
                keras.layers.Reshape((REPLICATES * WIDTH,)),
                keras.layers.BatchNormalization(momentum=0.9),
                keras.layers.Reshape((REPLICATES, WIDTH)),
            ]
        layers.append(keras.layers.Activation("relu"))
        if rate > 0:
            layers.append(keras.layers.Dropout(rate))
    layers.append(
        StackedDense(10, REPLICATES, seed=1000 * SEED + 2, activation="softmax", penalty=penalty)
    )
    return keras.Sequential(layers, name=name.replace(" ", "_"))


stacks = {method: stacked_network(method, **options) for method, options in METHODS.items()}
inputs = keras.Input(shape=(64,))
model = keras.Model(inputs, [stack(inputs) for stack in stacks.values()])
model.compile(
    optimizer=keras.optimizers.Adam(LEARNING_RATE),
    loss=["sparse_categorical_crossentropy"] * len(stacks),
    loss_weights=[float(REPLICATES)] * len(stacks),
    steps_per_execution=EVERY,
)
labels = np.repeat(split.y_train[:, None], REPLICATES, axis=1)  # (n, k): every network's labels
train_data = tf.data.Dataset.from_tensor_slices((split.x_train, (labels,) * len(stacks)))
train_data = train_data.batch(N_TRAIN).cache().repeat(EVERY)
n_params = stacks["none"].count_params() // REPLICATES
print(f"{len(stacks)} x {REPLICATES} networks of {n_params:,} parameters in one model")

# %% [markdown]
# ## Validation and early stopping, network by network
# After every `EVERY` steps a callback evaluates all networks on the validation digits. To each
# plain network it applies the rule of Keras' `EarlyStopping(monitor="val_loss",
# patience=..., restore_best_weights=True)` (`keras/src/callbacks/early_stopping.py`): if the
# validation loss is the lowest so far, remember the weights; once it has not improved for
# `PATIENCE` steps, stop. The plain networks themselves train on to `EPOCHS` (the "none" row);
# the early-stopping row is the snapshot the rule hands back. Full-batch training of a plain
# network is deterministic, so this is what the callback returns for a plain network alone.


# %%
def cross_entropy_and_accuracy(probabilities, y):
    """Per network: mean cross-entropy and accuracy; probabilities have shape (n, k, 10)."""
    correct = np.take_along_axis(probabilities, y[:, None, None], axis=2)[..., 0]  # (n, k)
    accuracy = (probabilities.argmax(axis=2) == y[:, None]).mean(axis=0)
    return -np.log(correct).mean(axis=0), accuracy


class ValidateAndStopEarly(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.best_loss = np.full(REPLICATES, np.inf)
        self.best_step = np.zeros(REPLICATES, dtype=int)
        self.stopped_step = np.full(REPLICATES, EPOCHS)  # EPOCHS: the rule never fired
        self.snapshots = [None] * REPLICATES  # network r's weights at its best step
        self.best_accuracy = {method: np.zeros(REPLICATES) for method in TABLE}
        self.steps, self.val_loss = [], {method: [] for method in METHODS}

    def on_epoch_end(self, epoch, logs=None):
        step = (epoch + 1) * EVERY
        outputs = self.model.predict_on_batch(split.x_val)
        self.steps.append(step)
        for method, probabilities in zip(METHODS, outputs, strict=True):
            loss, accuracy = cross_entropy_and_accuracy(np.asarray(probabilities), split.y_val)
            self.val_loss[method].append(loss)
            self.best_accuracy[method] = np.maximum(self.best_accuracy[method], accuracy)
        loss = self.val_loss["none"][-1]
        weights = None
        for r in np.flatnonzero(self.stopped_step == EPOCHS):  # the networks still watched
            self.best_accuracy["early stopping"][r] = self.best_accuracy["none"][r]
            if loss[r] < self.best_loss[r]:
                weights = weights or stacks["none"].get_weights()
                self.best_loss[r], self.best_step[r] = loss[r], step
                self.snapshots[r] = [w[r].copy() for w in weights]  # network r's slice
            elif step - self.best_step[r] >= PATIENCE:
                self.stopped_step[r] = step


validation = ValidateAndStopEarly()
model.fit(train_data, epochs=EPOCHS // EVERY, callbacks=[validation], verbose=0, shuffle=False)
print(f"early stopping: best steps {validation.best_step.tolist()} of {EPOCHS}")

# %% [markdown]
# ## Scoring on the test set
# Every method is scored by the model it returns, on data it has never seen: the final weights,
# and for early stopping the restored ones. The best validation accuracy seen during training
# is shown for contrast: a maximum over the validation records, it is at least the returned
# model's validation accuracy, an estimate biased upwards by the selection. (The validation and
# the test digits also differ in difficulty, by about a percent in accuracy for some seeds, in
# either direction: compare methods on one set, never a number from one with one from the
# other.)

# %%
outputs = model.predict_on_batch(split.x_test)
results = {}  # method -> (k, 3): best validation accuracy seen, test accuracy, test loss
for method, probabilities in zip(METHODS, outputs, strict=True):
    loss, accuracy = cross_entropy_and_accuracy(np.asarray(probabilities), split.y_test)
    results[method] = np.stack([validation.best_accuracy[method], accuracy, loss], axis=1)
final_weights = stacks["none"].get_weights()
stacks["none"].set_weights(  # the early-stopping networks: the snapshots, stacked
    [
        np.stack([snapshot[i] for snapshot in validation.snapshots])
        for i in range(len(final_weights))
    ]
)
loss, accuracy = cross_entropy_and_accuracy(
    np.asarray(stacks["none"].predict_on_batch(split.x_test)), split.y_test
)
results["early stopping"] = np.stack(
    [validation.best_accuracy["early stopping"], accuracy, loss], axis=1
)
stacks["none"].set_weights(final_weights)

mean = {method: values.mean(axis=0) for method, values in results.items()}
std = {method: values.std(axis=0, ddof=1) for method, values in results.items()}
# Paired: the test loss of each network over that of the plain network from the same kernels.
ratio = {method: results[method][:, 2] / results["none"][:, 2] for method in TABLE}

# %% [markdown]
# ## The table
# Mean $\pm$ standard deviation over the initializations (sample standard deviation, $k-1$);
# the last column is the mean over the initializations of the paired ratio
# $\text{test loss}_{\text{method}} / \text{test loss}_{\text{none}}$.

# %%
print(
    f"\n{'method':>15s} | {'best val. acc. seen':>19s} | {'test accuracy':>15s} | "
    f"{'test loss':>15s} | loss / none"
)
print("-" * 88)
for method in TABLE:
    m, s = mean[method], std[method]
    print(
        f"{method:>15s} | {m[0]:9.3f} ± {s[0]:.3f}    | {m[1]:7.3f} ± {s[1]:.3f} | "
        f"{m[2]:7.3f} ± {s[2]:.3f} | {ratio[method].mean():.3f}"
    )

# %% [markdown]
# ## Figure: the table with error bars

# %%
use_course_style()
fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(14, 5.8), width_ratios=[1.5, 1])
positions = np.arange(len(TABLE))
labels = [name if name != "combination" else "BN + aug." for name in TABLE]
for column, offset, marker, label in [
    (0, -0.12, "o", "best validation accuracy seen during training"),
    (1, 0.12, "s", "test accuracy of the returned model"),
]:
    ax_acc.errorbar(
        positions + offset,
        [mean[m][column] for m in TABLE],
        yerr=[std[m][column] for m in TABLE],
        fmt=marker,
        markersize=9,
        capsize=6,
        linewidth=2,
        label=label,
    )
ax_acc.set(
    xticks=positions,
    ylabel="accuracy",
    title=f"Accuracy, mean ± sd over {REPLICATES} initializations",
)
ax_acc.set_xticklabels(labels, rotation=25, ha="right")
ax_acc.legend(loc="upper left")
ax_acc.set_ylim(top=ax_acc.get_ylim()[1] + 0.006)  # room for the legend

ax_loss.bar(
    positions,
    [mean[m][2] for m in TABLE],
    0.6,
    yerr=[std[m][2] for m in TABLE],
    capsize=5,
    color="tab:green",
)
ax_loss.axhline(mean["none"][2], color="gray", linestyle="--", linewidth=1.5, label="none")
ax_loss.set(
    xticks=positions,
    ylabel="test cross-entropy",
    title="Test loss of the returned model",
)
ax_loss.set_xticklabels(labels, rotation=25, ha="right")
ax_loss.set_ylim(top=1.3 * max(mean[m][2] for m in TABLE))
ax_loss.legend(loc="upper right")
fig.suptitle(
    f"Regularizing a {WIDTH}-unit MLP on {N_TRAIN} digits ({EPOCHS} full-batch Adam steps)"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {"replicates": REPLICATES, "epochs": EPOCHS}
for method in TABLE:
    key = method.replace(" ", "_")
    SUMMARY[f"{key}_best_val_acc_mean"] = float(mean[method][0])
    SUMMARY[f"{key}_test_acc_mean"] = float(mean[method][1])
    SUMMARY[f"{key}_test_acc_std"] = float(std[method][1])
    SUMMARY[f"{key}_test_loss_mean"] = float(mean[method][2])
    SUMMARY[f"{key}_test_loss_std"] = float(std[method][2])
    SUMMARY[f"{key}_loss_ratio_mean"] = float(ratio[method].mean())
    SUMMARY[f"{key}_loss_ratio_max"] = float(ratio[method].max())
SUMMARY["early_stopping_best_step_mean"] = float(validation.best_step.mean())
SUMMARY["early_stopping_best_val_loss_mean"] = float(validation.best_loss.mean())
SUMMARY["none_final_val_loss_mean"] = float(validation.val_loss["none"][-1].mean())
for key, value in SUMMARY.items():
    print(f"{key:>34s}: {value:.4g}" if isinstance(value, float) else f"{key:>34s}: {value}")
