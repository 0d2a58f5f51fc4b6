"""
Activation and gradient histograms per layer: Glorot against the naive initialization
=====================================================================================

A 5-layer tanh network on the digits, at initialization, in the style of Glorot and Bengio
(2010, Figures 6 and 7): the distribution of the activations tanh(z_l) and of the
back-propagated gradients dL/dz_l in every layer, for the naive U[-1/sqrt(n), 1/sqrt(n)] and for
Glorot's U[-sqrt(6/(n_in + n_out)), +sqrt(6/(n_in + n_out))].

Left column naive, right column Glorot; top row the activations, bottom row the gradients; one
curve per layer (normalized histograms). With the naive initialization every layer shrinks the
activations (variance factor at most 1/3 per layer) and the gradients shrink on their way down
to the first layer; with Glorot's both keep most of their spread from layer to layer.
Needs the TensorFlow backend: the gradients with respect to the pre-activations come from
`tf.GradientTape`.

Try:
- Set `DEPTH = 10`: how far apart are the first and last histograms now, for each initializer?
- Set `ACTIVATION = "relu"` (and replace Glorot by `keras.initializers.HeUniform`): which
  curves collapse now?
- Use `keras.initializers.RandomUniform(-1, 1)`: saturation, activations piling up at +-1.
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

DEPTH = 5  # hidden layers, as in Glorot and Bengio's Figures 6 and 7
ACTIVATION = "tanh"  # of the hidden layers (any name keras.activations.get knows)
WIDTH = 64 if SMOKE else 500  # units per hidden layer
N_EXAMPLES = 200 if SMOKE else None  # digits the statistics are measured on (None: all)
BINS = 120

# %% [markdown]
# ## Data
# The 8x8 digits (the training part of the split), every pixel standardized to mean 0 and
# variance 1 (constant pixels stay 0), so that the input variance is known: $E[x^2] \approx 1$.

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(seed=SEED)
x = split.x_train[:N_EXAMPLES]
y = split.y_train[:N_EXAMPLES]
std = x.std(axis=0)
x = ((x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)).astype("float32")
print(f"inputs {x.shape}, mean square {np.mean(x**2):.3f}")

# %% [markdown]
# ## Two initializers
# The naive heuristic of the time, $w \sim U[-1/\sqrt{n_{in}}, 1/\sqrt{n_{in}}]$, has
# $\mathrm{Var}[w] = 1/(3 n_{in})$: in Keras' terms `VarianceScaling(scale=1/3, mode="fan_in",
# distribution="uniform")` (its limit is $\sqrt{3 \cdot \mathrm{scale}/n}$). For tanh near 0,
# $\tanh z \approx z$, so each layer multiplies the variance by $n \mathrm{Var}[w] = 1/3$
# forwards, and the gradients by the same factor backwards; since $\tanh^2 z \le z^2$ and
# $\tanh'(z)^2 \le 1$, these factors are upper bounds: over the four layers from 1 to 5 the
# spread (standard deviation) can shrink to at most $(1/3)^{4/2} = 1/9$. Glorot's
# $\mathrm{Var}[w] = 2/(n_{in} + n_{out})$, `GlorotUniform()`, makes the forward factor
# $n_{in}\mathrm{Var}[w]$ and the backward factor $n_{out}\mathrm{Var}[w]$ both 1 when the layers
# have equal widths (and their average exactly 1 when they do not).

# %%
INITIALIZERS = {
    "naive U[-1/√n, 1/√n]": keras.initializers.VarianceScaling(
        scale=1 / 3, mode="fan_in", distribution="uniform", seed=SEED
    ),
    "Glorot uniform": keras.initializers.GlorotUniform(seed=SEED),
}


def build_model(initializer):
    """DEPTH hidden layers and a softmax layer.

    Outputs every pre-activation z_l, every activation h_l = phi(z_l) and the logits.
    """
    inputs = keras.Input(shape=(x.shape[1],))
    h, pre_activations, hidden = inputs, [], []
    for _ in range(DEPTH):
        z = keras.layers.Dense(WIDTH, kernel_initializer=initializer)(h)
        h = keras.layers.Activation(ACTIVATION)(z)
        pre_activations.append(z)
        hidden.append(h)
    logits = keras.layers.Dense(10, kernel_initializer=initializer)(h)
    return keras.Model(inputs, [*pre_activations, *hidden, logits])


# %% [markdown]
# ## Activations and back-propagated gradients
# The loss is the mean cross-entropy over the batch. We need
# $\partial L / \partial z_l$ for intermediate tensors $z_l$; Keras 3 has no backend-neutral way
# to differentiate with respect to them, so this cell uses TensorFlow's `tf.GradientTape` (with
# JAX it would be `jax.grad`, with PyTorch `autograd`).

# %%
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
activations, gradients = {}, {}
for name, initializer in INITIALIZERS.items():
    keras.utils.set_random_seed(SEED)
    model = build_model(initializer)
    with tf.GradientTape() as tape:
        outputs = model(x)
        pre_activations, hidden, logits = outputs[:DEPTH], outputs[DEPTH:-1], outputs[-1]
        loss = loss_fn(y, logits)
    grads = tape.gradient(loss, pre_activations)
    activations[name] = [np.asarray(h).ravel() for h in hidden]
    gradients[name] = [np.asarray(g).ravel() for g in grads]
    print(f"{name}: loss {float(loss):.3f}")
    for layer in range(DEPTH):
        print(
            f"  layer {layer + 1}: std {ACTIVATION}(z) {activations[name][layer].std():.3g},"
            f" std dL/dz {gradients[name][layer].std():.3g}"
        )

act_std = {name: np.array([a.std() for a in acts]) for name, acts in activations.items()}
grad_std = {name: np.array([g.std() for g in grads]) for name, grads in gradients.items()}

# %% [markdown]
# ## Figure: histograms per layer (after Glorot and Bengio, 2010)

# %%
use_course_style()
fig, axes = plt.subplots(2, 2, figsize=(14, 9.5), sharey="row")
colors = plt.cm.viridis(np.linspace(0.0, 0.85, DEPTH))
grad_limit = 4 * max(s.max() for s in grad_std.values())  # a shared gradient axis
# tanh lies in [-1, 1]; other activations get an axis from their spread
act_limit = 1.0 if ACTIVATION == "tanh" else 4 * max(s.max() for s in act_std.values())
negative = min(a.min() for acts in activations.values() for a in acts) < 0
act_range = (-act_limit if negative else 0.0, act_limit)  # ReLU: no negative side
for col, name in enumerate(INITIALIZERS):
    for row, (values, value_range) in enumerate(
        [(activations[name], act_range), (gradients[name], (-grad_limit, grad_limit))]
    ):
        edges = np.linspace(*value_range, BINS + 1)
        centers = (edges[:-1] + edges[1:]) / 2
        for layer in range(DEPTH):
            density, _ = np.histogram(values[layer], bins=edges, density=True)
            axes[row, col].plot(centers, density, color=colors[layer], label=f"layer {layer + 1}")
        axes[row, col].set_yscale("log")
    axes[0, col].set(
        title=f"{name}: activations",
        xlabel=f"activation value {ACTIVATION}($z_l$)",
        xlim=act_range,
    )
    axes[1, col].set(
        title=f"{name}: back-propagated gradients",
        xlabel="gradient value $\\partial L/\\partial z_l$",
        xlim=(-grad_limit, grad_limit),
    )
    axes[1, col].ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
for row in range(2):
    axes[row, 0].set_ylabel("density (log scale)")
axes[0, 1].legend(loc="upper right")
fig.suptitle(
    f"A {ACTIVATION} network at initialization ({DEPTH} layers of {WIDTH}, {len(x)} digits): "
    "naive against Glorot initialization"
)
plt.show()

# %% [markdown]
# ## Summary
# Spread ratios: activations last layer / first layer, gradients first layer / last layer.

# %%
naive, glorot = INITIALIZERS
SUMMARY = {
    "act_std_ratio_naive": float(act_std[naive][-1] / act_std[naive][0]),
    "act_std_ratio_glorot": float(act_std[glorot][-1] / act_std[glorot][0]),
    "grad_std_ratio_naive": float(grad_std[naive][0] / grad_std[naive][-1]),
    "grad_std_ratio_glorot": float(grad_std[glorot][0] / grad_std[glorot][-1]),
    "act_std_layer1_naive": float(act_std[naive][0]),
    "act_std_layer1_glorot": float(act_std[glorot][0]),
}
for key, value in SUMMARY.items():
    print(f"{key:>24s}: {value:.4g}" if isinstance(value, float) else f"{key:>24s}: {value}")
