"""
Random labels: a network memorizes noise, it just takes longer
==============================================================

The same network architecture is trained twice on the same 500 digit images: once with their
true labels, once with labels drawn uniformly at random (Zhang et al., 2017, "Understanding deep
learning requires rethinking generalization").

The figure shows training and validation accuracy against the epoch for both. With random labels
the network still reaches perfect training accuracy, so its capacity alone cannot explain why it
generalizes on true labels, while its validation accuracy is at chance: a permutation test
(rename the classes, recompute the accuracy) finds nothing in its predictions about the true
labels, and finds the true-label network's accuracy far beyond every renaming. "Chance" here
is 1/10 on average but spreads by several points from run to run, because the validation
digits of one class tend to get the same few random labels; the curve can sit well under 1/10.
Look at the horizontal distance between the two training curves: fitting noise takes many more
epochs than fitting structure.

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
WIDTH = 64 if SMOKE else 512  # units in each of the two hidden layers
LEARNING_RATE = 1e-3
EPOCHS = 10 if SMOKE else 200
EVERY = 5  # record the curves every EVERY (full-batch) epochs
THRESHOLD = 0.9  # training accuracy whose first crossing we compare
PERMUTATIONS = 1000 if SMOKE else 10_000  # class renamings drawn for the permutation test

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
# Replaces model.fit(split.x_train, (split.y_train, random_labels), batch_size=N_TRAIN,
# epochs=EPOCHS, validation_data=(split.x_val, (split.y_val, split.y_val)), verbose=0),
# recording every EVERY epochs.
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
# ## What "chance" means here: a permutation test
# The random labels are independent of the images, and training treats the ten classes alike
# (an initialization whose output units are exchangeable, a loss symmetric in the classes, and
# Adam acting coordinate-wise). So renaming the classes by a permutation
# $\sigma$ leaves the whole experiment's distribution unchanged: the predictions $\hat y$ of the
# random-label network satisfy $P(\hat y, y) = P(\sigma\hat y, y)$, and the expected validation
# accuracy is exactly 1/10. One run, however, spreads far more around 1/10 than a coin with
# $p = 1/10$ tossed 360 times ($\sqrt{0.1 \cdot 0.9 / 360} \approx 1.6$ points), because the
# validation digits of one class, which look like the training digits of that class, tend to
# get the same few predicted labels. At one extreme, a network that sends every digit of class
# $c$ to the random label its training digits carry most often,
# $m(c) = \arg\max_k \#\{i : y_i = c,\ \tilde y_i = k\}$ (the *majority predictor*), is right on a
# whole class or on none of it: its accuracy is about (number of $c$ with $m(c) = c$) / 10, a
# binomial$(10, 1/10)$ count, with a standard deviation of about 9.5 points. At the other, a
# nearest-neighbour lookup of the random labels mixes the labels within a class and spreads
# less. The trained network lies in between; its accuracy can sit well under 1/10 by chance.
#
# The principled statement is a **permutation test**. By the symmetry above, the accuracy
# $\mathrm{acc}(\hat y, y)$ is distributed like $\mathrm{acc}(\hat y, \sigma y)$ for every
# permutation $\sigma$ of the class names, so its rank among these values for random $\sigma$ is
# uniform, and with $N$ random renamings
# $p = (1 + \#\{\sigma : \mathrm{acc}(\hat y, \sigma y) \ge \mathrm{acc}(\hat y, y)\}) / (1 + N)$
# is a valid p-value for "the predictions know nothing about the true labels". The spread of
# $\mathrm{acc}(\hat y, \sigma y)$ over $\sigma$ is the spread chance has for *these* predictions.

# %%
predictions = model.predict(split.x_val, verbose=0)
predicted_true, predicted_random = (np.argmax(p, axis=1) for p in predictions)
test_rng = np.random.default_rng([SEED, 1])
renamings = test_rng.permuted(np.tile(np.arange(10), (PERMUTATIONS, 1)), axis=1)  # sigma


def permutation_test(predicted, labels):
    """Accuracy, its permutation p-value, and the accuracies under renamed classes."""
    accuracy = np.mean(predicted == labels)
    renamed = np.mean(predicted[None, :] == renamings[:, labels], axis=1)  # acc(y_hat, sigma y)
    return accuracy, (1 + np.sum(renamed >= accuracy)) / (1 + PERMUTATIONS), renamed


accuracy_random, p_random, renamed_random = permutation_test(predicted_random, split.y_val)
accuracy_true, p_true, _ = permutation_test(predicted_true, split.y_val)

counts = np.zeros((10, 10))
np.add.at(counts, (split.y_train, random_labels), 1.0)
majority = np.argmax(counts + 0.1 * test_rng.random(counts.shape), axis=1)  # random tie-break
distances = ((split.x_val[:, None, :] - split.x_train[None, :, :]) ** 2).sum(axis=-1)
nearest_labels = random_labels[np.argmin(distances, axis=1)]
print(
    f"random labels: validation accuracy {accuracy_random:.3f}, permutation p-value "
    f"{p_random:.3f}; under renamed classes {renamed_random.mean():.3f} +- "
    f"{renamed_random.std():.3f}\ntrue labels: validation accuracy {accuracy_true:.3f}, "
    f"p-value {p_true:.1e}\nthe random-label network agrees with the majority predictor on "
    f"{np.mean(predicted_random == majority[split.y_val]):.0%} and with the nearest-neighbour "
    f"lookup on {np.mean(predicted_random == nearest_labels):.0%} of the validation digits"
)

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
ax.axhspan(
    renamed_random.mean() - 2 * renamed_random.std(),
    renamed_random.mean() + 2 * renamed_random.std(),
    color="gray",
    alpha=0.2,
    label=f"final predictions vs renamed classes (±2 sd); p = {p_random:.2f}",
)
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
    "permutation_p_value_random": float(p_random),
    "permutation_p_value_true": float(p_true),
    "renamed_accuracy_mean": float(renamed_random.mean()),
    "renamed_accuracy_std": float(renamed_random.std()),
    "majority_predictor_val_accuracy": float(np.mean(majority[split.y_val] == split.y_val)),
    "nearest_neighbour_val_accuracy": float(np.mean(nearest_labels == split.y_val)),
    "agreement_with_majority": float(np.mean(predicted_random == majority[split.y_val])),
    "agreement_with_nearest_neighbour": float(np.mean(predicted_random == nearest_labels)),
}
for key, value in SUMMARY.items():
    print(f"{key:>27s}: {value:.4g}" if isinstance(value, float) else f"{key:>27s}: {value}")
