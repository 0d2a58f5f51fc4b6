"""
The sweep of example 04 with KerasTuner
=======================================

The search of `04_hyperparameter_sweep.py` (learning rate x width x L2 strength of an MLP on
the digits) run by KerasTuner's `RandomSearch`: the tuner draws configurations, keeps its state
in a project folder, resumes an interrupted search without re-running a finished trial, and
distributes trials over worker processes with no code change.

The figure shows the validation accuracy of every finished trial in the order the trials were
drawn, coloured by learning rate, with the best trial marked; beside it the same trials on the
grid of example 04 (learning rate across, width up, one panel per L2 strength). Look for the
same pattern as in example 04: the small learning rate too slow for the training budget, the
narrow network too weak, and each configuration scoring exactly what it scores in example 04,
because `DigitsMLP` repeats example 04's training code (a copy: the same model, optimizer,
`fit_fast` call and seed).

Try:
- Interrupt a search (Ctrl-C, or `MMA440_TUNER_STOP_AFTER=3`) and run again with the same
  `MMA440_OUTPUT_DIR`: the finished trials are not run again; the interrupted one is.
- Set `MAX_TRIALS = 18`: the random search reaches most of example 04's grid (it gives up
  after more than 20 draws in a row hit configurations already tried).
- Replace `hp.Choice("learning_rate", ...)` by `hp.Float("learning_rate", 1e-3, 1e-1,
  sampling="log")`: the search leaves example 04's grid (its trials appear in grey on the
  left, and the grid panels stay empty), and it may find a better rate between the grid's.
- Distribute the search (see `examples/README.md`): one chief and two workers on 127.0.0.1.
"""

# %%
import faulthandler
import json
import os
import tempfile
import time
from multiprocessing.connection import Listener
from pathlib import Path

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits
from common.plotting import use_course_style
from common.training import fit_fast

import keras
import keras_tuner
import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` runs one short trial; `MMA440_SEED` changes the seed (of the data split,
# of every model's initial weights and, as `SEED + 1`, of the tuner's draws). The tuner's
# project folder is `OUTPUT_DIR/keras_tuner_search`; run again with the same
# `MMA440_OUTPUT_DIR` to resume.
# `MMA440_TUNER_STOP_AFTER=k` interrupts the search after k finished trials, as Ctrl-C would.
#
# Distributed search: KerasTuner reads three environment variables. `KERASTUNER_TUNER_ID`
# names the process (`chief` for the one that holds the oracle, any other name for a worker),
# `KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT` give the chief's address. All processes
# share the folder `OUTPUT_DIR`. `MMA440_TUNER_TIMEOUT` (seconds) bounds a distributed
# process, which would otherwise wait up to an hour for a chief that is not there.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))
OUTPUT_DIR = Path(os.environ.get("MMA440_OUTPUT_DIR") or tempfile.mkdtemp(prefix="mma440_"))
STOP_AFTER = int(os.environ.get("MMA440_TUNER_STOP_AFTER", "0")) or None  # None: no stop
TIMEOUT = float(os.environ.get("MMA440_TUNER_TIMEOUT", "600"))

# The search space of example 04 (its SMOKE grid in smoke mode).
LEARNING_RATES = [1e-2] if SMOKE else [1e-3, 1e-2, 1e-1]
WIDTHS = [16] if SMOKE else [4, 16, 64]
L2_STRENGTHS = [0.0, 1e-2]
EPOCHS = 2 if SMOKE else 20
BATCH_SIZE = 128
MAX_TRIALS = 1 if SMOKE else 10  # of 2 (smoke) or 18 configurations

if MAX_TRIALS > len(LEARNING_RATES) * len(WIDTHS) * len(L2_STRENGTHS):
    raise ValueError(f"MAX_TRIALS = {MAX_TRIALS} exceeds the number of configurations")
if STOP_AFTER is not None and STOP_AFTER < 0:
    raise ValueError(f"MMA440_TUNER_STOP_AFTER = {STOP_AFTER}: use 0 (no stop) or k > 0")
TUNER_ID = os.environ.get("KERASTUNER_TUNER_ID", "tuner0")
DISTRIBUTED = "KERASTUNER_ORACLE_IP" in os.environ
ROLE = ("chief" if TUNER_ID == "chief" else "worker") if DISTRIBUTED else "alone"
OUTPUT_DIR = OUTPUT_DIR.resolve()
RUNS_DIR = OUTPUT_DIR / "keras_tuner_search_runs"  # one file per finished trial, ours
RUNS_DIR.mkdir(parents=True, exist_ok=True)
print(f"Output folder: {OUTPUT_DIR} ({ROLE}, tuner id {TUNER_ID})")

# %% [markdown]
# ## The hypermodel
# `build(hp)` declares the search space as it builds the model: each `hp.Choice` is a
# hyperparameter with its values (KerasTuner records them on first use). `fit` trains the
# model built by `build` exactly as example 04's `train` does: the same MLP, Adam, Keras' L2
# penalty $\lambda \sum w^2$ on both weight matrices, `EPOCHS` epochs through `fit_fast` (one
# compiled execution of `model.fit(..., epochs=EPOCHS, shuffle=True)`), re-seeded before the
# model is built (a copy of 04's code, so that each script stands alone). It returns the
# objective as a dict, which KerasTuner records for the trial: the validation accuracy (a name
# ending in "accuracy", so the tuner maximizes it). It ignores the callbacks KerasTuner passes,
# among them the one that saves each trial's weights: `tuner.get_best_models()` then finds no
# checkpoint (`FileNotFoundError`), and the script retrains the best configuration instead.

# %%
split = load_digits(seed=SEED)


def evaluate(model, x, y):
    probabilities = keras.ops.convert_to_numpy(model(x, training=False))
    p_true = np.maximum(probabilities[np.arange(len(y)), y], 1e-12)
    return float(-np.mean(np.log(p_true))), float(np.mean(probabilities.argmax(axis=1) == y))


class DigitsMLP(keras_tuner.HyperModel):
    def build(self, hp):
        learning_rate = hp.Choice("learning_rate", LEARNING_RATES)
        width = hp.Choice("width", WIDTHS)
        l2 = hp.Choice("l2", L2_STRENGTHS)
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
        return model

    def fit(self, hp, model, *args, **kwargs):
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
        val_loss, val_accuracy = evaluate(model, split.x_val, split.y_val)
        return {"val_accuracy": val_accuracy, "val_loss": val_loss}


# %% [markdown]
# ## The tuner
# `RandomSearch` draws each trial's configuration uniformly from the space, never one already
# tried, until `MAX_TRIALS` trials are done. Its state (the oracle) and every trial live in
# `OUTPUT_DIR/keras_tuner_search`. With `overwrite=False`, a tuner created on an existing
# folder reloads that state: finished trials stay finished, a trial that was running when the
# search stopped is run again. Subclassing `run_trial` adds one thing KerasTuner does not
# keep: a file per finished trial in `keras_tuner_search_runs/`, naming the process that ran
# it, so that one can check which trials ran where, and how often. As in example 04, a folder
# holding trials made with another seed or number of epochs is refused rather than mixed.


# %%
class SearchInterrupted(KeyboardInterrupt):
    """Raised after MMA440_TUNER_STOP_AFTER trials, in the middle of the search, as Ctrl-C."""


class LoggedRandomSearch(keras_tuner.RandomSearch):
    finished_here = 0

    def run_trial(self, trial, *args, **kwargs):
        if STOP_AFTER is not None and self.finished_here >= STOP_AFTER:
            raise SearchInterrupted(f"stopped after {STOP_AFTER} trials (MMA440_TUNER_STOP_AFTER)")
        start = time.perf_counter()
        results = super().run_trial(trial, *args, **kwargs)
        record = {
            "trial_id": trial.trial_id,
            "tuner_id": self.tuner_id,
            "process": os.getpid(),
            "seed": SEED,
            "epochs": EPOCHS,
            **trial.hyperparameters.values,
            **results[0],
            "seconds": round(time.perf_counter() - start, 2),
        }
        path = RUNS_DIR / f"trial_{trial.trial_id}_{self.tuner_id}_{os.getpid()}.json"
        path.write_text(json.dumps(record) + "\n")
        self.finished_here += 1
        print(
            f"trial {trial.trial_id} ({self.tuner_id}): lr {record['learning_rate']:g}, width "
            f"{record['width']}, l2 {record['l2']:g}: validation accuracy "
            f"{record['val_accuracy']:.4f} ({record['seconds']:.1f} s)"
        )
        return results


def check_folder(runs_dir):
    """Refuse a folder whose trials were trained with another seed or number of epochs."""
    for path in sorted(runs_dir.glob("*.json")):
        run = json.loads(path.read_text())
        if (run["seed"], run["epochs"]) != (SEED, EPOCHS):
            raise ValueError(
                f"{path} is a trial with seed {run['seed']} and {run['epochs']} epochs, this "
                f"search uses seed {SEED} and {EPOCHS} epochs: choose another MMA440_OUTPUT_DIR"
            )


check_folder(RUNS_DIR)
tuner = LoggedRandomSearch(
    DigitsMLP(),
    objective="val_accuracy",
    max_trials=MAX_TRIALS,
    seed=SEED + 1,  # KerasTuner reads seed=0 as "no seed" and draws one at random
    overwrite=False,
    directory=OUTPUT_DIR,
    project_name="keras_tuner_search",
)

# %% [markdown]
# ## The search
# In a distributed search the chief's `search` serves the oracle to the workers until they are
# done; each worker's `search` asks the chief for trials and runs them. A process whose peer
# never answers would wait for an hour (KerasTuner's gRPC timeout): `faulthandler`'s watchdog
# stops it after `TIMEOUT` seconds instead, printing where it waited. The chief first checks
# that no other server (an earlier chief) listens on its port, which gRPC would share.

# %%
if DISTRIBUTED:
    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ.get('KERASTUNER_ORACLE_PORT')}"
    print(
        f"{TUNER_ID}: distributed search, oracle at {address}; if the search is not over in "
        f"{TIMEOUT:g} s (a chief that is not running, a worker that died), this process stops",
        flush=True,
    )
    faulthandler.dump_traceback_later(TIMEOUT, exit=True)
if ROLE == "chief":
    # KerasTuner's gRPC server shares a port (SO_REUSEPORT): a second chief on the port of a
    # first one, left over or another user's, binds without error, and the workers' trials go
    # to either oracle. A plain listening socket on the same address (127.0.0.1 here) does not
    # share: if it cannot bind, the port is taken, and the chief stops before serving.
    oracle_address = (os.environ["KERASTUNER_ORACLE_IP"], int(os.environ["KERASTUNER_ORACLE_PORT"]))
    try:
        Listener(oracle_address).close()
    except OSError as error:
        raise RuntimeError(
            f"chief: the oracle's address {address} is in use ({error.strerror}): another "
            "chief (an earlier search still running?) or another program listens there; stop "
            "it or choose another KERASTUNER_ORACLE_PORT"
        ) from error
interrupted = True  # until the search returns: also after a real Ctrl-C (KeyboardInterrupt)
try:
    tuner.search(verbose=0)
    interrupted = False
except SearchInterrupted as stop:
    print(f"{stop}: run again with the same output folder to resume")
    interrupted = True
finally:
    if DISTRIBUTED:
        faulthandler.cancel_dump_traceback_later()

# %% [markdown]
# ## Results
# Read back from the run files: the trials of this session and of earlier ones (in a
# distributed search, of every process). The chief (or a process searching alone) also asks
# the oracle for its count of finished trials and prints KerasTuner's own summary. The best
# configuration is retrained (the same seed gives the same model) and evaluated once on the
# test set.

# %%
runs = [json.loads(path.read_text()) for path in sorted(RUNS_DIR.glob("*.json"))]
runs.sort(key=lambda run: run["trial_id"])
trial_ids = [run["trial_id"] for run in runs]
if ROLE != "worker":
    completed = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    oracle_ids = sorted(t.trial_id for t in completed)
    tuner.results_summary(num_trials=MAX_TRIALS)  # every trial, best first
    # How often the oracle ended each trial: 1, unless a failed trial was retried
    # (max_retries_per_trial) and so ran more than once (a private attribute of the oracle).
    max_runs_per_trial = max(tuner.oracle._run_times.values(), default=0)
else:  # a worker's oracle is the chief's, which may have stopped already
    oracle_ids, max_runs_per_trial = [], 0
best = max(runs, key=lambda run: run["val_accuracy"]) if runs else None
if best is not None:
    hp = keras_tuner.HyperParameters()
    for name in ("learning_rate", "width", "l2"):
        hp.values[name] = best[name]
    best_model = DigitsMLP().build(hp)
    DigitsMLP().fit(hp, best_model)
    _, best_val_again = evaluate(best_model, split.x_val, split.y_val)
    _, test_accuracy = evaluate(best_model, split.x_test, split.y_test)
    print(
        f"best: trial {best['trial_id']}, lr {best['learning_rate']:g}, width {best['width']}, "
        f"l2 {best['l2']:g}: validation accuracy {best['val_accuracy']:.4f} (retrained: "
        f"{best_val_again:.4f}), test accuracy {test_accuracy:.4f}"
    )

# %% [markdown]
# ## Figure: the trials, in order and on example 04's grid

# %%
use_course_style()
fig, axes = plt.subplots(
    1, 1 + len(L2_STRENGTHS), figsize=(6 + 4.5 * len(L2_STRENGTHS), 5.2), squeeze=False
)
ax = axes[0, 0]
on_grid = [
    run["learning_rate"] in LEARNING_RATES and run["width"] in WIDTHS and run["l2"] in L2_STRENGTHS
    for run in runs
]
for k, learning_rate in enumerate(LEARNING_RATES):
    chosen = [i for i, run in enumerate(runs) if run["learning_rate"] == learning_rate]
    ax.plot(
        chosen,
        [runs[i]["val_accuracy"] for i in chosen],
        "o",
        color=f"C{k}",
        ms=9,
        label=f"learning rate {learning_rate:g}",
    )
others = [i for i, run in enumerate(runs) if run["learning_rate"] not in LEARNING_RATES]
if others:  # e.g. after replacing the Choice of learning rates by a Float
    ax.plot(
        others, [runs[i]["val_accuracy"] for i in others], "o", color="gray", label="other rates"
    )
if best is not None:
    ax.plot(runs.index(best), best["val_accuracy"], "s", ms=18, mfc="none", mec="red", mew=2.5)
ax.set(
    xlabel="trial (in the order drawn)",
    ylabel="validation accuracy",
    title=f"{len(runs)} of {MAX_TRIALS} trials finished",
    ylim=(0, 1.02),
    xticks=range(len(runs)),
    xticklabels=trial_ids,
)
ax.legend(loc="lower right")
table_axes = axes[0, 1:]
for ax, l2 in zip(table_axes, L2_STRENGTHS, strict=True):
    table = np.full((len(WIDTHS), len(LEARNING_RATES)), np.nan)
    for run, on in zip(runs, on_grid, strict=True):
        if on and run["l2"] == l2:
            i, j = WIDTHS.index(run["width"]), LEARNING_RATES.index(run["learning_rate"])
            table[i, j] = run["val_accuracy"]
    ax.set_facecolor("lightgray")  # configurations not drawn
    image = ax.imshow(table, vmin=0.5, vmax=1.0, cmap="viridis", origin="lower")
    for i in range(len(WIDTHS)):
        for j in range(len(LEARNING_RATES)):
            text = "not drawn" if np.isnan(table[i, j]) else f"{table[i, j]:.3f}"
            color = "black" if np.isnan(table[i, j]) or table[i, j] > 0.8 else "white"
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=11)
    if best is not None and on_grid[runs.index(best)] and best["l2"] == l2:
        i, j = WIDTHS.index(best["width"]), LEARNING_RATES.index(best["learning_rate"])
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
fig.colorbar(image, ax=table_axes.tolist(), label="validation accuracy (clipped at 0.5)")
fig.suptitle(
    f"KerasTuner RandomSearch over example 04's grid (best framed in red; process: {ROLE})"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "role": ROLE,
    "max_trials": MAX_TRIALS,
    "interrupted": interrupted,
    "trials_run_now": tuner.finished_here,  # by this process
    "runs_total": len(runs),
    "unique_trials": len(set(trial_ids)),
    "unique_configs": len({(r["learning_rate"], r["width"], r["l2"]) for r in runs}),
    "oracle_completed": len(oracle_ids),
    "oracle_matches_runs": oracle_ids == sorted(set(trial_ids)),
    "max_runs_per_trial": max_runs_per_trial,  # by the oracle's count (0 on a worker)
    "best_trial": best["trial_id"] if best else "",
    "best_learning_rate": best["learning_rate"] if best else float("nan"),
    "best_width": best["width"] if best else 0,
    "best_l2": best["l2"] if best else float("nan"),
    "best_val_accuracy": best["val_accuracy"] if best else float("nan"),
    "best_val_accuracy_retrained": best_val_again if best else float("nan"),
    "worst_val_accuracy": min(r["val_accuracy"] for r in runs) if runs else float("nan"),
    "test_accuracy": test_accuracy if best else float("nan"),
}
for key, value in SUMMARY.items():
    print(f"{key:>28s}: {value:.4g}" if isinstance(value, float) else f"{key:>28s}: {value}")
