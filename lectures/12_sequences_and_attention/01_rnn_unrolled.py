"""
A recurrent network is a deep network with shared weights
=========================================================

`keras.layers.SimpleRNN` unrolled by hand with `keras.ops` gives the layer's outputs, and
backpropagation through time is the chain rule through the unrolled network: the gradient
∂h_T/∂h_t is a product of T − t Jacobians that all contain the same recurrent matrix U. For a
linear recurrence it is (Uᵀ)^(T−t), whose norm grows or shrinks like ρ(U)^(T−t), with ρ(U) the
spectral radius; with tanh it is at most ‖U‖^(T−t), and saturated units make it much smaller.

Left: the spectral norm of ∂h_T/∂h_{T−k} against the number of steps k back in time (log scale),
for recurrent matrices of spectral radius 0.9, 1 and 1.1; solid: a linear recurrence, dashed:
tanh (clipped below at 1e-8); dotted: the lines ρ^k. Right: the eigenvalues of the three
recurrent matrices in the
complex plane, with the unit circle. Look at the solid curves: they follow ρ^k, vanishing
below radius 1 and exploding above it; here tanh bends every curve down, even above radius 1,
because the units saturate.

Needs the TensorFlow backend for one check: the product of Jacobians against
`tf.GradientTape`.

Try:
- Set `INPUT_SCALE = 0.1` (weaker inputs, so tanh works near 0 where tanh' ≈ 1): how close do
  the dashed curves come to the solid ones, and why not at ρ = 1.1?
- Set `RADII = [0.5, 1.0, 2.0]`: predict the slopes of the three solid lines first.
- Replace each `G` by an orthogonal matrix (`np.linalg.qr(g)[0]` in `random_matrix`): what is
  ‖U^k‖ then, for every k?
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

BATCH, LENGTH, INPUTS = 8, 20, 3  # sequences for the equality check
UNITS = 64  # hidden units n
STEPS = 40 if SMOKE else 100  # T, steps of backpropagation through time
RADII = [0.9, 1.0, 1.1]  # spectral radii of the recurrent matrix
INPUT_SCALE = 1.0  # standard deviation of the input weights
rng = np.random.default_rng(SEED)

# %% [markdown]
# ## The recurrence, unrolled
# A simple recurrent network reads $x_1, \dots, x_T$ and updates a hidden state:
# $$h_t = \tanh(x_t W + h_{t-1} U + b), \qquad h_0 = 0,$$
# with the same $W$ (input kernel), $U$ (recurrent kernel) and $b$ at every step. Unrolled over
# $T$ steps it is a $T$-layer network whose layers share their weights and receive one more
# input each. Keras stores `kernel` $W$ of shape (inputs, units), `recurrent_kernel` $U$ of
# shape (units, units) and `bias` $b$, in that order in `get_weights()`.


# %%
def unrolled_rnn(x, weights):
    """h_1, ..., h_T of a tanh SimpleRNN, one step at a time: array (batch, T, units)."""
    w, u, b = weights
    h = ops.zeros((x.shape[0], u.shape[0]), dtype=x.dtype)
    states = []
    for t in range(x.shape[1]):
        h = ops.tanh(ops.matmul(x[:, t], w) + ops.matmul(h, u) + b)
        states.append(h)
    return ops.stack(states, axis=1)


errors = {}
for dtype in ["float32", "float64"]:
    keras.utils.set_random_seed(SEED)
    rnn = keras.layers.SimpleRNN(
        16, return_sequences=True, bias_initializer="random_normal", dtype=dtype
    )
    x = rng.standard_normal((BATCH, LENGTH, INPUTS)).astype(dtype)
    keras_states = ops.convert_to_numpy(rnn(x))
    ours = ops.convert_to_numpy(unrolled_rnn(x, rnn.get_weights()))
    errors[dtype] = float(np.max(np.abs(keras_states - ours)))
    print(f"{dtype}: max |SimpleRNN - unrolled| = {errors[dtype]:.2e}")

# %% [markdown]
# ## Backpropagation through time
# Write $a_k = x_k W + h_{k-1} U + b$ and, for column vectors, $h_k = \phi(a_k)$. The chain rule
# through the unrolled network gives
# $$\frac{\partial h_T}{\partial h_t} = \prod_{k=t+1}^{T} \frac{\partial h_k}{\partial h_{k-1}}
# = D_T U^\top D_{T-1} U^\top \cdots D_{t+1} U^\top,
# \qquad D_k = \mathrm{diag}\big(\phi'(a_k)\big).$$
# For a linear recurrence ($\phi(a) = a$, $D_k = I$) this is $(U^\top)^{T-t}$, and Gelfand's
# formula $\lim_k \|U^k\|^{1/k} = \rho(U)$ says its norm behaves like $\rho(U)^{T-t}$: the slope
# of $\log\|\partial h_T/\partial h_t\|$ against $T - t$ is $\log\rho(U)$. The gradient of a loss
# at step $T$ with respect to the weights sums the contributions of every earlier step through
# these products: for $\rho < 1$ the early steps contribute almost nothing (vanishing
# gradients), for $\rho > 1$ they dominate without bound (exploding gradients).
# With $\phi = \tanh$, $0 < \phi' \le 1$ with equality only at 0, so every $D_k$ is
# non-expansive ($\|D_k\| \le 1$), and submultiplicativity gives only
# $\|\partial h_T/\partial h_t\| \le \|U\|^{T-t}$, with the spectral norm $\|U\| \ge \rho(U)$
# (here $\|G\|_2 \approx 2$ against $\rho(G) = 1$). It does not follow that the tanh curve stays
# below $\rho^{T-t}$: for a non-normal $U$ a diagonal $D$ can raise the spectral radius
# (for $U = \begin{pmatrix} 1 & 1 \\ -1 & -1 \end{pmatrix}$, $\rho(U) = 0$ since $U^2 = 0$, yet
# $\mathrm{diag}(1, 1/2)\,U$ has the eigenvalue $1/2$). That the dashed curves lie far below
# the dotted lines here is a measured fact, and its cause is saturation: with `INPUT_SCALE = 1`
# the mean of $\log\phi'(a_k)$ over units and steps is between $-1$ and $-0.65$ (so
# $\phi' \approx 0.4$ to $0.5$ for a typical unit), and the tanh slopes lie 0.33 to 0.55 below
# $\log\rho$ (seeds 0-9).
#
# Here $U = \rho\, G / \rho(G)$ for an independent Gaussian matrix $G$ for each radius, so
# that the three slopes are three tests of Gelfand's formula, not one; the input is one number
# per step, $x_t \sim N(0, 1)$, the input weights are independent $N(0, s^2)$ with
# $s$ = `INPUT_SCALE`, and $b = 0$.


# %%
def random_matrix():
    """A Gaussian (units, units) matrix scaled to spectral radius 1."""
    g = rng.standard_normal((UNITS, UNITS)) / np.sqrt(UNITS)
    return g / np.max(np.abs(np.linalg.eigvals(g)))


G = {radius: random_matrix() for radius in RADII}  # one independent matrix per radius
w_in = INPUT_SCALE * rng.standard_normal((1, UNITS))
x_seq = rng.standard_normal((1, STEPS, 1))


def jacobian_norms(u, activation):
    """Spectral norms of dh_T/dh_{T-k} for k = 0..T, dh_T/dh_0 itself (float64 NumPy), and the
    mean of log ph'(a_k) over units and steps."""
    h, derivatives = np.zeros(UNITS), []
    for t in range(STEPS):
        a = x_seq[0, t] @ w_in + h @ u
        h = np.tanh(a) if activation == "tanh" else a
        derivatives.append(1 - h**2 if activation == "tanh" else np.ones(UNITS))
    jac, norms = np.eye(UNITS), [1.0]
    for k in range(1, STEPS + 1):
        jac = jac @ (derivatives[STEPS - k][:, None] * u.T)  # times D_{T-k+1} U^T
        norms.append(np.linalg.norm(jac, 2))
    return np.array(norms), jac, float(np.mean(np.log(derivatives)))


steps_back = np.arange(STEPS + 1)
fit_range = steps_back >= STEPS // 4  # past the transient of the first steps
norms, slopes, jacobians, mean_log_derivative, transient = {}, {}, {}, {}, {}
for radius in RADII:
    for activation in ["linear", "tanh"]:
        norms[(radius, activation)], jacobians[(radius, activation)], mean_log = jacobian_norms(
            radius * G[radius], activation
        )
        log_norm = np.log(norms[(radius, activation)])
        slopes[(radius, activation)] = np.polyfit(steps_back[fit_range], log_norm[fit_range], 1)[0]
    mean_log_derivative[radius] = mean_log
    # Gelfand: ||U^k|| / rho^k stays in a band [m, M] for k >= T/4; a least-squares slope over an
    # interval of length L of a function with range ln(M/m) differs from 0 by at most
    # 1.5 ln(M/m) / L (the worst case is a step in the middle of the interval)
    ratio = np.log(norms[(radius, "linear")][fit_range]) - steps_back[fit_range] * np.log(radius)
    transient[radius] = 1.5 * float(np.ptp(ratio)) / (STEPS - STEPS // 4)
    print(
        f"rho = {radius}: log rho = {np.log(radius):+.4f}, slope linear "
        f"{slopes[(radius, 'linear')]:+.4f} (transient bound {transient[radius]:.4f}), tanh "
        f"{slopes[(radius, 'tanh')]:+.4f}, mean log tanh' {mean_log:+.3f}"
    )

# %% [markdown]
# ## The product of Jacobians against automatic differentiation (TensorFlow)
# The same recurrence as a `SimpleRNN` layer (float64, weights $W$, $U$, $b = 0$) with the initial
# state $h_0$ as an input: `tf.GradientTape` differentiates $h_T$ with respect to $h_0$. One
# backward pass gives the whole Jacobian: the batch holds `UNITS` copies of the sequence, and
# the gradient of $\sum_i (h_T)_{i,i}$ with respect to copy $i$ of $h_0$ is row $i$ of
# $\partial h_T / \partial h_0$. Two checks: the tanh recurrence at the middle radius, whose
# Jacobian is tiny after $T$ steps, and the linear one (`activation=None`) at the largest
# radius, whose Jacobian is large; both relative to the largest entry. Keras 3 has no
# backend-neutral gradient; this is the backend-specific cell of the script.

# %%
import tensorflow as tf  # noqa: E402  (the gradient comes from tf.GradientTape)

h0 = tf.zeros((UNITS, UNITS), dtype="float64")
copies = np.repeat(x_seq, UNITS, axis=0)
autodiff_error = {}
for activation, radius in [("tanh", RADII[len(RADII) // 2]), ("linear", max(RADII))]:
    rnn = keras.layers.SimpleRNN(
        UNITS, activation="tanh" if activation == "tanh" else None, dtype="float64"
    )
    rnn(copies, initial_state=h0)  # builds the weights
    rnn.set_weights([w_in, radius * G[radius], np.zeros(UNITS)])
    with tf.GradientTape() as tape:
        tape.watch(h0)
        h_T = rnn(copies, initial_state=h0)
        diagonal = tf.reduce_sum(tf.linalg.diag_part(h_T))
    jac_autodiff = ops.convert_to_numpy(tape.gradient(diagonal, h0))
    jac_ours = jacobians[(radius, activation)]
    autodiff_error[activation] = float(
        np.max(np.abs(jac_autodiff - jac_ours)) / np.max(np.abs(jac_ours))
    )
    print(
        f"{activation}, rho = {radius}: max |entry| {np.max(np.abs(jac_ours)):.1e}, max |product "
        f"of Jacobians - tf.GradientTape| / max |entry| = {autodiff_error[activation]:.2e}"
    )

# %% [markdown]
# ## Figure: gradient norms through time, and the spectra

# %%
use_course_style()
fig, (ax_norm, ax_eig) = plt.subplots(
    1, 2, figsize=(15, 5.8), gridspec_kw={"width_ratios": [1.6, 1]}
)
colors = dict(zip(RADII, ["tab:blue", "tab:green", "tab:red"], strict=True))
for radius in RADII:
    c = colors[radius]
    ax_norm.semilogy(
        steps_back, norms[(radius, "linear")], "-", color=c, label=f"linear, ρ={radius}"
    )
    ax_norm.semilogy(steps_back, norms[(radius, "tanh")], "--", color=c, label=f"tanh, ρ={radius}")
    ax_norm.semilogy(steps_back, radius**steps_back, ":", color=c, linewidth=1)
ax_norm.plot([], [], ":", color="gray", linewidth=1, label="ρ^k (dotted)")
ax_norm.set(
    ylim=(
        1e-8,
        10 ** np.ceil(np.log10(max(np.max(norms[(r, "linear")]) for r in RADII))),
    ),
    xlabel="steps back in time k = T − t",
    ylabel="‖∂h_T / ∂h_t‖ (spectral norm)",
    title="Backpropagation through time: solid linear, dashed tanh, dotted ρ^k",
)
ax_norm.legend(fontsize=10, ncol=2, loc="lower left")

circle = np.exp(1j * np.linspace(0, 2 * np.pi, 200))
ax_eig.plot(circle.real, circle.imag, "k-", linewidth=1, label="unit circle")
for radius in RADII:
    z = radius * np.linalg.eigvals(G[radius])
    ax_eig.plot(z.real, z.imag, ".", color=colors[radius], label=f"eigenvalues of U, ρ={radius}")
ax_eig.set(
    xlabel="Re λ",
    ylabel="Im λ",
    title="Spectra of the recurrent matrices",
    aspect="equal",
    xlim=(-1.2 * max(RADII), 1.2 * max(RADII)),
    ylim=(-1.2 * max(RADII), 1.75 * max(RADII)),
)
ax_eig.legend(fontsize=9, loc="upper center", ncol=2)
fig.suptitle(
    "A recurrent network is a deep network with shared weights: linear gradients scale like ρ^k"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "rnn_error_float32": errors["float32"],
    "rnn_error_float64": errors["float64"],
    "autodiff_error_tanh": autodiff_error["tanh"],
    "autodiff_error_linear": autodiff_error["linear"],
    "steps": STEPS,
}
for radius in RADII:
    name = f"{radius:g}".replace(".", "")
    SUMMARY[f"slope_linear_rho{name}"] = float(slopes[(radius, "linear")])
    SUMMARY[f"slope_tanh_rho{name}"] = float(slopes[(radius, "tanh")])
    SUMMARY[f"log_rho{name}"] = float(np.log(radius))
    SUMMARY[f"slope_transient_rho{name}"] = transient[radius]
    SUMMARY[f"mean_log_tanh_derivative_rho{name}"] = mean_log_derivative[radius]
    SUMMARY[f"final_norm_linear_rho{name}"] = float(norms[(radius, "linear")][-1])
    SUMMARY[f"final_norm_tanh_rho{name}"] = float(norms[(radius, "tanh")][-1])
for key, value in SUMMARY.items():
    print(f"{key:>28s}: {value:.4g}" if isinstance(value, float) else f"{key:>28s}: {value}")
