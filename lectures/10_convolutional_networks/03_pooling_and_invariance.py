"""
Pooling and invariance: global averages are shift invariant, strides alias
==========================================================================

Three small networks built from circular convolutions differ only in how they reduce the
resolution: global average pooling at the end only, max pooling with stride 2 in the middle, or
max pooling with stride 1 followed by a blur and a stride-2 subsampling ("blur pool", Zhang
2019, "Making convolutional networks shift-invariant again"). Their outputs are compared on
digits and on the same digits cyclically shifted by t = 0, 1, ..., 15 pixels.

The figure shows the relative change of the network output against the shift. Global average
pooling gives zeros (float32 rounding) at every shift: exact invariance. Max pooling with stride
2 gives zeros at even shifts only; at odd shifts the output changes by several percent, because
subsampling keeps every second value and a one-pixel shift changes *which* values are kept
(aliasing). Blurring before subsampling removes much of that change. The weights are random:
these are properties of the architecture, true before and after any training.

Try:
- Set `POOL = 4`: invariance only to shifts by multiples of 4.
- Replace `keras.layers.MaxPooling2D` by `keras.layers.AveragePooling2D` in `network`: is the
  odd-shift change smaller? (Averaging is already a blur.)
- Drop the `wrap` in `circular_conv` (use `padding="same"`): even shifts no longer give zeros,
  because zero padding breaks equivariance at the border (script 1).
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits_canvas
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

CANVAS = 16  # digits on a 16 x 16 canvas
POOL = 2  # pooling size and stride
CHANNELS = 16
N_IMAGES = 50 if SMOKE else 300  # test digits the outputs are compared on
SHIFTS = np.arange(CANVAS)  # horizontal cyclic shifts

# %% [markdown]
# ## Data: digits on a 16 x 16 canvas, shifted cyclically along the columns

# %%
keras.utils.set_random_seed(SEED)
x = load_digits_canvas(canvas_size=CANVAS, seed=SEED).x_test[:N_IMAGES]

# %% [markdown]
# ## Three networks
# Circular convolutions commute with cyclic shifts (script 1): $C S_t = S_t C$, and so does
# any pointwise nonlinearity. Global average pooling is invariant: $\operatorname{GAP}(S_t h)
# = \operatorname{GAP}(h)$, so $\operatorname{GAP} \circ \sigma \circ C_2 \circ \sigma \circ
# C_1$ is invariant under every shift.
#
# Subsampling by $s$, $(D h)_i = h_{si}$, satisfies $D S_{st} = S_t D$ but not $D S_t = S_{t'}
# D$ for $t$ not a multiple of $s$. Max pooling with stride $s$ is $D$ after a local max, so a
# network with it is invariant only to shifts by multiples of $s$. Blur pool computes the max
# with stride 1 (equivariant), low-pass filters with the binomial kernel
# $\frac1{16}(1, 2, 1)^\top (1, 2, 1)$, then subsamples: aliasing is damped, not removed.


# %%
def wrap(h, before, after):
    """Circular padding of rows and columns (Keras has none): concatenate wrapped borders."""
    for axis in (1, 2):
        size = h.shape[axis]
        head = [keras.ops.take(h, list(range(size - before, size)), axis=axis)] if before else []
        tail = [keras.ops.take(h, list(range(after)), axis=axis)] if after else []
        h = keras.ops.concatenate([*head, h, *tail], axis=axis)
    return h


def circular_conv(h, channels):
    return keras.layers.Conv2D(channels, 3, activation="relu")(wrap(h, 1, 1))


def blur_subsample(h):
    """Binomial blur (circular, per channel) and subsampling by POOL."""
    taps = np.array([1.0, 2.0, 1.0])
    kernel = np.outer(taps, taps) / 16.0
    blur = keras.layers.DepthwiseConv2D(3, use_bias=False, trainable=False)
    h = blur(wrap(h, 1, 1))
    blur.set_weights([np.repeat(kernel[:, :, None, None], h.shape[-1], axis=2)])
    return h[:, ::POOL, ::POOL, :]


MAX_POOL = f"max pool, stride {POOL}"


def network(reduction):
    """Circular conv, reduction, circular conv, global average pooling, linear read-out."""
    keras.utils.set_random_seed(SEED)  # the same convolution weights in all three networks
    inputs = keras.Input((CANVAS, CANVAS, 1))
    h = circular_conv(inputs, CHANNELS)
    if reduction == MAX_POOL:
        h = keras.layers.MaxPooling2D(POOL)(h)
    elif reduction == "blur pool":
        h = blur_subsample(keras.layers.MaxPooling2D(POOL, strides=1)(wrap(h, 0, POOL - 1)))
    h = circular_conv(h, CHANNELS)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inputs, keras.layers.Dense(10)(h))


REDUCTIONS = ["global average only", MAX_POOL, "blur pool"]
change = {}  # relative output change per network and shift, averaged over the images
per_image_odd = {}
for reduction in REDUCTIONS:
    model = network(reduction)
    reference = model.predict(x, verbose=0)
    shifted_inputs = np.concatenate([np.roll(x, t, axis=2) for t in SHIFTS])
    outputs = model.predict(shifted_inputs, batch_size=1024, verbose=0).reshape(
        len(SHIFTS), len(x), -1
    )
    relative = np.linalg.norm(outputs - reference, axis=2) / np.linalg.norm(reference, axis=1)
    change[reduction] = relative.mean(axis=1)
    per_image_odd[reduction] = relative[SHIFTS % POOL != 0].mean(axis=0)
    aliased = relative[SHIFTS % POOL != 0].mean()
    print(f"{reduction:>20s}: mean change at shifts t != 0 mod {POOL}: {aliased:.3f}")

# %% [markdown]
# ## Figure

# %%
use_course_style()
fig, (ax_shift, ax_hist) = plt.subplots(1, 2, figsize=(15, 5.6))
floor = 1e-9  # exact zeros drawn at the bottom of the log axis
for reduction, marker in zip(REDUCTIONS, "osd", strict=True):
    ax_shift.semilogy(SHIFTS, change[reduction] + floor, marker + "-", label=reduction)
ax_shift.set(
    xlabel="cyclic shift t (pixels, along the columns)",
    ylabel=r"mean $\|f(S_t x) - f(x)\| \,/\, \|f(x)\|$",
    title=f"Output change under shifts ({len(x)} digits)",
    ylim=(floor / 2, 3),
    xticks=SHIFTS[::2],
)
ax_shift.legend(loc="center right")
bins = np.linspace(0, max(per_image_odd[MAX_POOL].max(), 0.01), 30)
for reduction in REDUCTIONS[1:]:
    ax_hist.hist(per_image_odd[reduction], bins=bins, alpha=0.6, label=reduction)
ax_hist.set(
    xlabel=f"relative output change, mean over the shifts t $\\neq$ 0 mod {POOL}",
    ylabel="number of digits",
    title="Aliasing per digit: max pool against blur pool",
)
ax_hist.legend()
fig.suptitle("Shift invariance of three networks with the same circular convolutions")
plt.show()

# %% [markdown]
# ## Summary

# %%
odd = SHIFTS % POOL != 0
SUMMARY = {
    "gap_max_change": float(change["global average only"].max()),
    "maxpool_even_max_change": float(change[MAX_POOL][~odd].max()),
    "maxpool_odd_mean_change": float(change[MAX_POOL][odd].mean()),
    "maxpool_odd_min_change": float(change[MAX_POOL][odd].min()),
    "blurpool_even_max_change": float(change["blur pool"][~odd].max()),
    "blurpool_odd_mean_change": float(change["blur pool"][odd].mean()),
    "blur_reduction_factor": float(change[MAX_POOL][odd].mean() / change["blur pool"][odd].mean()),
}
for key, value in SUMMARY.items():
    print(f"{key:>25s}: {value:.4g}" if isinstance(value, float) else f"{key:>25s}: {value}")
