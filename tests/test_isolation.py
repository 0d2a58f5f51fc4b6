"""Isolation tier (`pytest -m isolation`): every script, run after all the others in one
process, gives the SUMMARY it gives in a fresh process and leaves no process-wide state changed.

One Python process (a `common.run.ScriptServer`, as a notebook kernel would be) runs every
script in smoke mode twice, in order: in the second pass each script runs after all the others.
Meanwhile every script also runs alone in a fresh process. The test fails naming each script
whose SUMMARY differs (and the keys) or that left state changed (and what).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from common.run import ScriptServer
from common.run import run_script as run_fresh

import pytest

from .conftest import SCRIPT_ENV, SCRIPTS, script_id
from .test_scripts import assert_same_summary

pytestmark = pytest.mark.isolation


def test_every_script_gives_its_summary_after_all_the_others(tmp_path):
    def fresh(path):
        out = tmp_path / "fresh" / script_id(path)
        out.mkdir(parents=True)
        return run_fresh(path, out=out, smoke=True, extra_env=SCRIPT_ENV, timeout=600, cwd=out)

    with ThreadPoolExecutor(max_workers=1) as pool:
        fresh_records = pool.map(fresh, SCRIPTS)  # runs beside the shared process
        shared: dict = {}
        with ScriptServer(process_env=SCRIPT_ENV) as server:
            for run in ("first", "second"):
                for path in SCRIPTS:
                    out = tmp_path / run / script_id(path)
                    out.mkdir(parents=True)
                    shared[run, path] = server.run(path, out=out, smoke=True, cwd=out)
        fresh_by_path = dict(zip(SCRIPTS, fresh_records, strict=True))

    problems = []
    for path in SCRIPTS:
        for run in ("first", "second"):
            record = shared[run, path]
            if record["leaked"]:
                problems.append(f"{script_id(path)} left changed: {', '.join(record['leaked'])}")
            try:
                assert_same_summary(record["summary"], fresh_by_path[path]["summary"])
            except AssertionError as error:
                problems.append(f"{script_id(path)} ({run} pass): SUMMARY differs at {error}")
    assert not problems, "\n".join(problems)
