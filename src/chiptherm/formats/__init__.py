"""Other tools' inputs, read unchanged: HotSpot and 3D-ICE.

:mod:`~chiptherm.formats.hotspot` runs HotSpot's own command line (a replica of its block and
grid models, :mod:`~.hotspot_multigrid` its grid solver); :mod:`~.hotspot_stack` turns a HotSpot
model into a native stack; :mod:`~.threedice` reads and runs 3D-ICE ``.stk`` files;
:mod:`~.convert` writes either as a stack file; :mod:`~.loading` reads any stack file, native
or ``.stk``. Nothing outside this package knows another tool's format."""

from __future__ import annotations

from pathlib import Path

from chiptherm.errors import FormatError


def read_text(path: str | Path) -> str:
    """The text of an input file; an unreadable file is a :class:`FormatError` naming it."""
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise FormatError(f"cannot read file: {exc.strerror}", source=str(path)) from None
