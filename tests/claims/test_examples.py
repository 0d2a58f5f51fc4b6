"""Examples (end-to-end recipes): each recipe's claim, asserted on its SUMMARY and its files.

The examples write files (checkpoints, logs, the sweep's CSV) to the folder named by
MMA440_OUTPUT_DIR, so these tests pass that variable to the `run_script` fixture, which runs
each script from an empty working directory that must stay empty.
"""

from __future__ import annotations

import csv
import importlib.util
import re
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
    # One step of the hand-written loop is one step of fit (measured: 0 for seeds 0-9).
    assert s["one_step_max_weight_diff"] <= 1e-6
    # Both runs stop early (before the 200-epoch bound: measured 29 / 70 epochs for the loop,
    # 29 / 94 for fit, seeds 0-9), and the loop reaches fit's test accuracy within 2 points, 7
    # of the 360 test digits: the runs differ only in the order of the mini-batches (measured
    # gaps 0 / 0.011, accuracies 0.964 / 0.992, seeds 0-9).
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


# --- 05: data parallelism -------------------------------------------------------------------
# Measured over seeds 0-9 with `python -m common.run examples/05_data_parallel_training.py
# --seed N` (full mode): the values quoted below.
UNIT_ROUNDOFF = 2.0**-24  # float32


def test_05_data_parallel_training(run_example, claim_seed, tmp_path):
    files = tmp_path / "files"
    s = run_example("05_data_parallel_training.py", claim_seed, files)["summary"]
    assert (s["replicas"], s["global_batch"]) == (2, 2 * s["per_replica_batch"])
    # The two workers apply the same all-reduced gradient to equal copies: bit for bit equal
    # (measured 0, seeds 0-9).
    assert s["max_diff_workers_to_each_other"] == 0.0
    # One device: Keras' fit and the custom loop with the default strategy are the same SGD
    # (measured 0, seeds 0-9).
    assert s["max_diff_fit_to_loop"] == 0.0
    # Two replicas of batch b against one device with batch 2b, after k = STEPS = 40 steps.
    # Gradient: the all-reduce adds two partial sums where one device adds the 2b = 128 terms
    # in its own order. The worst case of two orders, 2 (n - 1) u sum|x_i| (Higham 2002, 4.2),
    # is about 254 u times the sum of absolute values, a useless bound; rounding errors of
    # random sign add up to a few u of the largest entry: measured c = 3.5-7.0 u (seeds 0-9)
    # for the mean of the replicas' gradients against the one-device gradient (bound 16 u).
    # Weights: each step adds eta * (that gradient difference) and the rounding of the update,
    # and at eta = 0.2 over 40 steps the dynamics do not amplify (see the script), so after k
    # steps |dw| <= k eta c u max|g| + ulp(max|w|) = 40 * 0.2 * 7 u * 0.15 + 2 u * 0.6, about
    # 14 u max|w| + 2 u max|w| = 16 u max|w| (max|g| ~ 0.15, max|w| ~ 0.6): bound 16 u max|w|.
    # Measured 1.7-3.2 u max|w| (the mirrored run, both workers and fit under MirroredStrategy
    # give the same value; max|w| 0.59-0.68), the errors partly cancelling. Losses: measured
    # 1.7-1.8 u times the first loss (a sum of the same 128 terms, rounded in another order);
    # bound 16 u.
    bound = 16 * UNIT_ROUNDOFF
    for key in ("max_diff_mirrored", "max_diff_worker0", "max_diff_worker1"):
        assert s[key] <= bound * s["max_abs_weight"], key
    assert s["max_diff_fit_mirrored"] <= bound * s["max_abs_weight"]
    assert s["mean_gradient_rel_diff"] <= bound
    for key in ("max_loss_diff_mirrored", "max_loss_diff_workers"):
        assert s[key] <= bound * s["loss_first"], key
    # ... while the replicas' own gradients differ by a sampling error of order one: each is a
    # mean over b = 64 examples, E||g_1 - g_2||^2 ~ 2 tr(Sigma) / b, which at the random
    # initial weights is comparable to ||g||^2. Measured ||g_1 - g_2|| / ||g|| = 0.87-1.26 over
    # seeds 0-9 (a norm over 2,400 weights); bound 0.6, below the smallest by a third, far
    # above 0 (the value if the replicas saw the same examples).
    assert s["replica_gradient_spread"] >= 0.6
    # Training moved: loss_last / loss_first measured 0.34-0.41 over seeds 0-9; bound 0.5.
    assert s["loss_last"] <= 0.5 * s["loss_first"]
    for name in ("worker.py", "inputs.npz", "mirrored.npz", "worker0.npz", "worker1.npz"):
        assert (files / "data_parallel" / name).is_file(), name


def _processes_running(text: str) -> dict[int, str]:
    """Process id -> command line of the live processes whose command line contains `text`."""
    found = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in command:
            found[int(cmdline.parent.name)] = command
    return found


def _run_smoke(script: str, files: Path, timeout: float, **env: str):
    """Run an example in smoke mode as `python PATH`, outputs in `files`, with extra
    environment variables; return the finished process and its wall time."""
    import os
    import subprocess
    import sys
    import time

    full_env = {
        **os.environ,
        "MMA440_SMOKE": "1",
        "MMA440_OUTPUT_DIR": str(files),
        "MPLBACKEND": "Agg",
        **env,
    }
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=files.parent,
    )
    return result, time.monotonic() - start


def _run_05(files: Path, timeout: float, **env: str):
    return _run_smoke("05_data_parallel_training.py", files, timeout, **env)


# The bad-input runs start three TensorFlow processes each (about 4 s of CPU time each); on a
# shared 2-core machine that took up to 65 s. A hang would instead be stopped by `timeout`.
BAD_INPUT_SECONDS = 240


def test_05_a_dying_worker_stops_the_run_with_its_message(tmp_path):
    files = tmp_path / "files"
    result, _ = _run_05(files, BAD_INPUT_SECONDS, MMA440_DP_FAIL_WORKER="1")
    assert result.returncode != 0
    assert "worker1 exited with status 1; the other processes were stopped" in result.stderr
    assert "worker crashed on purpose after step 1" in result.stderr  # the worker's own log
    # (That message, not run_children's TimeoutError, proves the run stopped at the crash; a
    # hang would end in subprocess.TimeoutExpired after BAD_INPUT_SECONDS.)
    assert not _processes_running(str(files / "data_parallel" / "worker.py"))


def test_05_children_exit_when_the_script_is_killed(tmp_path):
    """SIGKILL runs no `finally`: the children notice that their parent is gone and exit."""
    import os
    import signal
    import subprocess
    import sys
    import time

    files = tmp_path / "files"
    worker = str(files / "data_parallel" / "worker.py")
    env = {**os.environ, "MMA440_SMOKE": "1", "MMA440_OUTPUT_DIR": str(files), "MPLBACKEND": "Agg"}
    script = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "05_data_parallel_training.py")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    children = {}
    try:
        deadline = time.monotonic() + BAD_INPUT_SECONDS
        while not children and script.poll() is None and time.monotonic() < deadline:
            children = _processes_running(worker)  # the mirrored child, once it is started
            time.sleep(0.2)
        assert children, "the script started no child"
        script.send_signal(signal.SIGKILL)
        script.wait()
        # Each child polls its parent every second; one still importing TensorFlow checks once
        # it has (seconds on a busy machine). The mirrored child's watchdog would end it only
        # after MMA440_DP_TIMEOUT = 120 s.
        deadline = time.monotonic() + 60
        while _processes_running(worker) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = _processes_running(worker)
        assert not left, f"children outlived the script: {left}"
    finally:
        if script.poll() is None:
            script.kill()
            script.wait()
        for pid in _processes_running(worker):  # only processes of this test's worker.py
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_05_a_busy_port_and_a_tf_config_pointing_nowhere(tmp_path):
    import json
    import os
    import socket
    import subprocess
    import sys
    import time

    files = tmp_path / "files"
    with socket.socket() as busy, socket.socket() as free:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        free.bind(("127.0.0.1", 0))
        ports = [busy.getsockname()[1], free.getsockname()[1]]
        free.close()
        # 1. Worker 0's port is taken: it cannot start its server and says so.
        result, _ = _run_05(files, BAD_INPUT_SECONDS, MMA440_DP_PORTS=f"{ports[0]},{ports[1]}")
    assert result.returncode != 0
    assert f"worker0: cannot listen on 127.0.0.1:{ports[0]}" in result.stderr
    assert "is the port in use?" in result.stderr
    worker = files / "data_parallel" / "worker.py"
    assert not _processes_running(str(worker))

    # 2. A worker started by hand (as on a cluster) whose TF_CONFIG lists a peer where nothing
    #    runs: it would wait forever (and ignores SIGTERM while it waits); its watchdog stops
    #    it after MMA440_DP_TIMEOUT seconds, saying where it waited.
    tf_config = {
        "cluster": {"worker": [f"127.0.0.1:{ports[1]}", f"127.0.0.1:{ports[0]}"]},
        "task": {"type": "worker", "index": 0},
    }
    env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "MMA440_DP_TIMEOUT": "5"}
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(worker), "worker", str(worker.parent)],
        env=env,
        capture_output=True,
        text=True,
        timeout=BAD_INPUT_SECONDS,
    )
    seconds = time.monotonic() - start
    assert result.returncode != 0
    assert "gives up after 5 s" in result.stdout and "Timeout (0:00:05)!" in result.stdout
    assert "MultiWorkerMirroredStrategy" in result.stdout or "_initialize_multi_worker" in (
        result.stdout
    )
    assert seconds < 5 + 60  # the timeout plus TensorFlow's import on a busy machine


# --- 06: KerasTuner ---------------------------------------------------------------------------
def _tuner_runs(files: Path) -> list[dict]:
    """The run files of example 06: one per finished trial and process that ran it."""
    import json

    return [
        json.loads(p.read_text()) for p in sorted((files / "keras_tuner_search_runs").glob("*"))
    ]


def test_06_keras_tuner_search(run_example, claim_seed, tmp_path):
    files = tmp_path / "files"
    stop_after = 3

    def search(stop: int) -> dict:
        return run_example(
            "06_keras_tuner_search.py", claim_seed, files, MMA440_TUNER_STOP_AFTER=str(stop)
        )["summary"]

    # 1. Interrupted after 3 finished trials, in the middle of the fourth (as Ctrl-C would).
    s = search(stop_after)
    total = s["max_trials"]
    assert s["interrupted"] is True and s["trials_run_now"] == stop_after < total
    assert s["oracle_completed"] == s["runs_total"] == stop_after
    finished = {run["trial_id"] for run in _tuner_runs(files)}
    assert len(finished) == stop_after

    # 2. Resumed with overwrite=False: the remaining trials run, no finished one again (the run
    #    files name every (trial, process) pair; a re-run finished trial would add a second).
    s = search(0)
    assert s["interrupted"] is False and s["trials_run_now"] == total - stop_after
    runs = _tuner_runs(files)
    ids = [run["trial_id"] for run in runs]
    assert len(ids) == len(set(ids)) == total
    assert len({run["process"] for run in runs if run["trial_id"] in finished}) == 1
    assert s["oracle_completed"] == total and s["oracle_matches_runs"] is True
    # The oracle ran each trial once: the interrupted one was never ended, only re-run.
    assert s["max_runs_per_trial"] == 1
    # RandomSearch never draws a configuration twice.
    assert s["unique_configs"] == total

    # 3. A third start runs nothing.
    s = search(0)
    assert s["trials_run_now"] == 0 and len(_tuner_runs(files)) == total

    # Each trial scores what example 04 gives the same configuration: the same training
    # function and seed. Compared: the validation accuracy of each of the 10 trials against
    # 04's row for that configuration (measured: equal, difference 0, seeds 0-9; the bound
    # allows one of the 360 validation digits to flip, as for 04), and so the best trial is the
    # best of 04's grid restricted to the drawn configurations. It is 04's overall best only
    # when the tuner drew that configuration (10 of 18 drawn; measured over seeds 0-9: 7 seeds
    # drew it; the other 3 seeds' best trials reached 0.961-0.972 against 04's 0.978-0.989).
    sweep = tmp_path / "sweep"
    run_example("04_hyperparameter_sweep.py", claim_seed, sweep)
    grid = {
        (float(r["learning_rate"]), int(r["width"]), float(r["l2"])): float(r["val_accuracy"])
        for r in _rows(sweep / "sweep.csv")
    }
    for run in runs:
        key = (run["learning_rate"], run["width"], run["l2"])
        assert abs(run["val_accuracy"] - grid[key]) <= 1.0 / 360 + 1e-9, key
    drawn = {(r["learning_rate"], r["width"], r["l2"]) for r in runs}
    best_of_04 = max(grid[key] for key in drawn)
    assert abs(s["best_val_accuracy"] - best_of_04) <= 1.0 / 360 + 1e-9
    assert abs(s["best_val_accuracy_retrained"] - s["best_val_accuracy"]) <= 1.0 / 360 + 1e-9


def test_06_distributed_search_runs_every_trial_once(tmp_path):
    """One chief and two workers on 127.0.0.1, sharing one folder, started and always stopped."""
    import json
    import os
    import socket
    import subprocess
    import sys
    import time

    files = tmp_path / "files"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_env = {
        **os.environ,
        "MMA440_OUTPUT_DIR": str(files),
        "MMA440_SEED": "0",
        "KERASTUNER_ORACLE_IP": "127.0.0.1",
        "KERASTUNER_ORACLE_PORT": str(port),
        "MMA440_TUNER_TIMEOUT": "300",
        "OPENBLAS_NUM_THREADS": "1",
    }
    processes = {}
    deadline = time.monotonic() + 400
    try:
        for tuner_id in ("chief", "tuner0", "tuner1"):
            script = str(EXAMPLES / "06_keras_tuner_search.py")
            processes[tuner_id] = subprocess.Popen(
                [sys.executable, "-m", "common.run", script, "--out", str(tmp_path / tuner_id)],
                env={**base_env, "KERASTUNER_TUNER_ID": tuner_id},
                stdout=open(tmp_path / f"{tuner_id}.log", "w"),
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )
        while any(p.poll() is None for p in processes.values()) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        for p in processes.values():
            if p.poll() is None:
                p.kill()
            p.wait()
    full_logs = {name: (tmp_path / f"{name}.log").read_text() for name in processes}
    logs = {name: text[-3000:] for name, text in full_logs.items()}
    for name, p in processes.items():
        assert p.returncode == 0, f"{name} exited with {p.returncode}:\n{logs[name]}"
    summaries = {
        name: json.loads((tmp_path / name / "summary.json").read_text())["summary"]
        for name in processes
    }
    chief = summaries["chief"]
    total = chief["max_trials"]
    # Every trial ran exactly once, on a worker (the chief only serves the oracle).
    runs = _tuner_runs(files)
    ids = [run["trial_id"] for run in runs]
    assert len(ids) == len(set(ids)) == total
    assert {run["tuner_id"] for run in runs} <= {"tuner0", "tuner1"}
    assert summaries["tuner0"]["trials_run_now"] + summaries["tuner1"]["trials_run_now"] == total
    assert chief["trials_run_now"] == 0
    # Both workers took part (a trial trains for seconds, so a worker that starts a little
    # later than the other still finds trials left)...
    assert summaries["tuner0"]["trials_run_now"] > 0 and summaries["tuner1"]["trials_run_now"] > 0
    # ... and no trial was retried: a failed trial run again (max_retries_per_trial) would leave
    # one run file but count twice in the oracle's run times.
    assert chief["max_runs_per_trial"] == 1
    # The chief's oracle lists them all as completed, the same trial ids as the run files.
    assert chief["role"] == "chief" and chief["oracle_completed"] == total
    assert chief["oracle_matches_runs"] is True and chief["runs_total"] == total
    # KerasTuner's own summary, printed by the chief, lists every trial once, the same ids.
    assert "Results summary" in full_logs["chief"]
    summarized = re.findall(r"^Trial (\S+) summary$", full_logs["chief"], flags=re.MULTILINE)
    assert sorted(summarized) == sorted(ids)


def test_06_a_chief_on_a_busy_port_stops_at_once(tmp_path):
    """A leftover chief (a gRPC server) holds the port: a new chief refuses to share it."""
    from concurrent import futures

    import grpc

    leftover = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = leftover.add_insecure_port("127.0.0.1:0")
    leftover.start()
    second = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    try:
        # Why the script probes: gRPC shares ports (SO_REUSEPORT), so a second server binds the
        # same port without error (add_insecure_port returns the port, not 0).
        assert second.add_insecure_port(f"127.0.0.1:{port}") == port
        result, _ = _run_smoke(
            "06_keras_tuner_search.py",
            tmp_path / "files",
            BAD_INPUT_SECONDS,
            KERASTUNER_TUNER_ID="chief",
            KERASTUNER_ORACLE_IP="127.0.0.1",
            KERASTUNER_ORACLE_PORT=str(port),
            MMA440_TUNER_TIMEOUT="120",  # a chief that served would wait this long
        )
    finally:
        second.stop(None)
        leftover.stop(None)
    # It stops before its search, with its own message (not the watchdog's "Timeout").
    assert result.returncode != 0
    assert f"chief: the oracle's address 127.0.0.1:{port} is in use" in result.stderr
    assert "Timeout (" not in result.stderr
    assert not list((tmp_path / "files" / "keras_tuner_search_runs").glob("*.json"))


def test_06_a_worker_without_its_chief_stops_in_bounded_time(tmp_path):
    """A worker whose KERASTUNER_ORACLE_PORT has no chief would wait an hour; it stops."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free, and nothing listens there once closed
    result, seconds = _run_smoke(
        "06_keras_tuner_search.py",
        tmp_path / "files",
        BAD_INPUT_SECONDS,
        KERASTUNER_TUNER_ID="tuner0",
        KERASTUNER_ORACLE_IP="127.0.0.1",
        KERASTUNER_ORACLE_PORT=str(port),
        MMA440_TUNER_TIMEOUT="5",
    )
    assert result.returncode != 0
    assert f"oracle at 127.0.0.1:{port}" in result.stdout
    assert "Timeout (0:00:05)!" in result.stderr  # faulthandler's dump: where it waited
    assert seconds < 5 + 60  # the timeout plus the imports on a busy machine
