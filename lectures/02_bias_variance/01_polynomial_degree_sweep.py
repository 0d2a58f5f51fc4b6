"""
Polynomial degree sweep: training error falls, test error is U-shaped
=====================================================================

Least-squares polynomials of degree 0 to 20 are fitted to the same 30 noisy samples of
sin(pi x); the training error falls with every degree while the test error first falls, then
rises again.

The left panel shows the training and test mean squared error against the degree on a log scale,
with the noise variance sigma^2 (the smallest test error any model can reach) as a dashed line
and the best degree marked. The right panel shows the fitted curves for a low degree (too rigid:
underfitting), the degree with the smallest test error, and the highest degree (it follows the
noise and swings wildly between and beyond the training points: overfitting). Look for the
moment the curves part: from there on every extra degree lowers the training error and raises
the test error.

Try:
- Double `N_TRAIN`: does the best degree move up or down? Does the U get flatter?
- Set `NOISE = 0.05`: which side of the U changes most?
- Set `TRUE_FUNCTION = "step"`: a discontinuous truth; how low does the test error get?
"""

# %%
import os

from common.data import make_regression_1d
from common.plotting import use_course_style

import matplotlib.pyplot as plt
import numpy as np
from numpy.polynomial import Legendre

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

TRUE_FUNCTION = "sin"  # f(x) = sin(pi x)
X_RANGE = (-1.0, 1.0)  # inputs uniform on this interval
NOISE = 0.3  # standard deviation sigma of the label noise
N_TRAIN = 30
N_TEST = 500 if SMOKE else 5000  # fresh samples that estimate the expected test error
MAX_DEGREE = 8 if SMOKE else 20
LOW_DEGREE = 1  # the underfitting example in the right panel

# %% [markdown]
# ## Data
# Labels $y = f(x) + \sigma\varepsilon$ with $\varepsilon \sim N(0, 1)$ and $x$ uniform on
# `X_RANGE`. One sample of `N_TRAIN + N_TEST` independent points is split into a training set
# and a test set, so the two are independent draws from the same distribution.

# %%
x, y, true_fn = make_regression_1d(
    N_TRAIN + N_TEST, function=TRUE_FUNCTION, noise=NOISE, x_range=X_RANGE, seed=SEED
)
x, y = x.astype(np.float64), y.astype(np.float64)  # least squares in double precision
x_train, y_train = x[:N_TRAIN], y[:N_TRAIN]
x_test, y_test = x[N_TRAIN:], y[N_TRAIN:]

# %% [markdown]
# ## Least-squares polynomials of every degree
# For degree $d$ the model is $\hat f_d(x) = \sum_{k=0}^{d} c_k P_k(t)$, where $P_k$ are the
# Legendre polynomials and $t \in [-1, 1]$ is $x$ mapped affinely from `X_RANGE` (the
# `domain` argument). The span is the same as that of $1, x, \dots, x^d$, but the Legendre
# design matrix is far better conditioned than the monomial (Vandermonde) one, so the fit is
# accurate to round-off even at degree 20. The coefficients minimise the training error
# $$\widehat{\mathrm{MSE}}_{\mathrm{train}}(d) = \frac1n \sum_{i=1}^n
#   \bigl(y_i - \hat f_d(x_i)\bigr)^2 .$$
# The models are **nested**: degree $d$ is degree $d+1$ with $c_{d+1} = 0$, so the minimum over
# the larger model can only be smaller or equal. The training error is therefore monotone
# non-increasing in $d$, up to round-off. The test error, the mean of
# $(y - \hat f_d(x))^2$ over fresh samples, estimates the expected error on new data and has no
# such guarantee.

# %%
degrees = np.arange(MAX_DEGREE + 1)
fits = [Legendre.fit(x_train, y_train, deg=d, domain=X_RANGE) for d in degrees]
train_mse = np.array([np.mean((y_train - fit(x_train)) ** 2) for fit in fits])
test_mse = np.array([np.mean((y_test - fit(x_test)) ** 2) for fit in fits])
best_degree = int(np.argmin(test_mse))

# The largest step *up* of the training error, relative to its first value: <= 0 means
# monotone; a tiny positive number would be round-off.
max_train_increase = float(np.max(np.diff(train_mse)) / train_mse[0])
for d in degrees:
    print(f"degree {d:2d}: training MSE {train_mse[d]:.4f}   test MSE {test_mse[d]:.4g}")

# %% [markdown]
# ## Figure: the two error curves and three fits

# %%
use_course_style()
fig, (ax_err, ax_fit) = plt.subplots(1, 2, figsize=(14, 5.6))

ax_err.semilogy(degrees, train_mse, "o-", label="training MSE")
ax_err.semilogy(degrees, test_mse, "s-", label=f"test MSE ({N_TEST} fresh samples)")
ax_err.axhline(NOISE**2, color="gray", linestyle="--", label=r"noise variance $\sigma^2$")
ax_err.plot(
    degrees[best_degree],
    test_mse[best_degree],
    "o",
    color="black",
    markersize=12,
    fillstyle="none",
    markeredgewidth=2,
    label=f"best degree ({best_degree})",
)
top = 20 * test_mse.min()  # keep the interesting range; the right end may leave the chart
ax_err.set_ylim(0.3 * train_mse.min(), top)
if test_mse[-1] > top:  # say in the legend where the right end went
    ax_err.plot([], [], " ", label=f"degree {MAX_DEGREE}: test MSE {test_mse[-1]:.2g} (off chart)")
ax_err.set(
    xlabel="polynomial degree $d$",
    ylabel="mean squared error (log scale)",
    title="Training error falls, test error is U-shaped",
)
ax_err.set_xticks(degrees[::2])
ax_err.legend(loc="lower left")

grid = np.linspace(*X_RANGE, 500)
ax_fit.plot(x_train, y_train, "o", color="black", label=f"{N_TRAIN} training points")
ax_fit.plot(grid, true_fn(grid), color="gray", linewidth=4, alpha=0.5, label="true $f(x)$")
for d in (LOW_DEGREE, best_degree, MAX_DEGREE):
    ax_fit.plot(grid, fits[d](grid), label=f"degree {d}: test MSE {test_mse[d]:.3g}")
ax_fit.set_ylim(-2.0, 2.0)
ax_fit.set(xlabel="input $x$", ylabel="output $y$", title="Too rigid, about right, too flexible")
ax_fit.legend(loc="upper left", fontsize=10)
fig.suptitle(f"Least-squares polynomials on {N_TRAIN} noisy samples of sin(πx), σ = {NOISE}")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "max_degree": MAX_DEGREE,
    "best_degree": best_degree,
    "noise_variance": NOISE**2,
    "train_mse_degree_0": float(train_mse[0]),
    "train_mse_max_degree": float(train_mse[-1]),
    "max_train_increase": max_train_increase,
    "test_mse_min": float(test_mse[best_degree]),
    "test_mse_degree_0": float(test_mse[0]),
    "test_mse_max_degree": float(test_mse[-1]),
    "test_ratio_low": float(test_mse[0] / test_mse[best_degree]),
    "test_ratio_high": float(test_mse[-1] / test_mse[best_degree]),
}
for key, value in SUMMARY.items():
    print(f"{key:>22s}: {value:.4g}" if isinstance(value, float) else f"{key:>22s}: {value}")
