"""
Coupling layers: an invertible network whose Jacobian determinant costs O(d)
============================================================================

A RealNVP affine coupling layer (Dinh, Sohl-Dickstein and Bengio, 2017) written as a Keras
layer with `forward`, `inverse` and `log_det_jacobian`; a stack of 8 with alternating masks
is inverted to rounding error, and its log-determinant, a sum of d numbers, equals the
log-determinant of the full Jacobian computed by automatic differentiation.

The figure shows |∂y_i/∂x_j| on a log colour scale (white: exactly zero) for one coupling layer
in the original coordinate order (a checkerboard), the same Jacobian with the coordinates
sorted as (kept, transformed) (lower triangular: an identity block, a dense block, a diagonal
block), and the Jacobian of the stack of 8 (dense: composing triangular maps in alternating
orders mixes every coordinate with every other). Look at the second panel: the determinant of
a triangular matrix is the product of its diagonal, so log|det J| = Σ s_i(x_kept).

Needs the TensorFlow backend for one check: the full Jacobian by `tf.GradientTape`.

Try:
- Set `N_LAYERS = 2`: is the Jacobian of the stack dense already? Which entries of the
  stack's Jacobian are exactly zero, and why?
- Set `HIDDEN = 4`: the inverse and the determinant stay exact; invertibility does not depend
  on the conditioner network, however poor.
- Set `DIM = 64` (the 8 x 8 digits of script 04): the autodiff Jacobian costs 64 backward
  passes and an O(d^3) determinant; the coupling layer's log-determinant is still one sum.
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops
from matplotlib.colors import LogNorm

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

DIM = 16  # dimension d of the data (even)
N_LAYERS = 8  # coupling layers in the stack, masks alternating
HIDDEN = 64  # units of the conditioner network's hidden layers
N_POINTS = 16 if SMOKE else 256  # random inputs at which every identity is checked

if DIM < 2 or DIM % 2:
    raise ValueError(f"DIM must be an even integer >= 2, got {DIM}")
if N_LAYERS < 1:
    raise ValueError(f"N_LAYERS must be at least 1, got {N_LAYERS}")

# %% [markdown]
# ## The affine coupling layer
# A binary mask $m \in \{0, 1\}^d$ splits $x$ into the kept part $x_m = m \odot x$ and the
# transformed part. With two functions $s, t : \mathbb R^d \to \mathbb R^d$ of the kept part
# only (here one small MLP, the *conditioner*, with $s$ bounded by a $\tanh$),
# $$y = m \odot x + (1 - m) \odot \big(x \odot e^{s(m \odot x)} + t(m \odot x)\big).$$
# Since $m \odot y = m \odot x$, the conditioner's input is known from $y$ and
# $$x = m \odot y + (1 - m) \odot \big(y - t(m \odot y)\big) \odot e^{-s(m \odot y)} :$$
# the inverse costs one forward pass, and $s$, $t$ need not be invertible. In the order
# (kept, transformed) the Jacobian is
# $$\frac{\partial y}{\partial x} = \begin{pmatrix} I & 0 \\
#   \ast & \operatorname{diag}\big(e^{s(x_m)}\big) \end{pmatrix}, \qquad
#   \log\left|\det \frac{\partial y}{\partial x}\right| = \sum_{i : m_i = 0} s_i(x_m).$$
# Each layer leaves half the coordinates unchanged, so consecutive layers alternate the mask
# ($m$, then $1 - m$); the log-determinants of a composition add (chain rule and
# $\det(AB) = \det A \det B$).


# %%
class AffineCoupling(keras.layers.Layer):
    """RealNVP affine coupling layer y = m*x + (1-m)*(x*exp(s(m*x)) + t(m*x))."""

    def __init__(self, mask, hidden=64, **kwargs):
        super().__init__(**kwargs)
        mask = np.asarray(mask, dtype=np.float64)
        if mask.ndim != 1 or not np.all((mask == 0) | (mask == 1)):
            raise ValueError(f"mask must be a vector of zeros and ones, got {mask!r}")
        self.mask = mask
        dim = len(mask)
        dense = dict(dtype=self.dtype_policy)
        self.hidden_1 = keras.layers.Dense(hidden, activation="relu", **dense)
        self.hidden_2 = keras.layers.Dense(hidden, activation="relu", **dense)
        self.scale = keras.layers.Dense(dim, activation="tanh", **dense)
        self.shift = keras.layers.Dense(dim, **dense)

    def build(self, input_shape):
        self.hidden_1.build(input_shape)
        self.hidden_2.build(self.hidden_1.compute_output_shape(input_shape))
        hidden_shape = self.hidden_2.compute_output_shape(input_shape)
        self.scale.build(hidden_shape)
        self.shift.build(hidden_shape)

    def _scale_and_shift(self, x):
        """s and t from the kept part of x, zero on the kept coordinates."""
        m = ops.cast(self.mask, x.dtype)
        h = self.hidden_2(self.hidden_1(m * x))
        return (1 - m) * self.scale(h), (1 - m) * self.shift(h)

    def forward(self, x):
        """y = g(x) and log|det J_g(x)| (one number per example)."""
        s, t = self._scale_and_shift(x)
        m = ops.cast(self.mask, x.dtype)
        y = m * x + (1 - m) * (x * ops.exp(s) + t)
        return y, ops.sum(s, axis=-1)

    def inverse(self, y):
        """x = g^-1(y): the conditioner sees m*y = m*x, so it is evaluated once."""
        s, t = self._scale_and_shift(y)
        m = ops.cast(self.mask, y.dtype)
        return m * y + (1 - m) * (y - t) * ops.exp(-s)

    def log_det_jacobian(self, x):
        return ops.sum(self._scale_and_shift(x)[0], axis=-1)

    def call(self, x):
        return self.forward(x)[0]


def make_masks(dim, n_layers):
    """Alternating masks: even coordinates kept, then odd ones, then even ones, ..."""
    even = (np.arange(dim) % 2 == 0).astype(np.float64)
    return [even if k % 2 == 0 else 1 - even for k in range(n_layers)]


def make_stack(dtype):
    layers = [AffineCoupling(m, HIDDEN, dtype=dtype) for m in make_masks(DIM, N_LAYERS)]
    for layer in layers:
        layer.build((None, DIM))
    return layers


def stack_forward(layers, x):
    log_det = ops.zeros(ops.shape(x)[:1], dtype=x.dtype)
    for layer in layers:
        x, layer_log_det = layer.forward(x)
        log_det = log_det + layer_log_det
    return x, log_det


def stack_inverse(layers, y):
    for layer in reversed(layers):
        y = layer.inverse(y)
    return y


# %% [markdown]
# ## Inverse and log-determinant, in float32 and in float64
# The layers are built with `dtype="float32"` (as trained) and `dtype="float64"` (to check the
# identities to rounding), each from the same seed. The conditioners start from Keras' random
# initialization, so $s$ and $t$ are far from zero and the checks are not trivial.

# %%
keras.utils.set_random_seed(SEED)
x64 = np.random.default_rng(SEED).standard_normal((N_POINTS, DIM))
stacks = {}
for dtype in ("float32", "float64"):
    keras.utils.set_random_seed(SEED)
    stacks[dtype] = make_stack(dtype)

reconstruction_error, relative_error = {}, {}
for dtype, layers in stacks.items():
    x = ops.convert_to_tensor(x64, dtype=dtype)
    y, _ = stack_forward(layers, x)
    x_back = ops.convert_to_numpy(stack_inverse(layers, y))
    reconstruction_error[dtype] = float(np.max(np.abs(x_back - x64)))
    relative_error[dtype] = reconstruction_error[dtype] / float(np.max(np.abs(x64)))
    print(
        f"{dtype}: max |inverse(forward(x)) - x| = {reconstruction_error[dtype]:.1e}, "
        f"{relative_error[dtype]:.1e} relative to max |x|"
    )
y64 = ops.convert_to_numpy(stack_forward(stacks["float64"], ops.convert_to_tensor(x64))[0])
print(f"the stack moves the points: mean |y - x| = {np.mean(np.abs(y64 - x64)):.2f}")

# %% [markdown]
# ## The full Jacobian by automatic differentiation
# The backend-specific cell of the script: TensorFlow's `GradientTape` gives, with one
# backward pass per output coordinate, the $d \times d$ Jacobian of the stack (or of one
# layer) at every input; NumPy's `slogdet` its log-determinant in $O(d^3)$.

# %%
import tensorflow as tf  # noqa: E402  (Jacobians by tf.GradientTape)


def autodiff_jacobian(function, points):
    """The Jacobian of `function` at each row of `points`, in their dtype: (n, d_out, d_in).

    The examples do not interact, so the gradient of the batch sum of output i is row i of
    every example's Jacobian: d_out backward passes give all n Jacobians.
    """
    points = tf.convert_to_tensor(points)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(points)
        values = function(points)
        outputs = [tf.reduce_sum(values[:, i]) for i in range(values.shape[1])]
    return np.stack([tape.gradient(output, points).numpy() for output in outputs], axis=1)


# %%
log_det_error, jacobians, log_dets, signs = {}, {}, {}, {}
for dtype, layers in stacks.items():
    x = ops.convert_to_tensor(x64, dtype=dtype)
    jacobian = autodiff_jacobian(lambda z, layers=layers: stack_forward(layers, z)[0], x)
    sign, log_abs_det = np.linalg.slogdet(jacobian.astype(np.float64))
    log_det_layers = ops.convert_to_numpy(stack_forward(layers, x)[1]).astype(np.float64)
    log_det_error[dtype] = float(np.max(np.abs(log_abs_det - log_det_layers)))
    jacobians[dtype], log_dets[dtype], signs[dtype] = jacobian, log_det_layers, sign
    print(
        f"{dtype}: max |sum of layer log-dets - slogdet(autodiff J)| = {log_det_error[dtype]:.1e}"
    )
stack_jacobian = jacobians["float64"][0]  # first input
stack_log_det_range = (float(log_dets["float64"].min()), float(log_dets["float64"].max()))
stack_sign_positive = bool(all(np.all(sign > 0) for sign in signs.values()))

# One layer: triangular in the order (kept coordinates, transformed coordinates).
first = stacks["float64"][0]
layer_jacobians = autodiff_jacobian(first.call, ops.convert_to_tensor(x64))
order = np.concatenate([np.flatnonzero(first.mask == 1), np.flatnonzero(first.mask == 0)])
permuted = layer_jacobians[:, order][:, :, order]
half = DIM // 2
above_diagonal = permuted[:, np.triu_indices(DIM, k=1)[0], np.triu_indices(DIM, k=1)[1]]
transformed_block = permuted[:, half:, half:]
off_diagonal = transformed_block[:, ~np.eye(half, dtype=bool)]
diagonal = np.diagonal(transformed_block, axis1=1, axis2=2)
s_values = ops.convert_to_numpy(first._scale_and_shift(ops.convert_to_tensor(x64))[0])[
    :, first.mask == 0
]
diagonal_error = float(np.max(np.abs(diagonal - np.exp(s_values))))
# The layer's log_det_jacobian is the log of the product of that diagonal.
layer_log_det = ops.convert_to_numpy(first.log_det_jacobian(ops.convert_to_tensor(x64)))
layer_log_det_error = float(np.max(np.abs(layer_log_det - np.sum(np.log(diagonal), axis=1))))
print(
    f"one layer: {np.count_nonzero(above_diagonal)} non-zero entries above the diagonal, "
    f"{np.count_nonzero(off_diagonal)} off the diagonal of the transformed block; "
    f"diagonal = exp(s) within {diagonal_error:.1e}"
)
nonzero_fraction_stack = float(np.mean(jacobian != 0))
nonzero_fraction_layer = float(np.mean(layer_jacobians != 0))
print(
    f"non-zero entries: one layer {nonzero_fraction_layer:.3f}, stack {nonzero_fraction_stack:.3f}"
)

# %% [markdown]
# ## Figure: the sparsity of the Jacobians

# %%
use_course_style()
fig, axes = plt.subplots(1, 3, figsize=(17, 5.8))
panels = [
    (layer_jacobians[0], np.arange(DIM), "one coupling layer\n(coordinates in their order)"),
    (permuted[0], order, "the same layer, kept coordinates first\n(lower triangular)"),
    (stack_jacobian, np.arange(DIM), f"stack of {N_LAYERS} layers, alternating masks\n(dense)"),
]
norm = LogNorm(vmin=1e-4, vmax=max(np.abs(p[0]).max() for p in panels))
for ax, (matrix, labels, title) in zip(axes, panels, strict=True):
    shown = np.ma.masked_equal(np.abs(matrix), 0.0)  # exact zeros left white
    image = ax.imshow(shown, cmap="viridis", norm=norm)
    ax.set_xticks(range(DIM), labels, fontsize=8)
    ax.set_yticks(range(DIM), labels, fontsize=8)
    ax.set(xlabel="input coordinate j", ylabel="output coordinate i", title=title)
    ax.grid(False)
fig.colorbar(
    image, ax=axes, label=r"$|\partial y_i / \partial x_j|$ (white: exactly 0)", shrink=0.8
)
fig.suptitle(
    f"Jacobians of RealNVP coupling layers, d = {DIM}: triangular layer by layer, "
    "dense in composition"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "dim": DIM,
    "n_layers": N_LAYERS,
    "n_points": N_POINTS,
    "reconstruction_error_float32": reconstruction_error["float32"],
    "reconstruction_error_float64": reconstruction_error["float64"],
    "relative_reconstruction_error_float32": relative_error["float32"],
    "relative_reconstruction_error_float64": relative_error["float64"],
    "log_det_error_float32": log_det_error["float32"],
    "log_det_error_float64": log_det_error["float64"],
    "stack_log_det_min": stack_log_det_range[0],
    "stack_log_det_max": stack_log_det_range[1],
    "stack_det_positive": stack_sign_positive,
    "mean_displacement": float(np.mean(np.abs(y64 - x64))),
    "layer_nonzero_above_diagonal": int(np.count_nonzero(above_diagonal)),
    "layer_nonzero_off_diagonal_transformed_block": int(np.count_nonzero(off_diagonal)),
    "layer_nonzero_fraction": nonzero_fraction_layer,
    "layer_diagonal_error": diagonal_error,
    "layer_log_det_error": layer_log_det_error,
    "stack_nonzero_fraction": nonzero_fraction_stack,
}
for key, value in SUMMARY.items():
    print(f"{key:>44s}: {value:.4g}" if isinstance(value, float) else f"{key:>44s}: {value}")
