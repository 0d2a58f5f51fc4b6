"""
Convolution is a structured linear map: Toeplitz and circulant matrices
=======================================================================

A `Conv1D` and a `Conv2D` layer are written out as dense matrices, by applying them to the
standard basis: zero padding gives a banded Toeplitz matrix, circular padding a circulant, and
the circular layer commutes with the cyclic shift while the zero-padded one fails only at the
border.

The figure shows the three matrices (1-D zero padding, 1-D circular padding, 2-D circular
padding as a block-circulant matrix with circulant blocks) and, per output position, how much
the two 1-D layers fail to commute with a one-step cyclic shift. Look for the constant
diagonals, the wrap-around corners of the circulant, and the commutator: exactly zero for the
circular layer, non-zero for the zero-padded layer only at the k = 2p + 1 positions next to the
border (p = (k - 1)/2 on each side, plus one where the shift wraps around).

Try:
- Set `KERNEL_SIZE = 5`: the band widens and the commutator is non-zero at 5 positions.
- Set `N = 32`: the printed `Conv2D` count stays 9 * 3 * 16 + 16 = 448, the `Dense` count
  grows like N^4 (16 times larger); the 1-D layer keeps its `KERNEL_SIZE` weights.
- Set `M = 8`: the 2-D matrix is 64 x 64, made of 8 x 8 circulant blocks arranged in a
  circulant pattern; how many of its 64 x 64 entries are non-zero?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

N = 16  # length of the 1-D signals
KERNEL_SIZE = 3  # odd, so that "same" padding is symmetric: p = (k - 1) / 2 on each side
M = 6  # side of the 2-D images (M x M grid)
N_TEST = 20 if SMOKE else 200  # random signals used to measure the commutators
PAD = (KERNEL_SIZE - 1) // 2

# %% [markdown]
# ## Convolution in Keras is cross-correlation
# A `Conv1D` layer with one input and one output channel, kernel $w \in \mathbb R^k$, no bias
# and `padding="same"` computes
# $$y_i = \sum_{t=0}^{k-1} w_t\, x_{i+t-p}, \qquad p = \tfrac{k-1}{2},$$
# with $x_j = 0$ outside $0 \le j < n$ (zero padding). This is linear in $x$, so $y = Cx$ for the
# matrix $C_{ij} = w_{j-i+p}$ (zero when $|j-i| > p$): constant along each diagonal, a banded
# **Toeplitz** matrix. Its $j$-th column is the layer's response to the basis vector $e_j$,
# which is how we read it off.
#
# Keras has no circular padding. We get it by wrapping the input, $\tilde x =
# (x_{n-p}, \dots, x_{n-1}, x, x_0, \dots, x_{p-1})$, with `keras.ops.concatenate`, and then a
# `padding="valid"` convolution: $y_i = \sum_t w_t x_{(i+t-p) \bmod n}$, a **circulant** matrix
# $C_{ij} = w_{(j-i+p) \bmod n}$ (with $w_t = 0$ for $t \ge k$).

# %%
keras.utils.set_random_seed(SEED)


def conv_layer(padding, rank=1):
    """One-channel convolution without bias: a linear map."""
    layer_type = keras.layers.Conv1D if rank == 1 else keras.layers.Conv2D
    return layer_type(1, KERNEL_SIZE, padding=padding, use_bias=False)


def wrap(x, axis):
    """Circular padding along `axis`: the last PAD entries before, the first PAD after."""
    size = x.shape[axis]
    head = keras.ops.take(x, list(range(size - PAD, size)), axis=axis)
    tail = keras.ops.take(x, list(range(PAD)), axis=axis)
    return keras.ops.concatenate([head, x, tail], axis=axis)


signal = keras.Input(shape=(N, 1))
zero_layer = conv_layer("same")
circular_layer = conv_layer("valid")
zero_padded = keras.Model(signal, zero_layer(signal))
circular = keras.Model(signal, circular_layer(wrap(signal, axis=1)))
# A kernel with no zero entry (|w_t| in [0.5, 1], random signs), the same in both layers.
rng = np.random.default_rng(SEED)
kernel = (rng.uniform(0.5, 1.0, KERNEL_SIZE) * rng.choice([-1, 1], KERNEL_SIZE)).astype("float32")
zero_layer.set_weights([kernel.reshape(KERNEL_SIZE, 1, 1)])
circular_layer.set_weights([kernel.reshape(KERNEL_SIZE, 1, 1)])

image = keras.Input(shape=(M, M, 1))
circular_2d = keras.Model(image, conv_layer("valid", rank=2)(wrap(wrap(image, 1), 2)))


def matrix_of(model, n_inputs):
    """The matrix C with model(x) = C x: its columns are the responses to the basis vectors."""
    basis = np.eye(n_inputs, dtype=np.float32)
    shape = (n_inputs, *model.input_shape[1:])
    responses = model.predict(basis.reshape(shape), batch_size=n_inputs, verbose=0)
    return responses.reshape(n_inputs, -1).T


C_zero = matrix_of(zero_padded, N)
C_circ = matrix_of(circular, N)
C_2d = matrix_of(circular_2d, M * M)

# %% [markdown]
# ## The matrices reproduce the layers, and have the predicted structure
# The entries are the kernel weights themselves ($1 \cdot w_t$ plus zeros), so the structure
# holds exactly; the products $Cx$ agree with the layer up to float32 rounding.

# %%
x_test = rng.standard_normal((N_TEST, N, 1)).astype(np.float32)
y_zero = zero_padded.predict(x_test, verbose=0)[..., 0]
y_circ = circular.predict(x_test, verbose=0)[..., 0]
matrix_error = max(
    np.linalg.norm(x_test[..., 0] @ C_zero.T - y_zero) / np.linalg.norm(y_zero),
    np.linalg.norm(x_test[..., 0] @ C_circ.T - y_circ) / np.linalg.norm(y_circ),
)

i, j = np.indices((N, N))
toeplitz = np.where(np.abs(j - i) <= PAD, kernel[np.clip(j - i + PAD, 0, KERNEL_SIZE - 1)], 0.0)
circulant = np.zeros((N, N), dtype=np.float32)
for t in range(KERNEL_SIZE):
    circulant[(j - i + PAD) % N == t] = kernel[t]
toeplitz_deviation = float(np.abs(C_zero - toeplitz).max())
circulant_deviation = float(np.abs(C_circ - circulant).max())

# 2-D: C[(a, b), (c, d)] depends only on ((c - a) mod M, (d - b) mod M): block circulant with
# circulant blocks. Compare every entry with the one in the first row at the same offset.
a, b = np.divmod(np.arange(M * M), M)
offset = ((a[None, :] - a[:, None]) % M) * M + (b[None, :] - b[:, None]) % M
bccb_deviation = float(np.abs(C_2d - C_2d[0][offset]).max())

# %% [markdown]
# ## Shifts: equivariance of the circular layer, failure at the border for zero padding
# Let $S$ be the cyclic shift, $(Sx)_i = x_{(i-1) \bmod n}$. Every circulant commutes with $S$
# (both are polynomials in $S$: $C = \sum_t w_t S^{p-t}$), so $C_{\text{circ}} S x =
# S C_{\text{circ}} x$. The zero-padded matrix is the circulant minus its wrap-around entries
# $B$ (in the top-right and bottom-left $p \times p$ corners): $C_{\text{zero}} =
# C_{\text{circ}} - B$, hence $[C_{\text{zero}}, S] = -[B, S] = SB - BS$. Its non-zero rows are
# those of $BS$ (rows $0, \dots, p-1$ and $n-p, \dots, n-1$) and of $SB$ (rows $1, \dots, p$,
# $n-p+1, \dots, n-1$ and row $0$, where the shift wraps around), with the non-zeros in
# different columns so nothing cancels: the $2p + 1 = k$ positions $\{0, \dots, p\} \cup
# \{n-p, \dots, n-1\}$.

# %%
shifted = np.roll(x_test, 1, axis=1)  # S x
commutator_zero = zero_padded.predict(shifted, verbose=0)[..., 0] - np.roll(y_zero, 1, axis=1)
commutator_circ = circular.predict(shifted, verbose=0)[..., 0] - np.roll(y_circ, 1, axis=1)
circular_commutator = float(np.linalg.norm(commutator_circ) / np.linalg.norm(y_circ))
per_position_zero = np.linalg.norm(commutator_zero, axis=0) / np.linalg.norm(y_zero, axis=0)
per_position_circ = np.linalg.norm(commutator_circ, axis=0) / np.linalg.norm(y_circ, axis=0)
nonzero = np.flatnonzero(per_position_zero > 1e-6)
expected = np.r_[0 : PAD + 1, N - PAD : N]
print("zero padding, commutator non-zero at positions", nonzero.tolist())

# %% [markdown]
# ## Parameters: a convolution against a dense layer on the same sizes
# A convolution from $C_{\text{in}}$ to $C_{\text{out}}$ channels has $k^d C_{\text{in}}
# C_{\text{out}} + C_{\text{out}}$ parameters whatever the image size; a `Dense` layer between
# the same flattened sizes has $(n^d C_{\text{in}})(n^d C_{\text{out}}) + n^d C_{\text{out}}$.
# Weight sharing (one kernel for every position) and locality (zero outside the band) make the
# difference.

# %%
IN_CHANNELS, OUT_CHANNELS = 3, 16
conv_params = keras.Sequential(
    [keras.Input((N, N, IN_CHANNELS)), keras.layers.Conv2D(OUT_CHANNELS, KERNEL_SIZE)]
).count_params()
dense_params = (N * N * IN_CHANNELS) * (N * N * OUT_CHANNELS) + N * N * OUT_CHANNELS
assert conv_params == KERNEL_SIZE**2 * IN_CHANNELS * OUT_CHANNELS + OUT_CHANNELS
print(
    f"{N}x{N}x{IN_CHANNELS} -> {N}x{N}x{OUT_CHANNELS}: Conv2D {conv_params:,} parameters, "
    f"Dense {dense_params:,}"
)

# %% [markdown]
# ## Figure

# %%
use_course_style()
fig, axes = plt.subplots(1, 4, figsize=(19, 5.2))
for ax, matrix, title in [
    (axes[0], C_zero, f"Conv1D, zero padding:\nToeplitz, {N}x{N}"),
    (axes[1], C_circ, f"Conv1D, circular padding:\ncirculant, {N}x{N}"),
    (axes[2], C_2d, f"Conv2D on {M}x{M}, circular:\nblock circulant, {M * M}x{M * M}"),
]:
    scale = np.abs(matrix).max()
    shown = ax.imshow(matrix, cmap="RdBu_r", vmin=-scale, vmax=scale)
    fig.colorbar(shown, ax=ax, shrink=0.7)
    ax.locator_params(integer=True)
    ax.set(title=title, xlabel="input index j", ylabel="output index i")
    ax.grid(False)
positions = np.arange(N)
axes[3].bar(positions - 0.2, per_position_zero, 0.4, label="zero padding")
axes[3].bar(positions + 0.2, per_position_circ + 1e-9, 0.4, label="circular padding")
axes[3].text(
    N / 2,
    1e-7,
    f"circular padding:\nlargest value {per_position_circ.max():.1g}",
    ha="center",
    fontsize=12,
)
axes[3].set(
    yscale="log",
    ylim=(1e-9, 10),
    xlabel="output position i",
    ylabel=r"$\|(CS - SC)x\|_i \,/\, \|Cx\|_i$",
    title="Commutator with the cyclic shift S",
    xticks=positions[::3],
)
axes[3].legend(loc="upper center")
fig.suptitle(
    f"A convolution with kernel size {KERNEL_SIZE} written as a matrix (colour: entry $C_{{ij}}$)"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "kernel_size": KERNEL_SIZE,
    "n": N,
    "matrix_rel_error": float(matrix_error),
    "toeplitz_deviation": toeplitz_deviation,
    "circulant_deviation": circulant_deviation,
    "bccb_deviation": bccb_deviation,
    "circular_commutator": circular_commutator,
    "zero_commutator_positions": len(nonzero),
    "zero_commutator_at_border_only": bool(np.array_equal(nonzero, expected)),
    "zero_commutator_min_nonzero": float(per_position_zero[expected].min()),
    "conv_params": int(conv_params),
    "dense_params": int(dense_params),
}
for key, value in SUMMARY.items():
    print(f"{key:>31s}: {value:.4g}" if isinstance(value, float) else f"{key:>31s}: {value}")
