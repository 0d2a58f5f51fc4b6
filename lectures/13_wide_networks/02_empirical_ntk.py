"""
The empirical neural tangent kernel: it concentrates at its closed form as the width grows
==========================================================================================

For 64 random two-hidden-layer ReLU networks of each width n = 32, ..., 512 (NTK
parameterization), the empirical neural tangent kernel Θ(x, x') = ∇_θ f(x) · ∇_θ f(x') is
computed by automatic differentiation and compared with the analytic NTK recursion of Jacot,
Gabriel and Hongler (2018) and Arora et al. (2019).

Left: Θ(x_0, x(α)) against the angle α between the inputs: the closed form (black), and the
mean and the band of ± one standard deviation over the random networks at the narrowest and
the widest width. Right: the relative fluctuation of the kernel across initializations against
the width, log-log, with the fitted line and the theoretical slope -1/2. Look at the band: at
n = 32 one network's kernel is far from the limit; at n = 512 all of them lie on it, and the
mean hugs the closed form at every width.

Needs the TensorFlow backend: the per-example gradients use `tf.GradientTape`.

Try:
- Set `DEPTH = 1`: the fluctuation is then an average of n independent terms; compare the
  intercept of the fit with the two-layer one.
- Set `SIGMA2 = 1.0`: which curve changes, the closed form, the measurement, or both?
- Set `NETWORKS = 16`: how much wider does the uncertainty of the fitted slope become?
"""

# %%
import itertools
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

WIDTHS = [32, 64, 128] if SMOKE else [32, 64, 128, 256, 512]  # hidden units per layer
DEPTH = 2  # hidden layers
NETWORKS = 16 if SMOKE else 64  # independent random initializations per width
CHUNK = 16  # networks differentiated at once (bounds the memory)
N_ANGLES = 9  # inputs x(alpha) with alpha = 0, pi/8, ..., pi
SIGMA2 = 2.0  # weight variance factor sigma_w^2 (He's choice for ReLU)
D_IN = 3

if NETWORKS % CHUNK:
    raise ValueError(f"NETWORKS must be a multiple of CHUNK = {CHUNK}, got {NETWORKS}")
if DEPTH < 1:
    raise ValueError(f"DEPTH must be at least 1 hidden layer, got {DEPTH}")

# %% [markdown]
# ## The network in the NTK parameterization
# $$h^{1} = \frac{\sigma_w}{\sqrt d} W^{1} x, \qquad
#   h^{l+1} = \frac{\sigma_w}{\sqrt n} W^{l+1} \phi(h^{l}), \qquad f(x) = h^{L+1},$$
#
# with every weight an independent $N(0, 1)$ parameter, no biases, $\phi = \mathrm{ReLU}$,
# $\sigma_w^2 = 2$. The scale $1/\sqrt{\text{fan-in}}$ sits in the forward pass, not in the
# initialization: the parameters are $O(1)$ and so are the entries of the gradient's layers
# taken together, which is what makes the kernel below converge. The inputs are
# $x(\alpha) = \sqrt{3/4}\,(\cos\alpha, \sin\alpha, 1)$, as in script 01, so
# $K^{1}(x, x') = (1 + \cos(\alpha - \alpha'))/2$.
#
# `CHUNK` networks of one width run as one batch: the weights of layer $l$ are one tensor of
# shape (networks, fan-in, fan-out), and every product is one `einsum` over the networks.

# %%
ALPHAS = np.linspace(0, np.pi, N_ANGLES)
X = np.sqrt(3 / 4) * np.stack([np.cos(ALPHAS), np.sin(ALPHAS), np.ones(N_ANGLES)], axis=1)
X_T = ops.convert_to_tensor(X, "float32")


def init_weights(width, count, seed):
    """N(0, 1) weights of `count` networks: list of (count, fan_in, fan_out) tensors."""
    fans = [D_IN] + [width] * DEPTH + [1]
    return [
        keras.random.normal((count, fan_in, fan_out), seed=seed)
        for fan_in, fan_out in itertools.pairwise(fans)
    ]


def forward(weights):
    """Outputs f(x_p) of every network at every input: (networks, N_ANGLES)."""
    a = ops.broadcast_to(X_T, (weights[0].shape[0], N_ANGLES, D_IN))
    for layer, w in enumerate(weights):
        h = np.sqrt(SIGMA2 / w.shape[1]) * ops.einsum("rpi,rij->rpj", a, w)
        a = ops.relu(h) if layer < len(weights) - 1 else h
    return a[:, :, 0]


# %% [markdown]
# ## The empirical NTK by automatic differentiation (TensorFlow)
# $$\hat\Theta(x, x') = \sum_{\text{parameters } \theta_k}
#   \frac{\partial f(x)}{\partial\theta_k}\,\frac{\partial f(x')}{\partial\theta_k}.$$
#
# The networks share no parameter, so the gradient of $\sum_r f_r(x_p)$ (summed over the
# networks $r$) with respect to the stacked weights holds every network's own gradient
# $\nabla_\theta f_r(x_p)$: one backward pass per input gives the per-network gradients, and
# $\hat\Theta_r(x_0, x_q)$ is the sum of the products over each network's parameters. This is the
# backend-specific cell of the script.

# %%
import tensorflow as tf  # noqa: E402  (per-example gradients need tf.GradientTape)


def empirical_ntk_row(weights):
    """Θ_r(x_0, x_q) for every network r and input q: array (networks, N_ANGLES)."""
    weights = [tf.convert_to_tensor(w) for w in weights]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(weights)
        f = forward(weights)
        per_input = [tf.reduce_sum(f[:, q]) for q in range(N_ANGLES)]
    g0 = tape.gradient(per_input[0], weights)
    row = []
    for q in range(N_ANGLES):
        gq = tape.gradient(per_input[q], weights)
        row.append(sum(tf.reduce_sum(a * b, axis=[1, 2]) for a, b in zip(g0, gq, strict=True)))
    del tape
    return np.stack([np.asarray(r, dtype=np.float64) for r in row], axis=1)


# %%
keras.utils.set_random_seed(SEED)
seed = keras.random.SeedGenerator(SEED)
ntk = {
    width: np.concatenate(
        [empirical_ntk_row(init_weights(width, CHUNK, seed)) for _ in range(NETWORKS // CHUNK)]
    )
    for width in WIDTHS
}

# %% [markdown]
# ## The analytic NTK
# With the NNGP recursion of script 01, $K^{l+1} = \sigma_w^2\,\mathbb E[\phi(u)\phi(v)]$, and
# its derivative kernel
#
# $$\dot K^{l+1}(x, x') = \sigma_w^2\, \mathbb E_{(u, v) \sim N(0, \Lambda^{l})}
#   [\phi'(u)\phi'(v)] = \sigma_w^2\,\frac{\pi - \theta}{2\pi}$$
#
# (the arc-cosine kernel of degree 0; $\theta$ the angle of $\Lambda^{l}$ as in script 01), the
# infinite-width NTK obeys
#
# $$\Theta^{1} = K^{1}, \qquad \Theta^{l+1} = K^{l+1} + \dot K^{l+1}\,\Theta^{l},$$
#
# and the network with $L$ hidden layers has $\Theta = \Theta^{L+1}$ (Jacot et al. 2018,
# Theorem 1; Arora et al. 2019, Theorem 3.1, without biases). The first term is the gradient
# with respect to the last layer's weights, the second carries the earlier layers' gradients
# through one more layer. With $\sigma_w^2 = 2$: $K^{l}(x, x) = 1$, $\dot K^{l}(x, x) = 1$ and
# $\Theta^{L+1}(x, x) = L + 1$.


# %%
def analytic_ntk(x):
    """(NNGP, NTK) of the output for inputs x (P, D_IN): two (P, P) arrays."""
    k = SIGMA2 * x @ x.T / D_IN
    theta_ntk = k.copy()
    for _ in range(DEPTH):
        diag = np.sqrt(np.diag(k))
        cos = np.clip(k / np.outer(diag, diag), -1.0, 1.0)
        angle = np.arccos(cos)
        k_dot = SIGMA2 * (np.pi - angle) / (2 * np.pi)
        k = SIGMA2 * np.outer(diag, diag) / (2 * np.pi) * (np.sin(angle) + (np.pi - angle) * cos)
        theta_ntk = k + k_dot * theta_ntk
    return k, theta_ntk


_, theta_inf = analytic_ntk(X)
row_inf = theta_inf[0]  # Θ(x_0, x_q)
print("closed form Θ(x_0, x_q):", np.round(row_inf, 4))

# %% [markdown]
# ## Fluctuation and mean
# At width $n$ the empirical kernel is a sum over $n$ units per layer of weakly dependent
# terms, so across initializations it fluctuates by $O(n^{-1/2})$ around a mean that differs
# from $\Theta$ by $O(1/n)$ (Hanin and Nica 2020 give the exact depth-over-width law). We
# measure the relative fluctuation of the whole row,
#
# $$\varepsilon(n) = \frac{\bigl(\sum_q \mathrm{Var}_r\,\hat\Theta_r(x_0, x_q)\bigr)^{1/2}}
#   {\bigl(\sum_q \Theta(x_0, x_q)^2\bigr)^{1/2}} \propto n^{-1/2},$$
#
# and compare the mean over the networks with the closed form in units of its standard error
# $\mathrm{sd}_r/\sqrt{R}$, $R$ = `NETWORKS`.


# %%
def loglog_fit(x, y):
    """Slope and intercept of the least-squares line through (log x, log y)."""
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope), float(intercept)


widths = np.array(WIDTHS, dtype=float)
fluct = np.array(
    [np.sqrt(np.sum(np.var(ntk[w], axis=0, ddof=1))) / np.linalg.norm(row_inf) for w in WIDTHS]
)
slope, intercept = loglog_fit(widths, fluct)
# The slope's standard error from the scatter of the points about the line.
resid = np.log(fluct) - (intercept + slope * np.log(widths))
slope_se = float(
    np.sqrt(
        np.sum(resid**2) / (len(WIDTHS) - 2) / np.sum((np.log(widths) - np.log(widths).mean()) ** 2)
    )
)
mean_z = {
    w: (ntk[w].mean(axis=0) - row_inf) / (ntk[w].std(axis=0, ddof=1) / np.sqrt(NETWORKS))
    for w in WIDTHS
}
rel_mean_error = {w: np.max(np.abs(ntk[w].mean(axis=0) / row_inf - 1)) for w in WIDTHS}
for w in WIDTHS:
    print(
        f"n = {w:4d}: relative fluctuation {fluct[WIDTHS.index(w)]:.4f}, "
        f"max |mean - closed form| = {np.max(np.abs(mean_z[w])):.2f} standard errors"
    )
print(f"slope {slope:+.3f} ± {slope_se:.3f}")

# %% [markdown]
# ## Figure

# %%
use_course_style()
fig, (ax_row, ax_fluct) = plt.subplots(1, 2, figsize=(14, 5.6))
fine = np.linspace(0, np.pi, 181)
x_fine = np.sqrt(3 / 4) * np.stack([np.cos(fine), np.sin(fine), np.ones_like(fine)], axis=1)
ax_row.plot(fine, analytic_ntk(x_fine)[1][0], "k-", label="closed form Θ(x_0, x(α))")
for width, color in zip([WIDTHS[0], WIDTHS[-1]], ["tab:orange", "tab:blue"], strict=True):
    mean, sd = ntk[width].mean(axis=0), ntk[width].std(axis=0, ddof=1)
    ax_row.fill_between(ALPHAS, mean - sd, mean + sd, color=color, alpha=0.25)
    ax_row.plot(ALPHAS, mean, "o--", color=color, label=f"n = {width}: mean ± 1 sd")
ax_row.set(
    xlabel="angle α between x_0 and x(α) (radians)",
    ylabel="Θ(x_0, x(α))",
    title=f"Empirical NTK over {NETWORKS} initializations",
)
ax_row.legend()

ax_fluct.loglog(widths, fluct, "o", color="tab:blue", label="measured")
ax_fluct.loglog(
    widths,
    np.exp(intercept) * widths**slope,
    "-",
    color="tab:blue",
    alpha=0.6,
    label=f"fit: slope {slope:+.2f} ± {slope_se:.2f}",
)
ax_fluct.loglog(
    widths,
    fluct[0] * (widths / widths[0]) ** -0.5,
    "k--",
    label="theory: slope -1/2",
)
ax_fluct.set_xticks(widths, [str(w) for w in WIDTHS], minor=False)
ax_fluct.tick_params(axis="x", which="minor", bottom=False, labelbottom=False)
ax_fluct.set(
    xlabel="width n",
    ylabel="relative fluctuation ε(n)",
    title="The kernel concentrates like n^(-1/2)",
)
ax_fluct.legend()
fig.suptitle(f"Empirical NTK of {DEPTH}-hidden-layer ReLU networks against its closed form")
plt.show()

# %% [markdown]
# ## Summary

# %%
widest = WIDTHS[-1]
SUMMARY = {
    "networks": NETWORKS,
    "widest": widest,
    "fluct_slope": slope,
    "fluct_slope_se": slope_se,
    "fluct_narrowest": float(fluct[0]),
    "fluct_widest": float(fluct[-1]),
    "mean_max_abs_z_widest": float(np.max(np.abs(mean_z[widest]))),
    "mean_max_abs_z_all": float(max(np.max(np.abs(z)) for z in mean_z.values())),
    "mean_max_rel_error_widest": float(rel_mean_error[widest]),
    "ntk_diag_closed_form": float(row_inf[0]),
    "ntk_diag_mean_widest": float(ntk[widest][:, 0].mean()),
}
for key, value in SUMMARY.items():
    print(f"{key:>26s}: {value:.4g}" if isinstance(value, float) else f"{key:>26s}: {value}")
