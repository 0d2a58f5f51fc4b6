"""
The chain rule on a computational graph: forward mode and reverse mode by hand
==============================================================================

The function f(x1, x2) = ln(x1) + x1 x2 - sin(x2) (the running example of Baydin et al.,
"Automatic differentiation in machine learning: a survey", JMLR 2018) is split into elementary
operations; its gradient is computed by hand in forward mode (one pass per input) and in reverse
mode (one pass for the whole gradient) and checked against TensorFlow in float64.

The figure draws the graph: every node shows its value v, its tangents (dv/dx1, dv/dx2) from the
two forward-mode passes and its adjoint df/dv from the single reverse-mode pass; every edge shows
the local derivative that both modes multiply along it. The right panel shows how far the hand
computations are from `tf.GradientTape` (reverse mode) and `tf.autodiff.ForwardAccumulator`
(forward mode) on many random points.
Needs the TensorFlow backend: `tf.GradientTape` and `tf.autodiff.ForwardAccumulator` are the
oracles.

Try:
- Evaluate at the survey's point (x1, x2) = (2, 5) and compare with its tables.
- Add a node v6 = v5^2 (so f becomes a square): which lines of each mode change?
- Count the passes each mode needs for f: R^n -> R and for f: R -> R^m.
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed, which
# draws the point shown in the figure and the points of the check.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

N_POINTS = 100 if SMOKE else 100_000  # random points (x1, x2) of the numerical check
X1_RANGE = (0.5, 4.0)  # x1 > 0 because of ln(x1)
X2_RANGE = (-6.0, 6.0)

# %% [markdown]
# ## The evaluation trace
# $f(x_1, x_2) = \ln x_1 + x_1 x_2 - \sin x_2$ as a sequence of elementary operations:
#
# | node | operation | local derivatives |
# |---|---|---|
# | $v_1$ | $\ln x_1$ | $\partial v_1/\partial x_1 = 1/x_1$ |
# | $v_2$ | $x_1 x_2$ | $\partial v_2/\partial x_1 = x_2$, $\partial v_2/\partial x_2 = x_1$ |
# | $v_3$ | $\sin x_2$ | $\partial v_3/\partial x_2 = \cos x_2$ |
# | $v_4$ | $v_1 + v_2$ | $\partial v_4/\partial v_1 = \partial v_4/\partial v_2 = 1$ |
# | $v_5$ | $v_4 - v_3$ | $\partial v_5/\partial v_4 = 1$, $\partial v_5/\partial v_3 = -1$ |
#
# and $f = v_5$. Every function below works elementwise on arrays of points.

# %%
keras.utils.set_random_seed(SEED)
rng = np.random.default_rng(SEED)
x1 = rng.uniform(*X1_RANGE, size=N_POINTS)
x2 = rng.uniform(*X2_RANGE, size=N_POINTS)


def evaluation_trace(x1, x2):
    v1 = np.log(x1)
    v2 = x1 * x2
    v3 = np.sin(x2)
    v4 = v1 + v2
    v5 = v4 - v3
    return {"x1": x1, "x2": x2, "v1": v1, "v2": v2, "v3": v3, "v4": v4, "v5": v5}


# %% [markdown]
# ## Forward mode: tangents travel with the values
# Seed a direction $(\dot x_1, \dot x_2)$ and carry $\dot v_j = \sum_{i \to j}
# \frac{\partial v_j}{\partial v_i} \dot v_i$ along with each value. The result is the
# directional derivative $\dot f = \nabla f \cdot (\dot x_1, \dot x_2)$, so the gradient of
# $f: \mathbb R^2 \to \mathbb R$ takes two passes, seeded with $e_1$ and with $e_2$.


# %%
def forward_mode(x1, x2, dx1, dx2):
    """Return the tangents dv/d(direction) of every node for the seed (dx1, dx2)."""
    dv1 = dx1 / x1
    dv2 = dx1 * x2 + x1 * dx2
    dv3 = np.cos(x2) * dx2
    dv4 = dv1 + dv2
    dv5 = dv4 - dv3
    return {"x1": dx1, "x2": dx2, "v1": dv1, "v2": dv2, "v3": dv3, "v4": dv4, "v5": dv5}


ones, zeros = np.ones_like(x1), np.zeros_like(x1)
tangent_x1 = forward_mode(x1, x2, ones, zeros)  # pass 1: d/dx1 of every node
tangent_x2 = forward_mode(x1, x2, zeros, ones)  # pass 2: d/dx2 of every node
grad_forward = np.stack([tangent_x1["v5"], tangent_x2["v5"]], axis=1)

# %% [markdown]
# ## Reverse mode: adjoints travel back from the output
# After one evaluation pass, seed $\bar f = \partial f / \partial f = 1$ and go through the
# nodes in reverse order, accumulating the adjoints
# $\bar v_i = \frac{\partial f}{\partial v_i} = \sum_{j:\, i \to j} \bar v_j
# \frac{\partial v_j}{\partial v_i}$. A node with two children ($x_1$, $x_2$) receives two
# contributions. One pass gives the whole gradient $(\bar x_1, \bar x_2) = \nabla f$: this is
# backpropagation.


# %%
def reverse_mode(trace):
    """Return the adjoints df/dv of every node, by one backward sweep over the trace."""
    x1, x2 = trace["x1"], trace["x2"]
    bar_v5 = np.ones_like(x1)
    bar_v4 = bar_v5 * 1.0
    bar_v3 = bar_v5 * -1.0
    bar_v2 = bar_v4 * 1.0
    bar_v1 = bar_v4 * 1.0
    bar_x2 = bar_v3 * np.cos(x2) + bar_v2 * x1  # two paths meet at x2
    bar_x1 = bar_v2 * x2 + bar_v1 / x1  # two paths meet at x1
    return {
        "x1": bar_x1,
        "x2": bar_x2,
        "v1": bar_v1,
        "v2": bar_v2,
        "v3": bar_v3,
        "v4": bar_v4,
        "v5": bar_v5,
    }


trace = evaluation_trace(x1, x2)
adjoint = reverse_mode(trace)
grad_reverse = np.stack([adjoint["x1"], adjoint["x2"]], axis=1)

# %% [markdown]
# ## TensorFlow: the same two modes, automatic
# `tf.GradientTape` records the operations and runs reverse mode;
# `tf.autodiff.ForwardAccumulator` runs forward mode with a given tangent. Both in float64.
# The closed form $\nabla f = (1/x_1 + x_2,\; x_1 - \cos x_2)$ is a third check.


# %%
def f_tf(x1, x2):
    return tf.math.log(x1) + x1 * x2 - tf.sin(x2)


x1_tf = tf.constant(x1, dtype=tf.float64)
x2_tf = tf.constant(x2, dtype=tf.float64)
with tf.GradientTape() as tape:
    tape.watch([x1_tf, x2_tf])
    f_value = f_tf(x1_tf, x2_tf)
# The points are independent, so the gradient of the sum holds every point's gradient.
grad_tape = np.stack([g.numpy() for g in tape.gradient(f_value, [x1_tf, x2_tf])], axis=1)

grad_accumulator = []
for seed_x1, seed_x2 in ((ones, zeros), (zeros, ones)):
    with tf.autodiff.ForwardAccumulator(
        primals=[x1_tf, x2_tf], tangents=[tf.constant(seed_x1), tf.constant(seed_x2)]
    ) as accumulator:
        f_value = f_tf(x1_tf, x2_tf)
    grad_accumulator.append(accumulator.jvp(f_value).numpy())
grad_accumulator = np.stack(grad_accumulator, axis=1)
grad_closed_form = np.stack([1.0 / x1 + x2, x1 - np.cos(x2)], axis=1)

# %% [markdown]
# For contrast, central finite differences $\frac{f(x + h e_k) - f(x - h e_k)}{2h}$ are an
# *approximation* (error $O(h^2) + O(\varepsilon/h)$); both modes of automatic differentiation
# are exact up to the round-off of the elementary operations.

# %%
FD_STEP = 1e-5


def f_numpy(x1, x2):
    return evaluation_trace(x1, x2)["v5"]


grad_fd = np.stack(
    [
        (f_numpy(x1 + FD_STEP, x2) - f_numpy(x1 - FD_STEP, x2)) / (2 * FD_STEP),
        (f_numpy(x1, x2 + FD_STEP) - f_numpy(x1, x2 - FD_STEP)) / (2 * FD_STEP),
    ],
    axis=1,
)


def relative_error(a, b):
    """||a - b|| / ||b|| over all points and both partial derivatives."""
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


errors = {
    "forward (hand)\nvs tape": relative_error(grad_forward, grad_tape),
    "reverse (hand)\nvs tape": relative_error(grad_reverse, grad_tape),
    "forward (hand) vs\nForwardAccumulator": relative_error(grad_forward, grad_accumulator),
    "reverse (hand)\nvs closed form": relative_error(grad_reverse, grad_closed_form),
    "forward (hand)\nvs reverse (hand)": relative_error(grad_forward, grad_reverse),
}
error_fd = relative_error(grad_fd, grad_tape)  # not a claim: the approximation's error
print(f"{'central differences vs tape':>40s}: relative error {error_fd:.2e}")
for name, error in errors.items():
    print(f"{name.replace(chr(10), ' '):>40s}: relative error {error:.2e}")

# %% [markdown]
# ## Figure: the graph at one point, and the check on all points
# The first random point is drawn. Blue: the tangents of the two forward passes,
# $(\partial v/\partial x_1, \partial v/\partial x_2)$; red: the adjoint
# $\bar v = \partial f/\partial v$ of the reverse pass; on the edges, the local derivatives.

# %%
point = 0
a, b = x1[point], x2[point]
nodes = {  # name: (column, row, label)
    "x1": (0.0, 1.3, r"$x_1$ (input)"),
    "x2": (0.0, -1.3, r"$x_2$ (input)"),
    "v1": (3.8, 2.5, r"$v_1 = \ln x_1$"),
    "v2": (3.8, 0.0, r"$v_2 = x_1 x_2$"),
    "v3": (3.8, -2.5, r"$v_3 = \sin x_2$"),
    "v4": (7.6, 1.25, r"$v_4 = v_1 + v_2$"),
    "v5": (11.4, 0.0, r"$f = v_5 = v_4 - v_3$"),
}
edges = [  # (from, to, local derivative as text)
    ("x1", "v1", f"$1/x_1$\n= {1 / a:.3f}"),
    ("x1", "v2", f"$x_2$\n= {b:.3f}"),
    ("x2", "v2", f"$x_1$\n= {a:.3f}"),
    ("x2", "v3", f"$\\cos x_2$\n= {np.cos(b):.3f}"),
    ("v1", "v4", "1"),
    ("v2", "v4", "1"),
    ("v4", "v5", "1"),
    ("v3", "v5", "-1"),
]
box_w, box_h = 2.65, 1.5

use_course_style()
fig, (ax_graph, ax_err) = plt.subplots(1, 2, figsize=(16, 7), width_ratios=(2.3, 1))
for name, (cx, cy, label) in nodes.items():
    ax_graph.add_patch(
        FancyBboxPatch(
            (cx - box_w / 2, cy - box_h / 2),
            box_w,
            box_h,
            boxstyle="round,pad=0.05",
            facecolor="whitesmoke",
            edgecolor="black",
        )
    )
    ax_graph.text(cx, cy + 0.45, label, ha="center", va="center", fontsize=13)
    ax_graph.text(cx, cy + 0.08, f"v = {trace[name][point]:.4f}", ha="center", va="center")
    ax_graph.text(
        cx,
        cy - 0.27,
        f"v̇ = ({tangent_x1[name][point]:.3f}, {tangent_x2[name][point]:.3f})",
        ha="center",
        va="center",
        color="C0",
    )
    ax_graph.text(
        cx, cy - 0.58, f"v̄ = {adjoint[name][point]:.4f}", ha="center", va="center", color="C3"
    )
for start, end, text in edges:
    (sx, sy, _), (ex, ey, _) = nodes[start], nodes[end]
    tail, head = (sx + box_w / 2 + 0.05, sy), (ex - box_w / 2 - 0.05, ey)
    ax_graph.add_patch(
        FancyArrowPatch(
            tail, head, arrowstyle="-|>", mutation_scale=18, color="gray", linewidth=1.5
        )
    )
    ax_graph.text(
        (tail[0] + head[0]) / 2,
        (tail[1] + head[1]) / 2,
        text,
        ha="center",
        va="center",
        fontsize=11,
        bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
    )
ax_graph.set_xlim(-1.4, 12.8)
ax_graph.set_ylim(-3.5, 3.5)
ax_graph.axis("off")
ax_graph.set_title(
    f"f at $(x_1, x_2)$ = ({a:.3f}, {b:.3f}): value v, "
    r"forward tangents $\dot v = (\partial v/\partial x_1, \partial v/\partial x_2)$"
    "\n(blue, two passes), reverse adjoint "
    r"$\bar v = \partial f/\partial v$ (red, one pass); edges: local derivatives"
)

floor = 1e-18  # an exact match (error 0) is drawn at this height
names = [*errors, f"central difference\n(h = {FD_STEP:g}) vs tape"]
values = np.array([*errors.values(), error_fd])
colors = ["C2"] * len(errors) + ["gray"]
ax_err.barh(np.arange(len(names)), np.maximum(values, floor), color=colors)
for i, value in enumerate(values):
    ax_err.text(
        max(value, floor) * 3,
        i,
        "exactly 0" if value == 0 else f"{value:.1e}",
        va="center",
        fontsize=11,
        bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
    )
ax_err.axvline(1e-12, color="C3", linestyle="--", label="claim: < 1e-12")
ax_err.axvline(np.finfo(np.float64).eps, color="gray", linestyle=":", label="float64 eps")
ax_err.set_xscale("log")
ax_err.set_xlim(floor / 3, 1e-4)
ax_err.set_yticks(np.arange(len(names)), names, fontsize=10)
ax_err.invert_yaxis()
ax_err.set(
    xlabel=r"relative error $\|g - g_{ref}\| / \|g_{ref}\|$",
    title=f"Gradients at {N_POINTS:,} random points",
)
ax_err.legend(loc="upper right")
fig.suptitle(r"The chain rule on $f(x_1, x_2) = \ln x_1 + x_1 x_2 - \sin x_2$ (float64)")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "n_points": N_POINTS,
    "x1_shown": float(a),
    "x2_shown": float(b),
    "df_dx1_shown": float(grad_reverse[point, 0]),
    "df_dx2_shown": float(grad_reverse[point, 1]),
    "rel_error_forward_vs_tape": errors["forward (hand)\nvs tape"],
    "rel_error_reverse_vs_tape": errors["reverse (hand)\nvs tape"],
    "rel_error_forward_vs_accumulator": errors["forward (hand) vs\nForwardAccumulator"],
    "rel_error_reverse_vs_closed_form": errors["reverse (hand)\nvs closed form"],
    "max_rel_error": float(max(errors.values())),
    "rel_error_finite_differences": error_fd,
}
for key, value in SUMMARY.items():
    print(f"{key:>32s}: {value:.4g}" if isinstance(value, float) else f"{key:>32s}: {value}")
