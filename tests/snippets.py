"""The code blocks of a Markdown page (README, tutorials), and running them as a user would.

A page's ``bash`` and ``python`` blocks run in order in one fresh folder that holds copies of
``examples/`` and ``configs/``: bash blocks in ``bash -eo pipefail`` with this environment's
``chiptherm`` and ``python`` first on the PATH, python blocks in one namespace shared by the
page. A block preceded by ``<!-- not run: REASON -->`` is skipped, and says why.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(\w+)\s*$")
NOT_RUN = re.compile(r"^<!--\s*not run:\s*(.+?)\s*-->$")
RUNNABLE = ("bash", "python")


@dataclass(frozen=True)
class Snippet:
    """One fenced code block: where it starts, its language, its code, and why it is not run."""

    path: Path
    line: int
    language: str
    code: str
    not_run: str | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def snippets(path: Path) -> list[Snippet]:
    """The runnable (bash, python) fenced blocks of a Markdown file, in order."""
    lines = path.read_text().splitlines()
    found, i, previous = [], 0, ""
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        start, language = i, match.group(1)
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        if language in RUNNABLE:
            skip = NOT_RUN.match(previous)
            found.append(
                Snippet(path, start + 1, language, "\n".join(body), skip.group(1) if skip else None)
            )
        previous = ""
    return found


def workspace(tmp: Path) -> Path:
    """A folder like a fresh checkout's, for a page's commands: examples/ and configs/ copied."""
    for name in ("examples", "configs"):
        shutil.copytree(ROOT / name, tmp / name)
    return tmp


def environment() -> dict[str, str]:
    """This interpreter's scripts first on the PATH, one thread, no display."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(CHIPTHERM_THREADS="1", MPLBACKEND="Agg", COLUMNS="100")
    return env


def run_bash(snippet: Snippet, cwd: Path, timeout_s: float = 600) -> subprocess.CompletedProcess:
    """Run a bash block in ``cwd``; the completed process (stdout and stderr captured)."""
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", snippet.code],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def run_page(path: Path, cwd: Path) -> list[str]:
    """Run every runnable block of ``path`` in ``cwd``; a message for each block that failed."""
    failures = []
    namespace: dict[str, object] = {}
    old = Path.cwd()
    os.chdir(cwd)
    try:
        for snippet in snippets(path):
            if snippet.not_run:
                continue
            if snippet.language == "python":
                try:
                    exec(compile(snippet.code, snippet.where, "exec"), namespace)
                except Exception as exc:  # report every failing block of the page, not the first
                    failures.append(f"{snippet.where}: {type(exc).__name__}: {exc}")
                continue
            done = run_bash(snippet, cwd)
            if done.returncode != 0:
                tail = (done.stdout + done.stderr)[-2000:]
                failures.append(f"{snippet.where}: exit {done.returncode}\n{tail}")
    finally:
        os.chdir(old)
    return failures
