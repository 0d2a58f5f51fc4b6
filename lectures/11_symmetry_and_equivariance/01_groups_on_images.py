"""
Groups acting on images: permutation representations, characters and isotypic components
========================================================================================

The rotation group C4 and the dihedral group D4 (rotations and reflections of the square) act
on m x m images by `np.rot90` and `np.fliplr`; each group element becomes a 0/1 permutation
matrix on pixel space, and that pixel representation splits into irreducible pieces whose
multiplicities the characters alone determine.

The figure shows, on top, one digit under the eight elements of D4; below, the same digit cut
into its five isotypic components (one per irreducible representation of D4: the components
add up to the digit exactly), and, on the right, the share of the squared norm that each
component carries on average over the digits, next to the share an isotropic random image
would give (the dimension of the component divided by 64). Look at the trivial component A1:
it is the D4-average of the digit, the only part that a D4-invariant linear map can see.

Try:
- Set `SIZE_ODD = 9`: predict the D4 multiplicities from the character (1 fixed pixel for
  r, r^2 and r^3, 9 for each reflection) before running.
- Set `DIGIT_INDEX = 1`: which digits have most of their energy in A1, and why?
- Replace `fliplr` in `act` by `flipud`: which checks still pass, and which class of
  reflections is now called `s`?
"""

# %%
import os

from common.data import load_digits
from common.plotting import use_course_style

import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` uses fewer digits for the energy statistics; `MMA440_SEED` picks the split
# and the random images.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

SIZE = 8  # the digits are 8 x 8
SIZE_ODD = 7  # a second image size with a centre pixel, to compare the characters
N_DIGITS = 200 if SMOKE else 1077  # digits for the average energy shares
N_NOISE = 200 if SMOKE else 2000  # isotropic Gaussian images for the same statistic
DIGIT_INDEX = 0  # the digit shown in the figure
rng = np.random.default_rng(SEED)

# %% [markdown]
# ## The groups and their action
# Every element of $D_4$ is $g = r^a s^b$ with $a \in \{0,1,2,3\}$, $b \in \{0,1\}$, where $r$
# is the rotation by $90°$ (`np.rot90`) and $s$ the reflection in the vertical axis
# (`np.fliplr`). Since $s r s = r^{-1}$, the product is
# $$ (r^a s^b)(r^c s^d) = r^{\,a + (-1)^b c} s^{\,b + d}, $$
# exponents mod 4 and mod 2. $C_4 = \{r^a\}$ is the subgroup with $b = 0$.
#
# The action on images, $(g \cdot x) = r^a(s^b(x))$, permutes pixels, so
# $\rho(g)\,\mathrm{vec}(x) = \mathrm{vec}(g \cdot x)$ defines a $m^2 \times m^2$ permutation
# matrix. It is a *representation*: $\rho(gh) = \rho(g)\rho(h)$ for all $g, h$.

# %%
D4 = [(a, b) for b in range(2) for a in range(4)]  # r^a s^b
C4 = [(a, 0) for a in range(4)]
NAMES = {(0, 0): "e", (1, 0): "r", (2, 0): "r²", (3, 0): "r³"}
NAMES |= {(0, 1): "s", (1, 1): "rs", (2, 1): "r²s", (3, 1): "r³s"}


def multiply(g, h):
    """The product gh in D4, from (r^a s^b)(r^c s^d) = r^(a + (-1)^b c) s^(b + d)."""
    (a, b), (c, d) = g, h
    return ((a + (-1) ** b * c) % 4, (b + d) % 2)


def act(g, image):
    """g . image = r^a(s^b(image)) for g = (a, b)."""
    a, b = g
    return np.rot90(np.fliplr(image) if b else image, a)


def pixel_representation(g, m):
    """The permutation matrix rho(g) with rho(g) vec(x) = vec(g . x) on m x m images."""
    basis = np.eye(m * m).reshape(m * m, m, m)  # the standard basis images e_j
    return np.stack([act(g, e).ravel() for e in basis], axis=1)  # column j = vec(g . e_j)


rho = {g: pixel_representation(g, SIZE) for g in D4}
rho_odd = {g: pixel_representation(g, SIZE_ODD) for g in D4}

# %% [markdown]
# ## The group axioms and the homomorphism property, checked exactly
# Closure, identity, inverses and associativity of the multiplication table; then
# $\rho(gh) = \rho(g)\rho(h)$ for all $8 \times 8$ pairs. The matrices hold 0 and 1 only, so
# the products are exact and the differences are exactly zero.

# %%
identity = (0, 0)
closure = all(multiply(g, h) in D4 for g in D4 for h in D4)
has_identity = all(multiply(identity, g) == g == multiply(g, identity) for g in D4)
has_inverses = all(any(multiply(g, h) == identity for h in D4) for g in D4)
associative = all(
    multiply(multiply(g, h), k) == multiply(g, multiply(h, k)) for g in D4 for h in D4 for k in D4
)
c4_subgroup = all(multiply(g, h) in C4 for g in C4 for h in C4)
homomorphism_error = max(
    np.abs(rep[multiply(g, h)] - rep[g] @ rep[h]).max()
    for rep in (rho, rho_odd)
    for g in D4
    for h in D4
)
permutation_matrices = all(
    set(np.unique(rep[g])) == {0.0, 1.0} and np.all(rep[g].sum(axis=0) == 1)
    for rep in (rho, rho_odd)
    for g in D4
)
print(f"axioms: closure {closure}, identity {has_identity}, inverses {has_inverses}, ")
print(f"associativity {associative}; max |rho(gh) - rho(g)rho(h)| = {homomorphism_error}")

# %% [markdown]
# ## Conjugacy classes and characters
# The character $\chi_\rho(g) = \operatorname{tr}\rho(g)$ of a permutation representation is
# the number of fixed pixels, and it is constant on conjugacy classes
# $\{h g h^{-1}\}$. $D_4$ has five classes, $\{e\}, \{r^2\}, \{r, r^3\}, \{s, r^2 s\}$ (the
# axis reflections) and $\{rs, r^3 s\}$ (the diagonal reflections), and so five irreducible
# representations: four of dimension 1 and one, $E$, of dimension 2 ($4 \cdot 1^2 + 2^2 = 8$):
#
# | | $e$ | $r^2$ | $r, r^3$ | $s, r^2s$ | $rs, r^3s$ |
# |---|---|---|---|---|---|
# | $A_1$ | 1 | 1 | 1 | 1 | 1 |
# | $A_2$ | 1 | 1 | 1 | −1 | −1 |
# | $B_1$ | 1 | 1 | −1 | 1 | −1 |
# | $B_2$ | 1 | 1 | −1 | −1 | 1 |
# | $E$ | 2 | −2 | 0 | 0 | 0 |
#
# $C_4$ is abelian with four one-dimensional complex characters $\chi_k(r^a) = i^{ka}$.


# %%
def inverse(g):
    return next(h for h in D4 if multiply(g, h) == identity)


classes = []
for g in D4:
    conjugates = sorted({multiply(multiply(h, g), inverse(h)) for h in D4})
    if conjugates not in classes:
        classes.append(conjugates)
class_names = ["{" + ", ".join(NAMES[g] for g in c) + "}" for c in classes]

D4_IRREPS = {  # character values as functions of g = r^a s^b
    "A1": lambda a, b: 1,
    "A2": lambda a, b: (-1) ** b,
    "B1": lambda a, b: (-1) ** a,
    "B2": lambda a, b: (-1) ** (a + b),
    "E": lambda a, b: 0 if b else round(2 * np.cos(np.pi * a / 2)),
}
D4_DIMS = {name: chi(0, 0) for name, chi in D4_IRREPS.items()}
chi_table = np.array([[chi(*g) for g in D4] for chi in D4_IRREPS.values()])  # 5 x 8 integers

# Orthogonality of irreducible characters: sum_g chi_i(g) chi_j(g) = |G| delta_ij (integers).
orthogonality_error = int(np.abs(chi_table @ chi_table.T - len(D4) * np.eye(5)).max())
# Characters are class functions.
class_function = all(len({chi(*g) for g in c}) == 1 for chi in D4_IRREPS.values() for c in classes)

chi_pixels = {g: round(np.trace(rho[g])) for g in D4}  # fixed pixels, m = SIZE
chi_pixels_odd = {g: round(np.trace(rho_odd[g])) for g in D4}
print("classes:", class_names)
print(f"pixel character, {SIZE}x{SIZE}:", [chi_pixels[c[0]] for c in classes])
print(f"pixel character, {SIZE_ODD}x{SIZE_ODD}:", [chi_pixels_odd[c[0]] for c in classes])

# %% [markdown]
# ## Decomposition by character inner products
# The multiplicity of the irreducible $\pi$ in $\rho$ is
# $$ m_\pi = \langle \chi_\rho, \chi_\pi \rangle
#    = \frac{1}{|G|} \sum_{g \in G} \chi_\rho(g)\, \overline{\chi_\pi(g)}, $$
# and $\sum_\pi m_\pi \dim \pi = \dim \rho = m^2$. On $8 \times 8$ images $C_4$ acts freely
# (no pixel is fixed by $r$ or $r^2$), so the pixel representation is 16 copies of the
# regular representation: every $C_4$ character appears 16 times.


# %%
def d4_multiplicities(chi):
    return {name: sum(chi[g] * f(*g) for g in D4) / len(D4) for name, f in D4_IRREPS.items()}


def c4_multiplicities(chi):
    return [sum(chi[(a, 0)] * (1j) ** (-k * a) for a in range(4)) / 4 for k in range(4)]


mult_d4 = d4_multiplicities(chi_pixels)
mult_d4_odd = d4_multiplicities(chi_pixels_odd)
mult_c4 = c4_multiplicities(chi_pixels)
mult_c4_odd = c4_multiplicities(chi_pixels_odd)
# Multiplicities are non-negative integers: the inner products land on integers exactly.
integer_multiplicities = all(
    float(v).is_integer() for m in (mult_d4, mult_d4_odd) for v in m.values()
) and all(complex(v).imag == 0 and complex(v).real.is_integer() for v in mult_c4 + mult_c4_odd)
dimension_sum = int(sum(mult_d4[n] * D4_DIMS[n] for n in D4_IRREPS))
dimension_sum_odd = int(sum(mult_d4_odd[n] * D4_DIMS[n] for n in D4_IRREPS))
print("D4 multiplicities:", {n: int(v) for n, v in mult_d4.items()}, "->", dimension_sum)
print("D4 multiplicities (odd):", {n: int(v) for n, v in mult_d4_odd.items()})
print("C4 multiplicities:", [int(v.real) for v in mult_c4], [int(v.real) for v in mult_c4_odd])

# %% [markdown]
# ## Projections onto the isotypic components
# $$ P_\pi = \frac{\dim \pi}{|G|} \sum_{g \in G} \overline{\chi_\pi(g)}\, \rho(g) $$
# is the orthogonal projection onto the sum of all copies of $\pi$ in $\rho$. The projections
# are idempotent ($P_\pi^2 = P_\pi$), mutually orthogonal ($P_\pi P_\sigma = 0$), sum to the
# identity, commute with every $\rho(g)$, and $\operatorname{tr} P_\pi = m_\pi \dim \pi$.
# $P_{A_1} x$ is the group average $\frac{1}{|G|}\sum_g g \cdot x$. Floating-point sums of
# 0/1 matrices scaled by $1/8$ or $2/8$ are exact in float64 here; the checks allow 1e-10.

# %%
projections = {
    name: D4_DIMS[name] / len(D4) * sum(f(*g) * rho[g] for g in D4) for name, f in D4_IRREPS.items()
}
eye = np.eye(SIZE * SIZE)
idempotent_error = max(np.abs(P @ P - P).max() for P in projections.values())
orthogonal_error = max(
    np.abs(projections[p] @ projections[q]).max() for p in D4_IRREPS for q in D4_IRREPS if p != q
)
sum_error = np.abs(sum(projections.values()) - eye).max()
symmetric_error = max(np.abs(P - P.T).max() for P in projections.values())
commute_error = max(np.abs(P @ rho[g] - rho[g] @ P).max() for P in projections.values() for g in D4)
trace_error = max(abs(np.trace(projections[n]) - mult_d4[n] * D4_DIMS[n]) for n in D4_IRREPS)

# The same for C4, over the reals: trivial (k = 0), sign (k = 2), and the real 2-dimensional
# irreducible that combines the complex characters k = 1 and k = 3.
c4_complex = [sum((1j) ** (-k * a) * rho[(a, 0)] for a in range(4)) / 4 for k in range(4)]
c4_real = [c4_complex[0].real, c4_complex[2].real, (c4_complex[1] + c4_complex[3]).real]
c4_projection_error = max(
    max(np.abs(P @ P - P).max() for P in c4_real),
    max(np.abs(c4_real[i] @ c4_real[j]).max() for i in range(3) for j in range(3) if i != j),
    np.abs(sum(c4_real) - eye).max(),
    max(
        np.abs(c.imag).max() for c in (c4_complex[0], c4_complex[2], c4_complex[1] + c4_complex[3])
    ),
)
print(f"projections: idempotent {idempotent_error:.1e}, orthogonal {orthogonal_error:.1e}, ")
print(f"sum {sum_error:.1e}, commute {commute_error:.1e}, C4 {c4_projection_error:.1e}")

# %% [markdown]
# ## Where the digits' energy sits
# Because the projections are orthogonal and sum to $I$,
# $\|x\|^2 = \sum_\pi \|P_\pi x\|^2$. For an isotropic Gaussian image the expected share of
# $\pi$ is $\operatorname{tr} P_\pi / m^2 = m_\pi \dim\pi / 64$; the digits deviate from it.

# %%
split = load_digits(flatten=True, seed=SEED)
digits = split.x_train[:N_DIGITS].astype(np.float64)
noise = rng.standard_normal((N_NOISE, SIZE * SIZE))


def energy_shares(x):
    total = np.sum(x**2, axis=1)
    return {
        n: float(np.mean(np.sum((x @ P.T) ** 2, axis=1) / total)) for n, P in projections.items()
    }


share_digits = energy_shares(digits)
share_noise = energy_shares(noise)
share_dimension = {n: mult_d4[n] * D4_DIMS[n] / SIZE**2 for n in D4_IRREPS}
print("energy share, digits:", {n: round(v, 3) for n, v in share_digits.items()})
print("energy share, noise: ", {n: round(v, 3) for n, v in share_noise.items()})

# %% [markdown]
# ## Figure: one digit under D4, and cut into isotypic components

# %%
use_course_style()
digit = digits[DIGIT_INDEX].reshape(SIZE, SIZE)
fig = plt.figure(figsize=(14, 7.5))
top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.3])
for ax, g in zip(top.subplots(1, 8), D4, strict=True):
    ax.imshow(act(g, digit), cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(f"{NAMES[g]} · x", fontsize=13)
    ax.axis("off")
components = {n: (P @ digit.ravel()).reshape(SIZE, SIZE) for n, P in projections.items()}
limit = max(np.abs(c).max() for c in components.values())
grid = bottom.add_gridspec(1, 8)
for col, name in enumerate(D4_IRREPS):
    ax = bottom.add_subplot(grid[0, col])
    image = ax.imshow(components[name], cmap="RdBu_r", vmin=-limit, vmax=limit)
    label = f"{name[0]}_{{{name[1:]}}}" if len(name) > 1 else name
    ax.set_title(f"$P_{{{label}}}\\,x$")
    ax.set_xlabel(f"m = {int(mult_d4[name])}, dim {D4_DIMS[name]}", fontsize=11)
    ax.set_xticks([])
    ax.set_yticks([])
bottom.colorbar(image, ax=ax, shrink=0.6, label="pixel value")
ax_bar = bottom.add_subplot(grid[0, 5:])
positions = np.arange(len(D4_IRREPS))
ax_bar.bar(positions - 0.2, list(share_digits.values()), 0.4, label=f"digits (mean of {N_DIGITS})")
ax_bar.bar(positions + 0.2, list(share_noise.values()), 0.4, label="isotropic noise")
ax_bar.plot(
    positions + 0.2,
    list(share_dimension.values()),
    "k_",
    markersize=20,
    label="$m_\\pi \\dim\\pi / 64$",
)
ax_bar.set_xticks(positions, list(D4_IRREPS))
ax_bar.set(ylabel="share of $\\|x\\|^2$", title="Energy in each isotypic component")
ax_bar.legend(fontsize=10)
fig.suptitle(
    f"D4 on {SIZE}x{SIZE} images: the eight images of one digit (top); its isotypic "
    "components, which sum to it (bottom)"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "d4_order": len(D4),
    "n_classes": len(classes),
    "axioms_hold": bool(closure and has_identity and has_inverses and associative and c4_subgroup),
    "permutation_matrices": bool(permutation_matrices),
    "homomorphism_error": float(homomorphism_error),
    "character_orthogonality_error": orthogonality_error,
    "characters_are_class_functions": bool(class_function),
    "chi_e": chi_pixels[(0, 0)],
    "chi_r2": chi_pixels[(2, 0)],
    "chi_r": chi_pixels[(1, 0)],
    "chi_s": chi_pixels[(0, 1)],
    "chi_rs": chi_pixels[(1, 1)],
    "chi_odd_r": chi_pixels_odd[(1, 0)],
    "chi_odd_s": chi_pixels_odd[(0, 1)],
    "chi_odd_rs": chi_pixels_odd[(1, 1)],
    "integer_multiplicities": bool(integer_multiplicities),
    **{f"mult_{n}": int(v) for n, v in mult_d4.items()},
    **{f"mult_odd_{n}": int(v) for n, v in mult_d4_odd.items()},
    **{f"mult_c4_k{k}": int(v.real) for k, v in enumerate(mult_c4)},
    **{f"mult_c4_odd_k{k}": int(v.real) for k, v in enumerate(mult_c4_odd)},
    "dimension_sum": dimension_sum,
    "dimension_sum_odd": dimension_sum_odd,
    "idempotent_error": float(idempotent_error),
    "orthogonal_error": float(orthogonal_error),
    "sum_to_identity_error": float(sum_error),
    "symmetric_error": float(symmetric_error),
    "commute_error": float(commute_error),
    "trace_error": float(trace_error),
    "c4_projection_error": float(c4_projection_error),
    **{f"share_digits_{n}": v for n, v in share_digits.items()},
    **{f"share_noise_{n}": v for n, v in share_noise.items()},
    "n_noise": N_NOISE,
}
for key, value in SUMMARY.items():
    print(f"{key:>30s}: {value:.4g}" if isinstance(value, float) else f"{key:>30s}: {value}")
