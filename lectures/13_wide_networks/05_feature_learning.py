"""
Where the theory stops: feature learning in the mean-field scaling
==================================================================

Two kinds of one-hidden-layer ReLU networks of the same width (4096 units, four networks
each) learn the same function from the same initial weights: in the NTK parameterization
(output scale 1/sqrt(n)) and in the mean-field scaling (output scale 1/n, learning rate
multiplied by n, the maximal-update choice for one hidden layer). In function space both start
with the same gradient-descent dynamics; only the second moves its hidden features.

Left: the centred alignment of the empirical NTK with the targets,
y_c^T Θ_c y_c / (||Θ_c||_F ||y_c||^2), against the step. Middle: the relative change of the
hidden weights ||W_t - W_0||_F / ||W_0||_F, log scale. Right: the fraction of the targets that
lies in the span of the top k eigenvectors of the kernel, at initialization and after
training: on the equally spaced angles it starts in eigenvectors 5 and 6 (the frequency-3
pair); after mean-field training part of it sits in lower eigenvectors although the alignment
grew, so the two measures tell different things. Look at the left panel: the NTK network keeps
the kernel it was born with, so the infinite-width theory describes it; the mean-field network
changes its kernel and multiplies its alignment with the target several times, which no fixed
kernel describes.

Needs the TensorFlow backend for one check: the NTK formula against `tf.GradientTape`.

Try:
- Set `WIDTH = 512`: does the NTK network's alignment still stay flat?
- Set `STEPS = 3000`: does the mean-field alignment keep growing or saturate?
- Set `TARGET_FREQUENCY = 1`: a target close to the initial kernel's top eigenfunctions; how
  much is left for feature learning?
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

WIDTH = 4096  # hidden units of every network
REPLICATES = 4  # networks per scaling
N_TRAIN = 24  # training inputs
STEPS = 30 if SMOKE else 1500  # full-batch gradient-descent steps
CHECKPOINTS = 1 if SMOKE else 6  # times the kernel is measured after the start
LEARNING_RATE = 0.5  # eta of the NTK network; the mean-field network uses eta * WIDTH
TARGET_FREQUENCY = 3  # y = sin(k alpha)
SIGMA2 = 2.0  # weight variance factor sigma_w^2 (He's choice for ReLU)
D_IN = 3

if STEPS % CHECKPOINTS:
    raise ValueError(f"STEPS must be a multiple of CHECKPOINTS = {CHECKPOINTS}, got {STEPS}")

# %% [markdown]
# ## Data
# Inputs $x(\alpha) = \sqrt{3/4}\,(\cos\alpha, \sin\alpha, 1)$ as in the other scripts, targets
# $y = \sin(k\alpha)$ with $k$ = `TARGET_FREQUENCY`, on 24 equally spaced training angles
# turned by a random angle. The infinite-width kernel depends on $\alpha - \alpha'$ only, so on
# this grid its alignment with $y$ is the same for every seed: what varies between seeds is the
# finite-width randomness of the networks, which the comparison is about.

# %%
keras.utils.set_random_seed(SEED)
rng = np.random.default_rng(SEED)
alpha = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(N_TRAIN) / N_TRAIN
x_train = (np.sqrt(3 / 4) * np.stack([np.cos(alpha), np.sin(alpha), np.ones(N_TRAIN)], 1)).astype(
    "float32"
)
y_train = np.sin(TARGET_FREQUENCY * alpha)[:, None]

# %% [markdown]
# ## Two scalings of the same network
# $f(x) = \frac{\sigma_w}{n^{a}}\, v^\top \phi\bigl(\frac{\sigma_w}{\sqrt d} W x\bigr)$ with
# $N(0, 1)$ weights, and gradient descent on $L = \frac1N\sum_i (f(x_i) - y_i)^2$ with step
# $\eta_a$:
#
# | | output scale | step | the hidden weights move by |
# |---|---|---|---|
# | NTK parameterization | $a = 1/2$ | $\eta$ | $O(n^{-1/2})$ each: lazy |
# | mean-field scaling | $a = 1$ | $\eta n$ | $O(1)$ each: feature learning |
#
# In the mean-field scaling the empirical NTK is $\hat\Theta/n$ of the NTK network's at the same
# weights, so the step $\eta n$ gives the same function-space step $\eta n \cdot \hat\Theta/n$ at
# initialization: the two runs start with identical kernel dynamics, and $f_0 = O(n^{-1/2})$ is
# nearly 0. But the gradient with respect to one hidden unit's weights $w_j$ is of size
# $\sigma_w |v_j| / n$, and multiplied by $\eta n$ it moves $w_j$ by $O(1)$, where the NTK
# network moves it by $O(n^{-1/2})$ (Mei, Montanari and Nguyen 2018; Chizat and Bach 2018;
# Yang and Hu 2021). The two kinds of networks are branches of one Keras model; the
# mean-field branch's loss weight $n$ multiplies its gradients by $n$, which for plain gradient
# descent is the step $\eta n$.


# %%
class NTKDense(keras.layers.Layer):
    """Dense layer without bias: sigma_w / fan_in**power * x @ W with N(0, 1) weights W."""

    def __init__(self, units, activation=None, power=0.5, sigma2=SIGMA2, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.power = power
        self.sigma2 = sigma2

    def build(self, input_shape):
        self.scale = np.sqrt(self.sigma2) / input_shape[-1] ** self.power
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            name="kernel",
        )

    def call(self, x):
        return self.activation(self.scale * ops.matmul(x, self.kernel))


SCALINGS = {"NTK": 0.5, "mean-field": 1.0}  # output layer power a
inputs = keras.Input(shape=(D_IN,))
outputs, branches, kind_of = [], [], []
for replicate in range(REPLICATES):
    hidden_init = keras.random.normal((D_IN, WIDTH))  # both scalings start from these weights
    out_init = keras.random.normal((WIDTH, 1))
    for kind, power in SCALINGS.items():
        hidden_layer = NTKDense(WIDTH, activation="relu")
        output_layer = NTKDense(1, power=power, name=f"{kind}_{replicate}")
        outputs.append(output_layer(hidden_layer(inputs)))
        hidden_layer.kernel.assign(hidden_init)
        output_layer.kernel.assign(out_init)
        branches.append((hidden_layer, output_layer))
        kind_of.append(kind)
kind_of = np.array(kind_of)
model = keras.Model(inputs, outputs)
model.compile(
    optimizer=keras.optimizers.SGD(LEARNING_RATE),
    loss=["mean_squared_error"] * len(outputs),
    loss_weights=[1.0 if kind == "NTK" else float(WIDTH) for kind in kind_of],
)

# %% [markdown]
# ## The empirical NTK
# As in script 03, with the output scale $c_v = \sigma_w / n^{a}$: for one hidden layer the
# gradient is known in closed form and
#
# $$\hat\Theta(x, x') = c_v^2 \sum_{j=1}^n \phi(h_j)\phi(h'_j) +
#   c_v^2 c_W^2\, (x \cdot x') \sum_{j=1}^n v_j^2\, \phi'(h_j)\phi'(h'_j),
#   \qquad c_W = \sigma_w/\sqrt d.$$


# %%
def empirical_ntks(x):
    """One (len(x), len(x)) NTK matrix per branch, float64, from the gradient formula."""
    x = np.asarray(x, dtype=np.float64)
    kernels = []
    for hidden_layer, output_layer in branches:
        w = np.asarray(hidden_layer.kernel.numpy(), np.float64)
        v = np.asarray(output_layer.kernel.numpy(), np.float64)[:, 0]
        c_w, c_v = hidden_layer.scale, output_layer.scale
        h = c_w * x @ w
        a, slope = np.maximum(h, 0), (h > 0).astype(np.float64)
        kernels.append(c_v**2 * (a @ a.T + c_w**2 * (x @ x.T) * ((slope * v**2) @ slope.T)))
    return kernels


# %% [markdown]
# ## Check by automatic differentiation (TensorFlow)
# One backward pass of $\sum_k f_k(x_i)$ over the branches gives every branch's own gradient at
# $x_i$; the Jacobians on the training inputs give $J J^\top$, which must equal the formula up
# to float32 rounding. This is the backend-specific cell.

# %%
import tensorflow as tf  # noqa: E402  (per-example gradients with tf.GradientTape)


def autodiff_ntks(x):
    """The same kernels from per-input gradients by automatic differentiation."""
    weights = [w for layers in branches for w in (layers[0].kernel, layers[1].kernel)]
    rows = []
    for i in range(len(x)):
        with tf.GradientTape() as tape:
            total = tf.add_n([out[0, 0] for out in model(x[i : i + 1])])
        grads = tape.gradient(total, weights)
        rows.append([np.asarray(g, np.float64).ravel() for g in grads])
    kernels = []
    for k in range(len(branches)):
        jac = np.stack([np.concatenate(r[2 * k : 2 * k + 2]) for r in rows])  # (len(x), p)
        kernels.append(jac @ jac.T)
    return kernels


formula_error = max(
    np.max(np.abs(a - b)) / np.max(np.abs(b))
    for a, b in zip(autodiff_ntks(x_train), empirical_ntks(x_train), strict=True)
)
print(f"autodiff against formula: max relative difference {formula_error:.2e}")


def hidden_weights():
    return [np.asarray(layers[0].kernel.numpy(), dtype=np.float64) for layers in branches]


# %% [markdown]
# ## Kernel alignment
# The centred alignment of a positive semi-definite kernel matrix $K$ with the targets
# (Cristianini et al. 2002; centred as in Cortes, Mohri and Rostamizadeh 2012), with
# $H = I - \frac1N \mathbf 1\mathbf 1^\top$, $K_c = HKH$ and $y_c = Hy$:
#
# $$A(K, y) = \frac{y_c^\top K_c\, y_c}{\|K_c\|_F\, \|y_c\|^2}
#   = \frac{\langle K_c, y_c y_c^\top\rangle_F}{\|K_c\|_F\, \|y_c y_c^\top\|_F} \in [0, 1],$$
#
# the cosine between $K_c$ and the ideal kernel $y_c y_c^\top$; it does not see the kernel's
# scale, and centring removes the constant function, which every kernel here contains (the
# inputs' constant coordinate) and which says nothing about $y$. Kernel regression learns $y$
# fast when $y$ lies in the top eigenvectors of $K$: we also record the fraction of
# $\|y_c\|^2$ in the span of the top $k$ eigenvectors of $K_c$.

# %%
centre = np.eye(N_TRAIN) - 1 / N_TRAIN
y_c = centre @ y_train[:, 0]


def alignment(k):
    k_c = centre @ k @ centre
    return float(y_c @ k_c @ y_c / (np.linalg.norm(k_c) * y_c @ y_c))


def captured_fraction(k):
    """Fraction of ||y_c||^2 in the top-k eigenvectors of K_c, for k = 1, ..., N."""
    _, u = np.linalg.eigh(centre @ k @ centre)  # ascending eigenvalues
    return np.cumsum((u[:, ::-1].T @ y_c) ** 2) / (y_c @ y_c)


# %% [markdown]
# ## Training, with the kernel measured at checkpoints

# %%
w_start = hidden_weights()
record_steps, aligns, moves = (
    [0],
    [[alignment(k) for k in empirical_ntks(x_train)]],
    [np.zeros(len(branches))],
)
captured_start = np.array([captured_fraction(k) for k in empirical_ntks(x_train)])
for _ in range(CHECKPOINTS):
    # Replaces model.fit(x_train, [y_train] * 8, batch_size=N_TRAIN, epochs=STEPS // CHECKPOINTS,
    #                    shuffle=False).
    history = fit_fast(
        model,
        x_train,
        [y_train] * len(outputs),
        epochs=STEPS // CHECKPOINTS,
        every=STEPS // CHECKPOINTS,
        shuffle=False,
    )
    record_steps.append(record_steps[-1] + STEPS // CHECKPOINTS)
    kernels = empirical_ntks(x_train)
    aligns.append([alignment(k) for k in kernels])
    moves.append(
        [
            np.linalg.norm(w - w0) / np.linalg.norm(w0)
            for w, w0 in zip(hidden_weights(), w_start, strict=True)
        ]
    )
aligns, moves = np.array(aligns), np.array(moves)  # (checkpoints + 1, branches)
captured_end = np.array([captured_fraction(k) for k in kernels])
final = np.stack([np.asarray(p, dtype=np.float64)[:, 0] for p in model.predict(x_train, verbose=0)])
train_rmse = np.sqrt(np.mean((final - y_train[:, 0]) ** 2, axis=1))
lazy, rich = kind_of == "NTK", kind_of == "mean-field"
growth = aligns[-1] / aligns[0]
for kind, mask in [("NTK", lazy), ("mean-field", rich)]:
    print(
        f"{kind:10s}: alignment {aligns[0, mask].mean():.3f} -> {aligns[-1, mask].mean():.3f}, "
        f"hidden weights moved {moves[-1, mask].mean():.4f}, "
        f"training RMSE {train_rmse[mask].mean():.4f}"
    )

# %% [markdown]
# ## Figure

# %%
use_course_style()
fig, (ax_align, ax_move, ax_rank) = plt.subplots(1, 3, figsize=(18, 5.6))
colors = {"NTK": "tab:blue", "mean-field": "tab:red"}
for kind, mask in [("NTK", lazy), ("mean-field", rich)]:
    ax_align.plot(record_steps, aligns[:, mask], "o-", color=colors[kind], alpha=0.7)
    ax_move.semilogy(record_steps[1:], moves[1:, mask], "o-", color=colors[kind], alpha=0.7)
    ax_align.plot([], [], "o-", color=colors[kind], label=f"{kind} ({mask.sum()} networks)")
    ax_move.plot([], [], "o-", color=colors[kind], label=kind)
ax_align.set(
    xlabel="gradient-descent step",
    ylabel="centred alignment A(Θ, y)",
    title="Kernel alignment with the target",
)
ax_align.legend()
ax_move.set(
    xlabel="gradient-descent step",
    ylabel="‖W_t − W_0‖_F / ‖W_0‖_F",
    title=f"Hidden weights move (n = {WIDTH})",
)
ax_move.legend()
top = np.arange(1, N_TRAIN + 1)
ax_rank.plot(top, captured_start.mean(axis=0), "k--", label="initialization (both)")
for kind, mask in [("NTK", lazy), ("mean-field", rich)]:
    ax_rank.plot(
        top, captured_end[mask].mean(axis=0), "o-", color=colors[kind], label=f"{kind}, trained"
    )
ax_rank.set(
    xlabel="number k of top eigenvectors of Θ_c",
    ylabel="fraction of ‖y_c‖² in their span",
    title="Where the target lies in the kernel",
)
ax_rank.legend()
fig.suptitle(
    f"Lazy (NTK) against feature-learning (mean-field) training, y = sin({TARGET_FREQUENCY}α)"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "width": WIDTH,
    "steps": STEPS,
    "align_start_ntk": float(aligns[0, lazy].mean()),
    "align_end_ntk": float(aligns[-1, lazy].mean()),
    "align_start_mf": float(aligns[0, rich].mean()),
    "align_end_mf": float(aligns[-1, rich].mean()),
    "min_growth_mf": float(growth[rich].min()),
    "max_abs_log_growth_ntk": float(np.max(np.abs(np.log(growth[lazy])))),
    "weight_move_ntk": float(moves[-1, lazy].max()),
    "weight_move_mf": float(moves[-1, rich].min()),
    "top3_fraction_start": float(captured_start[:, 2].mean()),
    "top3_fraction_end_ntk": float(captured_end[lazy, 2].mean()),
    "top3_fraction_end_mf": float(captured_end[rich, 2].mean()),
    "max_train_rmse": float(train_rmse.max()),
    "ntk_formula_vs_autodiff": float(formula_error),
}
for key, value in SUMMARY.items():
    print(f"{key:>24s}: {value:.4g}" if isinstance(value, float) else f"{key:>24s}: {value}")
