"""
Random networks are Gaussian processes: the output distribution against the NNGP kernel
=======================================================================================

The outputs of 60,000 random ReLU networks with one and with two hidden layers of width
n = 1, 2, 4, ..., 64 (NTK parameterization, He scale), at three fixed inputs: as n grows the
output becomes Gaussian, and its covariance is the NNGP kernel, computed in closed form by
iterating the arc-cosine kernel of Cho and Saul (2009) once per layer.

Top left: histograms of the output at one input for three widths, against the N(0, K(x, x))
density. Top right: the excess kurtosis of the output against the width, log-log, with a
fitted line, the exact 15/n of the one-hidden-layer network and the theoretical slope -1.
Bottom left: the Kolmogorov-Smirnov distance to N(0, K(x, x)), with fitted lines, the
Edgeworth prediction 0.023 x (excess kurtosis), and the level that sampling noise alone
gives. Bottom right: the sample covariance of the outputs at the widest width against the
closed-form kernel, with two-standard-error bars. Look at the slopes: the distance to the
Gaussian falls like 1/n, not like the 1/sqrt(n) of the Berry-Esseen bound, because the
output is symmetric and its third cumulant vanishes.

Try:
- Set `DRAWS = 10_000`: where does the Kolmogorov-Smirnov curve hit the noise level now?
- Set `ALPHAS = [0.0, 0.1, 0.2]`: the kernel entries approach the diagonal; does the
  two-layer kernel correlate the inputs more or less than the one-layer kernel?
- Set `DEPTHS = [1, 2, 3]`: predict whether the three-layer kurtosis at n = 8 lies above or
  below the two-layer one, then run it.
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops
from scipy.special import ndtr

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

WIDTHS = [1, 2, 4, 8, 16, 32, 64]  # hidden units per layer
DEPTHS = [1, 2]  # numbers of hidden layers
DRAWS = 5_000 if SMOKE else 60_000  # independent random networks per width and depth
CHUNK = 20_000  # networks drawn at once (bounds the memory)
ALPHAS = [0.0, np.pi / 3, 2 * np.pi / 3]  # the three inputs x(alpha) on a circle
SIGMA2 = 2.0  # weight variance factor sigma_w^2 (He's choice for ReLU)
KS_FIT_WIDTHS = (4, 32)  # widths between which the Kolmogorov-Smirnov slope is fitted
KURTOSIS_FIT_WIDTHS = (8, 64)  # widths between which the kurtosis slope is fitted

# %% [markdown]
# ## The network and its inputs
# A network with $L$ hidden layers of width $n$ in the NTK parameterization,
#
# $$h^{1} = \frac{\sigma_w}{\sqrt d} W^{1} x, \qquad
#   h^{l+1} = \frac{\sigma_w}{\sqrt n} W^{l+1} \phi(h^{l}), \qquad f(x) = h^{L+1} \in \mathbb R,$$
#
# with all weights independent $N(0, 1)$, no biases, $\phi = \mathrm{ReLU}$ and
# $\sigma_w^2 = 2$. The inputs are $x(\alpha) = \sqrt{3/4}\,(\cos\alpha, \sin\alpha, 1)
# \in \mathbb R^3$, so $\|x\|^2 = 3/2$ and the first-layer kernel is
# $K^{1}(x, x') = \sigma_w^2\, x \cdot x' / d = (1 + \cos(\alpha - \alpha'))/2$, which is 1 on
# the diagonal.
#
# **Sampling.** Given the activations $a = \phi(h^{l}(x_p))_{p}$ of a layer, the rows of
# $W^{l+1}$ are independent $N(0, I)$, so the vectors $(h^{l+1}_j(x_1), \dots, h^{l+1}_j(x_P))$,
# $j = 1, \dots, n$, are independent $N(0, C)$ with $C = \frac{\sigma_w^2}{n} a a^\top$
# ($P \times P$). Drawing them as $C^{1/2} z$ with $z \sim N(0, I)$ gives every layer the exact
# distribution of the network for $P \cdot n$ random numbers instead of the $n^2$ entries of
# $W^{l+1}$: one tensor operation over all draws at once.

# %%
D_IN = 3
X = np.sqrt(3 / 4) * np.stack([np.cos(ALPHAS), np.sin(ALPHAS), np.ones(len(ALPHAS))], axis=1)
P = len(X)


def layer_from_gram(gram, width, seed):
    """Draw h (draws, P, width) with i.i.d. columns N(0, gram) given gram (draws, P, P)."""
    eigenvalues, eigenvectors = ops.eigh(gram)
    root = eigenvectors * ops.sqrt(ops.relu(eigenvalues))[:, None, :]  # root @ root^T = gram
    z = keras.random.normal((gram.shape[0], P, width), seed=seed)
    return ops.einsum("dpk,dkj->dpj", root, z)


def sample_outputs(depth, width, draws, seed):
    """Outputs f(x_p) of `draws` independent random networks: array (draws, P)."""
    gram = ops.broadcast_to(
        ops.convert_to_tensor(SIGMA2 * X @ X.T / D_IN, "float32"), (draws, P, P)
    )
    for _ in range(depth):
        a = ops.relu(layer_from_gram(gram, width, seed))  # (draws, P, width)
        gram = SIGMA2 / width * ops.einsum("dpj,dqj->dpq", a, a)
    return ops.convert_to_numpy(layer_from_gram(gram, 1, seed)[:, :, 0]).astype(np.float64)


keras.utils.set_random_seed(SEED)
seed = keras.random.SeedGenerator(SEED)
outputs = {}  # (depth, width) -> (DRAWS, P)
for depth in DEPTHS:
    for width in WIDTHS:
        chunks = [
            sample_outputs(depth, width, min(CHUNK, DRAWS - start), seed)
            for start in range(0, DRAWS, CHUNK)
        ]
        outputs[depth, width] = np.concatenate(chunks)

# %% [markdown]
# ## The NNGP kernel in closed form
# As $n \to \infty$ the units of each layer become independent Gaussian processes with
# covariance $K^{l}$ (Neal 1996; Lee et al. 2018; Matthews et al. 2018), where
#
# $$K^{l+1}(x, x') = \sigma_w^2\, \mathbb E_{(u, v) \sim N(0, \Lambda^{l})}
#   [\phi(u)\phi(v)], \qquad
#   \Lambda^{l} = \begin{pmatrix} K^{l}(x, x) & K^{l}(x, x') \\
#   K^{l}(x, x') & K^{l}(x', x') \end{pmatrix}.$$
#
# For ReLU the expectation is the arc-cosine kernel of degree 1 (Cho and Saul 2009):
#
# $$\mathbb E[\phi(u)\phi(v)] = \frac{\sqrt{K(x, x) K(x', x')}}{2\pi}
#   \bigl(\sin\theta + (\pi - \theta)\cos\theta\bigr), \qquad
#   \theta = \arccos \frac{K(x, x')}{\sqrt{K(x, x) K(x', x')}}.$$
#
# With $\sigma_w^2 = 2$ the diagonal stays $K^{l}(x, x) = 1$ in every layer (He's
# initialization). The output of a network with $L$ hidden layers has covariance $K^{L+1}$.


# %%
def arccos_step(k):
    """One layer of the NNGP recursion: K^{l+1} from K^l (P x P), ReLU and sigma_w^2."""
    diag = np.sqrt(np.diag(k))
    cos = np.clip(k / np.outer(diag, diag), -1.0, 1.0)
    theta = np.arccos(cos)
    return SIGMA2 * np.outer(diag, diag) / (2 * np.pi) * (np.sin(theta) + (np.pi - theta) * cos)


nngp = {}
k = SIGMA2 * X @ X.T / D_IN  # K^1
for depth in range(1, max(DEPTHS) + 1):
    k = arccos_step(k)
    nngp[depth] = k  # covariance of the output of a network with `depth` hidden layers

# %% [markdown]
# ## How fast the output becomes Gaussian
# Given the last hidden layer, the output is exactly Gaussian with the random variance
# $S = \frac{\sigma_w^2}{n}\sum_j \phi(h^{L}_j)^2$: the output is a scale mixture of Gaussians,
# symmetric, with excess kurtosis $\kappa = 3\,\mathrm{Var}[S] / \mathbb E[S]^2$. For one hidden
# layer ($h_j \sim N(0, 1)$ independent, $\mathbb E\phi(h)^2 = \tfrac12$,
# $\mathbb E\phi(h)^4 = \tfrac32$) this is exactly
#
# $$\kappa = \frac{3}{n}\cdot\frac{3/2 - 1/4}{1/4} = \frac{15}{n}.$$
#
# The third cumulant vanishes, so the Edgeworth expansion of the distribution function starts
# with the fourth: $F(t) = \Phi(t) - \frac{\kappa}{24}\,\mathrm{He}_3(t)\,\varphi(t) + O(n^{-2})$
# with $\mathrm{He}_3(t) = t^3 - 3t$, and the Kolmogorov-Smirnov distance to $N(0, 1)$ is
# $\frac{\kappa}{24}\max_t |\mathrm{He}_3(t)\varphi(t)| = 0.02294\,\kappa \approx 0.344/n$:
# slope $-1$ on a log-log plot, twice the Berry-Esseen rate $n^{-1/2}$, which is the rate only
# for summands with a third moment. A sample of $N$ draws adds its own distance of typical size
# $0.87/\sqrt N$ (the mean of the Kolmogorov distribution), so the slope is fitted where the
# signal is well above that level.

# %%
EDGEWORTH = np.max(
    np.abs((lambda t: (t**3 - 3 * t) * np.exp(-(t**2) / 2))(np.linspace(-4, 4, 80001)))
)
EDGEWORTH /= 24 * np.sqrt(2 * np.pi)  # = max|He_3 phi| / 24 = 0.02294
NOISE_LEVEL = 0.8687 / np.sqrt(DRAWS)  # E sup|F_N - F| under the null, for large N


def ks_distance(sample):
    """sup_t |F_N(t) - Phi(t)| of a sample against N(0, 1)."""
    s = np.sort(sample)
    phi = ndtr(s)  # standard normal distribution function
    n = len(s)
    return float(max(np.max(np.arange(1, n + 1) / n - phi), np.max(phi - np.arange(n) / n)))


def excess_kurtosis(sample):
    centered = sample - sample.mean()
    return float(np.mean(centered**4) / np.mean(centered**2) ** 2 - 3)


kurtosis = {d: np.array([excess_kurtosis(outputs[d, w][:, 0]) for w in WIDTHS]) for d in DEPTHS}
ks = {
    d: np.array([ks_distance(outputs[d, w][:, 0] / np.sqrt(nngp[d][0, 0])) for w in WIDTHS])
    for d in DEPTHS
}


def loglog_fit(x, y):
    """Slope and intercept of the least-squares line through (log x, log y)."""
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope), float(intercept)


widths = np.array(WIDTHS, dtype=float)
fit_mask = (widths >= KS_FIT_WIDTHS[0]) & (widths <= KS_FIT_WIDTHS[1])
kurt_mask = (widths >= KURTOSIS_FIT_WIDTHS[0]) & (widths <= KURTOSIS_FIT_WIDTHS[1])
kurt_fit = {d: loglog_fit(widths[kurt_mask], kurtosis[d][kurt_mask]) for d in DEPTHS}
ks_fit = {d: loglog_fit(widths[fit_mask], ks[d][fit_mask]) for d in DEPTHS}
for d in DEPTHS:
    print(f"depth {d}: kurtosis slope {kurt_fit[d][0]:+.3f}, KS slope {ks_fit[d][0]:+.3f}")

# %% [markdown]
# ## The covariance at the largest width
# The sample covariance $\hat C_{pq} = \frac1N\sum_i f_i(x_p) f_i(x_q)$ (the mean is 0) is a
# mean of $N$ independent products, so its standard error is the sample standard deviation of
# $f_i(x_p) f_i(x_q)$ over $\sqrt N$ (for Gaussian outputs about
# $\sqrt{(K_{pp}K_{qq} + K_{pq}^2)/N}$; the kurtosis at finite width makes it a little larger).
# For one hidden layer $\mathbb E[f(x)f(x')] = K^{2}(x, x')$ holds exactly at every width
# (the expectation is over the first layer only, with independent units); for two hidden
# layers the finite-width covariance differs from $K^{3}$ by $O(1/n)$. We report every entry's
# distance to the closed form in standard errors.

# %%
widest = WIDTHS[-1]
cov = {d: outputs[d, widest].T @ outputs[d, widest] / DRAWS for d in DEPTHS}
cov_se = {
    d: np.std(outputs[d, widest][:, :, None] * outputs[d, widest][:, None, :], axis=0)
    / np.sqrt(DRAWS)
    for d in DEPTHS
}
cov_z = {d: (cov[d] - nngp[d]) / cov_se[d] for d in DEPTHS}
for d in DEPTHS:
    print(
        f"depth {d}: NNGP kernel\n{np.round(nngp[d], 4)}\nsample covariance\n{np.round(cov[d], 4)}"
    )

# %% [markdown]
# ## Figure

# %%
use_course_style()
fig, axes = plt.subplots(2, 2, figsize=(13, 10))
ax = axes[0, 0]
grid = np.linspace(-4, 4, 401)
for width, color in zip([1, 4, widest], ["tab:red", "tab:orange", "tab:blue"], strict=True):
    ax.hist(
        outputs[1, width][:, 0],
        bins=np.linspace(-4, 4, 81),
        density=True,
        histtype="step",
        color=color,
        label=f"n = {width}",
    )
ax.plot(
    grid,
    np.exp(-(grid**2) / 2 / nngp[1][0, 0]) / np.sqrt(2 * np.pi * nngp[1][0, 0]),
    "k--",
    label="N(0, K(x, x))",
)
ax.set(
    xlabel="output f(x)",
    ylabel="density",
    title="One hidden layer: output at one input",
    yscale="log",
    ylim=(1e-4, 2),
)
ax.legend()

colors = dict(zip(DEPTHS, ["tab:blue", "tab:green", "tab:purple", "tab:brown"], strict=False))
ax = axes[0, 1]
for d in DEPTHS:
    ax.loglog(widths, kurtosis[d], "o", color=colors[d], label=f"{d} hidden layer(s), measured")
    slope, intercept = kurt_fit[d]
    ax.loglog(
        widths[kurt_mask],
        np.exp(intercept) * widths[kurt_mask] ** slope,
        "-",
        color=colors[d],
        alpha=0.6,
        label=f"fit n = {KURTOSIS_FIT_WIDTHS[0]}..{KURTOSIS_FIT_WIDTHS[1]}, slope {slope:+.2f}",
    )
ax.loglog(widths, 15 / widths, "k--", label="15/n (exact, 1 layer): slope -1")
ax.set_xticks(widths, [str(w) for w in WIDTHS], minor=False)
ax.tick_params(axis="x", which="minor", bottom=False, labelbottom=False)
ax.set(
    xlabel="width n",
    ylabel="excess kurtosis of f(x)",
    title="Distance from Gaussian: kurtosis ~ 1/n",
)
ax.legend(fontsize=10)

ax = axes[1, 0]
for d in DEPTHS:
    ax.loglog(widths, ks[d], "o", color=colors[d], label=f"{d} hidden layer(s), measured")
    slope, intercept = ks_fit[d]
    ax.loglog(
        widths[fit_mask],
        np.exp(intercept) * widths[fit_mask] ** slope,
        "-",
        color=colors[d],
        alpha=0.6,
        label=f"fit n = {KS_FIT_WIDTHS[0]}..{KS_FIT_WIDTHS[1]}, slope {slope:+.2f}",
    )
ax.loglog(widths, EDGEWORTH * 15 / widths, "k--", label="Edgeworth 0.344/n (1 layer): slope -1")
ax.axhline(NOISE_LEVEL, color="gray", linestyle=":", label=f"sampling noise, {DRAWS:,} draws")
ax.set_xticks(widths, [str(w) for w in WIDTHS], minor=False)
ax.tick_params(axis="x", which="minor", bottom=False, labelbottom=False)
ax.set(
    xlabel="width n",
    ylabel="sup |F(t) - Φ(t/√K)|",
    title="Kolmogorov-Smirnov distance to N(0, K(x, x))",
)
ax.legend(fontsize=10)

ax = axes[1, 1]
iu = np.triu_indices(P)
for d, marker in zip(DEPTHS, "osD^", strict=False):
    ax.errorbar(
        nngp[d][iu],
        cov[d][iu],
        yerr=2 * cov_se[d][iu],
        fmt=marker,
        color=colors[d],
        capsize=4,
        label=f"{d} hidden layer(s)",
    )
lims = np.array([0.3, 1.05])
ax.plot(lims, lims, "k--", label="sample = closed form")
ax.set(
    xlabel="NNGP kernel K(x_p, x_q), closed form",
    ylabel=f"sample covariance, n = {widest}",
    title="Covariance of the outputs (bars: 2 standard errors)",
)
ax.legend()
fig.suptitle(f"Random ReLU networks become Gaussian processes ({DRAWS:,} networks per width)")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "draws": DRAWS,
    "widest": widest,
    "kurtosis_slope_depth1": kurt_fit[1][0],
    "kurtosis_slope_depth2": kurt_fit[2][0],
    "kurtosis_times_width_depth1": float(np.mean(kurtosis[1][kurt_mask] * widths[kurt_mask])),
    "ks_slope_depth1": ks_fit[1][0],
    "ks_slope_depth2": ks_fit[2][0],
    "ks_narrowest_depth1": float(ks[1][0]),
    "ks_widest_depth1": float(ks[1][-1]),
    "ks_noise_level": float(NOISE_LEVEL),
    "cov_max_abs_z_depth1": float(np.max(np.abs(cov_z[1]))),
    "cov_max_abs_z_depth2": float(np.max(np.abs(cov_z[2]))),
    "nngp_offdiag_depth1": float(nngp[1][0, 2]),
    "nngp_offdiag_depth2": float(nngp[2][0, 2]),
}
for key, value in SUMMARY.items():
    print(f"{key:>28s}: {value:.4g}" if isinstance(value, float) else f"{key:>28s}: {value}")
