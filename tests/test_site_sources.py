"""The website's sources are sound before anything is built (quick tier, no browser needed).

`python -m common.docs` refuses to build from sources that would give a broken page, and names
the file: a script without a title, an image that does not exist, or a formula cut by Markdown.
A line inside a formula that starts like a Markdown block (`+ x`, `- x`, `1. x`, `> x`, `#`, a
blank line) ends the paragraph, and the page then shows the formula as raw LaTeX.

Claims tier: the notebook each script page offers for download runs top to bottom in a fresh
Jupyter kernel where the project is installed, and prints the script's SUMMARY (one script per
folder).
"""

from __future__ import annotations

import json

from common.docs import (
    formula_problems,
    generate,
    markdown_texts,
    script_notebook,
    source_problems,
)

import pytest

from .conftest import ROOT, script_id
from .test_scripts import FRESH, assert_same_summary

GOOD_SCRIPT = '"""A title\n=======\n\nText.\n"""\n\n# %% [markdown]\n# $$a +\n#   b$$\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$$a\n  + b$$", ["inside $$...$$: '+ b$$'"]),
        ("$a\n- b$", ["inside $...$: '- b$'"]),
        ("$$a\n\nb$$", ["inside $$...$$: ''"]),
        ("$$a\n1. b$$", ["inside $$...$$: '1. b$$'"]),
        ("$$a +\n  b$$\n- a list item $x$", []),
        ("`$` is not a formula, nor is \\$5; $x$ is", []),
        ("```\n$$\n```\n$y$", []),
        ("$$x", ["a $$ formula is never closed"]),
    ],
)
def test_the_check_finds_a_cut_formula(text, expected):
    assert formula_problems(text) == expected


def test_no_page_of_the_website_has_a_broken_source():
    texts = markdown_texts(ROOT)
    assert len(texts) > 100  # every README and every script's Markdown cells
    assert source_problems(ROOT) == []


def _course(root, script=GOOD_SCRIPT, readme="# Lecture 99\n"):
    folder = root / "lectures" / "99_topic"
    folder.mkdir(parents=True)
    (root / "README.md").write_text("# The course\n")
    (folder / "README.md").write_text(readme)
    (folder / "01_script.py").write_text(script)
    return root


def test_a_sound_course_generates_its_pages(tmp_path):
    out = generate(_course(tmp_path))
    assert (out / "lectures" / "99_topic" / "01_script.ipynb").exists()


@pytest.mark.parametrize(
    ("script", "readme", "message"),
    [
        ('"""Just text."""\n', "# L\n", "01_script.py: no title"),
        ("x = 1\n", "# L\n", "01_script.py: no title"),
        (GOOD_SCRIPT, "# L\n\n![plot](figure.png)\n", "README.md: the image figure.png"),
        (GOOD_SCRIPT.replace("a +\n#   b", "a\n#   + b"), "# L\n", "Markdown cell 1): inside $$"),
        (GOOD_SCRIPT, "# L\n\n$$x\n- y$$\n", "99_topic/README.md: inside $$"),
    ],
)
def test_the_build_names_the_file_of_a_broken_source(tmp_path, script, readme, message):
    with pytest.raises(SystemExit, match="sources have problems") as refused:
        generate(_course(tmp_path, script, readme))
    assert message in str(refused.value)


@pytest.mark.claims
@pytest.mark.parametrize("path", FRESH, ids=script_id)
def test_the_downloadable_notebook_runs_in_a_fresh_kernel(path, tmp_path, monkeypatch, run_script):
    import nbclient
    import nbformat

    notebook = nbformat.reads(json.dumps(script_notebook(path, ROOT)), as_version=4)
    notebook.cells.append(
        nbformat.v4.new_code_cell("import json\nprint('SUMMARY=' + json.dumps(SUMMARY))")
    )
    # The kernel inherits this environment: smoke mode, as the site's CI build runs it.
    monkeypatch.setenv("MMA440_SMOKE", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    ).execute()
    figures = [
        o for c in notebook.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    assert figures, "the notebook shows no figure"
    printed = "".join(o.get("text", "") for o in notebook.cells[-1].outputs)
    summary = json.loads(printed.strip().splitlines()[-1].removeprefix("SUMMARY="))
    assert_same_summary(summary, run_script(path, smoke=True)["summary"])
