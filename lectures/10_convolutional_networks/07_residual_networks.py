"""
Residual connections: a 32-layer network that trains, and one that does not
============================================================================

A deep plain ReLU network (32 hidden layers, Glorot initialization) is compared with the same
network plus identity skip connections, h_l = h_{l-1} + alpha * F_l(h_{l-1}), with the branches
scaled by alpha = 1/sqrt(L): signal variance and gradient norms at initialization, each against
the variance recursion of lecture 08, and the training loss after the same number of steps.

The figure shows (left) the mean square activation per layer, averaged over 16 independent
networks of each kind, measured (markers) and predicted (dashed): the plain network halves it at
every layer, the unscaled residual network multiplies it by 3/2, the scaled one by 1 + 1/(2L), a
total growth of at most e^(1/2) = 1.65; (middle) the norm of the loss gradient with respect to
each layer's weights, tiny for the plain network, at least a thousand times larger (10^4 to
10^5 here) and nearly the same in every hidden layer for the residual one; (right) the training
loss of the first two networks of each kind: the residual networks learn the digits, the plain
ones stay near log 10, the loss of a constant prediction.

This script takes the gradients with TensorFlow's `tf.GradientTape` (TensorFlow backend).

Try:
- Set `ALPHA_POWER = 0` (alpha = 1): the residual network's activations grow like 1.5^l.
- Set `DEPTH = 8`: how much of the plain network's problem remains?
- Set `REPLICATES = 1` and `TRAINED = 1`: how far is one network's signal growth from the
  prediction, and how far does it move when you change `SEED`?
- In `DeepStack.build`, draw the hidden matrices `w` with standard deviation sqrt(2 / n)
  (He initialization, `keras.initializers.RandomNormal(stddev=...)`): the plain network's
  signal no longer vanishes (lecture 08); does it train now?
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
from keras import ops

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

DEPTH = 8 if SMOKE else 32  # hidden layers L
WIDTH = 64  # units per hidden layer
ALPHA_POWER = 0.5  # residual branches scaled by alpha = L^(-ALPHA_POWER)
REPLICATES = 4 if SMOKE else 16  # independent networks of each kind at initialization
TRAINED = 2  # of these, the first TRAINED of each kind are trained
N_TRAIN = 100 if SMOKE else 200  # training digits (a stratified subset)
EPOCHS = 10 if SMOKE else 80  # full-batch steps
LEARNING_RATE = 0.05  # SGD with momentum 0.9
ALPHA = DEPTH**-ALPHA_POWER
if not 1 <= TRAINED <= REPLICATES:
    raise ValueError(f"TRAINED must be in [1, REPLICATES = {REPLICATES}], got {TRAINED}")

# %% [markdown]
# ## Data: `N_TRAIN` of the 8 x 8 digits as 64-vectors, centred
# Subtracting the mean digit makes every first-layer unit change sign across the inputs, so
# that its pre-activations are symmetric about zero, as the recursion below assumes. (With the
# raw pixels, all in [0, 1], a unit is positive for almost all digits or for almost none.)

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(n_train=N_TRAIN, seed=SEED)
x, y = split.x_train - split.x_train.mean(axis=0), split.y_train

# %% [markdown]
# ## The networks and the variance recursion
# Both networks start with $h_0 = W_0 x + b_0$ and end with a softmax read-out of
# $\mathrm{relu}(h_L)$. In between, with $F_l(h) = W_l\, \mathrm{relu}(h) + b_l$,
# $$\text{plain: } h_l = F_l(h_{l-1}), \qquad \text{residual: } h_l = h_{l-1} + \alpha
# F_l(h_{l-1}).$$
# Glorot's uniform initialization (Keras' default for `Dense`) draws $W_l$ with variance
# $2 / (n_{\text{in}} + n_{\text{out}}) = 1/n$ for square layers; the biases start at zero. For
# zero-mean symmetric pre-activations with mean square $q$, $\mathbb E\, \mathrm{relu}(h)^2 =
# q/2$, so $F_l(h)$ has mean square $n \cdot \frac1n \cdot \frac q2 = q/2$, and it is
# uncorrelated with $h$ ($W_l$ has mean zero):
# $$q_l^{\text{plain}} = \tfrac12 q_{l-1}, \qquad q_l^{\text{res}} = \left(1 +
# \tfrac{\alpha^2}{2}\right) q_{l-1}.$$
# After $L = 32$ layers the plain signal is $2^{-32} \approx 2 \cdot 10^{-10}$ of its input
# scale. With $\alpha = 1$ the residual signal grows like $1.5^l$; with $\alpha = 1/\sqrt L$ it
# grows like $(1 + \frac1{2L})^l \le e^{l/(2L)} \le e^{1/2}$: at most linearly in $l$ (a
# convex function below its chord), by a factor 1.65 at most.
#
# The recursion is a statement about the expectation over the weights: one network of width
# 64 realizes it only up to a finite-width fluctuation of a few percent per network. Averaging
# $q_l$ over $R$ independent networks shrinks that fluctuation like $1/\sqrt R$.
#
# ## Many networks in one layer
# `DeepStack` holds $R$ independent networks of one kind: the $L$ hidden matrices of all of
# them in one variable of shape $(R, L, n, n)$, and it loops over the depth inside `call`
# (`keras.ops.fori_loop`, compiled as one loop), multiplying each network's activations by its
# own matrix with `einsum`. This is the same
# function as $R$ separate stacks of $L + 2$ `Dense` layers, built in one step instead of
# $R (L + 2)$.


# %%
def glorot(fan_in, fan_out):
    """Keras' default Dense initializer: uniform with variance 2 / (fan_in + fan_out)."""
    limit = float(np.sqrt(6.0 / (fan_in + fan_out)))
    return keras.initializers.RandomUniform(-limit, limit)


class DeepStack(keras.layers.Layer):
    """R independent deep ReLU networks on the same inputs: (N, d) -> (N, R, classes)."""

    def __init__(self, replicates, depth, width, classes, alpha, residual, **kwargs):
        super().__init__(**kwargs)
        self.replicates, self.depth, self.width = replicates, depth, width
        self.classes, self.alpha, self.residual = classes, alpha, residual

    def build(self, input_shape):
        r, depth, n, d = self.replicates, self.depth, self.width, input_shape[-1]
        self.w_in = self.add_weight(shape=(r, d, n), initializer=glorot(d, n), name="w_in")
        self.b_in = self.add_weight(shape=(r, 1, n), initializer="zeros", name="b_in")
        self.w = self.add_weight(shape=(r, depth, n, n), initializer=glorot(n, n), name="w")
        self.b = self.add_weight(shape=(r, depth, 1, n), initializer="zeros", name="b")
        self.w_out = self.add_weight(
            shape=(r, n, self.classes), initializer=glorot(n, self.classes), name="w_out"
        )
        self.b_out = self.add_weight(shape=(r, 1, self.classes), initializer="zeros", name="b_out")

    def block(self, h, w, b):
        """One hidden layer of all R networks at once: h (R, N, n), w (R, n, n), b (R, 1, n)."""
        branch = ops.einsum("rij,rjk->rik", ops.relu(h), w) + b
        return h + self.alpha * branch if self.residual else branch

    def read_out(self, h):
        """Softmax probabilities (N, R, classes) from the last pre-activations h_L (R, N, n)."""
        logits = ops.einsum("rij,rjk->rik", ops.relu(h), self.w_out) + self.b_out
        return ops.transpose(ops.softmax(logits, axis=-1), (1, 0, 2))

    def hidden_states(self, inputs):
        """The pre-activations h_0, ..., h_L, each of shape (R, N, n), layer by layer."""
        states = [ops.einsum("ij,rjk->rik", inputs, self.w_in) + self.b_in]
        for w, b in zip(ops.unstack(self.w, axis=1), ops.unstack(self.b, axis=1), strict=True):
            states.append(self.block(states[-1], w, b))
        return states

    def call(self, inputs):
        def step(layer, h):
            w, b = ops.take(self.w, layer, axis=1), ops.take(self.b, layer, axis=1)
            return self.block(h, w, b)

        h = ops.einsum("ij,rjk->rik", inputs, self.w_in) + self.b_in
        h = ops.fori_loop(0, self.depth, step, h)  # one compiled loop, not L copies
        return self.read_out(h)


def summed_crossentropy(labels, probabilities):
    """The sum over the R networks of each one's cross-entropy: labels (N, R), probs (N, R, C).

    The networks share no weights, so the gradient of the sum with respect to network r's
    weights is the gradient of network r's own loss: each takes the SGD steps it would alone.
    """
    return ops.sum(keras.losses.sparse_categorical_crossentropy(labels, probabilities), axis=-1)


KINDS = {"plain": (1.0, False), "residual": (ALPHA, True), "unscaled": (1.0, True)}
inputs = keras.Input((64,))
stacks = {}
for label, (alpha, residual) in KINDS.items():
    keras.utils.set_random_seed(SEED + 1000 * len(stacks))  # each kind its own networks
    stacks[label] = DeepStack(REPLICATES, DEPTH, WIDTH, 10, alpha, residual, name=label)
    stacks[label].build((None, 64))
print(f"{len(KINDS)} x {REPLICATES} networks of {stacks['plain'].count_params() // REPLICATES:,}")

# %% [markdown]
# ## At initialization: the signal and the gradients
# $q_l$ is measured as the mean of $h_l^2$ over the units, the training digits and the $R$
# networks of a kind; the prediction starts from the measured $q_0$. The gradient norm of a
# layer is the geometric mean over the $R$ networks of $\lVert \partial \mathrm{loss} /
# \partial W_l \rVert_F$, where loss is the network's mean cross-entropy on the training set.

# %%
q_each = {  # (R, L + 1): mean square pre-activation per network and layer
    label: np.stack(
        [ops.convert_to_numpy(ops.mean(h**2, axis=(1, 2))) for h in stack.hidden_states(x)],
        axis=1,
    ).astype(np.float64)
    for label, stack in stacks.items()
}
q = {label: values.mean(axis=0) for label, values in q_each.items()}
layers = np.arange(DEPTH + 1)
predicted = {
    "plain": q["plain"][0] * 0.5**layers,
    "residual": q["residual"][0] * (1 + ALPHA**2 / 2) ** layers,
    "unscaled": q["unscaled"][0] * 1.5**layers,
}

labels = np.tile(y[:, None], (1, REPLICATES))
grad_norms = {}
for label in ("plain", "residual"):
    stack = stacks[label]
    with tf.GradientTape() as tape:
        total = ops.mean(summed_crossentropy(labels, stack.read_out(stack.hidden_states(x)[-1])))
    g_in, g_w = tape.gradient(total, [stack.w_in, stack.w])
    norms = np.concatenate(  # (R, L + 1): layer 0 is W_0, then W_1 ... W_L
        [
            ops.convert_to_numpy(ops.sqrt(ops.sum(g_in**2, axis=(1, 2))))[:, None],
            ops.convert_to_numpy(ops.sqrt(ops.sum(g_w**2, axis=(2, 3)))),
        ],
        axis=1,
    )
    grad_norms[label] = np.exp(np.log(norms).mean(axis=0))

# %% [markdown]
# ## Training: the same steps for both
# The first `TRAINED` networks of each kind are copied into a model with one `DeepStack` per
# kind, trained by full-batch SGD on the summed loss: every network takes its own steps.

# %%
trained = {}
for label in ("plain", "residual"):
    alpha, residual = KINDS[label]
    trained[label] = DeepStack(TRAINED, DEPTH, WIDTH, 10, alpha, residual, name=label)
    trained[label].build((None, 64))
    for target, source in zip(trained[label].weights, stacks[label].weights, strict=True):
        target.assign(source[:TRAINED])
model = keras.Model(inputs, {label: trained[label](inputs) for label in trained})
model.compile(
    optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=0.9),
    loss={label: summed_crossentropy for label in trained},
)
targets = np.tile(y[:, None], (1, TRAINED))
# Replaces model.fit(x, {"plain": targets, "residual": targets}, batch_size=len(x),
# epochs=EPOCHS, verbose=0): the same full-batch steps, recorded every 10 steps.
history = fit_fast(model, x, [targets, targets], epochs=EPOCHS, every=10, seed=SEED)
curves = {label: history[f"{label}_loss"] / TRAINED for label in trained}  # mean per network
final = model.predict(x, batch_size=len(x), verbose=0)
final_loss = {  # (TRAINED,): each network's final training cross-entropy
    label: -np.mean(np.log(np.take_along_axis(final[label], targets[..., None], -1) + 1e-12), 0)[
        :, 0
    ]
    for label in trained
}
print({label: np.round(v, 4).tolist() for label, v in final_loss.items()})

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
    title=f"Signal at initialization, mean of {REPLICATES} networks (dashed: recursion)",
)
ax_q.legend()
for label in ("plain", "residual"):
    color, text = styles[label]
    ax_g.semilogy(layers, grad_norms[label], "o-", color=color, label=text)
ax_g.set(
    xlabel="layer l",
    ylabel=r"$\|\partial \mathrm{loss} / \partial W_l\|_F$ (geometric mean)",
    title=f"Gradient norms at initialization, {REPLICATES} networks",
)
ax_g.legend()
for label in ("plain", "residual"):
    color, text = styles[label]
    ax_loss.plot(history["epoch"], curves[label], "o-", color=color, label=text)
ax_loss.axhline(np.log(10), color="gray", linestyle=":", label="log 10 (constant prediction)")
ax_loss.set(
    xlabel="full-batch SGD step",
    ylabel="training cross-entropy",
    title=f"Training with the same budget, mean of {TRAINED} networks",
)
ax_loss.legend()
fig.suptitle(
    f"{DEPTH} hidden layers of width {WIDTH}, Glorot initialization, {len(x)} training digits"
)
plt.show()

# %% [markdown]
# ## Summary
# The signal growth $q_L / q_0$ is measured on the mean over the $R$ networks; its sampling
# error is estimated from the spread of the $R$ single-network growths $g_r$: relative
# standard deviation of one network $s / \bar g$, of the mean $s / (\bar g \sqrt R)$.

# %%
growth_each = q_each["residual"][:, -1] / q_each["residual"][:, 0]
growth_measured = q["residual"][-1] / q["residual"][0]
growth_predicted = (1 + ALPHA**2 / 2) ** DEPTH
growth_rel_std = float(growth_each.std(ddof=1) / growth_each.mean())
SUMMARY = {
    "depth": DEPTH,
    "replicates": REPLICATES,
    "trained": TRAINED,
    "first_layer_grad_ratio": float(grad_norms["plain"][0] / grad_norms["residual"][0]),
    "residual_grad_spread": float(grad_norms["residual"].max() / grad_norms["residual"].min()),
    "plain_final_loss": float(final_loss["plain"].mean()),
    "residual_final_loss": float(final_loss["residual"].mean()),
    "max_paired_loss_ratio": float((final_loss["residual"] / final_loss["plain"]).max()),
    "residual_growth_measured": float(growth_measured),
    "residual_growth_predicted": float(growth_predicted),
    "residual_growth_rel_error": float(abs(growth_measured / growth_predicted - 1)),
    "residual_growth_rel_std_one_network": growth_rel_std,
    "residual_growth_rel_std_of_mean": growth_rel_std / np.sqrt(REPLICATES),
    "plain_decay_measured": float(q["plain"][-1] / q["plain"][0]),
    "plain_decay_predicted": float(0.5**DEPTH),
    "unscaled_growth_measured": float(q["unscaled"][-1] / q["unscaled"][0]),
    "unscaled_growth_predicted": float(1.5**DEPTH),
}
for key, value in SUMMARY.items():
    print(f"{key:>36s}: {value:.4g}" if isinstance(value, float) else f"{key:>36s}: {value}")
