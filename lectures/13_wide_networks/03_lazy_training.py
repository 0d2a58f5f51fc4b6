"""
Lazy training: wide networks barely move their weights and train like their kernel
==================================================================================

One-hidden-layer ReLU networks of width n = 128, 512, 2048, 8192, 32768 (NTK parameterization,
four independent networks per width, trained as one Keras model) fit the same 12 points by
full-batch gradient descent. We measure how far the weights and the empirical neural tangent
kernel move, and how far the trained network ends from the kernel predictor that the NTK at
initialization prescribes.

Left: the relative change of the weights ||θ_T - θ_0|| / ||θ_0|| and of the empirical NTK on
the training inputs ||Θ_T - Θ_0||_F / ||Θ_0||_F against the width, log-log, with fitted lines
and the slope -1/2: exact for the weights, an upper bound for the kernel, which moves even
less. Middle: the root-mean-square distance between the trained network and the NTK predictor
on a test grid, with its fit and the slope -1/2. Right: the functions themselves for the
narrowest and the widest width: the wide network lies on its kernel predictor.

Needs the TensorFlow backend for one check: the NTK formula against `tf.GradientTape`.

Try:
- Set `STEPS = 200`: the formula of the kernel predictor has the number of steps in it; does
  the agreement with the network change?
- Set `LEARNING_RATE = 0.9`: predict from the largest eigenvalue printed below whether the
  training still converges.
- Set `N_TRAIN = 24`: which of the three slopes changes?
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

WIDTHS = [128, 512] if SMOKE else [128, 512, 2048, 8192, 32768]  # hidden units
REPLICATES = 2 if SMOKE else 4  # independent networks per width
N_TRAIN = 12  # training inputs
N_TEST = 60  # test inputs on a grid of angles
STEPS = 10 if SMOKE else 400  # full-batch gradient-descent steps
LEARNING_RATE = 0.5  # step size eta on the mean squared error
SIGMA2 = 2.0  # weight variance factor sigma_w^2 (He's choice for ReLU)
D_IN = 3

# %% [markdown]
# ## Data: a function on the circle
# Inputs $x(\alpha) = \sqrt{3/4}\,(\cos\alpha, \sin\alpha, 1)$ as in scripts 01 and 02, targets
# $y = \sin 2\alpha + \tfrac12\cos 3\alpha$ without noise, training angles drawn uniformly
# at random, test angles on a grid.

# %%
keras.utils.set_random_seed(SEED)
rng = np.random.default_rng(SEED)


def embed(alpha):
    return np.sqrt(3 / 4) * np.stack([np.cos(alpha), np.sin(alpha), np.ones_like(alpha)], axis=1)


def target(alpha):
    return np.sin(2 * alpha) + 0.5 * np.cos(3 * alpha)


alpha_train = np.sort(rng.uniform(0, 2 * np.pi, N_TRAIN))
alpha_test = np.linspace(0, 2 * np.pi, N_TEST, endpoint=False)
x_train, y_train = embed(alpha_train).astype("float32"), target(alpha_train)[:, None]
x_test = embed(alpha_test).astype("float32")
x_all = np.concatenate([x_train, x_test])

# %% [markdown]
# ## A Keras layer in the NTK parameterization
# $f(x) = \frac{\sigma_w}{\sqrt n}\, v^\top \phi\bigl(\frac{\sigma_w}{\sqrt d} W x\bigr)$ with
# $W \in \mathbb R^{n \times d}$, $v \in \mathbb R^{n}$ independent $N(0, 1)$: the layer below
# keeps $N(0, 1)$ weights and multiplies by $\sigma_w/\sqrt{\text{fan-in}}$ in its `call`. All
# $5 \times 4$ networks are branches of one Keras model that share only the input. Keras
# minimizes the sum of their losses, and since no weight appears in two branches, every branch
# follows its own gradient: one `fit` trains the twenty networks as twenty calls would.


# %%
class NTKDense(keras.layers.Layer):
    """Dense layer without bias in the NTK parameterization: sigma_w / sqrt(fan_in) * x @ W."""

    def __init__(self, units, activation=None, sigma2=SIGMA2, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.sigma2 = sigma2

    def build(self, input_shape):
        self.fan_in = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(self.fan_in, self.units),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            name="kernel",
        )

    def call(self, x):
        return self.activation(np.sqrt(self.sigma2 / self.fan_in) * ops.matmul(x, self.kernel))


inputs = keras.Input(shape=(D_IN,))
outputs, branch_weights = [], []  # branch_weights[k]: the weights of network k
for width in WIDTHS:
    for replicate in range(REPLICATES):
        hidden_layer = NTKDense(width, activation="relu")
        output_layer = NTKDense(1, name=f"n{width}_r{replicate}")
        outputs.append(output_layer(hidden_layer(inputs)))
        branch_weights.append([hidden_layer.kernel, output_layer.kernel])
model = keras.Model(inputs, outputs)
model.compile(
    optimizer=keras.optimizers.SGD(LEARNING_RATE), loss=["mean_squared_error"] * len(outputs)
)
width_of = np.repeat(WIDTHS, REPLICATES)

# %% [markdown]
# ## The empirical NTK
# $J(x) = \nabla_\theta f(x; \theta) \in \mathbb R^{1 \times p}$ and
# $\hat\Theta(x, x') = J(x) J(x')^\top$. For one hidden layer the chain rule gives the gradient
# in closed form, with $h = c_W W^\top x$ (row convention of Keras, $W \in \mathbb R^{d \times n}$),
# $c_W = \sigma_w/\sqrt d$, $c_v = \sigma_w/\sqrt n$:
# $\partial f/\partial v_j = c_v\,\phi(h_j)$ and
# $\partial f/\partial W_{ij} = c_v\, v_j\, \phi'(h_j)\, c_W x_i$, so
#
# $$\hat\Theta(x, x') = c_v^2 \sum_{j=1}^n \phi(h_j)\phi(h'_j) +
#   c_v^2 c_W^2\, (x \cdot x') \sum_{j=1}^n v_j^2\, \phi'(h_j)\phi'(h'_j),$$
#
# two matrix products for all inputs at once.


# %%
def empirical_ntks(x):
    """One (len(x), len(x)) NTK matrix per network, float64, from the gradient formula."""
    x = np.asarray(x, dtype=np.float64)
    kernels = []
    for w_var, v_var in branch_weights:
        w, v = np.asarray(w_var.numpy(), np.float64), np.asarray(v_var.numpy(), np.float64)[:, 0]
        c_w, c_v = np.sqrt(SIGMA2 / w.shape[0]), np.sqrt(SIGMA2 / w.shape[1])
        h = c_w * x @ w
        a, slope = np.maximum(h, 0), (h > 0).astype(np.float64)
        kernels.append(c_v**2 * (a @ a.T + c_w**2 * (x @ x.T) * ((slope * v**2) @ slope.T)))
    return kernels


# %% [markdown]
# ## Check by automatic differentiation (TensorFlow)
# One backward pass of $\sum_k f_k(x_i)$ over the twenty networks $k$ gives every network's own
# gradient at $x_i$ (the networks share no weight); twelve passes give the Jacobians on the
# training inputs, and $J J^\top$ must equal the formula up to float32 rounding. This is the
# backend-specific cell.

# %%
import tensorflow as tf  # noqa: E402  (per-example gradients with tf.GradientTape)


def autodiff_ntks(x):
    """The same kernels from per-input gradients by automatic differentiation."""
    weights = [w for ws in branch_weights for w in ws]
    rows = []
    for i in range(len(x)):
        with tf.GradientTape() as tape:
            total = tf.add_n([out[0, 0] for out in model(x[i : i + 1])])
        grads = tape.gradient(total, weights)
        rows.append([np.asarray(g, np.float64).ravel() for g in grads])
    kernels = []
    for k in range(len(branch_weights)):
        jac = np.stack([np.concatenate(r[2 * k : 2 * k + 2]) for r in rows])  # (len(x), p)
        kernels.append(jac @ jac.T)
    return kernels


formula_error = max(
    np.max(np.abs(a - b)) / np.max(np.abs(b))
    for a, b in zip(autodiff_ntks(x_train), empirical_ntks(x_train), strict=True)
)
print(f"autodiff against formula: max relative difference {formula_error:.2e}")


def flat_weights():
    return [
        np.concatenate([np.ravel(w.numpy()) for w in ws]).astype(np.float64)
        for ws in branch_weights
    ]


def predictions(x):
    return np.stack(
        [np.asarray(out, dtype=np.float64)[:, 0] for out in model.predict(x, verbose=0)]
    )


theta_0, ntk_0, f0_all = flat_weights(), empirical_ntks(x_all), predictions(x_all)

# %% [markdown]
# ## Training
# Keras' loss is $L(\theta) = \frac1N \sum_{i=1}^N (f(x_i; \theta) - y_i)^2$ and gradient
# descent takes $\theta_{t+1} = \theta_t - \eta \nabla L(\theta_t)$ for $T$ = `STEPS` steps.

# %%
# Replaces model.fit(x_train, [y_train] * 20, batch_size=N_TRAIN, epochs=STEPS, shuffle=False).
fit_fast(model, x_train, [y_train] * len(outputs), epochs=STEPS, every=STEPS // 10, shuffle=False)
theta_t, ntk_t, f_t_all = flat_weights(), empirical_ntks(x_train), predictions(x_all)

# %% [markdown]
# ## The kernel predictor
# If the Jacobian stayed at $J_0 = J(\cdot\,; \theta_0)$, the training residual $r_t = f_t(X) - y$
# would obey $r_{t+1} = (I - \tfrac{2\eta}{N}\Theta_0)\, r_t$ with $\Theta_0 = \hat\Theta_0(X, X)$,
# and at any input
#
# $$f_T(x) = f_0(x) + \Theta_0(x, X)\, \Theta_0^{-1}
#   \bigl(I - (I - \tfrac{2\eta}{N}\Theta_0)^T\bigr)\,(y - f_0(X)),$$
#
# which tends to the kernel regression predictor
# $f_0(x) + \Theta_0(x, X)\Theta_0^{-1}(y - f_0(X))$ as $T \to \infty$ (Jacot et al. 2018;
# Lee et al. 2019). The step is stable when $\eta < N / \lambda_{\max}(\Theta_0)$. We evaluate
# the matrix function through the eigendecomposition $\Theta_0 = U \Lambda U^\top$, where the
# factor $(1 - (1 - 2\eta\lambda/N)^T)/\lambda$ stays finite for small $\lambda$.


# %%
def kernel_predictor(ntk_full, f0):
    """f_T on x_all predicted from the empirical NTK at initialization."""
    k_xx, k_ax = ntk_full[:N_TRAIN, :N_TRAIN], ntk_full[:, :N_TRAIN]
    lam, u = np.linalg.eigh(k_xx)
    lam = np.maximum(lam, 1e-12)
    gain = (1 - (1 - 2 * LEARNING_RATE * lam / N_TRAIN) ** STEPS) / lam
    return f0 + k_ax @ (u @ (gain * (u.T @ (y_train[:, 0] - f0[:N_TRAIN]))))


lam_max = max(np.linalg.eigvalsh(k[:N_TRAIN, :N_TRAIN]).max() for k in ntk_0)
print(f"largest eigenvalue of Θ_0(X, X): {lam_max:.3f}; stable for eta < {N_TRAIN / lam_max:.3f}")
f_kernel = [kernel_predictor(k, f0) for k, f0 in zip(ntk_0, f0_all, strict=True)]

weight_change = np.array(
    [np.linalg.norm(t - t0) / np.linalg.norm(t0) for t, t0 in zip(theta_t, theta_0, strict=True)]
)
ntk_change = np.array(
    [
        np.linalg.norm(kt - k0[:N_TRAIN, :N_TRAIN]) / np.linalg.norm(k0[:N_TRAIN, :N_TRAIN])
        for kt, k0 in zip(ntk_t, ntk_0, strict=True)
    ]
)
kernel_distance = np.array(
    [
        np.sqrt(np.mean((f[N_TRAIN:] - g[N_TRAIN:]) ** 2))
        for f, g in zip(f_t_all, f_kernel, strict=True)
    ]
)
train_rmse = np.sqrt(np.mean((f_t_all[:, :N_TRAIN] - y_train[:, 0]) ** 2, axis=1))


# %% [markdown]
# ## How fast things move
# The parameters travel a distance $\|\theta_T - \theta_0\| = O(1)$ (the Jacobian has norm
# $O(1)$ and the residuals are bounded), while $\|\theta_0\| \approx \sqrt{(d + 1)n}$: the
# relative change falls like $n^{-1/2}$. Every single weight moves by $O(n^{-1/2})$, so
# the kernel, an average over the $n$ units, moves by at most $O(n^{-1/2})$ (Jacot et al. 2018;
# Lee et al. 2019). The bound is not tight: the first-order changes of the units carry the
# random signs of the output weights $v_j$ and largely cancel in the average (for smooth
# activations the kernel moves by $O(1/n)$, Dyer and Gur-Ari 2020), so the measured slope of the
# kernel lies between $-1/2$ and $-1$. The distance between the network and its kernel predictor
# is bounded by $O(n^{-1/2})$ (Lee et al. 2019, Theorem 2.1).


# %%
def per_width(values):
    """Root mean square over the replicates of each width."""
    return np.array([np.sqrt(np.mean(values[width_of == w] ** 2)) for w in WIDTHS])


def loglog_fit(x, y):
    """Slope and intercept of the least-squares line through (log x, log y)."""
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope), float(intercept)


widths = np.array(WIDTHS, dtype=float)
curves = {
    "weights": per_width(weight_change),
    "NTK": per_width(ntk_change),
    "kernel": per_width(kernel_distance),
}
fits = {name: loglog_fit(widths, values) for name, values in curves.items()}
for name, (slope, _) in fits.items():
    print(f"{name:8s} slope {slope:+.3f}: {np.round(curves[name], 5)}")

# %% [markdown]
# ## Figure

# %%
use_course_style()
fig, (ax_move, ax_dist, ax_fun) = plt.subplots(1, 3, figsize=(18, 5.6))
styles = {
    "weights": ("tab:blue", "‖θ_T − θ_0‖ / ‖θ_0‖"),
    "NTK": ("tab:red", "‖Θ_T − Θ_0‖_F / ‖Θ_0‖_F"),
}
for name, (color, label) in styles.items():
    slope, intercept = fits[name]
    ax_move.loglog(widths, curves[name], "o", color=color, label=label)
    ax_move.loglog(
        widths,
        np.exp(intercept) * widths**slope,
        "-",
        color=color,
        alpha=0.6,
        label=f"fit: slope {slope:+.2f}",
    )
    ax_move.loglog(widths, curves[name][0] * (widths / widths[0]) ** -0.5, "k--", linewidth=1)
ax_move.plot([], [], "k--", linewidth=1, label="slope -1/2 (kernel: a bound)")
ax_move.set(
    xlabel="width n",
    ylabel="relative change during training",
    title="Weights and kernel barely move",
)
ax_move.legend(fontsize=10)

slope, intercept = fits["kernel"]
ax_dist.loglog(
    widths,
    curves["kernel"],
    "o",
    color="tab:purple",
    label=f"measured (RMS over {REPLICATES} networks)",
)
ax_dist.loglog(
    widths,
    np.exp(intercept) * widths**slope,
    "-",
    color="tab:purple",
    alpha=0.6,
    label=f"fit: slope {slope:+.2f}",
)
ax_dist.loglog(
    widths, curves["kernel"][0] * (widths / widths[0]) ** -0.5, "k--", label="slope -1/2"
)
ax_dist.set(
    xlabel="width n",
    ylabel="RMS distance on the test grid",
    title="Trained network vs its NTK predictor",
)
ax_dist.legend(fontsize=10)
for ax in (ax_move, ax_dist):
    ax.set_xticks(widths, [str(w) for w in WIDTHS], minor=False)
    ax.tick_params(axis="x", which="minor", bottom=False, labelbottom=False)

for k, color in [(0, "tab:orange"), (len(outputs) - REPLICATES, "tab:blue")]:
    ax_fun.plot(
        alpha_test, f_t_all[k, N_TRAIN:], "-", color=color, label=f"network, n = {width_of[k]}"
    )
    ax_fun.plot(
        alpha_test,
        f_kernel[k][N_TRAIN:],
        ":",
        color=color,
        linewidth=3,
        label=f"NTK predictor, n = {width_of[k]}",
    )
ax_fun.plot(alpha_train, y_train[:, 0], "ko", label="training data")
ax_fun.set(xlabel="angle α (radians)", ylabel="f(x(α))", title=f"After {STEPS} gradient steps")
ax_fun.legend(fontsize=9)
fig.suptitle("Lazy training: the wider the network, the more it trains like its tangent kernel")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "steps": STEPS,
    "widest": WIDTHS[-1],
    "weight_change_slope": fits["weights"][0],
    "ntk_change_slope": fits["NTK"][0],
    "kernel_distance_slope": fits["kernel"][0],
    "weight_change_widest": float(curves["weights"][-1]),
    "ntk_change_widest": float(curves["NTK"][-1]),
    "kernel_distance_narrowest": float(curves["kernel"][0]),
    "kernel_distance_widest": float(curves["kernel"][-1]),
    "kernel_distance_monotone": bool(np.all(np.diff(curves["kernel"]) < 0)),
    "max_train_rmse": float(train_rmse.max()),
    "ntk_formula_vs_autodiff": float(formula_error),
    "eta_times_lambda_max_over_n": float(LEARNING_RATE * lam_max / N_TRAIN),
}
for key, value in SUMMARY.items():
    print(f"{key:>28s}: {value:.4g}" if isinstance(value, float) else f"{key:>28s}: {value}")
