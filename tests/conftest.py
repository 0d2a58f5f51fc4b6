"""Shared fixtures: running scripts through the runner, and the seeds the claims must hold for.

`run_script(path, smoke=False, seed=None, fresh=True)` runs one script through `common.run`
(from a temporary working directory, with network access blocked) and returns the runner's
record: `record["summary"]` is the script's SUMMARY, `record["figures"]` the saved PNG names,
`record["out"]` the folder that holds them. With `fresh=True` the script runs in a fresh
process, as `python -m common.run PATH` does; with `fresh=False` it runs in this test worker's
script server, one long-lived process that imports Keras once and runs script after script
(`common.run.ScriptServer`), and the record's "leaked" names the process-wide state the
script left changed. Results are cached for the session, so several tests on one script,
seed and mode cost a single run.
"""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def script_server():
    """This worker's script server: one process, Keras imported once, scripts one by one."""
    with ScriptServer(process_env=SCRIPT_ENV) as server:
        yield server


@pytest.fixture(scope="session")
def run_script(tmp_path_factory, script_server):
    cache: dict[tuple[str, bool, int | None, bool], dict] = {}

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
        if env is None and key in cache:
            return cache[key]
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
        if env is None:
            cache[key] = record
        return record

    return run


@pytest.fixture(params=CLAIM_SEEDS, ids=lambda seed: f"seed{seed}")
def claim_seed(request) -> int:
    """The seed a claim test runs its script with (each claim is checked for every seed)."""
    return request.param
