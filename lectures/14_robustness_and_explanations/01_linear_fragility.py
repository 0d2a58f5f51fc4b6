"""
Linear models are fragile in high dimension: ε·sign(w) moves the score by ε‖w‖₁
================================================================================

A linear score s(x) = w·x + b (a Keras `Dense` layer in float64, 20 units = 20 independent
weight vectors) is attacked in dimensions d = 16, ..., 16,384. The perturbation ε·sign(w),
the steepest ascent in the L∞ ball, changes every score by exactly ε‖w‖₁, which grows like d
when the weights have a fixed scale per coordinate (Goodfellow, Shlens and Szegedy 2015); the
smallest perturbations that reach the decision boundary have the exact lengths |s(x)|/‖w‖₂
(L2, the orthogonal projection) and |s(x)|/‖w‖₁ (L∞), checked against a least-squares solver
and a linear program.

Left: the score change ε‖w‖₁ against d, log-log, for i.i.d. N(0, σ²) weights of a fixed scale
(slope 1) and for Keras' default Glorot-uniform weights, whose scale shrinks like d^(-1/2)
(slope 1/2), with the expected values. Right: the median distance of a random image in
[0, 1]^d to the boundary, in L2 (constant in d) and in L∞ (falling like d^(-1/2)), against
ε = 1/16, one grey level of the 8x8 digits. Look at where the L∞ distance crosses ε: from
there on an imperceptible change of every pixel flips most decisions, while the L2 distance
(what the eye would call "far") has not changed at all.

Try:
- Set `SIGMA = 1.0`: which curves move, and which do not? (Distances to the boundary do not
  depend on the scale of w.)
- Set `EPS = 1 / 64`: at which d does the median L∞ distance fall below it? Predict it from
  the slope -1/2 before running.
- Replace `rng.uniform` by `rng.integers(0, 2, ...)` (black-and-white images): which
  constants in the distances change, and does the slope?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
from scipy import optimize

# %% [markdown]
# ## Parameters
# Images are vectors $x \in [0, 1]^d$ (pixel intensities), so $\varepsilon$ is in pixel units:
# $\varepsilon = 1/16$ is one grey level of scikit-learn's 8x8 digits (levels $0, \dots, 16$).

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

DIMS = [16, 64, 256, 1024] if SMOKE else [16, 64, 256, 1024, 4096, 16384]  # input dimensions d
UNITS = 20  # output units of the Dense layer: independent weight vectors w_1, ..., w_20
N_POINTS = 50 if SMOKE else 200  # random images x per dimension
N_CHECK = 10  # of them, the images on which every identity is checked by the Keras model
EPS = 1 / 16  # L-infinity budget, in pixel units of [0, 1] images
SIGMA = 0.1  # standard deviation of each weight in the fixed-scale family
N_LP = 5 if SMOKE else 20  # points whose L-infinity distance is checked by a linear program
LP_DIM = 64  # dimension of those points

if EPS <= 0:
    raise ValueError(f"EPS must be positive, got {EPS}")
if SIGMA <= 0:
    raise ValueError(f"SIGMA must be positive, got {SIGMA}")
if len(DIMS) < 3 or min(DIMS) < 2:
    raise ValueError(f"DIMS needs at least 3 dimensions >= 2 for a slope, got {DIMS}")

# %% [markdown]
# ## The attack on a linear score
# The gradient of $s(x) = w \cdot x + b$ with respect to $x$ is $w$, everywhere. Among all
# perturbations with $\|\delta\|_\infty \le \varepsilon$ the score rises most for
# $\delta = \varepsilon\,\operatorname{sign}(w)$ (Hölder's inequality, with equality):
# $$ s(x + \delta) - s(x) = w \cdot \delta \le \|w\|_1 \|\delta\|_\infty ,\qquad
#   w \cdot \varepsilon \operatorname{sign}(w) = \varepsilon \|w\|_1 . $$
# The change does not depend on $x$. With i.i.d. weights, $\|w\|_1 = d \cdot \overline{|w_i|}$
# and $\mathbb E\|w\|_1 = d\,\mathbb E|w_1|$:
# for $w_i \sim N(0, \sigma^2)$ (a fixed scale per pixel) $\mathbb E|w_1| = \sigma\sqrt{2/\pi}$,
# the change grows like $d$; for Keras' default Glorot-uniform weights,
# $w_i \sim U(-a, a)$ with $a = \sqrt{6 / (d + \text{units})}$, $\mathbb E|w_1| = a/2$ and the
# change grows like $\sqrt d$. The weights are the `Dense` layer's own initializers; the
# bias is set to $b = -w \cdot \tfrac12 \mathbf 1$, so the boundary passes through the grey
# image.


# %%
def linear_model(dim, initializer):
    """A Dense layer of UNITS linear scores in float64, boundary through the grey image 1/2."""
    model = keras.Sequential(
        [
            keras.Input(shape=(dim,), dtype="float64"),
            keras.layers.Dense(UNITS, kernel_initializer=initializer, dtype="float64"),
        ]
    )
    layer = model.layers[0]
    layer.bias.assign(-0.5 * np.sum(keras.ops.convert_to_numpy(layer.kernel), axis=0))
    return model


def scores(model, x):
    return keras.ops.convert_to_numpy(model(x))


keras.utils.set_random_seed(SEED)
rng = np.random.default_rng(SEED)
FAMILIES = {
    "fixed scale N(0, σ²)": lambda: keras.initializers.RandomNormal(stddev=SIGMA),
    "Glorot uniform (Keras default)": lambda: keras.initializers.GlorotUniform(),
}
score_change = {name: [] for name in FAMILIES}  # mean over units of eps * ||w||_1, per d
change_error = {name: 0.0 for name in FAMILIES}  # max relative error of the measured change
results = []  # per dimension: the fixed-scale model, its weights and the images
for dim in DIMS:
    x = rng.uniform(0.0, 1.0, size=(N_POINTS, dim))
    for name, initializer in FAMILIES.items():
        model = linear_model(dim, initializer())
        w = keras.ops.convert_to_numpy(model.layers[0].kernel)  # (dim, UNITS)
        s = scores(model, x)
        predicted = EPS * np.sum(np.abs(w), axis=0)  # eps * ||w_j||_1
        for j in range(UNITS):
            x_check = x[:N_CHECK] + EPS * np.sign(w[:, j])
            measured = scores(model, x_check)[:, j] - s[:N_CHECK, j]
            error = np.max(np.abs(measured - predicted[j])) / predicted[j]
            change_error[name] = max(change_error[name], float(error))
        score_change[name].append(float(np.mean(predicted)))
        if name.startswith("fixed"):
            results.append((dim, model, w, x, s))
score_change = {name: np.array(values) for name, values in score_change.items()}
for name, error in change_error.items():
    print(f"{name}: max relative error of s(x + eps sign w) - s(x) = eps ||w||_1: {error:.1e}")

# %% [markdown]
# ## How exact is "slope 1"?
# The log-log slope of $\varepsilon\,\overline{\|w\|_1}$ (mean over the 20 units) against $d$
# is fitted by least squares. Its randomness comes from $\overline{|w_i|}$ only: averaged over
# $20d$ i.i.d. weights, its relative standard deviation is $r/\sqrt{20 d}$ with
# $r = \operatorname{sd}|w_1| / \mathbb E|w_1| = \sqrt{\pi/2 - 1} = 0.756$ (normal) and
# $1/\sqrt 3 = 0.577$ (uniform). The slope is a linear combination
# $\sum_k c_k \log y_k$ with
# $c_k = (\log d_k - \overline{\log d}) / \sum_j (\log d_j - \overline{\log d})^2$,
# so its standard error is $\big(\sum_k c_k^2 r^2 / (20 d_k)\big)^{1/2}$, dominated by the
# smallest $d$. The expected slope is the least-squares slope through the expected values
# (exactly 1 for the fixed scale; for Glorot, $\log\big(d\sqrt{6/(d + 20)}/2\big)$ has
# slope slightly above 1/2 at small $d$).


# %%
log_d = np.log(np.array(DIMS, dtype=float))
coef = (log_d - log_d.mean()) / np.sum((log_d - log_d.mean()) ** 2)
ratio = {
    "fixed scale N(0, σ²)": np.sqrt(np.pi / 2 - 1),
    "Glorot uniform (Keras default)": 1 / np.sqrt(3),
}
expected_change = {
    "fixed scale N(0, σ²)": EPS * np.array(DIMS) * SIGMA * np.sqrt(2 / np.pi),
    "Glorot uniform (Keras default)": EPS
    * np.array(DIMS)
    * np.sqrt(6 / (np.array(DIMS) + UNITS))
    / 2,
}
slope, slope_expected, slope_se = {}, {}, {}
for name in FAMILIES:
    slope[name] = float(coef @ np.log(score_change[name]))
    slope_expected[name] = float(coef @ np.log(expected_change[name]))
    slope_se[name] = float(np.sqrt(np.sum(coef**2 * ratio[name] ** 2 / (UNITS * np.array(DIMS)))))
    print(
        f"{name}: slope {slope[name]:.4f}, expected {slope_expected[name]:.4f} "
        f"± {slope_se[name]:.4f} (one standard error)"
    )

# %% [markdown]
# ## The distance to the decision boundary
# The closest point of the hyperplane $\{z : w \cdot z + b = 0\}$ to $x$ in a norm
# $\|\cdot\|_p$ is at distance $|s(x)| / \|w\|_q$, with $q$ the dual exponent
# ($1/p + 1/q = 1$): $|s(x)| = |w \cdot \delta| \le \|w\|_q \|\delta\|_p$ for every $\delta$
# that reaches it, with equality for
# $$ \delta_2 = -\frac{s(x)}{\|w\|_2^2}\, w \ \ (p = 2), \qquad
#   \delta_\infty = -\frac{s(x)}{\|w\|_1} \operatorname{sign}(w) \ \ (p = \infty). $$
# $\delta_2$ is the orthogonal projection, the minimum-norm solution of the one equation
# $w \cdot \delta = -s(x)$ (what `numpy.linalg.lstsq` returns); $\delta_\infty$ is the
# solution of the linear program
# $\min t$ subject to $w \cdot \delta = -s(x)$, $-t \le \delta_i \le t$ (solved by
# `scipy.optimize.linprog`). Both are checked below, and $x + \delta$ is checked to be on the
# boundary. The pixel range $[0, 1]$ is ignored here (script 02 keeps it).
#
# For $x$ uniform on $[0, 1]^d$ and $b = -w \cdot \tfrac12\mathbf 1$,
# $s(x) = w \cdot (x - \tfrac12 \mathbf 1)$ has variance $\|w\|_2^2 / 12$, so the L2 distance
# $|s|/\|w\|_2$ is about $|N(0, 1/12)|$ whatever $d$ (median $0.674/\sqrt{12} = 0.195$),
# while the L∞ distance $|s|/\|w\|_1 = (|s|/\|w\|_2)(\|w\|_2/\|w\|_1)$ carries the factor
# $\|w\|_2/\|w\|_1 \approx \sqrt{\pi/2}/\sqrt d$ (normal weights): it falls like $d^{-1/2}$,
# with median about $0.195\sqrt{\pi/2}/\sqrt d = 0.244/\sqrt d$. The attack
# $\delta = -\operatorname{sign}(s)\,\varepsilon \operatorname{sign}(w)$ moves the score to
# $s - \operatorname{sign}(s)\,\varepsilon\|w\|_1$, so it flips the decision exactly when this
# distance is below $\varepsilon$. The cell applies this attack through the Keras layer to
# every image and unit, counts the sign changes of the score (the fractions in the figure),
# and counts the cases where they disagree with the distance criterion.

# %%
median_l2, median_linf, flipped, flip_mismatches = [], [], [], 0
boundary_error_l2, boundary_error_linf, lstsq_error = 0.0, 0.0, 0.0
for _dim, model, w, x, s in results:
    norm1, norm2 = np.sum(np.abs(w), axis=0), np.linalg.norm(w, axis=0)
    dist_l2, dist_linf = np.abs(s) / norm2, np.abs(s) / norm1  # (N_POINTS, UNITS)
    median_l2.append(float(np.median(dist_l2)))
    median_linf.append(float(np.median(dist_linf)))
    attacked = np.stack(  # s(x - sign(s_j) eps sign(w_j)) for every image and unit j
        [
            scores(model, x - EPS * np.sign(s[:, j : j + 1]) * np.sign(w[:, j]))[:, j]
            for j in range(UNITS)
        ],
        axis=1,
    )
    sign_changed = np.sign(attacked) != np.sign(s)
    flipped.append(float(np.mean(sign_changed)))
    flip_mismatches += int(np.sum(sign_changed != (dist_linf < EPS)))
    for j in range(UNITS):
        # The projected points: scores 0 up to rounding, relative to |w|·|x| + |b|.
        delta_2 = -np.outer(s[:N_CHECK, j] / norm2[j] ** 2, w[:, j])
        delta_inf = -np.outer(s[:N_CHECK, j] / norm1[j], np.sign(w[:, j]))
        bias = keras.ops.convert_to_numpy(model.layers[0].bias)[j]
        for delta, which in ((delta_2, "l2"), (delta_inf, "linf")):
            z = x[:N_CHECK] + delta
            scale = np.abs(z) @ np.abs(w[:, j]) + abs(bias)
            error = float(np.max(np.abs(scores(model, z)[:, j]) / scale))
            if which == "l2":
                boundary_error_l2 = max(boundary_error_l2, error)
            else:
                boundary_error_linf = max(boundary_error_linf, error)
        # The projection is the minimum-norm solution of w . delta = -s (least squares).
        if j == 0:
            solution = np.linalg.lstsq(w[:, :1].T, -s[None, :N_CHECK, 0], rcond=None)[0].T
            lstsq_error = max(
                lstsq_error, float(np.max(np.abs(solution - delta_2)) / np.max(np.abs(delta_2)))
            )
median_l2, median_linf = np.array(median_l2), np.array(median_linf)
slope_linf = float(coef @ np.log(median_linf))
slope_l2 = float(coef @ np.log(median_l2))
print(
    f"projected points on the boundary: relative |s| <= {boundary_error_l2:.1e} (L2), "
    f"{boundary_error_linf:.1e} (L-inf); lstsq agrees to {lstsq_error:.1e}"
)
print(f"median L2 distance {np.round(median_l2, 4)}, slope {slope_l2:+.3f}")
print(f"median L-inf distance {np.round(median_linf, 4)}, slope {slope_linf:+.3f}")
print(f"fraction flipped by eps = {EPS:.4f}: {np.round(flipped, 3)} (measured by the layer)")
print(f"attacks whose flip disagrees with dist_linf < eps: {flip_mismatches}")

# %% [markdown]
# ## The L∞ distance against a linear program
# For `N_LP` random images in dimension `LP_DIM` and one weight vector, HiGHS (through
# `scipy.optimize.linprog`) minimizes $t$ over $(\delta, t)$; its optimum must equal
# $|s(x)|/\|w\|_1$ up to the solver's tolerance ($10^{-7}$ on feasibility by default).

# %%
w_lp = rng.normal(0.0, SIGMA, size=LP_DIM)
x_lp = rng.uniform(0.0, 1.0, size=(N_LP, LP_DIM))
s_lp = (x_lp - 0.5) @ w_lp
lp_error = 0.0
for s_i in s_lp:  # the distance depends on x only through s(x)
    # variables (delta_1, ..., delta_d, t); constraints  delta_i - t <= 0,  -delta_i - t <= 0
    eye = np.eye(LP_DIM)
    a_ub = np.block([[eye, -np.ones((LP_DIM, 1))], [-eye, -np.ones((LP_DIM, 1))]])
    cost = np.zeros(LP_DIM + 1)
    cost[-1] = 1.0
    lp = optimize.linprog(
        cost,
        A_ub=a_ub,
        b_ub=np.zeros(2 * LP_DIM),
        A_eq=np.append(w_lp, 0.0)[None, :],
        b_eq=[-s_i],
        bounds=[(None, None)] * LP_DIM + [(0, None)],
        method="highs",
    )
    if lp.status != 0:
        raise RuntimeError(f"the linear program failed: {lp.message}")
    closed_form = abs(s_i) / np.sum(np.abs(w_lp))
    lp_error = max(lp_error, abs(lp.fun - closed_form) / closed_form)
print(f"linear program vs |s|/||w||_1: max relative difference {lp_error:.1e}")

# %% [markdown]
# ## Figure

# %%
use_course_style()
dims = np.array(DIMS, dtype=float)
fig, (ax_change, ax_dist) = plt.subplots(1, 2, figsize=(14, 5.8))
for (name, values), color in zip(score_change.items(), ["tab:red", "tab:blue"], strict=True):
    ax_change.loglog(dims, values, "o", color=color, label=f"{name}: slope {slope[name]:.3f}")
    ax_change.loglog(dims, expected_change[name], "-", color=color, alpha=0.5)
ax_change.plot([], [], "k-", alpha=0.5, label="expected ε d E|w₁|")
ax_change.set(
    xlabel="input dimension d",
    ylabel="score change ε‖w‖₁ (mean of 20 units)",
    title=f"ε·sign(w) with ε = {EPS:.4g}: the score moves by ε‖w‖₁",
)
ax_change.legend(loc="upper left")

ax_dist.loglog(
    dims, median_l2, "o-", color="tab:green", label=f"L2: |s|/‖w‖₂ (slope {slope_l2:+.2f})"
)
ax_dist.loglog(
    dims, median_linf, "s-", color="tab:purple", label=f"L∞: |s|/‖w‖₁ (slope {slope_linf:+.2f})"
)
median_normal = 0.6745 / np.sqrt(12)  # median of |N(0, 1/12)|
ax_dist.loglog(dims, median_normal * np.ones_like(dims), "k:", label="0.195 (normal approx.)")
ax_dist.loglog(dims, median_normal * np.sqrt(np.pi / 2 / dims), "k--", label="0.244 / √d")
ax_dist.axhline(EPS, color="gray", lw=1.5, label=f"ε = {EPS:.4g} (one grey level)")
for dim, distance, fraction in zip(dims, median_linf, flipped, strict=True):
    ax_dist.annotate(
        f"{fraction:.1%}", (dim, distance), textcoords="offset points", xytext=(6, 6), fontsize=11
    )
ax_dist.text(0.98, 0.55, "% = decisions flipped by ε", transform=ax_dist.transAxes, ha="right")
ax_dist.set(
    xlabel="input dimension d",
    ylabel="median distance to the boundary",
    title="Random images in [0, 1]^d: L2 stays, L∞ shrinks like d^(-1/2)",
)
ax_dist.legend(loc="lower left")
fig.suptitle("A linear score in high dimension: a tiny change of every pixel adds up")
plt.show()

# %% [markdown]
# ## Summary

# %%
fixed, glorot = FAMILIES
SUMMARY = {
    "dims": len(DIMS),
    "largest_dim": DIMS[-1],
    "eps": float(EPS),
    "change_rel_error_fixed": change_error[fixed],
    "change_rel_error_glorot": change_error[glorot],
    "slope_fixed": slope[fixed],
    "slope_fixed_expected": slope_expected[fixed],
    "slope_fixed_se": slope_se[fixed],
    "slope_glorot": slope[glorot],
    "slope_glorot_expected": slope_expected[glorot],
    "slope_glorot_se": slope_se[glorot],
    "boundary_rel_error_l2": boundary_error_l2,
    "boundary_rel_error_linf": boundary_error_linf,
    "lstsq_rel_error": lstsq_error,
    "lp_rel_error": float(lp_error),
    "median_l2_smallest_dim": float(median_l2[0]),
    "median_l2_largest_dim": float(median_l2[-1]),
    "slope_l2_distance": slope_l2,
    "slope_linf_distance": slope_linf,
    "median_linf_largest_dim": float(median_linf[-1]),
    "flip_mismatches": flip_mismatches,
    "flipped_smallest_dim": flipped[0],
    "flipped_largest_dim": flipped[-1],
}
for key, value in SUMMARY.items():
    print(f"{key:>26s}: {value:.6g}" if isinstance(value, float) else f"{key:>26s}: {value}")
