"""
Every linear map that commutes with shifts is a convolution
===========================================================

The n x n matrices A with AS = SA (S the cyclic shift) are found numerically, as the null space
of the linear map A -> AS - SA: that space has dimension exactly n and every element of it is a
circulant, a circular convolution; on an m x m grid, the maps commuting with both shifts form a
space of dimension m^2 of block-circulant matrices, the 2-D convolutions.

The figure shows the singular values of the linear system, with exactly n (or m^2) zeros
separated from the rest by a gap equal to the theoretical 2 sin(pi/n), a few basis matrices of
the null space (diagonals constant, wrapping around), and a random element of the space applied
to a signal next to the circular convolution with the kernel read off its first row.
Look for the gap: the dimension count is not a matter of tolerance.

This is the 1-D case of the theorem behind lecture 11 (symmetry and equivariance): linear maps
equivariant under a group action are exactly the maps in the commutant of its representation.

Try:
- Set `N = 12`: 12 zero singular values; the smallest non-zero one is 2 sin(pi/12) = 0.518.
- Replace the cyclic shift by the reflection `S = np.eye(N)[::-1]`: how large is the commutant
  of an involution? (Count its +1 and -1 eigenvalues; for even n the answer is n^2/2.)
- Require commuting with S and with the reflection, `commutant([S, np.eye(N)[::-1]])`: the
  dimension drops to n/2 + 1, the symmetric kernels (the dihedral group's irreducibles).
"""

# %%
import os

from common.plotting import use_course_style

import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

N = 8 if SMOKE else 16  # length of the 1-D signals
GRID = 4 if SMOKE else 5  # side m of the 2-D grid (m x m pixels)
TOLERANCE = 1e-8  # singular values below this count as zero (the gap is ~1e-1, see below)

rng = np.random.default_rng(SEED)

# %% [markdown]
# ## The commutant as a null space
# With $\operatorname{vec}$ stacking columns, $\operatorname{vec}(AS) = (S^\top \otimes I)
# \operatorname{vec} A$ and $\operatorname{vec}(SA) = (I \otimes S) \operatorname{vec} A$. So
# $AS = SA$ is the homogeneous linear system
# $$(I \otimes S - S^\top \otimes I)\, \operatorname{vec} A = 0,$$
# $n^2$ equations in $n^2$ unknowns. Its solutions are the right singular vectors of the
# system matrix $K$ with singular value zero.
#
# $K$ is normal (its two terms commute and $S$ is unitary), so its singular values are the
# moduli of its eigenvalues, $|\omega^a - \omega^b|$ with $\omega = e^{2\pi i/n}$,
# $0 \le a, b < n$. Exactly $n$ of them vanish ($a = b$), and the smallest non-zero one is
# $|1 - \omega| = 2 \sin(\pi / n)$: a gap, not a tolerance.


# %%
def cyclic_shift(n):
    """(S x)_i = x_{(i - 1) mod n}."""
    return np.roll(np.eye(n), 1, axis=0)


def commutant(generators):
    """Orthonormal basis (as matrices) of {A : A G = G A for every G}, and all singular values."""
    n = generators[0].shape[0]
    eye = np.eye(n)
    system = np.vstack([np.kron(eye, g) - np.kron(g.T, eye) for g in generators])
    _, singular_values, vt = np.linalg.svd(system, full_matrices=False)
    null = vt[singular_values < TOLERANCE]
    # vec stacks columns: reshape in Fortran order to get the matrices back.
    return [v.reshape(n, n, order="F") for v in null], singular_values


S = cyclic_shift(N)
basis_1d, sv_1d = commutant([S])
print(f"1-D: {len(basis_1d)} independent solutions of AS = SA for n = {N}")


# %% [markdown]
# ## Every solution is a circulant
# A circulant has $A_{ij} = c_{(j - i) \bmod n}$: every entry equals the entry of the first row
# at the same cyclic offset. Then $(Ax)_i = \sum_j c_{(j-i) \bmod n} x_j$ is the circular
# cross-correlation of $x$ with the kernel $c$ (the first row), exactly what a `Conv1D` with
# circular padding and an $n$-tap kernel computes (script 1).


# %%
def circulant_deviation(a):
    n = a.shape[0]
    i, j = np.indices((n, n))
    return float(np.abs(a - a[0][(j - i) % n]).max())


deviation_1d = max(circulant_deviation(a) for a in basis_1d)

# A random element of the commutant, applied to a random signal, against the circular
# correlation with the kernel read off its first row (computed with the FFT).
A = sum(rng.standard_normal() * a for a in basis_1d)
x = rng.standard_normal(N)
kernel = A[0]
correlation = np.real(np.fft.ifft(np.conj(np.fft.fft(kernel)) * np.fft.fft(x)))
# (A x)_i = sum_j c_{j-i} x_j: in Fourier space the correlation is conj(c_hat) * x_hat.
convolution_error = float(np.abs(A @ x - correlation).max())

# %% [markdown]
# ## The Fourier basis diagonalizes every circulant
# The characters $\chi_a(j) = \omega^{aj}$ of the cyclic group $\mathbb Z_n$ are common
# eigenvectors of all the $S^k$, hence of every circulant: with $F_{ja} = \omega^{aj} /
# \sqrt n$, $F^* A F$ is diagonal. The commutant is $n$-dimensional because $S$ has $n$
# distinct eigenvalues, each of multiplicity one (Schur's lemma, one scalar per irreducible).

# %%
F = np.exp(2j * np.pi * np.outer(np.arange(N), np.arange(N)) / N) / np.sqrt(N)
diagonalized = F.conj().T @ A @ F
off_diagonal = float(np.abs(diagonalized - np.diag(np.diag(diagonalized))).max())

# %% [markdown]
# ## 2-D: shifts along rows and along columns
# On an $m \times m$ grid, flatten the image row by row; the shift along columns is
# $I \otimes S_m$ and along rows $S_m \otimes I$. Commuting with both gives $m^2$ independent
# solutions, each block circulant with circulant blocks: $A_{(a,b),(c,d)}$ depends only on
# $((c - a) \bmod m, (d - b) \bmod m)$, a 2-D circular convolution with an $m \times m$ kernel.

# %%
S_m, I_m = cyclic_shift(GRID), np.eye(GRID)
basis_2d, sv_2d = commutant([np.kron(I_m, S_m), np.kron(S_m, I_m)])
rows, cols = np.divmod(np.arange(GRID * GRID), GRID)
offset = ((rows[None, :] - rows[:, None]) % GRID) * GRID + (cols[None, :] - cols[:, None]) % GRID
deviation_2d = max(float(np.abs(a - a[0][offset]).max()) for a in basis_2d)
print(f"2-D: {len(basis_2d)} independent solutions for a {GRID}x{GRID} grid")

# %% [markdown]
# ## Figure

# %%
use_course_style()
fig = plt.figure(figsize=(17, 9))
grid = fig.add_gridspec(2, 4)
ax_sv = fig.add_subplot(grid[0, :2])
shown = 2 * GRID**2 + 10  # the zeros and the start of the non-zero singular values
for values, count, side, label, marker, colour in [
    (sv_1d, N, N, f"1-D, n = {N}", "o", "tab:blue"),
    (sv_2d, GRID**2, GRID, f"2-D, {GRID}x{GRID} grid", "s", "tab:orange"),
]:
    index = np.arange(1, shown + 1)
    ax_sv.semilogy(index, np.sort(values)[:shown] + 1e-17, marker, color=colour, label=label)
    ax_sv.axvline(count + 0.5, color=colour, linestyle=":", linewidth=1.2)
    ax_sv.axhline(2 * np.sin(np.pi / side), color=colour, linestyle="--", linewidth=1.2)
ax_sv.axhline(TOLERANCE, color="gray", linestyle="-.", linewidth=1.2, label="zero threshold")
ax_sv.plot([], [], "k--", linewidth=1.2, label=r"predicted gap $2\sin(\pi/n)$, $2\sin(\pi/m)$")
ax_sv.plot([], [], "k:", linewidth=1.2, label="n and $m^2$ (predicted dimensions)")
ax_sv.set(
    xlabel=f"index of the singular value, sorted (first {shown} of {N**2} and {GRID**4})",
    ylabel="singular value (log scale)",
    title=f"Singular values of the system: {len(basis_1d)} and {len(basis_2d)} zeros, then a gap",
    ylim=(1e-17, 30),
)
ax_sv.legend(loc="center right", fontsize=11)

ax_x = fig.add_subplot(grid[0, 2:])
ax_x.plot(A @ x, "o-", label="$Ax$, A a random solution of AS = SA")
ax_x.plot(correlation, "x--", markersize=10, label="circular correlation with its first row")
ax_x.set(xlabel="position i", ylabel="value", title="Every solution is a convolution")
ax_x.legend()

for k in range(4):
    ax = fig.add_subplot(grid[1, k])
    matrix = basis_1d[k] if k < 2 else basis_2d[k - 2]
    scale = np.abs(matrix).max()
    ax.imshow(matrix, cmap="RdBu_r", vmin=-scale, vmax=scale)
    ax.set(title=f"{'1-D' if k < 2 else '2-D'} null-space basis element {k % 2 + 1}")
    ax.set(xlabel="j", ylabel="i")
    ax.locator_params(integer=True)
    ax.grid(False)
fig.suptitle("The linear maps that commute with cyclic shifts (colour: entry, red > 0 > blue)")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "n": N,
    "grid": GRID,
    "dimension_1d": len(basis_1d),
    "dimension_2d": len(basis_2d),
    "largest_zero_sv_1d": float(np.sort(sv_1d)[N - 1]),
    "smallest_nonzero_sv_1d": float(np.sort(sv_1d)[N]),
    "predicted_gap_1d": float(2 * np.sin(np.pi / N)),
    "largest_zero_sv_2d": float(np.sort(sv_2d)[GRID**2 - 1]),
    "smallest_nonzero_sv_2d": float(np.sort(sv_2d)[GRID**2]),
    "predicted_gap_2d": float(2 * np.sin(np.pi / GRID)),
    "circulant_deviation_1d": deviation_1d,
    "circulant_deviation_2d": deviation_2d,
    "convolution_error": convolution_error,
    "fourier_off_diagonal": off_diagonal,
}
for key, value in SUMMARY.items():
    print(f"{key:>24s}: {value:.4g}" if isinstance(value, float) else f"{key:>24s}: {value}")
