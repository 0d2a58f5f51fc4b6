"""
Mini-batch noise: the variance of the stochastic gradient falls like 1/B
========================================================================

The gradient of a random mini-batch of B digits scatters around the full-batch gradient with a
total variance that falls like 1/B (a straight line of slope -1 on log-log axes), times the
finite-population correction (N - B) / (N - 1), because Keras' mini-batches are drawn without
replacement from N training examples.
Needs the TensorFlow backend: the per-example gradients come from `tf.GradientTape.jacobian`.

The figure shows, left, the measured variance E||g_B - g||^2 against the batch size B for the
network at initialization and after training (markers), the formula sigma^2 / B times the
correction (lines), and the squared length ||g||^2 of the full gradient (dotted): where the
variance lies above it, a mini-batch gradient is mostly noise. On the right, B times the
variance over sigma^2: sampling with replacement stays at 1, sampling without replacement
follows (N - B) / (N - 1) down to 0 at B = N.

Try:
- Measure after longer training: how does the batch size where noise and signal are equal
  (sigma^2 / ||g||^2, the "critical batch size") move?
- Replace the total variance by the variance along the full gradient's direction only.
- Double the width of the hidden layer: does sigma^2 change, does the slope?
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
import tensorflow as tf

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

BATCH_SIZES = [1, 8, 64, 512] if SMOKE else [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
PASSES = 2 if SMOKE else 20  # shuffled passes over the data per batch size
TRAIN_EPOCHS = 2 if SMOKE else 20  # training before the second measurement
FIT_RANGE = (1, 64)  # batch sizes of the log-log slope fit, where (N - B) / (N - 1) ~ 1
CHECK_MAX_B = 128  # formula checked for B <= 128: at least 8 batches per pass, 160 in all

# %% [markdown]
# ## Data and network
# The digits training set ($N \approx 1080$) and a 64-32-10 network.

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(seed=SEED)
x, y = split.x_train, split.y_train
n = len(x)
model = keras.Sequential(
    [
        keras.Input(shape=(64,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10),
    ]
)
model.compile(
    optimizer=keras.optimizers.Adam(3e-3),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
)
per_example_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)

# %% [markdown]
# ## Per-example gradients
# The full-batch loss is $L = \frac1N \sum_i \ell_i$, so its gradient is the mean of the
# per-example gradients $g_i = \nabla \ell_i$, and a mini-batch $S$ of size $B$ has gradient
# $g_S = \frac1B \sum_{i \in S} g_i$. So we compute the $N \times P$ matrix of all $g_i$ once,
# as the Jacobian of the vector of per-example losses, and every mini-batch gradient is a mean
# of its rows. Keras 3 has no backend-neutral gradient function; this is the one place where
# the script uses TensorFlow's `GradientTape` directly.


# %%
def per_example_gradients(chunk=256):
    rows = []
    for start in range(0, n, chunk):  # in chunks, to keep the Jacobian's memory small
        with tf.GradientTape() as tape:
            losses = per_example_loss(y[start : start + chunk], model(x[start : start + chunk]))
        jacobians = tape.jacobian(losses, model.trainable_variables)  # (chunk, *shape) each
        rows.append(np.concatenate([j.numpy().reshape(len(losses), -1) for j in jacobians], 1))
    return np.concatenate(rows).astype(np.float64)  # (N, P)


def batch_gradient(indices):
    """The gradient of the mean loss over one mini-batch, straight from the tape."""
    with tf.GradientTape() as tape:
        loss = keras.ops.mean(per_example_loss(y[indices], model(x[indices])))
    return np.concatenate(
        [g.numpy().ravel() for g in tape.gradient(loss, model.trainable_variables)]
    )


# %% [markdown]
# ## The variance of a mini-batch gradient
# Let $\sigma^2 = \frac1N \sum_i \|g_i - g\|^2$ be the spread of the per-example gradients.
# Drawing $B$ of them *with* replacement gives $\mathbb E\|g_S - g\|^2 = \sigma^2/B$ exactly;
# drawing them *without* replacement (a shuffled epoch cut into batches, as `fit` does) gives
# $$\mathbb E\|g_S - g\|^2 = \frac{\sigma^2}{B}\,\frac{N - B}{N - 1},$$
# the finite-population correction: the examples of one batch are distinct, so they cannot
# all be unusual in the same direction, and at $B = N$ the "mini-batch" is the whole set and
# the variance is 0. We estimate the left side as `fit` samples: each of `PASSES` passes
# shuffles the $N$ examples and cuts them into $\lfloor N/B \rfloor$ batches of size $B$
# (with replacement: $N$ independent draws instead of a shuffle).


# %%
rng = np.random.default_rng(SEED)


def measure(gradients, replace):
    """Return the measured E||g_B - g||^2 per batch size, sigma^2, ||g||^2, and the standard
    error of each measured E||g_B - g||^2 (the spread of its terms over sqrt(their number))."""
    full = gradients.mean(axis=0)
    centered = gradients - full  # g_i - g
    variance, standard_error = [], []
    for b in BATCH_SIZES:
        k = n // b  # batches per pass
        squared_norms = []
        for _ in range(PASSES):
            order = rng.choice(n, n, replace=replace)  # a permutation when replace=False
            batch_means = centered[order[: k * b]].reshape(k, b, -1).mean(axis=1)  # g_S - g
            squared_norms.append(np.sum(batch_means**2, axis=1))
        squared_norms = np.concatenate(squared_norms)
        variance.append(np.mean(squared_norms))
        standard_error.append(np.std(squared_norms, ddof=1) / np.sqrt(len(squared_norms)))
    spread = float(np.mean(np.sum(centered**2, axis=1)))  # sigma^2
    return np.array(variance), spread, float(np.sum(full**2)), np.array(standard_error)


batch_sizes = np.array(BATCH_SIZES, dtype=float)
correction = (n - batch_sizes) / (n - 1)
results = {}
gradients = per_example_gradients()
check_indices = rng.choice(n, 32, replace=False)
tape_check = float(
    np.max(np.abs(gradients[check_indices].mean(axis=0) - batch_gradient(check_indices)))
)
print(f"mean of per-example gradients vs batch gradient: max difference {tape_check:.1e}")
results["at initialization"] = measure(gradients, replace=False)

# model.fit(x, y, epochs=TRAIN_EPOCHS, batch_size=64, verbose=0), in one compiled call
fit_fast(model, x, y, epochs=TRAIN_EPOCHS, batch_size=64, every=TRAIN_EPOCHS, seed=SEED)
gradients = per_example_gradients()
results[f"after {TRAIN_EPOCHS} epochs of Adam"] = measure(gradients, replace=False)
with_replacement = measure(gradients, replace=True)

# %% [markdown]
# ## The slope
# A least-squares line through $(\log B, \log \mathbb E\|g_S - g\|^2)$ for $B$ in
# `FIT_RANGE`, where the correction is at least 0.94; and the largest deviation of the
# measurement from the formula for $B \le$ `CHECK_MAX_B` (for larger $B$ a pass holds only a
# few batches, and the estimate itself is noisy), relative and in units of the measurement's
# standard error (the standard deviation of the $\|g_S - g\|^2$ over the square root of their
# number; batches of one pass are slightly negatively correlated, so this errs on the large
# side).

# %%
in_range = (batch_sizes >= FIT_RANGE[0]) & (batch_sizes <= FIT_RANGE[1])
log_b = np.log(batch_sizes[in_range])
# The same fit through the formula itself: slightly steeper than -1 because of the correction.
predicted_slope = float(
    np.polyfit(log_b, np.log(correction[in_range] / batch_sizes[in_range]), 1)[0]
)
print(f"slope of sigma^2 / B * (N - B) / (N - 1) over B in {FIT_RANGE}: {predicted_slope:.4f}")
checked = batch_sizes <= CHECK_MAX_B
slopes, deviations, z_scores = {}, {}, {}
for state, (variance, spread, _, error) in results.items():
    slopes[state] = float(np.polyfit(log_b, np.log(variance[in_range]), 1)[0])
    formula = spread / batch_sizes * correction
    relative = variance / formula - 1
    print(f"  measured / formula - 1 per batch size: {np.round(relative, 3)}")
    deviations[state] = float(np.max(np.abs(relative[checked])))
    # the deviation in units of the measurement's own standard error
    z_scores[state] = float(np.max(np.abs((variance - formula) / error)[checked]))
    print(
        f"{state}: sigma^2 = {spread:.3g}, slope {slopes[state]:.3f}, "
        f"largest deviation from the formula for B <= {CHECK_MAX_B}: {deviations[state]:.1%} "
        f"({z_scores[state]:.1f} standard errors)"
    )
variance_wr, spread_wr, _, error_wr = with_replacement
relative_wr = variance_wr / (spread_wr / batch_sizes) - 1
deviation_wr = float(np.max(np.abs(relative_wr[checked])))
z_score_wr = float(np.max(np.abs((variance_wr - spread_wr / batch_sizes) / error_wr)[checked]))

# %% [markdown]
# ## Figure

# %%
use_course_style()
fig, (ax_var, ax_fpc) = plt.subplots(1, 2, figsize=(15, 6))
fine = np.geomspace(1, n, 200)
for (state, (variance, spread, signal, _)), color in zip(
    results.items(), ("C0", "C1"), strict=True
):
    ax_var.loglog(
        batch_sizes,
        variance,
        "o",
        color=color,
        markersize=9,
        label=f"{state} (slope {slopes[state]:.2f})",
    )
    ax_var.loglog(fine, spread / fine * (n - fine) / (n - 1), color=color)
    ax_var.loglog(fine, spread / fine, "--", color=color, linewidth=1)
    ax_var.axhline(signal, color=color, linestyle=":")
# legend entries for the line styles, in gray
ax_var.plot([], [], color="gray", label="σ²/B · (N−B)/(N−1)")
ax_var.plot([], [], "--", color="gray", linewidth=1, label="σ²/B")
ax_var.plot([], [], ":", color="gray", label="‖g‖² (full gradient)")
ax_var.set(
    xlabel="batch size B",
    ylabel="E‖g_B − g‖²  (log scale)",
    ylim=(1e-4, 30),
    title=f"Variance of the mini-batch gradient, N = {n}",
)
ax_var.legend(fontsize=11, loc="upper right")

trained_variance, trained_spread, _, _ = list(results.values())[1]
ax_fpc.semilogx(
    batch_sizes,
    batch_sizes * variance_wr / spread_wr,
    "s",
    color="C2",
    markersize=9,
    label="with replacement: B·E‖g_B − g‖²/σ²",
)
ax_fpc.semilogx(
    batch_sizes,
    batch_sizes * trained_variance / trained_spread,
    "o",
    color="C1",
    markersize=9,
    label="without replacement (as in fit)",
)
ax_fpc.semilogx(fine, np.ones_like(fine), color="C2")
ax_fpc.semilogx(fine, (n - fine) / (n - 1), color="C1", label="(N − B)/(N − 1)")
ax_fpc.set(
    xlabel="batch size B",
    ylabel="B · variance / σ²",
    ylim=(0, 1.3),
    title="The finite-population correction (trained network)",
)
ax_fpc.legend(fontsize=10, loc="lower left")
fig.suptitle("Mini-batch gradient noise on the digits MLP: 1/B, corrected for a finite N")
plt.show()

# %% [markdown]
# ## Summary

# %%
states = list(results)
SUMMARY = {
    "n_train": n,
    "predicted_slope": predicted_slope,
    "slope_at_initialization": slopes[states[0]],
    "slope_after_training": slopes[states[1]],
    "max_deviation_from_formula_init": deviations[states[0]],
    "max_deviation_from_formula_trained": deviations[states[1]],
    "max_deviation_with_replacement": deviation_wr,
    "max_z_from_formula_init": z_scores[states[0]],
    "max_z_from_formula_trained": z_scores[states[1]],
    "max_z_with_replacement": z_score_wr,
    "variance_ratio_b512_over_formula_without_fpc": float(
        trained_variance[BATCH_SIZES.index(512)] / (trained_spread / 512)
    ),
    "fpc_at_b512": float((n - 512) / (n - 1)),
    "critical_batch_size_init": float(results[states[0]][1] / results[states[0]][2]),
    "critical_batch_size_trained": float(
        list(results.values())[1][1] / list(results.values())[1][2]
    ),
    "tape_check_max_difference": tape_check,
}
for key, value in SUMMARY.items():
    print(f"{key:>46s}: {value:.4g}" if isinstance(value, float) else f"{key:>46s}: {value}")
