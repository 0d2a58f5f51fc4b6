"""
Depth separation: Telgarsky's sawtooth
======================================

Composing a two-unit ReLU "tent" with itself $k$ times gives a network of depth $k$ with $2k$
hidden units whose graph has $2^k$ linear pieces; a network with one hidden layer needs at least
$2^k - 1$ units to compute the same function, and with $m$ units it stays at an $L^1$ distance
of at least $1/8 - (m + 2)/2^{k+2}$ from it. This is the one-dimensional,
one-hidden-layer case of Telgarsky's depth separation (2016): for every $k$ there is a ReLU
network with $O(k^3)$ layers and $O(k^3)$ units such that every ReLU network with at most $k$
layers and at most $2^k$ units is at $L^1([0, 1]^d)$ distance at least $1/64$ from it.

The figure has three panels. Left: the sawtooth $T^k$ for a few $k$, each a real Keras model
built by calling one tent model $k$ times, and next to it a one-hidden-layer network with $2^k$
units built by formula that computes the same function. Middle: the number of linear pieces
counted on a fine grid against $k$ (log scale), next to the hidden units the deep network uses
($2k$, linear in $k$) and the units a one-hidden-layer network needs (at least $2^k - 1$,
exponential in $k$). Right: for $k = 6$, the $L^1$ distance from $T^6$ of one-hidden-layer
networks with $m$ units (a good one for each $m$) and the lower bound that holds for all of
them. Depth buys an exponential number of pieces; width buys them one at a time, and without
them even approximation fails.

Try:
- Replace the tent by the asymmetric tent with its peak at $1/3$: does $T^k$ still have $2^k$
  pieces? (Count them.)
- Perturb one weight of the deep network by $10^{-3}$: how many pieces survive?
- Give a random ReLU network of depth 6 and width 2 random weights: how many pieces does it
  have on $[0, 1]$? (Far fewer: $2^k$ pieces need carefully chosen weights.)
- Prove the lower bound of the right panel for networks with two hidden layers: how many
  pieces can $m_1$ and $m_2$ units make on the line?
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
# `MMA440_SMOKE=1` uses fewer compositions and a coarser grid; `MMA440_SEED` changes the seed
# (nothing here is random: all weights are set by formula).

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

K_MAX = 3 if SMOKE else 6  # compositions k = 1, ..., K_MAX
N_GRID = 10_001 if SMOKE else 100_001  # points of the fine grid on [0, 1]
K_SHOW = (1, 2, 3) if SMOKE else (1, 2, 4)  # the sawtooths drawn in the left panel

keras.utils.set_random_seed(SEED)

# %% [markdown]
# ## The tent and its compositions
# The tent map $T(x) = 2\,\mathrm{relu}(x) - 4\,\mathrm{relu}(x - \tfrac12)$ is $2x$ on
# $[0, \tfrac12]$ and $2 - 2x$ on $[\tfrac12, 1]$: it maps $[0, 1]$ onto itself, twice. As a
# network: a hidden layer of 2 ReLU units with input weights $(1, 1)$ and biases
# $(0, -\tfrac12)$, and a linear output with weights $(2, -4)$ and bias 0.
#
# $T^k = T \circ \dots \circ T$ ($k$ times) runs up and down $2^{k-1}$ times: each composition
# doubles the number of linear pieces, because $T$ maps each piece of $T^{k-1}$ (a segment
# onto $[0, 1]$) onto two. In Keras, $T^k$ is one tent model called $k$ times in a functional
# model; the $k$ calls share the tent's weights. Every layer computes in float64
# (`dtype="float64"`), so that the only errors are float64 round-off.

# %%
tent = keras.Sequential(
    [
        keras.Input(shape=(1,), dtype="float64"),
        keras.layers.Dense(2, activation="relu", name="tent_hidden", dtype="float64"),
        keras.layers.Dense(1, name="tent_output", dtype="float64"),
    ],
    name="tent",
)
tent.set_weights(
    [
        np.array([[1.0, 1.0]]),  # both units see x
        np.array([0.0, -0.5]),  # relu(x) and relu(x - 1/2)
        np.array([[2.0], [-4.0]]),  # 2 relu(x) - 4 relu(x - 1/2)
        np.array([0.0]),
    ]
)


def sawtooth(k):
    """T^k as a functional Keras model: the tent model applied k times."""
    inputs = keras.Input(shape=(1,), dtype="float64")
    h = inputs
    for _ in range(k):
        h = tent(h)
    return keras.Model(inputs, h, name=f"sawtooth_{k}")


# %% [markdown]
# ## The same function with one hidden layer
# A one-hidden-layer ReLU network $g(x) = b + \sum_j c_j\,\mathrm{relu}(w_j x + b_j)$ on the
# line is piecewise linear with a kink only where some $w_j x + b_j = 0$: $m$ units make at
# most $m + 1$ pieces. So a function with $2^k$ pieces needs at least $2^k - 1$ units.
#
# With $2^k$ units it is enough: $T^k$ is linear between the knots $t_j = j / 2^k$, so it is
# its own piecewise-linear interpolant, which the construction of the previous script writes
# as a network: unit $j$ is $\mathrm{relu}(x - t_j)$, its output weight is the change of slope
# at $t_j$, and the output bias is $T^k(0) = 0$.


# %%
def shallow_network(knots, values):
    """One hidden layer: the piecewise-linear interpolant of (knots, values) on [knots[0], ...]."""
    slopes = np.diff(values) / np.diff(knots)
    coefficients = np.concatenate([[slopes[0]], np.diff(slopes)])
    n_units = len(coefficients)
    model = keras.Sequential(
        [
            keras.Input(shape=(1,), dtype="float64"),
            keras.layers.Dense(n_units, activation="relu", dtype="float64"),
            keras.layers.Dense(1, dtype="float64"),
        ]
    )
    model.set_weights([np.ones((1, n_units)), -knots[:-1], coefficients[:, None], values[:1]])
    return model


# %% [markdown]
# ## Counting linear pieces
# On a fine grid $x_0 < x_1 < \dots$ the slopes of the chords $\Delta_i = (y_{i+1} - y_i) /
# (x_{i+1} - x_i)$ are constant along a linear piece. Where the slope changes, a kink lies in
# one of the cells next to it; a kink strictly inside a cell gives that cell an intermediate
# slope and so *two* consecutive changes, which we count once. So the number of pieces is
# $1 +$ the number of runs of consecutive slope changes. This needs the pieces to be longer
# than two cells: here the shortest piece, $2^{-6}$, spans about 1,500 cells.


# %%
def count_linear_pieces(x, y, tolerance=1e-6):
    """Number of linear pieces of the piecewise-linear function sampled as (x, y)."""
    slopes = np.diff(y) / np.diff(x)
    scale = max(1.0, float(np.max(np.abs(slopes))))
    changes = np.abs(np.diff(slopes)) > tolerance * scale
    # A run of consecutive changes (a kink inside a cell) counts as one kink.
    kinks = np.count_nonzero(changes[1:] & ~changes[:-1]) + int(changes[0])
    return 1 + kinks


x_grid = np.linspace(0.0, 1.0, N_GRID)
pieces, shallow_gaps, curves, knot_values = [], [], {}, {}
for k in range(1, K_MAX + 1):
    y_deep = keras.ops.convert_to_numpy(sawtooth(k)(x_grid[:, None]))[:, 0]
    knots = np.arange(2**k + 1) / 2**k
    y_knots = keras.ops.convert_to_numpy(sawtooth(k)(knots[:, None]))[:, 0]
    shallow = shallow_network(knots, y_knots)
    y_shallow = keras.ops.convert_to_numpy(shallow(x_grid[:, None]))[:, 0]
    pieces.append(count_linear_pieces(x_grid, y_deep))
    shallow_gaps.append(float(np.max(np.abs(y_shallow - y_deep))))
    curves[k] = (y_deep, y_shallow)
    knot_values[k] = y_knots
    print(
        f"k = {k}: {pieces[-1]:3d} pieces (2^k = {2**k:3d}); deep net {2 * k:2d} hidden units, "
        f"shallow net {shallow.layers[0].units:3d}, max |deep - shallow| = "
        f"{shallow_gaps[-1]:.1e}"
    )

ks = np.arange(1, K_MAX + 1)
pieces = np.array(pieces)

# %% [markdown]
# ## Not even approximately: the $L^1$ lower bound
# Counting pieces shows that one hidden layer cannot *represent* $T^k$ with fewer than
# $2^k - 1$ units. Telgarsky's theorem says more: it cannot even *approximate* it. The
# one-dimensional argument: $T^k - \frac12$ changes sign at the $2^k$ points
# $(2j + 1)/2^{k+1}$, and between two consecutive ones (the $2^k - 1$ inner intervals, of
# length $2^{-k}$) $|T^k - \frac12|$ is a triangle of height $\frac12$ and area $2^{-k}/4$.
# A continuous piecewise-linear $g$ with $p$ pieces crosses $\frac12$ at most $p$ times. The
# inner intervals free of crossings fall into at most $p + 1$ runs of consecutive intervals on
# which $g - \frac12$ keeps one sign while $T^k - \frac12$ alternates, so in at least
# $(2^k - 1 - p - (p + 1))/2 = 2^{k-1} - p - 1$ of them $g$ lies on the wrong side of
# $\frac12$, where $|T^k - g| \ge |T^k - \frac12|$. Hence
# $$\int_0^1 |T^k - g| \ge \big(2^{k-1} - p - 1\big)\,\frac{2^{-k}}{4}
#   = \frac18 - \frac{p + 1}{2^{k+2}} ,$$
# and a one-hidden-layer network with $m$ units has $p \le m + 1$ pieces: with
# $m \le 2^{k-2} - 2$ units its $L^1$ distance from $T^k$ is at least $\frac1{16}$, whatever
# its weights, while the deep network with $2k$ units has distance 0.
#
# For comparison, a good one-hidden-layer approximant with $m$ pieces, so $m$ units by the
# construction of script 04: it follows $T^k$ exactly over its first $m - 2$ pieces and half of
# the next one, down to $\frac12$, and stays at $\frac12$ from there on, at distance
# $\frac14\big(1 - (m - \frac32)/2^k\big)$ (the best constant, $\frac12$, is at distance
# $\frac14$). Its distance is an upper bound on the best one: the truth lies between the two
# curves of the right panel.

# %%
k_l1 = K_MAX
units = np.arange(0, 2**k_l1 + 1)  # m = 0: the constant network (an output bias only)
l1_lower_bound = 1 / 8 - (units + 2) / 2 ** (k_l1 + 2)  # for every network with m units
y_target = curves[k_l1][0]
l1_distance = []
for m in units:
    if m < 2:  # no unit or one: the best constant, 1/2
        knots, values = np.array([0.0, 1.0]), np.array([0.5, 0.5])
    elif m < 2**k_l1:  # the first m - 2 pieces of T^k, half a piece down to 1/2, then 1/2
        teeth = m - 2
        knots = np.append(np.arange(teeth + 1) / 2**k_l1, [(teeth + 0.5) / 2**k_l1, 1.0])
        values = np.append(knot_values[k_l1][: teeth + 1], [0.5, 0.5])
    else:  # 2^k units: the exact interpolant of the previous section
        knots, values = np.arange(2**k_l1 + 1) / 2**k_l1, knot_values[k_l1]
    g = np.interp(x_grid, knots, values)  # the one-hidden-layer network, evaluated
    l1_distance.append(float(np.trapezoid(np.abs(y_target - g), x_grid)))
l1_distance = np.array(l1_distance)
units_for_sixteenth = max(2 ** (k_l1 - 2) - 2, 0)
print(
    f"k = {k_l1}: with m = {units_for_sixteenth} units every one-hidden-layer network is at "
    f"L1 distance >= {l1_lower_bound[units_for_sixteenth]:.4f}; the approximant's distance "
    f"{l1_distance[units_for_sixteenth]:.4f}"
)

# %% [markdown]
# ## Figure: the sawtooth, and pieces against units

# %%
use_course_style()
fig, (ax_saw, ax_count, ax_l1) = plt.subplots(1, 3, figsize=(22, 6.5))
for offset, k in enumerate(K_SHOW):
    y_deep, y_shallow = curves[k]
    shift = 1.25 * (len(K_SHOW) - 1 - offset)  # stack the curves vertically
    ax_saw.plot(
        x_grid,
        y_deep + shift,
        linewidth=3.5,
        alpha=0.6,
        label="deep: the tent applied $k$ times ($2k$ units)" if offset == 0 else None,
    )
    ax_saw.plot(
        x_grid,
        y_shallow + shift,
        "--",
        color="black",
        linewidth=1.2,
        label="one hidden layer, $2^k$ units" if offset == 0 else None,
    )
    ax_saw.text(1.03, shift + 0.5, f"$k = {k}$\n{pieces[k - 1]} pieces", va="center")
top = 1.25 * (len(K_SHOW) - 1) + 1.0
ax_saw.set(
    xlabel="$x$",
    ylabel="$T^k(x)$ (curves shifted up)",
    xlim=(0, 1.2),
    ylim=(-0.1, top + 0.75),
    title="Sawtooth $T^k$: deep network vs one hidden layer",
)
ax_saw.set_yticks([])
ax_saw.legend(loc="upper center", ncol=2, fontsize=11)

ax_count.semilogy(
    ks, pieces, "o", color="tab:blue", markersize=11, label="pieces counted on the grid"
)
ax_count.semilogy(ks, 2.0**ks, "-", color="tab:blue", alpha=0.5, label="$2^k$")
ax_count.semilogy(ks, 2 * ks, "s-", color="tab:green", label="hidden units of the deep net: $2k$")
ax_count.semilogy(
    ks, 2.0**ks - 1, "^--", color="tab:red", label="units one hidden layer needs: $\\geq 2^k - 1$"
)
ax_count.set(
    xlabel="compositions $k$ (depth)",
    ylabel="count (log scale)",
    title="Pieces grow like $2^k$ with depth, units only like $2k$",
)
ax_count.legend(loc="upper left", fontsize=11)

ax_l1.plot(
    units, l1_distance, "o-", color="tab:purple", markersize=4, label="approximant with $m$ units"
)
ax_l1.plot(
    units,
    np.maximum(l1_lower_bound, 0.0),
    color="black",
    linewidth=2,
    label=r"lower bound $\frac{1}{8} - \frac{m + 2}{2^{k+2}}$ (every network)",
)
ax_l1.axvline(
    2 * k_l1, color="tab:green", linestyle=":", label=f"deep net: {2 * k_l1} units, distance 0"
)
ax_l1.axvline(
    units_for_sixteenth,
    color="tab:red",
    linestyle="--",
    label=f"$m = {units_for_sixteenth}$: distance $\\geq 1/16$",
)
ax_l1.set(
    xlabel="hidden units $m$ of a one-hidden-layer network",
    ylabel=f"$L^1$ distance from $T^{{{k_l1}}}$ on [0, 1]",
    title=f"Approximating $T^{{{k_l1}}}$ with one hidden layer",
    ylim=(0, 0.3),
)
ax_l1.legend(loc="upper right", fontsize=10)
fig.suptitle("Depth separation (Telgarsky): $k$ compositions of a 2-unit ReLU tent")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "k_max": K_MAX,
    "pieces_equal_2_to_k": bool(np.all(pieces == 2**ks)),
    **{f"pieces_k{k}": int(p) for k, p in zip(ks, pieces, strict=True)},
    "deep_units_k_max": 2 * K_MAX,
    "shallow_units_needed_k_max": 2**K_MAX - 1,
    "max_deep_shallow_gap": max(shallow_gaps),
    "l1_k": k_l1,
    "l1_units_for_sixteenth": int(units_for_sixteenth),
    "l1_bound_at_those_units": float(l1_lower_bound[units_for_sixteenth]),
    "l1_min_distance_minus_bound": float(np.min(l1_distance - l1_lower_bound)),
    "l1_distance_2_to_k_units": float(l1_distance[-1]),
}
for key, value in SUMMARY.items():
    print(f"{key:>27s}: {value:.4g}" if isinstance(value, float) else f"{key:>27s}: {value}")
