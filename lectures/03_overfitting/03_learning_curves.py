"""
Learning curves: more data closes the generalization gap
========================================================

One fixed network is trained on growing subsets of the digits, from 50 to all 1,077 training
images, always for the same number of steps; training and validation error are plotted against
the training-set size.

The figure shows the training error staying near zero (the network can memorize every subset)
while the validation error falls as the training set grows, so the gap between them narrows.
Look at the slope: each doubling of the data buys a roughly constant factor of validation
error, which is why the horizontal axis is logarithmic.

Try:
- Make the network smaller (`WIDTH = 8`): the training error is no longer zero and the two
  curves meet from both sides.
- Extrapolate the validation curve: how much data would halve the error again?
- Average over several seeds (`MMA440_SEED=1, 2, ...`) and draw the spread.
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

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

WIDTH = 256
LEARNING_RATE = 3e-3
EPOCHS = 10 if SMOKE else 200  # full-batch steps, the same for every training-set size

# %% [markdown]
# ## Data
# The validation part (360 digits) is the same for every training-set size; each smaller
# training set is a stratified subset of the full one.

# %%
full_split = load_digits(seed=SEED)
TRAIN_SIZES = [50, 100, 200, 400, 800, len(full_split.x_train)]  # the last: all 1,077
if SMOKE:
    TRAIN_SIZES = TRAIN_SIZES[::2] + TRAIN_SIZES[-1:]  # 50, 200, 800, 1077


def train_and_measure(n_train):
    """Train a fresh network on n_train digits; return (training error, validation error)."""
    split = load_digits(n_train=n_train, seed=SEED)
    keras.utils.set_random_seed(SEED)  # the same initial weights for every size
    model = keras.Sequential(
        [
            keras.Input(shape=(64,)),
            keras.layers.Dense(WIDTH, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    # Full-batch training, all steps in one compiled call (see common/training.py).
    fit_fast(model, split.x_train, split.y_train, epochs=EPOCHS, every=EPOCHS)
    _, train_accuracy = model.evaluate(split.x_train, split.y_train, verbose=0)
    _, val_accuracy = model.evaluate(split.x_val, split.y_val, verbose=0)
    return 1.0 - train_accuracy, 1.0 - val_accuracy


# %% [markdown]
# ## Training
# The error is the misclassification rate, $1 - \text{accuracy}$.

# %%
train_error, val_error = np.array([train_and_measure(n) for n in TRAIN_SIZES]).T
gap = val_error - train_error
for n, e_train, e_val in zip(TRAIN_SIZES, train_error, val_error, strict=True):
    print(f"n = {n:5d}: training error {e_train:.3f}, validation error {e_val:.3f}")

# %% [markdown]
# ## Figure: the learning curves

# %%
use_course_style()
fig, ax = plt.subplots(figsize=(10, 5.6))
ax.semilogx(TRAIN_SIZES, 100 * val_error, "s-", label="validation error")
ax.semilogx(TRAIN_SIZES, 100 * train_error, "o-", label="training error")
ax.fill_between(
    TRAIN_SIZES,
    100 * train_error,
    100 * val_error,
    alpha=0.15,
    color="tab:red",
    label="generalization gap",
)
ax.set_xticks(TRAIN_SIZES, [str(n) for n in TRAIN_SIZES])
ax.set(
    xlabel="training-set size n (log scale)",
    ylabel="misclassification error (%)",
    title=f"Learning curves: a {WIDTH}-unit MLP, {EPOCHS} full-batch Adam steps per size",
)
ax.legend()
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "smallest_n": TRAIN_SIZES[0],
    "largest_n": TRAIN_SIZES[-1],
    "val_error_smallest_n": float(val_error[0]),
    "val_error_largest_n": float(val_error[-1]),
    "gap_smallest_n": float(gap[0]),
    "gap_largest_n": float(gap[-1]),
    "max_train_error": float(train_error.max()),
    "val_error_rank_corr": float(
        np.corrcoef(np.arange(len(TRAIN_SIZES)), np.argsort(np.argsort(val_error)))[0, 1]
    ),
}
for key, value in SUMMARY.items():
    print(f"{key:>22s}: {value:.4g}" if isinstance(value, float) else f"{key:>22s}: {value}")
