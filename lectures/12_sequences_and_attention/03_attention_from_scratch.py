"""
Attention from scratch: softmax(QKᵀ/√d)V, the √d, and the causal mask
=====================================================================

Multi-head scaled dot-product attention written with `keras.ops` in a few lines equals
`keras.layers.MultiHeadAttention` with the same weights, with and without a causal mask; the
scaling by 1/√d keeps the variance of the attention logits at σ⁴ (1 here, for entries of
variance σ² = 1) whatever the head dimension d, and the causal mask makes output t depend on
the inputs 1, ..., t only.

Left: the variance of the attention logits q·k and q·k/√d for random queries and keys against
the head dimension d (log-log), with the lines d and 1 of the variance computation (the two
point sets are one measurement: the scaled variance is the raw one divided by d). Middle: the
mean largest softmax weight over 16 keys, with and without the scaling: without it the softmax
saturates to a one-hot vector as d grows. Right: the norms of the Jacobian blocks ∂y_t/∂x_s of
causal self-attention (log scale, white = exactly zero): the upper triangle s > t is zero.

Needs the TensorFlow backend for the Jacobian: it comes from `tf.GradientTape.jacobian`.

Try:
- Set `HEADS = 4` and `HEAD_DIM = 4`: does the from-scratch attention still match the layer?
- Set `QK_STD = 2.0` (queries and keys with standard deviation 2): what variance of the scaled
  logits do you predict, and does the middle panel saturate again?
- In the Jacobian cell, compute `blocks_causal` with `causal=False`: which blocks of the
  right panel become non-zero?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

BATCH, LENGTH, D_MODEL = 8, 12, 32  # sequences for the equality check
# MultiHeadAttention(num_heads=HEADS, key_dim=HEAD_DIM); with d = 16, 1/√d = 1/4 is exact in
# binary (TensorFlow's attention kernel rounds the Python float 1/√d to float32 first, which
# would limit the float64 agreement to about 1e-8 for, say, d = 8)
HEADS, HEAD_DIM = 2, 16
DIMS = [1, 2, 4, 8, 16, 32, 64, 128, 256]  # head dimensions d of the variance experiment
N_PAIRS = 2000 if SMOKE else 20000  # random (query, key) pairs per d
N_KEYS = 16  # keys per query in the saturation experiment
QK_STD = 1.0  # standard deviation of the entries of the random queries and keys
JAC_LENGTH, JAC_DIM = 8, 8  # the sequence whose Jacobian is computed
rng = np.random.default_rng(SEED)

# %% [markdown]
# ## Scaled dot-product attention, one head
# A sequence $X \in \mathbb R^{T \times d_{\text{model}}}$ (one row per position) is mapped to
# queries $Q = XW_Q + b_Q$, keys $K = XW_K + b_K$ and values $V = XW_V + b_V$, each
# $T \times d$. Position $t$ compares its query with every key and averages the values with
# the softmax weights:
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\Big(\frac{QK^\top}{\sqrt d}\Big)V,
# \qquad \mathrm{softmax}(S)_{ts} = \frac{e^{S_{ts}}}{\sum_{s'} e^{S_{ts'}}}.$$
# A causal mask sets $S_{ts} = -\infty$ for $s > t$ before the softmax: position $t$ sees only
# the past. With $h$ heads, each has its own $W_Q^i, W_K^i, W_V^i$ (of shape
# $d_{\text{model}} \times d$), and the outputs of the heads $O^i \in \mathbb R^{T \times d}$
# are mapped back and summed: $Y = \sum_i O^i W_O^i + b_O$. Keras stores the kernels as
# arrays: query, key and value of shape `(d_model, heads, d)`, biases `(heads, d)`, output
# kernel `(heads, d, d_model)` and bias `(d_model,)`, in that order in `get_weights()`.


# %%
def multi_head_attention(x, weights, causal=False):
    """Self-attention of x (batch, T, d_model) with the weights of a MultiHeadAttention layer."""
    wq, bq, wk, bk, wv, bv, wo, bo = weights
    q = ops.einsum("btm,mhd->bthd", x, wq) + bq  # (batch, T, heads, d)
    k = ops.einsum("btm,mhd->bthd", x, wk) + bk
    v = ops.einsum("btm,mhd->bthd", x, wv) + bv
    d = q.shape[-1]
    logits = ops.einsum("bthd,bshd->bhts", q, k) / np.sqrt(d)  # (batch, heads, T, T)
    if causal:
        t = x.shape[1]
        allowed = np.tril(np.ones((t, t), dtype=bool))  # s <= t
        logits = ops.where(allowed, logits, -np.inf)
    attention = ops.softmax(logits, axis=-1)
    heads = ops.einsum("bhts,bshd->bthd", attention, v)
    return ops.einsum("bthd,hdm->btm", heads, wo) + bo


# %% [markdown]
# ## Equal to `keras.layers.MultiHeadAttention`
# The layer is built with random weights (random biases too, so that they are checked), and its
# weights are handed to the function above. The two agree exactly here, in float32 and in
# float64 (`dtype="float64"` on the layer), although they do not scale in the same way: Keras
# passes `scale=`$1/\sqrt d$ to `ops.dot_product_attention`, which multiplies the logits by it
# (its fallback path multiplies the query instead), while the function divides the logits by
# $\sqrt d$. With $d = 16$ the factor $1/4$ is a power of two, so
# both orders give bit-identical results; for other $d$ expect rounding differences (about
# $10^{-7}$ per operation in float32, $10^{-15}$ in float64).

# %%
errors = {}
for dtype in ["float32", "float64"]:
    keras.utils.set_random_seed(SEED)
    layer = keras.layers.MultiHeadAttention(
        num_heads=HEADS, key_dim=HEAD_DIM, bias_initializer="random_normal", dtype=dtype
    )
    x = rng.standard_normal((BATCH, LENGTH, D_MODEL)).astype(dtype)
    layer(x, x)  # builds the weights
    weights = layer.get_weights()
    if dtype == "float32":
        print("weight shapes:", [w.shape for w in weights])
    for causal in [False, True]:
        keras_out = ops.convert_to_numpy(layer(x, x, use_causal_mask=causal))
        ours = ops.convert_to_numpy(multi_head_attention(x, weights, causal=causal))
        errors[(dtype, causal)] = float(np.max(np.abs(keras_out - ours)))
        print(f"{dtype}, causal={causal}: max |keras - ours| = {errors[(dtype, causal)]:.2e}")

# %% [markdown]
# ## Why divide by $\sqrt d$
# Model the entries of a query and a key as independent with mean 0 and variance $\sigma^2$
# (here random Gaussian vectors with $\sigma = $ `QK_STD`; the projections of an initialized
# `MultiHeadAttention` layer are only roughly like this, and this cell does not check them; the
# argument is the one of Vaswani et al. 2017, footnote 4). Their dot product is a sum of $d$
# independent terms of variance $\sigma^4$:
# $$\mathrm{Var}(q \cdot k) = \sum_{i=1}^d \mathrm{Var}(q_i k_i) = d\,\sigma^4,
# \qquad \mathrm{Var}\Big(\frac{q \cdot k}{\sqrt d}\Big) = \sigma^4,$$
# the same variance computation as for a layer's pre-activations in lecture 08. Unscaled logits
# have a spread of $\sqrt d$: for large $d$ one logit dominates the others, the softmax is
# nearly one-hot, and its Jacobian $\mathrm{diag}(p) - pp^\top$ nearly zero, so no gradient
# flows back to the queries and keys. The sample variance of $n$ products has standard error
# $\sqrt{(\mu_4 - \mathrm{Var}^2)/n}$ with $\mu_4 = \sigma^8(3d^2 + 6d)$ for Gaussian entries.
# The raw and the scaled variances below are one measurement on the same samples (the scaled
# one is the raw one divided by $d$): the left panel shows it twice, on two scales.

# %%
var_raw, var_scaled, max_weight_raw, max_weight_scaled, se_scaled = [], [], [], [], []
for d in DIMS:
    q = QK_STD * rng.standard_normal((N_PAIRS, d))
    k = QK_STD * rng.standard_normal((N_PAIRS, d))
    dots = np.sum(q * k, axis=1)
    var_raw.append(float(np.var(dots)))
    var_scaled.append(float(np.var(dots / np.sqrt(d))))
    # sampling standard error of the scaled variance: mu_4 = sigma^8 (3 + 6 / d)
    se_scaled.append(float(QK_STD**4 * np.sqrt((2 + 6 / d) / N_PAIRS)))
    # one query against N_KEYS keys: how peaked is the softmax?
    n_q = N_PAIRS // N_KEYS
    logits = np.einsum("nd,nkd->nk", q[:n_q], QK_STD * rng.standard_normal((n_q, N_KEYS, d)))
    for scale, store in [(1.0, max_weight_raw), (1 / np.sqrt(d), max_weight_scaled)]:
        p = ops.convert_to_numpy(ops.softmax(logits * scale, axis=-1))
        store.append(float(np.mean(np.max(p, axis=1))))
    print(
        f"d = {d:4d}: Var(q.k) = {var_raw[-1]:8.2f}, Var(q.k/sqrt d) = {var_scaled[-1]:.3f}, "
        f"mean max weight {max_weight_raw[-1]:.2f} (raw) {max_weight_scaled[-1]:.2f} (scaled)"
    )
var_ratio = np.array(var_raw) / (np.array(DIMS) * QK_STD**4)
scaled_z = (np.array(var_scaled) - QK_STD**4) / np.array(se_scaled)

# %% [markdown]
# ## The causal mask in the Jacobian (TensorFlow)
# Causal self-attention $y = F(x)$ on one sequence: the block $\partial y_t / \partial x_s$
# (a $d_{\text{model}} \times d_{\text{model}}$ matrix) must vanish for $s > t$. The softmax
# weight of a masked position is exactly 0, and so is its derivative, so the blocks are exactly
# zero, not merely small. (Keras writes a large finite negative number into the masked logits,
# not $-\infty$: about $-2.4 \cdot 10^{38}$ in TensorFlow's attention kernel, $-10^9$ in the
# `Softmax` layer; its exponential underflows to exactly 0 in float32.) Keras 3 has no
# backend-neutral Jacobian; this is the backend-specific cell of the script.

# %%
import tensorflow as tf  # noqa: E402  (the Jacobian comes from tf.GradientTape.jacobian)


def jacobian_blocks(layer, x, causal):
    """Frobenius norms of the blocks dy_t/dx_s of self-attention on one sequence: (T, T)."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = layer(x, x, use_causal_mask=causal)
    # one backward pass per output entry (the vectorized jacobian crashes on this layer)
    jac = ops.convert_to_numpy(tape.jacobian(y, x, experimental_use_pfor=False))  # (1,T,D,1,T,D)
    return np.sqrt(np.sum(jac[0, :, :, 0] ** 2, axis=(1, 3)))


keras.utils.set_random_seed(SEED)
jac_layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=JAC_DIM // 2)
x_jac = rng.standard_normal((1, JAC_LENGTH, JAC_DIM)).astype("float32")
blocks_causal = jacobian_blocks(jac_layer, x_jac, causal=True)
blocks_full = jacobian_blocks(jac_layer, x_jac, causal=False)
future = np.triu(np.ones((JAC_LENGTH, JAC_LENGTH), dtype=bool), k=1)  # s > t
print(f"causal: largest future block {blocks_causal[future].max():.1e}, ", end="")
print(f"smallest past block {blocks_causal[~future].min():.2e}")
print(f"no mask: smallest future block {blocks_full[future].min():.2e}")

# %% [markdown]
# ## Figure: logit variance, softmax saturation, and the causal Jacobian

# %%
use_course_style()
fig, (ax_var, ax_sat, ax_jac) = plt.subplots(1, 3, figsize=(17, 5.4))
dims = np.array(DIMS)
ax_var.loglog(dims, var_raw, "o", color="tab:red", label="Var(q·k), measured")
ax_var.loglog(dims, dims * QK_STD**4, "--", color="tab:red", label="theory d σ⁴")
ax_var.loglog(dims, var_scaled, "s", color="tab:blue", label="Var(q·k / √d), measured")
ax_var.loglog(dims, np.full(len(dims), QK_STD**4), "--", color="tab:blue", label="theory σ⁴")
ax_var.set(xlabel="head dimension d", ylabel="variance of the logits", title="Logit variance")
ax_var.legend(fontsize=10)

ax_sat.semilogx(dims, max_weight_raw, "o-", color="tab:red", label="softmax(q·k)")
ax_sat.semilogx(dims, max_weight_scaled, "s-", color="tab:blue", label="softmax(q·k / √d)")
ax_sat.axhline(1 / N_KEYS, color="gray", linestyle=":", label=f"uniform 1/{N_KEYS}")
ax_sat.set(
    xlabel="head dimension d",
    ylabel="mean largest attention weight",
    title=f"Saturation of the softmax over {N_KEYS} keys",
    ylim=(0, 1.05),
)
ax_sat.legend(fontsize=10)

shown = np.where(blocks_causal > 0, np.log10(np.where(blocks_causal > 0, blocks_causal, 1)), np.nan)
image = ax_jac.imshow(shown, cmap="viridis")
ax_jac.set(
    xlabel="input position s",
    ylabel="output position t",
    title="Causal attention: log10 ‖∂y_t/∂x_s‖ (white = 0)",
)
ax_jac.grid(False)
fig.colorbar(image, ax=ax_jac, fraction=0.046, label="log10 ‖∂y_t/∂x_s‖ (Frobenius)")
fig.suptitle("Scaled dot-product attention: why √d, and what the causal mask does")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "error_float32": errors[("float32", False)],
    "error_float32_causal": errors[("float32", True)],
    "error_float64": errors[("float64", False)],
    "error_float64_causal": errors[("float64", True)],
    "max_raw_variance_ratio_deviation": float(np.max(np.abs(var_ratio - 1))),
    "max_scaled_variance_z": float(np.max(np.abs(scaled_z))),
    "scaled_variance_at_max_d": var_scaled[-1],
    "raw_variance_at_max_d": var_raw[-1],
    "max_weight_raw_at_max_d": max_weight_raw[-1],
    "max_weight_scaled_at_max_d": max_weight_scaled[-1],
    "max_weight_scaled_spread": float(np.ptp(max_weight_scaled)),
    "causal_max_future_block": float(blocks_causal[future].max()),
    "causal_min_past_block": float(blocks_causal[~future].min()),
    "full_min_future_block": float(blocks_full[future].min()),
    "n_pairs": N_PAIRS,
    "max_dim": DIMS[-1],
}
for key, value in SUMMARY.items():
    print(f"{key:>34s}: {value:.4g}" if isinstance(value, float) else f"{key:>34s}: {value}")
