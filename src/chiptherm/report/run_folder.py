"""Output folders that hold one run each.

A command that writes a folder of results (``--out``) claims it before any work
(:func:`claim`): a path that is a file, lies under a file or cannot be written is refused then,
in one line, not after a long solve. The run writes into a fresh staging folder beside the
target; when the command succeeds, :meth:`RunFolder.commit` renames it into place, replacing
the previous run's folder as a whole. So a folder never mixes two runs (no stale plots of an
earlier design beside a new summary), and a run that fails or is interrupted leaves the
previous folder as it was and no half-written one.

Every committed folder holds :data:`MARKER`, the list of the files the run wrote. A folder is
replaced only when it is empty or carries that marker: a folder of the user's own files is
never deleted, and claiming it is an error.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chiptherm.errors import InputError

MARKER = ".chiptherm-run.json"
"""The list of files a run wrote, in every folder it committed."""


@dataclass
class Invocation:
    """The command that is running, and the folders it claimed."""

    command: str | None
    arguments: dict[str, Any]
    folders: list[RunFolder] = field(default_factory=list)


_running: ContextVar[Invocation | None] = ContextVar("running_command", default=None)


@dataclass
class RunFolder:
    """A claimed output folder: files go to ``path`` (staging), the run ends up in ``target``."""

    target: Path
    path: Path
    option: str = "--out"
    command: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)

    def commit(self) -> Path:
        """Write the marker and put the staged folder in the target's place; returns it."""
        files = sorted(str(p.relative_to(self.path)) for p in self.path.rglob("*") if p.is_file())
        doc = {"command": self.command, "arguments": self.arguments, "files": files}
        (self.path / MARKER).write_text(json.dumps(doc, indent=1))
        if self.target.exists():
            check_replaceable(self.target, self.option)
            old = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.old-", dir=self.target.parent))
            self.target.rename(old / self.target.name)
            self.path.rename(self.target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            self.path.rename(self.target)
        return self.target

    def discard(self) -> None:
        """Remove the staging folder (the run failed); the target stays as it was."""
        shutil.rmtree(self.path, ignore_errors=True)


def check_replaceable(target: Path, option: str = "--out") -> None:
    """Raise unless ``target`` is absent, an empty folder or a folder a run committed."""
    if not target.exists():
        return
    if not target.is_dir():
        raise InputError(f"{option} {target}: is a file, expected a folder")
    if (target / MARKER).is_file():
        return
    entries = sorted(p.name for p in target.iterdir())
    if entries:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise InputError(
            f"{option} {target}: the folder holds files that no chiptherm run wrote ({shown}); "
            "a run replaces its folder as a whole, so choose a new or empty folder"
        )


def claim(target: str | Path, option: str = "--out") -> RunFolder:
    """Check ``target`` and open its staging folder, before any work; the command wrapper of
    the CLI commits it when the command succeeds and discards it otherwise (see
    :func:`finish`). Outside a command, call :meth:`RunFolder.commit` yourself.

    Raises:
        InputError: ``target`` is a file, lies under a file, is not writable, or is a folder
            of files no run wrote.
    """
    target = Path(target)
    check_replaceable(target, option)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InputError(f"{option} {target}: cannot write there: {reason}") from None
    running = _running.get()
    folder = RunFolder(target=target, path=staging, option=option)
    if running is not None:
        folder.command, folder.arguments = running.command, running.arguments
        running.folders.append(folder)
    return folder


def start(command: str | None = None, arguments: dict[str, Any] | None = None) -> object:
    """Begin collecting the folders claimed by one command (its name and arguments go into
    each folder's marker); returns the token for :func:`finish`."""
    plain = {
        k: v if v is None or isinstance(v, int | float | bool) else str(v)
        for k, v in (arguments or {}).items()
    }
    return _running.set(Invocation(command, plain))


def finish(token: object, succeeded: bool) -> None:
    """Commit (``succeeded``) or discard every folder claimed since :func:`start`."""
    running = _running.get()
    _running.reset(token)  # type: ignore[arg-type]
    for folder in running.folders if running is not None else []:
        if succeeded:
            folder.commit()
        else:
            folder.discard()
