"""
A hyperparameter sweep that survives interruption
=================================================

A grid search over learning rate x width x L2 strength for an MLP on the digits, one training
run per configuration, each finished run appended at once as a row of a CSV file; started
again on the same folder, the sweep reads the file and skips every configuration already in it.

The figure shows the validation accuracy of every configuration as heatmaps, one panel per L2
strength, with learning rate and width on the axes and the best configuration framed; cells
not run yet are grey. Look for the learning rate too small for the training budget (left
column), the network too narrow for any learning rate to rescue (bottom row), and the price of
an L2 penalty in runs too short to overfit.

Try:
- Interrupt a sweep (Ctrl-C, or `MMA440_SWEEP_STOP_AFTER=5`) and start it again.
- Add a value to `WIDTHS`: only the new configurations are trained.
- Replace the grid by random search: draw `N` configurations (log-uniform learning rates) with
  `np.random.default_rng(SEED)`; the CSV and the resuming stay the same.
"""

# %%
import csv
import itertools
import os
import tempfile
import time
from pathlib import Path

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits
from common.plotting import use_course_style
from common.training import fit_fast

import keras
import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed. The CSV
# and the figure's data live in `OUTPUT_DIR`: the folder named by `MMA440_OUTPUT_DIR`, or else
# a fresh temporary folder (printed below). To resume a sweep, run again with the same folder.
# `MMA440_SWEEP_STOP_AFTER=k` stops the sweep after k new runs, as an interruption would.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))
OUTPUT_DIR = Path(os.environ.get("MMA440_OUTPUT_DIR") or tempfile.mkdtemp(prefix="mma440_"))
STOP_AFTER = int(os.environ.get("MMA440_SWEEP_STOP_AFTER", "0")) or None  # None: no stop

LEARNING_RATES = [1e-2] if SMOKE else [1e-3, 1e-2, 1e-1]
WIDTHS = [16] if SMOKE else [4, 16, 64]
L2_STRENGTHS = [0.0, 1e-2]
EPOCHS = 2 if SMOKE else 20
BATCH_SIZE = 128

OUTPUT_DIR = OUTPUT_DIR.resolve()
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
CSV_PATH = OUTPUT_DIR / "sweep.csv"
print(f"Output folder: {OUTPUT_DIR}")

# %% [markdown]
# ## One run
# A one-hidden-layer MLP with Keras' L2 penalty $\lambda \sum w^2$ (no 1/2) on both weight
# matrices, trained with Adam for `EPOCHS` epochs of mini-batches. `fit_fast` (from `common`)
# is `model.fit(..., epochs=EPOCHS, shuffle=True)` run as one compiled execution instead of
# `EPOCHS` separate ones, which saves Keras' per-epoch overhead, the bulk of the time of a
# model this small; `model.fit` works the same here, only slower. Each run re-seeds, so a
# configuration gives the same numbers whether it is trained in the first run of the sweep or
# in a resumed one.
#
# `evaluate` computes the mean cross-entropy $-\frac1n \sum_i \log p_\theta(y_i \mid x_i)$
# and the accuracy from one eager call of the model (the data sets are small). The
# configuration is chosen by the validation accuracy; the test set is used once, for the chosen
# configuration only.

# %%
split = load_digits(seed=SEED)


def train(learning_rate, width, l2):
    keras.utils.set_random_seed(SEED)
    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
    model = keras.Sequential(
        [
            keras.Input(shape=(split.x_train.shape[1],)),
            keras.layers.Dense(width, activation="relu", kernel_regularizer=regularizer),
            keras.layers.Dense(10, activation="softmax", kernel_regularizer=regularizer),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    # model.fit(split.x_train, split.y_train, epochs=EPOCHS, batch_size=BATCH_SIZE,
    #           shuffle=True), as one compiled execution
    fit_fast(
        model,
        split.x_train,
        split.y_train,
        epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        every=EPOCHS,
        seed=SEED,
    )
    return model


def evaluate(model, x, y):
    probabilities = keras.ops.convert_to_numpy(model(x, training=False))
    p_true = np.maximum(probabilities[np.arange(len(y)), y], 1e-12)
    return float(-np.mean(np.log(p_true))), float(np.mean(probabilities.argmax(axis=1) == y))


# %% [markdown]
# ## The results file
# One CSV row per finished run, written and flushed as soon as the run ends, so an interrupted
# sweep loses at most the run in progress. A configuration is identified by its three
# hyperparameters; the seed and the number of epochs are stored too, and a folder holding a sweep
# made with other settings is refused rather than mixed in.

# %%
FIELDS = [
    "learning_rate",
    "width",
    "l2",
    "seed",
    "epochs",
    "val_accuracy",
    "val_loss",
    "train_accuracy",
    "train_loss",
    "seconds",
]


def config_key(row):
    return (float(row["learning_rate"]), int(row["width"]), float(row["l2"]))


def read_results(path):
    """The finished runs in the CSV file, as dicts of strings (none if there is no file)."""
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if (int(row["seed"]), int(row["epochs"])) != (SEED, EPOCHS):
            raise ValueError(
                f"{path} holds runs with seed {row['seed']} and {row['epochs']} epochs, this "
                f"sweep uses seed {SEED} and {EPOCHS} epochs: choose another MMA440_OUTPUT_DIR"
            )
    return rows


def append_result(path, row):
    new_file = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        if new_file:
            writer.writeheader()
        writer.writerow(row)


# %% [markdown]
# ## The sweep

# %%
grid = list(itertools.product(LEARNING_RATES, WIDTHS, L2_STRENGTHS))
finished = {config_key(row) for row in read_results(CSV_PATH)}
todo = [config for config in grid if config not in finished]
runs_skipped = len(grid) - len(todo)
print(f"{len(grid)} configurations: {runs_skipped} already in {CSV_PATH.name}, {len(todo)} to run")

runs_done_now = 0
for learning_rate, width, l2 in todo:
    if STOP_AFTER is not None and runs_done_now >= STOP_AFTER:
        print(
            f"stopping after {runs_done_now} new runs (MMA440_SWEEP_STOP_AFTER): "
            f"run again with the same output folder to resume"
        )
        break
    start = time.perf_counter()
    model = train(learning_rate, width, l2)
    val_loss, val_accuracy = evaluate(model, split.x_val, split.y_val)
    train_loss, train_accuracy = evaluate(model, split.x_train, split.y_train)
    seconds = time.perf_counter() - start
    append_result(
        CSV_PATH,
        {
            "learning_rate": learning_rate,
            "width": width,
            "l2": l2,
            "seed": SEED,
            "epochs": EPOCHS,
            "val_accuracy": val_accuracy,
            "val_loss": val_loss,
            "train_accuracy": train_accuracy,
            "train_loss": train_loss,
            "seconds": round(seconds, 2),
        },
    )
    runs_done_now += 1
    print(
        f"[{runs_skipped + runs_done_now}/{len(grid)}] lr {learning_rate:g}, width {width}, "
        f"l2 {l2:g}: validation accuracy {val_accuracy:.4f} ({seconds:.1f} s)"
    )

# %% [markdown]
# ## Results
# Read back from the CSV file: it holds the runs of this session and of earlier ones (rows of
# configurations since removed from the grid are kept in the file but left out here). The best
# configuration is retrained (the same seed gives the same model) and evaluated once on the
# test set.

# %%
rows = read_results(CSV_PATH)
results = {config_key(row): float(row["val_accuracy"]) for row in rows}
results = {config: results[config] for config in grid if config in results}
best_config = max(results, key=results.get)
best_model = train(*best_config)
_, best_val_again = evaluate(best_model, split.x_val, split.y_val)
_, test_accuracy = evaluate(best_model, split.x_test, split.y_test)
print(
    f"best: lr {best_config[0]:g}, width {best_config[1]}, l2 {best_config[2]:g}: validation "
    f"accuracy {results[best_config]:.4f} (retrained: {best_val_again:.4f}), "
    f"test accuracy {test_accuracy:.4f}"
)

# %% [markdown]
# ## Figure: validation accuracy over the grid

# %%
use_course_style()
fig, axes = plt.subplots(
    1, len(L2_STRENGTHS), figsize=(5 * len(L2_STRENGTHS) + 1.5, 5.2), squeeze=False
)
for ax, l2 in zip(axes[0], L2_STRENGTHS, strict=True):
    table = np.full((len(WIDTHS), len(LEARNING_RATES)), np.nan)
    for i, width in enumerate(WIDTHS):
        for j, learning_rate in enumerate(LEARNING_RATES):
            table[i, j] = results.get((learning_rate, width, l2), np.nan)
    ax.set_facecolor("lightgray")  # cells not run yet
    image = ax.imshow(table, vmin=0.5, vmax=1.0, cmap="viridis", origin="lower")
    for i, j in itertools.product(range(len(WIDTHS)), range(len(LEARNING_RATES))):
        text = "not run" if np.isnan(table[i, j]) else f"{table[i, j]:.3f}"
        color = "black" if np.isnan(table[i, j]) or table[i, j] > 0.8 else "white"
        ax.text(j, i, text, ha="center", va="center", color=color, fontsize=12)
        if (LEARNING_RATES[j], WIDTHS[i], l2) == best_config:
            ax.add_patch(
                plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=3)
            )
    ax.set(
        xticks=range(len(LEARNING_RATES)),
        xticklabels=[f"{lr:g}" for lr in LEARNING_RATES],
        yticks=range(len(WIDTHS)),
        yticklabels=WIDTHS,
        xlabel="learning rate",
        ylabel="hidden units",
        title=f"L2 strength $\\lambda$ = {l2:g}",
    )
    ax.grid(False)
fig.colorbar(image, ax=axes[0].tolist(), label="validation accuracy (clipped at 0.5)")
fig.suptitle(
    f"Grid search, {len(results)} of {len(grid)} configurations done "
    f"(best framed in red, test accuracy {test_accuracy:.3f})"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
keys = [config_key(row) for row in rows]
SUMMARY = {
    "runs_total": len(grid),
    "runs_done_now": runs_done_now,
    "runs_skipped": runs_skipped,
    "csv_rows": len(rows),
    "unique_configs": len(set(keys)),
    "complete": set(grid) <= set(keys),
    "best_learning_rate": best_config[0],
    "best_width": best_config[1],
    "best_l2": best_config[2],
    "best_val_accuracy": results[best_config],
    "best_val_accuracy_retrained": float(best_val_again),
    "worst_val_accuracy": min(results.values()),
    "test_accuracy": float(test_accuracy),
}
for key, value in SUMMARY.items():
    print(f"{key:>28s}: {value:.4g}" if isinstance(value, float) else f"{key:>28s}: {value}")
