"""
A complete training pipeline: data, callbacks, evaluation, save and reload
==========================================================================

An MLP classifier for MNIST, trained with early stopping, a best-model checkpoint, a CSV log and
TensorBoard logs, then evaluated on the test set and saved and reloaded: the skeleton of most
homework solutions.

MNIST is read from the Keras cache (`$KERAS_HOME/datasets`, default `~/.keras/datasets`); where
it is not cached and cannot be downloaded, the recipe says so and runs on scikit-learn's 8x8
digits instead (`SUMMARY["dataset"]` says which one was used). Every file goes to `OUTPUT_DIR`.

The figure shows the training and validation loss per epoch with the checkpointed epoch and the
stopping epoch marked, the confusion matrix of the test set (rows: true class, columns:
predicted class) and the test images the model gets most wrong: those with the smallest
predicted probability of their true class. Look at which digits the off-diagonal counts pair
up, and whether the worst images would fool you too.

Try:
- Set `DATASET = "fashion_mnist"` (once its files are in the Keras cache).
- Set `PATIENCE = 1`: training stops earlier; is the checkpoint worse on the test set?
- Open the logs: `tensorboard --logdir OUTPUT_DIR/tensorboard`.
- Use your own data: replace the loader by `split = split_dataset(x, y, seed=SEED)` with images
  `x` of shape (n, height, width) in [0, 1] and integer labels `y`, and set `NUM_CLASSES`.
"""

# %%
import csv
import importlib.util
import os
import tempfile
from pathlib import Path

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_mnist
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.
# Every file this recipe writes goes to `OUTPUT_DIR`: the folder named by the environment
# variable `MMA440_OUTPUT_DIR`, or else a fresh temporary folder (printed below).

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))
OUTPUT_DIR = Path(os.environ.get("MMA440_OUTPUT_DIR") or tempfile.mkdtemp(prefix="mma440_"))

DATASET = "mnist"  # or "fashion_mnist"
NUM_CLASSES = 10
MAX_TRAIN = 1_000 if SMOKE else 20_000  # cap on the training examples (MNIST has 50,000)
HIDDEN_UNITS = 256
DROPOUT = 0.2
LEARNING_RATE = 3e-3
BATCH_SIZE = 64
EPOCHS = 2 if SMOKE else 100  # an upper bound: early stopping ends training before
PATIENCE = 5  # epochs without a better validation loss before training stops
N_WORST = 4 if SMOKE else 8  # worst-classified test images to show

OUTPUT_DIR = OUTPUT_DIR.resolve()
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
print(f"Output folder: {OUTPUT_DIR}")

# %% [markdown]
# ## Data
# `load_mnist` returns a `Split`: training, validation and test arrays. The validation part
# (for MNIST, 10,000 images held out of the official training set; for the digits, 20 % of
# them) steers early stopping and the checkpoint; the test part is used once, at the end.
# With `fallback_to_digits=True` a missing MNIST file gives scikit-learn's 8x8 digits (with a
# warning saying where to put the file); `split.name` tells which dataset the arrays hold.

# %%
keras.utils.set_random_seed(SEED)
split = load_mnist(DATASET, flatten=False, fallback_to_digits=True, seed=SEED)
if split.name == DATASET:
    print(f"Dataset: {DATASET} from the Keras cache.")
else:
    print(
        f"Dataset: {split.name}, NOT {DATASET}: {DATASET} is not in the Keras cache and could "
        f"not be downloaded, so this run uses scikit-learn's 8x8 digits instead."
    )
x_train, y_train = split.x_train[:MAX_TRAIN], split.y_train[:MAX_TRAIN]
x_val, y_val = split.x_val, split.y_val
x_test, y_test = split.x_test, split.y_test
image_shape = x_train.shape[1:]
print(f"training {x_train.shape}, validation {x_val.shape}, test {x_test.shape}")

# %% [markdown]
# ## Model
# A multilayer perceptron on the flattened image: $p_\theta(\cdot \mid x) =
# \operatorname{softmax}(W_2\, \mathrm{dropout}(\mathrm{relu}(W_1 x + b_1)) + b_2)$, trained
# on the mean cross-entropy $-\frac1n \sum_i \log p_\theta(y_i \mid x_i)$ with Adam.

# %%
model = keras.Sequential(
    [
        keras.Input(shape=image_shape),
        keras.layers.Flatten(),
        keras.layers.Dense(HIDDEN_UNITS, activation="relu"),
        keras.layers.Dropout(DROPOUT),
        keras.layers.Dense(NUM_CLASSES, activation="softmax"),
    ],
    name="mlp",
)
model.compile(
    optimizer=keras.optimizers.Adam(LEARNING_RATE),
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
model.summary()

# %% [markdown]
# ## Callbacks
# - `EarlyStopping` ends training after `PATIENCE` epochs without a lower validation loss and
#   puts back the weights of the best epoch (`restore_best_weights=True`).
# - `ModelCheckpoint` saves the whole model (architecture, weights, optimizer state) to a
#   `.keras` file whenever the validation loss reaches a new minimum, so the file holds the
#   best epoch even if the program is stopped half-way.
# - `CSVLogger` writes one row per epoch (losses and metrics) to a CSV file.
# - `TensorBoard` writes event files for `tensorboard --logdir ...`; it needs the `tensorboard`
#   package (`pip install tensorboard`), so it is skipped, with a message, where that is missing.

# %%
checkpoint_path = OUTPUT_DIR / "best.keras"
log_path = OUTPUT_DIR / "training_log.csv"
tensorboard_dir = OUTPUT_DIR / "tensorboard"
callbacks = [
    keras.callbacks.EarlyStopping(monitor="val_loss", patience=PATIENCE, restore_best_weights=True),
    keras.callbacks.ModelCheckpoint(checkpoint_path, monitor="val_loss", save_best_only=True),
    keras.callbacks.CSVLogger(log_path),
]
tensorboard_available = importlib.util.find_spec("tensorboard") is not None
if tensorboard_available:
    callbacks.append(keras.callbacks.TensorBoard(log_dir=tensorboard_dir))
else:
    print("TensorBoard logs skipped: the `tensorboard` package is not installed.")

# %% [markdown]
# ## Training

# %%
history = model.fit(
    x_train,
    y_train,
    batch_size=BATCH_SIZE,
    epochs=EPOCHS,
    validation_data=(x_val, y_val),
    callbacks=callbacks,
    verbose=2,
)
epochs_run = len(history.history["loss"])

# %% [markdown]
# ## Does the checkpoint hold the best epoch?
# The CSV log is an independent record of every epoch: its smallest validation loss must be the
# validation loss of the model stored in `best.keras`.

# %%
with open(log_path, newline="") as handle:
    log_rows = list(csv.DictReader(handle))
logged_val_loss = np.array([float(row["val_loss"]) for row in log_rows])
best_epoch = int(np.argmin(logged_val_loss)) + 1  # 1-based, as Keras prints epochs

checkpoint = keras.models.load_model(checkpoint_path)
checkpoint_val_loss, _ = checkpoint.evaluate(x_val, y_val, batch_size=BATCH_SIZE, verbose=0)
print(
    f"best epoch {best_epoch} of {epochs_run}: logged validation loss "
    f"{logged_val_loss.min():.6f}, checkpoint's {checkpoint_val_loss:.6f}"
)

# %% [markdown]
# ## Evaluation on the test set
# The confusion matrix $C_{jk}$ counts the test images of true class $j$ predicted as class $k$;
# its trace divided by the number of images is the accuracy. The worst-classified images are
# those with the smallest predicted probability $p_\theta(y \mid x)$ of their true class $y$.

# %%
test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=BATCH_SIZE, verbose=0)
probabilities = model.predict(x_test, batch_size=BATCH_SIZE, verbose=0)
predicted = probabilities.argmax(axis=1)
confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=int)
np.add.at(confusion, (y_test, predicted), 1)
confusion_accuracy = np.trace(confusion) / confusion.sum()
p_true = probabilities[np.arange(len(y_test)), y_test]
worst = np.argsort(p_true)[:N_WORST]
print(f"test accuracy {test_accuracy:.4f} (from the confusion matrix: {confusion_accuracy:.4f})")

# %% [markdown]
# ## Save and load
# `model.save` writes one `.keras` file (a zip of the config, the weights and the optimizer
# state); `keras.models.load_model` rebuilds the model from it. The reloaded model must give
# the same predictions, bit for bit.

# %%
final_path = OUTPUT_DIR / "final.keras"
model.save(final_path)
reloaded = keras.models.load_model(final_path)
reloaded_probabilities = reloaded.predict(x_test, batch_size=BATCH_SIZE, verbose=0)
reload_max_abs_diff = float(np.max(np.abs(reloaded_probabilities - probabilities)))
print(f"saved {final_path.name}; reloaded predictions differ by at most {reload_max_abs_diff:g}")
print("files written:", ", ".join(sorted(path.name for path in OUTPUT_DIR.iterdir())))

# %% [markdown]
# ## Figure: curves, confusion matrix, worst images

# %%
use_course_style()
fig = plt.figure(figsize=(15, 10))
grid = fig.add_gridspec(2, N_WORST, height_ratios=[2.6, 1])
ax_loss = fig.add_subplot(grid[0, : N_WORST // 2])
ax_conf = fig.add_subplot(grid[0, N_WORST // 2 :])

epoch = np.arange(1, epochs_run + 1)
ax_loss.semilogy(epoch, history.history["loss"], label="training loss")
ax_loss.semilogy(epoch, history.history["val_loss"], label="validation loss")
ax_loss.axvline(best_epoch, color="gray", linestyle="--", label=f"checkpoint (epoch {best_epoch})")
ax_loss.axvline(epochs_run, color="black", linestyle=":", label=f"stopped (epoch {epochs_run})")
ax_loss.set(
    xlabel="epoch",
    ylabel="cross-entropy (log scale)",
    title="Early stopping on the validation loss",
)
ax_loss.legend()

ax_conf.imshow(confusion, cmap="Blues")
for j in range(NUM_CLASSES):
    for k in range(NUM_CLASSES):
        if confusion[j, k]:
            color = "white" if confusion[j, k] > confusion.max() / 2 else "black"
            ax_conf.text(k, j, confusion[j, k], ha="center", va="center", color=color, fontsize=10)
ax_conf.set(
    xlabel="predicted class",
    ylabel="true class",
    xticks=range(NUM_CLASSES),
    yticks=range(NUM_CLASSES),
    title=f"Test confusion matrix (accuracy {test_accuracy:.3f})",
)
ax_conf.grid(False)

for column, index in enumerate(worst):
    ax = fig.add_subplot(grid[1, column])
    ax.imshow(x_test[index], cmap="gray_r")
    ax.set_title(
        f"true {y_test[index]}, predicted {predicted[index]}\np(true) = {p_true[index]:.2g}",
        fontsize=11,
    )
    ax.axis("off")
fallback_note = f" ({DATASET} not cached)" if split.name != DATASET else ""
fig.suptitle(
    f"Training pipeline on {split.name}{fallback_note}: MLP, {len(x_train)} training images; "
    f"below, the {N_WORST} worst-classified test images"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "dataset": split.name,
    "fell_back_to_digits": split.name != DATASET,
    "n_train": len(x_train),
    "epochs_run": epochs_run,
    "stopped_early": epochs_run < EPOCHS,
    "patience": PATIENCE,
    "best_epoch": best_epoch,
    "best_logged_val_loss": float(logged_val_loss.min()),
    "last_logged_val_loss": float(logged_val_loss[-1]),
    "checkpoint_val_loss": float(checkpoint_val_loss),
    "log_rows": len(log_rows),
    "test_accuracy": float(test_accuracy),
    "confusion_accuracy": float(confusion_accuracy),
    "worst_p_true": float(p_true[worst[0]]),
    "reload_max_abs_diff": reload_max_abs_diff,
    "reload_identical": bool(np.array_equal(reloaded_probabilities, probabilities)),
    "tensorboard_logged": tensorboard_available,
}
for key, value in SUMMARY.items():
    print(f"{key:>22s}: {value:.4g}" if isinstance(value, float) else f"{key:>22s}: {value}")
