"""Readers and writers of other tools' formats: HotSpot and 3D-ICE."""

from __future__ import annotations

from pathlib import Path

from chiptherm.errors import FormatError


def read_text(path: str | Path) -> str:
    """The text of an input file; an unreadable file is a :class:`FormatError` naming it."""
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise FormatError(f"cannot read file: {exc.strerror}", source=str(path)) from None
