"""
Counting equivariant linear maps: null spaces against characters
================================================================

The linear maps A : V -> W that commute with a group action, A rho_V(g) = rho_W(g) A, form a
vector space Hom_G(V, W); its dimension is computed here three ways, as the null space of a
linear system, from the characters, and by counting orbits, for the groups a network meets:
C4 and D4 on convolution kernels and images, S_n on sets, cyclic shifts on sequences.

The figure shows, on the left, the three counts for every case side by side (they agree
exactly), and on the right the bases that the counts describe: the C4- and D4-invariant 5 x 5
filters (one indicator image per orbit of pixels) and the two permutation-equivariant maps of
R^5, the identity and the all-ones matrix (the Deep Sets layer). Look at how few parameters
the symmetry leaves: 7 of 25 for a rotation-invariant 5 x 5 filter, 2 of n^2 for a layer on
sets, n of n^2 for a shift-equivariant layer (a convolution).

Try:
- Add the case `("D4: 7x7 invariant filters", trivial(8, 2), pixels_d4(7))` to `CASES`:
  how many free parameters does a D4-invariant 7 x 7 filter have? Predict it from the
  character first (7 fixed pixels for each reflection, 1 for each rotation r, r^2, r^3).
- Add the case `("C4: 4x4 -> 3x3 images", pixels_c4(4), pixels_c4(3))`: how many linear maps
  from 4 x 4 to 3 x 3 images commute with rotations?
- Why is dim End_{S_n}(R^n) = 2 for every n >= 2, but 1 for n = 1?
"""

# %%
import itertools
import os

from common.plotting import use_course_style

import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` stops the symmetric groups at a smaller n; `MMA440_SEED` draws the random
# images and filters of the convolution check.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

MAX_N_SYMMETRIC = 4 if SMOKE else 6  # S_n for n = 2 .. MAX_N_SYMMETRIC (n! elements)
N_CYCLIC = 8  # cyclic shifts of R^8
RANK_TOLERANCE = 1e-9  # singular values below this (relative) count as zero
rng = np.random.default_rng(SEED)

# %% [markdown]
# ## Representations as lists of matrices
# A finite group is given by the matrices $\rho(g)$ of all its elements (for the character
# formula) and of a generating set (for the linear system: commuting with the generators is
# commuting with the group). All representations here are permutation representations.


# %%
def perm_matrix(perm):
    """The permutation matrix P with P e_j = e_perm[j]."""
    n = len(perm)
    matrix = np.zeros((n, n))
    matrix[np.asarray(perm), np.arange(n)] = 1.0
    return matrix


def image_matrix(transform, m):
    """The m^2 x m^2 matrix of a pixel permutation `transform` acting on m x m images."""
    basis = np.eye(m * m).reshape(m * m, m, m)
    return np.stack([transform(e).ravel() for e in basis], axis=1)


def pixels_c4(m):
    elements = [image_matrix(lambda x, a=a: np.rot90(x, a), m) for a in range(4)]
    return {"all": elements, "generators": [elements[1]]}


def pixels_d4(m):
    rotations = [image_matrix(lambda x, a=a: np.rot90(x, a), m) for a in range(4)]
    reflection = image_matrix(np.fliplr, m)
    return {
        "all": rotations + [r @ reflection for r in rotations],
        "generators": [rotations[1], reflection],
    }


def trivial(order, generators):
    return {"all": [np.ones((1, 1))] * order, "generators": [np.ones((1, 1))] * generators}


def symmetric(n):
    elements = [perm_matrix(p) for p in itertools.permutations(range(n))]
    transposition = perm_matrix([1, 0, *range(2, n)])
    cycle = perm_matrix([(i + 1) % n for i in range(n)])
    return {"all": elements, "generators": [transposition, cycle]}


def cyclic(n):
    shifts = [perm_matrix([(i + k) % n for i in range(n)]) for k in range(n)]
    return {"all": shifts, "generators": [shifts[1]]}


# %% [markdown]
# ## Three counts of $\dim \operatorname{Hom}_G(V, W)$
# **Null space.** With $A$ a $\dim W \times \dim V$ matrix and $\operatorname{vec}$ the
# row-major flattening, $\operatorname{vec}(\rho_W A) = (\rho_W \otimes I)\operatorname{vec} A$
# and $\operatorname{vec}(A \rho_V) = (I \otimes \rho_V^\top)\operatorname{vec} A$, so the
# intertwiners are the null space of the stacked matrix
# $\big[\rho_W(s) \otimes I - I \otimes \rho_V(s)^\top\big]_{s \in S}$ over a generating set $S$.
# Its dimension is the number of zero singular values.
#
# **Characters.** By Schur's lemma and the orthogonality of characters,
# $$ \dim \operatorname{Hom}_G(V, W) = \frac{1}{|G|} \sum_{g \in G}
#    \chi_V(g)\, \overline{\chi_W(g)} . $$
#
# **Orbits.** For permutation representations on sets $X$ and $Y$, an intertwiner is a matrix
# constant on the orbits of $G$ on $Y \times X$, so the dimension is the number of those
# orbits (Burnside's lemma turns this count into the character formula: $\chi_V(g)\chi_W(g)$
# is the number of pairs fixed by $g$). The orbit indicators are an explicit basis.


# %%
def null_space_count(group_v, group_w):
    blocks = [
        np.kron(rw, np.eye(len(rv))) - np.kron(np.eye(len(rw)), rv.T)
        for rv, rw in zip(group_v["generators"], group_w["generators"], strict=True)
    ]
    singular = np.linalg.svd(np.vstack(blocks), compute_uv=False)
    n_unknowns = blocks[0].shape[1]
    scale = max(singular[0], 1.0)
    rank = int(np.sum(singular > RANK_TOLERANCE * scale))
    zero = singular[rank:] if rank < len(singular) else np.zeros(1)
    smallest_nonzero = singular[rank - 1] if rank > 0 else np.inf
    return n_unknowns - rank, float(np.max(zero, initial=0.0)), float(smallest_nonzero)


def null_space_basis(group_v, group_w):
    blocks = [
        np.kron(rw, np.eye(len(rv))) - np.kron(np.eye(len(rw)), rv.T)
        for rv, rw in zip(group_v["generators"], group_w["generators"], strict=True)
    ]
    _, singular, vt = np.linalg.svd(np.vstack(blocks))
    rank = int(np.sum(singular > RANK_TOLERANCE * max(singular[0], 1.0)))
    return vt[rank:]  # orthonormal rows spanning the null space


def character_count(group_v, group_w):
    total = sum(
        np.trace(rv) * np.trace(rw) for rv, rw in zip(group_v["all"], group_w["all"], strict=True)
    )
    return total / len(group_v["all"])


def orbit_basis(group_v, group_w):
    """Indicator matrices of the orbits of G on pairs (i, j): a basis of Hom_G(V, W)."""
    dim_w, dim_v = len(group_w["all"][0]), len(group_v["all"][0])
    label = -np.ones((dim_w, dim_v), dtype=int)
    perms_v = [np.argmax(r, axis=0) for r in group_v["all"]]  # j -> g.j
    perms_w = [np.argmax(r, axis=0) for r in group_w["all"]]
    n_orbits = 0
    for i in range(dim_w):
        for j in range(dim_v):
            if label[i, j] < 0:
                for pv, pw in zip(perms_v, perms_w, strict=True):
                    label[pw[i], pv[j]] = n_orbits
                n_orbits += 1
    return np.stack([(label == k).astype(float) for k in range(n_orbits)])


# %% [markdown]
# ## The cases
# Invariant filters are $\operatorname{Hom}_G(\mathbb 1, V)$: a filter $f$ with $g \cdot f = f$.
# A convolution with such a filter commutes with the group (checked below).
# $\operatorname{End}_G(V) = \operatorname{Hom}_G(V, V)$ holds the equivariant layers.

# %%
CASES = [
    ("C4: 3x3 invariant filters", trivial(4, 1), pixels_c4(3)),
    ("D4: 3x3 invariant filters", trivial(8, 2), pixels_d4(3)),
    ("C4: 5x5 invariant filters", trivial(4, 1), pixels_c4(5)),
    ("D4: 5x5 invariant filters", trivial(8, 2), pixels_d4(5)),
    ("C4: End of 4x4 images", pixels_c4(4), pixels_c4(4)),
    ("D4: End of 5x5 images", pixels_d4(5), pixels_d4(5)),
    (f"C{N_CYCLIC}: End of R^{N_CYCLIC}", cyclic(N_CYCLIC), cyclic(N_CYCLIC)),
]
CASES += [
    (f"S{n}: End of R^{n}", symmetric(n), symmetric(n)) for n in range(2, MAX_N_SYMMETRIC + 1)
]
CASES += [
    (f"S{n}: R^{n} -> R", symmetric(n), trivial(len(symmetric(n)["all"]), 2))
    for n in (3, MAX_N_SYMMETRIC)
]

results = []
for name, group_v, group_w in CASES:
    numerical, largest_zero, smallest_nonzero = null_space_count(group_v, group_w)
    by_characters = character_count(group_v, group_w)
    basis = orbit_basis(group_v, group_w)
    # The orbit basis spans the null space: compare the orthogonal projectors onto the two.
    null_rows = null_space_basis(group_v, group_w)
    orbit_rows = np.linalg.qr(basis.reshape(len(basis), -1).T)[0].T
    projector_gap = np.abs(null_rows.T @ null_rows - orbit_rows.T @ orbit_rows).max()
    results.append(
        dict(
            name=name,
            numerical=numerical,
            characters=by_characters,
            orbits=len(basis),
            largest_zero=largest_zero,
            smallest_nonzero=smallest_nonzero,
            projector_gap=projector_gap,
            unknowns=basis[0].size,
        )
    )
    print(
        f"{name:>28s}: null space {numerical:3d}, characters {by_characters:7.3f}, "
        f"orbits {len(basis):3d} of {basis[0].size:4d} unknowns; singular values "
        f"<= {largest_zero:.1e} | >= {smallest_nonzero:.2f}; projectors {projector_gap:.1e}"
    )

# %% [markdown]
# ## The Deep Sets layer and circulants
# For $S_n$ the two orbits on pairs are the diagonal and the off-diagonal, so every
# permutation-equivariant linear map of $\mathbb R^n$ is $A = aI + b\,\mathbf 1\mathbf 1^\top$
# (Zaheer et al., 2017). For cyclic shifts the orbits are the diagonals $\{(i + k, i)\}$, so
# the equivariant maps are the circulant matrices: convolutions with periodic boundary.

# %%
n_sets = MAX_N_SYMMETRIC
sets_null = null_space_basis(symmetric(n_sets), symmetric(n_sets))
projector = sets_null.T @ sets_null  # projection onto vec(Hom) in R^(n^2)
deep_sets_residual = max(
    np.abs(projector @ m.ravel() - m.ravel()).max()
    for m in (np.eye(n_sets), np.ones((n_sets, n_sets)))
)
cyclic_null = null_space_basis(cyclic(N_CYCLIC), cyclic(N_CYCLIC))
circulant_residual = max(
    np.abs(cyclic_null.T @ (cyclic_null @ s.ravel()) - s.ravel()).max()
    for s in cyclic(N_CYCLIC)["all"]
)

# %% [markdown]
# ## Which 3x3 filters give rotation-equivariant convolutions
# Cross-correlation $(x \star f)(p) = \sum_q x(p + q) f(q)$ satisfies
# $(r \cdot x) \star f = r \cdot (x \star (r^{-1} \cdot f))$, so it commutes with the rotation
# $r$ if and only if $r \cdot f = f$. A filter drawn from the three-dimensional space of
# C4-invariant 3 x 3 filters commutes with `rot90` (to float64 rounding); a generic one does not.

# %%
image = rng.standard_normal((12, 12))
c4_filter_basis = orbit_basis(trivial(4, 1), pixels_c4(3)).reshape(-1, 3, 3)
invariant_filter = np.tensordot(rng.standard_normal(len(c4_filter_basis)), c4_filter_basis, 1)
generic_filter = rng.standard_normal((3, 3))


def correlate(x, f):
    """(x * f)(p) = sum_q x(p + q) f(q), q over the k x k offsets, zero padding ('same')."""
    k = len(f)
    padded = np.pad(x, k // 2)
    return sum(f[i, j] * padded[i : i + len(x), j : j + len(x)] for i in range(k) for j in range(k))


def commutator(f):
    rotated_first = correlate(np.rot90(image), f)
    rotated_after = np.rot90(correlate(image, f))
    return np.linalg.norm(rotated_first - rotated_after) / np.linalg.norm(rotated_after)


conv_error_invariant = commutator(invariant_filter)
conv_error_generic = commutator(generic_filter)
print(
    f"rotation commutator: invariant filter {conv_error_invariant:.1e}, "
    f"generic filter {conv_error_generic:.2f}"
)

# %% [markdown]
# ## Figure: the three counts, and the bases they count

# %%
use_course_style()
fig = plt.figure(figsize=(15, 7.5))
left, right = fig.subfigures(1, 2, width_ratios=[1.05, 1])
ax = left.subplots()
positions = np.arange(len(results))
for offset, key, label in [
    (-0.27, "numerical", "null space of the linear system"),
    (0.0, "characters", "character formula"),
    (0.27, "orbits", "orbits on pairs"),
]:
    ax.barh(positions + offset, [r[key] for r in results], 0.27, label=label)
ax.set_yticks(positions, [r["name"] for r in results])
ax.invert_yaxis()
ax.set_xscale("log")
ax.set_xlim(0.5, 400)
ax.set(
    xlabel="dim Hom_G(V, W) (log scale)", title="Three counts (labels: dimension / entries of A)"
)
ax.legend(loc="lower right", fontsize=10)
for pos, r in zip(positions, results, strict=True):
    ax.annotate(
        f"{r['numerical']} / {r['unknowns']}",
        (r["numerical"], pos),
        xytext=(28, -4),
        textcoords="offset points",
        fontsize=9,
    )

axes = right.subplots(3, 7)
for a in axes.ravel():
    a.set_xticks([])
    a.set_yticks([])
    a.grid(False)
    for spine in a.spines.values():
        spine.set_visible(True)
c4_basis5 = orbit_basis(trivial(4, 1), pixels_c4(5)).reshape(-1, 5, 5)
d4_basis5 = orbit_basis(trivial(8, 2), pixels_d4(5)).reshape(-1, 5, 5)
for a, b in [*zip(axes[0], c4_basis5, strict=False), *zip(axes[1], d4_basis5, strict=False)]:
    a.imshow(b, cmap="gray_r", vmin=0, vmax=1)
axes[0, 0].set_title("C4-invariant 5x5 filters: 7 orbits", loc="left", fontsize=12)
axes[1, 0].set_title("D4-invariant 5x5 filters: 6 orbits", loc="left", fontsize=12)
for a, m, title in [
    (axes[2, 0], np.eye(5), "S5: I"),
    (axes[2, 1], np.ones((5, 5)), "S5: 11ᵀ"),
    (axes[2, 3], perm_matrix([(i + 1) % 5 for i in range(5)]), "C5: shift"),
]:
    a.imshow(m, cmap="gray_r", vmin=0, vmax=1)
    a.set_title(title, fontsize=12)
for a in [*axes[1, 6:], *axes[2, [2, 4, 5, 6]]]:
    a.axis("off")
right.suptitle("Bases: orbit indicators (black = 1)", fontsize=14)
fig.suptitle("Equivariant linear maps: null space, characters and orbits agree")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "n_cases": len(results),
    "counts_agree": all(r["numerical"] == r["orbits"] == r["characters"] for r in results),
    "max_character_count_deviation": float(
        max(abs(r["characters"] - r["numerical"]) for r in results)
    ),
    "max_zero_singular_value": float(max(r["largest_zero"] for r in results)),
    "min_nonzero_singular_value": float(min(r["smallest_nonzero"] for r in results)),
    "max_projector_gap": float(max(r["projector_gap"] for r in results)),
    "dim_c4_3x3_filters": results[0]["numerical"],
    "dim_d4_3x3_filters": results[1]["numerical"],
    "dim_c4_5x5_filters": results[2]["numerical"],
    "dim_d4_5x5_filters": results[3]["numerical"],
    "dim_c4_end_4x4": results[4]["numerical"],
    "dim_d4_end_5x5": results[5]["numerical"],
    "dim_cyclic_end": results[6]["numerical"],
    "n_cyclic": N_CYCLIC,
    "min_dim_sn_end": min(
        r["numerical"] for r in results if "End of R" in r["name"] and r["name"].startswith("S")
    ),
    "max_dim_sn_end": max(
        r["numerical"] for r in results if "End of R" in r["name"] and r["name"].startswith("S")
    ),
    "max_n_symmetric": MAX_N_SYMMETRIC,
    "dim_sn_to_scalar": max(r["numerical"] for r in results if "-> R" in r["name"]),
    "deep_sets_residual": float(deep_sets_residual),
    "circulant_residual": float(circulant_residual),
    "conv_error_invariant_filter": float(conv_error_invariant),
    "conv_error_generic_filter": float(conv_error_generic),
}
for key, value in SUMMARY.items():
    print(f"{key:>30s}: {value:.4g}" if isinstance(value, float) else f"{key:>30s}: {value}")
