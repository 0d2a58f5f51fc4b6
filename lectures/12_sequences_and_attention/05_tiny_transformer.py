"""
A tiny transformer learns to reverse sequences, and its attention shows how
===========================================================================

One transformer encoder block (self-attention, residual connections, layer normalization and a
position-wise MLP) built from Keras layers learns to reverse sequences of 8 digits in a few
seconds, and its attention weights show the algorithm: the largest weight of position i is on
position n − 1 − i.

Left: the attention weights of the trained block on one held-out sequence (row i: how output
position i weighs the input positions), with the input and output tokens on the axes. Middle:
the same weights averaged over all held-out sequences. Right: the per-token accuracy on the
held-out sequences during training. Look for the anti-diagonal: the network has learned to
address by position, which it can only do because positions are embedded in its input. The
maps often show an X: besides the mirror, each position keeps a smaller weight on itself.

Try:
- Set `TASK = "sort"`: does the block still learn, and what do the attention maps look like
  now that the answer at position i depends on the whole sequence?
- Set `HEADS = 2`: do the two heads share the work or does one take it all?
- Remove the position embedding (`h = tokens`): what accuracy do you expect, and why (script 04)?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import make_token_sequences
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

TASK = "reverse"  # "reverse", "sort" or "copy" (common.data.make_token_sequences)
LENGTH, VOCAB = 8, 10  # sequences of 8 digits
N_TRAIN = 200 if SMOKE else 5000
N_TEST = 100 if SMOKE else 1000
D_MODEL, HEADS, MLP_UNITS = 32, 1, 64
EPOCHS = 2 if SMOKE else 24
# smoke: one full batch per epoch, so the compiled training step runs one step per call
# (steps_per_execution = 1), which is cheaper to trace than a loop of steps
BATCH_SIZE = N_TRAIN if SMOKE else 100
EVERY = 1 if SMOKE else 4  # evaluate on the held-out sequences every EVERY epochs

# %% [markdown]
# ## The task
# Inputs $x \in \{0, \dots, 9\}^8$ with independent uniform digits; the target at position $i$
# is $y_i = x_{n-1-i}$ (for `TASK = "reverse"`). The test sequences are drawn with another seed;
# with $10^8$ possible sequences, a test sequence is also a training sequence with probability
# at most $5000 / 10^8$. Guessing gives a per-token accuracy of $1/10$.

# %%
x_train, y_train = make_token_sequences(
    N_TRAIN, length=LENGTH, vocab_size=VOCAB, task=TASK, seed=SEED
)
x_test, y_test = make_token_sequences(
    N_TEST, length=LENGTH, vocab_size=VOCAB, task=TASK, seed=SEED + 1000
)

# %% [markdown]
# ## One encoder block
# Token $x_i$ and position $i$ are embedded and added, $h_i = E[x_i] + P[i] \in \mathbb
# R^{d}$, with learned tables $E$ and $P$. The block (Vaswani et al. 2017, post-norm) computes
# $$u = \mathrm{LayerNorm}\big(h + \mathrm{MHA}(h, h, h)\big), \qquad
# z = \mathrm{LayerNorm}\big(u + W_2\,\mathrm{relu}(W_1 u + b_1) + b_2\big),$$
# the MLP acting on every position separately, and a `Dense` layer maps each $z_i$ to 10
# logits. Attention is the only place where positions exchange information: output $i$ is a
# function of $h_i$ and of $\sum_s A_{is} V_s$, so to reverse it has to read the token at
# $s = n - 1 - i$ out of this weighted sum. Nothing forces all the weight there: the trained
# block puts its largest weight $A_{is}$ on $s = n - 1 - i$ (a mean weight of 0.38 to 0.47 over
# seeds 0-9), a smaller one on $s = i$ itself (0.04 to 0.21: the diagonal of the X in the maps),
# and the MLP decodes the mirror token from the mixture. Layer normalization rescales each
# position's vector to mean 0 and variance 1 (then a learned scale and shift):
# $\mathrm{LN}(v) = \gamma \odot (v - \bar v) / \sqrt{\mathrm{var}(v) + \epsilon} + \beta$,
# with Keras' default $\epsilon = 10^{-3}$ (PyTorch's `LayerNorm` uses $10^{-5}$).

# %%
keras.utils.set_random_seed(SEED)
inputs = keras.Input(shape=(LENGTH,), dtype="int32")
tokens = keras.layers.Embedding(VOCAB, D_MODEL)(inputs)
positions = keras.layers.Embedding(LENGTH, D_MODEL)(np.arange(LENGTH)[None, :])
h = tokens + positions
attention_layer = keras.layers.MultiHeadAttention(num_heads=HEADS, key_dim=D_MODEL // HEADS)
attended, scores = attention_layer(h, h, return_attention_scores=True)
u = keras.layers.LayerNormalization()(h + attended)
mlp = keras.layers.Dense(MLP_UNITS, activation="relu")(u)
z = keras.layers.LayerNormalization()(u + keras.layers.Dense(D_MODEL)(mlp))
logits = keras.layers.Dense(VOCAB)(z)
model = keras.Model(inputs, logits)
# the same layers with the attention weights as a second output, read out after training
readout = keras.Model(inputs, [logits, scores])
model.compile(
    optimizer=keras.optimizers.Adam(3e-3),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
print(f"{model.count_params()} parameters")
# Replaces model.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE,
#                    validation_data=(x_test, y_test), verbose=0).
history = fit_fast(
    model,
    x_train,
    y_train,
    epochs=EPOCHS,
    batch_size=BATCH_SIZE,
    every=EVERY,
    validation_data=(x_test, y_test),
    seed=SEED,
)
test_logits, weights = readout.predict(x_test, batch_size=N_TEST, verbose=0)
prediction = np.argmax(test_logits, axis=-1)
token_accuracy = float(np.mean(prediction == y_test))
sequence_accuracy = float(np.mean(np.all(prediction == y_test, axis=1)))
print(f"held-out accuracy: per token {token_accuracy:.4f}, whole sequence {sequence_accuracy:.4f}")

# %% [markdown]
# ## Reading the attention
# `weights` (the output `scores`) holds the softmax weights $A_{is}$ of shape
# (batch, heads, $n$, $n$). For reversal
# the algorithm predicts $\arg\max_s A_{is} = n - 1 - i$ at every position $i$ of every
# sequence.

# %%
head_weights = weights.mean(axis=1)  # average over the heads
reverse_target = LENGTH - 1 - np.arange(LENGTH)
attends_to_mirror = float(np.mean(np.argmax(head_weights, axis=-1) == reverse_target[None, :]))
mirror_weight = float(np.mean(head_weights[:, np.arange(LENGTH), reverse_target]))
self_weight = float(np.mean(head_weights[:, np.arange(LENGTH), np.arange(LENGTH)]))
print(
    f"argmax of the attention at position n-1-i: {attends_to_mirror:.3f} of all positions; "
    f"mean weight there {mirror_weight:.3f}, on position i itself {self_weight:.3f}"
)

# %% [markdown]
# ## Figure: attention maps and the learning curve

# %%
use_course_style()
fig, (ax_one, ax_mean, ax_acc) = plt.subplots(1, 3, figsize=(17, 5.6))
example = 0
image = ax_one.imshow(head_weights[example], cmap="viridis", vmin=0, vmax=head_weights.max())
ax_one.set_xticks(
    range(LENGTH), [f"{s}:{t}" for s, t in enumerate(x_test[example])], fontsize=12, rotation=45
)
ax_one.set_yticks(
    range(LENGTH), [f"{i}:{t}" for i, t in enumerate(prediction[example])], fontsize=12
)
ax_one.set(
    xlabel="input position s : token",
    ylabel="output position i : predicted token",
    title="Attention weights A_is, one test sequence",
)
ax_one.grid(False)
fig.colorbar(image, ax=ax_one, fraction=0.046, label="attention weight")
mean_map = head_weights.mean(axis=0)
image = ax_mean.imshow(mean_map, cmap="viridis", vmin=0, vmax=mean_map.max())
ax_mean.set_xticks(range(LENGTH), range(LENGTH), fontsize=12)
ax_mean.set_yticks(range(LENGTH), range(LENGTH), fontsize=12)
ax_mean.set(
    xlabel="input position s",
    ylabel="output position i",
    title=f"Mean over {N_TEST} test sequences",
)
ax_mean.grid(False)
fig.colorbar(image, ax=ax_mean, fraction=0.046, label="mean attention weight")
ax_acc.plot(history["epoch"], history["val_accuracy"], "o-", label="held-out, per token")
ax_acc.plot(history["epoch"], history["accuracy"], "s--", label="training (running mean)")
ax_acc.axhline(1 / VOCAB, color="gray", linestyle=":", label=f"guessing 1/{VOCAB}")
ax_acc.set(xlabel="epoch", ylabel="accuracy", title=f"Learning the task '{TASK}'", ylim=(0, 1.02))
ax_acc.legend(fontsize=10, loc="lower right")
fig.suptitle(
    f"One transformer block trained on '{TASK}' for {LENGTH} digits: where each position attends"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "token_accuracy": token_accuracy,
    "sequence_accuracy": sequence_accuracy,
    "attends_to_mirror": attends_to_mirror,
    "mirror_weight": mirror_weight,
    "self_weight": self_weight,
    "n_test": N_TEST,
    "n_params": int(model.count_params()),
}
for key, value in SUMMARY.items():
    print(f"{key:>20s}: {value:.4g}" if isinstance(value, float) else f"{key:>20s}: {value}")
