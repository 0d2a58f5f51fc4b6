"""
Gates carry gradients, when they are open
=========================================

The gradient of a recurrent network's output with respect to an early input x_t passes through
T − t copies of the recurrence. In `SimpleRNN` every copy multiplies by D_k Uᵀ (tanh' ≤ 1 on
the diagonal of D_k); in `LSTM` the cell state has an additive path c_k = f_k ⊙ c_{k−1} + i_k ⊙
g_k, multiplied only by the forget gate f_k, and in `GRU` the state path h_k = z_k ⊙ h_{k−1} +
(1 − z_k) ⊙ ĥ_k is multiplied by the update gate z_k. A gate near 1 carries the gradient back
unchanged; a gate near 1/2 halves it at every step.

Figure: the norm of ∂y/∂x_t of the output y of an untrained network (recurrent layer of 32
units and a dense read-out) on adding-problem sequences of length T = 100, against t (log
scale), for `SimpleRNN`, `LSTM` and `GRU` with Keras' initialization, and for `LSTM` and `GRU`
whose forget gate (LSTM) or update gate (GRU) has its bias set to 5, so that it starts open
(σ(5) = 0.993). Look at how far
each curve falls from t = T back to t = 1: with Keras' initialization the gated cells keep the
gradient about as badly as `SimpleRNN` or worse (their gates start near σ(1) = 0.73 and
σ(0) = 0.5; over seeds 0-9 the curves fall 6 to 9 decades for LSTM, 18 to 21 for GRU, 2 to 7.5
for SimpleRNN); with open gates they stay within about one decade of flat. Gates do not carry
gradients by themselves: their biases are trainable parameters that can also be set at
initialization to keep the path open (Jozefowicz, Zaremba and Sutskever 2015 for the forget
bias 1 that Keras uses; Tallec and Ollivier 2018 for a bias of about log T). `SimpleRNN` has no
gate: its only knob, the scale of U, sits between vanishing and exploding (script 01), while a
gate bias opens an additive path whatever the state.

Needs the TensorFlow backend for one cell: the gradients with `tf.GradientTape`.

Try:
- Set `GATE_BIAS = 2.0` (σ(2) = 0.88): along the state path alone the open-gate curves would
  fall by 0.88^99 ≈ 10^−5.5. Run: which curve falls most of that, and which far less?
- Set `LENGTH = 50`: which curves move, and by how many decades?
- Set `UNITS = 8`: does the `SimpleRNN` curve fall faster or slower?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import make_adding_problem
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

LENGTH = 30 if SMOKE else 100  # T, the sequence length
N_SEQUENCES = 16 if SMOKE else 64  # adding-problem sequences the gradient norms average over
UNITS = 32  # width of every recurrent layer
GATE_BIAS = 5.0  # bias of the forget gate (LSTM) and update gate (GRU) in the open variants
if GATE_BIAS <= 0:
    raise ValueError(f"GATE_BIAS must be positive (an open gate), got {GATE_BIAS}")

# %% [markdown]
# ## Three recurrences and their state paths
# With $\sigma$ the logistic function and $\odot$ the entrywise product, the three Keras cells
# update their state by
# $$\text{SimpleRNN: } h_k = \tanh(x_k W + h_{k-1} U + b),$$
# $$\text{LSTM: } c_k = f_k \odot c_{k-1} + i_k \odot g_k, \qquad h_k = o_k \odot \tanh(c_k),$$
# $$\text{GRU: } h_k = z_k \odot h_{k-1} + (1 - z_k) \odot \hat h_k,$$
# where the gates $f_k, i_k, o_k, z_k = \sigma(x_k W_\bullet + h_{k-1} U_\bullet + b_\bullet)$
# take values in $(0, 1)$. Along the state path alone (the gates held fixed) the Jacobians are
# $\partial h_k/\partial h_{k-1} = D_k U^\top$ for SimpleRNN, $\partial c_k/\partial c_{k-1} =
# \mathrm{diag}(f_k)$ for the LSTM cell state and $\partial h_k/\partial h_{k-1} =
# \mathrm{diag}(z_k)$ for the GRU, so the gradient reaching step $t$ from step $T$ is multiplied by
# $\prod_{k=t+1}^{T} f_k$ or $\prod_{k=t+1}^{T} z_k$: close to 1 if the gate is close to 1, and like
# $0.73^{T-t}$ or $0.5^{T-t}$ for Keras' initial gates ($\sigma(1)$ for the LSTM forget gate, whose
# bias starts at 1 with `unit_forget_bias=True`, $\sigma(0)$ for the GRU update gate). The other
# paths (through the gates and through $h_{k-1}U$ inside the candidate) add terms, so these products
# describe the trend, not the exact numbers: over $T - 1 = 99$ steps they predict $99 \log_{10} 0.73
# \approx -13.5$ decades for the LSTM and $99 \log_{10} 0.5 \approx -29.8$ for the GRU, while the
# measured curves fall about half and two thirds of that (6 to 9 and 18 to 21 decades): the other
# paths slow the decay. With an open forget gate the full Jacobian is about the identity plus these
# terms, and its product can even grow slowly towards early steps. A gate with bias $b$ keeps a
# memory of about $1/(1 - \sigma(b)) = 1 + e^b$ steps: 3.7 for $b = 1$, 8.4 for $b = 2$, 149 for $b
# = 5$, enough for $T = 100$. The measurement below is exact up to float32 rounding: one backward
# pass per network.
# An open GRU update gate also lets little of each new input in (a factor $1 - z_k = 0.007$),
# so its whole curve lies low, but flat: the figure compares how each curve falls from late to
# early steps, the ratio $g(T)/g(1)$ below, not the heights of the curves.
#
# Keras stores the LSTM bias as $[b_i, b_f, b_c, b_o]$ ($4n$ entries, $n$ = `UNITS`) and the
# GRU bias (with `reset_after=True`) as two rows $[b_z, b_r, b_h]$, the first for the input,
# the second for the recurrent part; the open variants set $b_f$, respectively the input row of
# $b_z$, to `GATE_BIAS`.

# %%
x, _ = make_adding_problem(N_SEQUENCES, length=LENGTH, seed=SEED)


def build(kind):
    """An untrained recurrent layer of kind kind with a dense read-out; gates opened if asked."""
    cell = {"SimpleRNN": keras.layers.SimpleRNN, "LSTM": keras.layers.LSTM, "GRU": keras.layers.GRU}
    layer = cell[kind.split()[0]](UNITS)
    inputs = keras.Input((LENGTH, 2))
    model = keras.Model(inputs, keras.layers.Dense(1)(layer(inputs)))
    if kind.endswith("open"):
        weights = layer.get_weights()
        bias = weights[-1].copy()
        if kind.startswith("LSTM"):
            bias[UNITS : 2 * UNITS] = GATE_BIAS  # forget gate f
        else:
            bias[0, :UNITS] = GATE_BIAS  # update gate z, input row
        layer.set_weights([*weights[:-1], bias])
    return model


KINDS = ["SimpleRNN", "LSTM", "GRU", "LSTM open", "GRU open"]

# %% [markdown]
# ## The gradient with respect to every input (TensorFlow)
# For each network, `tf.GradientTape` differentiates $\sum_j y^{(j)}$ (the outputs of the
# sequences in the batch, which do not interact) with respect to the whole input: row $j$ of the
# result is $\partial y^{(j)}/\partial x^{(j)}_t$ for every $t$. The curve is the root mean
# square of its norm over the sequences,
# $g(t) = \big(\frac1N\sum_j \|\partial y^{(j)}/\partial x_t^{(j)}\|^2\big)^{1/2}$, and the
# decay is the ratio $g(T)/g(1)$: how much more the output responds to the last input than to
# the first. Keras 3 has no backend-neutral gradient; this is the backend-specific cell.

# %%
import tensorflow as tf  # noqa: E402  (the gradients come from tf.GradientTape)

x_tensor = tf.constant(x)
gradient_norm, decay = {}, {}
for kind in KINDS:
    # Re-seeded: each open variant has every weight of its Keras-initialized cell except the
    # gate bias.
    keras.utils.set_random_seed(SEED)
    model = build(kind)
    with tf.GradientTape() as tape:
        tape.watch(x_tensor)
        total = tf.reduce_sum(model(x_tensor))
    gradient = tape.gradient(total, x_tensor).numpy()  # (N, T, 2)
    gradient_norm[kind] = np.sqrt(np.mean(np.sum(gradient**2, axis=-1), axis=0))
    decay[kind] = float(gradient_norm[kind][-1] / gradient_norm[kind][0])
    print(f"{kind:>10s}: g(T) / g(1) = {decay[kind]:.3g}")

# %% [markdown]
# ## Figure: how far back the gradient reaches

# %%
use_course_style()
fig, ax = plt.subplots(figsize=(11, 6))
styles = {
    "SimpleRNN": ("tab:red", "-"),
    "LSTM": ("tab:blue", "-"),
    "GRU": ("tab:green", "-"),
    "LSTM open": ("tab:blue", "--"),
    "GRU open": ("tab:green", "--"),
}
steps = np.arange(1, LENGTH + 1)
for kind in KINDS:
    color, line = styles[kind]
    label = kind.replace("open", f"(gate bias {GATE_BIAS:g})")
    ax.semilogy(steps, gradient_norm[kind], line, color=color, label=label)
ax.set(
    xlabel="input position t",
    ylabel="‖∂y / ∂x_t‖ (root mean square over sequences)",
    title=f"Keras' initialization (solid) against gate bias {GATE_BIAS:g} (dashed): "
    f"‖∂y/∂x_t‖, {UNITS} units, T = {LENGTH}",
)
ax.legend(loc="lower right")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {"length": LENGTH, "units": UNITS, "gate_bias": GATE_BIAS}
for kind in KINDS:
    SUMMARY[f"log10_decay_{kind.lower().replace(' ', '_')}"] = float(np.log10(decay[kind]))
for key, value in SUMMARY.items():
    print(f"{key:>28s}: {value:.4g}" if isinstance(value, float) else f"{key:>28s}: {value}")
