"""
Convergence rates: gradient descent and heavy-ball momentum against the theory
==============================================================================

On quadratics whose Hessian has condition number kappa = L / mu from 1 to 1000, gradient descent
with the step 2 / (L + mu) contracts the error by (kappa - 1) / (kappa + 1) per step, heavy-ball
momentum with its optimal parameters by (sqrt(kappa) - 1) / (sqrt(kappa) + 1), and any step
above 2 / L diverges; the measured rates and the measured threshold match these predictions.

The figure shows, left, one minus the measured rate against kappa (markers) on the two
predicted curves: gradient descent needs about kappa / 2 steps to shrink the error by a factor
e, momentum about sqrt(kappa) / 2. In the middle, the error against the step for kappa = 100,
with the predicted slopes dashed, and a step 2 % above 2 / L blowing up. On the right, the
error after a fixed number of steps against the step size: the wall sits at 2 / L.

Try:
- Use 20 eigenvalues instead of 10, or put them all at mu and L: which rates change?
- Give momentum m = 0.9 with the gradient-descent step 2 / (L + mu): is it faster or slower?
- Find the divergence threshold of heavy ball with m = 0.5 and compare with 2 (1 + m) / L.
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed (it draws
# the starting point).

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

KAPPAS = np.array([1, 2, 5, 10, 30, 100, 300, 1000], dtype=float)
DIM = 10  # eigenvalues per quadratic, spread geometrically from mu = 1 to L = kappa
STEPS = 2_000 if SMOKE else 20_000  # iterations for the rate measurement
DIVERGENCE_STEPS = 500 if SMOKE else 2_000  # iterations per trial of the threshold search
BISECTIONS = 10 if SMOKE else 20
SHOW_KAPPA = 100.0  # the quadratic of the middle and right panels
SCAN_STEPS = 200  # iterations per step size in the right panel

# %% [markdown]
# ## The quadratics and the two methods
# $f(w) = \frac12 w^\top A w$ with $A = \mathrm{diag}(\lambda_1, \dots, \lambda_d)$,
# $\mu = \lambda_1 = 1 \le \dots \le \lambda_d = L = \kappa$; the minimizer is $w^* = 0$ and the
# gradient is $g = A w$. Both methods are Keras' SGD update,
# $$v \leftarrow m v - \eta g, \qquad w \leftarrow w + v,$$
# which is the heavy-ball iteration $w_{t+1} = w_t - \eta \nabla f(w_t) + m (w_t - w_{t-1})$.
#
# - Gradient descent ($m = 0$): each eigen-direction is multiplied by $1 - \eta\lambda$ per
#   step, so the rate is $\max_\lambda |1 - \eta\lambda| = \max(|1 - \eta\mu|, |1 - \eta L|)$,
#   smallest for $\eta = 2/(L+\mu)$, where it equals $(\kappa-1)/(\kappa+1)$. For
#   $\eta > 2/L$ the top direction grows: divergence.
# - Heavy ball: each eigen-direction follows $z^2 - (1 + m - \eta\lambda) z + m = 0$; with
#   $\eta = 4/(\sqrt L + \sqrt\mu)^2$ and
#   $m = \left(\frac{\sqrt\kappa - 1}{\sqrt\kappa + 1}\right)^2$ both roots have modulus
#   $\sqrt m$ for every $\lambda \in [\mu, L]$, so the rate is
#   $(\sqrt\kappa - 1)/(\sqrt\kappa + 1)$.

# %%
eigenvalues = np.geomspace(np.ones_like(KAPPAS), KAPPAS, DIM, axis=1)  # (n_kappa, DIM)
mu, L = eigenvalues[:, 0], eigenvalues[:, -1]
sqrt_kappa = np.sqrt(KAPPAS)

METHODS = {
    # name: (learning rate, momentum, predicted rate), one entry per kappa
    "gradient descent": (2 / (L + mu), np.zeros_like(KAPPAS), (KAPPAS - 1) / (KAPPAS + 1)),
    "heavy ball": (
        4 / (np.sqrt(L) + np.sqrt(mu)) ** 2,
        ((sqrt_kappa - 1) / (sqrt_kappa + 1)) ** 2,
        (sqrt_kappa - 1) / (sqrt_kappa + 1),
    ),
}

keras.utils.set_random_seed(SEED)
rng = np.random.default_rng(SEED)
w_start = rng.standard_normal(DIM)


def errors(learning_rate, momentum, lam, steps):
    """Run Keras' SGD update on every quadratic at once; return ||w_t - w*||, shape (steps+1, n)."""
    lr, m = learning_rate[:, None], momentum[:, None]
    w = np.tile(w_start, (len(lam), 1))
    v = np.zeros_like(w)
    history = [np.linalg.norm(w, axis=1)]
    for _ in range(steps):
        v = m * v - lr * (lam * w)
        w = w + v
        history.append(np.linalg.norm(w, axis=1))
    return np.array(history)


# %% [markdown]
# ## Measuring a rate
# The rate is the geometric mean of $e_{t+1}/e_t$ with $e_t = \|w_t - w^*\|$, taken over the
# window where $10^{-200} < e_t/e_0 < 10^{-6}$: late enough that the faster directions have
# died out, early enough that nothing underflows. (Because $w^* = 0$ the iteration is
# homogeneous and rounding error stays relative: $e_t$ can fall to $10^{-200}$ cleanly.)


# %%
def measured_rate(error):
    relative = error / error[0]
    if relative[1] == 0.0:
        return 0.0  # kappa = 1: one step lands exactly on the minimum
    window = np.nonzero((relative < 1e-6) & (relative > 1e-200))[0]
    if window.size < 2:  # a run too short to reach the window (smoke mode): use its second half
        window = np.arange(len(relative) // 2, len(relative))
    first, last = window[0], window[-1]
    return float((relative[last] / relative[first]) ** (1 / (last - first)))


rates, relative_errors, runs = {}, {}, {}
for name, (lr, m, predicted) in METHODS.items():
    runs[name] = errors(lr, m, eigenvalues, STEPS)
    rates[name] = np.array([measured_rate(runs[name][:, k]) for k in range(len(KAPPAS))])
    # relative error of the rate; at kappa = 1 both are exactly 0
    relative_errors[name] = np.abs(rates[name] - predicted) / np.maximum(predicted, 1e-300)
    print(f"{name}:")
    for kappa, got, want in zip(KAPPAS, rates[name], predicted, strict=True):
        print(f"  kappa {kappa:6.0f}: measured {got:.5f}, predicted {want:.5f}")

# %% [markdown]
# ## The divergence threshold
# Bisection on the step size $\eta$ of gradient descent: a trial diverges when the error after
# `DIVERGENCE_STEPS` steps exceeds the starting error. Theory puts the threshold at
# $\eta = 2/L$, whatever $\mu$.


# %%
def diverges(learning_rate):
    with np.errstate(over="ignore", invalid="ignore"):  # diverging runs overflow to inf: fine
        final = errors(learning_rate, np.zeros_like(KAPPAS), eigenvalues, DIVERGENCE_STEPS)[-1]
    return final > np.linalg.norm(w_start)


low, high = 1.5 / L, 2.5 / L  # converges, diverges
for _ in range(BISECTIONS):
    middle = (low + high) / 2
    middle_diverges = diverges(middle)
    low = np.where(middle_diverges, low, middle)
    high = np.where(middle_diverges, middle, high)
threshold_ratio = (low + high) / 2 / (2 / L)  # found threshold in units of 2 / L
print("divergence threshold / (2/L):", np.round(threshold_ratio, 5))
above_diverges = bool(np.all(diverges(1.02 * 2 / L)))
below_converges = bool(not np.any(diverges(0.98 * 2 / L)))

# %% [markdown]
# ## Keras agrees with the NumPy loop
# The same heavy-ball iteration through `keras.optimizers.SGD(momentum=m)` on a float32
# variable, for the quadratic with $\kappa = 100$, against the float64 NumPy loop with the same
# (float32-rounded) $\eta$ and $m$.

# %%
k = int(np.nonzero(KAPPAS == SHOW_KAPPA)[0][0])
lam, lr_hb, m_hb = eigenvalues[k], METHODS["heavy ball"][0][k], METHODS["heavy ball"][1][k]
lr_hb, m_hb = float(np.float32(lr_hb)), float(np.float32(m_hb))  # the values Keras stores
optimizer = keras.optimizers.SGD(learning_rate=float(lr_hb), momentum=float(m_hb))
w_keras = keras.Variable(w_start.astype("float32"))
w_numpy, v_numpy = w_start.copy(), np.zeros(DIM)
keras_check = 0.0  # largest |w_keras - w_numpy| / |w_0| over the steps
for _ in range(50):
    optimizer.apply_gradients([((lam * w_keras.numpy()).astype("float32"), w_keras)])
    v_numpy = m_hb * v_numpy - lr_hb * (lam * w_numpy)
    w_numpy = w_numpy + v_numpy
    difference = np.linalg.norm(w_keras.numpy() - w_numpy) / np.linalg.norm(w_start)
    keras_check = max(keras_check, float(difference))
print(f"Keras SGD(momentum) against the NumPy loop, 50 steps: difference {keras_check:.1e}")

# %% [markdown]
# ## Figure: rates, error curves, the wall at 2/L

# %%
use_course_style()
fig, (ax_rate, ax_err, ax_div) = plt.subplots(1, 3, figsize=(19, 5.8))
kappa_grid = np.geomspace(1, KAPPAS.max(), 200)
ax_rate.loglog(kappa_grid, 2 / (kappa_grid + 1), color="C0", label="GD theory 1 − (κ−1)/(κ+1)")
ax_rate.loglog(
    kappa_grid,
    2 / (np.sqrt(kappa_grid) + 1),
    color="C1",
    label="heavy ball theory 1 − (√κ−1)/(√κ+1)",
)
ax_rate.loglog(
    KAPPAS, 1 - rates["gradient descent"], "o", color="C0", markersize=9, label="GD measured"
)
ax_rate.loglog(
    KAPPAS, 1 - rates["heavy ball"], "s", color="C1", markersize=9, label="heavy ball measured"
)
ax_rate.set(
    xlabel="condition number κ = L/μ",
    ylabel="1 − rate (per step)",
    title="Measured rates on the predicted curves",
)
ax_rate.legend(fontsize=10)

steps_shown = np.arange(min(STEPS, 2000) + 1)
for name, color in (("gradient descent", "C0"), ("heavy ball", "C1")):
    ax_err.semilogy(
        steps_shown,
        runs[name][steps_shown, k] / runs[name][0, k],
        color=color,
        label=f"{name}, η = {METHODS[name][0][k]:.4f}",
    )
    predicted = METHODS[name][2][k]
    ax_err.semilogy(
        steps_shown,
        predicted**steps_shown,
        "--",
        color=color,
        linewidth=1.2,
        label=f"rate {predicted:.4f} (theory)",
    )
too_large = errors(np.array([2.04 / L[k]]), np.zeros(1), eigenvalues[k : k + 1], 300)[:, 0]
ax_err.semilogy(
    np.arange(301), too_large / too_large[0], color="C3", label="GD, η = 1.02 · 2/L: diverges"
)
ax_err.set(
    xlabel="step",
    ylabel="‖w_t − w*‖ / ‖w_0 − w*‖",
    ylim=(1e-16, 1e3),
    title=f"κ = {SHOW_KAPPA:.0f}: error against step",
)
ax_err.legend(fontsize=10, loc="lower left")

factors = np.linspace(0.8, 1.05, 126)  # step size in units of 2 / L
with np.errstate(over="ignore", invalid="ignore"):
    scan = errors(
        factors * 2 / L[k], np.zeros_like(factors), np.tile(lam, (len(factors), 1)), SCAN_STEPS
    )[-1] / np.linalg.norm(w_start)
ax_div.semilogy(factors, scan, color="C0", label="gradient descent")
ax_div.axhline(1.0, color="gray", linewidth=1)
ax_div.axvline(1.0, color="black", linestyle="--", label="theory: η = 2/L")
ax_div.axvline(
    threshold_ratio[k],
    color="C3",
    linestyle=":",
    label=f"bisection: {threshold_ratio[k]:.4f} · 2/L",
)
ax_div.set(
    xlabel="step size η  (units of 2/L)",
    ylim=(1e-4, 1e8),
    ylabel=f"error after {SCAN_STEPS} steps (relative)",
    title=f"κ = {SHOW_KAPPA:.0f}: the wall at η = 2/L",
)
ax_div.legend(fontsize=10)
fig.suptitle("Gradient descent and heavy-ball momentum on quadratics: measurement against theory")
plt.show()

# %% [markdown]
# ## Summary

# %%
nontrivial = KAPPAS > 1
SUMMARY = {
    "max_relative_error_gd_rate": float(relative_errors["gradient descent"].max()),
    "max_relative_error_heavy_ball_rate": float(relative_errors["heavy ball"].max()),
    "gd_rate_kappa_1000": float(rates["gradient descent"][-1]),
    "heavy_ball_rate_kappa_1000": float(rates["heavy ball"][-1]),
    "kappa_1_exact_in_one_step": bool(
        rates["gradient descent"][0] == 0.0 and rates["heavy ball"][0] == 0.0
    ),
    "heavy_ball_faster_everywhere": bool(
        np.all(rates["heavy ball"][nontrivial] < rates["gradient descent"][nontrivial])
    ),
    "threshold_ratio_min": float(threshold_ratio.min()),
    "threshold_ratio_max": float(threshold_ratio.max()),
    "diverges_2pct_above_2_over_L": above_diverges,
    "converges_2pct_below_2_over_L": below_converges,
    "keras_vs_numpy_relative_difference": keras_check,
}
for key, value in SUMMARY.items():
    print(f"{key:>36s}: {value:.4g}" if isinstance(value, float) else f"{key:>36s}: {value}")
