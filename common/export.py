"""Export a script for homework: one file that runs without this repository.

    python -m common.export lectures/03_overfitting/01_memorization.py
    python -m common.export PATH --out my_homework.py --force
    python -m common.export PATH --notebook                 # a Jupyter notebook (.ipynb)

Every lecture script imports a few helpers from `common` (a loader, `fit_fast`, the figure
style). The export replaces each `from common... import name` by the source of exactly what
the script uses: the functions, classes and constants it names, with the private helpers,
constants and imports they need in turn, found by following names through `common`'s modules
with `ast`. They go into one cell after the script's imports, titled "Helpers from the course
repository, copied by `common.export`". `import common.quiet` (which only hides TensorFlow's
start-up log lines) is dropped with a comment. Everything else (docstring, cells, parameters,
SUMMARY) stays as it is, so the copy gives the same SUMMARY as the original.

The output goes to `<script name>_standalone.py` (or `.ipynb`) in the working directory unless
`--out` says otherwise; an existing file is replaced only with `--force`. Bad input (not a
script of this repository, a `common` name that cannot be found, an existing output) gives one
message and a non-zero exit, and nothing is written.
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import platform
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from common.run import discover_scripts, repo_root

HELPERS_TITLE = "Helpers from the course repository, copied by `common.export`"
QUIET_NOTE = (
    "# `import common.quiet` (it hid TensorFlow's start-up log lines) is left out of this copy;\n"
    "# set the environment variable TF_CPP_MIN_LOG_LEVEL=3 before starting Python for the same.\n"
)
VERSIONED = ("keras", "tensorflow", "numpy", "matplotlib", "scikit-learn", "scipy")


class ExportError(Exception):
    """A script that cannot be exported; the message says why."""


# ---------------------------------------------------------------------------------------------
# What a module of `common` defines


@dataclass
class Module:
    """One module of `common`: its top-level definitions and the imports they may need."""

    name: str
    source: str
    definitions: dict[str, ast.stmt] = field(default_factory=dict)  # name -> its statement
    imports: dict[str, ast.stmt] = field(default_factory=dict)  # bound name -> import statement
    order: list[ast.stmt] = field(default_factory=list)  # statements in source order


def _bound_names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign | ast.AugAssign):
        targets = [node.target]
    return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]


def load_module(name: str) -> Module:
    """Parse `common.<name>`'s source (no import, so nothing runs)."""
    path = Path(__file__).resolve().parent / f"{name.removeprefix('common.')}.py"
    if not path.is_file():
        raise ExportError(f"no module {name} in {path.parent}")
    source = path.read_text(encoding="utf-8")
    module = Module(name=name, source=source)
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                module.imports[bound] = node
            continue
        names = _bound_names(node)
        if names:
            module.order.append(node)
            for bound in names:
                module.definitions[bound] = node
    return module


def _names_used(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


# ---------------------------------------------------------------------------------------------
# Following the names a script uses


@dataclass
class Closure:
    """What a script needs from `common`: statements per module, and the imports they use."""

    statements: dict[str, list[ast.stmt]] = field(default_factory=dict)  # module -> statements
    imports: list[str] = field(default_factory=list)  # import lines, in first-seen order
    modules: dict[str, Module] = field(default_factory=dict)
    requested: dict[str, list[str]] = field(
        default_factory=dict
    )  # module -> names the script imports

    def module(self, name: str) -> Module:
        if name not in self.modules:
            self.modules[name] = load_module(name)
        return self.modules[name]

    def add(self, module_name: str, name: str, wanted_by: str) -> None:
        module = self.module(module_name)
        if name in module.imports:
            self._add_import(module, name)
            return
        if name not in module.definitions:
            raise ExportError(f"{wanted_by} imports {name!r}, which {module_name} does not define")
        node = module.definitions[name]
        chosen = self.statements.setdefault(module_name, [])
        if any(node is other for other in chosen):
            return
        chosen.append(node)
        for used in sorted(_names_used(node) - set(_bound_names(node))):
            if used in module.definitions or used in module.imports:
                self.add(module_name, used, wanted_by)

    def _add_import(self, module: Module, name: str) -> None:
        node = module.imports[name]
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("common"):
            # A helper that uses another module of `common`: follow it there.
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    self.add(node.module, alias.name, module.name)  # type: ignore[arg-type]
            return
        aliases = [
            a for a in node.names if (a.asname or a.name.split(".")[0]) == name
        ]  # only the alias that binds `name`
        if isinstance(node, ast.ImportFrom):
            line = ast.unparse(ast.ImportFrom(module=node.module, names=aliases, level=0))
        else:
            line = ast.unparse(ast.Import(names=aliases))
        if line not in self.imports:
            self.imports.append(line)


def script_of_this_repository(path: str | Path) -> Path:
    path = Path(path).resolve()
    scripts = discover_scripts(repo_root())
    if path not in scripts:
        raise ExportError(
            f"{path} is not a script of this repository (a lectures/*/NN_*.py or "
            "examples/NN_*.py file; `python -m common.run --list` names them all)"
        )
    return path


def export_source(path: str | Path) -> str:
    """The standalone text of the script at `path`."""
    path = script_of_this_repository(path)
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    closure = Closure()
    remove: list[tuple[int, int]] = []  # line ranges (1-based, inclusive) of `common` imports
    dropped_quiet = False
    for node in tree.body:
        if isinstance(node, ast.Import) and any(
            a.name == "common" or a.name.startswith("common.") for a in node.names
        ):
            if any(a.name != "common.quiet" for a in node.names):
                raise ExportError(f"{path.name}: use `from common.X import name`, not {node}")
            remove.append((node.lineno, node.end_lineno or node.lineno))
            dropped_quiet = True
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("common"):
            for alias in node.names:
                if alias.asname:
                    raise ExportError(f"{path.name}: `import ... as` from common is not supported")
                closure.add(node.module, alias.name, path.name)  # type: ignore[arg-type]
                closure.requested.setdefault(node.module, []).append(alias.name)  # type: ignore[arg-type]
            remove.append((node.lineno, node.end_lineno or node.lineno))
    if not remove:
        return _header(path) + source

    # The helpers' cell goes after the cell that holds the script's imports.
    last_import = max(end for _, end in remove)
    insert_at = next(
        (i for i in range(last_import, len(lines)) if lines[i].startswith("# %%")), len(lines)
    )
    helpers = _helpers_cell(closure)
    new_lines: list[str] = []
    for number, line in enumerate(lines, start=1):
        if number - 1 == insert_at:
            new_lines.append(helpers)
        if any(start <= number <= end for start, end in remove):
            if dropped_quiet and number == remove[0][0]:
                new_lines.append(QUIET_NOTE)
            continue
        new_lines.append(line)
    if insert_at >= len(lines):
        new_lines.append(helpers)
    text = "".join(new_lines)
    # Imports the helpers need join the script's own imports (before its first statement).
    text = _add_imports(text, closure.imports)
    return _header(path) + text


def _helpers_cell(closure: Closure) -> str:
    parts = [f"# %% [markdown]\n# ## {HELPERS_TITLE}\n#\n"]
    for module_name in closure.statements:
        requested = closure.requested.get(module_name, [])
        names = ", ".join(f"`{n}`" for n in requested) or "what the helpers above use"
        uses = "the helpers it uses" if len(requested) == 1 else "the helpers they use"
        parts.append(f"# From `{module_name}`: {names}")
        parts.append(f" and {uses}.\n" if len(names) < 40 else f",\n# and {uses}.\n")
    parts.append("\n# %%\n")
    for module_name, statements in closure.statements.items():
        module = closure.modules[module_name]
        for node in module.order:  # the module's own order keeps every name defined in time
            if any(node is chosen for chosen in statements):
                decorators = getattr(node, "decorator_list", [])
                start = min([node.lineno] + [d.lineno for d in decorators]) - 1
                source_lines = module.source.splitlines(keepends=True)
                segment = "".join(source_lines[start : node.end_lineno])
                comments = _leading_comments(module.source, start)
                parts.append(comments + segment + "\n\n")
    return "".join(parts).rstrip("\n") + "\n\n\n"


def _leading_comments(source: str, start: int) -> str:
    """The comment lines directly above line `start` (0-based) of `source`."""
    lines = source.splitlines(keepends=True)
    first = start
    while first > 0 and lines[first - 1].lstrip().startswith("#"):
        first -= 1
    return "".join(lines[first:start])


def _add_imports(text: str, imports: list[str]) -> str:
    """Put `imports` (plus `from __future__ import annotations`) among the script's imports."""
    tree = ast.parse(text)
    present = {ast.unparse(n) for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)}
    body_imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    lines = text.splitlines(keepends=True)
    # Annotations of the copied helpers refer to names defined later in the file.
    future = "from __future__ import annotations"
    missing = [line for line in imports if line not in present]
    if body_imports:
        anchor = body_imports[0].lineno - 1
    else:
        anchor = (tree.body[0].end_lineno or 0) if tree.body else 0
    block = "".join(f"{line}\n" for line in missing)
    if future not in present:
        block = f"{future}\n\n" + block
    return "".join(lines[:anchor]) + block + "".join(lines[anchor:])


def _header(path: Path) -> str:
    versions = []
    for name in VERSIONED:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    relative = path.relative_to(repo_root()).as_posix()
    tested = textwrap.wrap(
        f"It needs no copy of the repository. Tested with Python "
        f"{platform.python_version()}, {', '.join(versions)}.",
        width=96,
    )
    lines = [
        "Exported by `python -m common.export` from the MMA440 Keras lecture examples:",
        relative,
        *tested,
    ]
    return "".join(f"# {line}\n" for line in lines)


def _tidy(text: str) -> str:
    """Sort imports and format with ruff (the project's settings) when ruff is installed."""
    ruff = shutil.which("ruff")
    if ruff is None:
        return text
    config = str(repo_root() / "pyproject.toml")
    for command in ("check --select I --fix", "format"):
        result = subprocess.run(
            [
                ruff,
                *command.split(),
                "--config",
                config,
                "--quiet",
                "--stdin-filename",
                "x.py",
                "-",
            ],
            input=text,
            capture_output=True,
            text=True,
        )
        if result.returncode == 0 and result.stdout:
            text = result.stdout
    return text


def to_notebook(text: str) -> str:
    """The percent-format script as a Jupyter notebook (JSON), through Jupytext."""
    try:
        import jupytext
    except ImportError as error:
        raise ExportError(
            "--notebook needs Jupytext: pip install jupytext (or the project's [test] extra)"
        ) from error
    notebook = jupytext.reads(text, fmt="py:percent")
    first = notebook.cells[0] if notebook.cells else None
    if first is not None and first.cell_type == "code":
        # The module docstring (and the export's header) open the notebook as Markdown: the
        # title as its heading, then the text. A code cell would just echo the string.
        tree = ast.parse(first.source)
        docstring = ast.get_docstring(tree)
        if docstring and len(tree.body) == 1:
            title, _, rest = docstring.partition("\n")
            body = rest.lstrip("=").strip()
            header = [line[2:] for line in first.source.splitlines() if line.startswith("# ")]
            first.cell_type = "markdown"
            note = "  \n".join(header)  # two spaces: a Markdown line break
            first.source = f"# {title.strip()}\n\n{body}\n\n{note}"
            first.pop("outputs", None)
            first.pop("execution_count", None)
    notebook.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    return jupytext.writes(notebook, fmt="ipynb")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m common.export",
        description="Write a standalone copy of a script: the `common` helpers it uses inlined.",
    )
    parser.add_argument("path", help="a lecture script or example of this repository")
    parser.add_argument("--notebook", action="store_true", help="write a Jupyter notebook")
    parser.add_argument("--out", help="output file (default: <name>_standalone.py or .ipynb)")
    parser.add_argument("--force", action="store_true", help="replace an existing output file")
    args = parser.parse_args(argv)
    try:
        path = script_of_this_repository(args.path)
        suffix = ".ipynb" if args.notebook else ".py"
        out = Path(args.out) if args.out else Path(f"{path.stem}_standalone{suffix}")
        if out.exists() and not args.force:
            raise ExportError(f"{out} exists; pass --force to replace it")
        text = _tidy(export_source(path))
        if args.notebook:
            text = to_notebook(text)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except (ExportError, SyntaxError, OSError) as error:
        print(f"common.export: {error}", file=sys.stderr)
        return 2
    print(f"common.export: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
