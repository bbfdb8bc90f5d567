"""Reading any stack file: chiptherm's own YAML, or a 3D-ICE ``.stk`` converted on the way.

This is the one place that picks a reader by the file's kind, so that the description
(:mod:`chiptherm.description`) knows no other tool's format and the format readers
(:mod:`chiptherm.formats`) build on the description, never the other way round.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chiptherm.description.overrides import apply_overrides
from chiptherm.description.stack import Stack
from chiptherm.description.stack_io import read_yaml, stack_from_dict
from chiptherm.formats.convert import stack_from_3dice
from chiptherm.formats.threedice_files import read_stk


def load_stack(path: str | Path, overrides: Sequence[tuple[str, Any]] = ()) -> Stack:
    """Read and validate a stack YAML file; power-map paths are relative to its folder. A
    3D-ICE ``.stk`` file is converted as ``chiptherm convert`` does (its floorplan paths are
    relative to the working directory, as 3D-ICE reads them, or else to the .stk's folder).

    ``overrides`` are (dotted key, value) pairs applied before validation (see
    :mod:`chiptherm.description.overrides`); errors then name them beside the file.
    """
    path = Path(path)
    if path.suffix.lower() == ".stk":
        return _load_3dice(path, overrides)
    data, text = read_yaml(path)
    if overrides:
        apply_overrides(data, overrides)
        changed = ", ".join(f"{key}={value}" for key, value in overrides)
        return stack_from_dict(
            data, source=f"{path} (with {changed})", base_dir=path.parent, text=text
        )
    return stack_from_dict(data, source=str(path), base_dir=path.parent, text=text)


def _load_3dice(path: Path, overrides: Sequence[tuple[str, Any]]) -> Stack:
    """The native stack of a 3D-ICE file, with ``overrides`` applied to its converted keys."""
    stack = stack_from_3dice(read_stk(path), name=path.stem)
    if not overrides:
        return stack
    data = stack.model_dump(mode="json")
    apply_overrides(data, overrides)
    changed = ", ".join(f"{key}={value}" for key, value in overrides)
    return stack_from_dict(data, source=f"{path} (converted, with {changed})")
