"""Run a lecture script and keep what it shows: `python -m common.run PATH`.

    python -m common.run lectures/03_overfitting/01_memorization.py --out figures/
    python -m common.run PATH --smoke --seed 3       # tiny settings, another seed
    python -m common.run --same-process PATH PATH... --out figures/   # one Python process
    python -m common.run --list                      # every script and its title
    python -m common.run --catalogue --write         # refresh the table in README.md

The script runs as `__main__` in a fresh Python process with a non-interactive matplotlib
backend: every figure it shows (or leaves open at the end) is saved as PNG in the output folder,
and `summary.json` there holds the script's SUMMARY plus its wall time and peak memory. A wrong
path, a script that raises or a SUMMARY that is not a flat dict of plain values gives a clear
message and a non-zero exit status.

With `--same-process` the scripts run one after another in one Python process, as in one
notebook kernel, Keras imported once; each gets its own folder `OUT/<lecture>/<script>/`.
Before each script the runner puts back the state a fresh process would have (Keras' session,
float type and dtype policy, matplotlib's settings and figures, the working directory,
`sys.argv`, `sys.path`, the environment, NumPy's print and error settings) and after it
records in `leaked` every piece of that state the script changed and did not restore. The one
change every script makes on purpose is not counted: `use_course_style()` (common.plotting)
sets the course's figure style, the same values for every script.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import functools
import io
import json
import math
import os
import re
import resource
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path

SUMMARY_FILE = "summary.json"
CATALOGUE_START = "<!-- catalogue:start -->"
CATALOGUE_END = "<!-- catalogue:end -->"
SCRIPT_NAME = re.compile(r"^\d\d_[a-z0-9_]+\.py$")


def repo_root() -> Path:
    """The folder that holds `lectures/`: next to this package, else the working directory."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "lectures").is_dir() else Path.cwd()


def discover_scripts(root: Path | None = None) -> list[Path]:
    """Every lecture script (`lectures/*/NN_*.py`) and example (`examples/NN_*.py`), sorted."""
    root = root or repo_root()
    found = sorted((root / "lectures").glob("*/*.py")) + sorted((root / "examples").glob("*.py"))
    return [path for path in found if SCRIPT_NAME.match(path.name)]


def script_title(path: Path) -> str:
    """The first line of the script's module docstring."""
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return docstring.strip().splitlines()[0].strip() if docstring.strip() else "(no title)"


def catalogue_markdown(root: Path | None = None) -> str:
    """The README's catalogue table: one row per script, in teaching order."""
    root = root or repo_root()
    rows = ["| lecture | script | what it shows |", "|---|---|---|"]
    for path in discover_scripts(root):
        relative = path.relative_to(root).as_posix()
        group = path.parent.name if path.parent.name != "examples" else "examples"
        rows.append(f"| {group} | [`{path.name}`]({relative}) | {script_title(path)} |")
    return "\n".join(rows) + "\n"


def write_catalogue(readme: Path) -> bool:
    """Replace the catalogue block of `readme`; return True if the file changed."""
    text = readme.read_text(encoding="utf-8")
    if CATALOGUE_START not in text or CATALOGUE_END not in text:
        raise SystemExit(f"{readme} has no {CATALOGUE_START} ... {CATALOGUE_END} block")
    head, rest = text.split(CATALOGUE_START, 1)
    _, tail = rest.split(CATALOGUE_END, 1)
    table = catalogue_markdown(readme.parent)
    new = f"{head}{CATALOGUE_START}\n{table}{CATALOGUE_END}{tail}"
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return new != text


# ---------------------------------------------------------------------------------------------
# The child process: runs scripts themselves


def _block_network() -> None:
    """Make every attempt to open a network connection fail loudly (used by the tests)."""
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network access is disabled for lecture scripts (MMA440_NO_NETWORK=1)")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]
    socket.getaddrinfo = refuse  # type: ignore[assignment]


def _plain(value: object) -> object:
    """A JSON-ready plain value, or raise TypeError for anything that is not flat."""
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int | float):
        return value
    try:  # NumPy and Keras scalars
        import numpy as np

        if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
            return value.item()
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"{type(value).__name__} is not a plain number, bool or string")


def _process_state() -> dict[str, object]:
    """The process-wide settings a script could change and leave behind, by name."""
    import matplotlib as mpl
    import matplotlib.pyplot as plt
    import numpy as np

    state: dict[str, object] = {
        "working directory": os.getcwd(),
        "sys.argv": list(sys.argv),
        "sys.path": list(sys.path),
        "environment": dict(os.environ),
        "numpy print options": np.get_printoptions(),
        "numpy error settings": np.geterr(),
        "matplotlib figures": plt.get_fignums(),
    }
    for key, value in mpl.rcParams.items():
        state[f"matplotlib rcParams[{key!r}]"] = value
    if "keras" in sys.modules:
        import keras

        state["keras float type (keras.config.floatx)"] = keras.config.floatx()
        state["keras epsilon (keras.config.epsilon)"] = keras.config.epsilon()
        state["keras image data format"] = keras.config.image_data_format()
        # Read the global dtype policy without creating it: `keras.config.dtype_policy()`
        # would fix it at the current float type, and a later `set_floatx` would not apply.
        from keras.src.backend.common import global_state

        policy = global_state.get_global_attribute("dtype_policy", None)
        state["keras dtype policy"] = keras.config.floatx() if policy is None else policy.name
    return state


@functools.cache
def _course_style_items() -> dict[str, object]:
    """State entries that `use_course_style()` sets: the declared, identical change."""
    from common.plotting import COURSE_STYLE

    import matplotlib as mpl

    return {
        f"matplotlib rcParams[{key!r}]": mpl.rcParams.validate[key](value)
        for key, value in COURSE_STYLE.items()
    }


def _leaks(before: dict[str, object], after: dict[str, object]) -> list[str]:
    """Names of the state entries that differ, except the course style's own values."""
    allowed = _course_style_items()
    changed = []
    for name in sorted(set(before) | set(after)):
        if name in allowed and after.get(name) == allowed[name]:
            continue
        if before.get(name) != after.get(name):
            changed.append(name)
    return changed


def _restore(state: dict[str, object]) -> None:
    """Put back the process-wide settings recorded by `_process_state`, fresh-process style."""
    import matplotlib as mpl
    import matplotlib.pyplot as plt
    import numpy as np

    plt.close("all")
    os.chdir(state["working directory"])  # type: ignore[arg-type]
    sys.argv[:] = state["sys.argv"]  # type: ignore[index]
    sys.path[:] = state["sys.path"]  # type: ignore[index]
    os.environ.clear()
    os.environ.update(state["environment"])  # type: ignore[arg-type]
    np.set_printoptions(**state["numpy print options"])  # type: ignore[arg-type]
    np.seterr(**state["numpy error settings"])  # type: ignore[arg-type]
    prefix = "matplotlib rcParams["
    rc = {name[len(prefix) + 1 : -2]: v for name, v in state.items() if name.startswith(prefix)}
    with warnings_silenced():
        mpl.rcParams.update(rc)
    if "keras" in sys.modules:
        import keras

        keras.backend.clear_session()
        keras.config.set_floatx(state["keras float type (keras.config.floatx)"])
        keras.config.set_epsilon(state["keras epsilon (keras.config.epsilon)"])
        keras.config.set_image_data_format(state["keras image data format"])
        # clear_session() unset the dtype policy: the first layer makes it from floatx.


@contextlib.contextmanager
def common_hidden() -> Iterator[None]:
    """Inside the block `import common` fails, as in a Python without the course repository.

    The exported copies of the scripts (`python -m common.export`) must run like that. Modules
    of `common` already imported (the runner's own) keep working; they are put back after.
    """
    names = [name for name in sys.modules if name == "common" or name.startswith("common.")]
    hidden = {name: sys.modules[name] for name in names}
    for name in [*hidden, "common"]:
        sys.modules[name] = None  # type: ignore[assignment]  (None: the import fails)
    try:
        yield
    finally:
        for name in [*hidden, "common"]:
            sys.modules.pop(name, None)
        sys.modules.update(hidden)


@contextlib.contextmanager
def warnings_silenced() -> Iterator[None]:
    """Silence the deprecation warnings matplotlib gives for setting its deprecated rcParams."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _execute(path: Path, out: Path, echo: bool = True) -> tuple[int, dict]:
    """Run `path` as __main__ in this process; save its figures in `out`.

    Returns (status, record): status 0 and the record written to out/summary.json, or a
    non-zero status (1: the script raised, 3: no flat SUMMARY) and a record with "error".
    With `echo=False` the script's printed output is captured in record["stdout"].
    """
    import runpy

    import matplotlib.pyplot as plt

    saved: list[str] = []

    def save_open_figures() -> None:
        for number in plt.get_fignums():
            name = f"{path.stem}_fig{len(saved) + 1}.png"
            plt.figure(number).savefig(out / name)
            saved.append(name)
        plt.close("all")

    def show(*args: object, **kwargs: object) -> None:
        save_open_figures()

    plt.show = show  # the script's plt.show() saves instead of opening a window
    sys.path.insert(0, str(path.parent))
    sys.argv = [str(path)]
    printed = io.StringIO()
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(sys.stdout if echo else printed):
            namespace = runpy.run_path(str(path), run_name="__main__")
    except Exception as error:
        # Show the traceback from the script's own frames on, not the runner's.
        frames = error.__traceback__
        while frames is not None and frames.tb_frame.f_code.co_filename != str(path):
            frames = frames.tb_next
        message = "".join(
            traceback.format_exception(type(error), error, frames or error.__traceback__)
        )
        sys.stderr.write(message)
        return 1, {"error": message, "stdout": printed.getvalue()}
    seconds = time.perf_counter() - start
    save_open_figures()

    summary = namespace.get("SUMMARY")
    if not isinstance(summary, dict):
        message = f"common.run: {path} defines no SUMMARY dict"
        print(message, file=sys.stderr)
        return 3, {"error": message, "stdout": printed.getvalue()}
    plain: dict[str, object] = {}
    for key, value in summary.items():
        try:
            plain[str(key)] = _plain(value)
        except TypeError as error:
            message = f"common.run: SUMMARY[{key!r}] in {path}: {error}"
            print(message, file=sys.stderr)
            return 3, {"error": message, "stdout": printed.getvalue()}
    # This process' peak resident memory so far (Linux reports ru_maxrss in kilobytes).
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record = {
        "script": str(path),
        "summary": plain,
        "figures": saved,
        "script_seconds": seconds,
        "peak_memory_mb": round(peak_mb, 1),
    }
    (out / SUMMARY_FILE).write_text(json.dumps(record, indent=2, allow_nan=True) + "\n")
    record["stdout"] = printed.getvalue()
    return 0, record


def _prepare_process() -> None:
    """What every child process does first: a file-only matplotlib, network off if asked."""
    import matplotlib

    matplotlib.use("Agg")
    if os.environ.get("MMA440_NO_NETWORK") == "1":
        _block_network()


def _run_child(path: Path, out: Path) -> int:
    """Run one script in this fresh process (`--child`)."""
    _prepare_process()
    status, _ = _execute(path, out)
    return status


class InProcessRunner:
    """Runs scripts one after another in this process, each from a fresh-process state.

    The state of the process when the runner is made (Keras imported, matplotlib on Agg) is the
    baseline: it is put back before every script, and every entry a script leaves changed is
    named in the record's "leaked" list.
    """

    def __init__(self) -> None:
        _prepare_process()
        import common.quiet  # noqa: F401  (TensorFlow's start-up lines, once)

        import keras  # noqa: F401  (imported once for every script)
        import matplotlib.pyplot as plt

        self._show = plt.show
        self.baseline = _process_state()

    def run(
        self,
        path: Path,
        out: Path,
        *,
        smoke: bool = False,
        seed: int | None = None,
        extra_env: dict[str, str] | None = None,
        cwd: Path | None = None,
        echo: bool = False,
        without_common: bool = False,
    ) -> tuple[int, dict]:
        """Run one script; `without_common=True` runs it with `common` hidden (`common_hidden`)."""
        import matplotlib.pyplot as plt

        # Imports common.plotting (if no script has yet) while `common` can still be imported:
        # the leak check reads it, and a script run without `common` is told that
        # "import of common.plotting halted" rather than that the module does not exist.
        _course_style_items()
        _restore(self.baseline)
        out.mkdir(parents=True, exist_ok=True)
        (out / SUMMARY_FILE).unlink(missing_ok=True)
        os.environ.update(_script_env(smoke, seed, extra_env))
        if cwd is not None:
            os.chdir(cwd)
        start = time.perf_counter()
        try:
            with common_hidden() if without_common else contextlib.nullcontext():
                status, record = _execute(Path(path).resolve(), out, echo=echo)
        finally:
            plt.show = self._show
            wall = time.perf_counter() - start
            # Compare with the baseline as the script left the process (the runner's own
            # changes, the environment variables and the script folder on sys.path, undone).
            for name in _script_env(smoke, seed, extra_env):
                os.environ.pop(name, None)
                if name in self.baseline["environment"]:  # type: ignore[operator]
                    os.environ[name] = self.baseline["environment"][name]  # type: ignore[index]
            if sys.path and sys.path[0] == str(Path(path).resolve().parent):
                sys.path.pop(0)
            sys.argv[:] = self.baseline["sys.argv"]  # type: ignore[index]
            if cwd is not None and os.getcwd() == str(Path(cwd).resolve()):
                os.chdir(self.baseline["working directory"])  # type: ignore[arg-type]
            plt.close("all")
            leaked = _leaks(self.baseline, _process_state())
            _restore(self.baseline)
        record.update(wall_seconds=round(wall, 3), smoke=smoke, seed=seed, leaked=leaked)
        return status, record


def _serve() -> int:
    """`--serve`: run scripts in this process on request, one JSON line in, one out.

    The replies go to the original standard output; the scripts' own output is captured.
    """
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything written to file descriptor 1 below goes to standard error
    runner = InProcessRunner()
    reply.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        status, record = runner.run(
            Path(request["path"]),
            Path(request["out"]),
            smoke=request.get("smoke", False),
            seed=request.get("seed"),
            extra_env=request.get("env"),
            cwd=Path(request["cwd"]) if request.get("cwd") else None,
            without_common=request.get("without_common", False),
        )
        record["status"] = status
        reply.write(json.dumps(record, allow_nan=True) + "\n")
    return 0


# ---------------------------------------------------------------------------------------------
# The parent process


def _script_env(
    smoke: bool, seed: int | None, extra_env: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment variables a script run sets (smoke mode, seed, the caller's extras)."""
    env = {"MMA440_SMOKE": "1" if smoke else "0"}
    if seed is not None:
        env["MMA440_SEED"] = str(seed)
    env.update(extra_env or {})
    return env


def _child_env(extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process: this one's, quiet TensorFlow, Agg, `common` found."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["MPLBACKEND"] = "Agg"
    env.pop("MMA440_SMOKE", None)
    env.pop("MMA440_SEED", None)
    env.update(extra_env or {})
    code_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [code_root, env.get("PYTHONPATH")]))
    return env


def _check_script(path: str | os.PathLike[str]) -> Path:
    path = Path(path).resolve()
    if not path.is_file() or path.suffix != ".py":
        raise FileNotFoundError(f"no Python script at {path}")
    return path


def run_script(
    path: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] = "figures",
    smoke: bool = False,
    seed: int | None = None,
    extra_env: dict[str, str] | None = None,
    timeout: float | None = None,
    echo: bool = False,
    cwd: str | os.PathLike[str] | None = None,
) -> dict:
    """Run one script in a fresh process; return the record written to out/summary.json.

    With `echo=True` the script's output goes straight to this terminal (progress included);
    otherwise it is captured in record["stdout"]. `cwd` is the script's working directory
    (default: this process'). Raises FileNotFoundError for a missing script and RuntimeError
    (with the end of the script's output) when it fails.
    """
    path = _check_script(path)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / SUMMARY_FILE).unlink(missing_ok=True)
    env = _child_env({**_script_env(smoke, seed), **(extra_env or {})})
    command = [sys.executable, "-m", "common.run", "--child", str(path), "--out", str(out)]
    start = time.perf_counter()
    result = subprocess.run(
        command, env=env, capture_output=not echo, text=True, timeout=timeout, cwd=cwd
    )
    wall = time.perf_counter() - start
    if result.returncode != 0 or not (out / SUMMARY_FILE).exists():
        if echo:
            raise RuntimeError(f"{path} failed (exit status {result.returncode}); see above")
        raise RuntimeError(
            f"{path} failed (exit status {result.returncode}).\n"
            f"--- stdout (last lines) ---\n{_tail(result.stdout)}\n"
            f"--- stderr (last lines) ---\n{_tail(result.stderr)}"
        )
    record = json.loads((out / SUMMARY_FILE).read_text())
    record["stdout"] = result.stdout or ""
    record["wall_seconds"] = round(wall, 3)
    record["smoke"] = smoke
    record["seed"] = seed
    (out / SUMMARY_FILE).write_text(
        json.dumps({k: v for k, v in record.items() if k != "stdout"}, indent=2) + "\n"
    )
    return record


STARTUP_TIMEOUT = 120  # seconds for a script server to import Keras and report ready


class ScriptServer:
    """One long-lived child process that runs scripts in-process, Keras imported once.

    `server.run(path, out=..., smoke=..., seed=..., extra_env=..., cwd=..., timeout=...)`
    returns the same record as `run_script`, plus "leaked": the process-wide state the script
    changed and did not restore (see `InProcessRunner`). `process_env` is set when the child
    starts (e.g. BLAS threads, network blocking) and holds for every script it runs. A script
    that exceeds `timeout` kills the child (the next call starts a new one) and raises
    RuntimeError, as a failing script does. `without_common=True` runs a script with
    `import common` failing (see `common_hidden`), as an exported copy must run.
    """

    def __init__(self, process_env: dict[str, str] | None = None) -> None:
        self.process_env = dict(process_env or {})
        self._process: subprocess.Popen[str] | None = None
        self._stderr = None

    def _start(self, timeout: float) -> subprocess.Popen[str]:
        import tempfile

        self._stderr = tempfile.TemporaryFile(mode="w+")
        process = subprocess.Popen(
            [sys.executable, "-m", "common.run", "--serve"],
            env=_child_env(self.process_env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            start_new_session=True,
        )
        self._process = process
        self._reply(timeout, "starting the script server")
        return process

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return _tail(self._stderr.read())

    def _reply(self, timeout: float, what: str) -> dict:
        import select

        process = self._process
        assert process is not None and process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        line = process.stdout.readline() if ready else ""
        if not line:
            self.close()
            reason = f"timed out after {timeout:.0f} s" if not ready else "the server process died"
            raise RuntimeError(
                f"{what}: {reason}.\n--- stderr (last lines) ---\n{self._stderr_tail()}"
            )
        return json.loads(line)

    def run(
        self,
        path: str | os.PathLike[str],
        *,
        out: str | os.PathLike[str],
        smoke: bool = False,
        seed: int | None = None,
        extra_env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        timeout: float = 600,
        without_common: bool = False,
    ) -> dict:
        path = _check_script(path)
        process = self._process
        if process is None or process.poll() is not None:
            # Starting imports Keras: allow for that, whatever the script's own timeout.
            process = self._start(max(timeout, STARTUP_TIMEOUT))
        assert process.stdin is not None
        if self._stderr is not None:  # keep only this script's error output
            self._stderr.seek(0)
            self._stderr.truncate()
        request = {
            "path": str(path),
            "out": str(Path(out).resolve()),
            "smoke": smoke,
            "seed": seed,
            "env": extra_env or {},
            "cwd": str(Path(cwd).resolve()) if cwd is not None else None,
            "without_common": without_common,
        }
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
        record = self._reply(timeout, f"{path}")
        if record.pop("status") != 0:
            raise RuntimeError(
                f"{path} failed in the script server.\n"
                f"--- stdout (last lines) ---\n{_tail(record.get('stdout', ''))}\n"
                f"--- error ---\n{record.get('error', '')}"
            )
        return record

    def close(self) -> None:
        """Stop the child process (and anything it started)."""
        import signal

        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def __enter__(self) -> ScriptServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_same_process(
    paths: list[str | os.PathLike[str]],
    *,
    out: str | os.PathLike[str] = "figures",
    smoke: bool = False,
    seed: int | None = None,
) -> list[dict]:
    """`--same-process`: run the scripts one after another in this process, as in a kernel.

    Each script's figures and summary.json go to OUT/<folder>/<script stem>/. Prints one line
    per script (time, figures, leaked state) and returns the records. Raises
    FileNotFoundError before running anything if a path is not a script.
    """
    scripts = [_check_script(path) for path in paths]
    runner = InProcessRunner()
    records = []
    for path in scripts:
        folder = Path(out).resolve() / path.parent.name / path.stem
        status, record = runner.run(path, folder, smoke=smoke, seed=seed, echo=True)
        record["status"] = status
        records.append(record)
        if status != 0:
            print(f"common.run: {path} FAILED (status {status})", file=sys.stderr)
            continue
        leaked = f"; LEAKED {', '.join(record['leaked'])}" if record["leaked"] else ""
        print(
            f"common.run: {path.parent.name}/{path.name}: {len(record['figures'])} figure(s) "
            f"in {folder} ({record['wall_seconds']:.1f} s){leaked}"
        )
    return records


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def summary_is_finite(summary: dict) -> bool:
    """True if every number in SUMMARY is finite (bools and strings always are)."""
    return all(
        not isinstance(v, float) or math.isfinite(v) for v in summary.values() if v is not None
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m common.run",
        description="Run a lecture script, save its figures as PNG and its SUMMARY as JSON.",
    )
    parser.add_argument(
        "path", nargs="*", help="the script(s), e.g. lectures/03_overfitting/01_memorization.py"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny settings (MMA440_SMOKE=1)")
    parser.add_argument("--seed", type=int, help="override the script's seed (MMA440_SEED)")
    parser.add_argument("--out", default="figures", help="output folder (default: figures)")
    parser.add_argument("--list", action="store_true", help="list every script and its title")
    parser.add_argument("--catalogue", action="store_true", help="print the README catalogue")
    parser.add_argument("--write", action="store_true", help="with --catalogue: update README")
    parser.add_argument(
        "--same-process",
        action="store_true",
        help="run every PATH one after another in one Python process (as in one kernel)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        return _run_child(Path(args.path[0]), Path(args.out))
    if args.serve:
        return _serve()
    if args.list:
        root = repo_root()
        for path in discover_scripts(root):
            print(f"{path.relative_to(root).as_posix():60s} {script_title(path)}")
        return 0
    if args.catalogue:
        if args.write:
            readme = repo_root() / "README.md"
            changed = write_catalogue(readme)
            print(f"{readme}: {'updated' if changed else 'already up to date'}")
        else:
            print(catalogue_markdown(), end="")
        return 0
    if not args.path:
        parser.error("give a script path, or --list / --catalogue")
    if args.seed is not None and args.seed < 0:
        parser.error(f"--seed must be a non-negative integer, got {args.seed}")
    if args.same_process:
        try:
            records = run_same_process(args.path, out=args.out, smoke=args.smoke, seed=args.seed)
        except FileNotFoundError as error:
            print(f"common.run: {error}", file=sys.stderr)
            return 2
        return 1 if any(record["status"] != 0 for record in records) else 0
    if len(args.path) > 1:
        parser.error("give one script path, or several with --same-process")
    try:
        record = run_script(args.path[0], out=args.out, smoke=args.smoke, seed=args.seed, echo=True)
    except FileNotFoundError as error:
        print(f"common.run: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        print(f"common.run: {error}", file=sys.stderr)
        return 1
    print(
        f"common.run: {len(record['figures'])} figure(s) and {SUMMARY_FILE} in {args.out} "
        f"({record['wall_seconds']:.1f} s, peak {record['peak_memory_mb']:.0f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
