"""
Receptive fields: k - 1 per layer, multiplied by strides and dilations
======================================================================

The receptive field of a unit is the set of input pixels it depends on. For a stack of
convolutions it is a square whose side grows by (k - 1) times the dilation times the product of
the earlier strides per layer; here it is measured exactly, as the support of the input gradient
of one output unit, for a plain, a strided, a dilated and a mixed stack.

The figure shows, for each stack (rows) and depth (columns), the input gradient of the centre
output unit on the input grid, with the formula's side length in the title. All kernel weights
are 1 and the layers are linear, so the gradient at a pixel counts the paths from that pixel to
the unit: nothing cancels, and the support is exactly the set of pixels the unit depends on.
Look at the strided and dilated rows: four layers see 31 x 31 pixels instead of 9 x 9 (with the
same path counts: a stride of 2 below a layer acts on its receptive field as a dilation 2). Look
also at the plain row: the path counts are concentrated in the centre (a product of trinomial
coefficients), so the "effective" receptive field grows only like the square root of the depth.

This script takes the gradient with TensorFlow's `tf.GradientTape` (TensorFlow backend).

Try:
- Change the plain stack to kernel size 5: the side grows by 4 per layer.
- Make the last layer of the plain stack `(2, 2, 1)`: a 2 x 2 convolution with stride 2 has
  the support of a 2 x 2 max pooling layer. Predict the new side from the formula first.
- Replace the dilated stack by `[(2, 1, 1), (2, 1, 3), (2, 1, 9), (2, 1, 27)]`: the receptive
  field (side 41) has holes, since the offsets are the numbers whose base-3 digits are 0 or 1,
  and `all_filled` becomes False.
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

# %% [markdown]
# ## Parameters
# A stack is a list of layers (kernel size k, stride s, dilation d).

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

STACKS = {
    "plain": [(3, 1, 1)] * 4,
    "strided": [(3, 2, 1)] * 4,
    "dilated": [(3, 1, 1), (3, 1, 2), (3, 1, 4), (3, 1, 8)],
    "mixed": [(5, 1, 1), (3, 2, 1), (3, 1, 2), (2, 2, 1)],
}
DEPTHS = [1, 2, 3] if SMOKE else [1, 2, 3, 4]  # measure after this many layers of each stack
INPUT_SIZE = 48  # side of the input grid (larger than every receptive field)

keras.utils.set_random_seed(SEED)

# %% [markdown]
# ## The formula
# Let layer $l$ have kernel size $k_l$, stride $s_l$ and dilation $d_l$. One step along the
# output grid of layer $l$ is $J_l = s_1 \cdots s_l$ input pixels (the "jump", $J_0 = 1$). A
# dilated kernel spans $(k_l - 1) d_l + 1$ positions of its input grid, so the receptive field
# side grows as
# $$r_l = r_{l-1} + (k_l - 1)\, d_l\, J_{l-1}, \qquad r_0 = 1.$$
# For $L$ plain $3 \times 3$ layers $r_L = 2L + 1$; with stride 2 everywhere, or dilations
# $1, 2, 4, \dots$, it is $r_L = 2^{L+1} - 1$: exponential in depth.


# %%
def receptive_field_formula(stack):
    side, jump = 1, 1
    for kernel, stride, dilation in stack:
        side += (kernel - 1) * dilation * jump
        jump *= stride
    return side


# %% [markdown]
# ## The measurement
# With all weights 1, no bias and no activation, output unit $u$ is $f_u(x) = \sum_p g_p x_p$
# where $g_p \ge 0$ is the number of paths from pixel $p$ to $u$ through the kernels. So
# $\partial f_u / \partial x_p = g_p$, and $g_p > 0$ exactly when $f_u$ depends on $x_p$. The
# measured receptive field is the bounding box of $\{p : g_p > 0\}$; we also check that the
# box is filled.


# %%
def input_gradient(stack):
    """Gradient of the centre output unit with respect to the input image (INPUT_SIZE^2)."""
    layers = [
        keras.layers.Conv2D(
            1,
            kernel,
            strides=stride,
            dilation_rate=dilation,
            use_bias=False,
            kernel_initializer="ones",
        )
        for kernel, stride, dilation in stack
    ]
    model = keras.Sequential([keras.Input((INPUT_SIZE, INPUT_SIZE, 1)), *layers])
    x = tf.Variable(tf.zeros((1, INPUT_SIZE, INPUT_SIZE, 1)))
    with tf.GradientTape() as tape:
        y = model(x)
        centre = y.shape[1] // 2
        unit = y[0, centre, centre, 0]
    return tape.gradient(unit, x).numpy()[0, :, :, 0]


results, box_centres = {}, {}
for name, stack in STACKS.items():
    for depth in DEPTHS:
        gradient = input_gradient(stack[:depth])
        rows = np.flatnonzero(gradient.any(axis=1))
        cols = np.flatnonzero(gradient.any(axis=0))
        height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        filled = bool((gradient[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] > 0).all())
        predicted = receptive_field_formula(stack[:depth])
        results[name, depth] = (gradient, int(height), int(width), predicted, filled)
        box_centres[name, depth] = ((rows[0] + rows[-1]) // 2, (cols[0] + cols[-1]) // 2)
        print(f"{name:>8s}, depth {depth}: measured {height}x{width}, formula {predicted}")

# %% [markdown]
# ## Path counts: products of 1-D counts, trinomial coefficients for the plain stack
# A path from the input to the unit picks one tap $j_l \in \{0, \dots, k_l - 1\}$ per layer
# and starts at the input offset $\sum_l j_l\, d_l\, J_{l-1}$ (from the corner of the receptive
# field), independently along rows and columns. So $g_{(a,b)} = t_a t_b$, where $t$ holds the
# coefficients of $\prod_l (1 + z^{d_l J_{l-1}} + \dots + z^{(k_l - 1) d_l J_{l-1}})$. The
# strided and the dilated stacks have the same polynomial, hence the same picture.
#
# For $L$ plain $3 \times 3$ layers $t$ holds the coefficients of $(1 + z + z^2)^L$: $3^L$ times
# the distribution of a sum of $L$ independent steps uniform on $\{-1, 0, 1\}$. Its variance is
# $L \cdot 2/3$ (in general $\sum_l (d_l J_{l-1})^2 (k_l^2 - 1)/12$), so the central limit
# theorem makes the profile Gaussian with standard deviation $\sqrt{2L/3}$, while the support
# grows like $2L + 1$: most of the weight sits near the centre.


# %%
def path_counts_1d(stack):
    """Coefficients of prod_l (1 + z^(d J) + ... + z^((k - 1) d J)), and their variance."""
    counts, jump, variance = np.array([1.0]), 1, 0.0
    for kernel, stride, dilation in stack:
        taps = np.zeros((kernel - 1) * dilation * jump + 1)
        taps[:: dilation * jump] = 1.0
        counts = np.convolve(counts, taps)
        variance += (dilation * jump) ** 2 * (kernel**2 - 1) / 12
        jump *= stride
    return counts, variance


def support_box(gradient):
    rows = np.flatnonzero(gradient.any(axis=1))
    cols = np.flatnonzero(gradient.any(axis=0))
    return gradient[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


path_count_error = 0.0  # every stack and depth: g = t t^T, exactly (small integers in float32)
for (name, depth), (gradient, *_) in results.items():
    t, _ = path_counts_1d(STACKS[name][:depth])
    box = support_box(gradient)
    error = np.inf if box.shape != (len(t), len(t)) else np.abs(box - np.outer(t, t)).max()
    path_count_error = max(path_count_error, float(error))

variance_error = 0.0  # the plain stack's row profile: variance against the sum over layers
for depth in DEPTHS:
    box = support_box(results["plain", depth][0])
    profile = box.sum(axis=0) / box.sum()
    offsets = np.arange(len(profile)) - (len(profile) - 1) / 2
    _, predicted_variance = path_counts_1d(STACKS["plain"][:depth])
    variance_error = max(variance_error, abs(float(profile @ offsets**2) - predicted_variance))

# %% [markdown]
# ## Figure

# %%
use_course_style()
fig, axes = plt.subplots(len(STACKS), len(DEPTHS), figsize=(3.6 * len(DEPTHS), 13.5))
half = 17  # show 35 x 35 pixels around the centre of each receptive field
for row, name in enumerate(STACKS):
    for col, depth in enumerate(DEPTHS):
        gradient, height, width, predicted, _ = results[name, depth]
        ax = axes[row, col]
        r0, c0 = np.clip(np.array(box_centres[name, depth]) - half, 0, INPUT_SIZE - 2 * half - 1)
        window = gradient[r0 : r0 + 2 * half + 1, c0 : c0 + 2 * half + 1]
        ax.imshow(np.where(window > 0, window, np.nan), cmap="viridis")
        ax.set_facecolor("0.92")
        k, s, d = STACKS[name][depth - 1]
        ax.set_title(
            f"{name}, layer {depth} (k={k}, s={s}, d={d})\n{height}x{width} = formula {predicted}",
            fontsize=11,
        )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
fig.suptitle(
    "Input gradient of the centre unit\n(colour: number of paths; grey: no dependence; "
    f"{2 * half + 1}x{2 * half + 1} pixels around the receptive field)"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
mismatches = sum((h != p) + (w != p) for _, h, w, p, _ in results.values())
SUMMARY = {
    "stacks_measured": len(results),
    "mismatches": int(mismatches),
    "all_filled": all(filled for *_, filled in results.values()),
    "plain_deepest": results["plain", DEPTHS[-1]][1],
    "strided_deepest": results["strided", DEPTHS[-1]][1],
    "dilated_deepest": results["dilated", DEPTHS[-1]][1],
    "mixed_deepest": results["mixed", DEPTHS[-1]][1],
    "path_count_error": path_count_error,
    "plain_profile_variance_error": float(variance_error),
}
for key, value in SUMMARY.items():
    print(f"{key:>29s}: {value:.4g}" if isinstance(value, float) else f"{key:>29s}: {value}")
