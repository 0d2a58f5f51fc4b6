"""The Markdown the website shows keeps its formulas whole (quick tier, no browser needed).

A line inside a formula that starts like a Markdown block (`+ x`, `- x`, `1. x`, `> x`, `#`, a
blank line) ends the paragraph, and the page then shows the formula as raw LaTeX. The site's
build refuses such text (`common.docs.formula_problems`); this test finds it before the build.
"""

from __future__ import annotations

from common.docs import formula_problems, markdown_texts

import pytest

from .conftest import ROOT


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


def test_no_formula_on_the_website_is_cut_by_markdown():
    texts = markdown_texts(ROOT)
    assert len(texts) > 100  # every README and every script's Markdown cells
    broken = [f"{name}: {p}" for name, text in texts.items() for p in formula_problems(text)]
    assert not broken, "\n".join(broken)
