"""The command-line reference, written from the ``chiptherm`` application at build time.

Every command gets a section with what ``chiptherm COMMAND --help`` prints, run through typer's
test runner at a fixed width without colour, so the page cannot drift from the command line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer.main
from sphinx.application import Sphinx
from typer.testing import CliRunner

from chiptherm.cli import app

WIDTH = 100
"""Columns of the help text (rich wraps to the terminal width)."""


def command_names() -> list[str]:
    """Every command of ``chiptherm``, in alphabetical order."""
    return sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def help_text(name: str) -> str:
    """What ``chiptherm NAME --help`` prints, trailing spaces removed."""
    env = {"COLUMNS": str(WIDTH), "NO_COLOR": "1", "TERM": "dumb"}
    result = CliRunner().invoke(app, [name, "--help"], env=env, prog_name="chiptherm")
    if result.exit_code != 0:
        raise RuntimeError(f"chiptherm {name} --help exited {result.exit_code}: {result.output}")
    return "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())


def cli_reference() -> str:
    """The page below its title: a section per command with its help in a text block."""
    lines: list[str] = []
    for name in command_names():
        lines += [f"## `chiptherm {name}`", "", "```text", help_text(name), "```", ""]
    return "\n".join(lines)


def write_cli(sphinx: Sphinx) -> None:
    """Write ``_generated/fragments/cli.md``."""
    out = Path(sphinx.srcdir) / "_generated" / "fragments"
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("COLUMNS", str(WIDTH))
    (out / "cli.md").write_text(cli_reference())


def setup(sphinx: Sphinx) -> dict[str, Any]:
    sphinx.connect("builder-inited", write_cli)
    return {"parallel_read_safe": True, "version": "1"}
