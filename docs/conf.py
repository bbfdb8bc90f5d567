"""Sphinx configuration of chiptherm's documentation (``python -m sphinx -W docs docs/_build``).

Pages are MyST Markdown. The stack-file and training-config references, the gallery and the
benchmark tables are generated at build time from the code, ``examples/`` and
``benchmarks/results/`` (extensions in ``docs/_ext``), so they cannot drift from what ships.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "chiptherm"
author = "the chiptherm authors"
copyright = "2026, the chiptherm authors"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "chiptherm_reference",
    "chiptherm_gallery",
    "chiptherm_benchmarks",
    "chiptherm_cli",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "_generated/fragments"]  # included by pages, not pages
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # "Attributes:" as fields, not a second description of each

html_theme = "furo"
html_title = "chiptherm"
html_static_path: list[str] = []

chiptherm_references = {
    "stack-file": "chiptherm.description.stack.Stack",
    "training-config": "chiptherm.operator.training_config.TrainConfig",
    "problem-file": "chiptherm.design.problem.Problem",
}
