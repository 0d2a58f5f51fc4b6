"""
Residual connections: a 32-layer network that trains, and one that does not
============================================================================

A deep plain ReLU network (32 hidden layers, Keras' default Glorot initialization) is compared
with the same network plus identity skip connections, h_l = h_{l-1} + alpha * F_l(h_{l-1}),
with the branches scaled by alpha = 1/sqrt(L): signal variance and gradient norms at
initialization, each against the variance recursion of lecture 08, and the training loss after
the same number of steps.

The figure shows (left) the mean square activation per layer, measured (markers) and predicted
(dashed): the plain network halves it at every layer, the unscaled residual network multiplies
it by 3/2, the scaled one by 1 + 1/(2L), a total growth of at most e^(1/2) = 1.65; (middle) the
norm of the loss gradient with respect to each layer's weights, tiny for the plain network,
at least a thousand times larger (about 10^5 here) and nearly the same in every hidden layer
for the residual one; (right) the training loss: the residual network learns the digits, the
plain one stays near log 10, the loss of a constant prediction.

This script takes the gradients with TensorFlow's `tf.GradientTape` (TensorFlow backend).

Try:
- Pass `kernel_initializer="he_normal"` to the hidden `Dense` layers in `network`: the plain
  network's signal no longer vanishes (lecture 08); does it train now?
- Set `ALPHA_POWER = 0` (alpha = 1): the residual network's activations grow like 1.5^l.
- Set `DEPTH = 8`: how much of the plain network's problem remains?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits
from common.plotting import use_course_style
from common.training import fit_fast

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

DEPTH = 8 if SMOKE else 32  # hidden layers L
WIDTH = 64  # units per hidden layer
ALPHA_POWER = 0.5  # residual branches scaled by alpha = L^(-ALPHA_POWER)
REPEATS = 1  # independent networks of each kind (trained side by side)
EPOCHS = 10 if SMOKE else 150  # full-batch steps
LEARNING_RATE = 0.05  # SGD with momentum 0.9
ALPHA = DEPTH**-ALPHA_POWER

# %% [markdown]
# ## Data: the 8 x 8 digits as 64-vectors, centred
# Subtracting the mean digit makes every first-layer unit change sign across the inputs, so
# that its pre-activations are symmetric about zero, as the recursion below assumes. (With the
# raw pixels, all in [0, 1], a unit is positive for almost all digits or for almost none.)

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(seed=SEED)
x, y = split.x_train - split.x_train.mean(axis=0), split.y_train

# %% [markdown]
# ## The networks and the variance recursion
# Both networks start with $h_0 = W_0 x$ and end with a softmax read-out of $\mathrm{relu}(h_L)$.
# In between, with $F_l(h) = W_l\, \mathrm{relu}(h)$,
# $$\text{plain: } h_l = F_l(h_{l-1}), \qquad \text{residual: } h_l = h_{l-1} + \alpha
# F_l(h_{l-1}).$$
# Keras' default Glorot initialization draws $W_l$ with variance $2 / (n_{\text{in}} +
# n_{\text{out}}) = 1/n$ for square layers. For zero-mean symmetric pre-activations with mean
# square $q$, $\mathbb E\, \mathrm{relu}(h)^2 = q/2$, so $F_l(h)$ has mean square $n \cdot
# \frac1n \cdot \frac q2 = q/2$, and it is uncorrelated with $h$ ($W_l$ has mean zero):
# $$q_l^{\text{plain}} = \tfrac12 q_{l-1}, \qquad q_l^{\text{res}} = \left(1 +
# \tfrac{\alpha^2}{2}\right) q_{l-1}.$$
# After $L = 32$ layers the plain signal is $2^{-32} \approx 2 \cdot 10^{-10}$ of its input
# scale. With $\alpha = 1$ the residual signal grows like $1.5^l$; with $\alpha = 1/\sqrt L$ it
# grows like $(1 + \frac1{2L})^l \le e^{l/(2L)} \le e^{1/2}$: at most linearly in $l$ (a
# convex function below its chord), by a factor 1.65 at most.


# %%
def network(inputs, kind, alpha, name):
    """Returns the softmax output and the list of pre-activations h_0, ..., h_L."""
    h = keras.layers.Dense(WIDTH)(inputs)
    hidden = [h]
    for _ in range(DEPTH):
        branch = keras.layers.Dense(WIDTH)(keras.layers.Activation("relu")(h))
        h = branch if kind == "plain" else h + alpha * branch
        hidden.append(h)
    output = keras.layers.Dense(10, activation="softmax", name=name)(
        keras.layers.Activation("relu")(h)
    )
    return output, hidden


inputs = keras.Input((64,))
KINDS = {"plain": ("plain", 1.0), "residual": ("residual", ALPHA)}
names, outputs, hiddens = [], [], {}
for label, (kind, alpha) in KINDS.items():
    for r in range(REPEATS):
        output, hidden = network(inputs, kind, alpha, f"{label}_{r}")
        names.append(f"{label}_{r}")
        outputs.append(output)
        hiddens[f"{label}_{r}"] = hidden
# Unscaled residual networks (alpha = 1), for the variance at initialization only.
for r in range(REPEATS):
    hiddens[f"unscaled_{r}"] = network(inputs, "residual", 1.0, f"unscaled_{r}")[1]

model = keras.Model(inputs, outputs)
model.compile(
    optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=0.9),
    loss=["sparse_categorical_crossentropy"] * len(names),
)

# %% [markdown]
# ## At initialization: the signal and the gradients
# $q_l$ is measured as the mean of $h_l^2$ over the units, the training digits and the
# `REPEATS` networks of a kind; the prediction starts from the measured $q_0$.

# %%
probe = keras.Model(inputs, hiddens)
states = probe.predict(x, batch_size=len(x), verbose=0)
q = {}
for label in ("plain", "residual", "unscaled"):
    per_layer = [
        np.mean([np.mean(states[f"{label}_{r}"][layer] ** 2) for r in range(REPEATS)])
        for layer in range(DEPTH + 1)
    ]
    q[label] = np.array(per_layer)
layers = np.arange(DEPTH + 1)
predicted = {
    "plain": q["plain"][0] * 0.5**layers,
    "residual": q["residual"][0] * (1 + ALPHA**2 / 2) ** layers,
    "unscaled": q["unscaled"][0] * 1.5**layers,
}

loss_fn = keras.losses.SparseCategoricalCrossentropy()
with tf.GradientTape() as tape:
    probabilities = model(x)
    losses = [loss_fn(y, p) for p in probabilities]
    total = tf.add_n(losses)
gradients = tape.gradient(total, model.trainable_weights)
grad_of = dict(zip([id(w) for w in model.trainable_weights], gradients, strict=True))


def kernel_gradient_norms(name):
    """Frobenius norms of dLoss/dW_l for the hidden layers W_0 ... W_L of one network."""
    sub = keras.Model(inputs, model.get_layer(name).output)
    kernels = [w for w in sub.trainable_weights if w.path.endswith("kernel")][:-1]
    return np.array([float(tf.norm(grad_of[id(w)])) for w in kernels])


grad_norms = {
    label: np.exp(
        np.mean([np.log(kernel_gradient_norms(f"{label}_{r}")) for r in range(REPEATS)], axis=0)
    )
    for label in KINDS
}

# %% [markdown]
# ## Training: the same steps for both
# Each network is a branch of one model; the gradient of the summed loss with respect to one
# branch's weights is that branch's own gradient, and SGD updates each weight separately.

# %%
# Replaces model.fit(x, [y] * 8, batch_size=len(x), epochs=EPOCHS, verbose=0): the same
# full-batch steps, recorded every 10 steps.
history = fit_fast(model, x, [y] * len(names), epochs=EPOCHS, every=10, seed=SEED)
curves = {
    label: np.mean([history[f"{label}_{r}_loss"] for r in range(REPEATS)], axis=0)
    for label in KINDS
}
final = model.predict(x, batch_size=len(x), verbose=0)
final_loss = {
    label: np.array(
        [
            -np.mean(np.log(final[names.index(f"{label}_{r}")][np.arange(len(y)), y] + 1e-12))
            for r in range(REPEATS)
        ]
    )
    for label in KINDS
}
print({label: np.round(v, 3).tolist() for label, v in final_loss.items()})

# %% [markdown]
# ## Figure

# %%
use_course_style()
fig, (ax_q, ax_g, ax_loss) = plt.subplots(1, 3, figsize=(18, 5.6))
styles = {
    "plain": ("tab:red", "plain"),
    "unscaled": ("tab:gray", r"residual, $\alpha = 1$"),
    "residual": ("tab:blue", rf"residual, $\alpha = 1/\sqrt{{{DEPTH}}}$"),
}
for label, (color, text) in styles.items():
    ax_q.semilogy(layers, q[label] / q[label][0], "o", color=color, markersize=4, label=text)
    ax_q.semilogy(layers, predicted[label] / q[label][0], "--", color=color, linewidth=1.2)
ax_q.set(
    xlabel="layer l",
    ylabel=r"mean square activation $q_l / q_0$",
    title="Signal at initialization (dashed: recursion)",
)
ax_q.legend()
for label in KINDS:
    color, text = styles[label]
    ax_g.semilogy(np.arange(DEPTH + 1), grad_norms[label], "o-", color=color, label=text)
ax_g.set(
    xlabel="layer l",
    ylabel=r"$\|\partial \mathrm{loss} / \partial W_l\|_F$",
    title="Gradient norms at initialization",
)
ax_g.legend()
for label in KINDS:
    color, text = styles[label]
    ax_loss.plot(history["epoch"], curves[label], "o-", color=color, label=text)
ax_loss.axhline(np.log(10), color="gray", linestyle=":", label="log 10 (constant prediction)")
ax_loss.set(
    xlabel="full-batch SGD step",
    ylabel="training cross-entropy",
    title="Training with the same budget",
)
ax_loss.legend()
fig.suptitle(
    f"{DEPTH} hidden layers of width {WIDTH}, Glorot initialization, "
    f"{REPEATS} network(s) of each kind"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
growth_measured = q["residual"][-1] / q["residual"][0]
growth_predicted = (1 + ALPHA**2 / 2) ** DEPTH
SUMMARY = {
    "depth": DEPTH,
    "first_layer_grad_ratio": float(grad_norms["plain"][0] / grad_norms["residual"][0]),
    "residual_grad_spread": float(grad_norms["residual"].max() / grad_norms["residual"].min()),
    "plain_final_loss": float(final_loss["plain"].mean()),
    "residual_final_loss": float(final_loss["residual"].mean()),
    "max_paired_loss_ratio": float((final_loss["residual"] / final_loss["plain"]).max()),
    "residual_growth_measured": float(growth_measured),
    "residual_growth_predicted": float(growth_predicted),
    "residual_growth_rel_error": float(abs(growth_measured / growth_predicted - 1)),
    "plain_decay_measured": float(q["plain"][-1] / q["plain"][0]),
    "plain_decay_predicted": float(0.5**DEPTH),
    "unscaled_growth_measured": float(q["unscaled"][-1] / q["unscaled"][0]),
    "unscaled_growth_predicted": float(1.5**DEPTH),
}
for key, value in SUMMARY.items():
    print(f"{key:>26s}: {value:.4g}" if isinstance(value, float) else f"{key:>26s}: {value}")
