"""
Optimizer trajectories: six Keras optimizers on four 2-D landscapes
===================================================================

The real `keras.optimizers` (SGD, SGD with momentum, Nesterov, Adagrad, RMSprop, Adam) move a
point w = (x, y) downhill through `apply_gradients`, on an ill-conditioned quadratic,
Rosenbrock's banana valley, the saddle x^2 - y^2 and Himmelblau's function.

The top row of the figure shows the paths on the contour lines of each function, the bottom row
the loss against the step. Look for: plain SGD creeping along the flat direction of the quadratic
while momentum overshoots, rings down and arrives first; everybody entering Rosenbrock's valley
fast and then crawling along it; on the saddle, every run started exactly on the x-axis sliding
into the saddle point (the y-gradient is exactly zero there), while runs started 1e-3 off the
axis escape. The adaptive methods take first steps that do not depend on the size of the
gradient: Adam's is the learning rate eta in every coordinate, RMSprop's eta / sqrt(1 - rho) =
3.16 eta (its average of g^2 starts at 0 and holds only (1 - rho) g^2 after one step), as long
as g^2 is large against their epsilon.

Try:
- Set `MOMENTUM = 0.95`: on the quadratic, does momentum still win? (Compare sqrt(m) with
  1 - lr * mu, see script 03.)
- Double the SGD rate on Rosenbrock: predict from the curvature (about 1300 at the start)
  whether the run survives.
- Start the saddle runs at y = 1e-8: how many more steps does plain SGD need to escape?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed (it moves
# the starting points).

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

STEPS = 10 if SMOKE else 100  # optimizer steps per run
KAPPA = 20.0  # condition number of the quadratic 0.5 * (x^2 + KAPPA * y^2)
MOMENTUM = 0.8  # m for SGD with momentum and Nesterov
TOLERANCE = 1e-3  # quadratic: "converged" once f(w) <= TOLERANCE * f(w_0)
OPTIMIZERS = ["SGD", "momentum", "Nesterov", "Adagrad", "RMSprop", "Adam"]
# Learning rates per function, in the order of OPTIMIZERS. SGD, momentum and Nesterov share one
# rate on each function, so that momentum is the only difference between them.
RATES = {
    "quadratic": [0.045, 0.045, 0.045, 1.0, 0.1, 0.2],  # SGD rate 0.9 / L, L = KAPPA
    "Rosenbrock": [1e-3, 1e-3, 1e-3, 0.3, 0.03, 0.1],
    "saddle": [0.05, 0.05, 0.05, 0.1, 0.02, 0.02],
    "Himmelblau": [0.01, 0.01, 0.01, 1.0, 0.1, 0.2],
}
COLORS = dict(zip(OPTIMIZERS, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))

# %% [markdown]
# ## Four landscapes
# Each function takes points of shape `(..., 2)` and comes with its gradient written out by
# hand (checked against central differences below):
#
# - quadratic $f = \frac12(x^2 + \kappa y^2)$: Hessian eigenvalues $\mu = 1$, $L = \kappa$;
# - Rosenbrock $f = (1 - x)^2 + 100 (y - x^2)^2$: minimum 0 at $(1, 1)$ at the end of a
#   curved, flat-bottomed valley;
# - saddle $f = x^2 - y^2$: a critical point at the origin that is not a minimum; the $x$-axis
#   is its stable manifold (gradient descent started there never leaves it);
# - Himmelblau $f = (x^2 + y - 11)^2 + (x + y^2 - 7)^2$: four minima, all with value 0.


# %%
def quadratic(w):
    x, y = w[..., 0], w[..., 1]
    return 0.5 * (x**2 + KAPPA * y**2)


def quadratic_grad(w):
    x, y = w[..., 0], w[..., 1]
    return np.stack([x, KAPPA * y], axis=-1)


def rosenbrock(w):
    x, y = w[..., 0], w[..., 1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def rosenbrock_grad(w):
    x, y = w[..., 0], w[..., 1]
    return np.stack([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)], axis=-1)


def saddle(w):
    x, y = w[..., 0], w[..., 1]
    return x**2 - y**2


def saddle_grad(w):
    x, y = w[..., 0], w[..., 1]
    return np.stack([2 * x, -2 * y], axis=-1)


def himmelblau(w):
    x, y = w[..., 0], w[..., 1]
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def himmelblau_grad(w):
    x, y = w[..., 0], w[..., 1]
    a, b = x**2 + y - 11, x + y**2 - 7
    return np.stack([4 * x * a + 2 * b, 2 * a + 4 * y * b], axis=-1)


# Starting points drawn from the seed, so that the lesson is checked from several starts.
keras.utils.set_random_seed(SEED)
rng = np.random.default_rng(SEED)
x_saddle = rng.uniform(1.0, 1.5)
delta = rng.choice([-1, 1]) * rng.uniform(0.5, 2.0) * 1e-3  # the perturbation off the axis
LANDSCAPES = {
    # name: (f, gradient, starting points (k, 2), view box (x0, x1, y0, y1))
    "quadratic": (
        quadratic,
        quadratic_grad,
        [[-rng.uniform(3.0, 4.5), rng.choice([-1, 1]) * rng.uniform(0.5, 1.2)]],
        (-5, 5, -1.6, 1.6),
    ),
    "Rosenbrock": (
        rosenbrock,
        rosenbrock_grad,
        [[-1.2 + rng.uniform(-0.1, 0.1), 1.0 + rng.uniform(-0.1, 0.1)]],
        (-2, 2, -1, 3),
    ),
    # Two starts on the saddle: exactly on the stable axis, and `delta` off it.
    "saddle": (saddle, saddle_grad, [[x_saddle, 0.0], [x_saddle, delta]], (-1.6, 1.6, -1.6, 1.6)),
    "Himmelblau": (
        himmelblau,
        himmelblau_grad,
        [[rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5)]],
        (-5, 5, -5, 5),
    ),
}

# The hand-written gradients against central differences at a few random points.
points = rng.uniform(-2, 2, size=(5, 2))
h = 1e-6
grad_error = 0.0
for f, grad, _, _ in LANDSCAPES.values():
    numeric = np.stack(
        [(f(points + h * e) - f(points - h * e)) / (2 * h) for e in np.eye(2)], axis=-1
    )
    grad_error = max(grad_error, float(np.max(np.abs(numeric - grad(points)))))
print(f"largest gradient error against central differences: {grad_error:.1e}")

# %% [markdown]
# ## The Keras optimizers, one step at a time
# A `keras.Variable` of shape `(k, 2)` holds $k$ starting points; each step computes the
# gradient and hands it to `optimizer.apply_gradients`. All six optimizers act coordinate by
# coordinate, so the $k$ rows are $k$ independent runs (the saddle uses $k = 2$).
# The update rules, in Keras' conventions ($g$ the gradient, $\eta$ the learning rate):
#
# - SGD: $w \leftarrow w - \eta g$
# - momentum: $v \leftarrow m v - \eta g,\; w \leftarrow w + v$
# - Nesterov: $v \leftarrow m v - \eta g,\; w \leftarrow w + m v - \eta g$
# - Adagrad: $a \leftarrow a + g^2$ (starting from $a = 0.1$),
#   $w \leftarrow w - \eta g/\sqrt{a + \epsilon}$
# - RMSprop: $s \leftarrow \rho s + (1-\rho) g^2,\;
#   w \leftarrow w - \eta g / \sqrt{s + \epsilon}$
# - Adam: see script 02 for the full rule with its bias correction.
#
# The first step shows how differently the two adaptive methods are normalized. RMSprop starts
# from $s = 0$, so after one step $s = (1-\rho) g^2$ and it moves by
# $\eta\, g/\sqrt{(1-\rho) g^2 + \epsilon} \approx \eta/\sqrt{1-\rho} = 3.16\,\eta$ (for
# $\rho = 0.9$) in every coordinate with $g^2 \gg \epsilon/(1-\rho) = 10^{-6}$. Adam's bias
# correction removes that factor: its first step is
# $\eta\, |g|/(|g| + \epsilon/\sqrt{1-\beta_2}) \approx \eta$ for $|g| \gg 3 \cdot 10^{-6}$.
# Both formulas are checked below on every coordinate of every start, with gradients from
# $10^{-3}$ to $10^{2}$.


# %%
def make_optimizer(name, rate):
    if name == "SGD":
        return keras.optimizers.SGD(rate)
    if name == "momentum":
        return keras.optimizers.SGD(rate, momentum=MOMENTUM)
    if name == "Nesterov":
        return keras.optimizers.SGD(rate, momentum=MOMENTUM, nesterov=True)
    return getattr(keras.optimizers, name)(rate)


def run(optimizer, grad, start, steps):
    """Return the path, an array of shape (steps + 1, k, 2)."""
    w = keras.Variable(np.asarray(start, dtype="float32"))
    path = [w.numpy()]
    for _ in range(steps):
        g = grad(path[-1]).astype("float32")
        optimizer.apply_gradients([(g, w)])
        path.append(w.numpy())
    return np.array(path)


paths = {}
for function_name, (_, grad, start, _) in LANDSCAPES.items():
    for name, rate in zip(OPTIMIZERS, RATES[function_name], strict=True):
        paths[function_name, name] = run(make_optimizer(name, rate), grad, start, STEPS)

# The first step of each adaptive method in units of its rate, per coordinate, on every
# landscape (gradients from about 1e-3 to 1e2), against the formulas of the markdown cell:
# Adam |g| / (|g| + eps / sqrt(1 - beta_2)), RMSprop |g| / sqrt((1 - rho) g^2 + eps).
first_gradients = np.concatenate(
    [grad(np.asarray(start)).ravel() for _, grad, start, _ in LANDSCAPES.values()]
)
moving = first_gradients != 0  # coordinates with a zero gradient (the saddle axis) stay put
adam, rmsprop = keras.optimizers.Adam(), keras.optimizers.RMSprop()
g_abs = np.abs(first_gradients[moving])
first_step_formula = {
    "Adam": g_abs / (g_abs + adam.epsilon / np.sqrt(1 - adam.beta_2)),
    "RMSprop": g_abs / np.sqrt((1 - rmsprop.rho) * g_abs**2 + rmsprop.epsilon),
}
first_step_error, first_step_range = {}, {}
for name, formula in first_step_formula.items():
    rates = {f: RATES[f][OPTIMIZERS.index(name)] for f in LANDSCAPES}
    measured = np.concatenate(
        [np.abs(paths[f, name][1] - paths[f, name][0]).ravel() / rates[f] for f in LANDSCAPES]
    )[moving]
    first_step_error[name] = float(np.max(np.abs(measured / formula - 1)))
    first_step_range[name] = (float(measured.min()), float(measured.max()))
    print(
        f"{name} first step / rate: {measured.min():.5f} to {measured.max():.5f} for |g| from "
        f"{g_abs.min():.1e} to {g_abs.max():.1e}; largest relative error against the formula "
        f"{first_step_error[name]:.1e}"
    )

# %% [markdown]
# ## What the runs say
# On the quadratic we count the steps until $f(w_t) \le$ `TOLERANCE` $\cdot f(w_0)$ from then
# on (momentum oscillates, so a first dip below the line does not count). With the
# same rate $\eta = 0.9/L$, plain SGD shrinks the flat direction by $1 - \eta\mu = 0.955$
# per step; with momentum $m = 0.8$ every direction shrinks like $\sqrt{m} \approx 0.89$
# (script 03 derives this), so momentum should need about half the steps.
#
# On the saddle, plain GD multiplies $x$ by $1 - 2\eta = 0.9$ and $y$ by $1 + 2\eta = 1.1$ per
# step: from the axis it ends at $0.9^{100} x_0 \approx 3 \cdot 10^{-5}$ (so $f = x^2$ decays
# from $x_0^2 \in [1, 2.25]$ to 0), from $\delta$ off the axis $|y|$ grows to
# $1.1^{100} |\delta| \approx 1.4 \cdot 10^4 |\delta|$. Both are checked to float32 rounding.


# %%
def steps_to_tolerance(path):
    """The first step from which on f stays below the tolerance (STEPS + 1: never)."""
    loss = quadratic(path[:, 0])
    above = np.nonzero(loss > TOLERANCE * loss[0])[0]
    return int(above[-1]) + 1 if above[-1] < STEPS else STEPS + 1


steps_needed = {name: steps_to_tolerance(paths["quadratic", name]) for name in OPTIMIZERS}
print("steps to tolerance on the quadratic:", steps_needed)

# On the saddle: row 0 started on the axis, row 1 started `delta` off it.
on_axis = paths["saddle", "SGD"][:, 0]
off_axis = paths["saddle", "SGD"][:, 1]
escaped = np.nonzero(np.abs(off_axis[:, 1]) > 1.0)[0]
# Plain GD on x^2 - y^2 multiplies x by 1 - 2 eta and y by 1 + 2 eta in every step.
eta_saddle = RATES["saddle"][0]
axis_vs_theory = np.hypot(*on_axis[-1]) / (x_saddle * (1 - 2 * eta_saddle) ** STEPS) - 1
escape_vs_theory = abs(off_axis[-1, 1]) / (abs(delta) * (1 + 2 * eta_saddle) ** STEPS) - 1
axis_final_f = [saddle(paths["saddle", name][-1, 0]) / saddle(on_axis[0]) for name in OPTIMIZERS]
axis_runs_stay_on_axis = all(np.all(paths["saddle", name][:, 0, 1] == 0.0) for name in OPTIMIZERS)
print(f"saddle, SGD from the axis: final distance to the saddle {np.hypot(*on_axis[-1]):.1e}")
print(f"saddle, SGD from {delta:+.1e} off the axis: final |y| = {abs(off_axis[-1, 1]):.3g}")

# %% [markdown]
# ## Figure: paths and losses

# %%
MINIMA = {
    "quadratic": [(0, 0)],
    "Rosenbrock": [(1, 1)],
    "saddle": [(0, 0)],
    "Himmelblau": [(3, 2), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)],
}
TITLES = {
    "quadratic": f"quadratic ½(x² + {KAPPA:g}y²)",
    "Rosenbrock": "Rosenbrock, minimum at (1, 1)",
    "saddle": f"saddle x² − y²: dashed from y = 0, solid from y = {delta:.0e}",
    "Himmelblau": "Himmelblau: four minima",
}
use_course_style()
fig, axes = plt.subplots(2, 4, figsize=(20, 9.5), height_ratios=[1.2, 1])
for column, (function_name, (f, _, start, box)) in enumerate(LANDSCAPES.items()):
    ax = axes[0, column]
    xs, ys = np.meshgrid(np.linspace(box[0], box[1], 200), np.linspace(box[2], box[3], 200))
    zs = f(np.stack([xs, ys], axis=-1))
    if function_name == "saddle":
        ax.contour(xs, ys, zs, levels=np.linspace(-2.5, 2.5, 21), cmap="coolwarm", linewidths=1)
    else:
        levels = np.geomspace(max(zs.min(), 1e-2), zs.max(), 20)
        ax.contour(xs, ys, zs + 1e-9, levels=levels, norm=LogNorm(), cmap="viridis", linewidths=1)
    for name in OPTIMIZERS:
        path = paths[function_name, name]
        for row in range(path.shape[1]):
            style = "--" if function_name == "saddle" and row == 0 else "-"
            label = name if row == path.shape[1] - 1 else None
            ax.plot(path[:, row, 0], path[:, row, 1], style, color=COLORS[name], label=label)
    ax.plot(*np.asarray(start).T, "ko", markersize=8, label="start")
    ax.plot(*np.transpose(MINIMA[function_name]), "k*", markersize=14)
    ax.set(xlim=box[:2], ylim=box[2:], xlabel="x", ylabel="y", title=TITLES[function_name])

    ax = axes[1, column]
    for name in OPTIMIZERS:
        loss = f(paths[function_name, name])
        if function_name == "saddle":
            ax.plot(loss[:, 1], color=COLORS[name])
            ax.plot(loss[:, 0], "--", color=COLORS[name])
        else:
            ax.semilogy(loss[:, 0] + 1e-12, color=COLORS[name])
    ax.set(xlabel="step", ylabel="f(w) − min f (log scale)")
axes[0, 0].legend(loc="lower right", fontsize=10, ncol=2)

ax = axes[1, 0]
f0 = quadratic(paths["quadratic", "SGD"][0, 0])
ax.axhline(TOLERANCE * f0, color="gray", linestyle=":")
for name in ("SGD", "momentum"):
    ax.axvline(steps_needed[name], color=COLORS[name], linestyle=":")
ax.set_title(f"steps to tolerance: SGD {steps_needed['SGD']}, momentum {steps_needed['momentum']}")
ax.set_ylim(1e-8, None)
axes[1, 1].set_title("fast into the valley, slow along it")
axes[1, 2].set(ylim=(-4, 3), ylabel="f(w)", title="dashed (from the axis): f = x² decays to 0")
axes[1, 3].set_title("Adam still ringing after 100 steps")
fig.suptitle(f"Six Keras optimizers, {STEPS} steps each, on four landscapes (★ minimum)")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "steps": STEPS,
    "max_gradient_error": grad_error,
    "quadratic_steps_sgd": steps_needed["SGD"],
    "quadratic_steps_momentum": steps_needed["momentum"],
    "quadratic_steps_nesterov": steps_needed["Nesterov"],
    "quadratic_steps_adam": steps_needed["Adam"],
    "first_step_error_adam": first_step_error["Adam"],
    "first_step_error_rmsprop": first_step_error["RMSprop"],
    "first_step_over_rate_adam_min": first_step_range["Adam"][0],
    "first_step_over_rate_adam_max": first_step_range["Adam"][1],
    "first_step_over_rate_rmsprop_min": first_step_range["RMSprop"][0],
    "first_step_over_rate_rmsprop_max": first_step_range["RMSprop"][1],
    "saddle_axis_final_distance": float(np.hypot(*on_axis[-1])),
    "saddle_axis_sgd_relative_error": float(axis_vs_theory),
    "saddle_escape_sgd_relative_error": float(escape_vs_theory),
    "saddle_axis_largest_final_f_over_f0": float(max(axis_final_f)),
    "saddle_axis_runs_stay_on_axis": bool(axis_runs_stay_on_axis),
    "saddle_perturbation": float(delta),
    "saddle_perturbed_final_abs_y": float(abs(off_axis[-1, 1])),
    "saddle_perturbed_escape_step": int(escaped[0]) if escaped.size else STEPS + 1,
    "rosenbrock_final_loss_adam": float(rosenbrock(paths["Rosenbrock", "Adam"][-1, 0])),
}
for key, value in SUMMARY.items():
    print(f"{key:>30s}: {value:.4g}" if isinstance(value, float) else f"{key:>30s}: {value}")
