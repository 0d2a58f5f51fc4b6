"""
XOR: no line separates it, one hidden layer does
================================================

A logistic-regression model (no hidden layer) cannot classify the XOR points, while a network
with one hidden layer of only two tanh units classifies all of them correctly.

The figure shows three panels. Left: the decision regions of the linear model, a half-plane
that at best gets three of the four clusters right (the best of all lines, found by an exact
search, is named in the title). Middle: the decision regions of the network,
with the two lines where its hidden units switch sign. Right: the same points in the hidden
layer's coordinates $(h_1, h_2)$; there the classes *are* linearly separable, and the output
unit's line separates them. The trained tanh units are nearly saturated, so the four clusters
land near three corners of the square: the hidden layer has learned a new representation.

Try:
- Set `HIDDEN_ACTIVATION = "relu"`: how many restarts solve the problem now?
- Set `RESTARTS = 1` and change `SEED`: how often does a single run stall at 3/4?
- Give the linear model the feature $x_1 x_2$ as a third input: one line is then enough.
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import make_xor
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

N_POINTS = 200  # 50 noisy points around each corner (+-1, +-1)
NOISE = 0.2  # standard deviation of the Gaussian noise around the corners
HIDDEN_UNITS = 2  # two units are enough for XOR, and give a picture in the plane
HIDDEN_ACTIVATION = "tanh"
RESTARTS = 16  # independent initializations of the small network, trained together
LEARNING_RATE = 0.05
EPOCHS = 30 if SMOKE else 300  # full-batch Adam steps

# %% [markdown]
# ## Data
# Label $y = 1$ where the two coordinates have different signs ("exclusive or").

# %%
keras.utils.set_random_seed(SEED)
x, y = make_xor(N_POINTS, noise=NOISE, seed=SEED)
print(f"x {x.shape}, class sizes {np.bincount(y)}")

# %% [markdown]
# ## No line separates XOR
# A linear classifier predicts $1$ where $w^\top x + b > 0$. If it got all four corners right,
# then $b - w_1 - w_2 < 0$ and $b + w_1 + w_2 < 0$ (the two class-0 corners) would add up to
# $2b < 0$, while $b - w_1 + w_2 > 0$ and $b + w_1 - w_2 > 0$ (the class-1 corners) add up to
# $2b > 0$: a contradiction. So at most 3 of the 4 corners, an accuracy of at most $3/4$.
#
# The same argument, by convexity, covers the noisy points. Take one point from each of the
# four clusters: $a$ near $(-1, -1)$ and $d$ near $(1, 1)$ (class 0), $b$ near $(-1, 1)$ and
# $c$ near $(1, -1)$ (class 1). If a line classified all four correctly, the half-plane
# $\{w^\top x + b \le 0\}$ would contain the segment $[a, d]$ and the disjoint half-plane
# $\{w^\top x + b > 0\}$ the segment $[b, c]$; so if the two segments cross, no line gets all
# four right. When they cross for *every* such choice of four points, every line misclassifies
# a whole cluster (otherwise pick a correctly classified point from each), and with 50 points
# per cluster its accuracy is at most $150/200 = 3/4$. The code checks that the segments
# cross for all $50^4$ choices: $[a, d]$ and $[b, c]$ cross exactly when the line through
# $a, d$ separates $b$ from $c$ and the line through $b, c$ separates $a$ from $d$.
#
# Two oracles that do not depend on training bracket the best accuracy of *any* line: the
# argument above is an upper bound (when the code finds that all segments cross), and a scan
# of 720 directions $u$, each with every threshold $t$ of the rule $u^\top x > t$, is a lower
# bound (the scan cannot try every direction). When the two meet, the best line is known
# exactly.


# %%
def clusters_force_a_mistake(x, y):
    """True if every segment [a, d] (class 0) crosses every segment [b, c] (class 1)."""

    def orientation(p, q, r):  # sign of the cross product (q - p) x (r - p), broadcast
        return np.sign(
            (q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1])
            - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0])
        )

    def separates(p, q, first, second):  # does each line (p_i, q_j) split first from second?
        side_first = orientation(p[:, None, None], q[None, :, None], first[None, None, :])
        side_second = orientation(p[:, None, None], q[None, :, None], second[None, None, :])
        one_way = np.all(side_first > 0, axis=2) & np.all(side_second < 0, axis=2)
        other_way = np.all(side_first < 0, axis=2) & np.all(side_second > 0, axis=2)
        return bool(np.all(one_way | other_way))

    # The clusters: class 0 split by the anti-diagonal, class 1 by the diagonal.
    a = x[(y == 0) & (x[:, 0] + x[:, 1] < 0)]
    d = x[(y == 0) & (x[:, 0] + x[:, 1] >= 0)]
    b = x[(y == 1) & (x[:, 1] - x[:, 0] >= 0)]
    c = x[(y == 1) & (x[:, 1] - x[:, 0] < 0)]
    return separates(a, d, b, c) and separates(b, c, a, d), min(len(a), len(b), len(c), len(d))


def best_scanned_line_accuracy(x, y, n_directions=720):
    """The highest accuracy of the rules `u.x > t` over n_directions u and every threshold t."""
    angles = np.linspace(0.0, 2.0 * np.pi, n_directions, endpoint=False)
    directions = np.stack([np.cos(angles), np.sin(angles)])  # (2, n_directions)
    labels = y[np.argsort(x @ directions, axis=0)].T  # each row: labels in projection order
    # Threshold after the first k sorted points: predict 0 below it, 1 above it.
    none = np.zeros((n_directions, 1), dtype=int)
    zeros_below = np.concatenate([none, np.cumsum(labels == 0, axis=1)], axis=1)
    ones_above = np.concatenate([np.cumsum((labels == 1)[:, ::-1], axis=1)[:, ::-1], none], axis=1)
    return float(np.max(zeros_below + ones_above)) / len(y)


diagonals_cross, smallest_cluster = clusters_force_a_mistake(x, y)
line_bound = 1.0 - smallest_cluster / len(y) if diagonals_cross else 1.0
best_line = best_scanned_line_accuracy(x, y)
print(f"every [a, d] crosses every [b, c]: {diagonals_cross}, so no line beats {line_bound:.3f}")
print(f"best accuracy of the scanned lines: {best_line:.3f}")

# %% [markdown]
# ## A linear model, trained
# Logistic regression, $p(y = 1 \mid x) = \sigma(w^\top x + b)$, trained by full-batch Adam on
# the binary cross-entropy. `fit_fast` is `model.fit` that runs all the epochs in one compiled
# call (Keras' per-epoch overhead would otherwise dominate this tiny model).

# %%
keras.utils.set_random_seed(SEED)
linear = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1, activation="sigmoid")])
linear.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="binary_crossentropy")
# replaces linear.fit(x, y, batch_size=len(x), epochs=EPOCHS, verbose=0)
fit_fast(linear, x, y, epochs=EPOCHS, every=EPOCHS, seed=SEED)
linear_accuracy = float(np.mean((linear.predict(x, verbose=0)[:, 0] > 0.5) == y))
print(f"linear model accuracy: {linear_accuracy:.3f}")

# %% [markdown]
# ## One hidden layer
# $h = \tanh(W_1^\top x + b_1) \in \mathbb R^2$, $\;p(y=1 \mid x) = \sigma(w_2^\top h + b_2)$.
# Its loss is not convex: from some initializations gradient descent stalls with three
# corners right. For the 2-2-1 network on the four XOR points, Hamey (1998) proved that the
# error surface has no local minimum at finite weights: the stalls are saddle points and
# plateaus (nearly flat regions, some reached only as weights grow without bound), which
# gradient descent leaves slowly or not at all within its budget of steps. So we train
# `RESTARTS` independent copies and keep the one with the lowest training loss.
#
# The copies are trained side by side in *one* layer whose weights carry a leading copy axis
# $r$ (one compiled model instead of sixteen separate fits). Its output has one column per
# copy; the loss is the mean of the copies' losses, so each copy's weights receive their own
# gradient divided by `RESTARTS`, and Adam's step does not depend on such a scale (up to its
# $\epsilon$). Each copy is initialized like a Keras `Dense` layer: Glorot-uniform weights,
# $U(-a, a)$ with $a = \sqrt{6 / (n_\text{in} + n_\text{out})}$, and zero biases.


# %%
class IndependentNetworks(keras.layers.Layer):
    """`copies` independent networks x -> sigmoid(w2 . act(x W1 + b1) + b2), side by side."""

    def __init__(self, copies, units, activation, **kwargs):
        super().__init__(**kwargs)
        self.copies, self.units = copies, units
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        def glorot(n_in, n_out):
            limit = np.sqrt(6.0 / (n_in + n_out))
            return keras.initializers.RandomUniform(-limit, limit)

        n_in, r, k = input_shape[-1], self.copies, self.units
        self.w1 = self.add_weight(shape=(r, n_in, k), initializer=glorot(n_in, k))
        self.b1 = self.add_weight(shape=(r, k), initializer="zeros")
        self.w2 = self.add_weight(shape=(r, k), initializer=glorot(k, 1))
        self.b2 = self.add_weight(shape=(r,), initializer="zeros")

    def call(self, x):
        h = self.activation(keras.ops.einsum("ni,rik->nrk", x, self.w1) + self.b1)
        return keras.ops.sigmoid(keras.ops.einsum("nrk,rk->nr", h, self.w2) + self.b2)


keras.utils.set_random_seed(SEED)
restarts = keras.Sequential(
    [keras.Input(shape=(2,)), IndependentNetworks(RESTARTS, HIDDEN_UNITS, HIDDEN_ACTIVATION)]
)
restarts.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="binary_crossentropy")
targets = np.repeat(y[:, None], RESTARTS, axis=1).astype("float32")  # one column per copy
# replaces restarts.fit(x, targets, batch_size=len(x), epochs=EPOCHS, verbose=0)
fit_fast(restarts, x, targets, epochs=EPOCHS, every=EPOCHS, seed=SEED)

probabilities = restarts.predict(x, verbose=0)  # (n, RESTARTS)
eps = 1e-7
losses = -np.mean(
    y[:, None] * np.log(probabilities + eps) + (1 - y[:, None]) * np.log(1 - probabilities + eps),
    axis=0,
)
accuracies = np.mean((probabilities > 0.5) == y[:, None], axis=0)
best = int(np.argmin(losses))
print("accuracy of each restart:", np.round(accuracies, 3))

# %% [markdown]
# The kept copy's weights go into an ordinary two-layer Keras network.

# %%
w1, b1, w2, b2 = (keras.ops.convert_to_numpy(v[best]) for v in restarts.layers[0].weights)
mlp = keras.Sequential(
    [
        keras.Input(shape=(2,)),
        keras.layers.Dense(HIDDEN_UNITS, activation=HIDDEN_ACTIVATION, name="hidden"),
        keras.layers.Dense(1, activation="sigmoid", name="output"),
    ]
)
mlp.set_weights([w1, b1, w2[:, None], b2[None]])
mlp_accuracy = float(np.mean((mlp.predict(x, verbose=0)[:, 0] > 0.5) == y))
print(f"kept restart {best}: accuracy {mlp_accuracy:.3f}")

# %% [markdown]
# ## The hidden representation
# Calling the hidden layer alone maps each point $x$ to $h(x)$.

# %%
h = keras.ops.convert_to_numpy(mlp.get_layer("hidden")(x))

# %% [markdown]
# ## Figure: decision regions, and the representation in which XOR is linear

# %%
use_course_style()
grid = np.linspace(-2.0, 2.0, 201, dtype="float32")
g1, g2 = np.meshgrid(grid, grid)
plane = np.stack([g1.ravel(), g2.ravel()], axis=1)
colors = np.array(["tab:blue", "tab:orange"])

fig, axes = plt.subplots(1, 3, figsize=(17, 5.8))
for ax, model, title in (
    (axes[0], linear, f"Linear model: accuracy {linear_accuracy:.2f}"),
    (axes[1], mlp, f"One hidden layer ({HIDDEN_UNITS} units): accuracy {mlp_accuracy:.2f}"),
):
    p = keras.ops.convert_to_numpy(model(plane))[:, 0].reshape(g1.shape)
    ax.contourf(g1, g2, p, levels=[0, 0.5, 1], colors=["tab:blue", "tab:orange"], alpha=0.25)
    ax.contour(g1, g2, p, levels=[0.5], colors="black", linewidths=2)
    ax.scatter(x[:, 0], x[:, 1], c=colors[y], s=14, edgecolor="none")
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title=title, xlim=(-2, 2), ylim=(-2, 2), aspect="equal")
# The lines where a hidden unit's pre-activation w_j.x + b_j is zero (drawn as contours, so
# a vertical line is no special case).
pre_activation = plane @ w1 + b1
for j in range(HIDDEN_UNITS):
    axes[1].contour(
        g1,
        g2,
        pre_activation[:, j].reshape(g1.shape),
        levels=[0.0],
        colors="magenta",
        linestyles="--",
        linewidths=1.8,
    )
axes[1].plot([], [], "--", color="magenta", label="hidden units: $w_j^\\top x + b_j = 0$")
axes[1].plot([], [], color="black", label="decision boundary $p = 1/2$")
axes[1].legend(loc="lower left", fontsize=10)

ax = axes[2]
for label in (0, 1):
    ax.scatter(
        h[y == label, 0],
        h[y == label, 1],
        s=30,
        alpha=0.5,
        color=colors[label],
        label=f"class {label}",
    )
# The output unit's decision line w2.h + b2 = 0 in hidden coordinates.
h_grid = np.linspace(-1.15, 1.15, 201)
e1, e2 = np.meshgrid(h_grid, h_grid)
logit = w2[0] * e1 + w2[1] * e2 + b2
ax.contour(e1, e2, logit, levels=[0.0], colors="black", linewidths=2)
ax.plot([], [], color="black", label="output unit: $w_2^\\top h + b_2 = 0$")
ax.set(
    xlabel="hidden unit $h_1$",
    ylabel="hidden unit $h_2$",
    xlim=(-1.15, 1.15),
    ylim=(-1.15, 1.15),
    aspect="equal",
    title="Hidden representation: linearly separable",
)
ax.legend(loc="best", fontsize=10)
fig.suptitle(
    f"XOR ({N_POINTS} points): linear model vs one hidden layer; best line: "
    f"{best_line:.2f} found by a scan, at most {line_bound:.2f} by the convexity argument"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "linear_accuracy": linear_accuracy,
    "best_line_accuracy": best_line,
    "cluster_diagonals_cross": diagonals_cross,
    "line_accuracy_bound": line_bound,
    "mlp_accuracy": mlp_accuracy,
    "restarts": RESTARTS,
    "restarts_solved": int(np.sum(accuracies == 1.0)),
    "mlp_train_loss": float(losses[best]),
}
for key, value in SUMMARY.items():
    print(f"{key:>20s}: {value:.4g}" if isinstance(value, float) else f"{key:>20s}: {value}")
