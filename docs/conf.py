"""Sphinx configuration of the course website; `python -m common.docs` builds it.

The sources are generated into docs/_generated/ from README.md, the lecture READMEs and the
scripts; nothing under docs/ but this file is written by hand.
"""

import importlib.util
from pathlib import Path

project = "MMA440 Keras lecture examples"
author = "MMA440, Mathematical Structures of Deep Neural Networks"
copyright = "the MMA440 course"

extensions = ["myst_nb"]
# The generated sources: Markdown pages and one notebook per script.
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]

myst_enable_extensions = ["dollarmath", "amsmath"]
myst_dmath_double_inline = True  # the READMEs use $$...$$ inside paragraphs
myst_heading_anchors = 3
smartquotes = False  # titles and text keep the apostrophes they are written with

# Every script page runs in a fresh kernel, every build: no cache can hide a changed script.
nb_execution_mode = "force"
nb_execution_timeout = 600
nb_execution_raise_on_error = True  # a script that raises fails the build with its traceback
nb_execution_show_tb = True
nb_merge_streams = True

html_theme = "pydata_sphinx_theme"
html_title = "MMA440 Keras lecture examples"
html_theme_options = {
    "navigation_depth": 2,
    "show_toc_level": 2,
    "navbar_end": ["navbar-icon-links"],  # no theme switcher script
}
html_sidebars = {"**": ["sidebar-nav-bs"]}
html_context = {"default_mode": "light"}
html_favicon = "favicon.svg"
# MathJax 3 from the `sphinx-mathjax-offline` package, copied into _static/mathjax/: the pages
# typeset formulas with no network. (The files only; the package's extension would make
# Sphinx read the pages one at a time.)
_mathjax_package = importlib.util.find_spec("sphinx-mathjax-offline")
html_static_path = [str(Path(_mathjax_package.origin).parent / "static")]
mathjax_path = "mathjax/tex-chtml.js"
html_copy_source = False
html_show_sourcelink = False
