"""
CNN against MLP on shifted digits: weight sharing and pooling buy translation robustness
========================================================================================

A small convolutional network (two 3 x 3 convolutions, global max pooling, a linear read-out)
and a one-hidden-layer perceptron with about the same number of parameters are trained on the
same centred digits on a 16 x 16 canvas, then tested on the test digits moved by s = 0, 1, ...,
4 pixels (up, down, left and right, all four directions averaged). Neither network ever saw a
shifted digit.

The figure shows the test accuracy of both networks against the shift (left) and, for one test
digit, what each network is given (right). Look at shift 0: both networks are about equally
good on the digits they were trained for. Then look at the shifts: from 2 pixels on the
perceptron's accuracy is close to chance (10 %). Each of its hidden units computes w . x, a
template w tied to fixed pixel positions, and w . (T_v x) = (T_{-v} w) . x: on a shifted digit
it reads the centred digit with shifted templates, which match nothing it learned. (A second
cause: the canvas pixels outside the centred 8 x 8 digit are zero in every training image, so
their weights get zero gradient and keep their random initial values under Adam. A 1-pixel move
up or down puts ink on them for every digit, since no digit has a blank top or bottom row, but
a move to the left or right only for 1 % or 12 % of the digits, whose edge columns are mostly
blank: the templates are the cause that acts on every shift.) The convolutional network keeps
most of its accuracy, because its convolutions are equivariant (the feature maps of a shifted
digit are the shifted feature maps) and the global maximum of a feature map does not care where
it is. The small loss that remains, growing with the shift, comes from the border: the "valid"
convolutions keep only positions whose 5 x 5 receptive field lies inside the canvas, so the
responses to the strokes nearest the edge are lost (at 4 pixels the digit touches the edge).

Try:
- Replace `keras.layers.GlobalMaxPooling2D()` by `keras.layers.Flatten()` in `cnn` (and
  `CNN_CHANNELS = (16, 3)`, 4,925 parameters, to stay near the perceptron's count): is that network
  still robust to shifts?
- Train both on shifted digits: after the line `x_train, y_train = split.x_train, split.y_train`
  add `x_train = load_digits_canvas(canvas_size=CANVAS, val_fraction=0.0, seed=SEED,
  random_shift=4).x_train` (the same training digits, each moved at random by up to 4 pixels).
  Which network gains more?
- Set `HIDDEN = 64` (three times the parameters): does a bigger perceptron become robust?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits, load_digits_canvas, place_on_canvas
from common.plotting import use_course_style
from common.training import fit_fast

import keras
import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

CANVAS = 16  # 8 x 8 digits in the centre of a 16 x 16 canvas: room for shifts up to 4
SHIFTS = np.arange(5)  # test shifts in pixels
CNN_CHANNELS = (16, 32)  # channels of the two 3 x 3 convolutions
HIDDEN = 20  # hidden units of the perceptron
EPOCHS = 2 if SMOKE else 20
BATCH_SIZE = 128
LEARNING_RATE = 3e-3

# %% [markdown]
# ## Data: centred digits for training, shifted copies of the test digits
# `load_digits_canvas` and `load_digits` split the digits the same way for the same seed, so
# `shifted[s]` holds the centred test digits moved by s pixels in each of four directions.

# %%
keras.utils.set_random_seed(SEED)
split = load_digits_canvas(canvas_size=CANVAS, val_fraction=0.0, seed=SEED)
x_train, y_train = split.x_train, split.y_train
small_test = load_digits(val_fraction=0.0, flatten=False, seed=SEED).x_test  # 8 x 8 digits
DIRECTIONS = [(1, 0), (-1, 0), (0, 1), (0, -1)]  # down, up, right, left
shifted = {
    int(s): np.concatenate(
        [place_on_canvas(small_test, CANVAS, offsets=(s * dy, s * dx)) for dy, dx in DIRECTIONS]
    )[..., np.newaxis]
    for s in SHIFTS
}
y_shifted = np.tile(split.y_test, len(DIRECTIONS))
assert np.array_equal(shifted[0][: len(split.y_test)], split.x_test)  # the same test digits
if SMOKE:
    x_train, y_train = x_train[:200], y_train[:200]
print(f"{len(x_train)} training digits, {len(split.y_test)} test digits x 4 directions")

# %% [markdown]
# ## Two networks with about the same number of parameters
# The convolutional network computes $h = \operatorname{relu}(W_2 * \operatorname{relu}(W_1 *
# x))$ with "valid" 3 x 3 convolutions (no padding: nothing but the image enters), then the
# maximum of every channel over all positions, then a linear read-out. A convolution commutes
# with translations, $W * (T_v x) = T_v (W * x)$, wherever the kernel's window lies inside the
# canvas, and so does the pointwise relu; the global maximum satisfies $\max_p (T_v h)_p =
# \max_p h_p$. So the network is *invariant* to shifts that keep inside the canvas every
# 5 x 5 receptive field that meets the digit's non-zero pixels; a window without ink gives the
# same constant, computed from the biases alone, wherever it lies. The centred digit's 4-pixel
# margin is exactly enough; a shift cuts off some of the windows at the digit's edge towards
# which it moves. The network has
# $9 \cdot 16 + 16 + 9 \cdot 16 \cdot 32 + 32 + 33 \cdot 10 = 5{,}130$ parameters. The
# perceptron, $256 \to 20 \to 10$, has $257 \cdot 20 + 21 \cdot 10 = 5{,}350$: each of its
# hidden units is a template tied to fixed pixel positions.


# %%
def cnn():
    inputs = keras.Input((CANVAS, CANVAS, 1))
    h = keras.layers.Conv2D(CNN_CHANNELS[0], 3, activation="relu")(inputs)
    h = keras.layers.Conv2D(CNN_CHANNELS[1], 3, activation="relu")(h)
    h = keras.layers.GlobalMaxPooling2D()(h)
    return keras.Model(inputs, keras.layers.Dense(10)(h), name="cnn")


def mlp():
    inputs = keras.Input((CANVAS, CANVAS, 1))
    h = keras.layers.Flatten()(inputs)
    h = keras.layers.Dense(HIDDEN, activation="relu")(h)
    return keras.Model(inputs, keras.layers.Dense(10)(h), name="mlp")


# %% [markdown]
# ## Training on centred digits, testing on shifted ones

# %%
accuracy = {}
n_params = {}
for name, build in (("CNN", cnn), ("MLP", mlp)):
    keras.utils.set_random_seed(SEED)  # the same data order for both networks
    model = build()
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    # Replaces model.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE).
    fit_fast(model, x_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE, every=EPOCHS, seed=SEED)
    n_params[name] = model.count_params()
    logits = model.predict(np.concatenate(list(shifted.values())), batch_size=1024, verbose=0)
    correct = np.argmax(logits, axis=1).reshape(len(SHIFTS), -1) == y_shifted
    accuracy[name] = correct.mean(axis=1)
    print(f"{name} ({n_params[name]} parameters): accuracy per shift {np.round(accuracy[name], 3)}")

# %% [markdown]
# ## Figure

# %%
use_course_style()
fig = plt.figure(figsize=(15, 5.6))
grid = fig.add_gridspec(2, 4, width_ratios=[3, 1, 1, 1])
ax = fig.add_subplot(grid[:, 0])
for name, marker in (("CNN", "o"), ("MLP", "s")):
    ax.plot(SHIFTS, accuracy[name], marker + "-", label=f"{name} ({n_params[name]:,} parameters)")
ax.axhline(0.1, color="grey", linestyle=":", label="chance (10 %)")
ax.set(
    xlabel="shift of the test digits (pixels, mean over 4 directions)",
    ylabel="test accuracy",
    title="Trained on centred digits, tested on shifted ones",
    xticks=SHIFTS,
    ylim=(0, 1.02),
)
ax.legend(loc="center right")
n_test = len(split.y_test)
for column, s in enumerate((0, SHIFTS[-1] // 2, SHIFTS[-1])):
    for row, direction in enumerate((0, 2)):  # down and right
        image = shifted[int(s)][direction * n_test]
        sub = fig.add_subplot(grid[row, column + 1])
        sub.imshow(image[..., 0], cmap="gray_r", vmin=0, vmax=1)
        sub.set(xticks=[], yticks=[], title=f"{s} px {('down', 'right')[row]}")
        sub.spines[:].set_visible(True)  # the canvas border
fig.suptitle("Convolutions with global pooling against a perceptron: robustness to translation")
plt.show()

# %% [markdown]
# ## Summary

# %%
largest = int(SHIFTS[-1])
SUMMARY = {
    "cnn_params": int(n_params["CNN"]),
    "mlp_params": int(n_params["MLP"]),
    "largest_shift": largest,
    "cnn_accuracy_shift0": float(accuracy["CNN"][0]),
    "mlp_accuracy_shift0": float(accuracy["MLP"][0]),
    "cnn_accuracy_shift2": float(accuracy["CNN"][2]),
    "mlp_accuracy_shift2": float(accuracy["MLP"][2]),
    "cnn_accuracy_largest_shift": float(accuracy["CNN"][-1]),
    "mlp_accuracy_largest_shift": float(accuracy["MLP"][-1]),
    "cnn_drop": float(accuracy["CNN"][0] - accuracy["CNN"][-1]),
    "mlp_drop": float(accuracy["MLP"][0] - accuracy["MLP"][-1]),
}
for key, value in SUMMARY.items():
    print(f"{key:>28s}: {value:.4g}" if isinstance(value, float) else f"{key:>28s}: {value}")
