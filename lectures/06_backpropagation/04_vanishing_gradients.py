"""
Vanishing gradients: a deep sigmoid network barely trains its first layers
==========================================================================

Two deep MLPs that differ only in their activation (sigmoid or ReLU, same widths, same Glorot
initialization, same digits) are differentiated with `tf.GradientTape`: in the sigmoid network
the gradient shrinks by a roughly constant factor of about 1/4 per layer on its way back to the
input; in the ReLU network it does not.

The left panel shows the Frobenius norm of the gradient of the loss with respect to each
layer's kernel, from the input layer (1) to the output layer (L), with the theoretical factor
1/4 per sigmoid layer (the maximum of the sigmoid's derivative) drawn from the last layer down.
The right panel shows the factor itself, layer by layer: how much the backpropagated error
||dL/dz^l|| shrinks from one layer to the one below, and the bound (1/4) ||W||_2 that the chain
rule gives for the sigmoid network. TensorFlow is imported directly because the tape is the
lesson.

Try:
- Add "tanh" to `ACTIVATIONS`: tanh'(0) = 1, so its factor is about 1 at initialization.
- Double `DEPTH`: how many orders of magnitude does the first layer's gradient lose?
- Use `kernel_initializer="he_normal"` for the ReLU network: the error signal ||dL/dz^l||
  stops shrinking too (with Glorot it loses a factor sqrt(2) per layer while the activations
  grow by the same factor, so the kernels' gradients stay level).
"""

# %%
import os

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

DEPTH = 4 if SMOKE else 15  # hidden layers; L = DEPTH + 1 kernels with the output layer
WIDTH = 64
N_EXAMPLES = 256  # one batch of digits
ACTIVATIONS = ("sigmoid", "relu")  # the lesson compares these two; add "tanh" to see a third

# %% [markdown]
# ## The mathematics
# With $z^l = a^{l-1} W^l + b^l$, $a^l = \varphi(z^l)$ and $\delta^l = \partial\mathcal L /
# \partial z^l$, backpropagation gives
# $\delta^l = (\delta^{l+1} (W^{l+1})^\top) \odot \varphi'(z^l)$ and
# $\partial\mathcal L/\partial W^l = (a^{l-1})^\top \delta^l$. Hence
# $$\|\delta^l\|_F \le \max|\varphi'(z^l)| \; \|W^{l+1}\|_2 \; \|\delta^{l+1}\|_F .$$
# For the sigmoid, $\sigma'(z) = \sigma(z)(1 - \sigma(z)) \le 1/4$ with equality at $z = 0$:
# every sigmoid layer multiplies the error signal by at most $\frac14 \|W\|_2$, and after
# $L - 1$ layers by about $4^{-(L-1)}$ when $\|W\|_2$ is of order one (Glorot). For ReLU,
# $\varphi' \in \{0, 1\}$: no such factor. With Glorot's variance $1/\text{width}$ for a
# square kernel, about half of the ReLUs are active, so on average
# $\|\delta^l\|^2 \approx \frac12 \|\delta^{l+1}\|^2$ (a factor $1/\sqrt2$ per layer), while
# the activations $a^{l-1}$ grow by $\sqrt2$ per layer towards the input: the kernels' gradients
# $(a^{l-1})^\top \delta^l$ stay level.

# %% [markdown]
# ## Data and the two networks
# Each network returns its pre-activations $z^1, \dots, z^L$ ($z^L$ are the logits), so the tape
# can give $\delta^l$ as well as the kernels' gradients.

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(seed=SEED)
x, y = split.x_train[:N_EXAMPLES], split.y_train[:N_EXAMPLES]
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def deep_mlp(activation):
    inputs = keras.Input(shape=(x.shape[1],))
    pre_activations, h = [], inputs
    for _ in range(DEPTH):
        z = keras.layers.Dense(WIDTH)(h)  # Glorot uniform kernel, zero bias (Keras' default)
        pre_activations.append(z)
        h = keras.layers.Activation(activation)(z)
    pre_activations.append(keras.layers.Dense(10)(h))  # logits
    return keras.Model(inputs, pre_activations)


def gradient_norms(model):
    """Per layer l = 1..L: ||dL/dW^l||_F, ||dL/dz^l||_F and ||W^l||_2 (largest singular value)."""
    kernels = [layer.kernel for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    with tf.GradientTape() as tape:
        pre_activations = model(x)
        loss = loss_fn(y, pre_activations[-1])
    grad_kernels, grad_z = tape.gradient(loss, [kernels, pre_activations])
    return (
        np.array([np.linalg.norm(g) for g in grad_kernels]),
        np.array([np.linalg.norm(g) for g in grad_z]),
        np.array([np.linalg.norm(k.numpy(), ord=2) for k in kernels]),
    )


results = {}
for activation in ACTIVATIONS:
    keras.utils.set_random_seed(SEED)  # the same initial kernels for both networks
    results[activation] = gradient_norms(deep_mlp(activation))

n_layers = DEPTH + 1
layers = np.arange(1, n_layers + 1)
for activation, (grad_w, _, _) in results.items():
    print(
        f"{activation:>8s}: ||dL/dW^l|| from layer 1 to {n_layers}: "
        + " ".join(f"{value:.1e}" for value in grad_w)
    )

# %% [markdown]
# ## The factor per layer
# The gain $\|\delta^l\|_F / \|\delta^{l+1}\|_F$ for $l = 1, \dots, L-1$, and for the sigmoid
# network the bound $\frac14 \|W^{l+1}\|_2$ from the inequality above.

# %%
gain = {act: res[1][:-1] / res[1][1:] for act, res in results.items()}
bound_sigmoid = 0.25 * results["sigmoid"][2][1:]
geometric_mean_gain_sigmoid = float(np.exp(np.mean(np.log(gain["sigmoid"]))))
print(f"sigmoid: geometric mean gain per layer {geometric_mean_gain_sigmoid:.3f}")

# %% [markdown]
# ## Figure: gradient norms by depth, and the factor per layer

# %%
use_course_style()
fig, (ax_norm, ax_gain) = plt.subplots(1, 2, figsize=(14, 5.6))
colors = {"sigmoid": "C3", "relu": "C0", "tanh": "C2"}
for activation, (grad_w, _, _) in results.items():
    ax_norm.semilogy(layers, grad_w, "o-", color=colors[activation], label=f"{activation} network")
last = results["sigmoid"][0][-1]
ax_norm.semilogy(
    layers,
    last * 0.25 ** (n_layers - layers),
    "--",
    color="gray",
    label=r"$\|\partial\mathcal{L}/\partial W^L\| \cdot (1/4)^{L-l}$",
)
ax_norm.set(
    xlabel="layer l (1 = input side, L = output)",
    ylabel=r"$\|\partial \mathcal{L} / \partial W^l\|_F$ (log scale)",
    title="Gradient of each layer's kernel at initialization",
)
ax_norm.legend()

inner = layers[:-1]
for activation in ACTIVATIONS:
    ax_gain.semilogy(
        inner,
        gain[activation],
        "o-",
        color=colors[activation],
        label=f"{activation}: " + r"$\|\delta^l\| / \|\delta^{l+1}\|$",
    )
ax_gain.semilogy(
    inner,
    bound_sigmoid,
    "x",
    color=colors["sigmoid"],
    markersize=10,
    label=r"bound $\frac{1}{4}\|W^{l+1}\|_2$ (sigmoid)",
)
ax_gain.axhline(0.25, color="gray", linestyle="--", label=r"$\max \sigma' = 1/4$")
ax_gain.axhline(
    1 / np.sqrt(2), color="C0", linestyle=":", label=r"$1/\sqrt{2}$ (ReLU with Glorot, on average)"
)
ax_gain.axhline(1.0, color="black", linewidth=1)
ax_gain.set(
    xlabel="layer l",
    ylabel="factor from layer l + 1 down to l (log scale)",
    title="How much the error signal shrinks per layer",
)
ax_gain.set_ylim(0.05, 5)
ax_gain.legend(loc="upper right", fontsize=10)
for ax in (ax_norm, ax_gain):
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
fig.suptitle(
    f"Vanishing gradients: {n_layers} layers of width {WIDTH}, "
    f"{' against '.join(ACTIVATIONS)}, Glorot initialization"
)
plt.show()

# %% [markdown]
# ## Summary
# `first_over_last` is $\|\partial\mathcal L/\partial W^1\|_F / \|\partial\mathcal L/\partial
# W^L\|_F$; the theory predicts about $4^{-(L-1)}$ for the sigmoid network.

# %%
SUMMARY = {
    "n_layers": n_layers,
    "sigmoid_first_over_last": float(results["sigmoid"][0][0] / results["sigmoid"][0][-1]),
    "relu_first_over_last": float(results["relu"][0][0] / results["relu"][0][-1]),
    "quarter_to_the_L_minus_1": 0.25 ** (n_layers - 1),
    "sigmoid_mean_gain_per_layer": geometric_mean_gain_sigmoid,
    "relu_mean_gain_per_layer": float(np.exp(np.mean(np.log(gain["relu"])))),
    "sigmoid_max_gain_over_bound": float(np.max(gain["sigmoid"] / bound_sigmoid)),
}
for key, value in SUMMARY.items():
    print(f"{key:>28s}: {value:.4g}" if isinstance(value, float) else f"{key:>28s}: {value}")
