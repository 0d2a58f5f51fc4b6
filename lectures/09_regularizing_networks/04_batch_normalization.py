"""
Batch normalization: batch statistics in training, moving averages at inference
===============================================================================

A `BatchNormalization` layer normalizes with the statistics of the current batch in training and
with its moving averages at inference; the moving averages converge to the data statistics, and
a deep MLP trains much faster with the layer than without it.

The left panel shows how far the moving mean and the moving variance are from the statistics of
the (full) batch, step by step, against the geometric rate momentum^t that the update rule
predicts, and how far the inference-mode output is from the training-mode output. The right
panel shows the training loss of a 10-layer ReLU MLP on the digits with and without batch
normalization, trained by the same full-batch gradient descent. Look at the flat start of the
curve without normalization: the signal and the gradients are too small in the deep layers.

Try:
- Set `MOMENTUM = 0.99` (Keras' default): how many steps do the moving averages need now, and
  how far is the deep MLP's inference-mode loss from its training-mode loss after 100 steps?
- Give the plain MLP He initialization (`kernel_initializer="he_normal"`): how much of the
  gap closes?
- Train on mini-batches of 32: do the moving averages still converge to the data statistics?
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

FEATURES = 16  # width of the layer whose outputs are normalized
MOMENTUM = 0.9  # of the moving averages (Keras' default is 0.99)
STATISTIC_STEPS = 30 if SMOKE else 150

DEPTH = 3 if SMOKE else 10  # hidden layers of the deep MLP
WIDTH = 64
EPOCHS = 3 if SMOKE else 100  # full-batch steps
LEARNING_RATE = 0.1  # plain SGD for both networks

# %% [markdown]
# ## Data
# All 1,077 training digits, as one cached full batch: with a `tf.data` pipeline Keras does not
# re-wrap the NumPy arrays at every epoch.

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(seed=SEED)
train_data = tf.data.Dataset.from_tensor_slices((split.x_train, split.y_train))
train_data = train_data.batch(len(split.x_train)).cache()

# %% [markdown]
# ## The two modes
# For a batch $z_1, \dots, z_B$ (per feature), training mode computes
# $$\mu_B = \frac1B\sum_i z_i, \qquad \sigma_B^2 = \frac1B\sum_i (z_i - \mu_B)^2, \qquad
# \mathrm{BN}(z_i) = \gamma\,\frac{z_i - \mu_B}{\sqrt{\sigma_B^2 + \varepsilon}} + \beta,$$
# and updates the moving averages
# $\hat\mu \leftarrow m\,\hat\mu + (1-m)\,\mu_B$, $\hat\sigma^2 \leftarrow m\,\hat\sigma^2 +
# (1-m)\,\sigma_B^2$ (momentum $m$; Keras uses the biased variance, divided by $B$).
# Inference mode uses $\hat\mu, \hat\sigma^2$ in place of $\mu_B, \sigma_B^2$, so a prediction
# does not depend on the other examples of its batch. Feeding the same full batch again and
# again, $\hat\mu_t - \mu_B = m^t(\hat\mu_0 - \mu_B)$ with $\hat\mu_0 = 0$, $\hat\sigma^2_0 = 1$:
# the moving averages converge geometrically to the data statistics.

# %%
features = keras.layers.Dense(FEATURES)(split.x_train).numpy()  # some features to normalize
batch_mean, batch_var = features.mean(axis=0), features.var(axis=0)
bn = keras.layers.BatchNormalization(momentum=MOMENTUM)
bn.build(features.shape)
mean_error, var_error, mode_gap = [], [], []
for _ in range(STATISTIC_STEPS + 1):
    mean_error.append(np.abs(bn.moving_mean.numpy() - batch_mean).max())
    var_error.append(np.abs(bn.moving_variance.numpy() - batch_var).max())
    inference = bn(features, training=False).numpy()  # uses the moving averages
    training = bn(features, training=True).numpy()  # uses the batch, updates the averages
    mode_gap.append(np.abs(inference - training).max())
mean_error, var_error, mode_gap = map(np.array, (mean_error, var_error, mode_gap))
steps = np.arange(STATISTIC_STEPS + 1)
# The rate per step, read off the errors after RATE_STEPS steps, while they are still far
# above float32 rounding (0.9**60 = 1.8e-3 of the initial error): it should be m.
RATE_STEPS = min(60, STATISTIC_STEPS)
mean_rate = (mean_error[RATE_STEPS] / mean_error[0]) ** (1 / RATE_STEPS)
var_rate = (var_error[RATE_STEPS] / var_error[0]) ** (1 / RATE_STEPS)
print(f"measured rate per step: {mean_rate:.6f} (mean), {var_rate:.6f} (variance), m = {MOMENTUM}")
print(
    f"after {STATISTIC_STEPS} steps: |moving mean - batch mean| = {mean_error[-1]:.1e}, "
    f"|moving var - batch var| = {var_error[-1]:.1e}, mode gap {mode_gap[-1]:.1e}"
)
print(
    f"training-mode output: mean {np.abs(training.mean(axis=0)).max():.1e}, "
    f"std {training.std(axis=0).min():.4f} to {training.std(axis=0).max():.4f}"
)

# %% [markdown]
# ## A deep MLP with and without batch normalization
# Ten hidden ReLU layers of 64 units, Keras' default (Glorot uniform) initialization, plain
# full-batch gradient descent. With batch normalization each hidden layer is
# `Dense(use_bias=False) -> BatchNormalization(momentum=0.9) -> ReLU` (the bias would be removed
# by the centring; $\beta$ takes its place). The momentum is the one measured above: with
# Keras' default 0.99, after 100 steps $0.99^{100} \approx 37\,\%$ of the initial moving
# statistics would remain and the network would predict, in inference mode, with statistics
# it never trained with; with 0.9, $0.9^{100} \approx 3\cdot10^{-5}$. The loss reported by
# `fit` is the training-mode loss (batch statistics); the one that counts for predictions is
# the inference-mode loss, computed at the end with `evaluate` (moving averages).


# %%
def deep_mlp(batch_norm):
    keras.utils.set_random_seed(SEED)  # the same kernels for both networks
    layers = [keras.Input(shape=(64,))]
    for _ in range(DEPTH):
        layers.append(keras.layers.Dense(WIDTH, use_bias=not batch_norm))
        if batch_norm:
            layers.append(keras.layers.BatchNormalization(momentum=MOMENTUM))
        layers.append(keras.layers.Activation("relu"))
    layers.append(keras.layers.Dense(10, activation="softmax"))
    model = keras.Sequential(layers)
    model.compile(
        optimizer=keras.optimizers.SGD(LEARNING_RATE), loss="sparse_categorical_crossentropy"
    )
    return model


losses, inference_loss = {}, {}
for batch_norm in (False, True):
    model = deep_mlp(batch_norm)
    losses[batch_norm] = model.fit(train_data, epochs=EPOCHS, verbose=0, shuffle=False).history[
        "loss"
    ]
    inference_loss[batch_norm] = float(model.evaluate(train_data, verbose=0))
print(
    f"training loss after {EPOCHS} epochs: {losses[False][-1]:.3f} without, "
    f"{losses[True][-1]:.3f} with batch normalization "
    f"({inference_loss[True]:.3f} in inference mode, with the moving averages)"
)

# %% [markdown]
# ## Figure: statistics that converge, training that starts

# %%
use_course_style()
fig, (ax_stat, ax_loss) = plt.subplots(1, 2, figsize=(14, 5.6))
ax_stat.semilogy(steps, mean_error, label=r"|moving mean $-$ batch mean|")
ax_stat.semilogy(steps, var_error, label=r"|moving variance $-$ batch variance|")
ax_stat.semilogy(steps, mode_gap, label="|inference output $-$ training output|")
ax_stat.semilogy(
    steps,
    var_error[0] * MOMENTUM**steps,
    "--",
    color="gray",
    label=rf"theory: $\propto m^t$, $m$ = {MOMENTUM:g}",
)
ax_stat.set(
    xlabel="training-mode calls on the full batch",
    ylabel="largest difference over features (log scale)",
    title="Moving averages converge to the batch statistics",
)
ax_stat.legend(fontsize=10)

epochs = np.arange(1, EPOCHS + 1)
ax_loss.semilogy(epochs, losses[False], label="plain")
ax_loss.semilogy(epochs, losses[True], label="with batch normalization")
ax_loss.semilogy(
    EPOCHS,
    inference_loss[True],
    "o",
    color="tab:red",
    label=f"with BN, inference mode at the end ({inference_loss[True]:.3f})",
)
ax_loss.axhline(np.log(10), color="gray", linestyle=":", label="chance: log 10")
ax_loss.set(
    xlabel="epoch (one full-batch SGD step)",
    ylabel="training cross-entropy (log scale)",
    title=f"{DEPTH}-layer ReLU MLP on {len(split.x_train)} digits, SGD {LEARNING_RATE:g}",
)
ax_loss.legend()
fig.suptitle("Batch normalization: two modes, and faster training of a deep network")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "statistic_steps": STATISTIC_STEPS,
    "momentum": MOMENTUM,
    "moving_mean_error": float(mean_error[-1]),
    "moving_var_error": float(var_error[-1]),
    "moving_mean_rate": float(mean_rate),
    "moving_var_rate": float(var_rate),
    "initial_var_error": float(var_error[0]),
    "mode_gap_initial": float(mode_gap[0]),
    "mode_gap_final": float(mode_gap[-1]),
    "training_output_max_abs_mean": float(np.abs(training.mean(axis=0)).max()),
    "epochs": EPOCHS,
    "final_loss_plain": float(losses[False][-1]),
    "final_loss_batch_norm": float(losses[True][-1]),
    "inference_loss_plain": inference_loss[False],
    "inference_loss_batch_norm": inference_loss[True],
}
for key, value in SUMMARY.items():
    print(f"{key:>28s}: {value:.4g}" if isinstance(value, float) else f"{key:>28s}: {value}")
