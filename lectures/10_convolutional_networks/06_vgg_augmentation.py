"""
A VGG-style network with batch norm, dropout and data augmentation
==================================================================

Two copies of the same small VGG-style network (three blocks of 3 x 3 convolution, batch
normalization, relu and 2 x 2 max pooling, then dropout and a linear read-out) are trained on
the same centred digits on a 16 x 16 canvas, one of them behind two augmentation layers that
move each training digit by up to 2 pixels and rotate it by up to 20 degrees, a fresh random
draw at every step. Both are tested on the centred test digits and on the same digits moved and
rotated at random (by scipy, independently of Keras' augmentation layers).

The figure shows the two networks' test accuracies (left), the 16 learned first-layer filters of
the augmented network (middle), one moved and rotated test digit and the first block's feature
maps for it (right; each filter and each map drawn on its own colour scale).
Look at the moved and rotated test digits: the network that only saw centred digits loses much
of its accuracy, the augmented one only a little, for a smaller loss on the centred digits (in
the same epochs it learns a harder task). Augmentation teaches the invariances the architecture
does not have. This network is not shift invariant: after three 2 x 2 poolings (a total stride
of 8) the flattening read-out ties each feature to a position, and max pooling only gives some
tolerance to small shifts (in script 3 even a stride-2 max pooling followed by global pooling,
on circular convolutions, was exactly invariant to even shifts only); nor is it rotation
invariant. Many filters look like small edge and stroke detectors; the feature maps show each
filter's response over the input digit drawn next to them.

Try:
- Drop the `RandomRotation` layer (translations only): how much of the gain remains?
- Set `DROPOUT = 0.0` and compare the centred test accuracies.
- Test on larger transformations than were trained for (`TEST_ANGLE = 40`).
- Set `BN_MOMENTUM = 0.99`, Keras' default: both networks train, then fail at test time
  (the markdown cell above the network explains why).
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits_canvas
from common.plotting import use_course_style
from common.training import fit_fast

import keras
import matplotlib.pyplot as plt
import numpy as np
from scipy import ndimage

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

CANVAS = 16  # 8 x 8 digits on a 16 x 16 canvas
CHANNELS = (16, 32) if SMOKE else (16, 32, 64)  # conv-BN-relu-maxpool blocks (3; 2 in smoke)
DROPOUT = 0.3
BN_MOMENTUM = 0.9  # running averages over ~10 steps (Keras' default 0.99: ~100)
MAX_SHIFT = 2  # pixels, for the augmentation and for the test set
MAX_ANGLE = 20  # degrees, for the augmentation
TEST_ANGLE = 20  # degrees, for the test set
EPOCHS = 1 if SMOKE else 15
BATCH_SIZE = 128
LEARNING_RATE = 3e-3

# %% [markdown]
# ## Data: centred training digits; centred and transformed test digits
# The transformed test set moves each centred test digit by an integer offset, uniform on
# $\{-2, \dots, 2\}^2$, after rotating it about the canvas centre by an angle uniform on
# $[-20°, 20°]$ (bilinear interpolation). The 8 x 8 digit's pixels lie within 4 of the centre
# in each coordinate, so within $4\sqrt2$ of it; after the rotation and the move each coordinate
# stays within $4\sqrt2 + 2 < 8$ of the centre: the digit stays on the canvas.

# %%
keras.utils.set_random_seed(SEED)
split = load_digits_canvas(canvas_size=CANVAS, val_fraction=0.0, seed=SEED)
x_train, y_train, x_test, y_test = split.x_train, split.y_train, split.x_test, split.y_test
if SMOKE:
    x_train, y_train = x_train[:128], y_train[:128]  # one batch: one step per epoch
    x_test, y_test = x_test[:64], y_test[:64]
rng = np.random.default_rng([SEED, 6])
angles = rng.uniform(-TEST_ANGLE, TEST_ANGLE, len(x_test))
offsets = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, (len(x_test), 2))
x_moved = np.stack(
    [
        np.roll(ndimage.rotate(image, angle, reshape=False, order=1), tuple(offset), axis=(0, 1))
        for image, angle, offset in zip(x_test, angles, offsets, strict=True)
    ]
).clip(0.0, 1.0)
print(f"{len(x_train)} training digits, {len(x_test)} test digits")

# %% [markdown]
# ## The network
# Each block computes $\operatorname{maxpool}(\operatorname{relu}(\operatorname{BN}(W * h)))$:
# batch normalization standardizes every channel over the batch and the positions, $\hat z =
# (z - \mu_B)/\sqrt{\sigma_B^2 + \epsilon}$, then scales and shifts it by learned $\gamma,
# \beta$ (so the convolution needs no bias); at test time it uses running averages of
# $\mu_B, \sigma_B^2$, $m \leftarrow 0.9\, m + 0.1\, \mu_B$. Keras' default momentum 0.99
# forgets the initial $m = 0$, $v = 1$ only as $0.99^t$: after the 180 steps here that is
# still $16\,\%$ ($0.99^{180} = 0.164$, 12 steps per epoch for 15 epochs), and the network
# fails at test time while training fine. That leftover is fatal because the first block's
# channel variances are small, about 0.002 to 0.03 (typically 0.005), far below
# the leftover $0.164\, v_0 = 0.164$ of the initial $v_0 = 1$: the running variance comes out
# about 0.166, some 35 times too large (6 to 100 times over the channels), so at test time BN
# divides by a standard deviation about 6 times too large, and the test accuracies collapse
# (seed 0: 0.10 without and 0.40 with augmentation). Dropout zeroes
# each of the $2 \cdot 2 \cdot 64 = 256$ flattened features with probability 0.3 during
# training and scales the others by $1/0.7$. The augmentation layers
# are the first layers of the model; like dropout, Keras applies them only in training, so
# `predict` sees the test digits unchanged.


# %%
def vgg(augment):
    inputs = keras.Input((CANVAS, CANVAS, 1))
    h = inputs
    if augment:
        h = keras.layers.RandomTranslation(
            MAX_SHIFT / CANVAS, MAX_SHIFT / CANVAS, fill_mode="constant", seed=SEED
        )(h)
        # Seeded, so that these layers draw no default seeds: the convolutions of both
        # networks then get the same initial kernels.
        h = keras.layers.RandomRotation(MAX_ANGLE / 360, fill_mode="constant", seed=SEED + 1)(h)
    for channels in CHANNELS:
        h = keras.layers.Conv2D(channels, 3, padding="same", use_bias=False)(h)
        h = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(h)
        h = keras.layers.ReLU()(h)
        h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Dropout(DROPOUT)(keras.layers.Flatten()(h))
    return keras.Model(inputs, keras.layers.Dense(10)(h))


# %% [markdown]
# ## Training with and without augmentation

# %%
NAMES = ["without augmentation", "with augmentation"]
accuracy = {}
models = {}
for name in NAMES:
    keras.utils.set_random_seed(SEED)  # the same initial weights and data order for both
    model = vgg(augment=name == NAMES[1])
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=False,  # Keras runs these augmentation layers without XLA
    )
    # Replaces model.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE).
    fit_fast(model, x_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE, every=EPOCHS, seed=SEED)
    logits = model.predict(np.concatenate([x_test, x_moved]), batch_size=1024, verbose=0)
    correct = np.argmax(logits, axis=1).reshape(2, -1) == y_test
    accuracy[name] = correct.mean(axis=1)  # (centred, moved and rotated)
    models[name] = model
    print(f"{name}: centred {accuracy[name][0]:.3f}, moved and rotated {accuracy[name][1]:.3f}")

# %% [markdown]
# ## Figure: accuracies, learned filters, feature maps

# %%
use_course_style()
augmented = models[NAMES[1]]
first_conv = next(layer for layer in augmented.layers if isinstance(layer, keras.layers.Conv2D))
first_relu = next(layer for layer in augmented.layers if isinstance(layer, keras.layers.ReLU))
filters = first_conv.get_weights()[0][:, :, 0, :]  # (3, 3, 16)
digit = x_moved[:1]
maps = keras.Model(augmented.inputs, first_relu.output).predict(digit, verbose=0)[0]

fig = plt.figure(figsize=(17, 6))
left, middle, inset, right = fig.subfigures(1, 4, width_ratios=[2.1, 1, 0.6, 1])
ax = left.subplots()
width = 0.38
positions = np.arange(2)
for j, name in enumerate(NAMES):
    bars = ax.bar(positions + (j - 0.5) * width, accuracy[name], width, label=name)
    ax.bar_label(bars, fmt="%.3f")
ax.set(
    xticks=positions,
    xticklabels=["centred", f"moved ≤ {MAX_SHIFT} px, rotated ≤ {TEST_ANGLE}°"],
    xlabel=f"{len(y_test)} test digits",
    ylabel="test accuracy",
    ylim=(0, 1.12),
    title="Same network, trained with and without augmentation",
)
ax.legend(loc="upper right")
for j, sub in enumerate(middle.subplots(4, 4).flat):
    limit = np.abs(filters[:, :, j]).max()
    sub.imshow(filters[:, :, j], cmap="RdBu_r", vmin=-limit, vmax=limit)
    sub.set(xticks=[], yticks=[])
middle.suptitle("learned first-layer filters\n(3 x 3; red +, blue −;\neach its own colour scale)")
sub = inset.subplots()
sub.imshow(digit[0, :, :, 0], cmap="gray_r", vmin=0, vmax=1)
sub.set(
    xticks=[], yticks=[], title=f"input: a moved,\nrotated test digit\n(a {y_test[0]}, 16 x 16)"
)
sub.spines[:].set_visible(True)  # the canvas border
for j, sub in enumerate(right.subplots(4, 4).flat):
    sub.imshow(maps[:, :, j], cmap="magma")
    sub.set(xticks=[], yticks=[])
right.suptitle("their relu feature maps for that digit\n(16 x 16; each its own colour scale)")
fig.suptitle(
    "VGG-style network (conv-BN-relu-maxpool blocks, dropout): augmentation buys invariance"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "test_digits": len(y_test),
    "plain_centred": float(accuracy[NAMES[0]][0]),
    "augmented_centred": float(accuracy[NAMES[1]][0]),
    "plain_moved": float(accuracy[NAMES[0]][1]),
    "augmented_moved": float(accuracy[NAMES[1]][1]),
    "augmentation_gain_moved": float(accuracy[NAMES[1]][1] - accuracy[NAMES[0]][1]),
    "augmentation_gain_centred": float(accuracy[NAMES[1]][0] - accuracy[NAMES[0]][0]),
}
for key, value in SUMMARY.items():
    print(f"{key:>26s}: {value:.4g}" if isinstance(value, float) else f"{key:>26s}: {value}")
