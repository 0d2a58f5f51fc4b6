"""Examples (end-to-end recipes): each recipe's claim, asserted on its SUMMARY and its files.

The examples write files (checkpoints, logs, the sweep's CSV) to the folder named by
MMA440_OUTPUT_DIR, so these tests pass that variable to the `run_script` fixture, which runs
each script from an empty working directory that must stay empty.
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.claims
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def run_example(run_script):
    def run(name: str, seed: int, files: Path, **env: str) -> dict:
        """Run examples/`name` in full mode with MMA440_OUTPUT_DIR=`files`; return the record."""
        env = {"MMA440_OUTPUT_DIR": str(files), **env}
        record = run_script(EXAMPLES / name, seed=seed, env=env)
        assert not record["written"], f"{name} wrote into its working directory"
        assert record["figures"], f"{name} showed no figure"
        return record

    return run


def test_01_training_pipeline(run_example, claim_seed, tmp_path):
    files = tmp_path / "files"
    # An empty Keras cache: MNIST is missing, the network is blocked, so the recipe must fall
    # back to the digits and say so (the loader itself is tested in the unit tests of common).
    record = run_example(
        "01_training_pipeline.py",
        claim_seed,
        files,
        KERAS_HOME=str(tmp_path / "keras_home"),
    )
    s = record["summary"]
    assert s["dataset"] == "digits" and s["fell_back_to_digits"] is True
    assert "Dataset: digits, NOT mnist" in record["stdout"]

    # The reloaded model gives identical predictions (measured: max |difference| 0, seeds 0-2).
    assert s["reload_identical"] is True and s["reload_max_abs_diff"] == 0.0
    assert (files / "final.keras").is_file()

    # The checkpoint holds the best epoch. The CSV log, read here independently, has one row per
    # epoch; its smallest validation loss is the one the checkpoint reproduces (measured: equal,
    # seeds 0-2; the threshold allows another float32 summation order).
    with open(files / "training_log.csv", newline="") as handle:
        val_loss = [float(row["val_loss"]) for row in csv.DictReader(handle)]
    assert len(val_loss) == s["epochs_run"] == s["log_rows"]
    best = min(val_loss)
    assert val_loss.index(best) + 1 == s["best_epoch"]
    assert abs(s["checkpoint_val_loss"] - best) <= 1e-5 * best
    # Training went on after the best epoch (so the checkpoint is not simply the last epoch):
    # early stopping fired PATIENCE epochs after it (measured: best epochs 36, 26, 30).
    assert s["stopped_early"] is True
    assert s["epochs_run"] == s["best_epoch"] + s["patience"]
    assert val_loss[-1] > best
    assert (files / "best.keras").is_file()

    # TensorBoard logs exactly when the tensorboard package is there.
    tensorboard = importlib.util.find_spec("tensorboard") is not None
    assert s["tensorboard_logged"] is tensorboard
    if tensorboard:
        assert list((files / "tensorboard").rglob("events.out.tfevents.*"))

    # The evaluation is consistent and the model learned (measured 0.969, 0.978, 0.978).
    assert abs(s["confusion_accuracy"] - s["test_accuracy"]) <= 1e-6
    assert s["test_accuracy"] >= 0.95


def test_02_custom_layer_and_model(run_example, claim_seed, tmp_path):
    files = tmp_path / "files"
    s = run_example("02_custom_layer_and_model.py", claim_seed, files)["summary"]
    # The save / load round trip reproduces the outputs exactly, with the custom classes and
    # the same configuration (measured: max |difference| 0, seeds 0-2).
    assert (files / "low_rank_mlp.keras").is_file()
    assert s["reloaded_class"] == "LowRankMLP" and s["reloaded_layer_class"] == "LowRankDense"
    assert s["config_equal"] is True
    assert s["outputs_identical"] is True and s["max_abs_output_diff"] == 0.0
    # The custom layer's own get_config / from_config: a Sequential model of the same trained
    # layers, saved and reloaded, rebuilds LowRankDense layers and gives the same outputs.
    assert (files / "low_rank_sequential.keras").is_file()
    assert s["sequential_layer_class"] == "LowRankDense"
    assert s["sequential_outputs_identical"] is True
    # The layer computes max(0, x U V + b): NumPy oracle (measured 0 to 2.4e-7), rank exactly r,
    # and r (d + m) + m parameters.
    assert s["layer_max_abs_diff_numpy"] <= 1e-5
    assert s["numerical_rank_layer_1"] == s["numerical_rank_layer_2"] == s["rank_bound"]
    r, d, m = s["rank_bound"], s["input_dim"], s["hidden_units_1"]
    assert s["params_layer_1"] == r * (d + m) + m
    # ... and the model learns (measured 0.953, 0.950, 0.961).
    assert s["test_accuracy"] >= 0.93


def test_03_custom_training_loop(run_example, claim_seed, tmp_path):
    files = tmp_path / "files"
    s = run_example("03_custom_training_loop.py", claim_seed, files)["summary"]
    # One step of the hand-written loop is one step of fit (measured: 0, seeds 0-2).
    assert s["one_step_max_weight_diff"] <= 1e-6
    # Both runs stop early, and the loop reaches fit's test accuracy within 2 points, 7 of the
    # 360 test digits (measured gaps 0, 0, 0 for seeds 0-2, with the two models disagreeing on
    # 2, 3, 6 digits; accuracies 0.967, 0.975, 0.969).
    assert s["loop_stopped_early"] is True and s["fit_stopped_early"] is True
    assert s["accuracy_gap"] <= 0.02
    assert min(s["loop_test_accuracy"], s["fit_test_accuracy"]) >= 0.94
    # The loop's history file has one row per epoch; the model was saved.
    with open(files / "custom_loop_history.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == s["loop_epochs"]
    assert (files / "custom_loop_model.keras").is_file()


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_04_hyperparameter_sweep(run_example, claim_seed, tmp_path):
    files = tmp_path / "files"
    stop_after = 5

    def sweep(stop: int) -> dict:
        # MMA440_SWEEP_STOP_AFTER=0 means: no interruption.
        return run_example(
            "04_hyperparameter_sweep.py",
            claim_seed,
            files,
            MMA440_SWEEP_STOP_AFTER=str(stop),
        )["summary"]

    # 1. An interrupted sweep: it stops after `stop_after` new runs.
    s = sweep(stop_after)
    total = s["runs_total"]
    assert total > stop_after
    assert (s["runs_done_now"], s["runs_skipped"]) == (stop_after, 0)
    assert s["csv_rows"] == s["unique_configs"] == stop_after and s["complete"] is False
    interrupted_text = (files / "sweep.csv").read_text()

    # 2. Started again on the same folder: it skips the finished runs and does the rest.
    s = sweep(0)
    assert (s["runs_done_now"], s["runs_skipped"]) == (total - stop_after, stop_after)
    assert s["csv_rows"] == s["unique_configs"] == total and s["complete"] is True
    complete_text = (files / "sweep.csv").read_text()
    # The finished rows were kept as they were, not redone.
    assert complete_text.startswith(interrupted_text)
    # The CSV, read here, has every configuration of the full grid exactly once.
    rows = _rows(files / "sweep.csv")
    keys = [(float(r["learning_rate"]), int(r["width"]), float(r["l2"])) for r in rows]
    assert len(keys) == len(set(keys)) == total
    rates, widths, strengths = ({key[i] for key in keys} for i in range(3))
    assert total == len(rates) * len(widths) * len(strengths)

    # 3. A third start finds nothing to do and leaves the file alone.
    s = sweep(0)
    assert (s["runs_done_now"], s["runs_skipped"]) == (0, total)
    assert (files / "sweep.csv").read_text() == complete_text

    # Re-seeding makes a run reproducible across processes, which is what makes resuming sound:
    # the best configuration, retrained in this third process, gets the validation accuracy
    # recorded by the second one again (measured equal, seeds 0-2; the bound allows one of the
    # 360 validation digits to flip).
    assert abs(s["best_val_accuracy_retrained"] - s["best_val_accuracy"]) <= 1.0 / 360 + 1e-9
    # The sweep is informative: the best configuration is good, the worst clearly worse
    # (measured best 0.961, 0.972, 0.981 and worst 0.283, 0.319, 0.264 for seeds 0-2).
    assert s["best_val_accuracy"] >= 0.93
    assert s["best_val_accuracy"] - s["worst_val_accuracy"] >= 0.3
