"""
Memorization: a wide network fits a small training set perfectly
================================================================

A two-hidden-layer MLP with 301,066 parameters, trained on 300 handwritten digits, drives the
training error to zero while the validation loss passes a minimum and climbs again.

The figure shows the empirical risk (training loss) and the validation loss against the epoch on
a log scale, with the validation minimum marked, and the two accuracies. Look for the moment the
curves part: after it, every further epoch lowers the training loss while the validation loss
climbs. The network keeps getting *more confident* on the validation digits it gets wrong, which
is why the validation loss grows even while the validation accuracy barely moves.

Try:
- Halve `N_TRAIN` or double `WIDTH`: does the minimum come earlier or later?
- Set `LEARNING_RATE = 1e-3`: the same shape, stretched in time, and a smaller rise.
- Replace the digits by your own data: `from common.data import split_dataset`, then
  `split = split_dataset(x, y, seed=SEED)` for inputs `x` of shape (n, 64) and integer labels
  `y` in 0..9 (other shapes: change `keras.Input` and the last layer's 10 units).
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits
from common.plotting import use_course_style
from common.training import fit_fast

import keras
import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

N_TRAIN = 300  # training digits: small on purpose
WIDTH = 512  # units in each of the two hidden layers
LEARNING_RATE = 3e-3
EPOCHS = 20 if SMOKE else 400
EVERY = 5  # record the curves every EVERY epochs (full-batch training, one step per epoch)

# %% [markdown]
# ## Data
# The 8x8 digits bundled with scikit-learn, pixels scaled to [0, 1]. Only `N_TRAIN` of them
# are used for training; the validation set (360 digits) measures generalization.

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(n_train=N_TRAIN, seed=SEED)
print(f"training {split.x_train.shape}, validation {split.x_val.shape}")

# %% [markdown]
# ## Model
# The empirical risk is the mean cross-entropy over the training set,
# $\hat R(\theta) = \frac1n \sum_{i=1}^n -\log p_\theta(y_i \mid x_i)$,
# and the generalization gap is $R(\theta) - \hat R(\theta)$, estimated here by the validation
# loss minus the training loss. With about 300,000 parameters for 300 examples, the network can
# drive $\hat R$ to zero: it can memorize.

# %%
model = keras.Sequential(
    [
        keras.Input(shape=(64,)),
        keras.layers.Dense(WIDTH, activation="relu"),
        keras.layers.Dense(WIDTH, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ]
)
model.compile(
    optimizer=keras.optimizers.Adam(LEARNING_RATE),
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
print(f"{model.count_params():,} parameters for {N_TRAIN} training examples")

# %% [markdown]
# ## Training
# Full-batch Adam. `fit_fast` is `model.fit` that records the curves every `EVERY` epochs
# (Keras' per-epoch overhead would otherwise dominate this small model).

# %%
# Replaces model.fit(split.x_train, split.y_train, batch_size=N_TRAIN, epochs=EPOCHS,
# validation_data=(split.x_val, split.y_val), verbose=0), recording every EVERY epochs.
history = fit_fast(
    model,
    split.x_train,
    split.y_train,
    epochs=EPOCHS,
    every=EVERY,
    validation_data=(split.x_val, split.y_val),
    seed=SEED,
)
epoch = history["epoch"]
best = int(np.argmin(history["val_loss"]))

# %% [markdown]
# ## Figure: the curves part

# %%
use_course_style()
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(13, 5.2))
ax_loss.semilogy(epoch, history["loss"], label="training loss (empirical risk)")
ax_loss.semilogy(epoch, history["val_loss"], label="validation loss")
ax_loss.axvline(epoch[best], color="gray", linestyle="--")
ax_loss.plot(
    epoch[best],
    history["val_loss"][best],
    "o",
    color="black",
    markersize=9,
    label=f"validation minimum (epoch {epoch[best]})",
)
ax_loss.set(
    xlabel="epoch",
    ylabel="cross-entropy (log scale)",
    title="Training loss keeps falling, validation loss turns",
)
ax_loss.legend()

ax_acc.plot(epoch, history["accuracy"], label="training accuracy")
ax_acc.plot(epoch, history["val_accuracy"], label="validation accuracy")
ax_acc.axvline(epoch[best], color="gray", linestyle="--")
ax_acc.set(
    xlabel="epoch",
    ylabel="accuracy",
    ylim=(0, 1.02),
    title=f"{N_TRAIN} digits memorized, validation stuck",
)
ax_acc.legend(loc="lower right")
fig.suptitle(f"Memorization: {model.count_params():,} parameters, {N_TRAIN} training digits")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "epochs": EPOCHS,
    "final_train_accuracy": float(history["accuracy"][-1]),
    "final_val_accuracy": float(history["val_accuracy"][-1]),
    "final_train_loss": float(history["loss"][-1]),
    "min_val_loss": float(history["val_loss"][best]),
    "min_val_loss_epoch": int(epoch[best]),
    "final_val_loss": float(history["val_loss"][-1]),
    "val_loss_rise": float(history["val_loss"][-1] / history["val_loss"][best]),
    "val_accuracy_at_min_val_loss": float(history["val_accuracy"][best]),
    "val_accuracy_change_after_min": float(
        history["val_accuracy"][-1] - history["val_accuracy"][best]
    ),
    "train_loss_falls_after_min": bool(np.all(np.diff(history["loss"][best:]) < 0)),
}
for key, value in SUMMARY.items():
    print(f"{key:>22s}: {value:.4g}" if isinstance(value, float) else f"{key:>22s}: {value}")
