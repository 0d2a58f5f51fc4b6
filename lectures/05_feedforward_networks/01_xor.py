"""
XOR: no line separates it, one hidden layer does
================================================

A logistic-regression model (no hidden layer) cannot classify the XOR points, while a network
with one hidden layer of only two tanh units classifies all of them correctly.

The figure shows three panels. Left: the decision regions of the linear model, a half-plane
that at best gets three of the four corners right. Middle: the decision regions of the network,
with the two lines where its hidden units switch sign. Right: the same points in the hidden
layer's coordinates $(h_1, h_2)$; there the classes *are* linearly separable, and the output
unit's line separates them. The trained tanh units are nearly saturated, so the four clusters
land near three corners of the square: the hidden layer has learned a new representation.

Try:
- Set `HIDDEN_ACTIVATION = "relu"`: how many restarts solve the problem now?
- Set `RESTARTS = 1` and change `SEED`: how often does a single run get stuck at 3/4?
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
# An oracle that does not depend on training: scan 720 directions $w$ and, for each, every
# threshold $b$, and keep the best accuracy any line reaches on these points.


# %%
def best_line_accuracy(x, y, n_directions=720):
    """The highest accuracy of any rule `w.x + b > 0`, scanning directions and thresholds."""
    angles = np.linspace(0.0, 2.0 * np.pi, n_directions, endpoint=False)
    best = 0.0
    for angle in angles:
        projection = x @ np.array([np.cos(angle), np.sin(angle)])
        labels = y[np.argsort(projection)]
        # Threshold after the first i sorted points: predict 0 below it, 1 above it.
        zeros_below = np.concatenate([[0], np.cumsum(labels == 0)])
        ones_above = np.concatenate([[0], np.cumsum(labels[::-1] == 1)])[::-1]
        best = max(best, float(np.max(zeros_below + ones_above)) / len(y))
    return best


best_line = best_line_accuracy(x, y)
print(f"best accuracy of any line: {best_line:.3f}")

# %% [markdown]
# ## A linear model, trained
# Logistic regression, $p(y = 1 \mid x) = \sigma(w^\top x + b)$, trained by full-batch Adam on
# the binary cross-entropy. `fit_fast` is `model.fit` that runs all the epochs in one compiled
# call (Keras' per-epoch overhead would otherwise dominate this tiny model).

# %%
keras.utils.set_random_seed(SEED)
linear = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1, activation="sigmoid")])
linear.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="binary_crossentropy")
fit_fast(linear, x, y, epochs=EPOCHS, every=EPOCHS, seed=SEED)  # one compiled call
linear_accuracy = float(np.mean((linear.predict(x, verbose=0)[:, 0] > 0.5) == y))
print(f"linear model accuracy: {linear_accuracy:.3f}")

# %% [markdown]
# ## One hidden layer
# $h = \tanh(W_1^\top x + b_1) \in \mathbb R^2$, $\;p(y=1 \mid x) = \sigma(w_2^\top h + b_2)$.
# Its loss is not convex: from some initializations gradient descent stalls in a local minimum
# that gets three corners right. So we train `RESTARTS` independent copies and keep the one
# with the lowest training loss.
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
    f"XOR ({N_POINTS} points): linear model vs one hidden layer; best any line can do: "
    f"{best_line:.2f}"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "linear_accuracy": linear_accuracy,
    "best_line_accuracy": best_line,
    "mlp_accuracy": mlp_accuracy,
    "restarts": RESTARTS,
    "restarts_solved": int(np.sum(accuracies == 1.0)),
    "mlp_train_loss": float(losses[best]),
}
for key, value in SUMMARY.items():
    print(f"{key:>20s}: {value:.4g}" if isinstance(value, float) else f"{key:>20s}: {value}")
