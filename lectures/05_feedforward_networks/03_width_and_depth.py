"""
Width and depth: what a network can fit grows with its capacity
===============================================================

Nine ReLU networks, every combination of three widths and three depths, are trained on the
two-moons and the two-spirals data; the smallest network underfits the spirals, the larger ones
fit them.

The two figures (moons, then spirals) show a grid of decision regions: depth grows down
the rows, width grows along the columns, and each title gives the parameter count and the
training accuracy. Look at the shapes of the boundaries. A one-hidden-layer ReLU network of
width $k$ is linear on each region cut out by the $k$ lines where its units switch on
($w_j · x + b_j = 0$), and $k$ lines cut the plane into at most $1 + k + k(k - 1)/2$
regions; its decision boundary is made of straight pieces, at most one per region, with
its corners on those $k$ lines. Stacking layers folds the plane several times and lets a few
units make many more pieces. The moons need little capacity: the smallest network falls short
of the largest by less than half as much on the moons as on the spirals, which wind too often
for it.

Try:
- Add a depth of 5 at width 4: does depth alone rescue the narrow network, or do its units die?
- Raise `NOISE_SPIRALS` to 0.15: the largest network still fits every training point. Is that
  good? (Hold out a test set to find out.)
- Set `ACTIVATION = "tanh"`: the boundaries become smooth curves instead of polygons.
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import make_moons, make_spirals
from common.plotting import use_course_style
from common.training import fit_fast

import keras
import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

WIDTHS = (4, 16) if SMOKE else (4, 16, 64)  # units per hidden layer
DEPTHS = (1, 2) if SMOKE else (1, 2, 3)  # number of hidden layers
ACTIVATION = "relu"
N_POINTS = 200 if SMOKE else 600
NOISE_MOONS = 0.2
NOISE_SPIRALS = 0.05
LEARNING_RATE = 0.015
EPOCHS = 20 if SMOKE else 600  # full-batch Adam steps

# %% [markdown]
# ## Data
# Two classes in the plane. The moons are two interleaved half circles; the spirals are two
# Archimedean spiral arms winding 1.5 times around the origin.

# %%
keras.utils.set_random_seed(SEED)
datasets = {
    "moons": make_moons(N_POINTS, noise=NOISE_MOONS, seed=SEED),
    "spirals": make_spirals(N_POINTS, noise=NOISE_SPIRALS, seed=SEED),
}

# %% [markdown]
# ## The networks
# Depth $L$, width $k$: $h_0 = x \in \mathbb R^2$, $h_\ell = \mathrm{relu}(W_\ell^\top h_{\ell-1} +
# b_\ell) \in \mathbb R^k$ for $\ell = 1, \dots, L$, and $p(y = 1 \mid x) =
# \sigma(w^\top h_L + b)$. The number of parameters is
# $(2 + 1)k + (L - 1)(k + 1)k + (k + 1)$.
#
# The nine networks of one dataset are trained side by side as *one* Keras model: its output
# has one column per network. The loss is the mean of the nine binary cross-entropies, so each
# network's weights receive their own gradient divided by nine, and Adam's step does not
# depend on such a scale (up to its $\epsilon$). The result is that of nine separate fits, up
# to $\epsilon$ and round-off, but Keras traces and compiles one training step instead of nine.
#
# Both datasets are learned by the same nine networks from the same initial weights: the
# model's state (weights and optimizer moments) is saved before training with
# `get_state_tree` and restored before each dataset, so the compiled training step is reused.


# %%
def build_network(width, depth):
    """A ReLU network with `depth` hidden layers of `width` units and a sigmoid output."""
    layers = [keras.layers.Dense(width, activation=ACTIVATION) for _ in range(depth)]
    return keras.Sequential([*layers, keras.layers.Dense(1, activation="sigmoid")])


def build_grid(widths, depths):
    """All width x depth networks in one model; output column i is network i's probability."""
    inputs = keras.Input(shape=(2,))
    networks = [build_network(width, depth) for depth in depths for width in widths]
    outputs = keras.layers.Concatenate()([network(inputs) for network in networks])
    return keras.Model(inputs, outputs), networks


def plane_grid(x, n=200, margin=0.3):
    """An n x n grid of points covering the data, for drawing decision regions."""
    lows, highs = x.min(axis=0) - margin, x.max(axis=0) + margin
    g1, g2 = np.meshgrid(np.linspace(lows[0], highs[0], n), np.linspace(lows[1], highs[1], n))
    return g1, g2, np.stack([g1.ravel(), g2.ravel()], axis=1).astype("float32")


keras.utils.set_random_seed(SEED)
grid_model, networks = build_grid(WIDTHS, DEPTHS)
grid_model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="binary_crossentropy")
grid_model.optimizer.build(grid_model.trainable_variables)  # create Adam's moments (zeros)
initial_state = grid_model.get_state_tree(value_format="numpy_array")
configurations = [(width, depth) for depth in DEPTHS for width in WIDTHS]
parameters = [network.count_params() for network in networks]

results = {}
for name, (x, y) in datasets.items():
    grid_model.set_state_tree(initial_state)  # the same initial weights for both datasets
    targets = np.repeat(y[:, None], len(networks), axis=1).astype("float32")
    # replaces grid_model.fit(x, targets, batch_size=len(x), epochs=EPOCHS, verbose=0)
    fit_fast(grid_model, x, targets, epochs=EPOCHS, every=EPOCHS, seed=SEED)
    probabilities = keras.ops.convert_to_numpy(grid_model(x))
    accuracy = np.mean((probabilities > 0.5) == y[:, None], axis=0)
    g1, g2, plane = plane_grid(x)
    results[name] = dict(
        accuracy=accuracy.reshape(len(DEPTHS), len(WIDTHS)),  # rows: depth, columns: width
        regions=(g1, g2, keras.ops.convert_to_numpy(grid_model(plane))),
    )
    print(f"{name}: training accuracy (rows: depth {DEPTHS}, columns: width {WIDTHS})")
    print(np.round(results[name]["accuracy"], 3))

# %% [markdown]
# ## Figures: decision regions of the networks

# %%
use_course_style()
for name, (x, y) in datasets.items():
    g1, g2, p_plane = results[name]["regions"]

    fig, axes = plt.subplots(len(DEPTHS), len(WIDTHS), figsize=(13, 12), sharex=True, sharey=True)
    for i, (width, depth) in enumerate(configurations):
        row, col = divmod(i, len(WIDTHS))
        ax = axes[row, col]
        p = p_plane[:, i].reshape(g1.shape)
        ax.contourf(g1, g2, p, levels=[0, 0.5, 1], colors=["tab:blue", "tab:orange"], alpha=0.3)
        ax.contour(g1, g2, p, levels=[0.5], colors="black", linewidths=1.5)
        ax.scatter(x[:, 0], x[:, 1], c=np.array(["tab:blue", "tab:orange"])[y], s=5)
        acc = results[name]["accuracy"][row, col]
        ax.set_title(
            f"width {width}, depth {depth}: {parameters[i]} params\ntraining accuracy {acc:.3f}",
            fontsize=12,
        )
        ax.set_aspect("equal")
        if row == len(DEPTHS) - 1:
            ax.set_xlabel("$x_1$")
        if col == 0:
            ax.set_ylabel("$x_2$")
    fig.suptitle(
        f"{name.capitalize()} ({len(x)} points): ReLU networks, depth down, width across\n"
        f"decision regions after {EPOCHS} full-batch Adam steps"
    )
    plt.show()

# %% [markdown]
# ## Summary
# On the spirals: the accuracy of the smallest and the largest network, and for each depth,
# the smallest step in accuracy from one width to the next (negative if it fell); at width 4,
# the gain of the better and of the worse deeper network over the one-layer one. On both
# datasets: the shortfall of the smallest network from the largest.

# %%
spirals = results["spirals"]["accuracy"]
moons = results["moons"]["accuracy"]
SUMMARY = {
    "spirals_smallest_accuracy": float(spirals[0, 0]),
    "spirals_largest_accuracy": float(spirals[-1, -1]),
    "spirals_min_width_step": float(np.min(np.diff(spirals, axis=1))),
    # Depth at width 4: the better deeper network against the one-layer one, and the worse one
    # (a narrow deep ReLU network can also get stuck, its units dead).
    "spirals_narrow_deeper_gain": float(np.max(spirals[1:, 0]) - spirals[0, 0]),
    "spirals_narrow_deeper_worst_gain": float(np.min(spirals[1:, 0]) - spirals[0, 0]),
    "moons_smallest_accuracy": float(moons[0, 0]),
    "moons_largest_accuracy": float(moons[-1, -1]),
    "moons_shortfall": float(moons[-1, -1] - moons[0, 0]),
    "spirals_shortfall": float(spirals[-1, -1] - spirals[0, 0]),
    "smallest_parameters": parameters[0],
    "largest_parameters": parameters[-1],
}
for key, value in SUMMARY.items():
    print(f"{key:>27s}: {value:.4g}" if isinstance(value, float) else f"{key:>27s}: {value}")
