"""
A custom training loop with tf.GradientTape reproduces model.fit
================================================================

Ten lines of TensorFlow (a tape, `tape.gradient`, `optimizer.apply`, compiled with
`tf.function`) train a copy of a Keras model on the same digits, in the same batches, with the
same Adam configuration, and end with the same weights as `model.fit`.

The figure shows the training loss per epoch reported by `fit` and computed by the loop (the
curves lie on top of each other), and the largest difference between the two models' weights
after every epoch, against the claimed tolerance and float32 round-off.
Needs the TensorFlow backend: the tape and `tf.function` are the lesson.

Try:
- Drop `training=True` from the loop: nothing changes here. Add a `Dropout` layer: now it
  matters (and the two models draw different dropout masks, so they part).
- Give the loop's model a fresh initialization instead of `set_weights`: how far apart do the
  weights end, and does the loss care?
- Shuffle every epoch in both: pass `x[order]` to `fit` one epoch at a time, with the same
  `order` in the loop.
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

WIDTH = 64  # units in each of the two hidden layers
BATCH_SIZE = 64  # the last batch of an epoch is smaller (1,077 = 16 x 64 + 53)
LEARNING_RATE = 1e-3
EPOCHS = 2 if SMOKE else 20

# %% [markdown]
# ## Data and two identical models
# The 8x8 digits (float32). `clone_model` copies the architecture with fresh weights;
# `set_weights` then copies the initial weights, so both models start at the same $\theta_0$.
# The two Adam optimizers are built from the same configuration.

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(seed=SEED)
x, y = split.x_train, split.y_train
n = len(x)

model_fit = keras.Sequential(
    [
        keras.Input(shape=(x.shape[1],)),
        keras.layers.Dense(WIDTH, activation="relu"),
        keras.layers.Dense(WIDTH, activation="relu"),
        keras.layers.Dense(10),  # logits
    ]
)
model_loop = keras.models.clone_model(model_fit)
model_loop.set_weights(model_fit.get_weights())

optimizer_fit = keras.optimizers.Adam(LEARNING_RATE)
optimizer_loop = keras.optimizers.Adam.from_config(optimizer_fit.get_config())
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
print(f"{n} training digits, {model_fit.count_params():,} parameters")

# %% [markdown]
# ## Training with `model.fit`
# For every batch $B$, `fit` minimizes the mean loss over the batch,
# $\mathcal L_B(\theta) = \frac{1}{|B|}\sum_{i \in B} \ell(f_\theta(x_i), y_i)$ (plus any
# regularization losses; there are none here), and takes one Adam step. `shuffle=False` keeps
# the batches in the order of the data: batch $k$ is examples $kB, \dots, kB + B - 1$.
# A callback records the weights after every epoch.

# %%
model_fit.compile(optimizer=optimizer_fit, loss=loss_fn)


def flat_weights(model):
    return np.concatenate([w.ravel() for w in model.get_weights()])


weights_start = flat_weights(model_fit)  # theta_0, shared by both models
weights_fit = []
history = model_fit.fit(
    x,
    y,
    batch_size=BATCH_SIZE,
    epochs=EPOCHS,
    shuffle=False,
    verbose=0,
    callbacks=[
        keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: weights_fit.append(flat_weights(model_fit))
        )
    ],
)
loss_fit = np.array(history.history["loss"])

# %% [markdown]
# ## The same training, written out
# One step: record the forward pass on the tape, ask the tape for
# $g = \nabla_\theta \mathcal L_B(\theta)$ (backpropagation), let Adam update $\theta$.
# `tf.function` compiles the step into a graph, as `fit` does; it is traced once per batch shape
# (the full batches and the last, smaller one). The epoch loss is the mean over examples,
# $\sum_B |B| \mathcal L_B / n$, which is what `fit` reports.


# %%
@tf.function
def train_step(x_batch, y_batch):
    with tf.GradientTape() as tape:
        logits = model_loop(x_batch, training=True)
        loss = loss_fn(y_batch, logits)
    grads = tape.gradient(loss, model_loop.trainable_variables)
    optimizer_loop.apply(grads, model_loop.trainable_variables)
    return loss


weights_loop, loss_loop = [], []
for _epoch in range(EPOCHS):
    total = 0.0
    for start in range(0, n, BATCH_SIZE):
        x_batch, y_batch = x[start : start + BATCH_SIZE], y[start : start + BATCH_SIZE]
        total += float(train_step(x_batch, y_batch)) * len(x_batch)
    loss_loop.append(total / n)
    weights_loop.append(flat_weights(model_loop))
loss_loop = np.array(loss_loop)

# %% [markdown]
# ## Comparison
# The largest absolute difference between corresponding weights after each epoch, and the
# difference of the reported losses. The weights agree bit for bit when both sides run the same
# operations in the same order; the losses differ in the last float32 digits only because `fit`
# averages the batch losses in float32 and this loop in Python's float64.

# %%
weight_diff = np.array(
    [np.max(np.abs(a - b)) for a, b in zip(weights_fit, weights_loop, strict=True)]
)
max_abs_weight = float(np.max(np.abs(weights_fit[-1])))
print(f"max |w_fit - w_loop| after each epoch: {np.array2string(weight_diff, precision=2)}")
print(f"max |loss_fit - loss_loop|: {np.max(np.abs(loss_fit - loss_loop)):.2e}")

# %% [markdown]
# ## Figure: the same curve, the same weights

# %%
use_course_style()
epochs = np.arange(1, EPOCHS + 1)
fig, (ax_loss, ax_diff) = plt.subplots(1, 2, figsize=(13, 5.2))
ax_loss.plot(epochs, loss_fit, label="model.fit (history)")
ax_loss.plot(
    epochs,
    loss_loop,
    "o",
    markerfacecolor="none",
    markersize=9,
    label="custom loop (tf.GradientTape)",
)
ax_loss.set(
    xlabel="epoch",
    ylabel="training cross-entropy (mean over the epoch)",
    title="Training loss: fit and the loop coincide",
)
ax_loss.legend()

# A symmetric-log axis: linear near 0 (so that a difference of exactly 0 can be drawn),
# logarithmic above 1e-10.
travelled = [np.max(np.abs(w - weights_start)) for w in weights_fit]
ax_diff.plot(
    epochs,
    travelled,
    "s-",
    color="C0",
    label=r"distance travelled $\max_k |\theta^{fit}_k - \theta^{0}_k|$",
)
ax_diff.plot(
    epochs,
    weight_diff,
    "o-",
    color="C2",
    label=r"fit vs loop $\max_k |\theta^{fit}_k - \theta^{loop}_k|$",
)
ax_diff.axhline(1e-6, color="C3", linestyle="--", label="claim: fit vs loop < 1e-6")
ax_diff.axhline(
    np.finfo(np.float32).eps * max_abs_weight,
    color="gray",
    linestyle=":",
    label=r"float32 eps $\times \max_k |\theta_k|$",
)
ax_diff.set_yscale("symlog", linthresh=1e-10)
ax_diff.set_ylim(-1e-11, 1e5)  # room for the legend at the top
ax_diff.set_yticks([0, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2, 1])
ax_diff.set(
    xlabel="epoch",
    ylabel="largest weight difference (symlog scale)",
    title="Weights after each epoch, compared entry by entry",
)
ax_diff.legend(loc="upper right", fontsize=10)
for ax in (ax_loss, ax_diff):
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
fig.suptitle(
    f"A custom training loop reproduces model.fit: {EPOCHS} epochs of Adam, "
    f"batch {BATCH_SIZE}, {n} digits"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "epochs": EPOCHS,
    "steps": EPOCHS * -(-n // BATCH_SIZE),
    "final_loss_fit": float(loss_fit[-1]),
    "final_loss_loop": float(loss_loop[-1]),
    "max_loss_diff": float(np.max(np.abs(loss_fit - loss_loop))),
    "max_weight_diff": float(weight_diff[-1]),
    "max_abs_weight": max_abs_weight,
    "weights_moved": float(np.max(np.abs(weights_fit[-1] - weights_start))),
}
for key, value in SUMMARY.items():
    print(f"{key:>16s}: {value:.4g}" if isinstance(value, float) else f"{key:>16s}: {value}")
