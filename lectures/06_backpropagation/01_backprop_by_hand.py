"""
Backpropagation by hand: NumPy gradients equal the tape's and finite differences'
=================================================================================

A forward and a backward pass for an L-layer tanh MLP with a softmax cross-entropy loss,
written in NumPy (float64) on the weights of a Keras model, gives the same gradient as
TensorFlow's `tf.GradientTape` and as central finite differences, layer by layer.

The figure shows, for every layer, the relative error of the hand-written gradient against the
tape (float64 round-off, about 1e-16) and against central finite differences (limited by the
step h: truncation error h^2 and cancellation error eps/h, about 1e-9), with the thresholds
the lesson claims, and a scatter of every checked partial derivative: its absolute error
against the finite difference, |backpropagation - central difference|, against its size
|dL/dtheta_k|. Look for the error staying near eps L / h whatever the size of the derivative.
Needs the TensorFlow backend: the tape (`tf.GradientTape`) is the oracle of the lesson.

Try:
- Set `ACTIVATION = "relu"`: the tape still agrees to round-off, but finite differences get
  worse when a step h moves a pre-activation across the kink at 0.
- Change `FD_STEP` to 1e-2 and to 1e-10: the error grows as h^2, then as eps/h.
- Add a layer to `HIDDEN` and derive by hand which line of the backward pass changes (none).
"""

# %%
import os
import time

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

N_EXAMPLES = 200  # one batch of digits: the loss is the mean over it
HIDDEN = (32, 32, 32)  # hidden widths; L = len(HIDDEN) + 1 layers
ACTIVATION = "tanh"  # smooth, so that finite differences are accurate everywhere
FD_STEP = 1e-5  # h of the central difference, about the cube root of float64's eps
FD_MAX_PER_LAYER = 20 if SMOKE else 100_000  # partial derivatives checked per layer

# %% [markdown]
# ## Data and a Keras model
# The 8x8 digits, pixels in [0, 1], labels 0..9. The model maps $a^0 = x$ through
# $z^l = a^{l-1} W^l + b^l$, $a^l = \tanh(z^l)$ for $l < L$, and returns the logits $z^L$.
# Keras stores a kernel $W^l$ of shape (fan_in, fan_out) and multiplies rows: $x W$, not $W x$.
# The biases are drawn at random so that their gradients are checked at a generic point too.
# Every layer and the loss compute in float64 (`dtype="float64"`), so that the tape's gradient
# is exact to float64 round-off; Keras' global default stays float32.

# %%
keras.utils.set_random_seed(SEED)
rng = np.random.default_rng(SEED)
split = load_digits(seed=SEED)
x = split.x_train[:N_EXAMPLES].astype(np.float64)
y = split.y_train[:N_EXAMPLES]
n_classes = 10


def dense(width, activation=None):
    """A float64 Dense layer with Glorot-uniform kernel and N(0, 0.1^2) biases."""
    bias_init = keras.initializers.RandomNormal(0.0, 0.1)  # a new initializer for every layer
    return keras.layers.Dense(width, activation, bias_initializer=bias_init, dtype="float64")


model = keras.Sequential(
    [keras.Input(shape=(x.shape[1],), dtype="float64")]
    + [dense(width, ACTIVATION) for width in HIDDEN]
    + [dense(n_classes)]
)
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype="float64")
n_layers = len(model.layers)
print(f"L = {n_layers} layers, {model.count_params():,} parameters, float64 weights")

# %% [markdown]
# ## The forward pass in NumPy
# The loss is the mean cross-entropy of the softmax,
# $\mathcal L = \frac1n \sum_{i=1}^n \big(\log \sum_k e^{z^L_{ik}} - z^L_{i y_i}\big)$.
# The forward pass keeps every $a^l$ and $z^l$: the backward pass needs them.

# %%
weights = [layer.kernel.numpy() for layer in model.layers]  # copies of W^1 .. W^L
biases = [layer.bias.numpy() for layer in model.layers]
if ACTIVATION == "tanh":
    phi, dphi = np.tanh, lambda z: 1.0 - np.tanh(z) ** 2  # tanh' = 1 - tanh^2
else:  # "relu"
    phi, dphi = lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(z.dtype)


def forward(weights, biases, x, y):
    """Return the activations a^0..a^{L-1}, the pre-activations z^1..z^L and the loss."""
    activations, pre_activations = [x], []
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        z = activations[-1] @ w + b
        pre_activations.append(z)
        if layer < len(weights) - 1:
            activations.append(phi(z))
    logits = pre_activations[-1]
    shifted = logits - logits.max(axis=1, keepdims=True)  # log-sum-exp without overflow
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(len(x)), y].mean()
    return activations, pre_activations, loss


activations, pre_activations, loss_numpy = forward(weights, biases, x, y)
loss_keras = float(loss_fn(y, model(x)))
print(f"loss: NumPy {loss_numpy:.15f}, Keras {loss_keras:.15f}")

# %% [markdown]
# ## The backward pass in NumPy
# Write $\delta^l = \partial \mathcal L / \partial z^l$ (an $n \times$ width matrix). The chain
# rule, applied from the output back to the input:
#
# - output: $\delta^L = \frac1n(\mathrm{softmax}(z^L) - Y)$, with $Y$ the one-hot labels;
# - weights: $\partial \mathcal L / \partial W^l = (a^{l-1})^\top \delta^l$,
#   $\partial \mathcal L / \partial b^l = \mathbf 1^\top \delta^l$ (column sums);
# - one layer down: $\delta^{l-1} = (\delta^l (W^l)^\top) \odot \varphi'(z^{l-1})$.
#
# **Cost.** The forward pass does one matrix product per layer, $a^{l-1} W^l$: $n\,d_{l-1}d_l$
# multiply-adds. The backward pass does two per layer, $(a^{l-1})^\top \delta^l$ and
# $\delta^l (W^l)^\top$, each as large (the second is not needed for $l = 1$): one backward
# pass costs about *two* forward passes, and gives all the partial derivatives at once, where
# finite differences need two forward passes per parameter.


# %%
def backward(weights, activations, pre_activations, y):
    """Return the gradients (dL/dW^l, dL/db^l) for l = 1..L by the chain rule."""
    logits = pre_activations[-1]
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    one_hot = np.eye(logits.shape[1])[y]
    delta = (probs - one_hot) / len(y)  # delta^L
    grads_w, grads_b = [], []
    for layer in reversed(range(len(weights))):
        grads_w.insert(0, activations[layer].T @ delta)
        grads_b.insert(0, delta.sum(axis=0))
        if layer > 0:
            delta = (delta @ weights[layer].T) * dphi(pre_activations[layer - 1])
    return grads_w, grads_b


hand_w, hand_b = backward(weights, activations, pre_activations, y)

# %% [markdown]
# ## Oracle 1: TensorFlow's tape
# `tf.GradientTape` records the operations of the forward pass and replays their local
# derivatives backwards (reverse-mode automatic differentiation): the same algorithm, written
# once for every operation instead of once per network.

# %%
with tf.GradientTape() as tape:
    loss_tape = loss_fn(y, model(x))
tape_grads = tape.gradient(loss_tape, model.trainable_variables)  # W^1, b^1, W^2, b^2, ...
tape_w = [g.numpy() for g in tape_grads[0::2]]
tape_b = [g.numpy() for g in tape_grads[1::2]]


def relative_error(a, b):
    """||a - b|| / ||b|| over all entries (the Euclidean norm of the flattened arrays)."""
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def layer_vector(grad_w, grad_b):
    return np.concatenate([grad_w.ravel(), grad_b.ravel()])


error_tape = [
    relative_error(
        layer_vector(hand_w[layer], hand_b[layer]), layer_vector(tape_w[layer], tape_b[layer])
    )
    for layer in range(n_layers)
]

# %% [markdown]
# ## Oracle 2: central finite differences
# For every parameter $\theta_k$ (or `FD_MAX_PER_LAYER` of them per layer, chosen at random),
# $\partial \mathcal L/\partial \theta_k \approx
# \frac{\mathcal L(\theta + h e_k) - \mathcal L(\theta - h e_k)}{2h}$, with error
# $O(h^2)$ from the Taylor expansion plus $O(\varepsilon / h)$ from cancellation in float64.
# This uses only the forward pass, so it checks the backward pass independently.

# %%
start = time.perf_counter()
error_fd, error_fd_estimate, hand_checked, fd_checked = [], [], [], []
for layer in range(n_layers):
    hand, estimate = [], []
    for params, grad in ((weights[layer], hand_w[layer]), (biases[layer], hand_b[layer])):
        count = min(params.size, FD_MAX_PER_LAYER)
        for k in rng.choice(params.size, size=count, replace=False):
            saved = params.flat[k]
            params.flat[k] = saved + FD_STEP
            loss_plus = forward(weights, biases, x, y)[2]
            params.flat[k] = saved - FD_STEP
            loss_minus = forward(weights, biases, x, y)[2]
            params.flat[k] = saved
            estimate.append((loss_plus - loss_minus) / (2 * FD_STEP))
            hand.append(grad.flat[k])
    hand, estimate = np.array(hand), np.array(estimate)
    error_fd.append(relative_error(hand, estimate))
    # The round-off estimate: each difference quotient is off by about eps L / h, independently
    # from entry to entry, so over m entries the error's norm is about sqrt(m) eps L / h.
    roundoff = np.sqrt(len(hand)) * np.finfo(np.float64).eps * loss_numpy / FD_STEP
    error_fd_estimate.append(roundoff / np.linalg.norm(estimate))
    hand_checked.append(hand)
    fd_checked.append(estimate)
n_checked = sum(len(h) for h in hand_checked)
print(f"{n_checked} finite differences in {time.perf_counter() - start:.1f} s")
for layer in range(n_layers):
    print(f"layer {layer + 1}: relative error vs tape {error_tape[layer]:.2e}, ", end="")
    print(f"vs finite differences {error_fd[layer]:.2e}")

# %% [markdown]
# ## Figure: the errors per layer, and every partial derivative

# %%
use_course_style()
fig, (ax_err, ax_scatter) = plt.subplots(1, 2, figsize=(14, 5.6), width_ratios=(1.3, 1))
layers = np.arange(1, n_layers + 1)
floor = 1e-18  # an exact match (error 0) is drawn at this height
ax_err.bar(layers - 0.2, np.maximum(error_tape, floor), width=0.4, label="hand vs tf.GradientTape")
ax_err.bar(
    layers + 0.2,
    np.maximum(error_fd, floor),
    width=0.4,
    label=f"hand vs central differences (h = {FD_STEP:g})",
)
ax_err.axhline(1e-12, color="C0", linestyle="--", label="claim: tape error < 1e-12")
ax_err.axhline(1e-8, color="C1", linestyle="--", label="claim: finite-difference error < 1e-8")
ax_err.axhline(
    np.finfo(np.float64).eps, color="gray", linestyle=":", label="float64 machine epsilon"
)
ax_err.set_yscale("log")
ax_err.set_ylim(floor / 2, 1e3)  # room for the legend above the bars
ax_err.set_xticks(
    layers,
    [
        f"layer {layer}\n({w.shape[0]}x{w.shape[1]})"
        for layer, w in zip(layers, weights, strict=True)
    ],
)
ax_err.set(
    ylabel=r"relative error $\|g_{hand} - g\| / \|g\|$ (log scale)",
    title="Hand-written backward pass against two oracles, per layer",
)
ax_err.legend(loc="upper center", ncol=2, fontsize=10)

# Per entry: the absolute error against the size of the derivative. The error is about
# eps * L / h for every entry (the round-off of the two losses, divided by the step), so entries
# near 0 have a large *relative* error; the claim therefore uses the norm over a layer.
for layer in range(n_layers):
    ax_scatter.loglog(
        np.abs(hand_checked[layer]),
        np.abs(hand_checked[layer] - fd_checked[layer]),
        ".",
        markersize=3,
        alpha=0.5,
        label=f"layer {layer + 1}",
    )
sizes = np.array([1e-9, 1.0])
ax_scatter.loglog(sizes, 1e-5 * sizes, "--", color="C1", label="relative error 1e-5")
cancellation = np.finfo(np.float64).eps * loss_numpy / FD_STEP  # round-off of L, divided by h
ax_scatter.axhline(cancellation, color="gray", linestyle=":", label=r"$\varepsilon\,\mathcal{L}/h$")
ax_scatter.set(
    xlabel=r"$|\partial \mathcal{L} / \partial \theta_k|$ by backpropagation",
    ylabel="|backpropagation - central difference|",
    title=f"Each of the {n_checked:,} checked partial derivatives",
)
ax_scatter.legend(loc="upper left", markerscale=4, fontsize=10)
fig.suptitle(
    f"Backpropagation by hand (float64), {n_layers}-layer {ACTIVATION} MLP on {N_EXAMPLES} digits"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "n_layers": n_layers,
    "n_parameters": int(model.count_params()),
    "n_finite_differences": int(n_checked),
    "loss_numpy_minus_keras": float(abs(loss_numpy - loss_keras)),
    "max_rel_error_tape": float(max(error_tape)),
    "max_rel_error_fd": float(max(error_fd)),
    "max_fd_error_over_roundoff": float(np.max(np.array(error_fd) / error_fd_estimate)),
    "min_fd_error_over_roundoff": float(np.min(np.array(error_fd) / error_fd_estimate)),
    "first_layer_rel_error_fd": float(error_fd[0]),
    "last_layer_rel_error_fd": float(error_fd[-1]),
}
for key, value in SUMMARY.items():
    print(f"{key:>24s}: {value:.4g}" if isinstance(value, float) else f"{key:>24s}: {value}")
