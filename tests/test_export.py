"""`python -m common.export`: standalone copies of the scripts, for homework.

Quick tier: every script's copy compiles, passes ruff with the project's settings and imports
nothing from `common`; the copies of a few scripts that between them use every helper of
`common` run, in smoke mode, with `import common` failing (in the test worker's script server,
`common.run.common_hidden`) from a folder outside the repository, and give the original's
SUMMARY; bad input gives one message and writes nothing. Claims tier: every script's copy runs
in a fresh Python started with -I (nothing of the repository on its path, `import common`
failing) and gives the original's SUMMARY, and for one script per folder the downloadable
notebook runs in a fresh Jupyter kernel where `common` cannot be imported.
"""

from __future__ import annotations

import ast
import functools
import json
import shutil
import subprocess
import sys

from common import export

import pytest

from .conftest import ROOT, SCRIPT_ENV, SCRIPTS, script_id
from .test_scripts import FRESH, assert_same_summary


def export_to(path, out):
    return subprocess.run(
        [sys.executable, "-m", "common.export", str(path), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=out.parent,
        timeout=60,
    )


def imports_of(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", SCRIPTS, ids=script_id)
def test_export_is_standalone_and_clean(path, tmp_path):
    out = tmp_path / path.name
    # The command's own code, run in this process (the tests below run it as a command).
    assert export.main([str(path), "--out", str(out)]) == 0
    tree = ast.parse(out.read_text())
    assert not {name for name in imports_of(tree) if name.split(".")[0] == "common"}
    text = out.read_text()
    assert f"# {path.relative_to(ROOT).as_posix()}\n" in text  # where it came from
    assert "Tested with Python" in text
    if "from common" in path.read_text():
        assert export.HELPERS_TITLE in text
    # The copy keeps the original's docstring and SUMMARY.
    assert ast.get_docstring(tree) == ast.get_docstring(ast.parse(path.read_text()))
    ruff = shutil.which("ruff")
    assert ruff, "ruff is part of the [test] extra"
    config = str(ROOT / "pyproject.toml")
    for command in (["check"], ["format", "--check"]):
        lint = subprocess.run(
            [ruff, *command, "--config", config, str(out)], capture_output=True, text=True
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr


# Runs a copied script as __main__ with figures discarded, in a Python where `import common`
# fails, and prints its SUMMARY as JSON on the last line.
RUN_COPY = """
import json, runpy, sys
sys.modules["common"] = None  # the copy must not need the course repository
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
plt.show = lambda *args, **kwargs: None
namespace = runpy.run_path(sys.argv[1], run_name="__main__")
print("SUMMARY=" + json.dumps(namespace["SUMMARY"]))
"""


def exported_copy(path, tmp_path):
    """The script's standalone copy, and an empty folder outside the repository to run it in."""
    out = tmp_path / "copy" / path.name
    out.parent.mkdir(parents=True)
    assert export_to(path, out).returncode == 0
    work = tmp_path / "work"
    work.mkdir()
    return out, work


def run_copy_fresh(path, tmp_path) -> dict:
    """The SUMMARY of the script's copy, run in smoke mode in a fresh Python started with -I
    (no PYTHONPATH, no user site, no script folder on sys.path) from a folder outside the
    repository, with `import common` failing: as a student's machine runs it."""
    out, work = exported_copy(path, tmp_path)
    runner = tmp_path / "run_copy.py"
    runner.write_text(RUN_COPY)
    env = {
        "PATH": "/usr/bin:/bin",
        "MMA440_SMOKE": "1",
        "MPLBACKEND": "Agg",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "MMA440_OUTPUT_DIR": str(tmp_path / "outputs"),
        **SCRIPT_ENV,
    }
    result = subprocess.run(
        [sys.executable, "-I", str(runner), str(out)],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1].removeprefix("SUMMARY="))


def run_copy(path, tmp_path, script_server) -> dict:
    """The SUMMARY of the script's copy, run in smoke mode from a folder outside the
    repository, in this worker's script server with `import common` failing."""
    out, work = exported_copy(path, tmp_path)
    record = script_server.run(
        out,
        out=work,
        smoke=True,
        extra_env={"MMA440_OUTPUT_DIR": str(tmp_path / "outputs")},
        cwd=work,
        without_common=True,
    )
    assert not record["leaked"], record["leaked"]
    return record["summary"]


@functools.cache  # the cover below asks for every script's names many times
def common_names(path) -> set[str]:
    """The names a script imports from `common` (each one a helper its copy must carry)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("common"):
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def helper_cover(scripts) -> list:
    """Few scripts that together import every helper any script imports from `common`
    (greedy: the script that adds the most helpers not yet covered; on ties the shortest
    file, as a stand-in for the quickest to run)."""
    left = set().union(*(common_names(path) for path in scripts))
    cover = []
    while left:
        best = max(scripts, key=lambda p: (len(common_names(p) & left), -p.stat().st_size))
        cover.append(best)
        left -= common_names(best)
    return sorted(cover)


# In the quick tier the copies that run are those of a few scripts that carry every helper of
# `common` between them (the static test above checks every copy for undefined names); the
# claims tier runs the copy of every script.
COPIES_RUN = helper_cover(SCRIPTS)


@pytest.mark.parametrize("path", COPIES_RUN, ids=script_id)
def test_export_runs_without_the_repository(path, tmp_path, run_script, script_server):
    original = run_script(path, smoke=True, fresh=False)  # the smoke test's own run
    assert_same_summary(run_copy(path, tmp_path, script_server), original["summary"])


def test_the_copies_that_run_carry_every_helper():
    used = set().union(*(common_names(path) for path in SCRIPTS))
    assert used and used == set().union(*(common_names(path) for path in COPIES_RUN))
    assert len(COPIES_RUN) < len(SCRIPTS)


@pytest.mark.claims
@pytest.mark.parametrize("path", SCRIPTS, ids=script_id)
def test_every_export_runs_without_the_repository(path, tmp_path, run_script):
    original = run_script(path, smoke=True, fresh=False)  # as in the quick tier
    assert_same_summary(run_copy_fresh(path, tmp_path), original["summary"])


def test_export_refuses_a_file_that_is_not_a_script(tmp_path):
    stray = tmp_path / "01_stray.py"
    stray.write_text("print('hello')\n")
    result = export_to(stray, tmp_path / "out.py")
    assert result.returncode == 2
    assert "is not a script of this repository" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.py").exists()


def test_export_keeps_an_existing_file_without_force(tmp_path):
    out = tmp_path / "mine.py"
    out.write_text("my homework\n")
    result = export_to(SCRIPTS[0], out)
    assert result.returncode == 2 and "--force" in result.stderr
    assert out.read_text() == "my homework\n"


def test_export_names_a_common_import_it_cannot_resolve():
    with pytest.raises(export.ExportError, match=r"'no_such_helper'.*common\.data does not"):
        export.Closure().add("common.data", "no_such_helper", "01_x.py")
    with pytest.raises(export.ExportError, match=r"no module common\.nowhere"):
        export.Closure().add("common.nowhere", "x", "01_x.py")


# Run before the notebook's own cells: no `common`, smoke mode, figures to files only.
NOTEBOOK_SETUP = """
import os, sys
sys.modules["common"] = None  # the notebook must not need the course repository
os.environ.update({"MMA440_SMOKE": "1", "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3"})
import matplotlib
matplotlib.use("Agg")
"""


@pytest.mark.claims
@pytest.mark.parametrize("path", FRESH, ids=script_id)
def test_notebook_export_runs_in_a_fresh_kernel(path, tmp_path, run_script):
    import nbclient
    import nbformat

    out = tmp_path / f"{path.stem}.ipynb"
    result = subprocess.run(
        [sys.executable, "-m", "common.export", str(path), "--notebook", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    notebook = nbformat.read(out, as_version=4)
    kinds = {cell.cell_type for cell in notebook.cells}
    assert kinds == {"markdown", "code"}, kinds
    # The markdown cells are the script's `# %% [markdown]` cells, not comments in code.
    assert any(export.HELPERS_TITLE in cell.source for cell in notebook.cells)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(NOTEBOOK_SETUP))
    notebook.cells.append(
        nbformat.v4.new_code_cell("import json\nprint('SUMMARY=' + json.dumps(SUMMARY))")
    )
    work = tmp_path / "work"
    work.mkdir()
    nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": work}}
    ).execute()
    printed = "".join(o.get("text", "") for o in notebook.cells[-1].outputs)
    summary = json.loads(printed.strip().splitlines()[-1].removeprefix("SUMMARY="))
    assert_same_summary(summary, run_script(path, smoke=True, fresh=False)["summary"])
