"""Build the course website: `python -m common.docs [--smoke]`.

    python -m common.docs --smoke      # every script in smoke mode (fast; what CI builds)
    python -m common.docs              # full mode, for the published site
    python -m common.docs --only lectures/03_overfitting   # a part of the site

The site is generated from the files that already exist, never written by hand: the landing
page from README.md, one page per lecture from its README.md, and one page per script (and
example) from the script itself, read as a notebook (its docstring as the title and
introduction, its `# %% [markdown]` cells as text with formulas, its code cells run in a fresh
Jupyter kernel with their figures and printed SUMMARY). Every script page offers the script
and its notebook for download. Sphinx with MyST-NB builds it, with the PyData theme and a
local copy of MathJax, so the pages need no network.

The sources are generated into `docs/_generated/` and the site into `docs/_build/html/`.
Every warning is an error, and a script that raises fails the build with its name and
traceback. Scripts are always executed anew, so no cache can hide a changed script.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common.export import to_notebook
from common.run import discover_scripts, repo_root

DOCS = "docs"
GENERATED = "_generated"
BUILD = "_build"

# Runs first in every page's kernel, hidden from the page: no stray reprs of the last
# expression of a cell (a plot call's return value), figures shown inline.
SETUP_CELL = "get_ipython().ast_node_interactivity = 'none'\n%matplotlib inline"


# A line that starts like this inside a formula ends the paragraph in Markdown (a list item,
# a quote, a heading, a blank line, a setext underline), so the formula is cut in two and shows
# as raw LaTeX. Write the `+` or `-` at the end of the line before instead.
_BLOCK_START = re.compile(r"([-+*>]\s|#|\d+[.)]\s|$|[=-]+\s*$)")


def formula_problems(text: str) -> list[str]:
    """Lines of Markdown `text` that break a `$...$` or `$$...$$` formula they lie inside.

    Code spans and fenced code are skipped; a formula left open at the end is a problem too.
    """
    problems = []
    open_math = ""  # "", "$" or "$$"
    fenced = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        if open_math and _BLOCK_START.match(stripped):
            problems.append(f"inside {open_math}...{open_math}: {line.strip()!r}")
        prose = re.sub(r"`[^`]*`", "", line.replace("\\$", ""))
        for token in re.findall(r"\$\$|\$", prose):
            if not open_math:
                open_math = token
            elif open_math == token:
                open_math = ""
    if open_math:
        problems.append(f"a {open_math} formula is never closed")
    return problems


def markdown_texts(root: Path) -> dict[str, str]:
    """Every Markdown text the site shows: the READMEs and each script's Markdown cells."""
    texts = {}
    scripts = discover_scripts(root)
    readmes = [root / "README.md"] + [
        p / "README.md" for p in dict.fromkeys(s.parent for s in scripts)
    ]
    for readme in readmes:
        texts[readme.relative_to(root).as_posix()] = readme.read_text(encoding="utf-8")
    for path in scripts:
        notebook = json.loads(to_notebook(path.read_text(encoding="utf-8")))
        for number, cell in enumerate(notebook["cells"]):
            if cell["cell_type"] == "markdown":
                source = cell["source"]
                text = "".join(source) if isinstance(source, list) else source
                texts[f"{path.relative_to(root).as_posix()} (Markdown cell {number})"] = text
    return texts


def source_problems(root: Path) -> list[str]:
    """What would break a page, named by file: a script without a title (its docstring's first
    line, underlined by `=`), a formula cut by Markdown, an image that does not exist."""
    problems = []
    for path in discover_scripts(root):
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        lines = docstring.strip().splitlines()
        if len(lines) < 2 or not lines[0].strip() or not re.fullmatch(r"=+", lines[1].strip()):
            relative = path.relative_to(root).as_posix()
            problems.append(
                f"  {relative}: no title (a docstring starting with a line underlined by =)"
            )
    for name, text in markdown_texts(root).items():
        problems += [f"  {name}: {problem}" for problem in formula_problems(text)]
        folder = root / name.split(" ")[0]
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)", text):
            if not re.match(r"[a-z]+://", target) and not (folder.parent / target).exists():
                problems.append(f"  {name}: the image {target} does not exist")
    return problems


def _rewrite_links(text: str, base: str, pages: set[str]) -> str:
    """Links to scripts and READMEs point at their pages in the site instead.

    `base` is the folder of the Markdown file relative to the repository root ("" for the
    top-level README, "lectures/03_overfitting" for a lecture's README); `pages` holds the
    paths of the pages the site has. A link to anything else keeps its text only.
    """

    def page(match: re.Match[str]) -> str:
        label, target = match.group(1), match.group(2)
        if re.match(r"[a-z]+://|#|mailto:", target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(base, path)).replace(os.sep, "/")
        if re.fullmatch(r"(lectures/[^/]+|examples)/\d\d_[a-z0-9_]+\.py", resolved):
            new = resolved[:-3] + ".ipynb"
        elif re.fullmatch(r"(lectures/[^/]+|examples)(/README\.md)?/?", resolved):
            new = resolved.removesuffix("/").removesuffix("/README.md") + "/index.md"
        elif resolved == "README.md":
            new = "index.md"
        else:
            new = ""
        if new not in pages:
            return label
        relative = os.path.relpath(new, base or ".").replace(os.sep, "/")
        return f"[{label}]({relative}{'#' + anchor if anchor else ''})"

    return re.sub(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)", page, text)


def _lecture_page(folder: Path, scripts: list[Path], root: Path, pages: set[str]) -> str:
    readme = (folder / "README.md").read_text(encoding="utf-8")
    base = folder.relative_to(root).as_posix()
    text = _rewrite_links(readme, base, pages)
    entries = "\n".join(path.stem + ".ipynb" for path in scripts)
    return f"{text.rstrip()}\n\n```{{toctree}}\n:hidden:\n:maxdepth: 1\n\n{entries}\n```\n"


def script_notebook(path: Path, root: Path) -> dict:
    notebook = json.loads(to_notebook(path.read_text(encoding="utf-8")))
    relative = path.relative_to(root).as_posix()
    first = notebook["cells"][0]
    downloads = (
        f"\n\nDownload: {{download}}`the script <{path.name}>` "
        f"(`{relative}`), {{download}}`the notebook <{path.stem}.ipynb>`."
    )
    source = "".join(first["source"]) if isinstance(first["source"], list) else first["source"]
    first["source"] = source + downloads
    setup = {
        "cell_type": "code",
        "execution_count": None,
        "id": "course-setup",
        "metadata": {"tags": ["remove-cell"]},
        "outputs": [],
        "source": SETUP_CELL,
    }
    notebook["cells"].insert(1, setup)
    return notebook


def generate(root: Path, only: list[str] | None = None) -> Path:
    """Write the site's sources into docs/_generated/ (removed and made anew)."""
    out = root / DOCS / GENERATED
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    problems = source_problems(root)
    if problems:
        raise SystemExit("common.docs: the site's sources have problems:\n" + "\n".join(problems))
    scripts = discover_scripts(root)
    if only:
        wanted = [Path(p).resolve() for p in only]
        scripts = [p for p in scripts if any(p == w or w in p.parents for w in wanted)]
        if not scripts:
            raise SystemExit(f"common.docs: no script under {', '.join(only)}")
    folders = list(dict.fromkeys(path.parent for path in scripts))
    pages = {"index.md"}
    pages |= {f.relative_to(root).as_posix() + "/index.md" for f in folders}
    pages |= {p.relative_to(root).as_posix()[:-3] + ".ipynb" for p in scripts}
    readme = (root / "README.md").read_text(encoding="utf-8")
    lecture_entries = "\n".join(
        folder.relative_to(root).as_posix() + "/index.md" for folder in folders
    )
    (out / "index.md").write_text(
        _rewrite_links(readme, "", pages).rstrip()
        + f"\n\n```{{toctree}}\n:hidden:\n:maxdepth: 1\n\n{lecture_entries}\n```\n",
        encoding="utf-8",
    )
    for folder in folders:
        members = [path for path in scripts if path.parent == folder]
        target = out / folder.relative_to(root)
        target.mkdir(parents=True)
        page = _lecture_page(folder, members, root, pages)
        (target / "index.md").write_text(page, encoding="utf-8")
        for path in members:
            notebook = script_notebook(path, root)
            (target / f"{path.stem}.ipynb").write_text(json.dumps(notebook, indent=1) + "\n")
            shutil.copy2(path, target / path.name)
    return out


def build(root: Path, *, smoke: bool, only: list[str] | None = None, jobs: str = "auto") -> int:
    """Generate the sources and run Sphinx; return its exit status."""
    source = generate(root, only)
    html = root / DOCS / BUILD / "html"
    if html.exists():
        shutil.rmtree(html)
    env = dict(os.environ)
    env["MMA440_SMOKE"] = "1" if smoke else "0"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.pop("MPLBACKEND", None)  # the kernels show figures inline
    command = [
        sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
        "-j", jobs, "-c", str(root / DOCS), str(source), str(html),
    ]  # fmt: skip
    start = time.perf_counter()
    status = subprocess.run(command, env=env).returncode
    seconds = time.perf_counter() - start
    mode = "smoke" if smoke else "full"
    print(f"common.docs: {mode}-mode site in {html} ({seconds:.0f} s, exit status {status})")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m common.docs", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--smoke", action="store_true", help="run every script in smoke mode")
    parser.add_argument("--only", nargs="*", help="build only these scripts or folders")
    parser.add_argument("--jobs", default="auto", help="Sphinx's parallel jobs (default: auto)")
    args = parser.parse_args(argv)
    return build(repo_root(), smoke=args.smoke, only=args.only, jobs=args.jobs)


if __name__ == "__main__":
    sys.exit(main())
