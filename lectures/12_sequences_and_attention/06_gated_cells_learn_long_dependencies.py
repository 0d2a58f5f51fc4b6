"""
Gated cells learn long dependencies that SimpleRNN does not
===========================================================

`SimpleRNN`, `LSTM` and `GRU` layers of 16 units are trained, with the same data, steps and
learning rate, on the adding problem with sequences of length T = 50: each sequence carries
numbers uniform on [0, 1] and marks two of them, one in each half; the target is their sum. To
solve it a network must keep the first marked number for up to 49 steps. Predicting the mean
always has mean squared error 1/6, the baseline; a network that has not learned to remember
does no better.

The figure shows the training loss of each network against the optimizer step, relative to the
baseline (log scale), and the test errors on 1,000 new sequences. Look at the plateau at 1
that every network starts on: the GRU leaves it after 150 steps or so and falls to about 1 %
of the baseline (0.5 % to 3 % over seeds 0-9); `SimpleRNN` stays on it (0.83 to 1.02), not even
reaching the level 1/2 of a network that remembers only the second, nearer number. The LSTM,
whose forget gate bias is set to 5 at initialization (script 02: the cell state then starts
with an open additive path, σ(5) = 0.993), learns more slowly: it leaves the plateau within
the 300 steps in 9 of the seeds 0-9 (ending at 3 % to 34 % of the baseline), in seed 5 not
yet. The GRU starts with Keras' initialization, its update gate at σ(0) = 1/2, and the mean
bias of its update gate grows in training from 0 to 0.8 to 1.3 (σ = 0.70 to 0.79: the gate
leans towards keeping the state; the legend gives the value).
`SimpleRNN` must carry the first number through up to 49 multiplications by D_k Uᵀ and the
second through up to 24, and the product of these Jacobians vanishes (scripts 01 and 02): the
gradient that would teach it to remember is lost on the way.

Try:
- Set `FORGET_BIAS = 1.0` (Keras' default, σ(1) = 0.73): does the LSTM still leave the
  plateau within the same steps? (Script 02 measured 6 to 9 decades of gradient decay over
  T = 100 at that bias.)
- Set `LENGTH = 10`: can `SimpleRNN` learn the task now?
- In `CELLS`, give `SimpleRNN` 64 units (`keras.layers.SimpleRNN(64)`): do more units help it
  remember?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import make_adding_problem
from common.plotting import use_course_style
from common.training import fit_fast

import keras
import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

LENGTH = 10 if SMOKE else 50  # T, the sequence length
UNITS = 16  # width of every recurrent layer
N_TRAIN = 256 if SMOKE else 1024  # training sequences
N_TEST = 200 if SMOKE else 1000  # test sequences
BATCH_SIZE = 256
EPOCHS = 1 if SMOKE else 75  # 4 steps per epoch: 300 Adam steps
RECORD_EVERY = 1 if SMOKE else 5  # epochs between points of the learning curves
LEARNING_RATE = 1e-2
FORGET_BIAS = 5.0  # initial bias of the LSTM's forget gate (Keras' default is 1)
if LENGTH < 2:
    raise ValueError(f"LENGTH must be at least 2 (one marker in each half), got {LENGTH}")

# %% [markdown]
# ## The adding problem
# $x_k = (u_k, m_k)$ with $u_k$ uniform on $[0, 1]$ and markers $m_a = m_b = 1$ at one position
# $a$ of the first half and one position $b$ of the second, $m_k = 0$ elsewhere; the target is
# $y = u_a + u_b$ (Le, Jaitly and Hinton 2015). Since $u_a, u_b$ are independent with variance
# $1/12$, $\operatorname{Var} y = 1/6$: predicting the mean $\mathbb E y = 1$ has mean squared
# error $1/6$, and a network that forgets $u_a$ by the time it reads $u_b$ can do no better
# than predicting $\mathbb E[u_a] + u_b$, error $1/12$, half the baseline.

# %%
x_train, y_train = make_adding_problem(N_TRAIN, length=LENGTH, seed=SEED)
x_test, y_test = make_adding_problem(N_TEST, length=LENGTH, seed=SEED + 10_000)
baseline = float(np.mean((y_test - y_train.mean()) ** 2))  # predict the training mean
print(f"T = {LENGTH}: baseline test error {baseline:.4f} (theory 1/6 = {1 / 6:.4f})")

# %% [markdown]
# ## Three recurrent networks, trained alike
# Each network is a recurrent layer of 16 units read out at the last step by a dense layer,
# trained on the mean squared error with Adam. The LSTM's forget gate bias starts at 5
# (`bias_initializer`; Keras orders the LSTM's bias as input, forget, candidate and output
# gate, 16 entries each): along the cell state path the gradient is multiplied by $f_k \approx
# \sigma(5) = 0.993$ per step, $0.993^{49} = 0.72$ over the sequence.


# %%
def forget_gate_bias(shape, dtype=None):
    """The LSTM bias: zeros, but FORGET_BIAS for the forget gate (the second quarter)."""
    bias = np.zeros(shape, dtype="float32")
    bias[UNITS : 2 * UNITS] = FORGET_BIAS
    return bias


CELLS = {
    "SimpleRNN": lambda: keras.layers.SimpleRNN(UNITS),
    f"LSTM, forget bias {FORGET_BIAS:g}": lambda: keras.layers.LSTM(
        UNITS, unit_forget_bias=False, bias_initializer=forget_gate_bias
    ),
    "GRU": lambda: keras.layers.GRU(UNITS),
}
curves, test_error, models = {}, {}, {}
for name, layer in CELLS.items():
    keras.utils.set_random_seed(SEED)  # the same read-out and the same batches for each cell
    model = keras.Sequential([keras.Input((LENGTH, 2)), layer(), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="mse")
    # Replaces model.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE).
    history = fit_fast(
        model,
        x_train,
        y_train,
        epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        every=RECORD_EVERY,
        seed=SEED,
    )
    steps = history["epoch"] * -(-N_TRAIN // BATCH_SIZE)
    curves[name] = (steps, history["loss"] / baseline)
    prediction = keras.ops.convert_to_numpy(model(x_test))[:, 0]
    test_error[name] = float(np.mean((prediction - y_test) ** 2)) / baseline
    models[name] = model
    print(f"{name}: test error / baseline = {test_error[name]:.4f}")

# The GRU's update gate bias (Keras' gate order z, r, h; input and recurrent biases add up).
gru_bias = keras.ops.convert_to_numpy(models["GRU"].layers[0].cell.bias)
update_bias = float((gru_bias[0, :UNITS] + gru_bias[1, :UNITS]).mean())
print(f"GRU: mean update gate bias after training {update_bias:.2f} (0 at initialization)")

# %% [markdown]
# ## Figure

# %%
use_course_style()
fig, (ax, right) = plt.subplots(1, 2, figsize=(14, 5.6), width_ratios=[2, 1])
for name, (steps, loss) in curves.items():
    label = name if name != "GRU" else f"GRU (trained update gate bias {update_bias:.1f})"
    ax.plot(steps, loss, "o-", markersize=4, label=label)
ax.axhline(1.0, color="grey", linestyle=":", label="baseline: predict the mean (1/6)")
ax.axhline(0.5, color="grey", linestyle="--", label="forgetting the first number (1/12)")
ax.set(
    yscale="log",
    xlabel="Adam step (batches of 256)",
    ylabel="training loss / baseline (mean of 20 steps)",
    title=f"Adding problem, T = {LENGTH}: learning curves",
)
ax.legend(loc="lower left")
names = list(test_error)
bars = right.bar(range(len(names)), [test_error[n] for n in names], color=["C0", "C1", "C2"])
right.bar_label(bars, fmt="%.3f")
right.axhline(1.0, color="grey", linestyle=":")
right.set(
    xticks=range(len(names)),
    xticklabels=[n.replace(", ", "\n") for n in names],
    ylabel="test error / baseline",
    title=f"{N_TEST} test sequences",
    ylim=(0, 1.2),
)
fig.suptitle("Gated cells can learn to remember over 49 steps; SimpleRNN does not")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "length": LENGTH,
    "baseline": baseline,
    "simple_rnn_rel_error": test_error["SimpleRNN"],
    "lstm_open_rel_error": test_error[f"LSTM, forget bias {FORGET_BIAS:g}"],
    "gru_rel_error": test_error["GRU"],
    "gru_update_gate_bias": update_bias,
}
for key, value in SUMMARY.items():
    print(f"{key:>22s}: {value:.4g}" if isinstance(value, float) else f"{key:>22s}: {value}")
