"""
Learning curves: more data closes the generalization gap
========================================================

One fixed network is trained on growing subsets of the digits, from 50 to all 1,077 training
images, always for the same number of steps; training and validation error are plotted against
the training-set size.

The right panel shows the training error staying at zero (the network memorizes every subset)
while the validation error falls as the training set grows, so the gap between them narrows.
The left panel draws the validation error on log-log axes with a fitted power law
a n^(-b): look at how close the points lie to the straight line, so that each doubling of
the data divides the error by about the same factor 2^b.

Try:
- Make the network smaller (`WIDTH = 8`): the training error is no longer zero and the two
  curves meet from both sides.
- Extrapolate the fitted power law: how much data would halve the error again (n 2^(1/b))?
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
# The held-out digits (the 360 of the validation part and the 360 of the test part, 720 in
# all) are the same for every training-set size; each smaller training set is a stratified
# subset of the full one. One error is 0.14 points of 720, and at an error of 3 % the count
# of errors (about 22) has a Poisson spread of about 20 %.

# %%
full_split = load_digits(seed=SEED)
TRAIN_SIZES = [50, 100, 200, 400, 800, len(full_split.x_train)]  # the last: all 1,077
if SMOKE:
    TRAIN_SIZES = [TRAIN_SIZES[0], TRAIN_SIZES[-1]]  # 50 and 1077: two networks


def train_and_measure(n_train):
    """Train a fresh network on n_train digits; return (training error, validation error)."""
    split = load_digits(n_train=n_train, seed=SEED)
    x_held_out = np.concatenate([split.x_val, split.x_test])
    y_held_out = np.concatenate([split.y_val, split.y_test])
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
    # Replaces model.fit(split.x_train, split.y_train, batch_size=n_train, epochs=EPOCHS,
    # verbose=0): the same full-batch steps in one compiled call instead of EPOCHS epochs.
    fit_fast(model, split.x_train, split.y_train, epochs=EPOCHS, every=EPOCHS, seed=SEED)
    _, train_accuracy = model.evaluate(split.x_train, split.y_train, verbose=0)
    _, val_accuracy = model.evaluate(x_held_out, y_held_out, verbose=0)
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
# ## A power law
# If $e(n) \approx a\,n^{-b}$, then $\log e = \log a - b \log n$: a straight line on log-log
# axes, and every doubling of $n$ multiplies the error by the same factor $2^{-b}$. The
# exponent is fitted by least squares on the logarithms.

# %%
log_n = np.log(TRAIN_SIZES)
log_error = np.log(np.maximum(val_error, 0.5 / (2 * len(full_split.y_val))))  # no log(0)
slope, intercept = np.polyfit(log_n, log_error, 1)
exponent = -slope
residual = log_error - (intercept + slope * log_n)
r_squared = 1.0 - residual.var() / log_error.var()
print(
    f"validation error ~ {np.exp(intercept):.2f} n^(-{exponent:.2f}): a factor "
    f"{2.0**-exponent:.2f} per doubling (R^2 = {r_squared:.3f})"
)

# %% [markdown]
# ## Figure: the learning curves

# %%
use_course_style()
fig, (ax_log, ax) = plt.subplots(1, 2, figsize=(14, 5.6))
fitted = np.exp(intercept) * np.asarray(TRAIN_SIZES, dtype=float) ** slope
ax_log.loglog(
    TRAIN_SIZES, 100 * val_error, "s", color="tab:blue", label="validation error (720 digits)"
)
ax_log.loglog(
    TRAIN_SIZES,
    100 * fitted,
    "--",
    color="gray",
    label=rf"fit $a\,n^{{-b}}$, $b = {exponent:.2f}$ ($\times{2.0**-exponent:.2f}$ per doubling)",
)
ax_log.minorticks_off()
ax_log.set_xticks(TRAIN_SIZES, [str(n) for n in TRAIN_SIZES])
percent_ticks = [1, 2, 3, 5, 7, 10, 15, 20, 30, 50]
ax_log.set_yticks(percent_ticks, [str(t) for t in percent_ticks])
ax_log.set_ylim(0.8 * 100 * val_error.min(), 1.25 * 100 * val_error.max())
ax_log.set(
    xlabel="training-set size n (log scale)",
    ylabel="validation error (%, log scale)",
    title="A power law is a straight line on log-log axes",
)
ax_log.legend()

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
    title="Training error stays at 0, the gap closes",
)
ax.legend()
fig.suptitle(f"Learning curves: a {WIDTH}-unit MLP, {EPOCHS} full-batch Adam steps per size")
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
    "power_law_exponent": float(exponent),
    "power_law_r_squared": float(r_squared),
    "val_error_falls_at_every_size": bool(np.all(np.diff(val_error) < 0)),
    "val_error_rank_corr": float(
        np.corrcoef(np.arange(len(TRAIN_SIZES)), np.argsort(np.argsort(val_error)))[0, 1]
    ),
}
for key, value in SUMMARY.items():
    print(f"{key:>22s}: {value:.4g}" if isinstance(value, float) else f"{key:>22s}: {value}")
