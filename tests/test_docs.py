"""The documentation: it builds without a warning, and every page's code runs as written.

The README and every page under ``docs/`` are run by :mod:`tests.snippets` in a fresh folder
with copies of ``examples/`` and ``configs/``, as a user who copies the commands would; a
tutorial that no longer runs fails here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.snippets import ROOT, run_page, snippets, workspace

DOCS = ROOT / "docs"
WRITTEN = [
    ROOT / "README.md",
    *sorted(p for p in DOCS.rglob("*.md") if not p.relative_to(DOCS).parts[0].startswith("_")),
]
"""The pages people write (generated ones under ``docs/_generated`` are written by the build)."""
PAGES = [p for p in WRITTEN if any(not s.not_run for s in snippets(p))]
"""The pages with code to run."""
TUTORIALS = {
    "first-solve",
    "moving-over",
    "training",
    "trust",
    "optimization",
    "transient",
    "sensitivities",
}


def page_id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_every_tutorial_the_docs_promise_is_there_and_has_code_that_runs() -> None:
    found = {p.stem for p in (DOCS / "tutorials").glob("*.md")}
    assert found >= TUTORIALS
    for stem in TUTORIALS:
        run = [s for s in snippets(DOCS / "tutorials" / f"{stem}.md") if not s.not_run]
        assert run, f"tutorial {stem} has no code that runs"


def test_the_readme_is_a_front_door() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    blocks = snippets(ROOT / "README.md")
    assert sum(1 for s in blocks if not s.not_run) >= 4  # the tour runs
    assert "chiptherm demo" in blocks[0].code and "pytest" in blocks[1].code  # the two commands


def test_a_block_marked_not_run_says_why() -> None:
    skipped = [s for page in WRITTEN for s in snippets(page) if s.not_run]
    assert all(len(s.not_run) > 10 for s in skipped), [s.where for s in skipped]
    assert len(skipped) <= 6, [s.where for s in skipped]


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_the_code_of_a_page_runs(page: Path, tmp_path: Path) -> None:
    failures = run_page(page, workspace(tmp_path))
    assert not failures, "\n\n".join(failures)


def test_the_documentation_builds_without_warnings(tmp_path: Path) -> None:
    sphinx = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html"]
    build = subprocess.run(
        [*sphinx, str(DOCS), str(tmp_path / "html")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    for page in ("index", "architecture", "benchmarks", "reference/stack-file", "reference/cli"):
        assert (tmp_path / "html" / f"{page}.html").exists(), page
    gallery = tmp_path / "html" / "_generated" / "gallery"
    examples = {p.stem for p in (ROOT / "examples").glob("*.yaml")}
    assert {p.stem for p in gallery.glob("*.html")} >= examples
