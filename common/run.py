"""Run a lecture script and keep what it shows: `python -m common.run PATH`.

    python -m common.run lectures/03_overfitting/01_memorization.py --out figures/
    python -m common.run PATH --smoke --seed 3       # tiny settings, another seed
    python -m common.run --list                      # every script and its title
    python -m common.run --catalogue --write         # refresh the table in README.md

The script runs as `__main__` in a fresh Python process with a non-interactive matplotlib
backend: every figure it shows (or leaves open at the end) is saved as PNG in the output folder,
and `summary.json` there holds the script's SUMMARY plus its wall time and peak memory. A wrong
path, a script that raises or a SUMMARY that is not a flat dict of plain values gives a clear
message and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import re
import resource
import subprocess
import sys
import time
import traceback
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
# The child process: runs the script itself


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


def _run_child(path: Path, out: Path) -> int:
    """Run `path` as __main__ here; save figures; write SUMMARY to out/summary.json."""
    import runpy

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if os.environ.get("MMA440_NO_NETWORK") == "1":
        _block_network()

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
    start = time.perf_counter()
    try:
        namespace = runpy.run_path(str(path), run_name="__main__")
    except Exception as error:
        # Show the traceback from the script's own frames on, not the runner's.
        frames = error.__traceback__
        while frames is not None and frames.tb_frame.f_code.co_filename != str(path):
            frames = frames.tb_next
        traceback.print_exception(type(error), error, frames or error.__traceback__)
        return 1
    seconds = time.perf_counter() - start
    save_open_figures()

    summary = namespace.get("SUMMARY")
    if not isinstance(summary, dict):
        print(f"common.run: {path} defines no SUMMARY dict", file=sys.stderr)
        return 3
    plain: dict[str, object] = {}
    for key, value in summary.items():
        try:
            plain[str(key)] = _plain(value)
        except TypeError as error:
            print(f"common.run: SUMMARY[{key!r}] in {path}: {error}", file=sys.stderr)
            return 3
    # This process' own peak resident memory (Linux reports ru_maxrss in kilobytes).
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record = {
        "script": str(path),
        "summary": plain,
        "figures": saved,
        "script_seconds": seconds,
        "peak_memory_mb": round(peak_mb, 1),
    }
    (out / SUMMARY_FILE).write_text(json.dumps(record, indent=2, allow_nan=True) + "\n")
    return 0


# ---------------------------------------------------------------------------------------------
# The parent process


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
    path = Path(path).resolve()
    if not path.is_file() or path.suffix != ".py":
        raise FileNotFoundError(f"no Python script at {path}")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / SUMMARY_FILE).unlink(missing_ok=True)
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["MPLBACKEND"] = "Agg"
    if smoke:
        env["MMA440_SMOKE"] = "1"
    else:
        env.pop("MMA440_SMOKE", None)
    if seed is not None:
        env["MMA440_SEED"] = str(seed)
    env.update(extra_env or {})
    code_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [code_root, env.get("PYTHONPATH")]))
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
    parser.add_argument("path", nargs="?", help="the script, e.g. lectures/03_overfitting/...")
    parser.add_argument("--smoke", action="store_true", help="tiny settings (MMA440_SMOKE=1)")
    parser.add_argument("--seed", type=int, help="override the script's seed (MMA440_SEED)")
    parser.add_argument("--out", default="figures", help="output folder (default: figures)")
    parser.add_argument("--list", action="store_true", help="list every script and its title")
    parser.add_argument("--catalogue", action="store_true", help="print the README catalogue")
    parser.add_argument("--write", action="store_true", help="with --catalogue: update README")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        return _run_child(Path(args.path), Path(args.out))
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
    try:
        record = run_script(args.path, out=args.out, smoke=args.smoke, seed=args.seed, echo=True)
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
