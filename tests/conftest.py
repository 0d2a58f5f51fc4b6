"""Shared fixtures: running scripts through the runner, and the seeds the claims must hold for.

`run_script(path, smoke=False, seed=None, fresh=True)` runs one script through `common.run`
(from a temporary working directory, with network access blocked) and returns the runner's
record: `record["summary"]` is the script's SUMMARY, `record["figures"]` the saved PNG names,
`record["out"]` the folder that holds them. With `fresh=True` the script runs in a fresh
process, as `python -m common.run PATH` does; with `fresh=False` it runs in this test worker's
script server, one long-lived process that imports Keras once and runs script after script
(`common.run.ScriptServer`), and the record's "leaked" names the process-wide state the
script left changed. Results are cached for the session, and shared between the test
workers of one pytest-xdist session, so several tests on one script, seed and mode cost a
single run wherever they are scheduled.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from common.run import ScriptServer, discover_scripts
from common.run import run_script as _run_script

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = discover_scripts(ROOT)
# Tests run scripts side by side (pytest-xdist, one worker per core). A multi-threaded BLAS in
# every worker would oversubscribe the cores and make small NumPy/LAPACK calls many times
# slower, so each script's NumPy gets one BLAS thread here (TensorFlow keeps its own pool).
SCRIPT_ENV = {"MMA440_NO_NETWORK": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# The claims must hold for the default seed and for others: each claim test runs per seed.
CLAIM_SEEDS = tuple(int(s) for s in os.environ.get("MMA440_CLAIM_SEEDS", "0,1").split(","))


def script_id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that run scripts first, the quick static ones after: the test workers share out
    the long runs while there are many left, and the short tests fill the last minute
    evenly (else one worker may start a long run when the other has nothing left to do)."""
    items.sort(key=lambda item: not {"run_script", "script_server"} & set(item.fixturenames))


@pytest.fixture(scope="session")
def script_server():
    """This worker's script server: one process, Keras imported once, scripts one by one."""
    with ScriptServer(process_env=SCRIPT_ENV) as server:
        yield server


@contextlib.contextmanager
def shared_record(folder: Path, key: tuple) -> Iterator[dict]:
    """The record stored under `key` in `folder`, by one test worker at a time.

    Yields a dict: empty if no worker has run this yet (the caller fills it in, and it is
    stored when the block ends without an error), else the stored record. A worker that asks
    while another runs the same script waits for that run instead of repeating it.
    """
    name = hashlib.sha256(repr(key).encode()).hexdigest()[:32]
    stored = folder / f"{name}.json"
    with open(folder / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        record = json.loads(stored.read_text()) if stored.exists() else {}
        if record:
            record["out"] = Path(record["out"])
        is_new = not record
        yield record
        if is_new and record:
            stored.write_text(json.dumps({**record, "out": str(record["out"])}))


@pytest.fixture(scope="session")
def run_script(tmp_path_factory, script_server, pytestconfig):
    cache: dict[tuple[str, bool, int | None, bool], dict] = {}
    # Under pytest-xdist each worker has a temporary folder of its own inside the session's:
    # the records go to the session's folder, which every worker of this session sees.
    base = tmp_path_factory.getbasetemp()
    worker = hasattr(pytestconfig, "workerinput")  # this process is a pytest-xdist worker
    shared = (base.parent if worker else base) / "script-records"
    shared.mkdir(exist_ok=True)

    def run(
        path: str | Path,
        *,
        smoke: bool = False,
        seed: int | None = None,
        env: dict[str, str] | None = None,
        fresh: bool = True,
    ) -> dict:
        """Run a script from an empty working directory that also receives its figures.

        `env` adds environment variables (MMA440_OUTPUT_DIR among them, for the examples); a
        run with `env` is never cached, since such tests run a script several times on purpose.
        """
        path = (ROOT / path).resolve()
        key = (str(path), smoke, seed, fresh)
        if env is not None:
            return run_now(path, smoke, seed, env, fresh)
        if key not in cache:
            with shared_record(shared, key) as record:
                if not record:
                    record.update(run_now(path, smoke, seed, env, fresh))
            cache[key] = record
        return cache[key]

    def run_now(path: Path, smoke: bool, seed: int | None, env: dict | None, fresh: bool) -> dict:
        out = tmp_path_factory.mktemp(path.stem)
        # Examples write checkpoints and logs to MMA440_OUTPUT_DIR: a folder of their own.
        outputs = tmp_path_factory.mktemp(f"{path.stem}-outputs")
        script_env = {"MMA440_OUTPUT_DIR": str(outputs), **(env or {})}
        if fresh:
            record = _run_script(
                path,
                out=out,
                smoke=smoke,
                seed=seed,
                extra_env={**SCRIPT_ENV, **script_env},
                timeout=600,
                cwd=out,  # the script must write nothing here but what the runner saves
            )
        else:
            record = script_server.run(
                path, out=out, smoke=smoke, seed=seed, extra_env=script_env, cwd=out, timeout=600
            )
        record["out"] = out
        written = {p.name for p in out.iterdir()} - set(record["figures"]) - {"summary.json"}
        record["written"] = sorted(written)
        return record

    return run


@pytest.fixture(params=CLAIM_SEEDS, ids=lambda seed: f"seed{seed}")
def claim_seed(request) -> int:
    """The seed a claim test runs its script with (each claim is checked for every seed)."""
    return request.param
