"""
Random labels: a network memorizes noise, it just takes longer
==============================================================

The same network architecture is trained twice on the same 500 digit images: once with their
true labels, once with labels drawn uniformly at random (Zhang et al., 2017, "Understanding deep
learning requires rethinking generalization").

The figure shows training and validation accuracy against the epoch for both. With random labels
the network still reaches almost perfect training accuracy, so its capacity alone cannot explain
why it generalizes on true labels, while its validation accuracy stays at chance (1/10): there
is nothing to generalize. Look at the horizontal distance between the two training curves:
fitting noise takes many more epochs than fitting structure.

Try:
- Randomize only half of the labels: where does the validation accuracy end up?
- Shrink `WIDTH` until the random labels can no longer be fitted in `EPOCHS` epochs.
- Replace the labels by random *images* (shuffle the pixels of each image) instead.
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

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

N_TRAIN = 500
WIDTH = 512  # units in each of the two hidden layers
LEARNING_RATE = 1e-3
EPOCHS = 10 if SMOKE else 200
EVERY = 5  # record the curves every EVERY (full-batch) epochs
THRESHOLD = 0.9  # training accuracy whose first crossing we compare

# %% [markdown]
# ## Data: true labels and random labels
# The random labels are drawn once, uniformly from the ten classes, independently of the images.

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(n_train=N_TRAIN, seed=SEED)
rng = np.random.default_rng(SEED)
random_labels = rng.integers(0, 10, size=N_TRAIN)
print(f"labels that happen to be right: {np.mean(random_labels == split.y_train):.1%}")

# %% [markdown]
# ## Two copies of the network in one model
# Both copies see the same images; one is fitted to the true labels, the other to the random
# ones. They share no weights and Keras minimizes the sum of their losses, so this is exactly
# two independent trainings in a single `fit` call.


# %%
def network(name):
    """A 64 -> WIDTH -> WIDTH -> 10 ReLU network as a function of its input tensor."""
    hidden_1 = keras.layers.Dense(WIDTH, activation="relu")
    hidden_2 = keras.layers.Dense(WIDTH, activation="relu")
    output = keras.layers.Dense(10, activation="softmax", name=name)
    return lambda x: output(hidden_2(hidden_1(x)))


inputs = keras.Input(shape=(64,))
model = keras.Model(inputs, [network("true_labels")(inputs), network("random_labels")(inputs)])
model.compile(
    optimizer=keras.optimizers.Adam(LEARNING_RATE),
    loss=["sparse_categorical_crossentropy"] * 2,
    metrics=[["accuracy"], ["accuracy"]],
)

# %% [markdown]
# ## Training
# Validation uses the *true* labels of the validation digits for both copies.

# %%
history = fit_fast(
    model,
    split.x_train,
    (split.y_train, random_labels),
    epochs=EPOCHS,
    every=EVERY,
    validation_data=(split.x_val, (split.y_val, split.y_val)),
    seed=SEED,
)
epoch = history["epoch"]


def first_epoch_above(accuracy, threshold):
    """The first recorded epoch with accuracy >= threshold (EPOCHS + 1 if never)."""
    above = np.flatnonzero(accuracy >= threshold)
    return int(epoch[above[0]]) if above.size else EPOCHS + 1


epochs_true = first_epoch_above(history["true_labels_accuracy"], THRESHOLD)
epochs_random = first_epoch_above(history["random_labels_accuracy"], THRESHOLD)

# %% [markdown]
# ## Figure

# %%
use_course_style()
fig, ax = plt.subplots(figsize=(11, 5.8))
ax.plot(epoch, history["true_labels_accuracy"], color="tab:blue", label="true labels: training")
ax.plot(
    epoch,
    history["val_true_labels_accuracy"],
    color="tab:blue",
    linestyle="--",
    label="true labels: validation",
)
ax.plot(epoch, history["random_labels_accuracy"], color="tab:red", label="random labels: training")
ax.plot(
    epoch,
    history["val_random_labels_accuracy"],
    color="tab:red",
    linestyle="--",
    label="random labels: validation",
)
ax.axhline(0.1, color="gray", linestyle=":", label="chance (1/10)")
ax.axhline(THRESHOLD, color="black", linewidth=0.8)
for crossing, color in ((epochs_true, "tab:blue"), (epochs_random, "tab:red")):
    if crossing <= EPOCHS:
        ax.plot(crossing, THRESHOLD, "o", color=color, markersize=9)
ax.set(
    xlabel="epoch (one full-batch Adam step each)",
    ylabel="accuracy",
    ylim=(0, 1.03),
    title=f"Fitting true and random labels of {N_TRAIN} digits "
    f"(training accuracy {THRESHOLD:.0%} at epoch {epochs_true} vs {epochs_random})",
)
ax.legend(loc="center right")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "epochs": EPOCHS,
    "random_train_accuracy": float(history["random_labels_accuracy"][-1]),
    "random_val_accuracy": float(history["val_random_labels_accuracy"][-1]),
    "true_train_accuracy": float(history["true_labels_accuracy"][-1]),
    "true_val_accuracy": float(history["val_true_labels_accuracy"][-1]),
    "epochs_to_threshold_true": epochs_true,
    "epochs_to_threshold_random": epochs_random,
}
for key, value in SUMMARY.items():
    print(f"{key:>27s}: {value:.4g}" if isinstance(value, float) else f"{key:>27s}: {value}")
