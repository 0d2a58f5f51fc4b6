"""
Data-parallel training is large-batch SGD
=========================================

Synchronous data parallelism splits each global batch of $2b$ examples into two replica batches
of $b$, computes a gradient on each replica and all-reduces them; this script shows, with
TensorFlow's `tf.distribute`, that the result is the same SGD step as one device taking the
whole batch: on two logical CPU devices of one process (`MirroredStrategy`) and on two worker
processes talking over 127.0.0.1 (`MultiWorkerMirroredStrategy`).

The figure shows, left, the loss of each step for one device with batch $2b$, the two mirrored
replicas and the two workers: the curves lie on top of each other. Middle: every component of
the two replicas' gradients at the first step against the gradient of the whole batch; the
replicas scatter around the diagonal, their mean lies on it. Right: the largest weight
difference to the one-device run after each step, at float32 rounding level. Needs the
TensorFlow backend (`tf.distribute`); the distributed runs happen in child processes the script
starts, because a process' devices can be configured only once, before TensorFlow starts.

Try:
- Set `PER_REPLICA_BATCH = 8`: the replicas' gradients scatter further from the mean, the
  runs still agree.
- `MMA440_DP_FAIL_WORKER=1` makes worker 1 crash after its first step: read how the script
  stops the other worker and reports the crash.
- Run the two workers yourself: after a run, `OUTPUT_DIR/data_parallel/worker.py` is the
  worker program; start it in two terminals with the `TF_CONFIG` of each worker (see
  `examples/README.md`).
"""

# %%
import faulthandler
import inspect
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from multiprocessing.connection import Listener
from pathlib import Path

try:
    import resource  # POSIX only: the CPU time and memory of the child processes
except ImportError:  # Windows: the script runs, without that report
    resource = None

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from matplotlib.ticker import MaxNLocator

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` runs fewer steps on smaller batches; `MMA440_SEED` changes the seed.
# Files go to `OUTPUT_DIR/data_parallel`: the inputs the workers read, the worker program,
# their logs and results. `MMA440_DP_PORTS=p0,p1` fixes the two workers' ports (by default
# the script asks the operating system for two free ones); `MMA440_DP_TIMEOUT` bounds, in
# seconds, how long the script waits for each group of worker processes.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))
OUTPUT_DIR = Path(os.environ.get("MMA440_OUTPUT_DIR") or tempfile.mkdtemp(prefix="mma440_"))
PORTS = os.environ.get("MMA440_DP_PORTS", "")  # "": two free ports on 127.0.0.1
TIMEOUT = float(os.environ.get("MMA440_DP_TIMEOUT", "120"))
FAIL_WORKER = int(os.environ.get("MMA440_DP_FAIL_WORKER", "-1"))  # -1: no worker fails

REPLICAS = 2  # two logical CPU devices, or two worker processes of one device each
PER_REPLICA_BATCH = 16 if SMOKE else 64  # b; the global batch is REPLICAS * b
STEPS = 4 if SMOKE else 40
LEARNING_RATE = 0.2
WIDTH = 32

if PER_REPLICA_BATCH < 1 or STEPS < 1 or TIMEOUT <= 0:
    raise ValueError(
        f"PER_REPLICA_BATCH = {PER_REPLICA_BATCH}, STEPS = {STEPS} and TIMEOUT = {TIMEOUT} "
        "must be positive"
    )
if keras.backend.backend() != "tensorflow":
    raise ValueError(
        f"KERAS_BACKEND = {keras.backend.backend()!r}: this script needs 'tensorflow' "
        "(tf.distribute)"
    )
if FAIL_WORKER not in (-1, *range(REPLICAS)):
    raise ValueError(f"MMA440_DP_FAIL_WORKER = {FAIL_WORKER}: use -1 (none) or 0..{REPLICAS - 1}")
GLOBAL_BATCH = REPLICAS * PER_REPLICA_BATCH
WORK_DIR = (OUTPUT_DIR / "data_parallel").resolve()
WORK_DIR.mkdir(parents=True, exist_ok=True)
print(f"Output folder: {WORK_DIR}")

# %% [markdown]
# ## The mathematics
# With the loss $L(w) = \frac{1}{2b} \sum_{i=1}^{2b} \ell_i(w)$ of one global batch split into
# halves $B_1, B_2$ of $b$ examples, replica $r$ computes the gradient of its share
# $L_r(w) = \frac{1}{2b} \sum_{i \in B_r} \ell_i(w)$, and the all-reduce sums them:
# $$\nabla L_1(w) + \nabla L_2(w) = \frac{1}{2b} \sum_{i=1}^{2b} \nabla \ell_i(w) = \nabla L(w)
# = \tfrac12 \left(\hat g_1 + \hat g_2\right),$$
# where $\hat g_r = \frac1b \sum_{i \in B_r} \nabla \ell_i(w)$ is the mean gradient of replica
# $r$'s own batch. Every replica then applies the same SGD step $w \leftarrow w - \eta \nabla
# L(w)$ to its copy of the weights, so the copies stay equal, and equal to the weights of one
# device taking the whole batch.
#
# The conditions. (a) Each replica divides its sum by the global batch $2b$, not by its own
# $b$: a replica that takes its own mean computes $\hat g_r$, and the summing all-reduce gives
# $\hat g_1 + \hat g_2 = 2 \nabla L(w)$, with $R$ replicas $R \nabla L(w)$, the effective
# learning rate $R \eta$ (Goyal et al. 2017, section 3, remark 3: normalize the per-worker loss
# by the total minibatch size $kn$, not by the per-worker size $n$). Keras' `fit` under a
# strategy does this itself: it multiplies each replica's mean loss, and the regularization
# penalties, by $1/R$; a loss with `reduction="sum"` it leaves unscaled. (b) Every replica gets
# $b$ examples. (c) A replica sees only its own examples: `BatchNormalization` normalizes with
# the statistics of the replica's $b$ examples, not of the $2b$, unless it is created with
# `synchronized=True`; dropout draws other masks on each replica than on one device, and the
# runs then agree only in distribution; a loss that couples the examples of a batch (in-batch
# negatives) is not a sum of per-example terms. This script's model has none of these.
#
# One step differs from one device's only in the order of a floating-point sum: the
# all-reduce adds two partial sums, one device adds the $2b$ terms in its own order. In
# float32 (unit roundoff $u = 2^{-24} \approx 6 \cdot 10^{-8}$) a computed sum of $n$ terms
# is within $(n - 1) u \sum_i |x_i|$ of the exact sum (Higham 2002, section 4.2), so two orders
# can differ by up to $2 (n - 1) u \sum_i |x_i|$; rounding errors of random sign are far smaller
# than that worst case. Over $k$ steps a difference $\delta$ of the weights is carried on,
# to first order, as $\prod_j (I - \eta H_j) \, \delta$ ($H_j$ the Hessian of the loss at
# step $j$), and each step adds its own rounding. Here, with $\eta = 0.2$ over 40 steps, that
# map does not amplify, and the difference stays at rounding level: the script measures it
# after every step against $u \max |w|$. With a larger learning rate or a long training,
# small differences can grow, and the runs then agree only in distribution, like two runs with
# different seeds.
#
# The two $\hat g_r$ differ from each other: each is a mean over $b$ examples, with a
# covariance of about $\Sigma / b$ around the full-data gradient ($\Sigma$ the covariance of
# one example's gradient), so $E \|\hat g_1 - \hat g_2\|^2 \approx 2 \operatorname{tr}
# \Sigma / b$. The lesson: data parallelism with $R$ replicas of batch $b$ is SGD with batch
# $R b$, not $R$ independent SGD runs. How to set the learning rate for the larger batch is
# another, heuristic question: the linear scaling rule (multiply $\eta$ by the factor the batch
# grew, with a gradual warm-up over the first epochs; Goyal et al. 2017, sections 2.1-2.2)
# works up to a limit found by experiment, unlike the exact equivalence shown here.

# %% [markdown]
# ## The data and the starting point
# The digits (64 pixels, 10 classes): `STEPS` global batches, taken in order from the
# training set shuffled once per pass. One model, one set of initial weights: every run below
# starts from them. The parent process writes both to `inputs.npz`; the worker processes read
# it.

# %%
split = load_digits(seed=SEED)
n_used = STEPS * GLOBAL_BATCH
passes = -(-n_used // len(split.x_train))  # ceil: epochs over the training set, each shuffled
rng = np.random.default_rng(SEED)
order = np.concatenate([rng.permutation(len(split.x_train)) for _ in range(passes)])[:n_used]
x = split.x_train[order]
y = split.y_train[order].astype(np.int32)


def build_model(width):
    return keras.Sequential(
        [
            keras.Input(shape=(64,)),
            keras.layers.Dense(width, activation="tanh"),
            keras.layers.Dense(10),  # logits
        ]
    )


keras.utils.set_random_seed(SEED)
initial_weights = build_model(WIDTH).get_weights()
INPUTS = WORK_DIR / "inputs.npz"
np.savez(
    INPUTS,
    x=x,
    y=y,
    steps=STEPS,
    global_batch=GLOBAL_BATCH,
    learning_rate=LEARNING_RATE,
    width=WIDTH,
    fail_worker=FAIL_WORKER,
    n_weights=len(initial_weights),  # any model: the number of weight arrays w0, w1, ...
    **{f"w{i}": w for i, w in enumerate(initial_weights)},
)

# %% [markdown]
# ## One training function for every strategy (TensorFlow-specific cell)
# `train_steps` runs `STEPS` SGD steps under a `tf.distribute` strategy, in the form
# TensorFlow's guide to custom training loops gives: the dataset yields global batches, the
# strategy hands each replica its part, `strategy.run` computes each replica's loss share
# $L_r$ and gradient, and the Keras optimizer's `apply_gradients` all-reduces (sums) the
# gradients before the update. With the default strategy (one device) the same code is plain
# SGD. It returns the loss of every step, the weights after every step and the replicas'
# gradients $\hat g_r$ at the first step.
#
# For the mirrored run, Keras' `fit` under the strategy's scope does the same (it divides each
# replica's mean loss by the number of replicas); the worker uses it too and the two agree.
# Under `MultiWorkerMirroredStrategy`, `fit` fails in Keras 3.15.1 with TensorFlow 2.21, before
# the first step, with `ValueError: Attempt to convert a value (PerReplica:{...}) with an
# unsupported type (<class 'tensorflow.python.distribute.values.PerReplica'>) to a Tensor.`
# (raised in `Trainer._maybe_symbolic_build`, which calls `strategy.reduce` on the whole
# `(x, y)` batch, a structure the collective all-reduce does not accept); the custom loop
# works, and that is what the workers run. The failure is known since TensorFlow 2.16 made
# Keras 3 its default (keras-team/keras#20585, tensorflow/tensorflow#72388; both open when
# this was written).
#
# The worker processes run the functions of this cell: `worker_program` copies their source
# (with `inspect.getsource`, which works in a script and in a notebook) into the file
# `worker.py`, which the script starts with `sys.executable`. A file rather than `python -c`:
# its tracebacks name lines, and it is the program one copies to the machines of a real
# cluster.


# %%
def read_inputs(path):
    data = np.load(path)
    weights = [data[f"w{i}"] for i in range(int(data["n_weights"]))]
    config = {key: data[key].item() for key in ("steps", "global_batch", "width", "fail_worker")}
    config["learning_rate"] = float(data["learning_rate"])
    return data["x"], data["y"], weights, config


def train_steps(strategy, x, y, weights, config, fail_at_step=None):
    steps, global_batch = config["steps"], config["global_batch"]
    with strategy.scope():
        model = build_model(config["width"])
        model.set_weights(weights)
        optimizer = keras.optimizers.SGD(config["learning_rate"])
        optimizer.build(model.trainable_variables)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(global_batch, drop_remainder=True)
    options = tf.data.Options()  # split every global batch between the replicas
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    batches = iter(strategy.experimental_distribute_dataset(dataset.with_options(options)))

    def replica_step(x_batch, y_batch):
        with tf.GradientTape() as tape:
            logits = model(x_batch, training=True)
            # The per-example loss of this model; change this line for another one.
            losses = keras.losses.sparse_categorical_crossentropy(y_batch, logits, from_logits=True)
            share = tf.reduce_sum(losses) / global_batch  # L_r: divided by the GLOBAL batch
            if model.losses:  # weight penalties (kernel_regularizer): 1/R of them per replica
                share += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        gradients = tape.gradient(share, model.trainable_variables)
        # apply_gradients all-reduces (sums) the replicas' gradients, then updates every copy
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return share, gradients

    @tf.function
    def step(batch):
        shares, gradients = strategy.run(replica_step, args=batch)
        return strategy.reduce("SUM", shares, axis=None), gradients

    losses, trajectory, replica_gradients = [], [], None
    for k in range(steps):
        loss, gradients = step(next(batches))
        if replica_gradients is None:  # g_r = R * grad L_r: replica r's mean gradient
            local = [strategy.experimental_local_results(g) for g in gradients]  # [var][r]
            replica_gradients = np.stack(
                [np.concatenate([np.ravel(v[r]) for v in local]) for r in range(len(local[0]))],
                axis=1,
            )
            replica_gradients *= strategy.num_replicas_in_sync
        losses.append(float(loss))
        trajectory.append(np.concatenate([np.ravel(w) for w in model.get_weights()]))
        if fail_at_step == k:
            raise RuntimeError(f"worker crashed on purpose after step {k + 1} (FAIL_WORKER)")
    return np.array(losses), np.stack(trajectory), replica_gradients


def fit_under_strategy(strategy, x, y, weights, config):
    """The same training with Keras' fit: batch_size is the global batch."""
    with strategy.scope():
        model = build_model(config["width"])
        model.set_weights(weights)
        model.compile(
            optimizer=keras.optimizers.SGD(config["learning_rate"]),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    model.fit(x, y, batch_size=config["global_batch"], epochs=1, shuffle=False, verbose=0)
    return np.concatenate([np.ravel(w) for w in model.get_weights()])


def watch_parent():
    """If the script started this process (MMA440_DP_PARENT), exit when the script is gone.

    A parent killed by SIGKILL runs no `finally`: without this its children would run on.
    """
    parent = int(os.environ.get("MMA440_DP_PARENT", "0"))

    def poll():
        while os.getppid() == parent:  # an orphan is handed to another parent (init)
            time.sleep(1)
        print(f"the script (process {parent}) is gone: stopping", flush=True)
        os._exit(3)

    if parent:
        threading.Thread(target=poll, daemon=True).start()


def worker_main(role, work_dir):
    """Run in a child process: 'mirrored' (two logical CPUs) or 'worker' (one of TF_CONFIG's)."""
    work_dir = Path(work_dir)
    x, y, weights, config = read_inputs(work_dir / "inputs.npz")
    timeout = float(os.environ.get("MMA440_DP_TIMEOUT", "120"))
    watch_parent()
    if role == "mirrored":
        # Only the script starts this role, for a run of seconds: the watchdog (a thread in C,
        # see below) bounds the whole run, even if the script was killed.
        faulthandler.dump_traceback_later(timeout, exit=True, file=sys.stdout)
        # Must happen before TensorFlow's runtime starts: this process is new, so it has not.
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        name, fail_at_step = "mirrored", None
    else:
        # Reads TF_CONFIG: the cluster's addresses and this worker's index.
        task = json.loads(os.environ["TF_CONFIG"])["task"]
        name = f"worker{task['index']}"
        # A worker waits for every address in TF_CONFIG, holding Python's lock and ignoring
        # SIGTERM: faulthandler's watchdog (a thread in C) prints where it waited and ends it.
        # It guards the joining only, and is cancelled once all workers are there, so a long
        # training on a real cluster is not cut; from then on every collective operation (an
        # all-reduce waiting for a dead peer) fails after `timeout_seconds` instead.
        print(f"{name}: joining {os.environ['TF_CONFIG']} (gives up after {timeout:g} s)")
        sys.stdout.flush()
        faulthandler.dump_traceback_later(timeout, exit=True, file=sys.stdout)
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy(
                communication_options=tf.distribute.experimental.CommunicationOptions(
                    timeout_seconds=timeout
                )
            )
        except tf.errors.UnknownError as error:  # raised when its own port cannot be bound
            address = json.loads(os.environ["TF_CONFIG"])["cluster"]["worker"][task["index"]]
            raise SystemExit(
                f"{name}: cannot listen on {address} ({error.message}): is the port in use?"
            ) from error
        faulthandler.cancel_dump_traceback_later()
        fail_at_step = 0 if config["fail_worker"] == task["index"] else None
    print(f"{name}: {strategy.num_replicas_in_sync} replicas in sync", flush=True)
    losses, trajectory, gradients = train_steps(strategy, x, y, weights, config, fail_at_step)
    results = {"losses": losses, "trajectory": trajectory, "replica_gradients": gradients}
    if role == "mirrored":
        results["fit_weights"] = fit_under_strategy(strategy, x, y, weights, config)
    faulthandler.cancel_dump_traceback_later()
    np.savez(work_dir / f"{name}.npz", **results)
    print(f"{name}: done, loss {losses[0]:.4f} -> {losses[-1]:.4f}", flush=True)


def one_device_runs(x, y, weights, config):
    """In the script's own process: the default strategy (one device), the loop and fit."""
    default = tf.distribute.get_strategy()
    return (
        train_steps(default, x, y, weights, config),
        fit_under_strategy(default, x, y, weights, config),
    )


def worker_program():
    """The source of worker.py: this cell's functions and the imports they need."""
    functions = [
        build_model,
        read_inputs,
        train_steps,
        fit_under_strategy,
        watch_parent,
        worker_main,
    ]
    header = textwrap.dedent(
        '''\
        """A worker of examples/05_data_parallel_training.py, written by it (do not edit).

        python worker.py mirrored WORK_DIR              two replicas on two logical CPUs
        TF_CONFIG=... python worker.py worker WORK_DIR  one worker of MultiWorkerMirroredStrategy
        WORK_DIR holds inputs.npz; the results go there too.
        """
        import faulthandler
        import json
        import os
        import sys
        import threading
        import time
        from pathlib import Path

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import keras
        import numpy as np
        import tensorflow as tf
        '''
    )
    body = "\n\n".join(inspect.getsource(function) for function in functions)
    main = '\n\nif __name__ == "__main__":\n    worker_main(sys.argv[1], sys.argv[2])\n'
    return header + "\n\n" + body + main


WORKER = WORK_DIR / "worker.py"
WORKER.write_text(worker_program())

# %% [markdown]
# ## Starting and watching the worker processes
# Each child gets its environment (`TF_CONFIG` for a multi-worker run) and a log file. The
# parent polls them: when all have exited with status 0 it goes on; when one exits with an
# error it stops the others at once and raises, quoting the end of that child's log; when
# `TIMEOUT` seconds pass (a worker waiting for a peer that never comes: a `TF_CONFIG` address
# where nothing runs), it stops them all and raises. The `finally` clause kills every child
# still running, whatever happened, so no process outlives the script.


# %%
def free_ports(count):
    """Ports on 127.0.0.1 that are free now: the operating system picks them (port 0)."""
    listeners = [Listener(("127.0.0.1", 0)) for _ in range(count)]
    ports = [listener.address[1] for listener in listeners]
    for listener in listeners:
        listener.close()
    return ports


def log_tail(path, lines=12):
    text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    # TensorFlow's C++ start-up lines (I0000 ..., WARNING: All log messages ...) say nothing here.
    text = [line for line in text if not line.startswith(("I0000", "WARNING: All log"))]
    return "\n".join("    " + line for line in text[-lines:]) or "    (empty)"


def run_children(jobs, timeout, meanwhile=None):
    """Run jobs = [(name, role, extra environment)] as child processes; wait for all of them.

    `meanwhile()`, if given, runs in this process once the children are started; its result
    is returned.
    """
    children, result = [], None
    try:
        for name, role, extra_env in jobs:
            log = WORK_DIR / f"{name}.log"
            with open(log, "w") as handle:
                process = subprocess.Popen(
                    [sys.executable, str(WORKER), role, str(WORK_DIR)],
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    env={
                        **os.environ,
                        "MMA440_DP_TIMEOUT": str(timeout),
                        "MMA440_DP_PARENT": str(os.getpid()),  # children exit if it dies
                        **extra_env,
                    },
                    cwd=WORK_DIR,
                )
            children.append((name, process, log))
        deadline = time.monotonic() + timeout
        if meanwhile is not None:
            result = meanwhile()
        while True:
            for name, process, log in children:
                if process.poll() not in (None, 0):
                    raise RuntimeError(
                        f"{name} exited with status {process.returncode}; the other processes "
                        f"were stopped. The end of {log}:\n{log_tail(log)}"
                    )
            if all(process.returncode == 0 for _, process, _ in children):
                return result
            if time.monotonic() > deadline:
                waiting = [name for name, process, _ in children if process.returncode is None]
                raise TimeoutError(
                    f"{', '.join(waiting)} still running after {timeout:g} s, stopped. A worker "
                    "waits for every address in TF_CONFIG: is each of them running? The end of "
                    f"{children[0][2]}:\n{log_tail(children[0][2])}"
                )
            time.sleep(0.05)
    finally:
        for _, process, _ in children:
            if process.poll() is None:
                process.kill()
            process.wait()


def parse_ports(text):
    if not text:
        return free_ports(REPLICAS)
    try:
        ports = [int(part) for part in text.split(",")]
    except ValueError:
        ports = []
    if len(ports) != REPLICAS or not all(0 < port < 65536 for port in ports):
        raise ValueError(f"MMA440_DP_PORTS = {text!r}: give {REPLICAS} ports 1..65535, as 'p0,p1'")
    return ports


# %% [markdown]
# ## Three runs from the same weights
# One device with the whole global batch of $2b$ (the default strategy, in this process) runs
# while the mirrored run (two replicas of batch $b$ on two logical CPUs) runs in a child
# process; then two workers, one replica of batch $b$ each, run in two children that find each
# other through `TF_CONFIG`:
# `{"cluster": {"worker": ["127.0.0.1:p0", "127.0.0.1:p1"]}, "task": {"type": "worker",
# "index": i}}`. On a real cluster only the addresses change.

# %%
for name in ("mirrored", "worker0", "worker1"):
    (WORK_DIR / f"{name}.npz").unlink(missing_ok=True)  # no stale results from an earlier run


def children_usage():
    """CPU seconds used by finished children so far, and the largest one's peak memory in MB."""
    if resource is None:
        return float("nan"), float("nan")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


children_cpu_before = children_usage()[0]
start = time.perf_counter()


def one_device():
    """The one-device runs (the loop and Keras' fit), on the inputs the children read."""
    return one_device_runs(x, y, initial_weights, read_inputs(INPUTS)[3])


# 1 and 2 side by side: the child starts, this process trains meanwhile, then waits for it.
single, single_fit = run_children([("mirrored", "mirrored", {})], TIMEOUT, meanwhile=one_device)

# 3: two workers on 127.0.0.1.
ports = parse_ports(PORTS)
cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
worker_jobs = [
    (
        f"worker{index}",
        "worker",
        {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})},
    )
    for index in range(REPLICAS)
]
print(f"TF_CONFIG cluster: {json.dumps(cluster)}")
run_children(worker_jobs, TIMEOUT)

children_cpu, children_peak_mb = children_usage()
print(
    f"runs done in {time.perf_counter() - start:.1f} s; the three child processes used "
    f"{children_cpu - children_cpu_before:.1f} s of CPU time and at most {children_peak_mb:.0f} MB "
    "each"
)
mirrored = np.load(WORK_DIR / "mirrored.npz")
workers = [np.load(WORK_DIR / f"worker{index}.npz") for index in range(REPLICAS)]

# %% [markdown]
# ## The comparison
# The weights after each step, as one vector, against the one-device run's; the replicas'
# first-step gradients against the global one.

# %%
single_losses, single_trajectory, single_gradient = single
single_gradient = single_gradient[:, 0]
scale = float(np.max(np.abs(single_trajectory)))


def max_diff(trajectory):
    return np.max(np.abs(trajectory - single_trajectory), axis=1)


diff_mirrored = max_diff(mirrored["trajectory"])
diff_workers = [max_diff(worker["trajectory"]) for worker in workers]
replica_gradients = mirrored["replica_gradients"]  # (parameters, 2)
mean_gradient = replica_gradients.mean(axis=1)
gradient_scale = float(np.max(np.abs(single_gradient)))
replica_spread = float(
    np.linalg.norm(replica_gradients[:, 0] - replica_gradients[:, 1])
    / np.linalg.norm(single_gradient)
)
print(f"largest weight: {scale:.3f}; float32 unit roundoff 2^-24 = {2.0**-24:.2e}")
print(f"max |w_mirrored - w_one_device| after {STEPS} steps: {diff_mirrored[-1]:.2e}")
for index, diff in enumerate(diff_workers):
    print(f"max |w_worker{index} - w_one_device| after {STEPS} steps: {diff[-1]:.2e}")
print(
    f"max |w_fit_mirrored - w_fit_one_device|: "
    f"{np.max(np.abs(mirrored['fit_weights'] - single_fit)):.2e}"
)

# %% [markdown]
# ## Figure

# %%
use_course_style()
fig, axes = plt.subplots(1, 3, figsize=(17, 5.4))
steps = np.arange(1, STEPS + 1)
ax = axes[0]
ax.plot(
    steps, single_losses, color="black", lw=5, alpha=0.3, label=f"one device, batch {GLOBAL_BATCH}"
)
ax.plot(
    steps, mirrored["losses"], "o", color="C0", ms=6, label=f"mirrored, 2 x {PER_REPLICA_BATCH}"
)
ax.plot(
    steps, workers[0]["losses"], "x", color="C3", ms=8, label=f"2 workers x {PER_REPLICA_BATCH}"
)
ax.set(xlabel="SGD step", ylabel="cross-entropy of the global batch", title="Loss per step")
ax.xaxis.set_major_locator(MaxNLocator(integer=True))
ax.legend()

ax = axes[1]
limit = 1.05 * float(np.max(np.abs(replica_gradients)))
ax.plot([-limit, limit], [-limit, limit], color="gray", lw=1)
ax.plot(
    single_gradient,
    replica_gradients[:, 0],
    ".",
    color="C1",
    ms=4,
    alpha=0.6,
    label=r"replica 1: $\hat g_1$",
)
ax.plot(
    single_gradient,
    replica_gradients[:, 1],
    ".",
    color="C2",
    ms=4,
    alpha=0.6,
    label=r"replica 2: $\hat g_2$",
)
ax.plot(
    single_gradient,
    mean_gradient,
    ".",
    color="black",
    ms=3,
    label=r"mean $(\hat g_1 + \hat g_2)/2$",
)
ax.set(
    xlabel=f"gradient of the global batch (one device, batch {GLOBAL_BATCH})",
    ylabel="replica gradient component",
    title="First-step gradients, one dot per weight",
    xlim=(-limit, limit),
    ylim=(-limit, limit),
)
ax.legend(loc="upper left", markerscale=3)

ax = axes[2]
floor = 2.0**-24 * scale
ax.semilogy(steps, np.maximum(diff_mirrored, floor / 10), "o-", color="C0", label="mirrored")
for index, diff in enumerate(diff_workers):
    ax.semilogy(
        steps, np.maximum(diff, floor / 10), "x--", color=f"C{3 + index}", label=f"worker {index}"
    )
ax.axhline(floor, color="gray", ls=":", label=r"$2^{-24} \max|w|$")
ax.set(
    xlabel="SGD step",
    ylabel="max |w - w one device|",
    title="Weight difference to one device",
    ylim=(floor / 20, floor * 1e3),
)
ax.xaxis.set_major_locator(MaxNLocator(integer=True))
ax.legend()
fig.suptitle(
    f"Two replicas of batch {PER_REPLICA_BATCH} = one device with batch "
    f"{GLOBAL_BATCH} (digits MLP, SGD, learning rate {LEARNING_RATE:g})"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "steps": STEPS,
    "per_replica_batch": PER_REPLICA_BATCH,
    "global_batch": GLOBAL_BATCH,
    "replicas": REPLICAS,
    "max_abs_weight": scale,
    "max_diff_mirrored": float(diff_mirrored[-1]),
    "max_diff_worker0": float(diff_workers[0][-1]),
    "max_diff_worker1": float(diff_workers[1][-1]),
    "max_diff_workers_to_each_other": float(
        np.max(np.abs(workers[0]["trajectory"] - workers[1]["trajectory"]))
    ),
    "max_diff_fit_mirrored": float(np.max(np.abs(mirrored["fit_weights"] - single_fit))),
    "max_diff_fit_to_loop": float(np.max(np.abs(single_fit - single_trajectory[-1]))),
    "max_loss_diff_mirrored": float(np.max(np.abs(mirrored["losses"] - single_losses))),
    "max_loss_diff_workers": float(np.max(np.abs(workers[0]["losses"] - single_losses))),
    "mean_gradient_rel_diff": float(
        np.max(np.abs(mean_gradient - single_gradient)) / gradient_scale
    ),
    "replica_gradient_spread": replica_spread,
    "loss_first": float(single_losses[0]),
    "loss_last": float(single_losses[-1]),
}
for key, value in SUMMARY.items():
    print(f"{key:>32s}: {value:.4g}" if isinstance(value, float) else f"{key:>32s}: {value}")
