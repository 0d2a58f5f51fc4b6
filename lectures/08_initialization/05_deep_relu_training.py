"""
Deep ReLU training: the initialization decides whether the network trains at all
================================================================================

A 30-layer ReLU MLP trained on the digits with plain SGD, once from Glorot's and once from He's
initialization (after He et al., 2015, Figure 3). Same data, seed, learning rate and batches;
the initializers differ in the weight variance, 2/(n_in + n_out) against 2/n_in, and in the
distribution (uniform against truncated normal); the variance recursion below sees only the
variance.

Left: the training loss against the epoch. From He's start the loss falls by one to three
orders of magnitude; from Glorot's it stays at log(10), the loss of a uniform guess over the
10 classes, for the whole run. Right: why, measured at initialization: the mean square of the
activations in each layer. Each ReLU layer halves it under Glorot (2^-30 ~ 1e-9 at the
top), while He keeps it constant, so Glorot's network hands its last layer (and its
gradients) almost no signal.
Plain SGD at this depth is not smooth: He's curve shows spikes it recovers from, and the
weights at the very end may sit on one (the loss of the final weights then jumps, on some
seeds above log 10), so the lesson is read off the curve: its lowest point, a mean over
`EVERY` epochs of training.

Try:
- Set `DEPTH = 10`: does Glorot's network train now? (He et al.'s 22-layer model did.)
- Double `LEARNING_RATE` for Glorot only: can a bigger step make up for the lost signal?
- Replace `SGD` by `Adam`: its per-coordinate scaling undoes part of the vanishing gradient.
- Use "he_uniform" instead of "he_normal": does the shape of the distribution matter?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits
from common.plotting import use_course_style
from common.training import fit_fast

import keras
import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

DEPTH = 6 if SMOKE else 30  # ReLU hidden layers
WIDTH = 32 if SMOKE else 128  # units per hidden layer
LEARNING_RATE = 0.005  # plain SGD: no momentum
BATCH_SIZE = 64
EPOCHS = 2 if SMOKE else 40
EVERY = 2 if SMOKE else 4  # record the training loss every EVERY epochs

# %% [markdown]
# ## Data
# The 8x8 digits, every pixel standardized with the training set's mean and standard deviation
# (constant pixels stay 0), so that the inputs have variance about 1.

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(seed=SEED)
mean, std = split.x_train.mean(axis=0), split.x_train.std(axis=0)
std[std == 0] = 1.0
x_train = ((split.x_train - mean) / std).astype("float32")
y_train = split.y_train
print(f"training {x_train.shape}")

# %% [markdown]
# ## Model
# `DEPTH` dense ReLU layers of `WIDTH` units and a linear output layer with 10 logits. The
# variance recursion of script 01 for ReLU, $q_{l+1} = n_{in} \mathrm{Var}[w]\, q_l / 2$,
# gives the factor $n_{in} \cdot 2/(n_{in} + n_{out}) / 2 = 1/2$ per square layer for Glorot and
# exactly 1 for He ($\mathrm{Var}[w] = 2/n_{in}$), forwards and (with $n_{out}$) backwards.

# %%
INITIALIZERS = {"Glorot uniform": "glorot_uniform", "He normal": "he_normal"}


def build_model(initializer):
    layers = [keras.Input(shape=(64,))]
    layers += [
        keras.layers.Dense(WIDTH, activation="relu", kernel_initializer=initializer)
        for _ in range(DEPTH)
    ]
    layers.append(keras.layers.Dense(10, kernel_initializer=initializer))
    model = keras.Sequential(layers)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def activation_mean_squares(model, x):
    """Mean of h_l^2 over the batch and units, for every hidden layer l, at the current weights."""
    h, mean_squares = x, []
    for layer in model.layers[:-1]:
        h = layer(h)
        mean_squares.append(float(keras.ops.mean(h**2)))
    return np.array(mean_squares)


# %% [markdown]
# ## Training
# Mini-batch SGD, the same seed (hence the same batches) for both. The curves record the mean
# training loss over each block of `EVERY` epochs; the final numbers evaluate the trained model
# on the whole training set.

# %%
histories, signal, final = {}, {}, {}
for name, initializer in INITIALIZERS.items():
    keras.utils.set_random_seed(SEED)
    model = build_model(initializer)
    signal[name] = activation_mean_squares(model, x_train)
    # model.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0), with the
    # training loss recorded as its mean over every EVERY epochs
    histories[name] = fit_fast(
        model, x_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE, every=EVERY, seed=SEED
    )
    loss, accuracy = model.evaluate(x_train, y_train, batch_size=len(x_train), verbose=0)
    final[name] = (loss, accuracy)
    print(f"{name}: final training loss {loss:.4f}, accuracy {accuracy:.3f}")

# %% [markdown]
# ## Figure: the loss curves and the signal at initialization

# %%
use_course_style()
colors = {"Glorot uniform": "tab:green", "He normal": "tab:purple"}
fig, (ax_loss, ax_signal) = plt.subplots(1, 2, figsize=(14, 5.6))
for name in INITIALIZERS:
    history = histories[name]
    ax_loss.semilogy(history["epoch"], history["loss"], "o-", color=colors[name], label=name)
    ax_signal.semilogy(np.arange(1, DEPTH + 1), signal[name], "o-", color=colors[name], label=name)
ax_loss.axhline(np.log(10), color="gray", linestyle="--", label="log 10 (uniform guess)")
ax_loss.set(
    xlabel="epoch",
    ylabel="training cross-entropy (log scale)",
    title=f"Plain SGD (learning rate {LEARNING_RATE}, batch {BATCH_SIZE})",
)
ax_loss.legend()
ax_signal.set(
    xlabel="hidden layer $l$",
    ylabel="mean of $h_l^2$ (log scale)",
    title="Activations at initialization",
)
ax_signal.legend()
fig.suptitle(f"A {DEPTH}-layer ReLU MLP ({WIDTH} units wide) on the digits: Glorot against He")
plt.show()

# %% [markdown]
# ## Summary

# %%
(glorot_loss, glorot_accuracy), (he_loss, he_accuracy) = final.values()
SUMMARY = {
    "depth": DEPTH,
    "epochs": EPOCHS,
    "final_loss_glorot": float(glorot_loss),
    "final_loss_he": float(he_loss),
    "lowest_curve_loss_glorot": float(histories["Glorot uniform"]["loss"].min()),
    "lowest_curve_loss_he": float(histories["He normal"]["loss"].min()),
    "loss_ratio_glorot_over_he": float(
        histories["Glorot uniform"]["loss"].min() / histories["He normal"]["loss"].min()
    ),
    "final_accuracy_glorot": float(glorot_accuracy),
    "final_accuracy_he": float(he_accuracy),
    "signal_ratio_glorot": float(signal["Glorot uniform"][-1] / signal["Glorot uniform"][0]),
    "signal_ratio_he": float(signal["He normal"][-1] / signal["He normal"][0]),
}
for key, value in SUMMARY.items():
    print(f"{key:>26s}: {value:.4g}" if isinstance(value, float) else f"{key:>26s}: {value}")
