"""Quick tier: every script on disk follows the script contract and smoke-runs.

Scripts are discovered, not listed: a new `lectures/*/NN_*.py` or `examples/NN_*.py` is covered
without editing this file.
"""

from __future__ import annotations

import ast
import math
import re

import pytest

from .conftest import ROOT, SCRIPTS, script_id

NETWORK_MODULES = {"socket", "urllib", "http", "requests", "httpx", "ftplib", "smtplib"}


def test_scripts_are_discovered():
    lectures = {path.parent.name for path in SCRIPTS if path.parent.parent.name == "lectures"}
    assert "03_overfitting" in lectures
    assert len(SCRIPTS) >= 4


@pytest.mark.parametrize("path", SCRIPTS, ids=script_id)
def test_script_follows_the_contract(path):
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    docstring = ast.get_docstring(tree, clean=False) or ""
    lines = docstring.strip("\n").splitlines()
    # 1. Header: a title underlined with '=' (at least as long as the title), then prose, and
    #    a "Try" list of exercises.
    assert len(lines) >= 4, "the module docstring needs a title, an underline and a summary"
    assert lines[0].strip() and set(lines[1].strip()) == {"="}, "title must be underlined: ==="
    assert len(lines[1].strip()) >= len(lines[0].strip()), "the === line is shorter than the title"
    assert re.search(r"^Try:\s*$", docstring, re.MULTILINE), "the docstring needs a 'Try:' list"
    # 2. Cells in percent format, code and prose.
    assert re.search(r"^# %%$", source, re.MULTILINE), "no '# %%' code cell"
    assert re.search(r"^# %% \[markdown\]$", source, re.MULTILINE), "no '# %% [markdown]' cell"
    # 3. A parameters cell that reads both environment switches.
    assert re.search(r"^SMOKE = .*MMA440_SMOKE", source, re.MULTILINE), "no SMOKE = ...MMA440_SMOKE"
    assert re.search(r"^SEED = .*MMA440_SEED", source, re.MULTILINE), "no SEED = ...MMA440_SEED"
    # 6. A module-level SUMMARY dict.
    assigned = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert "SUMMARY" in assigned, "the script must end by defining SUMMARY = {...}"
    # 7. Keras 3 only, no argparse, no network modules, no dataset downloads behind our back.
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert "argparse" not in imported, "no argparse in scripts (breaks under a notebook kernel)"
    assert not imported & NETWORK_MODULES, f"network modules imported: {imported & NETWORK_MODULES}"
    # The distributed-training example picks free ports for the processes it starts itself:
    # only examples may listen, and only on the loopback address.
    if "multiprocessing.connection" in source:
        assert path.parent.name == "examples", "lecture scripts open no ports"
        assert "127.0.0.1" in source and "0.0.0.0" not in source, "listen on 127.0.0.1 only"
    assert "tf.keras" not in source and "tensorflow.keras" not in source, "use `import keras`"
    assert "keras.datasets" not in source, "load datasets through common.data (offline first)"
    if imported & {"keras", "tensorflow"}:
        assert "import common.quiet" in source, "import common.quiet before keras (quiet start-up)"
        assert "set_random_seed(SEED" in source, "seed with keras.utils.set_random_seed(SEED)"
    else:  # a NumPy / scikit-learn lesson: its randomness must still come from SEED
        assert re.search(r"seed=SEED|default_rng\(\[?SEED", source), "randomness not from SEED"
    assert "plt.show()" in source, "show figures with plt.show(); the runner saves them"
    assert "savefig" not in source, "scripts write no files; the runner saves shown figures"


# The smoke runs share one process per test worker (Keras imported once, as in a notebook
# kernel); the first script of every folder also runs in a fresh process, as
# `python -m common.run PATH` does, so that path stays covered (test below).
FRESH = sorted({min(p for p in SCRIPTS if p.parent == path.parent) for path in SCRIPTS})


def assert_same_summary(shared: dict, fresh: dict) -> None:
    """Equal SUMMARYs: the same keys, and the same values (floats to float32 rounding)."""
    assert shared.keys() == fresh.keys()
    for key, value in fresh.items():
        if isinstance(value, float) and not isinstance(shared[key], bool):
            # Identical arithmetic gives identical numbers; the tolerance is float32's unit
            # roundoff (2**-24 ~ 6e-8) times a few, for a reduction summed in another order.
            assert shared[key] == pytest.approx(value, rel=4 * 2**-24, abs=1e-12), key
        else:
            assert shared[key] == value, key


def assert_figures_and_nothing_else(record: dict) -> None:
    """The run showed figures that are not empty and wrote nothing but them: its working
    directory holds only runner output."""
    assert record["figures"], "the script showed no figure"
    for name in record["figures"]:
        assert (record["out"] / name).stat().st_size > 10_000, f"{name} looks empty"
    written = record["written"]
    assert not written, f"the script wrote into its working directory: {written}"


@pytest.mark.parametrize("path", SCRIPTS, ids=script_id)
def test_script_smoke_runs(path, run_script):
    record = run_script(path, smoke=True, fresh=False)
    assert_figures_and_nothing_else(record)
    summary = record["summary"]
    assert summary, "SUMMARY is empty"
    for key, value in summary.items():
        assert isinstance(value, bool | int | float | str), f"SUMMARY[{key!r}] is {value!r}"
        if isinstance(value, float):
            assert math.isfinite(value), f"SUMMARY[{key!r}] = {value} is not finite"
    # Run in a shared process, the script left no process-wide setting changed.
    assert not record.get("leaked"), f"the script changed and did not restore: {record['leaked']}"


@pytest.mark.parametrize("path", FRESH, ids=script_id)
def test_same_summary_in_a_shared_process(path, run_script):
    """Run after other scripts in one process, a script gives its fresh-process SUMMARY."""
    fresh = run_script(path, smoke=True, fresh=True)
    shared = run_script(path, smoke=True, fresh=False)
    assert_same_summary(shared["summary"], fresh["summary"])
    assert shared["figures"] == fresh["figures"]
    assert_figures_and_nothing_else(fresh)


REPRODUCED = [
    ROOT / "lectures/03_overfitting/01_memorization.py",  # random initialization and split
    ROOT / "lectures/09_regularizing_networks/03_dropout.py",  # and random dropout masks
]


# Both runs go to a script server, each after whatever ran there before (an `env` makes
# `run_script` run again in this worker's server instead of returning the record shared by
# the workers): the seed alone decides the SUMMARY. That a fresh process gives the same
# SUMMARY as the server is tested above.
@pytest.mark.parametrize("path", REPRODUCED, ids=script_id)
def test_same_seed_same_summary(path, run_script):
    first = run_script(path, smoke=True, seed=3, fresh=False)["summary"]
    second = run_script(path, smoke=True, seed=3, fresh=False, env={})["summary"]
    assert first == second


def test_another_seed_gives_another_summary(run_script):
    path = REPRODUCED[0]
    first = run_script(path, smoke=True, seed=3, fresh=False)["summary"]
    other = run_script(path, smoke=True, seed=4, fresh=False)["summary"]
    assert first != other
