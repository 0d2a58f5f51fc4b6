"""Unit tests of the runner (common.run) and the project files around it."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from common import run as runner

import pytest

from .conftest import ROOT, SCRIPTS


def pyproject_requirements() -> tuple[str, list[str]]:
    """requires-python and every dependency named in pyproject.toml (tomllib is 3.11+ only)."""
    text = (ROOT / "pyproject.toml").read_text()
    requires_python = re.search(r'^requires-python = "([^"]+)"', text, re.MULTILINE).group(1)
    lists = re.findall(r"^(?:dependencies|test) = \[(.*?)\]", text, re.MULTILINE | re.DOTALL)
    return requires_python, [name for block in lists for name in re.findall(r'"([^"]+)"', block)]


TINY_SCRIPT = '''"""
A tiny script
=============

Shows one figure.

Try:
- nothing
"""

# %%
import os

import matplotlib.pyplot as plt

SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))
plt.plot([0, 1], [SEED, 1])
plt.show()
plt.figure()
plt.plot([1, 2])
SUMMARY = {"smoke": SMOKE, "seed": SEED, "value": 0.5, "name": "tiny"}
'''


def python_m_run(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "common.run", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_runner_saves_figures_and_summary(tmp_path):
    script = tmp_path / "01_tiny.py"
    script.write_text(TINY_SCRIPT)
    result = python_m_run(script, "--smoke", "--seed", "7", "--out", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert record["summary"] == {"smoke": True, "seed": 7, "value": 0.5, "name": "tiny"}
    # One figure shown with plt.show(), one left open at the end: both saved.
    assert record["figures"] == ["01_tiny_fig1.png", "01_tiny_fig2.png"]
    for name in record["figures"]:
        assert (tmp_path / "out" / name).read_bytes().startswith(b"\x89PNG")
    assert record["wall_seconds"] > 0 and record["peak_memory_mb"] > 10


def test_runner_reports_a_missing_script(tmp_path):
    result = python_m_run(tmp_path / "nope.py", cwd=tmp_path)
    assert result.returncode == 2
    assert "no Python script at" in result.stderr and "nope.py" in result.stderr


def test_runner_reports_a_failing_script(tmp_path):
    script = tmp_path / "01_broken.py"
    script.write_text("raise ValueError('the lesson broke here')\n")
    result = python_m_run(script, "--out", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 1
    assert "failed (exit status" in result.stderr and "the lesson broke here" in result.stderr


def test_runner_rejects_a_summary_that_is_not_flat(tmp_path):
    script = tmp_path / "01_nested.py"
    script.write_text("SUMMARY = {'curve': [1, 2, 3]}\n")
    result = python_m_run(script, "--out", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 1 and "SUMMARY['curve']" in result.stderr


def test_runner_blocks_the_network_when_asked(tmp_path):
    script = tmp_path / "01_net.py"
    script.write_text("import urllib.request\nurllib.request.urlopen('http://127.0.0.1:9')\n")
    with pytest.raises(RuntimeError, match="network access is disabled"):
        runner.run_script(script, out=tmp_path / "out", extra_env={"MMA440_NO_NETWORK": "1"})


def test_list_names_every_script():
    result = python_m_run("--list", cwd=ROOT)
    assert result.returncode == 0
    for path in SCRIPTS:
        assert path.relative_to(ROOT).as_posix() in result.stdout


def test_readme_catalogue_is_up_to_date():
    readme = (ROOT / "README.md").read_text()
    table = readme.split(runner.CATALOGUE_START, 1)[1].split(runner.CATALOGUE_END, 1)[0]
    assert table.strip() == runner.catalogue_markdown(ROOT).strip(), (
        "README catalogue is stale: run `python -m common.run --catalogue --write`"
    )


def test_every_lecture_folder_has_a_readme_naming_its_scripts():
    for folder in sorted({path.parent for path in SCRIPTS}):
        readme = folder / "README.md"
        assert readme.exists(), f"{folder} has no README.md"
        text = readme.read_text()
        for script in folder.glob("[0-9][0-9]_*.py"):
            assert script.name in text, f"{readme} does not mention {script.name}"


def test_every_script_has_a_claim_test():
    claims = "\n".join(p.read_text() for p in (ROOT / "tests" / "claims").glob("test_*.py"))
    for path in SCRIPTS:
        assert f"def test_{path.stem}(" in claims, f"no claim test named test_{path.stem}"


def test_environment_yml_installs_the_same_project():
    """environment.yml must not drift from pyproject.toml: it installs the project via pip."""
    requires_python, _ = pyproject_requirements()
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^channels:\s*\n\s*- conda-forge\s*$", text, re.MULTILINE)
    python = re.search(r"^\s*- python=(\d+)\.(\d+)\s*$", text, re.MULTILINE)
    assert python, "environment.yml pins python=3.X"
    low, high = re.findall(r"(\d+\.\d+)", requires_python)
    version = (int(python.group(1)), int(python.group(2)))
    assert tuple(map(int, low.split("."))) <= version < tuple(map(int, high.split(".")))
    assert re.search(r"^\s*- pip\s*$", text, re.MULTILINE)
    assert re.search(r"^\s*- -e \.\[test\]\s*$", text, re.MULTILINE), "pip section: -e .[test]"
    # No conda package besides python and pip: every dependency comes from pyproject.toml.
    dependencies = text.split("dependencies:", 1)[1]
    conda_packages = re.findall(r"^  - ([A-Za-z0-9_.-]+)", dependencies, re.MULTILINE)
    assert set(conda_packages) <= {"python", "pip"}, conda_packages


def test_lock_file_pins_every_dependency():
    lock = (ROOT / "requirements.lock").read_text()
    assert lock.lstrip().startswith("#") and "uv pip compile" in lock.splitlines()[1]
    pinned = {
        line.split("==")[0].strip().lower().replace("_", "-")
        for line in lock.splitlines()
        if "==" in line and not line.startswith("#")
    }
    _, wanted = pyproject_requirements()
    assert len(wanted) >= 9
    for requirement in wanted:
        name = re.split(r"[<>=\[ ]", requirement)[0].lower()
        assert name in pinned, f"{name} is not pinned in requirements.lock"


def test_ci_runs_what_the_readme_says():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    commands = ("ruff check .", "ruff format --check .", "pytest", "pytest -m claims")
    more = ("pytest -m isolation", "python -m common.docs --smoke", "pytest -m docs -n 0")
    for command in (*commands, *more):
        assert command in ci, f".ci/run does not run `{command}`"
        assert command in readme, f"README does not document `{command}`"
    assert "requirements.lock" in ci


LEAKY_SCRIPT = '''"""
A leaky script
==============

Changes process-wide settings and does not restore them.

Try:
- nothing
"""

# %%
import os

import common.quiet  # noqa: F401
import keras
import matplotlib.pyplot as plt

SEED = int(os.environ.get("MMA440_SEED", "0"))
keras.config.set_floatx("float64")
plt.rcParams["lines.linewidth"] = 7.0
plt.plot([0, 1], [0, 1])
plt.show()
SUMMARY = {"floatx": keras.config.floatx(), "layer": keras.layers.Dense(1).name}
'''

CLEAN_SCRIPT = LEAKY_SCRIPT.replace('keras.config.set_floatx("float64")\n', "").replace(
    'plt.rcParams["lines.linewidth"] = 7.0\n',
    "from common.plotting import use_course_style\nuse_course_style()\n",
)


def test_same_process_runs_scripts_in_order_and_names_leaks(tmp_path):
    leaky, clean = tmp_path / "01_leaky.py", tmp_path / "02_clean.py"
    leaky.write_text(LEAKY_SCRIPT)
    clean.write_text(CLEAN_SCRIPT)
    result = python_m_run(
        "--same-process", leaky, clean, leaky, "--smoke", "--out", tmp_path / "out", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("common.run:")]
    assert len(lines) == 3
    # The leaky script is named with what it left changed; the course style is no leak.
    assert "LEAKED" in lines[0] and "floatx" in lines[0] and "lines.linewidth" in lines[0]
    assert "LEAKED" not in lines[1]
    clean_record = json.loads(
        (tmp_path / "out" / tmp_path.name / "02_clean" / "summary.json").read_text()
    )
    # Run after the leaky script, the clean one saw a fresh process: float32, a fresh session
    # (the first Dense layer is named "dense" again).
    assert clean_record["summary"] == {"floatx": "float32", "layer": "dense"}
    assert clean_record["figures"] == ["02_clean_fig1.png"]


def test_same_process_reports_a_missing_script_before_running_any(tmp_path):
    script = tmp_path / "01_tiny.py"
    script.write_text(TINY_SCRIPT)
    result = python_m_run("--same-process", script, tmp_path / "nope.py", cwd=tmp_path)
    assert result.returncode == 2 and "nope.py" in result.stderr
    assert not (tmp_path / "figures").exists()


# These use this test worker's script server (the quick tier's): it must survive them.
def test_script_server_runs_scripts_and_survives_a_failure(tmp_path, script_server):
    tiny, broken = tmp_path / "01_tiny.py", tmp_path / "02_broken.py"
    tiny.write_text(TINY_SCRIPT)
    broken.write_text("raise ValueError('the lesson broke here')\n")
    record = script_server.run(tiny, out=tmp_path / "a", smoke=True, seed=5)
    assert record["summary"]["seed"] == 5 and record["leaked"] == []
    with pytest.raises(RuntimeError, match="the lesson broke here"):
        script_server.run(broken, out=tmp_path / "b")
    # The same process goes on with the next script.
    assert script_server.run(tiny, out=tmp_path / "c")["summary"]["seed"] == 0


def test_script_server_runs_a_script_without_common(tmp_path, script_server):
    needs_common = tmp_path / "01_needs_common.py"
    needs_common.write_text(TINY_SCRIPT.replace("SUMMARY =", "import common.plotting\nSUMMARY ="))
    with pytest.raises(
        RuntimeError, match=r"ModuleNotFoundError: import of common\.plotting halted"
    ):
        script_server.run(needs_common, out=tmp_path / "a", without_common=True)
    # Hidden for that script only: the next one imports `common` again.
    assert script_server.run(needs_common, out=tmp_path / "b")["leaked"] == []


def test_script_server_times_out_and_restarts(tmp_path, script_server):
    slow = tmp_path / "01_slow.py"
    slow.write_text("import time\ntime.sleep(60)\n")
    tiny = tmp_path / "02_tiny.py"
    tiny.write_text(TINY_SCRIPT)
    # A running server first (starting one is allowed longer than the script's timeout).
    assert script_server.run(tiny, out=tmp_path / "a")["summary"]["smoke"] is False
    with pytest.raises(RuntimeError, match=r"01_slow\.py: timed out after 2 s"):
        script_server.run(slow, out=tmp_path / "b", timeout=2)
    # The stuck process was killed; the next script starts a new one.
    assert script_server.run(tiny, out=tmp_path / "c", smoke=True)["summary"]["smoke"] is True
