"""
Signal propagation: the variance recursion predicts what a deep network does at initialization
==============================================================================================

A 50-layer MLP of width 256 at initialization, for five initializers and two activations: the
variance of the pre-activations (forward) and of the back-propagated gradients (backward),
layer by layer, measured on 32 random networks and predicted by the variance recursion
Var[z_{l+1}] = n Var[w] E[phi(z_l)^2].

Columns: tanh, ReLU, and a zoom on He with ReLU. Top row: log10 Var[z_l] against the layer l;
bottom row: log10 Var[dL/dz_l]. Solid lines are measured, dashed lines predicted. N(0, 0.01²)
and N(0, 1) vanish and explode geometrically (by up to 100 decades), Glorot and LeCun lose half
the variance per ReLU layer, and only He keeps it, forwards and backwards. The zoom shows the
single networks: the recursion predicts the mean over random networks, while one network of
finite width drifts from it by a random factor.

Try:
- Set `WIDTH = 1024`: the fan of single networks in the zoom narrows (log-variance ~ L/n).
  (The networks are then drawn one at a time to stay within `MAX_CHUNK_BYTES`; it takes a
  minute or two.)
- Set `NETWORKS = 8`, then `NETWORKS = 1`: the He/ReLU mean itself starts to wander.
- Set `INPUT_STD = 3`: which tanh curves change, and which forget the input scale?
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
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

DEPTH = 10 if SMOKE else 50  # layers
WIDTH = 64 if SMOKE else 256  # units per layer (and input dimension: every layer is square)
NETWORKS = 4 if SMOKE else 32  # independent random networks per initializer
CHUNK = 4 if SMOKE else 8  # networks drawn and run together (bounds the memory)
MAX_CHUNK_BYTES = 500e6  # the random matrices of one chunk take DEPTH * CHUNK * WIDTH^2 * 8 bytes
BATCH = 8  # Gaussian inputs per network
INPUT_STD = 1.0  # inputs x ~ N(0, INPUT_STD^2 I)
DTYPE = "float64"  # N(0, 1) with ReLU reaches 1e100: beyond float32

# %% [markdown]
# ## The network and the initializers
# Layer $l$ computes $z_l = \phi(z_{l-1}) W_l$ with $W_l \in \mathbb R^{n \times n}$, $n$ =
# `WIDTH`, zero biases, and $\phi(z_0) := x \sim N(0, s^2 I)$, $s$ = `INPUT_STD`. Keras'
# initializers, with their weight variances for a layer with `fan_in` inputs and `fan_out`
# outputs:
#
# | name | Keras | $\mathrm{Var}[w]$ |
# |---|---|---|
# | N(0, 0.01²) | `RandomNormal(stddev=0.01)` | $10^{-4}$ |
# | N(0, 1) | `RandomNormal(stddev=1.0)` | $1$ |
# | LeCun | `LecunNormal()` | $1/\mathrm{fan_{in}}$ |
# | Glorot | `GlorotUniform()` (Keras' default) | $2/(\mathrm{fan_{in}} + \mathrm{fan_{out}})$ |
# | He | `HeNormal()` | $2/\mathrm{fan_{in}}$ |
#
# In square layers LeCun and Glorot have the same variance $1/n$. A draw from each Keras
# initializer confirms the formulas.

# %%
INITIALIZERS = {
    # name: (Keras initializer, Var[w] as a function of fan_in and fan_out)
    "N(0, 0.01²)": (keras.initializers.RandomNormal(stddev=0.01, seed=SEED), lambda i, o: 1e-4),
    "N(0, 1)": (keras.initializers.RandomNormal(stddev=1.0, seed=SEED), lambda i, o: 1.0),
    "LeCun": (keras.initializers.LecunNormal(seed=SEED), lambda i, o: 1 / i),
    "Glorot": (keras.initializers.GlorotUniform(seed=SEED), lambda i, o: 2 / (i + o)),
    "He": (keras.initializers.HeNormal(seed=SEED), lambda i, o: 2 / i),
}
KEYS = {
    "N(0, 0.01²)": "small",
    "N(0, 1)": "large",
    "LeCun": "lecun",
    "Glorot": "glorot",
    "He": "he",
}  # short names for the SUMMARY
COLORS = {
    "N(0, 0.01²)": "tab:blue",
    "N(0, 1)": "tab:red",
    "LeCun": "tab:orange",
    "Glorot": "tab:green",
    "He": "tab:purple",
}
NAMES = list(INITIALIZERS)
var_w = np.array([formula(WIDTH, WIDTH) for _, formula in INITIALIZERS.values()])
for name, (initializer, formula) in INITIALIZERS.items():
    sample = float(ops.var(initializer((WIDTH, WIDTH))))
    print(f"{name:12s} Var[w]: formula {formula(WIDTH, WIDTH):.4g}, Keras sample {sample:.4g}")

ACTIVATIONS = {
    # name: (phi, phi')
    "tanh": (ops.tanh, lambda z: 1.0 - ops.tanh(z) ** 2),
    "relu": (ops.relu, lambda z: ops.cast(z > 0, DTYPE)),
}

# %% [markdown]
# ## Measurement: forward and backward through many random networks
# The recursion below sees only $\mathrm{Var}[w]$. To compare the initializers on equal terms,
# every network draws one matrix $B_l$ of independent $N(0, 1)$ numbers per layer and initializer
# $k$ uses $W_l = \sigma_k B_l$ with $\sigma_k^2 = \mathrm{Var}[w]$ (common random numbers: the
# five networks differ only in the scale; these are the normal members of each family, Keras'
# `VarianceScaling(..., distribution="untruncated_normal")`). The five run as one batch, rows
# $k b, \dots, (k+1) b - 1$ belonging to initializer $k$, and `NETWORKS` independent networks run
# side by side: the base of layer $l$ has shape (networks, $n$, $n$).
#
# The backward pass starts from the loss $L = \sum r \odot z_L$ with a fixed random
# $r \sim N(0, 1)$, so $\delta_L := \partial L / \partial z_L = r$, and applies the chain rule
# $\delta_{l-1} = \phi'(z_{l-1}) \odot (\delta_l W_l^\top)$: exactly what automatic
# differentiation computes, written out so that the code stays backend-neutral and shows the
# linear map the gradients go through. We record the second moments
# $\overline{z_l^2}$ and $\overline{\delta_l^2}$ (means over inputs, units and networks; all
# these quantities have mean zero, so these are their variances).

# %%
keras.utils.set_random_seed(SEED)
rng = np.random.default_rng(SEED)
K = len(INITIALIZERS)
x = INPUT_STD * np.tile(rng.standard_normal((NETWORKS, BATCH, WIDTH)), (1, K, 1))  # same for all k
r = np.tile(rng.standard_normal((NETWORKS, BATCH, WIDTH)), (1, K, 1))
sigma = ops.convert_to_tensor(np.repeat(np.sqrt(var_w), BATCH)[:, None], DTYPE)  # (K b, 1)


def propagate(base, x, r, phi, dphi):
    """Sums of z_l^2 and delta_l^2 per layer, network and initializer: (DEPTH, networks, K)."""
    h, zs, z_sq = x, [], []
    for b in base:
        z = sigma * ops.matmul(h, b)  # = phi(z_{l-1}) (sigma_k B_l), row by row
        zs.append(z)
        z_sq.append(ops.sum(z**2, axis=-1))
        h = phi(z)
    delta, d_sq = r, [ops.sum(r**2, axis=-1)]
    for b, z in zip(base[:0:-1], zs[-2::-1], strict=True):  # l = DEPTH, ..., 2
        # delta_{l-1, i} = phi'(z_{l-1, i}) sum_j delta_{l, j} sigma_k B_{l, ij}, network by network
        delta = dphi(z) * ops.einsum("rbj,rij->rbi", sigma * delta, b)
        d_sq.append(ops.sum(delta**2, axis=-1))

    def per_initializer(sums):
        return np.array(ops.stack(sums)).reshape(DEPTH, -1, K, BATCH).sum(axis=-1)

    return per_initializer(z_sq), per_initializer(d_sq[::-1])


seed = keras.random.SeedGenerator(SEED)  # each call draws new numbers
# At most NETWORKS networks per chunk, and few enough to stay within MAX_CHUNK_BYTES (a wider
# network is run in smaller chunks; the last chunk may be smaller).
chunk = max(1, min(CHUNK, NETWORKS, int(MAX_CHUNK_BYTES // (8 * DEPTH * WIDTH**2))))
sums = {act: ([], []) for act in ACTIVATIONS}
for start in range(0, NETWORKS, chunk):
    size = min(chunk, NETWORKS - start)
    base = [
        ops.cast(keras.random.normal((size, WIDTH, WIDTH), seed=seed), DTYPE) for _ in range(DEPTH)
    ]
    rows = slice(start, start + size)
    for act, (phi, dphi) in ACTIVATIONS.items():
        z_sq, d_sq = propagate(
            base,
            ops.convert_to_tensor(x[rows], DTYPE),
            ops.convert_to_tensor(r[rows], DTYPE),
            phi,
            dphi,
        )
        sums[act][0].append(z_sq)
        sums[act][1].append(d_sq)
    del base

entries = BATCH * WIDTH  # numbers per network, initializer and layer
var_z, var_g, single_z, single_g = {}, {}, {}, {}
for act in ACTIVATIONS:
    z_sq, d_sq = (np.concatenate(parts, axis=1) for parts in sums[act])
    for k, name in enumerate(NAMES):
        # Pooled over the networks (the recursion's expectation), and per single network.
        var_z[name, act] = z_sq[:, :, k].sum(axis=1) / (NETWORKS * entries)
        var_g[name, act] = d_sq[:, :, k].sum(axis=1) / (NETWORKS * entries)
        single_z[name, act] = z_sq[:, :, k] / entries
        single_g[name, act] = d_sq[:, :, k] / entries

# %% [markdown]
# ## Prediction: the variance recursion
# For a unit of layer $l+1$, $z_{l+1,j} = \sum_{i=1}^{n} \phi(z_{l,i}) w_{ij}$ is a sum of $n$
# independent terms of mean zero (the weights are independent of the layer below), so
#
# $$q_{l+1} := \mathrm{Var}[z_{l+1}] = n \,\mathrm{Var}[w]\; \mathbb E[\phi(z_l)^2], \qquad
#   q_1 = n \,\mathrm{Var}[w]\, \mathbb E[x^2] = n \,\mathrm{Var}[w]\, s^2,$$
#
# and, treating $z_l$ as $N(0, q_l)$ (a sum of many independent terms),
# $\mathbb E[\phi(z)^2] = q/2$ for ReLU (half of a symmetric distribution is cut off) while for
# tanh it is the integral $\mathbb E[\tanh^2 z]$, $z \sim N(0, q)$. Backwards,
# $(\delta_{l+1} W_{l+1}^\top)_i = \sum_{j=1}^{n} \delta_{l+1,j} w_{ij}$ sums over the $n$ units the
# weight feeds (its fan-out); treating $\delta_{l+1}$, $W_{l+1}$ and $\phi'(z_l)$ as independent
# (exact as the width grows) gives
#
# $$\mathrm{Var}[\delta_l] = n \,\mathrm{Var}[w]\; \mathbb E[\phi'(z_l)^2]\;
#   \mathrm{Var}[\delta_{l+1}], \qquad \mathbb E[\phi'(z)^2] = \tfrac12 \text{ (ReLU)},\;
#   \mathbb E[(1 - \tanh^2 z)^2] \text{ (tanh)}.$$
#
# He's choice $\mathrm{Var}[w] = 2/n$ makes both ReLU factors exactly 1. The Gaussian
# expectations are computed on a fine grid (the trapezoidal rule is spectrally accurate for
# smooth, rapidly decaying integrands). Gauss-Hermite quadrature fails here: its nodes spread
# with $\sqrt q$, and for $q \approx 250$ (N(0, 1) with tanh) they step over the unit-wide bump of
# $1 - \tanh^2$, missing $\mathbb E[(1-\tanh^2 z)^2]$ by 90 % even with 200 nodes.


# %%
def gaussian_mean(f, q, points=4001):
    """E[f(z)] for z ~ N(0, q), by the trapezoidal rule on [-10 sqrt(q), 10 sqrt(q)]."""
    z = np.linspace(-10.0, 10.0, points) * np.sqrt(q)
    return np.trapezoid(f(z) * np.exp(-(z**2) / (2 * q)), z) / np.sqrt(2 * np.pi * q)


def predict(var_w, act):
    """The recursion's Var[z_l] and Var[delta_l], l = 1..DEPTH (r has variance 1)."""
    gain = WIDTH * var_w  # n Var[w]
    q = [gain * INPUT_STD**2]
    for _ in range(DEPTH - 1):
        mean_phi_sq = (
            q[-1] / 2 if act == "relu" else gaussian_mean(lambda z: np.tanh(z) ** 2, q[-1])
        )
        q.append(gain * mean_phi_sq)
    g = [1.0]
    for q_l in q[-2::-1]:  # layers DEPTH-1 ... 1
        mean_dphi_sq = (
            0.5 if act == "relu" else gaussian_mean(lambda z: (1 - np.tanh(z) ** 2) ** 2, q_l)
        )
        g.append(gain * mean_dphi_sq * g[-1])
    return np.array(q), np.array(g[::-1])


predicted = {
    (name, act): predict(var_w[k], act) for k, name in enumerate(NAMES) for act in ACTIVATIONS
}

# %% [markdown]
# ## Measured against predicted
# The ratio last-to-first layer, $q_L / q_1$, summarizes the forward pass; for the gradients we
# report first-to-last, $\mathrm{Var}[\delta_1] / \mathrm{Var}[\delta_L]$. Agreement is measured
# as $\max_l |\log_{10}(\text{measured}_l / \text{predicted}_l)|$ over every layer, initializer
# and activation.
#
# Why 32 networks and not one network with a big batch? The recursion is an expectation over the
# random weights. One network of width $n$ multiplies the variance by a random factor
# $1 + O(n^{-1/2})$ in every layer, and over $L$ layers the variance of $\ln(q_L/q_1)$ grows in
# proportion to $L/n$ (Hanin and Rolnick, 2018; Hanin and Nica, 2020): it is about 1 here, a
# factor $e^{\pm 1}$ between single networks. A bigger batch does not average this out: in a
# deep ReLU network all inputs become nearly parallel and share the factor. Pooling independent
# networks does.
#
# The gradients of N(0, 1) with tanh are the extreme case: only the few units with
# $|z| \lesssim 1$ pass a gradient (the others are saturated), single networks spread over
# several decades, and the mean of 32 such heavy-tailed products falls short of its expectation
# by a factor 2 to 4. That case is shown, and left out of the gradient agreement.

# %%
ratio_z = {key: v[-1] / v[0] for key, v in var_z.items()}
ratio_g = {key: v[0] / v[-1] for key, v in var_g.items()}
pred_ratio_z = {key: p[0][-1] / p[0][0] for key, p in predicted.items()}
devs_z = {key: np.abs(np.log10(var_z[key] / p[0])).max() for key, p in predicted.items()}
devs_g = {key: np.abs(np.log10(var_g[key] / p[1])).max() for key, p in predicted.items()}
# N(0, 1) with tanh is left out of the gradient comparison: see the markdown cell above.
dev_z = max(devs_z.values())
dev_g = max(value for key, value in devs_g.items() if key != ("N(0, 1)", "tanh"))
he_single = single_z["He", "relu"][-1] / single_z["He", "relu"][0]
# Var[ln ratio] over the single networks grows in proportion to DEPTH / WIDTH
he_log_var = np.var(np.log(he_single), ddof=1) if NETWORKS > 1 else float("nan")
print(
    f"{'':12s} {'activation':>10s} {'Var[z_L]/Var[z_1]':>18s} {'predicted':>10s}"
    f" {'Var[d_1]/Var[d_L]':>18s} {'log10 dev z':>12s} {'log10 dev d':>12s}"
)
for name, act in predicted:
    print(
        f"{name:12s} {act:>10s} {ratio_z[name, act]:18.3g} {pred_ratio_z[name, act]:10.3g}"
        f" {ratio_g[name, act]:18.3g} {devs_z[name, act]:12.3f} {devs_g[name, act]:12.3f}"
    )
print(
    f"largest deviation measured/predicted: activations 10^{dev_z:.2f}, gradients 10^{dev_g:.2f}"
    f" (N(0, 1) with tanh: 10^{devs_g['N(0, 1)', 'tanh']:.2f})"
)
print(
    f"He/ReLU, single networks: ratio from {he_single.min():.2f} to {he_single.max():.2f};"
    f" Var[ln ratio] = {he_log_var:.2f} (it grows in proportion to L/n = {DEPTH / WIDTH:.2f})"
)

# %% [markdown]
# ## Figure: five initializers, two activations, forward and backward

# %%
use_course_style()
layers = np.arange(1, DEPTH + 1)
fig, axes = plt.subplots(2, 3, figsize=(17, 10), width_ratios=[1, 1, 0.8])
for col, act in enumerate(ACTIVATIONS):
    for name in NAMES:
        # LeCun equals Glorot in square layers: drawn wide underneath so both stay visible.
        style = {"lw": 8, "alpha": 0.5} if name == "LeCun" else {"lw": 3}
        label = "LeCun (= Glorot here)" if name == "LeCun" else name
        for row, (measured, pred) in enumerate(
            [
                (var_z[name, act], predicted[name, act][0]),
                (var_g[name, act], predicted[name, act][1]),
            ]
        ):
            axes[row, col].plot(
                layers, np.log10(measured), color=COLORS[name], label=label, **style
            )
            axes[row, col].plot(layers, np.log10(pred), "--", color="black", lw=1.2)
    axes[0, col].set(title=f"{act}: forward, Var[$z_l$]", ylabel="$\\log_{10}$ variance")
    axes[1, col].set(
        title=f"{act}: backward, Var[$\\partial L/\\partial z_l$]",
        xlabel="layer $l$",
        ylabel="$\\log_{10}$ variance",
    )
axes[0, 0].plot([], [], "--", color="black", lw=1.2, label="recursion")
axes[0, 0].legend(loc="lower left")

# The zoom: He with ReLU, every single network and the pooled mean.
for row, (single, pooled, pred) in enumerate(
    [
        (single_z["He", "relu"], var_z["He", "relu"], predicted["He", "relu"][0]),
        (single_g["He", "relu"], var_g["He", "relu"], predicted["He", "relu"][1]),
    ]
):
    ax = axes[row, 2]
    ax.semilogy(layers, single, color=COLORS["He"], lw=0.7, alpha=0.35)
    ax.semilogy(layers, pooled, color=COLORS["He"], lw=3, label=f"mean of {NETWORKS} networks")
    ax.semilogy(layers, pred, "--", color="black", lw=1.5, label="recursion")
    ax.plot([], [], color=COLORS["He"], lw=0.7, label="single networks")
    ax.set(
        title="He + ReLU: " + ("forward" if row == 0 else "backward"),
        ylim=(0.02, 20),
        xlabel="layer $l$" if row == 1 else None,
        ylabel="variance (log scale)",
    )
axes[0, 2].legend(loc="upper left")
fig.suptitle(
    f"Signal propagation through {DEPTH} layers of width {WIDTH} at initialization: "
    "measured (solid) and the variance recursion (dashed)"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {"depth": DEPTH, "width": WIDTH, "networks": NETWORKS}
for (name, act), value in ratio_z.items():
    SUMMARY[f"act_ratio_{KEYS[name]}_{act}"] = float(value)
    SUMMARY[f"pred_act_ratio_{KEYS[name]}_{act}"] = float(pred_ratio_z[name, act])
SUMMARY["grad_ratio_he_relu"] = float(ratio_g["He", "relu"])
SUMMARY["grad_ratio_glorot_relu"] = float(ratio_g["Glorot", "relu"])
SUMMARY["max_log10_dev_activations"] = float(dev_z)
SUMMARY["max_log10_dev_gradients"] = float(dev_g)
SUMMARY["log10_dev_gradients_large_tanh"] = float(devs_g["N(0, 1)", "tanh"])
SUMMARY["he_relu_single_network_min"] = float(he_single.min())
SUMMARY["he_relu_single_network_max"] = float(he_single.max())
SUMMARY["he_relu_single_network_log_var"] = float(he_log_var)
for key, value in SUMMARY.items():
    print(f"{key:>28s}: {value:.4g}" if isinstance(value, float) else f"{key:>28s}: {value}")
