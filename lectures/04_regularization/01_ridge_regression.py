"""
Ridge regression: Keras' L2 penalty and the closed-form ridge solution
======================================================================

A linear Keras model with `kernel_regularizer=L2(lam)`, trained to convergence, lands on the
closed-form ridge solution once the penalty is mapped correctly: Keras minimizes
(1/n)||Xw + b - y||^2 + lam ||w||^2, so scikit-learn's `Ridge` needs `alpha = n * lam`.

The left panel shows the ridge coefficient paths of the diabetes data against the penalty (lines:
closed form) with the coefficients Keras finds (dots) on top. The right panel shows, for each
penalty, the largest coefficient difference between Keras and the closed form, next to the
difference a wrongly mapped penalty would make. Look at how the paths move smoothly towards
zero as the penalty grows: every eigen-coordinate of the solution shrinks, single coefficients
can grow or change sign on the way, and none is held at zero over a range of penalties (unlike
the Lasso's). Look also at the gap of several orders of magnitude between the right mapping
and the wrong ones.

Try:
- Add `bias_regularizer=keras.regularizers.L2(lam)`: which closed form does Keras match now?
- Use `loss="mean_absolute_error"`: is there still a closed form to compare with?
- Set `MOMENTUM = 0.0` and watch how many more steps plain gradient descent needs.
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_diabetes
from common.plotting import use_course_style
from common.training import fit_fast

import keras
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import Ridge

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

KERAS_PENALTIES = [1e-3, 1e-1] if SMOKE else [1e-3, 1e-2, 1e-1, 1.0, 10.0]  # Keras' lam
PATH_PENALTIES = np.logspace(-4, 2, 121)  # the closed-form path (cheap)
STEPS = 100 if SMOKE else 600  # full-batch steps per Keras model
MOMENTUM = 0.9  # heavy-ball momentum: the same minimizer, reached in fewer steps
TOLERANCE = 1e-6  # asked of Keras vs the closed form: float32 rounding, accumulated

# %% [markdown]
# ## Data
# The diabetes data (10 standardized features, 264 training patients). The target is centred
# and scaled on the training part, so that the coefficients are comparable.

# %%
keras.utils.set_random_seed(SEED)
split = load_diabetes(seed=SEED)
feature_names = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
x = split.x_train.astype(np.float64)
y = (split.y_train - split.y_train.mean()) / split.y_train.std()
n, d = x.shape
print(f"{n} training patients, {d} features")

# %% [markdown]
# ## The closed form in Keras' convention
# Keras' `MeanSquaredError` is a mean and `L2(lam)` adds $\lambda\|w\|^2$ with no factor
# $\tfrac12$; the bias $b$ is not penalized:
# $$L(w, b) = \frac1n\|Xw + b\mathbf 1 - y\|^2 + \lambda\|w\|^2 .$$
# Setting the gradient to zero, $\partial_b L = 0$ gives $b = \bar y - \bar x^\top w$, and with
# centred data $X_c, y_c$,
# $$\nabla_w L = \tfrac2n X_c^\top(X_c w - y_c) + 2\lambda w = 0
# \iff (X_c^\top X_c + n\lambda I)\, w = X_c^\top y_c .$$
# scikit-learn's `Ridge` minimizes $\|Xw + b - y\|^2 + \alpha\|w\|^2$ (a sum, not a mean), so
# the same minimizer needs $\alpha = n\lambda$.


# %%
def ridge_closed_form(x, y, lam):
    """Minimizer of (1/n)||Xw + b - y||^2 + lam ||w||^2 (bias not penalized)."""
    x_c = x - x.mean(axis=0)
    y_c = y - y.mean()
    return np.linalg.solve(x_c.T @ x_c + len(x) * lam * np.eye(x.shape[1]), x_c.T @ y_c)


path = np.array([ridge_closed_form(x, y, lam) for lam in PATH_PENALTIES])
closed = np.array([ridge_closed_form(x, y, lam) for lam in KERAS_PENALTIES])
sklearn_coef = np.array([Ridge(alpha=n * lam).fit(x, y).coef_ for lam in KERAS_PENALTIES])
print(f"closed form vs scikit-learn (alpha = n lam): {np.abs(sklearn_coef - closed).max():.2e}")

# %% [markdown]
# ## Keras, trained to convergence
# One `Dense(1)` per penalty, full-batch gradient descent with heavy-ball momentum. The loss is
# a convex quadratic, so any convergent method reaches the same minimizer; the step
# $\eta = 1/L$ uses the largest curvature $L$ of the loss, the top eigenvalue of its Hessian
# $\tfrac2n A^\top A + 2\lambda I$ with $A = [X \;\mathbf 1]$ (an upper bound).

# %%
design = np.hstack([x, np.ones((n, 1))])
top_curvature = 2 * np.linalg.eigvalsh(design.T @ design / n).max()
keras_coef = []
for lam in KERAS_PENALTIES:
    keras.utils.set_random_seed(SEED)
    penalty = keras.regularizers.L2(lam)  # adds lam * sum(w**2) to the loss
    model = keras.Sequential(
        [keras.Input(shape=(d,)), keras.layers.Dense(1, kernel_regularizer=penalty)]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(1.0 / (top_curvature + 2 * lam), momentum=MOMENTUM),
        loss="mean_squared_error",
    )
    # Replaces model.fit(x, y, batch_size=n, epochs=STEPS, verbose=0): the same full-batch
    # steps in one compiled call instead of STEPS Keras epochs.
    fit_fast(model, x.astype(np.float32), y[:, None].astype(np.float32), epochs=STEPS, every=STEPS)
    keras_coef.append(model.layers[0].kernel.numpy()[:, 0])
keras_coef = np.array(keras_coef)

error = np.abs(keras_coef - closed).max(axis=1)  # per penalty
# What a wrongly mapped penalty would give: alpha = lam (a sum mistaken for a mean), and
# alpha = n lam / 2 (a factor 1/2 in the penalty that Keras does not have).
wrong_sum = np.array([ridge_closed_form(x, y, lam / n) for lam in KERAS_PENALTIES])
wrong_half = np.array([ridge_closed_form(x, y, lam / 2) for lam in KERAS_PENALTIES])
error_sum = np.abs(keras_coef - wrong_sum).max(axis=1)
error_half = np.abs(keras_coef - wrong_half).max(axis=1)
for lam, e, es, eh in zip(KERAS_PENALTIES, error, error_sum, error_half, strict=True):
    print(f"lam = {lam:g}: |Keras - ridge| = {e:.1e}, alpha = lam: {es:.1e}, n lam/2: {eh:.1e}")

# %% [markdown]
# ## Figure: the ridge path, and Keras on it

# %%
use_course_style()
fig, (ax_path, ax_err) = plt.subplots(1, 2, figsize=(14, 5.6), width_ratios=[1.4, 1])
colors = plt.cm.tab10(np.arange(d))
for j in range(d):
    ax_path.semilogx(PATH_PENALTIES, path[:, j], color=colors[j], label=feature_names[j])
    ax_path.semilogx(KERAS_PENALTIES, keras_coef[:, j], "o", color=colors[j], markersize=7)
ax_path.plot([], [], "o", color="gray", label="Keras, trained")
ax_path.axhline(0, color="black", linewidth=0.8)
ax_path.set(
    xlabel=r"penalty $\lambda$ in Keras' L2($\lambda$) (log scale)",
    ylabel="coefficient (standardized units)",
    title="Ridge paths: closed form (lines) and Keras (dots)",
)
ax_path.legend(ncol=2, fontsize=10, loc="upper right")

ax_err.loglog(KERAS_PENALTIES, error, "o-", label=r"ridge with $\alpha = n\lambda$ (right)")
ax_err.loglog(KERAS_PENALTIES, error_sum, "s--", label=r"wrong: $\alpha = \lambda$")
ax_err.loglog(KERAS_PENALTIES, error_half, "^--", label=r"wrong: $\alpha = n\lambda/2$")
ax_err.axhline(TOLERANCE, color="gray", linestyle=":", label=f"tolerance {TOLERANCE:g}")
ax_err.set(
    xlabel=r"penalty $\lambda$ (log scale)",
    ylabel="largest |coefficient difference|",
    title="Keras vs the closed form, per mapping",
)
ax_err.legend(fontsize=10)
fig.suptitle(f"Ridge regression on the diabetes data ({n} patients): Keras' L2 = ridge")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "n_train": n,
    "steps": STEPS,
    "tolerance": TOLERANCE,
    "max_error_keras_vs_closed_form": float(error.max()),
    "max_error_sklearn_vs_closed_form": float(np.abs(sklearn_coef - closed).max()),
    "max_error_if_alpha_equals_lam": float(error_sum.max()),
    "max_error_if_alpha_is_n_lam_half": float(error_half.max()),
    "largest_coefficient": float(np.abs(closed).max()),
}
for key, value in SUMMARY.items():
    print(f"{key:>34s}: {value:.4g}" if isinstance(value, float) else f"{key:>34s}: {value}")
