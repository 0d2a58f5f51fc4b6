"""
A custom training loop: what `fit` does, written out
====================================================

The training loop of `model.fit` written by hand with TensorFlow: a compiled training step
(`tf.GradientTape` inside a `tf.function`), loss and accuracy metrics, a validation pass after
every epoch, a progress bar and early stopping with the best weights restored. It is checked
twice against `fit`: one step from the same weights lands on the same weights, and a whole
training run reaches the same test accuracy.

The figure shows the training and validation loss per epoch of the hand-written loop and of
`fit`, both started from the same initial weights, with each run's best epoch marked. The two
runs see the mini-batches in different random orders, so the curves are close but not equal.
Needs the TensorFlow backend (`tf.GradientTape`, `tf.function`).

Try:
- Add `keras.layers.Dropout(0.3)` to `make_model`: `training=True` in the training step now
  matters. What happens to the curves if you call the model with `training=False` there?
- Clip the gradients in `train_step` with `tf.clip_by_global_norm(gradients, 1.0)`.
- Log the norm of the gradient per epoch (another `keras.metrics.Mean`).
"""

# %%
import csv
import os
import tempfile
from pathlib import Path

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed. The loop's
# history (CSV) and its trained model go to `OUTPUT_DIR`: the folder named by
# `MMA440_OUTPUT_DIR`, or else a fresh temporary folder (printed below).

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))
OUTPUT_DIR = Path(os.environ.get("MMA440_OUTPUT_DIR") or tempfile.mkdtemp(prefix="mma440_"))

HIDDEN_UNITS = 128
LEARNING_RATE = 1e-3
BATCH_SIZE = 64
EPOCHS = 2 if SMOKE else 200  # an upper bound: early stopping ends training before
PATIENCE = 8  # epochs without a lower validation loss before training stops
# A validation loss lower than the best by less than MIN_DELTA is no progress: once the
# training digits are fitted, the validation loss keeps creeping down by 1e-4 per epoch or less
# (6e-5 on average over epochs 61-100 of `fit` with seed 4), and with MIN_DELTA = 0 training
# can run for 100 epochs without stopping (`fit` did for seeds 4, 5, 8 and 9). With it, both
# runs stopped after 29 to 94 epochs for seeds 0-9.
MIN_DELTA = 1e-3

OUTPUT_DIR = OUTPUT_DIR.resolve()
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
print(f"Output folder: {OUTPUT_DIR}")

# %% [markdown]
# ## Data and model
# The 8x8 digits. The model outputs logits $z$; the loss is the mean cross-entropy
# $-\frac1B \sum_{i} \log \operatorname{softmax}(z_i)_{y_i}$ over a mini-batch of size $B$.
# `tf.data` shuffles the training set anew every epoch and cuts it into mini-batches.

# %%
split = load_digits(seed=SEED)


def make_model():
    return keras.Sequential(
        [
            keras.Input(shape=(split.x_train.shape[1],)),
            keras.layers.Dense(HIDDEN_UNITS, activation="relu"),
            keras.layers.Dense(HIDDEN_UNITS, activation="relu"),
            keras.layers.Dense(10),
        ]
    )


keras.utils.set_random_seed(SEED)
model = make_model()
initial_weights = model.get_weights()  # `fit` will start from these too
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
optimizer = keras.optimizers.Adam(LEARNING_RATE)

train_data = (
    tf.data.Dataset.from_tensor_slices((split.x_train, split.y_train))
    .shuffle(len(split.x_train), seed=SEED, reshuffle_each_iteration=True)
    .batch(BATCH_SIZE)
)
val_data = tf.data.Dataset.from_tensor_slices((split.x_val, split.y_val)).batch(256)
steps_per_epoch = int(train_data.cardinality())

# %% [markdown]
# ## The training step
# `tf.GradientTape` records the forward pass and returns $\nabla_\theta L$ by backpropagation;
# the optimizer applies one Adam update. `tf.function` traces the Python function once into a
# TensorFlow graph, which then runs without the Python interpreter: that is what makes the loop
# about as fast as `fit`. `model.losses` holds the penalties of regularized layers (none here,
# but a loop that forgets them silently trains another objective).
#
# The metrics are running means: `update_state` adds one batch, `result` reads the mean so far,
# `reset_state` starts the next epoch. Each batch loss is weighted by the batch size, so the
# epoch's loss is the mean over its examples (the last batch is smaller), as `fit` reports it.

# %%
train_loss = keras.metrics.Mean()
train_accuracy = keras.metrics.SparseCategoricalAccuracy()
val_loss = keras.metrics.Mean()
val_accuracy = keras.metrics.SparseCategoricalAccuracy()


def make_train_step(model, optimizer):
    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = loss_fn(y, logits) + sum(model.losses)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        train_loss.update_state(loss, sample_weight=tf.shape(y)[0])
        train_accuracy.update_state(y, logits)

    return train_step


@tf.function
def val_step(x, y):
    logits = model(x, training=False)
    val_loss.update_state(loss_fn(y, logits), sample_weight=tf.shape(y)[0])
    val_accuracy.update_state(y, logits)


train_step = make_train_step(model, optimizer)

# %% [markdown]
# ## Check 1: one step of the loop is one step of `fit`
# From the same weights, one step on the same batch with a fresh Adam must give the same new
# weights as Keras' own `train_on_batch` (the step `fit` takes).

# %%
check_model, reference_model = make_model(), make_model()
check_model.set_weights(initial_weights)
reference_model.set_weights(initial_weights)
reference_model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss=loss_fn)
x_batch, y_batch = split.x_train[:BATCH_SIZE], split.y_train[:BATCH_SIZE]
make_train_step(check_model, keras.optimizers.Adam(LEARNING_RATE))(x_batch, y_batch)
reference_model.train_on_batch(x_batch, y_batch)
one_step_max_diff = max(
    float(np.max(np.abs(a - b)))
    for a, b in zip(check_model.get_weights(), reference_model.get_weights(), strict=True)
)
print(f"one step, loop vs train_on_batch: max |weight difference| = {one_step_max_diff:.2g}")

# %% [markdown]
# ## The loop
# Per epoch: one pass over the training batches, then one over the validation set. Early
# stopping by hand: a validation loss counts as a new best when it is below the best so far by
# more than `MIN_DELTA`; keep the weights of the best epoch, stop after `PATIENCE` epochs
# without a new best and put the best weights back (what
# `keras.callbacks.EarlyStopping(patience=PATIENCE, min_delta=MIN_DELTA,
# restore_best_weights=True)` does).
# `keras.utils.Progbar` draws the progress bar: it counts training steps, advances by one
# epoch's steps after every epoch and shows that epoch's metrics.

# %%
history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
best_val_loss, best_epoch, best_weights = np.inf, 0, None
progbar = keras.utils.Progbar(
    EPOCHS * steps_per_epoch, interval=0.5, stateful_metrics=list(history)
)
for epoch in range(1, EPOCHS + 1):
    for metric in (train_loss, train_accuracy, val_loss, val_accuracy):
        metric.reset_state()
    for x, y in train_data:
        train_step(x, y)
    for x, y in val_data:
        val_step(x, y)

    results = {
        "loss": float(train_loss.result()),
        "accuracy": float(train_accuracy.result()),
        "val_loss": float(val_loss.result()),
        "val_accuracy": float(val_accuracy.result()),
    }
    for key, value in results.items():
        history[key].append(value)
    progbar.update(epoch * steps_per_epoch, values=list(results.items()))

    if results["val_loss"] < best_val_loss - MIN_DELTA:
        best_val_loss, best_epoch, best_weights = results["val_loss"], epoch, model.get_weights()
    elif epoch - best_epoch >= PATIENCE:
        progbar.update(epoch * steps_per_epoch, values=list(results.items()), finalize=True)
        print(f"early stopping after epoch {epoch}; best epoch {best_epoch}")
        break
model.set_weights(best_weights)
loop_epochs = len(history["loss"])

# The history as CSV, one row per epoch (the loop's CSVLogger), and the trained model.
with open(OUTPUT_DIR / "custom_loop_history.csv", "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["epoch", *history])
    rows = zip(*history.values(), strict=True)
    writer.writerows([epoch, *row] for epoch, row in enumerate(rows, start=1))
model.save(OUTPUT_DIR / "custom_loop_model.keras")

# %% [markdown]
# ## Check 2: the same task with `fit`
# Same architecture, same initial weights, same optimizer, batch size and early stopping; only
# the order of the mini-batches differs. The two test accuracies should agree within 2 points
# (7 of the 360 test digits): the claim test checks it for several seeds.

# %%
fit_model = make_model()
fit_model.set_weights(initial_weights)
fit_model.compile(
    optimizer=keras.optimizers.Adam(LEARNING_RATE), loss=loss_fn, metrics=["accuracy"]
)
fit_history = fit_model.fit(
    split.x_train,
    split.y_train,
    batch_size=BATCH_SIZE,
    epochs=EPOCHS,
    validation_data=(split.x_val, split.y_val),
    callbacks=[
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=PATIENCE, min_delta=MIN_DELTA, restore_best_weights=True
        )
    ],
    verbose=0,
).history
fit_epochs = len(fit_history["loss"])


loop_predicted = np.argmax(model.predict(split.x_test, verbose=0), axis=1)
fit_predicted = np.argmax(fit_model.predict(split.x_test, verbose=0), axis=1)
loop_test_accuracy = float(np.mean(loop_predicted == split.y_test))
fit_test_accuracy = float(np.mean(fit_predicted == split.y_test))
# Two different networks (other batch orders, other stopping epochs) can still agree on most
# test digits: count where they do not.
predictions_differing = int(np.sum(loop_predicted != fit_predicted))
print(
    f"test accuracy: custom loop {loop_test_accuracy:.4f} ({loop_epochs} epochs), "
    f"fit {fit_test_accuracy:.4f} ({fit_epochs} epochs); they disagree on "
    f"{predictions_differing} of {len(split.y_test)} test digits"
)

# %% [markdown]
# ## Figure: the loop and `fit`, side by side

# %%
use_course_style()
fig, ax = plt.subplots(figsize=(10, 5.6))
runs = [("custom loop", history, "C0"), ("fit", fit_history, "C1")]
for name, h, color in runs:
    epochs = np.arange(1, len(h["loss"]) + 1)
    best = int(np.argmin(h["val_loss"]))
    ax.semilogy(epochs, h["loss"], color=color, linestyle="--", label=f"{name}: training")
    ax.semilogy(epochs, h["val_loss"], color=color, label=f"{name}: validation")
    ax.plot(
        epochs[best],
        h["val_loss"][best],
        "o",
        color=color,
        markersize=9,
        label=f"{name}: best epoch {epochs[best]}",
    )
ax.set(
    xlabel="epoch",
    ylabel="cross-entropy (log scale)",
    title=f"Hand-written loop vs fit: test accuracy {loop_test_accuracy:.3f} vs "
    f"{fit_test_accuracy:.3f}",
)
ax.legend(ncol=2)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "one_step_max_weight_diff": one_step_max_diff,
    "loop_test_accuracy": loop_test_accuracy,
    "fit_test_accuracy": fit_test_accuracy,
    "accuracy_gap": abs(loop_test_accuracy - fit_test_accuracy),
    "test_predictions_differing": predictions_differing,
    "loop_epochs": loop_epochs,
    "loop_best_epoch": best_epoch,
    "loop_best_val_loss": float(best_val_loss),
    "fit_epochs": fit_epochs,
    "fit_best_val_loss": float(min(fit_history["val_loss"])),
    "loop_stopped_early": loop_epochs < EPOCHS,
    "fit_stopped_early": fit_epochs < EPOCHS,
}
for key, value in SUMMARY.items():
    print(f"{key:>26s}: {value:.4g}" if isinstance(value, float) else f"{key:>26s}: {value}")
