"""
Permutation symmetry: Deep Sets and self-attention
==================================================

A Deep Sets model (one network applied to every element, a sum, a readout) is invariant to
the order of its input by construction and works on sets of any size; an MLP on the
concatenated elements is neither, and fits the same function less well. Self-attention
without positional information is permutation-equivariant; adding positional embeddings
breaks that.

The figure shows, on the left, the Deep Sets predictions of sum_i x_i^2 against the truth on
sets of 10 numbers (seen sizes: 1 to 10) and of 20 numbers (a size never seen in training),
with the MLP's predictions on sets of 10; on the right, the relative permutation error of
every model on a log scale: ||F(P x) - F(x)|| for the invariant models and
||F(P x) - P F(x)|| for self-attention, divided by ||F(x)||. Look at the gap of five orders
of magnitude between the models whose symmetry is in the architecture and those without it.

Try:
- Make the readout nonlinear (`keras.layers.Dense(32, activation="relu")` before the last
  `Dense(1)`): what happens to the error on sets of 20?
- Replace the sum by the mean in `MaskedSum` (divide by `ops.sum(slots[..., 1:], axis=1)`):
  what happens to the error on sets of 20, and for which targets is the mean the right pooling?
- Give the attention a causal mask (`attention(x, x, use_causal_mask=True)` in
  `self_attention`): which permutations is it still equivariant to?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
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

N_SETS = 500 if SMOKE else 4000  # training sets
MAX_SIZE = 10  # training sets have 1 .. MAX_SIZE elements
UNSEEN_SIZE = 20  # a size never seen in training
N_TEST = 500
EPOCHS = 1 if SMOKE else 60
BATCH_SIZE = 500
TOKENS, TOKEN_DIM = 10, 16  # self-attention check on random token sets
rng = np.random.default_rng(SEED)

# %% [markdown]
# ## A set-valued task
# Sets $X = \{x_1, \dots, x_n\}$ of numbers uniform on $[-1, 1]$ and the target
# $y = \sum_i x_i^2$, a sum of one function of each element. A set is stored as an array of
# `MAX_SIZE` slots with a 0/1 mask; the empty slots hold zeros and are ignored by the sum.


# %%
def make_sets(n_sets, sizes):
    x = rng.uniform(-1, 1, size=(n_sets, sizes.max(), 1)).astype(np.float32)
    mask = (np.arange(sizes.max())[None, :] < sizes[:, None]).astype(np.float32)[..., None]
    x *= mask
    return x, mask, np.sum(x[..., 0] ** 2, axis=1).astype(np.float32)


x_train, m_train, y_train = make_sets(N_SETS, rng.integers(1, MAX_SIZE + 1, N_SETS))
x_full, m_full, y_full = make_sets(N_SETS, np.full(N_SETS, MAX_SIZE))  # the MLP's data
x_10, m_10, y_10 = make_sets(N_TEST, np.full(N_TEST, MAX_SIZE))
x_20, m_20, y_20 = make_sets(N_TEST, np.full(N_TEST, UNSEEN_SIZE))

# %% [markdown]
# ## Deep Sets
# Zaheer et al. (2017): every permutation-invariant function of sets from a countable
# universe, and every continuous one of sets of $n$ real numbers (with $\phi$ of dimension
# at least $n$, e.g. the power sums $\sum_i x_i^k$, $k = 1, \dots, n$; Wagstaff et al. 2019
# show that fewer dimensions do not suffice), can be written
# $f(X) = \rho\big(\sum_i \phi(x_i)\big)$. Here $\phi$ is a two-layer
# network applied to every element (a `Dense` layer acts on the last axis, so the same weights
# meet every slot) and $\rho$ is linear. Permuting the elements permutes the terms of the sum,
# so $f$ is invariant for *any* weights, and nothing in the model depends on the number of
# elements. With a linear $\rho$ and a sum-decomposable target, what is learned on small sets
# carries over to larger ones.


# %%
class MaskedSum(keras.layers.Layer):
    """Sum pooling over the set axis, counting only the slots the mask marks as present."""

    def call(self, h, slots):
        return ops.sum(h * slots[..., 1:], axis=1)


# Each slot holds (x_i, 1) for an element and (0, 0) for an empty slot.
keras.utils.set_random_seed(SEED)
slots_in = keras.Input(shape=(None, 2))
h = keras.layers.Dense(32, activation="relu")(slots_in)  # phi, applied to every element
h = keras.layers.Dense(32, activation="relu")(h)
pooled = MaskedSum()(h, slots_in)
deep_sets = keras.Model(slots_in, keras.layers.Dense(1)(pooled))
deep_sets.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
# Replaces model.fit(slots, y, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0).
fit_fast(
    deep_sets,
    np.concatenate([x_train, m_train], axis=-1),
    y_train,
    epochs=EPOCHS,
    batch_size=BATCH_SIZE,
    every=EPOCHS,
    seed=SEED,
)


def predict_sets(x, mask):
    slots = np.concatenate([x, mask], axis=-1)
    return deep_sets.predict(slots, batch_size=len(x), verbose=0)[:, 0]


def relative_rmse(prediction, y):
    return float(np.sqrt(np.mean((prediction - y) ** 2)) / np.std(y))


ds_pred_10, ds_pred_20 = predict_sets(x_10, m_10), predict_sets(x_20, m_20)
ds_error_10, ds_error_20 = relative_rmse(ds_pred_10, y_10), relative_rmse(ds_pred_20, y_20)
print(
    f"Deep Sets relative RMSE: sets of {MAX_SIZE} {ds_error_10:.3f}, "
    f"of {UNSEEN_SIZE} {ds_error_20:.3f}"
)

# %% [markdown]
# ## An MLP on the concatenated set
# The MLP reads the `MAX_SIZE` numbers in a fixed order: a function $\mathbb R^{10} \to
# \mathbb R$ with no reason to be symmetric. It is trained on as many sets (all of size
# `MAX_SIZE`) for as many steps. Data augmentation with permuted copies could only push it
# towards invariance; the architecture of Deep Sets enforces it.

# %%
keras.utils.set_random_seed(SEED)
inputs = keras.Input(shape=(MAX_SIZE,))
h = keras.layers.Dense(64, activation="relu")(inputs)
h = keras.layers.Dense(64, activation="relu")(h)
mlp = keras.Model(inputs, keras.layers.Dense(1)(h))
mlp.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
# Replaces model.fit(x, y, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0).
fit_fast(mlp, x_full[..., 0], y_full, epochs=EPOCHS, batch_size=BATCH_SIZE, every=EPOCHS, seed=SEED)
mlp_pred_10 = mlp.predict(x_10[..., 0], verbose=0)[:, 0]
mlp_error_10 = relative_rmse(mlp_pred_10, y_10)

# %% [markdown]
# ## Permutation errors
# For a random permutation $P$ of the elements: invariance error
# $\|F(Px) - F(x)\| / \|F(x)\|$ of the set models, equivariance error
# $\|F(Px) - P F(x)\| / \|F(x)\|$ of self-attention, norms over the test batch. Scaled
# dot-product attention $\mathrm{softmax}(QK^\top/\sqrt d)\,V$ with $Q = XW_Q$, $K = XW_K$,
# $V = XW_V$ satisfies $A(PX) = P\,A(X)$ for every permutation matrix $P$, since
# $\mathrm{softmax}(P S P^\top) = P\,\mathrm{softmax}(S)\,P^\top$ row-wise. Adding positional
# embeddings $E$ replaces $PX$ by $PX + E \ne P(X + E)$.

# %%
perm20, perm10 = rng.permutation(UNSEEN_SIZE), rng.permutation(MAX_SIZE)


def relative(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


errors = {
    "Deep Sets": relative(predict_sets(x_20[:, perm20], m_20[:, perm20]), ds_pred_20),
    "MLP": relative(mlp.predict(x_10[:, perm10, 0], verbose=0)[:, 0], mlp_pred_10),
}

keras.utils.set_random_seed(SEED)
tokens = rng.standard_normal((64, TOKENS, TOKEN_DIM)).astype(np.float32)
attention = keras.layers.MultiHeadAttention(num_heads=4, key_dim=TOKEN_DIM // 4)
position = np.arange(TOKENS)[:, None] / 10000 ** (np.arange(0, TOKEN_DIM, 2)[None, :] / TOKEN_DIM)
embedding = np.zeros((TOKENS, TOKEN_DIM), dtype=np.float32)
embedding[:, 0::2], embedding[:, 1::2] = np.sin(position), np.cos(position)  # sinusoidal


def self_attention(x):
    return keras.ops.convert_to_numpy(attention(x, x))


token_perm = rng.permutation(TOKENS)
out = self_attention(tokens)
errors["self-attention"] = relative(self_attention(tokens[:, token_perm]), out[:, token_perm])
out_pos = self_attention(tokens + embedding)
errors["attention + positions"] = relative(
    self_attention(tokens[:, token_perm] + embedding), out_pos[:, token_perm]
)
for name, value in errors.items():
    print(f"{name:>22s}: permutation error {value:.2e}")

# %% [markdown]
# ## Figure: extrapolation to larger sets, and the permutation errors

# %%
use_course_style()
fig, (ax_fit, ax_err) = plt.subplots(1, 2, figsize=(14, 5.8))
ax_fit.scatter(
    y_10,
    mlp_pred_10,
    s=10,
    alpha=0.5,
    marker="x",
    label=f"MLP, {MAX_SIZE} elements (relative RMSE {mlp_error_10:.3f})",
)
ax_fit.scatter(
    y_10,
    ds_pred_10,
    s=10,
    alpha=0.5,
    label=f"Deep Sets, {MAX_SIZE} elements ({ds_error_10:.3f})",
)
ax_fit.scatter(
    y_20,
    ds_pred_20,
    s=10,
    alpha=0.5,
    label=f"Deep Sets, {UNSEEN_SIZE} elements, unseen ({ds_error_20:.3f})",
)
top = max(y_20.max(), ds_pred_20.max())
ax_fit.plot([0, top], [0, top], "k--", linewidth=1)
ax_fit.set(
    xlabel="true Σ x_i²", ylabel="prediction", title=f"Trained on sets of 1-{MAX_SIZE} numbers"
)
ax_fit.legend(fontsize=10, loc="upper left")

names = list(errors)
ax_err.bar(
    range(len(names)), list(errors.values()), color=["tab:green", "tab:red", "tab:green", "tab:red"]
)
ax_err.set_yscale("log")
ax_err.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=11)
ax_err.set(
    ylabel="relative permutation error",
    title="Invariance / equivariance under a random permutation",
)
for i, value in enumerate(errors.values()):
    ax_err.annotate(
        f"{value:.1e}",
        (i, value),
        ha="center",
        xytext=(0, 4),
        textcoords="offset points",
        fontsize=10,
    )
fig.suptitle("Permutation symmetry: built into Deep Sets and self-attention, absent from an MLP")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "deep_sets_error_seen_size": ds_error_10,
    "deep_sets_error_unseen_size": ds_error_20,
    "mlp_error_seen_size": mlp_error_10,
    "deep_sets_perm_error": errors["Deep Sets"],
    "mlp_perm_error": errors["MLP"],
    "attention_perm_error": errors["self-attention"],
    "attention_positions_perm_error": errors["attention + positions"],
    "unseen_size": UNSEEN_SIZE,
    "max_train_size": MAX_SIZE,
}
for key, value in SUMMARY.items():
    print(f"{key:>32s}: {value:.4g}" if isinstance(value, float) else f"{key:>32s}: {value}")
