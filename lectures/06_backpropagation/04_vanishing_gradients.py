"""
Vanishing gradients: a deep sigmoid network barely trains its first layers
==========================================================================

Two deep MLPs that differ only in their activation (sigmoid or ReLU, same widths, same Glorot
initialization, same digits) are differentiated with `tf.GradientTape`: in the sigmoid network
the gradient shrinks by a roughly constant factor of about 1/4 per layer on its way back to the
input, as the mean-field recursion of the backward pass predicts; in the ReLU network the
kernels' gradients stay level.

The left panel shows the Frobenius norm of the gradient of the loss with respect to each
layer's kernel, from the input layer (1) to the output layer (L), with the factor 1/4 per
sigmoid layer drawn from the last layer down. The right panel shows the factor itself, layer
by layer: how much the backpropagated error ||dL/dz^l|| shrinks from one layer to the one
below, next to its mean-field prediction sqrt(n Var[w] E[phi'(z)^2]) and, for the sigmoid
network, the worst-case bound (1/4) ||W||_2 of the chain rule (about 1/2 here, since a
64 x 64 Glorot matrix has ||W||_2 close to 2). Look at how far the bound is from the measured
factor: the typical loss is a mean-field effect, not the worst case.
Needs the TensorFlow backend: the lesson is `tf.GradientTape`.

Try:
- Add "tanh" to `ACTIVATIONS`: tanh'(0) = 1, so its factor is about 1 at initialization.
- Double `DEPTH`: how many orders of magnitude does the first layer's gradient lose?
- Use `kernel_initializer="he_normal"` in the hidden `Dense` layers: the ReLU network's error
  signal ||dL/dz^l|| stops shrinking (with Glorot it loses a factor sqrt(2) per layer while the
  activations grow by the same factor, so the kernels' gradients stay level).
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
# $\partial\mathcal L/\partial W^l = (a^{l-1})^\top \delta^l$.
#
# **The worst case.** From $\|AB\|_F \le \|A\|_F \|B\|_2$,
# $$\|\delta^l\|_F \le \max|\varphi'(z^l)| \; \|W^{l+1}\|_2 \; \|\delta^{l+1}\|_F ,$$
# and $\sigma'(z) = \sigma(z)(1 - \sigma(z)) \le 1/4$ (equality at $z = 0$). But a square
# $n \times n$ matrix of independent entries of variance $v$ has $\|W\|_2 \approx 2\sqrt{nv}$
# (the edge of the Marchenko-Pastur law), so a $64 \times 64$ Glorot kernel ($v = 1/64$) has
# $\|W\|_2 \approx 2$, and the bound only guarantees a factor $\frac14 \cdot 2 = \frac12$ per
# layer.
#
# **The typical case (mean field).** Entry $(i, j)$ of $\delta^{l+1} (W^{l+1})^\top$ is
# $\sum_k \delta^{l+1}_{ik} W^{l+1}_{jk}$, a sum over the $n_{l+1}$ units that $z^l_j$ feeds.
# Treating the weights as independent of $\delta^{l+1}$ and of $\varphi'(z^l)$ (the
# gradient-independence assumption of mean-field theory, accurate for wide layers, as in
# lecture 08), summing the squares over the $n_l$ units of layer $l$ gives
# $$\mathbb E\,\|\delta^l\|_F^2 = n_l\,\mathrm{Var}[w^{l+1}]\;
#   \mathbb E[\varphi'(z^l)^2]\;\|\delta^{l+1}\|_F^2 .$$
# For a square Glorot kernel $n_l \mathrm{Var}[w] = 1$, so the factor per layer is
# $\sqrt{\mathbb E[\varphi'(z)^2]}$. For the sigmoid the pre-activations stay close to 0 at
# initialization, where $\sigma' \approx 1/4$: a factor just below $1/4$, and after $L - 1$
# layers about $4^{-(L-1)}$. For ReLU, $\varphi' \in \{0, 1\}$ and about half of the units are
# active: $\mathbb E[\varphi'^2] = \frac12$, a factor $1/\sqrt2$ per layer, while the
# activations $a^{l-1}$ grow by $\sqrt2$ per layer towards the input, so the kernels' gradients
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

# The derivative of each activation, in NumPy, for the mean-field prediction.
DERIVATIVES = {
    "sigmoid": lambda z: (1.0 / (1.0 + np.exp(-z))) * (1.0 - 1.0 / (1.0 + np.exp(-z))),
    "relu": lambda z: (z > 0).astype(z.dtype),
    "tanh": lambda z: 1.0 - np.tanh(z) ** 2,
}
for activation in ACTIVATIONS:
    if activation not in DERIVATIVES:
        raise ValueError(f"activation {activation!r} not supported, use one of {list(DERIVATIVES)}")


def deep_mlp(activation):
    inputs = keras.Input(shape=(x.shape[1],))
    pre_activations, h = [], inputs
    for _ in range(DEPTH):
        z = keras.layers.Dense(WIDTH)(h)  # Glorot uniform kernel, zero bias (Keras' default)
        pre_activations.append(z)
        h = keras.layers.Activation(activation)(z)
    pre_activations.append(keras.layers.Dense(10)(h))  # logits
    return keras.Model(inputs, pre_activations)


def gradient_norms(model, activation):
    """Per layer: ||dL/dW^l||_F, ||dL/dz^l||_F, ||W^l||_2, and the mean-field factor.

    The mean-field factor of layer l < L is sqrt(n_l Var[w^{l+1}] mean(phi'(z^l)^2)), with the
    variance of the kernel's entries and the mean of phi'^2 over the batch and the units.
    """
    kernels = [layer.kernel for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    with tf.GradientTape() as tape:
        pre_activations = model(x)
        loss = loss_fn(y, pre_activations[-1])
    grad_kernels, grad_z = tape.gradient(loss, [kernels, pre_activations])
    kernel_values = [k.numpy().astype(np.float64) for k in kernels]
    derivative = DERIVATIVES[activation]
    mean_field = np.array(
        [
            np.sqrt(w.shape[0] * np.mean(w**2) * np.mean(derivative(z.numpy().astype(float)) ** 2))
            for w, z in zip(kernel_values[1:], pre_activations[:-1], strict=True)
        ]
    )
    return (
        np.array([np.linalg.norm(g) for g in grad_kernels]),
        np.array([np.linalg.norm(g) for g in grad_z]),
        np.array([np.linalg.norm(w, ord=2) for w in kernel_values]),
        mean_field,
    )


results = {}
for activation in ACTIVATIONS:
    keras.utils.set_random_seed(SEED)  # the same initial kernels for both networks
    results[activation] = gradient_norms(deep_mlp(activation), activation)

n_layers = DEPTH + 1
layers = np.arange(1, n_layers + 1)
for activation, (grad_w, *_) in results.items():
    print(
        f"{activation:>8s}: ||dL/dW^l|| from layer 1 to {n_layers}: "
        + " ".join(f"{value:.1e}" for value in grad_w)
    )

# %% [markdown]
# ## The factor per layer
# The gain $\|\delta^l\|_F / \|\delta^{l+1}\|_F$ for $l = 1, \dots, L-1$, its mean-field
# prediction, and for the sigmoid network the worst-case bound $\frac14 \|W^{l+1}\|_2$. Layers
# $1, \dots, L-2$ feed square $64 \times 64$ kernels; the last factor comes through the
# $64 \times 10$ output kernel, whose $n_l \mathrm{Var}[w] = 64 \cdot 2/74 \approx 1.7$ makes
# it larger, so the averages below are geometric means over the square layers.


# %%
def geometric_mean(values):
    return float(np.exp(np.mean(np.log(values))))


gain = {act: res[1][:-1] / res[1][1:] for act, res in results.items()}
mean_field = {act: res[3] for act, res in results.items()}
bound_sigmoid = 0.25 * results["sigmoid"][2][1:]
square = slice(0, n_layers - 2)  # factors through the square hidden-to-hidden kernels
mean_gain = {act: geometric_mean(g[square]) for act, g in gain.items()}
gain_over_mean_field = {act: geometric_mean(gain[act] / mean_field[act]) for act in gain}
hidden_spectral_norms = results["sigmoid"][2][1:-1]  # the square kernels W^2 .. W^{L-1}
for act in ACTIVATIONS:
    print(
        f"{act:>8s}: geometric mean factor per layer {mean_gain[act]:.3f}, "
        f"measured / mean field {gain_over_mean_field[act]:.3f}"
    )
print(f"||W||_2 of the square kernels: {np.round(hidden_spectral_norms, 2)}")

# %% [markdown]
# ## Figure: gradient norms by depth, and the factor per layer

# %%
use_course_style()
fig, (ax_norm, ax_gain) = plt.subplots(1, 2, figsize=(15, 6))
colors = {"sigmoid": "C3", "relu": "C0", "tanh": "C2"}
for activation, (grad_w, *_) in results.items():
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
        label=f"{activation}: measured " + r"$\|\delta^l\| / \|\delta^{l+1}\|$",
    )
    ax_gain.semilogy(
        inner,
        mean_field[activation],
        "--",
        color=colors[activation],
        linewidth=2.5,
        alpha=0.6,
        label=f"{activation}: mean field "
        + r"$\sqrt{n_l \mathrm{Var}[w]\, \mathbb{E}[\varphi'(z^l)^2]}$",
    )
ax_gain.semilogy(
    inner,
    bound_sigmoid,
    "x",
    color=colors["sigmoid"],
    markersize=10,
    label=r"sigmoid: worst-case bound $\frac{1}{4}\|W^{l+1}\|_2$",
)
ax_gain.axhline(0.25, color="gray", linestyle=":", label=r"$\max \sigma' = 1/4$")
ax_gain.axhline(1 / np.sqrt(2), color="C0", linestyle=":", label=r"$1/\sqrt{2}$ (ReLU, mean field)")
ax_gain.axhline(1.0, color="black", linewidth=1)
ax_gain.set(
    xlabel="layer l",
    ylabel="factor from layer l + 1 down to l (log scale)",
    title="How much the error signal shrinks per layer",
)
ax_gain.set_ylim(0.1, 5)
ax_gain.legend(loc="upper left", fontsize=10)
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
# W^L\|_F$; the theory predicts about $4^{-(L-1)}$ for the sigmoid network and order one for
# ReLU. `mean_gain` is the geometric mean factor over the square layers, `gain_over_mean_field`
# the geometric mean of measured over predicted factors over all layers.

# %%
SUMMARY = {
    "n_layers": n_layers,
    "sigmoid_first_over_last": float(results["sigmoid"][0][0] / results["sigmoid"][0][-1]),
    "relu_first_over_last": float(results["relu"][0][0] / results["relu"][0][-1]),
    "quarter_to_the_L_minus_1": 0.25 ** (n_layers - 1),
    **{f"{act}_mean_gain": mean_gain[act] for act in ACTIVATIONS},
    **{f"{act}_gain_over_mean_field": gain_over_mean_field[act] for act in ACTIVATIONS},
    "sigmoid_max_gain_over_bound": float(np.max(gain["sigmoid"] / bound_sigmoid)),
    "hidden_kernel_norm_min": float(np.min(hidden_spectral_norms)),
    "hidden_kernel_norm_max": float(np.max(hidden_spectral_norms)),
}
for key, value in SUMMARY.items():
    print(f"{key:>30s}: {value:.4g}" if isinstance(value, float) else f"{key:>30s}: {value}")
