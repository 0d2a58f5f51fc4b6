"""
Position matters only if you tell it: attention is permutation-equivariant
==========================================================================

A transformer block without positional information is permutation-equivariant, F(Px) = P F(x),
so it cannot solve a task that depends on the order of its input, such as reversing a
sequence: its accuracy is capped by a bound computed from the symmetry alone. Adding sinusoidal
or learned position embeddings breaks the symmetry, and the same block learns the task.

Left: the relative equivariance error ‖F(Px) − P F(x)‖ / ‖F(x)‖ of the three blocks under a
random permutation P of the positions, before and after training (log scale).
Right: the held-out per-token accuracy on reversal of three blocks trained alike: no
positions, sinusoidal positions, learned positions; the dashed line is the best accuracy any
permutation-equivariant model can reach, the dotted one guessing. Look at the model without
positions: it stays below the dashed line, as it must.

Try:
- Set `LENGTH = 12`: predict first whether the bound of equivariant models goes up or down.
- Set `TASK = "copy"`: the block without positions now reaches accuracy 1. Why is that no
  contradiction (which function of x_i and of the multiset is the answer)? The dashed bound
  is that of reversal.
- Set `D_MODEL = 8`: do the sinusoidal positions still work as well as learned ones?
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
from keras import ops

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

TASK = "reverse"  # "reverse", "sort" or "copy" (common.data.make_token_sequences)
LENGTH, VOCAB = 8, 10
N_TRAIN = 1000 if SMOKE else 5000
N_TEST = 1000
D_MODEL, MLP_UNITS = 32, 64
EPOCHS = 3 if SMOKE else 12
BATCH_SIZE = 100
N_BOUND = 20000  # Monte Carlo sequences for the bound of equivariant models
rng = np.random.default_rng(SEED)

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
    keras.utils.set_random_seed(SEED)  # the same initial weights where the layers agree
    outputs.append(build_block(inputs, variant))
joint = keras.Model(inputs, outputs)


def equivariance_errors():
    """||F(Px) - P F(x)|| / ||F(x)|| of each block on the test sequences, one random P."""
    perm = rng.permutation(LENGTH)
    both = joint.predict(
        np.concatenate([x_test, x_test[:, perm]]), batch_size=2 * N_TEST, verbose=0
    )
    errors = {}
    for variant, out in zip(VARIANTS, both, strict=True):
        out, out_perm = out[:N_TEST], out[N_TEST:]
        errors[variant] = float(np.linalg.norm(out_perm - out[:, perm]) / np.linalg.norm(out))
    return errors


errors_untrained = equivariance_errors()
for variant in VARIANTS:
    print(f"positions {variant:>10s}: equivariance error {errors_untrained[variant]:.2e}")

# %% [markdown]
# ## What an equivariant model can reach
# If $F$ is equivariant, $F(x)_i$ is unchanged by every permutation that fixes $i$: it is a
# function of $x_i$ and of the multiset of the other tokens, nothing else. Given those, the
# mirror token $x_{n-1-i}$ is equally likely to sit in any of the other $n - 1$ places (the
# digits are independent and identically distributed), so the best guess is the most frequent
# other token, right with probability $\max_t c_t / (n-1)$, with $c_t$ the count of $t$ among
# the other tokens. Its mean over random sequences bounds the accuracy of every equivariant
# model; it is computed below by Monte Carlo (for `TASK = "reverse"` and even $n$).

# %%
sequences = rng.integers(0, VOCAB, size=(N_BOUND, LENGTH))
others = sequences[:, 1:]  # position 0 and the n - 1 others (every position is alike)
counts = np.stack([np.sum(others == t, axis=1) for t in range(VOCAB)], axis=1)
equivariant_bound = float(np.mean(counts.max(axis=1) / (LENGTH - 1)))
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
    every=max(1, EPOCHS // 6),
    validation_data=(x_test, (y_test,) * len(VARIANTS)),
    seed=SEED,
)
logits = joint.predict(x_test, batch_size=N_TEST, verbose=0)
accuracy = {
    variant: float(np.mean(ops.convert_to_numpy(ops.argmax(out, axis=-1)) == y_test))
    for variant, out in zip(VARIANTS, logits, strict=True)
}
errors_trained = equivariance_errors()
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
    title=f"Reversing {LENGTH} digits: positions none / sinusoidal / learned",
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
    SUMMARY[f"equivariance_error_{variant}"] = errors_untrained[variant]
    SUMMARY[f"equivariance_error_trained_{variant}"] = errors_trained[variant]
for key, value in SUMMARY.items():
    print(f"{key:>36s}: {value:.4g}" if isinstance(value, float) else f"{key:>36s}: {value}")
