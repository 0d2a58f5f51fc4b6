"""
DeepFool: the distance to the decision boundary by iterated linearization
=========================================================================

DeepFool (Moosavi-Dezfooli, Fawzi and Frossard 2016) replaces the classifier by its first-order
Taylor expansion, steps to the zero set of that linearization, and repeats: for a linear model
one step lands exactly on the orthogonal projection onto the decision boundary, and for a
network it finds a boundary point, so its distance is an upper bound on the minimal one.

Left: a small GELU network trained on the two moons, its decision boundary (black), the test
points and, for each, the segment to the boundary point DeepFool found (a circled point is one
where it stalled: see below). Right: the DeepFool distance and the first-order estimate
|f(x)| / ||∇f(x)|| against the true minimal distance, measured independently from a fine grid
of the decision function. Look at the right panel: the DeepFool points never fall below the
diagonal (they are upper bounds), many sit on it, others above it (DeepFool found a boundary
point, not the nearest one; for some seeds half of the points lie more than 5 % above); the
first-order estimate scatters on both sides.

Needs the TensorFlow backend for the input gradients (`tf.GradientTape`, one marked cell).

Try:
- Set `ACTIVATION = "relu"`: the boundary becomes a polygon; how many steps does DeepFool need
  now, and how does the grid oracle's error (`oracle_error` in SUMMARY) change at the corners?
- Set `ACTIVATION = "tanh"` and `EPOCHS = 1000`: far from the boundary the saturated network has
  a nearly vanishing gradient. What happens to the first-order estimate (`linear_max_ratio`)
  and to DeepFool's first step from such points (`max_ratio`)?
- Set `NOISE = 0.05`: the classes separate widely; is the first-order estimate better or worse?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import make_moons
from common.plotting import use_course_style
from common.training import fit_fast

import contourpy
import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

N_TRAIN = 400  # training points of the two moons
N_TEST = 20 if SMOKE else 100  # test points whose distance to the boundary is measured
NOISE = 0.2  # standard deviation of the moons' Gaussian noise
WIDTH = 32  # hidden units per layer (two hidden layers)
ACTIVATION = "gelu"  # smooth and not saturating: see the Try list for "relu" and "tanh"
EPOCHS = 1 if SMOKE else 300  # full-batch Adam steps
LEARNING_RATE = 0.02
MAX_STEPS = 50  # DeepFool iterations at most
OVERSHOOT = 0.02  # the total perturbation is lengthened by this fraction (Moosavi-Dezfooli)
SCAN_POINTS = 64  # the segment to the last iterate is scanned here for its first sign change
BISECTIONS = 60  # halvings of that piece: 2^-60 of its length, below float64 rounding
GRID_STEP = 0.02 if SMOKE else 0.005  # spacing of the grid that locates the boundary (oracle)
BOX = (-2.0, 3.0, -1.5, 2.0)  # the grid covers x1 in [-2, 3], x2 in [-1.5, 2]

if ACTIVATION not in ("gelu", "relu", "tanh", "softplus"):
    raise ValueError(f"ACTIVATION must be gelu, relu, tanh or softplus, got {ACTIVATION!r}")
if not (isinstance(MAX_STEPS, int) and MAX_STEPS >= 1):
    raise ValueError(f"MAX_STEPS must be a positive integer, got {MAX_STEPS!r}")
if not 0 <= OVERSHOOT <= 1:
    raise ValueError(f"OVERSHOOT must be in [0, 1] (a fraction of the step), got {OVERSHOOT}")
if not (isinstance(SCAN_POINTS, int) and SCAN_POINTS >= 1):
    raise ValueError(f"SCAN_POINTS must be a positive integer, got {SCAN_POINTS!r}")
if not 0 < GRID_STEP <= 0.05:
    raise ValueError(f"GRID_STEP must be in (0, 0.05] for an accurate oracle, got {GRID_STEP}")

# %% [markdown]
# ## Input gradients (TensorFlow)
# DeepFool needs $f(x)$ and $\nabla_x f(x)$ at many points. The points are independent, so the
# gradient of $\sum_n f(x_n)$ with respect to the batch holds every $\nabla f(x_n)$ as its rows.
# This is the backend-specific cell of the script.

# %%
import tensorflow as tf  # noqa: E402  (input gradients need tf.GradientTape)


def value_and_input_gradient(model, x):
    """f(x_n) (shape (n,)) and the rows ∇_x f(x_n) (shape (n, d)) of a one-output model."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        f = model(x)[:, 0]
        total = tf.reduce_sum(f)
    return np.asarray(f), np.asarray(tape.gradient(total, x))


# %% [markdown]
# ## DeepFool for a binary classifier
# The classifier predicts class 1 where the score $f(x) > 0$; the decision boundary is
# $\{f = 0\}$. Linearize at the current point, $f(x + r) \approx f(x) + \nabla f(x)^\top r$,
# and take the shortest $r$ that zeroes the linearization:
#
# $$r = -\frac{f(x)}{\|\nabla f(x)\|_2^2}\,\nabla f(x), \qquad
#   \|r\|_2 = \frac{|f(x)|}{\|\nabla f(x)\|_2}.$$
#
# Repeat from the new point until the sign of $f$ flips. As in the authors' code, the total
# perturbation $r_{\text{tot}} = r_0 + \dots + r_{k-1}$ is lengthened by a factor $1 + \eta$
# (the overshoot, $\eta = 0.02$): the iterates are $x_k = x + (1 + \eta)\, r_{\text{tot}}$, so
# that they cross the boundary instead of creeping up to it from one side. The segment from $x$
# to the last iterate $x_K$ then changes sign, so it crosses the boundary, possibly more than
# once: the script evaluates $f$ at `SCAN_POINTS` equally spaced points of the segment, takes
# the first piece on which the sign changes and bisects it, which gives a point $x^\ast$ with
# $f(x^\ast) = 0$ to rounding and $\|x^\ast - x\| \le \|x_K - x\|$. (A double crossing
# inside one piece, $1/64$ of the segment, would still be missed.)
# For an affine $f(x) = w^\top x + b$ the linearization is $f$ itself, so one step (without
# overshoot) lands on the boundary, at the orthogonal projection of $x$ onto the hyperplane,
# and $\|r\| = |w^\top x + b| / \|w\|_2$ is the exact distance.


# %%
def deepfool_step(model, points):
    """One linearized step r = -f ∇f / ||∇f||^2 from every row; also f there."""
    f, grad = value_and_input_gradient(model, points)
    with np.errstate(divide="ignore", invalid="ignore"):  # a vanishing gradient: no step
        return -(f / np.sum(grad**2, axis=1))[:, None] * grad, f


def deepfool(model, x, max_steps=MAX_STEPS, overshoot=OVERSHOOT):
    """Step until f changes sign at x + (1 + overshoot) r_tot; the last iterates and steps."""
    sign = np.sign(value_and_input_gradient(model, x)[0])
    total = np.zeros_like(x, dtype=np.float64)
    points = np.array(x, dtype=np.float64)
    steps = np.zeros(len(points), dtype=int)
    for _ in range(max_steps):
        r, f = deepfool_step(model, points)
        active = np.sign(f) == sign  # not yet across the boundary
        if not active.any():
            break
        total[active] += r[active]
        points = x + (1 + overshoot) * total
        steps += active
    return points, steps


def first_crossing(model, x, end, scan=SCAN_POINTS, iterations=BISECTIONS):
    """A point f = 0 on the first piece of [x, end] (cut in `scan`) where the sign of f changes."""
    sign = np.sign(value_and_input_gradient(model, x)[0])
    knots = np.linspace(0.0, 1.0, scan + 1)
    along = x[None] + knots[:, None, None] * (end - x)[None]  # (scan + 1, n, 2)
    f = value_and_input_gradient(model, along.reshape(-1, x.shape[1]))[0].reshape(len(knots), -1)
    changed = np.sign(f) != sign
    first = np.where(changed.any(axis=0), np.argmax(changed, axis=0), scan)
    low, high = knots[np.maximum(first - 1, 0)], knots[first]
    for _ in range(iterations):
        middle = (low + high) / 2
        f = value_and_input_gradient(model, x + middle[:, None] * (end - x))[0]
        same = np.sign(f) == sign
        low, high = np.where(same, middle, low), np.where(same, high, middle)
    return x + ((low + high) / 2)[:, None] * (end - x)


# %% [markdown]
# ## A linear model: one step is the exact projection
# Logistic regression on the moons, in float64. The independent oracle is NumPy's least-squares
# solver: the minimum-norm solution of the one equation $w^\top r = -(w^\top x + b)$ is the
# shortest move onto the hyperplane.

# %%
use_course_style()
x_train, y_train = make_moons(N_TRAIN, noise=NOISE, seed=SEED)
x_test, y_test = make_moons(N_TEST, noise=NOISE, seed=SEED + 1000)
x_train = x_train.astype(np.float64)
x_test = x_test.astype(np.float64)


def build(hidden_layers):
    """A float64 binary classifier with one logit output f(x); no hidden layer = linear."""
    inputs = keras.Input((2,), dtype="float64")
    h = inputs
    for _ in range(hidden_layers):
        h = keras.layers.Dense(WIDTH, activation=ACTIVATION, dtype="float64")(h)
    model = keras.Model(inputs, keras.layers.Dense(1, dtype="float64")(h))
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)],
    )
    return model


keras.utils.set_random_seed(SEED)
linear = build(hidden_layers=0)
# fit_fast replaces linear.fit(x_train, y_train, epochs=EPOCHS, batch_size=N_TRAIN)
fit_fast(linear, x_train, y_train.astype(np.float64), epochs=EPOCHS, every=EPOCHS, seed=SEED)
w, b = (ops.convert_to_numpy(v) for v in linear.layers[-1].weights)
w = w[:, 0]

r, f_lin = deepfool_step(linear, x_test)
one_step = x_test + r
r_second, f_after = deepfool_step(linear, one_step)
projection = np.stack(
    [x + np.linalg.lstsq(w[None, :], [-(w @ x + b[0])], rcond=None)[0] for x in x_test]
)
linear_projection_error = float(np.max(np.abs(one_step - projection)))
linear_distance_error = float(
    np.max(np.abs(np.linalg.norm(one_step - x_test, axis=1) - np.abs(f_lin) / np.linalg.norm(w)))
)
linear_second_step = float(np.max(np.abs(r_second)))
print(
    f"linear model: one step vs least-squares projection, max error {linear_projection_error:.1e}"
)
print(f"              a second step moves the points by {linear_second_step:.1e}")

# %% [markdown]
# ## A network: DeepFool finds a boundary point
# A two-hidden-layer GELU network, trained full-batch. From each test point DeepFool iterates
# until the sign flips, and bisection puts $x^\ast$ on the boundary, so
#
# $$d(x) = \min\{\|x' - x\|_2 : f(x') = 0\} \le \|x^\ast - x\|_2 = d_{\text{DeepFool}}(x),$$
#
# with equality only if $x^\ast$ happens to be the nearest boundary point: nothing in the
# iteration asks for that. At the nearest point the offset is normal to the boundary,
# $x - x^\ast \parallel \nabla f(x^\ast)$; at the point DeepFool stops at, it need not be.
#
# DeepFool is Newton's method for the equation $f = 0$, and it inherits Newton's failure: near
# a local minimum of $|f|$ that does not reach zero (a pocket of the score that stays on one
# side) the steps jump back and forth without crossing. Such points are counted and left out of
# the comparison: none for most seeds, a handful for some, and for seed 4 a cluster of about
# ten test points in one such pocket.

# %%
keras.utils.set_random_seed(SEED)
network = build(hidden_layers=2)
# fit_fast replaces network.fit(x_train, y_train, epochs=EPOCHS, batch_size=N_TRAIN)
history = fit_fast(
    network, x_train, y_train.astype(np.float64), epochs=EPOCHS, every=EPOCHS, seed=SEED
)
test_accuracy = float(np.mean((network.predict(x_test, verbose=0)[:, 0] > 0) == y_test))
print(f"network: training loss {history['loss'][-1]:.3f}, test accuracy {test_accuracy:.3f}")

last_iterates, steps = deepfool(network, x_test)
f_start, grad_start = value_and_input_gradient(network, x_test)
f_last = value_and_input_gradient(network, last_iterates)[0]
flipped = np.isfinite(f_last) & (np.sign(f_last) != np.sign(f_start))
boundary_points = first_crossing(network, x_test, last_iterates)
f_end, grad_end = value_and_input_gradient(network, boundary_points)
d_deepfool = np.linalg.norm(boundary_points - x_test, axis=1)
d_linear = np.abs(f_start) / np.linalg.norm(grad_start, axis=1)
offset = x_test - boundary_points
normal_cosine = np.abs(np.sum(offset * grad_end, axis=1)) / (
    np.linalg.norm(offset, axis=1) * np.linalg.norm(grad_end, axis=1)
)
print(
    f"DeepFool: {flipped.sum()} of {N_TEST} points cross the boundary, in at most "
    f"{steps.max()} steps; max |f| after bisection {np.max(np.abs(f_end[flipped])):.1e}"
)

# %% [markdown]
# ## An independent oracle for the true distance
# In two dimensions the boundary can be traced: evaluate $f$ on a grid of spacing $h$ and draw
# its zero contour by marching squares (`contourpy`, matplotlib's contour engine), which joins
# the linearly interpolated zeros along the grid edges into polygons. The distance from $x$ to
# these segments is the oracle $d_{\text{grid}}(x)$. It uses no gradient. Its error is the
# distance of the contour from the true boundary, to first order $|f(q)| / \|\nabla f(q)\|$
# at a contour point $q$; for a smooth boundary it is $O(h^2)$ (the interpolation and the
# chord's sag are both second order). We evaluate it (with the gradient, only to grade the
# oracle) at every vertex and every segment midpoint of the contour and report the largest,
# `oracle_error`. That is measured in one direction: every contour point $q$ has a boundary
# point within `oracle_error`, so $d(x) \le d_{\text{grid}}(x) + $ `oracle_error`. The other
# direction, $d_{\text{grid}}(x) \le d(x) + $ `oracle_error`, needs a contour point near the
# true nearest point of $x$; it holds when the grid resolves every piece of the boundary (a
# piece thinner than $h$ could be missed; for this smooth network we assume there is none),
# and it is assumed, not measured. Since $f(x^\ast) = 0$, $d_{\text{DeepFool}} \ge d(x)$ holds
# by definition; checking $d_{\text{DeepFool}} \ge d_{\text{grid}} - $ `oracle_error` checks
# the oracle. The lessons are the two comparisons: DeepFool is tight for some points and well
# above $d$ for others ($d_{\text{DeepFool}} / d_{\text{grid}}$ large, with the measured
# direction $d \le d_{\text{grid}} + $ `oracle_error`), and the first-order estimate falls on
# both sides of $d$.

# %%
grid_x1 = np.arange(BOX[0], BOX[1] + GRID_STEP / 2, GRID_STEP)
grid_x2 = np.arange(BOX[2], BOX[3] + GRID_STEP / 2, GRID_STEP)
mesh = np.stack(np.meshgrid(grid_x1, grid_x2), axis=-1)
scores = network.predict(mesh.reshape(-1, 2), batch_size=1 << 15, verbose=0)
scores = scores[:, 0].reshape(mesh.shape[:2])
lines = contourpy.contour_generator(grid_x1, grid_x2, scores).lines(0.0)
segments = np.concatenate([np.stack([line[:-1], line[1:]], axis=1) for line in lines])
start, direction = segments[:, 0], segments[:, 1] - segments[:, 0]
t = np.einsum("nsk,sk->ns", x_test[:, None, :] - start[None], direction)
t = np.clip(t / np.sum(direction**2, axis=1), 0.0, 1.0)
feet = start[None] + t[..., None] * direction[None]  # nearest point of every segment
distances = np.linalg.norm(x_test[:, None, :] - feet, axis=2)
d_grid = distances.min(axis=1)
checked = np.concatenate([segments[:, 0], segments[:, 1], segments.mean(axis=1)])
f_checked, grad_checked = value_and_input_gradient(network, checked)
oracle_error = float(np.max(np.abs(f_checked) / np.linalg.norm(grad_checked, axis=1)))
inside = flipped & (
    (x_test[:, 0] - d_deepfool > BOX[0])
    & (x_test[:, 0] + d_deepfool < BOX[1])
    & (x_test[:, 1] - d_deepfool > BOX[2])
    & (x_test[:, 1] + d_deepfool < BOX[3])
)
print(f"oracle: {len(segments)} segments, largest distance from the boundary {oracle_error:.1e}")

# Compared: the points DeepFool took across the boundary whose disk of radius d_DeepFool lies
# inside the grid (the nearest boundary point lies in that disk, so the grid sees it).
excess = (d_deepfool - d_grid)[inside]
ratio = (d_deepfool / d_grid)[inside]
linear_ratio = (d_linear / d_grid)[inside]
print(f"{inside.sum()} of {N_TEST} points crossed, with their DeepFool disk inside the grid")
print(
    f"DeepFool / true distance: min {ratio.min():.4f}, median {np.median(ratio):.4f}, "
    f"max {ratio.max():.2f}"
)
print(
    f"linear estimate / true distance: min {linear_ratio.min():.2f}, "
    f"median {np.median(linear_ratio):.3f}, max {linear_ratio.max():.2f}"
)

# %% [markdown]
# ## The figure

# %%
fig, (ax_map, ax_cmp) = plt.subplots(1, 2, figsize=(14, 6))
limit = np.max(np.abs(scores))
ax_map.contourf(
    grid_x1, grid_x2, scores, levels=np.linspace(-limit, limit, 21), cmap="RdBu_r", alpha=0.35
)
for k, line in enumerate(lines):
    ax_map.plot(
        line[:, 0], line[:, 1], "k", lw=2, label="decision boundary f = 0" if k == 0 else None
    )
ax_map.plot(
    np.stack([x_test[flipped, 0], boundary_points[flipped, 0]]),
    np.stack([x_test[flipped, 1], boundary_points[flipped, 1]]),
    color="0.3",
    lw=1,
)
ax_map.scatter(*x_test[y_test == 0].T, s=30, c="tab:blue", edgecolors="k", label="test, class 0")
ax_map.scatter(*x_test[y_test == 1].T, s=30, c="tab:red", edgecolors="k", label="test, class 1")
ax_map.scatter(
    *boundary_points[flipped].T, s=18, marker="x", c="k", label="DeepFool boundary point"
)
if not flipped.all():
    ax_map.scatter(
        *x_test[~flipped].T,
        s=140,
        facecolors="none",
        edgecolors="m",
        lw=2,
        label=f"stalled: no crossing in {MAX_STEPS} steps",
    )
ax_map.set(
    xlim=BOX[:2],
    ylim=BOX[2:],
    xlabel="$x_1$",
    ylabel="$x_2$",
    aspect="equal",
    title=f"{ACTIVATION.upper()} network on the moons: DeepFool steps to f = 0",
)
ax_map.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=9)

low = 0.5 * d_grid[inside].min()
top = 2.0 * max(d_deepfool[inside].max(), d_linear[inside].max())
ax_cmp.plot([low, top], [low, top], "k--", lw=1, label="equal to the true distance")
ax_cmp.scatter(
    d_grid[inside],
    d_linear[inside],
    s=22,
    marker="s",
    c="tab:orange",
    alpha=0.8,
    label=r"first-order estimate $|f(x)|\,/\,\|\nabla f(x)\|$",
)
ax_cmp.scatter(
    d_grid[inside],
    d_deepfool[inside],
    s=26,
    c="tab:green",
    edgecolors="k",
    label="DeepFool distance (an upper bound)",
)
ax_cmp.set(
    xscale="log",
    yscale="log",
    xlim=(low, top),
    ylim=(low, top),
    xlabel="true minimal distance (grid oracle)",
    ylabel="estimated distance",
    title=f"Estimates against the true distance ({inside.sum()} test points)",
)
ax_cmp.legend(loc="upper left", fontsize=10)
plt.show()

# %% [markdown]
# ## Summary


# %%
def median_or_one(values):
    """The median, or 1 (the cosine at a nearest point) for an empty set (smoke mode)."""
    return float(np.median(values)) if values.size else 1.0


SUMMARY = {
    "linear_projection_error": linear_projection_error,
    "linear_distance_error": linear_distance_error,
    "linear_second_step": linear_second_step,
    "linear_max_abs_f_after": float(np.max(np.abs(f_after))),
    "test_accuracy": test_accuracy,
    "n_test": N_TEST,
    "deepfool_n_crossed": int(flipped.sum()),
    "deepfool_max_steps": int(steps.max()),
    "deepfool_median_steps": float(np.median(steps)),
    "deepfool_max_abs_f": float(np.max(np.abs(f_end[flipped]))),
    "n_inside_grid": int(inside.sum()),
    "oracle_error": oracle_error,
    "min_excess": float(excess.min()),
    "median_ratio": float(np.median(ratio)),
    "max_ratio": float(ratio.max()),
    "fraction_ratio_above_1_05": float(np.mean(ratio > 1.05)),
    "median_normal_cosine": float(np.median(normal_cosine[inside])),
    "median_normal_cosine_tight": median_or_one(normal_cosine[inside][ratio <= 1.01]),
    "median_normal_cosine_above": median_or_one(normal_cosine[inside][ratio > 1.05]),
    "linear_fraction_under": float(np.mean(linear_ratio < 1)),
    "linear_min_ratio": float(linear_ratio.min()),
    "linear_max_ratio": float(linear_ratio.max()),
    "linear_median_abs_log_ratio": float(np.median(np.abs(np.log(linear_ratio)))),
    "deepfool_median_abs_log_ratio": float(np.median(np.abs(np.log(ratio)))),
}
for key, value in SUMMARY.items():
    print(f"{key:>32s}: {value:.4g}" if isinstance(value, float) else f"{key:>32s}: {value}")
