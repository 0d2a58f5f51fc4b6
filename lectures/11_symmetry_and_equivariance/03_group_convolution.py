"""
A group-equivariant CNN: lifting and group convolutions for the rotation group C4
=================================================================================

A C4 lifting convolution and a C4 group convolution, written as Keras layers with
`keras.ops` (four rotated copies of one kernel), make a network whose feature maps rotate with
the input, with the orientation axis shifted cyclically, and whose pooled output is exactly
invariant to rotations by multiples of 90 degrees.

The figure shows, on the left, the relative equivariance error of the logits,
eps(theta) = ||F(R_theta x) - F(x)|| / ||F(x)||, against the rotation angle for the G-CNN and
for a plain CNN of the same size (both with random initial weights, on digits padded to
12 x 12); in the middle, the error of every layer at 90 degrees; on the right, the four
orientation channels of the lifting layer for a digit and for the digit rotated by 90 degrees.
Look for the dips of the G-CNN curve to float32 rounding at 0, 90, 180, 270 and 360 degrees,
and at the channels in the right panel: rotating the input rotates each channel and moves it
one orientation on.

Try:
- Replace `GlobalAveragePooling3D` in the G-CNN by `GlobalMaxPooling3D`: still invariant?
- Set `KERNEL_SIZE = 4`: with an even kernel and "same" padding, is the G-CNN still exactly
  equivariant? (Where is the centre of a 4 x 4 kernel?)
- Set `PAD = 1` (a 10 x 10 canvas): the corners of the digit leave the canvas under the
  interpolated rotations. How does the curve between the multiples of 90 degrees change, and
  does the error at the multiples?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits
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

PAD = 2  # 8 x 8 digits padded to 12 x 12: every rotation of the digit stays on the canvas
KERNEL_SIZE = 3
G_FILTERS = 8  # channels per orientation in the G-CNN (4 x 8 feature maps per layer)
PLAIN_FILTERS = 16  # channels of the plain CNN: about the same number of parameters
N_IMAGES = 8 if SMOKE else 32  # test digits for the error curves
ANGLE_STEP = 15 if SMOKE else 5  # degrees between the angles of the sweep

# %% [markdown]
# ## Data
# Digits padded with a ring of zeros, so that an interpolated rotation loses no ink: the
# 8 x 8 square fits in the disc of radius 6 around the centre of the 12 x 12 canvas.

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(flatten=False, seed=SEED)
images = np.pad(split.x_test[:N_IMAGES], ((0, 0), (PAD, PAD), (PAD, PAD)))[..., None]
SIZE = images.shape[1]

# %% [markdown]
# ## The group convolutions
# C4 acts on an image by rotation, $(r \cdot x)(p) = x(r^{-1}p)$, and on a feature map on
# $\mathbb Z^2 \times C_4$ by $(r \cdot y)(p, j) = y(r^{-1}p,\, j - 1)$: rotate every channel
# and move the orientation index on by one.
#
# Cross-correlation $(x \star f)(p) = \sum_q x(p + q) f(q)$ satisfies
# $(r \cdot x) \star f = r \cdot \big(x \star (r^{-1} \cdot f)\big)$. Hence
#
# - the **lifting convolution** $y(p, j) = (x \star r^j f)(p)$, four rotated copies of one
#   kernel, satisfies $(r \cdot x) \mapsto r \cdot y$;
# - the **group convolution**
#   $z(p, j) = \sum_{s} \big(y(\cdot, s) \star r^j \psi(\cdot, s - j)\big)(p)$, with a kernel
#   $\psi$ on $\mathbb Z^2 \times C_4$ indexed by the *relative* orientation $s - j$, satisfies
#   $(r \cdot y) \mapsto r \cdot z$ (substitute $s \to s + 1$ in the sum).
#
# Pointwise nonlinearities, biases shared by the four orientations and 2 x 2 max pooling (on
# even sizes) commute with the action; averaging over space and orientations gives invariant
# features. Each layer builds one ordinary convolution kernel out of the rotated copies, so
# `keras.ops.conv` does the work.


# %%
class LiftingConv2D(keras.layers.Layer):
    """C4 lifting convolution: (batch, H, W, C) -> (batch, H, W, 4, filters)."""

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = filters, kernel_size

    def build(self, input_shape):
        k = self.kernel_size
        self.kernel = self.add_weight(
            shape=(k, k, input_shape[-1], self.filters), initializer="he_normal", name="kernel"
        )
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")

    def call(self, x):
        # Output channel j * filters + f is the cross-correlation with r^j f.
        kernel = ops.concatenate(
            [ops.rot90(self.kernel, k=j, axes=(0, 1)) for j in range(4)], axis=-1
        )
        y = ops.conv(x, kernel, padding="same")
        return ops.reshape(y, (-1, y.shape[1], y.shape[2], 4, self.filters)) + self.bias


class GroupConv2D(keras.layers.Layer):
    """C4 group convolution: (batch, H, W, 4, C) -> (batch, H, W, 4, filters)."""

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = filters, kernel_size

    def build(self, input_shape):
        k = self.kernel_size
        self.kernel = self.add_weight(
            shape=(k, k, 4, input_shape[-1], self.filters), initializer="he_normal", name="kernel"
        )
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")

    def call(self, y):
        _, height, width, _, channels = y.shape
        k = self.kernel_size
        blocks = []
        for j in range(4):
            # Block j: input orientation s meets psi(s - j), rotated by r^j.
            shifted = ops.roll(self.kernel, shift=j, axis=2)
            rotated = ops.rot90(shifted, k=j, axes=(0, 1))
            blocks.append(ops.reshape(rotated, (k, k, 4 * channels, self.filters)))
        flat = ops.reshape(y, (-1, height, width, 4 * channels))
        z = ops.conv(flat, ops.concatenate(blocks, axis=-1), padding="same")
        return ops.reshape(z, (-1, height, width, 4, self.filters)) + self.bias


def orientation_max_pool(y):
    """2 x 2 max pooling of every channel of a (batch, H, W, 4, C) map."""
    _, height, width, _, channels = y.shape
    flat = keras.layers.Reshape((height, width, 4 * channels))(y)
    pooled = keras.layers.MaxPooling2D(2)(flat)
    return keras.layers.Reshape((height // 2, width // 2, 4, channels))(pooled)


# %% [markdown]
# ## Two networks of about the same size
# The G-CNN: lifting, group convolution, pooling, group convolution, then the mean over space
# and orientations and a dense layer. The plain CNN: three convolutions with twice the
# channels, pooling, the spatial mean and a dense layer. Each model also returns its
# intermediate feature maps, to check the equivariance layer by layer.

# %%
keras.utils.set_random_seed(SEED)
inputs = keras.Input(shape=(SIZE, SIZE, 1))
g_layers = {}
h = g_layers["lifting"] = LiftingConv2D(G_FILTERS, KERNEL_SIZE)(inputs)
h = g_layers["relu 1"] = keras.layers.ReLU()(h)
h = g_layers["group conv 1"] = GroupConv2D(G_FILTERS, KERNEL_SIZE)(h)
h = keras.layers.ReLU()(h)
h = g_layers["max pool"] = orientation_max_pool(h)
h = g_layers["group conv 2"] = GroupConv2D(G_FILTERS, KERNEL_SIZE)(h)
h = keras.layers.ReLU()(h)
h = g_layers["invariant pool"] = keras.layers.GlobalAveragePooling3D()(h)
g_layers["logits"] = keras.layers.Dense(10)(h)
gcnn = keras.Model(inputs, list(g_layers.values()))

keras.utils.set_random_seed(SEED)
p_layers = {}
h = p_layers["conv 1"] = keras.layers.Conv2D(PLAIN_FILTERS, KERNEL_SIZE, padding="same")(inputs)
h = p_layers["relu 1"] = keras.layers.ReLU()(h)
h = p_layers["conv 2"] = keras.layers.Conv2D(PLAIN_FILTERS, KERNEL_SIZE, padding="same")(h)
h = keras.layers.ReLU()(h)
h = p_layers["max pool"] = keras.layers.MaxPooling2D(2)(h)
h = p_layers["conv 3"] = keras.layers.Conv2D(PLAIN_FILTERS, KERNEL_SIZE, padding="same")(h)
h = keras.layers.ReLU()(h)
h = p_layers["spatial pool"] = keras.layers.GlobalAveragePooling2D()(h)
p_layers["logits"] = keras.layers.Dense(10)(h)
plain = keras.Model(inputs, list(p_layers.values()))
print(f"parameters: G-CNN {gcnn.count_params():,}, plain CNN {plain.count_params():,}")

# %% [markdown]
# ## Equivariance layer by layer at the multiples of 90 degrees
# For each layer $F_\ell$ and rotation $r^a$,
# $\varepsilon_\ell(r^a) = \|F_\ell(r^a x) - r^a \cdot F_\ell(x)\| / \|F_\ell(x)\|$ (norms over
# the whole batch), where $r^a$ acts on a G-CNN map by rotating space and rolling the
# orientation axis by $a$, on a plain map by rotating space, and trivially on pooled features
# and logits. `np.rot90` permutes pixels exactly, so the G-CNN's errors are float32 rounding.


# %%
def act(a, y):
    """The action of r^a on a batch of outputs of any layer."""
    if y.ndim == 5:
        return np.roll(np.rot90(y, a, axes=(1, 2)), a, axis=3)
    if y.ndim == 4:
        return np.rot90(y, a, axes=(1, 2))
    return y


def layer_errors(model, names, a):
    plain_out = model.predict(images, verbose=0)
    rotated_out = model.predict(np.rot90(images, a, axes=(1, 2)).copy(), verbose=0)
    return {
        name: float(np.linalg.norm(r - act(a, y)) / np.linalg.norm(y))
        for name, y, r in zip(names, plain_out, rotated_out, strict=True)
    }


g_errors = {a: layer_errors(gcnn, list(g_layers), a) for a in (1, 2, 3)}
p_errors = {a: layer_errors(plain, list(p_layers), a) for a in (1, 2, 3)}
for name in g_layers:
    print(f"G-CNN {name:>15s}: " + ", ".join(f"{g_errors[a][name]:.1e}" for a in (1, 2, 3)))
for name in p_layers:
    print(f"plain {name:>15s}: " + ", ".join(f"{p_errors[a][name]:.2f}" for a in (1, 2, 3)))
logits_4 = [gcnn.predict(np.rot90(images, a, axes=(1, 2)).copy(), verbose=0)[-1] for a in range(4)]
invariant_logits_spread = float(max(np.abs(lg - logits_4[0]).max() for lg in logits_4))

# %% [markdown]
# ## All angles: interpolated rotations
# For an angle that is not a multiple of $90°$ the rotation has to interpolate between pixels
# (bilinear here, rotating about the centre of the canvas). Interpolated rotations are not a
# group action on the pixel grid: $R_{45} R_{45} \ne R_{90}$, so no network on pixels can be
# exactly invariant to them. At the multiples of $90°$ the same code returns `np.rot90` up to
# rounding of $\cos$ and $\sin$.


# %%
def rotate(batch, degrees):
    """Rotate (n, m, m, 1) images counterclockwise about the centre, bilinear, zeros outside."""
    m = batch.shape[1]
    c = (m - 1) / 2
    t = np.deg2rad(degrees)
    rows, cols = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    # Output pixel (i, j) reads the input at its centred coordinates rotated back by t; with
    # the row axis pointing down, t = 90 degrees reads (j, m - 1 - i) as np.rot90 does.
    u = c + np.cos(t) * (rows - c) + np.sin(t) * (cols - c)
    v = c - np.sin(t) * (rows - c) + np.cos(t) * (cols - c)
    i0, j0 = np.floor(u + 1e-9).astype(int), np.floor(v + 1e-9).astype(int)
    du, dv = u - i0, v - j0
    out = np.zeros(batch.shape, dtype=np.float64)
    for di, dj, weight in [
        (0, 0, (1 - du) * (1 - dv)),
        (1, 0, du * (1 - dv)),
        (0, 1, (1 - du) * dv),
        (1, 1, du * dv),
    ]:
        ii, jj = i0 + di, j0 + dj
        inside = (ii >= 0) & (ii < m) & (jj >= 0) & (jj < m)
        out[:, inside] += weight[inside][None, :, None] * batch[:, ii[inside], jj[inside]]
    return out.astype(np.float32)


rotation_check = float(np.abs(rotate(images, 90) - np.rot90(images, 1, axes=(1, 2))).max())
not_a_group = float(
    np.linalg.norm(rotate(rotate(images, 45), 45) - np.rot90(images, 1, axes=(1, 2)))
    / np.linalg.norm(images)
)
print(
    f"bilinear R_90 vs rot90: {rotation_check:.1e};  ||R45 R45 x - R90 x|| / ||x|| "
    f"= {not_a_group:.3f}"
)

angles = np.arange(0, 361, ANGLE_STEP)
batch = np.concatenate([rotate(images, angle) for angle in angles])


def sweep(model):
    logits_only = keras.Model(model.inputs, model.outputs[-1])
    logits = logits_only.predict(batch, batch_size=512, verbose=0)
    logits = logits.reshape(len(angles), N_IMAGES, -1)
    return np.linalg.norm(logits - logits[0], axis=(1, 2)) / np.linalg.norm(logits[0])


g_sweep, p_sweep = sweep(gcnn), sweep(plain)
multiples = angles % 90 == 0
between = ~multiples

# %% [markdown]
# ## Figure: the error against the angle, layer by layer, and the orientation channels

# %%
use_course_style()
fig = plt.figure(figsize=(16, 5.8))
left, middle, right = fig.subfigures(1, 3, width_ratios=[1.2, 1.1, 1])
ax = left.subplots()
floor = 1e-9  # exact zeros (at 0 degrees) drawn at the bottom of the log scale
ax.semilogy(angles, np.maximum(g_sweep, floor), "o-", markersize=3, label="G-CNN (C4)")
ax.semilogy(angles, np.maximum(p_sweep, floor), "s-", markersize=3, label="plain CNN")
ax.set_xticks(range(0, 361, 45))
ax.set_ylim(floor / 2, 10)
ax.set(
    xlabel="rotation angle θ (degrees)",
    ylabel="‖F(R_θ x) − F(x)‖ / ‖F(x)‖ (logits)",
    title="Invariance error of the logits",
)
ax.legend(loc="center right")

ax = middle.subplots()
a = 1
names = [
    "lifting / conv 1",
    "relu 1",
    "group conv / conv 2",
    "max pool",
    "group conv 2 / conv 3",
    "pool",
    "logits",
]
positions = np.arange(len(names))
ax.bar(positions - 0.2, np.maximum(list(g_errors[a].values()), floor), 0.4, label="G-CNN")
ax.bar(positions + 0.2, list(p_errors[a].values()), 0.4, label="plain CNN")
ax.set_yscale("log")
ax.set_ylim(floor / 2, 10)
ax.set_xticks(positions, names, rotation=40, ha="right", fontsize=10)
ax.set(ylabel="‖F(r·x) − r·F(x)‖ / ‖F(x)‖", title="Layer by layer at 90°")
ax.legend()

axes = right.subplots(2, 5)
lift = keras.Model(inputs, g_layers["lifting"])
pair = [images[:1], np.rot90(images[:1], 1, axes=(1, 2)).copy()]
maps = [lift.predict(x, verbose=0)[0] for x in pair]
limit = max(np.abs(y[..., 0]).max() for y in maps)
for row, (x, y, label) in enumerate(zip(pair, maps, ["x", "r·x"], strict=True)):
    axes[row, 0].imshow(x[0, ..., 0], cmap="gray_r")
    axes[row, 0].set_ylabel(label)
    for j in range(4):
        axes[row, j + 1].imshow(y[:, :, j, 0], cmap="RdBu_r", vmin=-limit, vmax=limit)
        axes[row, j + 1].set_title(f"j = {j}", fontsize=11)
for a_ in axes.ravel():
    a_.set_xticks([])
    a_.set_yticks([])
    a_.grid(False)
right.suptitle("Lifting layer, channel f = 0, four orientations", fontsize=13)
fig.suptitle("C4 G-CNN against a plain CNN (random weights): rotations by 90° are exact")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "gcnn_params": gcnn.count_params(),
    "plain_params": plain.count_params(),
    "gcnn_max_layer_error_90": max(max(e.values()) for e in g_errors.values()),
    "gcnn_logit_error_90": g_errors[1]["logits"],
    "invariant_logits_spread": invariant_logits_spread,
    "plain_logit_error_90": p_errors[1]["logits"],
    "plain_min_layer_error_90": min(min(e.values()) for e in p_errors.values()),
    "gcnn_max_error_at_multiples": float(g_sweep[multiples].max()),
    "gcnn_min_error_between": float(g_sweep[between].min()),
    "gcnn_error_45": float(g_sweep[angles == 45][0]),
    "plain_min_error_between": float(p_sweep[between].min()),
    "plain_error_45": float(p_sweep[angles == 45][0]),
    "plain_min_error_at_nonzero_multiples": float(p_sweep[multiples & (angles % 360 != 0)].min()),
    "bilinear_rot90_deviation": rotation_check,
    "r45_r45_vs_r90": not_a_group,
}
for key, value in SUMMARY.items():
    print(f"{key:>36s}: {value:.4g}" if isinstance(value, float) else f"{key:>36s}: {value}")
