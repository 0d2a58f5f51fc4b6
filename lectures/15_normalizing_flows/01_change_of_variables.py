"""
Change of variables: the density of a transformed random variable, checked three ways
=====================================================================================

For an invertible map g, the density of y = g(x) is p_Y(y) = p_X(g⁻¹(y)) |det J_{g⁻¹}(y)|;
here it is checked against samples (a Kolmogorov-Smirnov test in 1-D, a chi-square test on
cells in 2-D), against quadrature (it integrates to 1) and against automatic differentiation
(the log-determinant of the Jacobian).

Left: a histogram of y = sinh(a x + b) for standard normal x, the density from the formula,
and the "naive" density p_X(g⁻¹(y)) without the Jacobian factor (normalized), which the
samples reject. Middle: samples of the 2-D map y = sinh(A x + b) (A an invertible 2 x 2
matrix, sinh coordinate-wise). Right: the density from the formula on the same axes, on the
same logarithmic colour scale. Look at how the factor |det J_{g⁻¹}| = 1 / |det J_g| moves
mass: where g stretches space the density thins out, where it compresses space the density piles up.

Needs the TensorFlow backend for one check: the Jacobian of g⁻¹ by `tf.GradientTape`.

Try:
- Set `A_SCALE = 0.5`: the sinh acts only near its linear part; how does the naive density's
  KS p-value change, and why?
- Set `N_SAMPLES = 200_000`: does the KS test of the correct formula start to reject?
  (It should not: the formula is exact. The naive density is rejected ever more strongly.)
- Delete the Jacobian term `+ log_det_inverse_2d(y)` in `density_2d`: what does the
  quadrature say the "density" integrates to, and what does the chi-square test say?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops
from matplotlib.colors import LogNorm
from scipy import integrate, stats

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the samples.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

N_SAMPLES = 2_000 if SMOKE else 20_000  # samples of x, pushed through g
A_SCALE = 1.2  # the 1-D map is y = sinh(A_SCALE * x + B_SHIFT)
B_SHIFT = 0.5
A_MATRIX = np.array([[1.5, 0.8], [-0.6, 1.3]])  # the 2-D map is y = sinh(A x + b)
B_VECTOR = np.array([0.4, -0.3])
GRID = 401 if SMOKE else 1601  # quadrature points per axis in 2-D
CELL_EDGES_U = np.array([-1.8, -1.2, -0.6, 0.0, 0.6, 1.2, 1.8])  # chi-square cells, asinh scale
N_JACOBIAN = 64  # points at which the log-determinant is checked by autodiff

if abs(np.linalg.det(A_MATRIX)) < 1e-8:
    raise ValueError(f"A_MATRIX must be invertible, got det = {np.linalg.det(A_MATRIX):.3g}")
if A_SCALE == 0:
    raise ValueError("A_SCALE must be non-zero (the 1-D map must be invertible)")

# %% [markdown]
# ## The formula
# If $x$ has density $p_X$ on $\mathbb R^d$ and $g$ is a diffeomorphism, then for every
# measurable set $B$, $P(Y \in B) = P(X \in g^{-1}(B)) = \int_{g^{-1}(B)} p_X(x)\,dx$, and the
# substitution $x = g^{-1}(y)$ gives
# $$p_Y(y) = p_X\big(g^{-1}(y)\big)\,\big|\det J_{g^{-1}}(y)\big|
#          = \frac{p_X(x)}{|\det J_g(x)|}\Big|_{x = g^{-1}(y)} .$$
# In 1-D with $g(x) = \sinh(ax + b)$: $g^{-1}(y) = (\operatorname{asinh} y - b)/a$ and
# $\frac{d}{dy} g^{-1}(y) = 1 / (a\sqrt{1 + y^2})$. In 2-D with $g(x) = \sinh(Ax + b)$
# coordinate-wise: $g^{-1}(y) = A^{-1}(\operatorname{asinh} y - b)$ and
# $$\log|\det J_{g^{-1}}(y)| = -\log|\det A| - \tfrac12 \sum_i \log(1 + y_i^2) .$$

# %%
keras.utils.set_random_seed(SEED)
rng = np.random.default_rng(SEED)
LOG_2PI = np.log(2 * np.pi)


def g_1d(x):
    return np.sinh(A_SCALE * x + B_SHIFT)


def g_inverse_1d(y):
    return (np.arcsinh(y) - B_SHIFT) / A_SCALE


def density_1d(y):
    """p_Y(y) = p_X(g^-1(y)) |d g^-1 / dy|, p_X standard normal."""
    x = g_inverse_1d(y)
    return np.exp(-0.5 * x**2 - 0.5 * LOG_2PI) / (abs(A_SCALE) * np.sqrt(1 + y**2))


def naive_density_1d(y):
    """p_X(g^-1(y)) without the Jacobian factor (not normalized)."""
    return np.exp(-0.5 * g_inverse_1d(y) ** 2 - 0.5 * LOG_2PI)


A_INV = np.linalg.inv(A_MATRIX)
LOG_ABS_DET_A = np.log(abs(np.linalg.det(A_MATRIX)))


def g_2d(x):
    return np.sinh(x @ A_MATRIX.T + B_VECTOR)


def g_inverse_2d(y):
    return (np.arcsinh(y) - B_VECTOR) @ A_INV.T


def log_det_inverse_2d(y):
    """log |det J_{g^-1}(y)| from the formula."""
    return -LOG_ABS_DET_A - 0.5 * np.sum(np.log1p(y**2), axis=-1)


def density_2d(y):
    x = g_inverse_2d(y)
    return np.exp(-0.5 * np.sum(x**2, axis=-1) - LOG_2PI + log_det_inverse_2d(y))


# %% [markdown]
# ## 1-D: samples, quadrature and the Kolmogorov-Smirnov test
# The KS statistic $D_n = \sup_y |F_n(y) - F_Y(y)|$ compares the empirical CDF of the samples
# with the CDF $F_Y(y) = \int_{-\infty}^y p_Y$ obtained by integrating the formula's density
# numerically (not from $g$). If the formula is right, the p-value is uniform on $[0, 1]$.
# The naive density $p_X(g^{-1}(y))$, normalized to integrate to 1, is a different
# distribution, and with $n = 20{,}000$ samples the test must reject it.

# %%
y_1d = g_1d(rng.standard_normal(N_SAMPLES))

integral_1d, integral_1d_error = integrate.quad(density_1d, -np.inf, np.inf, epsabs=1e-12)
naive_mass, _ = integrate.quad(naive_density_1d, -np.inf, np.inf, epsabs=1e-12)
print(
    f"1-D: integral of p_Y = {integral_1d:.12f} (quadrature error estimate {integral_1d_error:.1e})"
)
print(f"     integral of the naive p_X(g^-1(y)) = {naive_mass:.4f} (not a density)")

# A CDF by quadrature: the trapezoid rule on a fine grid, dense where p_Y varies (y = sinh(u)).
u_grid = np.linspace(-12.0, 12.0, 400_001)
y_grid = np.sinh(u_grid)
cdf_grid = integrate.cumulative_trapezoid(density_1d(y_grid), y_grid, initial=0.0)
naive_cdf_grid = integrate.cumulative_trapezoid(naive_density_1d(y_grid), y_grid, initial=0.0)
naive_cdf_grid /= naive_cdf_grid[-1]
ks = stats.kstest(y_1d, lambda y: np.interp(y, y_grid, cdf_grid))
ks_naive = stats.kstest(y_1d, lambda y: np.interp(y, y_grid, naive_cdf_grid))
print(f"KS test, formula: D = {ks.statistic:.4f}, p = {ks.pvalue:.3f}")
print(f"KS test, naive:   D = {ks_naive.statistic:.4f}, p = {ks_naive.pvalue:.2e}")

# %% [markdown]
# ## 2-D: quadrature and a chi-square test on cells
# The integral of $p_Y$ over the plane is computed by the tensor-product trapezoid rule on
# the grid $y = \sinh(u)$ per axis ($u$ uniform on $[-10, 10]$), and its error is estimated
# by comparing with the same rule on every second grid point: the rule's error falls by
# about 4 when the spacing halves, so the error of the fine rule is about a third of the
# difference between the two, and the difference is a safe bound on it.
# The same cumulative integral gives the probability $\pi_k$ of each cell of a
# $8 \times 8$ grid of rectangles; the chi-square statistic
# $\sum_k (N_k - n\pi_k)^2 / (n\pi_k)$ of the cell counts $N_k$ has 63 degrees of freedom
# when the $\pi_k$ are right.

# %%
x_2d = rng.standard_normal((N_SAMPLES, 2))
y_2d = g_2d(x_2d)

u_axis = np.linspace(-10.0, 10.0, GRID)
y_axis = np.sinh(u_axis)
Y1, Y2 = np.meshgrid(y_axis, y_axis, indexing="ij")
p_grid = density_2d(np.stack([Y1, Y2], axis=-1))


def trapezoid_2d(values, axis_points):
    return integrate.trapezoid(integrate.trapezoid(values, axis_points, axis=1), axis_points)


integral_2d = trapezoid_2d(p_grid, y_axis)
integral_2d_coarse = trapezoid_2d(p_grid[::2, ::2], y_axis[::2])
integral_2d_error = abs(integral_2d - integral_2d_coarse)
print(f"2-D: integral of p_Y = {integral_2d:.10f} (error estimate {integral_2d_error:.1e})")

# Cell probabilities from the cumulative integral at the cell edges (grid points u = edge).
cumulative = integrate.cumulative_trapezoid(
    integrate.cumulative_trapezoid(p_grid, y_axis, axis=0, initial=0.0),
    y_axis,
    axis=1,
    initial=0.0,
)
edge_index = np.concatenate([[0], np.searchsorted(u_axis, CELL_EDGES_U - 1e-9), [GRID - 1]])
corners = cumulative[np.ix_(edge_index, edge_index)]
cell_probability = np.diff(np.diff(corners, axis=0), axis=1)
cell_probability /= cell_probability.sum()  # mass beyond |u| = 10 (about 1e-8) ignored
y_edges = np.concatenate([[-np.inf], np.sinh(u_axis[edge_index[1:-1]]), [np.inf]])
counts, _, _ = np.histogram2d(y_2d[:, 0], y_2d[:, 1], bins=[y_edges, y_edges])
chi2 = stats.chisquare(counts.ravel(), N_SAMPLES * cell_probability.ravel())
print(
    f"chi-square on {counts.size} cells: statistic {chi2.statistic:.1f}, p = {chi2.pvalue:.3f}"
    f" (smallest expected count {N_SAMPLES * cell_probability.min():.1f})"
)

# The naive 2-D density, normalized on the same grid, for comparison.
naive_grid = np.exp(-0.5 * np.sum(g_inverse_2d(np.stack([Y1, Y2], axis=-1)) ** 2, axis=-1))
naive_cumulative = integrate.cumulative_trapezoid(
    integrate.cumulative_trapezoid(naive_grid, y_axis, axis=0, initial=0.0),
    y_axis,
    axis=1,
    initial=0.0,
)
naive_cells = np.diff(np.diff(naive_cumulative[np.ix_(edge_index, edge_index)], axis=0), axis=1)
naive_cells /= naive_cells.sum()
chi2_naive = stats.chisquare(counts.ravel(), N_SAMPLES * naive_cells.ravel())
print(
    f"chi-square, naive density: statistic {chi2_naive.statistic:.0f}, p = {chi2_naive.pvalue:.1e}"
)

# %% [markdown]
# ## The log-determinant against automatic differentiation
# The formula's $\log|\det J_{g^{-1}}(y)|$ is compared with the log-determinant of the full
# Jacobian of $g^{-1}$ computed by automatic differentiation, in float64, at `N_JACOBIAN`
# sample points. This is the backend-specific cell of the script (TensorFlow's
# `GradientTape`, one backward pass per output coordinate); $g^{-1}$ itself is written with
# `keras.ops`.

# %%
import tensorflow as tf  # noqa: E402  (Jacobians by tf.GradientTape)


def g_inverse_2d_ops(y):
    """g^-1 in keras.ops, float64: A^-1 (asinh(y) - b)."""
    a_inv_transposed = ops.convert_to_tensor(A_INV.T, dtype="float64")
    return ops.matmul(
        ops.arcsinh(y) - ops.convert_to_tensor(B_VECTOR, dtype="float64"), a_inv_transposed
    )


def autodiff_jacobian(function, points):
    """The Jacobian of `function` at each row of `points`, in their dtype: (n, d_out, d_in).

    The examples do not interact, so the gradient of the batch sum of output i is row i of
    every example's Jacobian: d_out backward passes give all n Jacobians.
    """
    points = tf.convert_to_tensor(points)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(points)
        values = function(points)
        outputs = [tf.reduce_sum(values[:, i]) for i in range(values.shape[1])]
    return np.stack([tape.gradient(output, points).numpy() for output in outputs], axis=1)


# %%
check_points = y_2d[:N_JACOBIAN].astype(np.float64)
jacobians = autodiff_jacobian(g_inverse_2d_ops, check_points)
_, log_det_autodiff = np.linalg.slogdet(jacobians)
log_det_error_2d = float(np.max(np.abs(log_det_autodiff - log_det_inverse_2d(check_points))))
# 1-D: the derivative of g^-1 by autodiff against 1 / (a sqrt(1 + y^2)).
points_1d = y_1d[:N_JACOBIAN, None].astype(np.float64)
derivative = autodiff_jacobian(lambda y: (ops.arcsinh(y) - B_SHIFT) / A_SCALE, points_1d)[:, 0, 0]
log_det_error_1d = float(
    np.max(
        np.abs(
            np.log(np.abs(derivative)) + np.log(abs(A_SCALE) * np.sqrt(1 + points_1d[:, 0] ** 2))
        )
    )
)
print(
    "log|det J| formula vs autodiff: max error "
    f"{log_det_error_1d:.1e} (1-D), {log_det_error_2d:.1e} (2-D)"
)

# %% [markdown]
# ## Figure: samples against the formula

# %%
use_course_style()
fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(17, 5.4))
view = (-6.0, 6.0)
ax1.hist(y_1d, bins=np.linspace(*view, 121), density=True, color="0.75", label="samples of y")
y_plot = np.linspace(*view, 1000)
ax1.plot(y_plot, density_1d(y_plot), color="C0", label=r"$p_X(g^{-1}(y))\,|dg^{-1}/dy|$")
ax1.plot(
    y_plot,
    naive_density_1d(y_plot) / naive_mass,
    "--",
    color="C3",
    label=r"naive $p_X(g^{-1}(y))$, normalized",
)
ax1.set(
    xlabel="y",
    ylabel="density",
    xlim=view,
    title=f"1-D: y = sinh({A_SCALE}x + {B_SHIFT}), x ~ N(0, 1)\n"
    f"KS p = {ks.pvalue:.2f} (formula), {ks_naive.pvalue:.0e} (naive)",
)
ax1.legend(loc="upper left", fontsize=10)

box = (-5.0, 5.0)
bins = np.linspace(*box, 81)
counts_view, _, _ = np.histogram2d(y_2d[:, 0], y_2d[:, 1], bins=[bins, bins])
# A histogram with density=True divides by the samples inside the box; divide by all of them.
histogram_density = counts_view / (N_SAMPLES * np.diff(bins)[0] ** 2)
centres = 0.5 * (bins[1:] + bins[:-1])
C1, C2 = np.meshgrid(centres, centres, indexing="ij")
p_view = density_2d(np.stack([C1, C2], axis=-1))
norm = LogNorm(vmin=1e-4, vmax=float(p_view.max()))  # log scale: the tails show the map's shape
ax2.pcolormesh(bins, bins, np.maximum(histogram_density, 1e-4).T, cmap="viridis", norm=norm)
ax2.set(
    xlabel="$y_1$",
    ylabel="$y_2$",
    aspect="equal",
    title=f"2-D: histogram of {N_SAMPLES:,} samples\nof y = sinh(Ax + b)",
)
mesh = ax3.pcolormesh(bins, bins, p_view.T, cmap="viridis", norm=norm)
fig.colorbar(mesh, ax=[ax2, ax3], label="density (log scale, shared)", shrink=0.85)
for ax in (ax2, ax3):
    ax.grid(False)
ax3.set(
    xlabel="$y_1$",
    ylabel="$y_2$",
    aspect="equal",
    title=f"2-D: the formula's density\n"
    f"integral {integral_2d:.6f}, chi-square p = {chi2.pvalue:.2f}",
)
fig.suptitle("Change of variables: the formula matches the samples, the naive density does not")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "n_samples": N_SAMPLES,
    "ks_pvalue": float(ks.pvalue),
    "ks_statistic": float(ks.statistic),
    "ks_pvalue_naive": float(ks_naive.pvalue),
    "integral_1d": float(integral_1d),
    "integral_1d_error_estimate": float(integral_1d_error),
    "integral_2d": float(integral_2d),
    "integral_2d_error_estimate": float(integral_2d_error),
    "chi2_pvalue": float(chi2.pvalue),
    "chi2_pvalue_naive": float(chi2_naive.pvalue),
    "chi2_cells": int(counts.size),
    "min_expected_cell_count": float(N_SAMPLES * cell_probability.min()),
    "log_det_error_1d": log_det_error_1d,
    "log_det_error_2d": log_det_error_2d,
}
for key, value in SUMMARY.items():
    print(f"{key:>28s}: {value:.6g}" if isinstance(value, float) else f"{key:>28s}: {value}")
