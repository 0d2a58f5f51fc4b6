"""
Bias-variance decomposition: Monte Carlo over 2,000 training sets
=================================================================

For each polynomial degree, 2,000 independent training sets are drawn and fitted; on a test grid
the average fit gives the squared bias, the spread of the fits gives the variance, and their sum
plus the noise variance reproduces the measured expected test error.

The two left panels show twenty of the fitted curves for a low and a high degree, their average
over all training sets and the true function: the low degree misses the truth in the same way
every time (bias), the high degree is right on average but different every time (variance). The
right panel is the classic tradeoff plot: squared bias falls and variance rises with the degree,
and their sum plus the noise is the expected test error, U-shaped. The measured test error
(markers) lies on that sum.

Try:
- Set `X_RANGE = (-1.0, 1.0)`: the bump is now symmetric. Why does the squared bias fall in steps
  of two degrees?
- Set `N_TRAIN = 200`: which of the three terms changes, and by what factor?
- Set `REPLICATES = 50`: the identity still holds exactly for bias^2 + variance (why?), but how
  noisy are the curves?
"""

# %%
import os

from common.data import make_regression_1d
from common.plotting import use_course_style

import matplotlib.pyplot as plt
import numpy as np
from numpy.polynomial import Legendre, legendre

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

TRUE_FUNCTION = "runge"  # f(x) = 1 / (1 + 25 x^2), a narrow bump at x = 0
X_RANGE = (-0.5, 1.0)  # inputs uniform on this interval (not centred on the bump)
NOISE = 0.3  # standard deviation sigma of the label noise
N_TRAIN = 50  # points per training set
REPLICATES = 200 if SMOKE else 2000  # R independent training sets per degree
MAX_DEGREE = 8
N_GRID = 201  # test grid: equally spaced points on X_RANGE
N_SHOWN = 20  # fitted curves drawn per panel

# %% [markdown]
# ## The decomposition
# A training set $D$ of $n$ points gives a fit $\hat f_D$. At a test input $x$ with a fresh label
# $y = f(x) + \sigma\varepsilon$, independent of $D$, the expected squared error splits into
# three terms: with $\bar f(x) = \mathbb E_D[\hat f_D(x)]$,
# $$\mathbb E_{D,y}\bigl[(y - \hat f_D(x))^2\bigr]
#   = \underbrace{\bigl(\bar f(x) - f(x)\bigr)^2}_{\text{bias}^2} +
#   \underbrace{\mathbb E_D\bigl[(\hat f_D(x) - \bar f(x))^2\bigr]}_{\text{variance}} +
#   \underbrace{\sigma^2}_{\text{noise}} .$$
# The cross terms vanish because $\mathbb E[\varepsilon] = 0$ with $\varepsilon$ independent of
# $D$, and because $\mathbb E_D[\hat f_D(x) - \bar f(x)] = 0$. Averaging over the test inputs
# (here a grid on `X_RANGE`, standing in for the uniform input distribution) gives the same
# identity for the mean test error.
#
# **Monte Carlo estimates.** With $R$ training sets $D_1, \dots, D_R$ and one fresh label
# $y_{rg}$ per set and grid point $x_g$, $g = 1, \dots, G$:
# $$\bar f(x_g) \approx \frac1R \sum_r \hat f_{D_r}(x_g), \quad
#   \widehat{\text{bias}^2} = \frac1G \sum_g (\bar f(x_g) - f(x_g))^2, \quad
#   \widehat{\text{var}} = \frac1G \sum_g \frac1R \sum_r (\hat f_{D_r}(x_g) - \bar f(x_g))^2,$$
# $$\widehat{\text{noise}} = \frac{1}{RG} \sum_{r,g} (y_{rg} - f(x_g))^2, \qquad
#   \widehat{\text{MSE}} = \frac{1}{RG} \sum_{r,g} (y_{rg} - \hat f_{D_r}(x_g))^2 .$$
# The variance uses $1/R$ (not $1/(R-1)$): then
# $\frac1R \sum_r (\hat f_{D_r} - f)^2 = (\bar f - f)^2 + \frac1R \sum_r (\hat f_{D_r} - \bar f)^2$
# holds **exactly** for the empirical quantities (it is Pythagoras for the mean). Only the cross
# term $\frac{2}{RG}\sum_{r,g}(y_{rg} - f(x_g))(f(x_g) - \hat f_{D_r}(x_g))$ is left over between
# $\widehat{\text{MSE}}$ and the sum of the three estimates; it has mean zero and shrinks like
# $1/\sqrt{RG}$.

# %% [markdown]
# ## Data: R training sets and fresh test labels
# The training points are independent draws, so one sample of $R \cdot n$ points cut into $R$
# pieces gives $R$ independent training sets. The test labels come from a separate random
# stream, independent of the training data.

# %%
x, y, true_fn = make_regression_1d(
    REPLICATES * N_TRAIN, function=TRUE_FUNCTION, noise=NOISE, x_range=X_RANGE, seed=SEED
)
x_sets = x.astype(np.float64).reshape(REPLICATES, N_TRAIN)  # row r is training set D_r
y_sets = y.astype(np.float64).reshape(REPLICATES, N_TRAIN)

grid = np.linspace(*X_RANGE, N_GRID)
f_grid = true_fn(grid)
test_rng = np.random.default_rng([SEED, 1])  # a stream independent of the training data's
y_grid = f_grid + NOISE * test_rng.standard_normal((REPLICATES, N_GRID))  # labels y_rg

# %% [markdown]
# ## R least-squares fits per degree, all at once
# In the Legendre basis on the interval mapped to $[-1, 1]$, the fit of degree $d$ to $D_r$ has
# coefficients $c_r = V_r^{+} y_r$, where $V_r$ is the $n \times (d+1)$ design matrix
# $(P_k(t_i))_{ik}$ and $V^+$ is the Moore-Penrose pseudo-inverse (the least-squares solution).
# `np.linalg.pinv` works on a stack of matrices, so the $R$ fits are one call.

# %%
low, high = X_RANGE


def to_window(u):
    """Map X_RANGE affinely onto [-1, 1], where the Legendre polynomials live."""
    return (2.0 * u - (low + high)) / (high - low)


degrees = np.arange(MAX_DEGREE + 1)
bias2, variance, noise, test_mse, mse_to_truth = (np.zeros(len(degrees)) for _ in range(5))
predictions = {}  # degree -> (R, G) array of fitted values on the grid
for d in degrees:
    design = legendre.legvander(to_window(x_sets), d)  # (R, n, d+1)
    coef = np.linalg.pinv(design) @ y_sets[..., None]  # (R, d+1, 1)
    pred = (legendre.legvander(to_window(grid), d) @ coef)[..., 0]  # (R, G)
    mean_pred = pred.mean(axis=0)  # f-bar on the grid
    bias2[d] = np.mean((mean_pred - f_grid) ** 2)
    variance[d] = np.mean((pred - mean_pred) ** 2)  # 1/R convention
    noise[d] = np.mean((y_grid - f_grid) ** 2)
    test_mse[d] = np.mean((y_grid - pred) ** 2)
    mse_to_truth[d] = np.mean((pred - f_grid) ** 2)
    predictions[d] = pred
    if d == MAX_DEGREE:  # check the batched solver against NumPy's own fit, one training set
        reference = Legendre.fit(x_sets[0], y_sets[0], deg=d, domain=X_RANGE).coef
        solver_error = float(np.max(np.abs(coef[0, :, 0] - reference)))

total = bias2 + variance + noise
identity_gap = total / test_mse - 1.0  # relative; only the cross term with the noise remains
exact_gap = np.abs(bias2 + variance - mse_to_truth) / mse_to_truth  # round-off only
best_degree = int(np.argmin(test_mse))
print(" d     bias^2   variance     noise  sum of 3  measured MSE   gap")
for d in degrees:
    print(
        f"{d:2d}  {bias2[d]:9.5f}  {variance[d]:9.5f}  {noise[d]:8.5f}  {total[d]:8.5f}"
        f"  {test_mse[d]:12.5f}  {identity_gap[d]:+.2%}"
    )

# %% [markdown]
# ## Figure: bias and variance, seen and measured

# %%
use_course_style()
fig, axes = plt.subplots(1, 3, figsize=(17, 5.4), gridspec_kw={"width_ratios": [1, 1, 1.3]})
for ax, d in zip(axes[:2], (1, MAX_DEGREE), strict=True):
    ax.plot(grid, predictions[d][:N_SHOWN].T, color="tab:blue", linewidth=0.8, alpha=0.5)
    ax.plot([], [], color="tab:blue", linewidth=0.8, label=f"{N_SHOWN} of the {REPLICATES} fits")
    ax.plot(
        grid,
        predictions[d].mean(axis=0),
        color="tab:red",
        linewidth=3,
        label=r"average fit $\bar f$",
    )
    ax.plot(grid, f_grid, color="black", linestyle="--", label="true $f$")
    ax.set_ylim(-0.8, 1.6)
    ax.set(
        xlabel="input $x$",
        ylabel="output",
        title=f"degree {d}: bias² {bias2[d]:.2g}, variance {variance[d]:.2g}",
    )
    ax.legend(loc="upper right", fontsize=10)

ax = axes[2]
ax.semilogy(degrees, bias2, "o-", label="bias²")
ax.semilogy(degrees, variance, "s-", label="variance")
ax.semilogy(degrees, noise, ":", color="gray", label="noise (≈ σ²)")
ax.semilogy(
    degrees, total, "-", color="black", linewidth=3, alpha=0.4, label="bias² + variance + noise"
)
ax.semilogy(
    degrees,
    test_mse,
    "x",
    color="black",
    markersize=11,
    markeredgewidth=2,
    label="measured test MSE",
)
ax.axvline(best_degree, color="gray", linestyle="--", linewidth=1)
ax.set(
    xlabel="polynomial degree $d$",
    ylabel="squared error (log scale)",
    title=f"The tradeoff: best degree {best_degree}",
)
ax.set_ylim(min(bias2.min(), variance.min()) / 10, 2 * test_mse.max())  # room for the legend
ax.legend(loc="lower center", fontsize=10)
fig.suptitle(
    f"Bias-variance decomposition over {REPLICATES} training sets of {N_TRAIN} points,"
    f" f(x) = 1/(1 + 25x²), σ = {NOISE}"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "replicates": REPLICATES,
    "max_degree": MAX_DEGREE,
    "best_degree": best_degree,
    "bias2_degree_0": float(bias2[0]),
    "bias2_max_degree": float(bias2[-1]),
    "variance_degree_0": float(variance[0]),
    "variance_max_degree": float(variance[-1]),
    "noise_estimate": float(noise[0]),
    "max_bias2_step_ratio": float(np.max(bias2[1:] / bias2[:-1])),
    "min_variance_step_ratio": float(np.min(variance[1:] / variance[:-1])),
    "max_identity_gap": float(np.max(np.abs(identity_gap))),
    "max_exact_gap": float(np.max(exact_gap)),
    "solver_error": solver_error,
}
for key, value in SUMMARY.items():
    print(f"{key:>24s}: {value:.4g}" if isinstance(value, float) else f"{key:>24s}: {value}")
