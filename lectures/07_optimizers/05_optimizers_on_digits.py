"""
Optimizers on a real task: six Keras optimizers train a digits MLP
==================================================================

Plain SGD (its learning rate tuned on a grid), SGD with momentum, Nesterov, Adagrad, RMSprop
and Adam train the same 64-64-64-10 network on the 8x8 digits from the same initial weights,
each for three seeds; Nesterov and Adam reach the target training loss in at most about two
thirds of the epochs plain SGD needs at its best rate, momentum is faster than tuned SGD too
but less reliably (its long-run step eta / (1 - m) = 1 lies above the tuned rate, and on some
seeds its loss spikes), while Adagrad and RMSprop are not reliably faster than tuned SGD here.

The figure shows the training loss (left) and the validation loss (right) against the epoch,
mean over the seeds with a band from the smallest to the largest seed, the target loss dotted
and a triangle where each optimizer reaches it. Look for: which methods cross the target
sooner, and how the validation losses (right) compare with the training losses.

Try:
- Give momentum the rate `(1 - 0.9) * tuned_rate` in `OPTIMIZERS` (the lambdas run after
  the tuning), so that its long-run step eta / (1 - m) equals tuned SGD's rate: how much of its
  advantage is left?
- Change `BATCH_SIZE` to 16 and to 512: which optimizers suffer from the noise, which from the
  few steps?
- Add `keras.optimizers.AdamW` or `keras.optimizers.Lion` to `OPTIMIZERS`.
"""

# %%
import itertools
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
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

SEEDS = 3  # replicates per optimizer (different initial weights)
HIDDEN = (64, 64)  # two hidden ReLU layers
BATCH_SIZE = 4096 if SMOKE else 64  # smoke: each `fit` is one step on all its examples
EPOCHS = 2 if SMOKE else 20
EVERY = 2  # record the losses every EVERY epochs
TARGET_LOSS = 0.05  # training cross-entropy the optimizers race to
SGD_RATES = [0.1, 0.2, 0.3, 0.5, 0.7, 1.0]  # the grid plain SGD is tuned on
# The others get one rate each, picked once on a similar grid (see the README). Momentum's
# rate 0.1 with m = 0.9 gives a long-run step eta / (1 - m) = 1, above the tuned SGD rate.
OPTIMIZERS = {
    "momentum": lambda: keras.optimizers.SGD(0.1, momentum=0.9),
    "Nesterov": lambda: keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    "Adagrad": lambda: keras.optimizers.Adagrad(0.2),
    "RMSprop": lambda: keras.optimizers.RMSprop(5e-3),
    "Adam": lambda: keras.optimizers.Adam(0.01),
}

# %% [markdown]
# ## Data
# The digits with pixels in [0, 1]: about 1080 training and 360 validation images.

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(seed=SEED)
print(f"training {split.x_train.shape}, validation {split.x_val.shape}")

# %% [markdown]
# ## Replicates as one model
# Three seeds of one optimizer would cost three `fit` calls; instead one model holds `R`
# independent copies of the network side by side. `ReplicatedDense` stores an `(R, in, out)`
# kernel and maps the input `(batch, in)` or `(batch, R, in)` to `(batch, R, out)`. The loss is
# the *sum* over replicates of each one's mean cross-entropy, so replicate $r$'s gradient is
# exactly the gradient it would get alone. All six optimizers update every weight entry by
# entry, so each replicate follows exactly its own training run; the replicates share only
# the order of the mini-batches.
#
# The SGD grid comes for free the same way: for plain SGD, multiplying a replicate's loss by
# $c$ is the same as multiplying its learning rate by $c$, since
# $w \leftarrow w - \eta \nabla(cL) = w - (c\eta)\nabla L$. (Not so for Adam, RMSprop or
# Adagrad: they divide by the size of the gradient, so a constant factor cancels.)


# %%
class ReplicatedDense(keras.layers.Layer):
    """R dense layers side by side: (batch, in) or (batch, R, in) -> (batch, R, units)."""

    def __init__(self, replicas, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.replicas, self.units = replicas, units
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        shape = (self.replicas, input_shape[-1], self.units)
        self.kernel = self.add_weight(shape=shape, initializer="zeros", name="kernel")
        self.bias = self.add_weight(shape=shape[::2], initializer="zeros", name="bias")

    def call(self, x):
        equation = "bi,rio->bro" if len(x.shape) == 2 else "bri,rio->bro"
        return self.activation(ops.einsum(equation, x, self.kernel) + self.bias)


def make_model(seeds):
    """Replicate r starts from the Glorot-uniform weights drawn with seed `seeds[r]`."""
    sizes = [64, *HIDDEN, 10]
    hidden = [ReplicatedDense(len(seeds), units, activation="relu") for units in HIDDEN]
    model = keras.Sequential([keras.Input(shape=(64,)), *hidden, ReplicatedDense(len(seeds), 10)])
    weights = []
    for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        limit = np.sqrt(6 / (fan_in + fan_out))
        # one independent stream per (seed, layer): every kernel of every replicate is new
        kernels = [
            np.random.default_rng([seed, layer]).uniform(-limit, limit, (fan_in, fan_out))
            for seed in seeds
        ]
        weights += [np.stack(kernels), np.zeros((len(seeds), fan_out))]
    model.set_weights(weights)
    return model


def summed_crossentropy(loss_weights):
    """Sum over replicates of weight_r * cross-entropy_r; Keras then averages over the batch."""
    loss_weights = ops.convert_to_tensor(np.asarray(loss_weights, dtype="float32"))

    def loss(y_true, logits):
        per_replicate = keras.losses.sparse_categorical_crossentropy(
            y_true, logits, from_logits=True
        )  # (batch, R)
        return ops.sum(per_replicate * loss_weights, axis=-1)

    return loss


def replicate_losses(model, x, y):
    """Mean cross-entropy of each replicate on (x, y): shape (R,)."""
    logits = ops.convert_to_numpy(model(x)).astype(np.float64)  # (n, R, 10)
    logits -= logits.max(axis=-1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    return -log_p[np.arange(len(y)), :, y].mean(axis=0)


# %% [markdown]
# ## Training
# Every optimizer sees the same sequence of mini-batches (one fixed permutation per epoch),
# in `EPOCHS // EVERY` calls of `fit`, each covering `EVERY` epochs in one compiled loop;
# after each call both losses of every replicate are recorded.


# %%
def train(optimizer, seeds, loss_weights):
    model = make_model(seeds)
    steps = -(-EVERY * len(split.x_train) // BATCH_SIZE)
    model.compile(optimizer, summed_crossentropy(loss_weights), steps_per_execution=steps)
    rng = np.random.default_rng(SEED)
    y_train = np.repeat(split.y_train[:, None], len(seeds), axis=1)  # one label per replicate
    train_curve = [replicate_losses(model, split.x_train, split.y_train)]  # epoch 0
    val_curve = [replicate_losses(model, split.x_val, split.y_val)]
    for _ in range(EPOCHS // EVERY):
        order = np.concatenate([rng.permutation(len(split.x_train)) for _ in range(EVERY)])
        # `fit` over EVERY epochs at once: the permutations follow one another, so the batch at
        # each epoch boundary holds examples of two epochs (EVERY separate epochs of `fit`
        # would end each with a smaller batch); the number of steps is the same up to one.
        model.fit(
            split.x_train[order], y_train[order], batch_size=BATCH_SIZE, shuffle=False, verbose=0
        )
        train_curve.append(replicate_losses(model, split.x_train, split.y_train))
        val_curve.append(replicate_losses(model, split.x_val, split.y_val))
    return np.array(train_curve), np.array(val_curve)  # (records, R)


seeds = [SEED * 100 + r for r in range(SEEDS)]
epochs = np.arange(0, EPOCHS + 1, EVERY)


# %% [markdown]
# ## Epochs to the target
# The epoch at which the mean training loss over the seeds first falls to `TARGET_LOSS`,
# interpolating $\log$ loss linearly between the two records around the crossing
# (`EPOCHS + 1` if it never does).


# %%
def epochs_to_target(train_curve):
    log_loss = np.log(train_curve.mean(axis=1))
    below = np.nonzero(log_loss <= np.log(TARGET_LOSS))[0]  # NaN (diverged) is never below
    if below.size == 0:
        return float(EPOCHS + 1)
    i = below[0]
    fraction = (log_loss[i - 1] - np.log(TARGET_LOSS)) / (log_loss[i - 1] - log_loss[i])
    return float(epochs[i - 1] + fraction * EVERY)


# %% [markdown]
# ## Plain SGD, tuned
# The whole grid in one run: replicate (rate $i$, seed $j$) has loss weight
# $\eta_i / \eta_0$ and the optimizer rate $\eta_0$. The tuned rate is the one that reaches
# the target first (the lowest final loss breaks ties), so SGD is tuned for exactly the race
# it runs.

# %%
base = SGD_RATES[0]
grid_train, grid_val = train(
    keras.optimizers.SGD(base),
    seeds * len(SGD_RATES),  # replicate i * SEEDS + j: rate i, seed j
    np.repeat(np.array(SGD_RATES) / base, SEEDS),
)
per_rate = [slice(i * SEEDS, (i + 1) * SEEDS) for i in range(len(SGD_RATES))]
grid_epochs = [epochs_to_target(grid_train[:, rows]) for rows in per_rate]
grid_final = [np.nan_to_num(grid_train[-1, rows].mean(), nan=np.inf) for rows in per_rate]
best = min(range(len(SGD_RATES)), key=lambda i: (grid_epochs[i], grid_final[i]))
tuned_rate = SGD_RATES[best]
for rate, reach, final in zip(SGD_RATES, grid_epochs, grid_final, strict=True):
    print(f"SGD rate {rate:4.2f}: target after {reach:4.1f} epochs, final loss {final:.4f}")
print(f"tuned SGD rate: {tuned_rate}")

# %% [markdown]
# ## The other five
# Same seeds, same batches, loss weight 1 for every replicate.

# %%
curves = {
    f"SGD (tuned η = {tuned_rate:g})": (grid_train[:, per_rate[best]], grid_val[:, per_rate[best]])
}
for name, make_optimizer in OPTIMIZERS.items():
    curves[name] = train(make_optimizer(), seeds, np.ones(SEEDS))

reached = {name: epochs_to_target(train_curve) for name, (train_curve, _) in curves.items()}
for name, value in reached.items():
    print(f"{name:>22s}: training loss <= {TARGET_LOSS} after {value:.1f} epochs")


# %% [markdown]
# ## Figure: mean and band over seeds

# %%
use_course_style()
fig, (ax_train, ax_val) = plt.subplots(1, 2, figsize=(15, 6))
for name, (train_curve, val_curve) in curves.items():
    label = f"{name}: {reached[name]:.1f} epochs" if reached[name] <= EPOCHS else name
    for ax, curve in ((ax_train, train_curve), (ax_val, val_curve)):
        (line,) = ax.semilogy(epochs, curve.mean(axis=1), label=label)
        ax.fill_between(
            epochs, curve.min(axis=1), curve.max(axis=1), color=line.get_color(), alpha=0.2
        )
ax_train.axhline(TARGET_LOSS, color="black", linestyle=":", label=f"target {TARGET_LOSS}")
for value, color in zip(
    reached.values(), plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False
):
    ax_train.plot(value, TARGET_LOSS, "v", color=color, markersize=11)
ax_train.set(
    xlabel="epoch",
    ylabel="training cross-entropy (log scale)",
    title=f"Training loss, mean and min-max band; ▼ reaches {TARGET_LOSS}",
)
ax_val.set(xlabel="epoch", ylabel="validation cross-entropy (log scale)", title="Validation loss")
ax_train.legend()
fig.suptitle(f"Six optimizers on the digits MLP, {SEEDS} seeds each, batch size {BATCH_SIZE}")
plt.show()

# %% [markdown]
# ## Summary

# %%
names = list(curves)
SUMMARY = {
    "target_loss": TARGET_LOSS,
    "epochs": EPOCHS,
    "seeds": SEEDS,
    "sgd_tuned_rate": tuned_rate,
    "sgd_tuned_rate_is_grid_edge": best in (0, len(SGD_RATES) - 1),
    "epochs_to_target_sgd": reached[names[0]],
    "epochs_to_target_momentum": reached["momentum"],
    "epochs_to_target_nesterov": reached["Nesterov"],
    "epochs_to_target_adagrad": reached["Adagrad"],
    "epochs_to_target_rmsprop": reached["RMSprop"],
    "epochs_to_target_adam": reached["Adam"],
    "final_train_loss_sgd": float(curves[names[0]][0][-1].mean()),
    "final_train_loss_adam": float(curves["Adam"][0][-1].mean()),
    "min_val_loss_adam": float(curves["Adam"][1].mean(axis=1).min()),
}
for key, value in SUMMARY.items():
    print(f"{key:>30s}: {value:.4g}" if isinstance(value, float) else f"{key:>30s}: {value}")
