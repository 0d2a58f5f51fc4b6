"""Benchmark: wall time and peak memory of every script, smoke and full, next to the floor.

    python -m common.bench                      # every script (takes a while)
    python -m common.bench lectures/07_optimizers --modes smoke
    python -m common.bench --out bench.md       # also write the table to a file
    python -m common.bench --quick-tier         # also time `pytest` (the quick tier)

The floor is a fresh `python -c "import keras"` with the same start-up as a script. Each script
runs once per mode through the runner, one at a time, so the numbers are not disturbed by each
other. The table flags a script over its budget: full mode five times the floor (and at most
20 s; 60 s under examples/), smoke mode twice the floor, peak memory 1.5 GB. With full mode,
a second table gives per lecture the total full-mode time in fresh processes and in one
process (`common.run.ScriptServer`, Keras imported once, as in a notebook kernel). This is a
measurement, not a test: it always exits 0 unless a script fails.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common.run import ScriptServer, discover_scripts, repo_root, run_script

FULL_BUDGET_S = 20.0
FULL_BUDGET_FLOORS = 5.0  # full mode: at most this many import floors (and FULL_BUDGET_S)
EXAMPLE_BUDGET_S = 60.0
MEMORY_BUDGET_MB = 1536.0


def import_floor() -> tuple[float, float]:
    """Wall seconds and peak MB of a fresh process that imports Keras quietly."""
    code = "import common.quiet, keras"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
    wall = time.perf_counter() - start
    peak = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
    return wall, peak


def scripts_under(paths: list[str]) -> list[Path]:
    root = repo_root()
    every = discover_scripts(root)
    if not paths:
        return every
    chosen = []
    for text in paths:
        target = Path(text).resolve()
        chosen += [p for p in every if p == target or target in p.parents]
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m common.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("paths", nargs="*", help="scripts or folders (default: every script)")
    parser.add_argument("--modes", default="smoke,full", help="comma list of smoke, full")
    parser.add_argument("--out", help="also write the markdown table to this file")
    parser.add_argument(
        "--quick-tier", action="store_true", help="also time the quick test tier (`pytest`)"
    )
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not set(modes) <= {"smoke", "full"} or not modes:
        parser.error(f"--modes takes smoke and/or full, got {args.modes!r}")
    scripts = scripts_under(args.paths)
    if not scripts:
        parser.error(f"no lecture script under {args.paths}")

    floor_s, floor_mb = import_floor()
    full_budget = min(FULL_BUDGET_S, FULL_BUDGET_FLOORS * floor_s)
    root = repo_root()
    full_fresh: dict[str, float] = {}
    header = "| script | " + " | ".join(f"{m} wall (s) | {m} peak (MB)" for m in modes) + " | |"
    lines = [
        f"Floor (`import keras`): {floor_s:.1f} s, {floor_mb:.0f} MB. Budgets: full <= "
        f"{full_budget:.1f} s ({EXAMPLE_BUDGET_S:.0f} s for examples), smoke <= "
        f"{2 * floor_s:.1f} s (2x floor), peak <= {MEMORY_BUDGET_MB:.0f} MB. "
        f"{os.cpu_count()} cores.",
        "",
        header,
        "|---|" + "---:|---:|" * len(modes) + "---|",
    ]
    print("\n".join(lines), flush=True)
    failures = 0
    with tempfile.TemporaryDirectory() as scratch:
        for path in scripts:
            name = path.relative_to(root).as_posix()
            cells, flags = [], []
            for mode in modes:
                try:
                    record = run_script(
                        path, out=Path(scratch) / f"{path.stem}-{mode}", smoke=mode == "smoke"
                    )
                except RuntimeError as error:
                    failures += 1
                    cells += ["failed", "-"]
                    print(error, file=sys.stderr)
                    continue
                wall, peak = record["wall_seconds"], record["peak_memory_mb"]
                cells += [f"{wall:.1f}", f"{peak:.0f}"]
                budget = (
                    2 * floor_s
                    if mode == "smoke"
                    else EXAMPLE_BUDGET_S
                    if path.parent.name == "examples"
                    else full_budget
                )
                if mode == "full":
                    group = path.parent.name
                    full_fresh[group] = full_fresh.get(group, 0.0) + wall
                if wall > budget:
                    flags.append(f"{mode} over {budget:.0f} s")
                if peak > MEMORY_BUDGET_MB:
                    flags.append(f"{mode} memory over budget")
            line = f"| {name} | " + " | ".join(cells) + f" | {'; '.join(flags)} |"
            lines.append(line)
            print(line, flush=True)
        if "full" in modes:
            failures += same_process_table(scripts, full_fresh, Path(scratch), lines)
    if args.quick_tier:
        lines += ["", quick_tier_line(len(discover_scripts(root)))]
        print(lines[-1], flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 1 if failures else 0


def same_process_table(
    scripts: list[Path], full_fresh: dict[str, float], scratch: Path, lines: list[str]
) -> int:
    """Per lecture: full mode in fresh processes against all its scripts in one process."""
    table = [
        "",
        "| lecture | scripts | full, fresh processes (s) | full, one process (s) |",
        "|---|---:|---:|---:|",
    ]
    print("\n".join(table), flush=True)
    failures = 0
    for group in dict.fromkeys(path.parent.name for path in scripts):
        members = [path for path in scripts if path.parent.name == group]
        start = time.perf_counter()
        try:
            with ScriptServer() as server:  # its start-up (importing Keras) counts, once
                for path in members:
                    server.run(path, out=scratch / "same-process" / group / path.stem)
        except RuntimeError as error:
            failures += 1
            print(error, file=sys.stderr)
            continue
        one_process = time.perf_counter() - start
        fresh = full_fresh.get(group, float("nan"))
        table.append(f"| {group} | {len(members)} | {fresh:.1f} | {one_process:.1f} |")
        print(table[-1], flush=True)
    lines += table
    return failures


QUICK_TIER_BUDGET = 180  # seconds on the 2-core machine


def quick_tier_line(n_scripts: int) -> str:
    """Time `pytest` (the quick tier) in a fresh process; one line for the table."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=repo_root(),
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    last = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "no output"
    if result.returncode != 0:
        verdict = f"FAILED (exit status {result.returncode})"
    else:
        verdict = "within" if wall <= QUICK_TIER_BUDGET else "OVER"
        verdict += f" the budget of {QUICK_TIER_BUDGET} s"
    return (
        f"Quick tier (`pytest`): {wall:.0f} s for {n_scripts} scripts "
        f"({wall / n_scripts:.2f} s per script), {os.cpu_count()} cores, {verdict}: {last}"
    )


if __name__ == "__main__":
    sys.exit(main())
