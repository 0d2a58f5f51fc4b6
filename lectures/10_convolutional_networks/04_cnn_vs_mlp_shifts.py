"""
CNN against MLP on shifted digits: weight sharing generalizes across positions
==============================================================================

A small convolutional network and an MLP with a comparable number of parameters are trained on
the same centred digits (8 x 8 digits on a 16 x 16 canvas) and tested on the test digits shifted
by 0, 1, 2 and 3 pixels right and down. Both are about equally accurate on centred digits; the
MLP's accuracy collapses under shifts, the CNN's degrades much less.

The figure shows test accuracy against the shift for both networks (three independent
trainings each, thin lines, and their mean), and one test digit at every shift. Look at shift
0, where the two agree, and at shift 3, where the MLP is near chance on many classes: it
learned weights for pixel positions it saw during training, and shifted digits light up
pixels whose weights never received a gradient. The convolution applies the same filter
everywhere and global average pooling forgets where the features were.

Try:
- Set `RANDOM_SHIFT = 3`: train on randomly shifted digits; how does the MLP's curve change?
- Replace `GlobalAveragePooling2D` by `Flatten` in `cnn_branch`: the CNN keeps positions and
  loses much of its advantage.
- Set `HIDDEN = 128`: does a bigger MLP help against shifts?
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

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

CANVAS = 16
SHIFTS = [0, 1, 2, 3]  # test shifts, pixels right and down
RANDOM_SHIFT = 0  # random training offsets (0: every training digit centred)
REPEATS = 3  # independent trainings of each network
HIDDEN = 24  # MLP hidden units
FILTERS = 16  # CNN filters per layer
EPOCHS = 3 if SMOKE else 40
BATCH_SIZE = 128
LEARNING_RATE = 3e-3

# %% [markdown]
# ## Data
# The split is the same for every shift, so the test digits are the same digits, shifted.

# %%
keras.utils.set_random_seed(SEED)
train = load_digits_canvas(canvas_size=CANVAS, random_shift=RANDOM_SHIFT, seed=SEED)
tests = {s: load_digits_canvas(canvas_size=CANVAS, shift=s, seed=SEED) for s in SHIFTS}

# %% [markdown]
# ## Two architectures
# MLP: $256 \to 24 \to 10$, $(256 + 1) \cdot 24 + (24 + 1) \cdot 10 = 6{,}418$ parameters.
# CNN: two $3 \times 3$ convolutions with 16 filters, a $2 \times 2$ max pooling between them,
# global average pooling and a linear read-out: $(9 + 1) \cdot 16 + (9 \cdot 16 + 1) \cdot 16 +
# (16 + 1) \cdot 10 = 2{,}650$ parameters. The CNN is smaller.
#
# All $2 \times$ `REPEATS` networks are branches of one Keras model that share only the input:
# the summed loss has, for each branch's weights, that branch's own gradient, and Adam scales
# each weight separately, so one training of the model is `2 * REPEATS` independent trainings
# on the same mini-batches (a paired comparison).


# %%
def mlp_branch(inputs, name):
    h = keras.layers.Flatten()(inputs)
    h = keras.layers.Dense(HIDDEN, activation="relu")(h)
    return keras.layers.Dense(10, activation="softmax", name=name)(h)


def cnn_branch(inputs, name):
    h = keras.layers.Conv2D(FILTERS // 2, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.Conv2D(FILTERS, 3, padding="same", activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = keras.layers.Dense(FILTERS, activation="relu")(h)
    return keras.layers.Dense(10, activation="softmax", name=name)(h)


inputs = keras.Input((CANVAS, CANVAS, 1))
names = [f"{kind}_{r}" for kind in ("mlp", "cnn") for r in range(REPEATS)]
outputs = [(mlp_branch if n.startswith("mlp") else cnn_branch)(inputs, n) for n in names]
model = keras.Model(inputs, outputs)
model.compile(
    optimizer=keras.optimizers.Adam(LEARNING_RATE),
    loss=["sparse_categorical_crossentropy"] * len(names),
)
params = {
    kind: keras.Model(inputs, model.get_layer(f"{kind}_0").output).count_params()
    for kind in ("mlp", "cnn")
}
print(f"parameters: MLP {params['mlp']:,}, CNN {params['cnn']:,}")

# Replaces model.fit(train.x_train, [train.y_train] * 6, epochs=EPOCHS, batch_size=BATCH_SIZE,
# verbose=0): the same mini-batch steps, several epochs per compiled call.
fit_fast(
    model,
    train.x_train,
    [train.y_train] * len(names),
    epochs=EPOCHS,
    batch_size=BATCH_SIZE,
    every=EPOCHS,
    seed=SEED,
)

# %% [markdown]
# ## Accuracy against the shift

# %%
accuracy = {name: [] for name in names}
for s in SHIFTS:
    probabilities = model.predict(tests[s].x_test, batch_size=len(tests[s].x_test), verbose=0)
    for name, p in zip(names, probabilities, strict=True):
        accuracy[name].append(float(np.mean(p.argmax(axis=1) == tests[s].y_test)))
accuracy = {name: np.array(values) for name, values in accuracy.items()}
mean = {
    kind: np.mean([accuracy[f"{kind}_{r}"] for r in range(REPEATS)], axis=0)
    for kind in ("mlp", "cnn")
}
drop = {kind: mean[kind][0] - mean[kind][-1] for kind in ("mlp", "cnn")}
paired_drop_ratio = [
    (accuracy[f"cnn_{r}"][0] - accuracy[f"cnn_{r}"][-1])
    / (accuracy[f"mlp_{r}"][0] - accuracy[f"mlp_{r}"][-1])
    for r in range(REPEATS)
]
for kind in ("mlp", "cnn"):
    print(f"{kind}: accuracy at shifts {SHIFTS}: {np.round(mean[kind], 3).tolist()}")

# %% [markdown]
# ## Figure

# %%
use_course_style()
fig = plt.figure(figsize=(15, 5.6))
grid = fig.add_gridspec(2, 4, width_ratios=[3, 3, 1, 1])
ax = fig.add_subplot(grid[:, :2])
for kind, color, label in [("mlp", "tab:red", "MLP"), ("cnn", "tab:blue", "CNN")]:
    for r in range(REPEATS):
        ax.plot(SHIFTS, accuracy[f"{kind}_{r}"], color=color, alpha=0.3, linewidth=1)
    ax.plot(
        SHIFTS,
        mean[kind],
        "o-",
        color=color,
        label=f"{label}, {params[kind]:,} parameters (mean of {REPEATS})",
    )
ax.axhline(0.1, color="gray", linestyle=":", label="chance")
ax.set(
    xlabel="test shift s (pixels right and down)",
    ylabel="test accuracy",
    title="Trained on centred digits, tested on shifted ones",
    xticks=SHIFTS,
    ylim=(0, 1.02),
)
ax.legend(loc="lower left")
for k, s in enumerate(SHIFTS):
    ax_img = fig.add_subplot(grid[k // 2, 2 + k % 2])
    ax_img.imshow(tests[s].x_test[0, :, :, 0], cmap="gray_r")
    ax_img.set(title=f"shift {s}", xticks=[], yticks=[])
    ax_img.grid(False)
fig.suptitle(f"CNN against MLP on {CANVAS}x{CANVAS} digits, {EPOCHS} epochs of Adam")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "mlp_params": params["mlp"],
    "cnn_params": params["cnn"],
    "mlp_accuracy_shift0": float(mean["mlp"][0]),
    "cnn_accuracy_shift0": float(mean["cnn"][0]),
    "mlp_accuracy_largest_shift": float(mean["mlp"][-1]),
    "cnn_accuracy_largest_shift": float(mean["cnn"][-1]),
    "mlp_drop": float(drop["mlp"]),
    "cnn_drop": float(drop["cnn"]),
    "drop_ratio": float(drop["cnn"] / drop["mlp"]),
    "max_paired_drop_ratio": float(max(paired_drop_ratio)),
}
for key, value in SUMMARY.items():
    print(f"{key:>27s}: {value:.4g}" if isinstance(value, float) else f"{key:>27s}: {value}")
