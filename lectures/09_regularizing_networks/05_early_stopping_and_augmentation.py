"""
Early stopping and data augmentation: stop at the best epoch, or make the data harder to memorize
=================================================================================================

Keras' `EarlyStopping` callback watches the validation loss, stops when it has not improved for
`patience` epochs and, with `restore_best_weights=True`, hands back the weights of the best
epoch; adding fresh Gaussian noise to the training pixels at every step gives the network new
data all the time and keeps its validation loss from climbing.

The left panel shows the validation loss of lecture 03's network epoch by epoch until the
callback stops it, with the best epoch, the stopping epoch and the validation loss of the
restored model. The right panel shows training and validation loss of the same network trained
on the plain digits and on noisy ones: noisy digits cannot be memorized, and the gap between
the two curves stays much smaller.

Try:
- Set `PATIENCE = 2`, then `PATIENCE = 50`: when does the callback stop, and is the restored
  model worse?
- Replace the noise by random shifts of up to one pixel: `Reshape((8, 8, 1))`,
  `RandomTranslation(0.125, 0.125, fill_mode="constant")`, `Flatten()`. Do shifts help too?
- Raise `NOISE_STD` to 0.5: too much augmentation?
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

N_TRAIN = 300  # lecture 03's setting: 300 digits, 2 x 512 ReLU, Adam 1e-3, full batch
WIDTH = 512
LEARNING_RATE = 1e-3
MAX_EPOCHS = 3 if SMOKE else 300  # the callback usually stops long before
PATIENCE = 10
EPOCHS = 2 if SMOKE else 200  # for the augmentation comparison
EVERY = 1 if SMOKE else 5  # validate every EVERY epochs there
NOISE_STD = 0.2  # standard deviation of the noise added to the pixels (which lie in [0, 1])

# %% [markdown]
# ## Data
# Lecture 03's digits, as cached full batches (with `tf.data`, Keras does not re-wrap the NumPy
# arrays at every epoch, so validating after every epoch is cheap).

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(n_train=N_TRAIN, seed=SEED)
train_data = tf.data.Dataset.from_tensor_slices((split.x_train, split.y_train)).batch(N_TRAIN)
val_data = tf.data.Dataset.from_tensor_slices((split.x_val, split.y_val)).batch(len(split.x_val))
train_data, val_data = train_data.cache(), val_data.cache()


def make_model(augmentation=None):
    keras.utils.set_random_seed(SEED)  # the same initial weights for every model
    layers = [keras.Input(shape=(64,))]
    if augmentation is not None:  # active in training only
        layers.append(augmentation)
    layers += [
        keras.layers.Dense(WIDTH, activation="relu"),
        keras.layers.Dense(WIDTH, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ]
    model = keras.Sequential(layers)
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=EVERY,  # up to EVERY steps in one compiled call
    )
    return model


# %% [markdown]
# ## Early stopping
# After every epoch the callback compares the validation loss with the best so far. If it has
# not improved for `PATIENCE` epochs, training stops; at the end the weights saved at the best
# epoch are put back. Early stopping chooses the training time $t$ on the validation set, a
# regularization parameter like $\lambda = 1/(2\eta t)$ in lecture 04.

# %%
model = make_model()
early_stopping = keras.callbacks.EarlyStopping(
    monitor="val_loss", patience=PATIENCE, restore_best_weights=True
)
history = model.fit(
    train_data,
    epochs=MAX_EPOCHS,
    validation_data=val_data,
    callbacks=[early_stopping],
    verbose=0,
    shuffle=False,
).history
epochs_run = len(history["val_loss"])
best_epoch = int(np.argmin(history["val_loss"])) + 1  # 1-based
best_val_loss = float(np.min(history["val_loss"]))
restored_val_loss, restored_val_accuracy = model.evaluate(val_data, verbose=0)
print(
    f"stopped after {epochs_run} epochs, best epoch {best_epoch}: validation loss "
    f"{best_val_loss:.5f} in the history, {restored_val_loss:.5f} after restoring"
)

# %% [markdown]
# ## Data augmentation: input noise
# `GaussianNoise` replaces each training image $x_i$ by $x_i + \varepsilon$,
# $\varepsilon \sim N(0, \sigma^2 I)$, with fresh noise at every step and in training mode
# only; at inference the layer passes the image through unchanged. The network never sees the
# same example twice. For a linear model with squared error the effect is exactly a penalty:
# $$\mathbb E_\varepsilon\big[((x + \varepsilon)^\top w - y)^2\big] = (x^\top w - y)^2 +
# \sigma^2\|w\|^2,$$
# ridge with $\lambda = \sigma^2$ (Bishop, 1995). For a network, a Taylor expansion to second
# order in $\sigma$ (the first-order term has mean zero) gives
# $$\mathbb E_\varepsilon\,\ell(x + \varepsilon) \approx \ell(x) +
# \frac{\sigma^2}{2}\operatorname{tr}\nabla_x^2 \ell(x),$$
# a penalty on the curvature of the loss in the input. For squared error
# $\ell = (f(x) - y)^2$ it is $\sigma^2\|\nabla_x f(x)\|^2 + \sigma^2 (f(x) - y)
# \operatorname{tr}\nabla_x^2 f(x)$: a penalty on the input gradient of the network (Tikhonov
# regularization) plus a term weighted by the residual, which is small where the network fits
# the data (Bishop, 1995).

# %%
curves = {}
for name, augmentation in [
    ("plain digits", None),
    ("noisy digits", keras.layers.GaussianNoise(NOISE_STD, seed=SEED)),
]:
    model = make_model(augmentation)
    curves[name] = model.fit(
        train_data.repeat(EVERY),  # one Keras epoch = EVERY full-batch steps
        epochs=EPOCHS // EVERY,
        validation_data=val_data,
        verbose=0,
        shuffle=False,
    ).history
    print(f"{name:>15s}: final validation loss {curves[name]['val_loss'][-1]:.3f}")
# The generalization gap at the end: validation loss minus training loss (the training loss is
# measured on the noisy inputs the network trains on, averaged over the last EVERY steps).
gap = {name: float(h["val_loss"][-1] - h["loss"][-1]) for name, h in curves.items()}

# %% [markdown]
# ## Figure: when to stop, and data that cannot be memorized

# %%
use_course_style()
fig, (ax_stop, ax_aug) = plt.subplots(1, 2, figsize=(14, 5.6))
epochs = np.arange(1, epochs_run + 1)
ax_stop.plot(epochs, history["loss"], label="training loss")
ax_stop.plot(epochs, history["val_loss"], label="validation loss")
ax_stop.axvline(best_epoch, color="gray", linestyle="--", label=f"best epoch {best_epoch}")
ax_stop.axvline(epochs_run, color="black", linestyle=":", label=f"stopped at {epochs_run}")
ax_stop.plot(
    epochs_run,
    restored_val_loss,
    "o",
    color="tab:red",
    markersize=10,
    label=f"restored weights: {restored_val_loss:.4f}",
)
ax_stop.set(
    xlabel="epoch",
    ylabel="cross-entropy",
    ylim=(0, 4 * best_val_loss),
    title=f"EarlyStopping(patience={PATIENCE}, restore_best_weights=True)",
)
ax_stop.legend()

val_epochs = np.arange(EVERY, EPOCHS + 1, EVERY)
for (name, h), color in zip(curves.items(), ["tab:blue", "tab:orange"], strict=True):
    ax_aug.semilogy(val_epochs, h["loss"], color=color, linestyle="--", label=f"{name}: training")
    ax_aug.semilogy(
        val_epochs,
        h["val_loss"],
        color=color,
        label=f"{name}: validation ({h['val_loss'][-1]:.3f})",
    )
ax_aug.set(
    xlabel="epoch",
    ylabel="cross-entropy (log scale)",
    title=f"Input noise (sd {NOISE_STD:g}) shrinks the gap",
)
ax_aug.legend()
fig.suptitle(f"Early stopping and data augmentation on {N_TRAIN} digits, {WIDTH}-unit MLP")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "patience": PATIENCE,
    "epochs_run": epochs_run,
    "best_epoch": best_epoch,
    "best_val_loss_in_history": best_val_loss,
    "restored_val_loss": float(restored_val_loss),
    "restored_val_accuracy": float(restored_val_accuracy),
    "epochs": EPOCHS,
    "final_val_loss_plain": float(curves["plain digits"]["val_loss"][-1]),
    "final_val_loss_noisy": float(curves["noisy digits"]["val_loss"][-1]),
    "final_gap_plain": gap["plain digits"],
    "final_gap_noisy": gap["noisy digits"],
}
for key, value in SUMMARY.items():
    print(f"{key:>26s}: {value:.4g}" if isinstance(value, float) else f"{key:>26s}: {value}")
