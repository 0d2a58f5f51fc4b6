"""
Position matters only if you tell it: attention is permutation-equivariant
==========================================================================

A transformer block without positional information is permutation-equivariant, F(Px) = P F(x),
so it cannot solve a task that depends on the order of its input, such as reversing a
sequence: its accuracy is capped by a bound computed from the symmetry and the i.i.d. data.
Adding sinusoidal or learned position embeddings breaks the symmetry, and the same block learns
the task.

Left: the relative equivariance error ‖F(Px) − P F(x)‖ / ‖F(x)‖ of the three blocks under a
random permutation P of the positions, before and after training (log scale).
Right: the held-out per-token accuracy on reversal of three blocks trained alike: no
positions, sinusoidal positions, learned positions; the dashed line is the best accuracy any
permutation-equivariant model can reach (0.317 for 8 digits), the dotted one guessing. Look at
the model without positions: it reaches the dashed line within two epochs and goes no higher;
0.317, not the chance level 0.1, is what "cannot learn reversal" means here.

Try:
- Set `LENGTH = 12`: predict first whether the bound of equivariant models goes up or down
  (the exact value is 0.266).
- Set `TASK = "copy"`: the block without positions now reaches accuracy 1. Why is that no
  contradiction (which function of x_i and of the multiset is the answer)? The dashed bound
  is that of reversal.
- Set `D_MODEL = 8`: do the sinusoidal positions still work as well as learned ones?
"""

# %%
import math
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import make_token_sequences
from common.plotting import use_course_style
from common.training import fit_fast

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

TASK = "reverse"  # "reverse", "sort" or "copy" (common.data.make_token_sequences)
LENGTH, VOCAB = 8, 10
N_TRAIN = 200 if SMOKE else 5000
N_TEST = 100 if SMOKE else 1000
D_MODEL, MLP_UNITS = 32, 64
EPOCHS = 2 if SMOKE else 12
# smoke: one full batch per epoch and one epoch per record, so the compiled training step runs
# one step per call (steps_per_execution = 1), which is cheaper to trace than a loop of steps
BATCH_SIZE = N_TRAIN if SMOKE else 100
EVERY = 1 if SMOKE else 2  # evaluate on the held-out sequences every EVERY epochs
rng = np.random.default_rng(SEED)
if LENGTH % 2:
    raise ValueError(
        f"LENGTH = {LENGTH} is odd: the middle position is its own mirror and the bound below "
        "holds for even lengths only; use an even LENGTH"
    )

x_train, y_train = make_token_sequences(
    N_TRAIN, length=LENGTH, vocab_size=VOCAB, task=TASK, seed=SEED
)
x_test, y_test = make_token_sequences(
    N_TEST, length=LENGTH, vocab_size=VOCAB, task=TASK, seed=SEED + 1000
)

# %% [markdown]
# ## Equivariance
# Let $P$ permute the $n$ positions. Self-attention without positions satisfies
# $\mathrm{Attn}(PX) = P\,\mathrm{Attn}(X)$, since $PX W_Q (PXW_K)^\top = P (XW_Q W_K^\top X^\top)
# P^\top$ and the row-wise softmax commutes with permuting rows and columns together, as in
# lecture 11. Token embeddings, layer normalization, the MLP and the output layer act on each
# position alone, so they commute with $P$ too, and so does the whole block. With position
# embeddings the input is $E[x_i] + p_i$: permuting the tokens does not permute the $p_i$, and
# the symmetry is gone. Sinusoidal embeddings (Vaswani et al. 2017) are
# $p_{i,2j} = \sin(i / 10000^{2j/d})$, $p_{i,2j+1} = \cos(i / 10000^{2j/d})$.

# %%
angle = np.arange(LENGTH)[:, None] / 10000 ** (np.arange(0, D_MODEL, 2)[None, :] / D_MODEL)
SINUSOIDAL = np.zeros((LENGTH, D_MODEL), dtype="float32")
SINUSOIDAL[:, 0::2], SINUSOIDAL[:, 1::2] = np.sin(angle), np.cos(angle)


def build_block(inputs, positions):
    """One post-norm transformer encoder block on embedded tokens, positions none/sin/learned."""
    h = keras.layers.Embedding(VOCAB, D_MODEL)(inputs)
    if positions == "sinusoidal":
        h = h + SINUSOIDAL
    elif positions == "learned":
        h = h + keras.layers.Embedding(LENGTH, D_MODEL)(np.arange(LENGTH)[None, :])
    attended = keras.layers.MultiHeadAttention(num_heads=1, key_dim=D_MODEL)(h, h)
    u = keras.layers.LayerNormalization()(h + attended)
    mlp = keras.layers.Dense(MLP_UNITS, activation="relu")(u)
    z = keras.layers.LayerNormalization()(u + keras.layers.Dense(D_MODEL)(mlp))
    return keras.layers.Dense(VOCAB, name=f"logits_{positions}")(z)


# The three blocks side by side in one model (one input, three outputs, no shared weight), so
# that one training run and one prediction serve all three.
VARIANTS = ["none", "sinusoidal", "learned"]
inputs = keras.Input(shape=(LENGTH,), dtype="int32")
outputs = []
for variant in VARIANTS:
    keras.utils.set_random_seed(SEED)  # each block starts from the same seed (the learned
    # position table draws from the seed stream too, so the later layers' weights differ)
    outputs.append(build_block(inputs, variant))
joint = keras.Model(inputs, outputs)


def equivariance_errors():
    """||F(Px) - P F(x)|| / ||F(x)|| of each block on the test sequences, one random P, and the
    outputs F(x) of each block."""
    perm = rng.permutation(LENGTH)
    both = joint.predict(
        np.concatenate([x_test, x_test[:, perm]]), batch_size=2 * N_TEST, verbose=0
    )
    errors = {}
    for variant, out in zip(VARIANTS, both, strict=True):
        out, out_perm = out[:N_TEST], out[N_TEST:]
        errors[variant] = float(np.linalg.norm(out_perm - out[:, perm]) / np.linalg.norm(out))
    return errors, [out[:N_TEST] for out in both]


errors_untrained, _ = equivariance_errors()
for variant in VARIANTS:
    print(f"positions {variant:>10s}: equivariance error {errors_untrained[variant]:.2e}")

# %% [markdown]
# ## What an equivariant model can reach
# If $F$ is equivariant, $F(x)_i$ is unchanged by every permutation that fixes $i$: it is a
# function of $x_i$ and of the multiset of the other tokens, nothing else. The digits are
# i.i.d., hence exchangeable: given $x_i$ and the multiset, every arrangement of the other
# tokens is equally likely, so the mirror position $n - 1 - i$ (another position, for even
# $n$) holds each of the $n - 1$ other tokens with probability $1/(n-1)$. The best guess is then
# the most frequent other token, right with probability $\max_t c_t / (n-1)$, with $c_t$ the
# count of $t$ among the other tokens, and this guess is itself equivariant (the mode of the
# others), so the bound is attained. Its mean over random sequences bounds the accuracy of every
# equivariant model (for `TASK = "reverse"` and even $n$). With $m = n - 1$ i.i.d. uniform
# tokens over $V$ symbols it has a closed form: $P(\max_t c_t \le k) = \frac{m!}{V^m}
# [z^m] \big(\sum_{j=0}^{k} z^j / j!\big)^V$ (count the sequences whose counts are all at most
# $k$), and $\mathbb E[\max_t c_t] = \sum_{k=0}^{m-1} P(\max_t c_t > k)$: 2.2202 for $m = 7$,
# $V = 10$, so the bound is 0.3172 (for $n = 12$: 0.2663).


# %%
def expected_max_count(m, vocab):
    """E[max_t c_t] for m i.i.d. uniform tokens over vocab symbols, exactly (float64)."""
    expected = 0.0
    for k in range(m):
        truncated_exp = np.array([1 / math.factorial(j) for j in range(k + 1)])
        power = np.array([1.0])
        for _ in range(vocab):
            power = np.convolve(power, truncated_exp)[: m + 1]
        coefficient = power[m] if len(power) > m else 0.0
        expected += 1 - math.factorial(m) / vocab**m * coefficient  # P(max > k)
    return expected


equivariant_bound = expected_max_count(LENGTH - 1, VOCAB) / (LENGTH - 1)
print(f"bound for equivariant models: {equivariant_bound:.3f} (guessing: {1 / VOCAB:.3f})")

# %% [markdown]
# ## Training the three blocks alike
# The loss is the sum of the three blocks' cross-entropies. The blocks share no weight, so the
# gradient of the sum with respect to one block's weights is the gradient of its own loss, and
# Adam, which updates every weight from its own gradient history, trains each block exactly as
# it would alone on the same mini-batches.

# %%
joint.compile(
    optimizer=keras.optimizers.Adam(3e-3),
    loss=[keras.losses.SparseCategoricalCrossentropy(from_logits=True)] * len(VARIANTS),
    metrics=[["accuracy"]] * len(VARIANTS),
)
# Replaces joint.fit(x_train, (y_train,) * 3, epochs=EPOCHS, batch_size=BATCH_SIZE,
#                    validation_data=(x_test, (y_test,) * 3), verbose=0).
history = fit_fast(
    joint,
    x_train,
    (y_train,) * len(VARIANTS),
    epochs=EPOCHS,
    batch_size=BATCH_SIZE,
    every=EVERY,
    validation_data=(x_test, (y_test,) * len(VARIANTS)),
    seed=SEED,
)
errors_trained, logits = equivariance_errors()
correct = {
    variant: ops.convert_to_numpy(ops.argmax(out, axis=-1)) == y_test
    for variant, out in zip(VARIANTS, logits, strict=True)
}
accuracy = {variant: float(np.mean(correct[variant])) for variant in VARIANTS}
# standard deviation of the per-sequence accuracy over the test sequences
accuracy_sd = {variant: float(np.std(np.mean(correct[variant], axis=1))) for variant in VARIANTS}
for variant in VARIANTS:
    print(
        f"positions {variant:>10s}: held-out accuracy {accuracy[variant]:.3f}, "
        f"equivariance error after training {errors_trained[variant]:.2e}"
    )

# %% [markdown]
# ## Figure: the symmetry and what it costs

# %%
use_course_style()
fig, (ax_err, ax_acc) = plt.subplots(1, 2, figsize=(15, 5.6))
colors = {"none": "tab:red", "sinusoidal": "tab:blue", "learned": "tab:green"}
bars = [errors_untrained[v] for v in VARIANTS] + [errors_trained[v] for v in VARIANTS]
labels = [f"{v}\nuntrained" for v in VARIANTS] + [f"{v}\ntrained" for v in VARIANTS]
ax_err.bar(range(len(bars)), bars, color=[colors[v] for v in VARIANTS] * 2)
ax_err.set_yscale("log")
ax_err.set_xticks(range(len(bars)), labels, fontsize=10)
for i, value in enumerate(bars):
    ax_err.annotate(
        f"{value:.1e}", (i, value), ha="center", xytext=(0, 4), textcoords="offset points"
    )
ax_err.set(
    ylabel="‖F(Px) − P F(x)‖ / ‖F(x)‖",
    title="Equivariance error by kind of position embedding",
)
for variant in VARIANTS:
    curve = history[f"val_logits_{variant}_accuracy"]
    ax_acc.plot(history["epoch"], curve, "o-", color=colors[variant], label=variant)
ax_acc.axhline(
    equivariant_bound, color="k", linestyle="--", label="best equivariant model (reversal)"
)
ax_acc.axhline(1 / VOCAB, color="gray", linestyle=":", label="guessing")
ax_acc.set(
    xlabel="epoch",
    ylabel="held-out accuracy per token",
    title=f"Task '{TASK}', {LENGTH} digits: positions none / sinusoidal / learned",
    ylim=(0, 1.02),
)
ax_acc.legend(fontsize=10, loc="center right")
fig.suptitle("Self-attention is permutation-equivariant until positions are added")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "equivariant_bound": equivariant_bound,
    "chance": 1 / VOCAB,
    "n_test": N_TEST,
}
for variant in VARIANTS:
    SUMMARY[f"accuracy_{variant}"] = accuracy[variant]
    SUMMARY[f"accuracy_sd_per_sequence_{variant}"] = accuracy_sd[variant]
    SUMMARY[f"equivariance_error_{variant}"] = errors_untrained[variant]
    SUMMARY[f"equivariance_error_trained_{variant}"] = errors_trained[variant]
for key, value in SUMMARY.items():
    print(f"{key:>36s}: {value:.4g}" if isinstance(value, float) else f"{key:>36s}: {value}")
