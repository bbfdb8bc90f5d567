"""Changing a stack file from the command line: ``--set KEY=VALUE`` and swept values.

A key is a dotted path into the stack file, as written in YAML: ``boundaries.top.htc``,
``materials.tim.conductivity``. Lists of named things (``layers``, ``blocks``, ``regions``)
are indexed by name or by position: ``layers.tim.thickness``,
``power.die.blocks.core0.watts``, ``layers.0.cells``. A missing last key is created, and so
is a missing top-level section, face or material on the way (an adiabatic face given an
``htc`` becomes convective); any other name or position that is not there is an error that
lists what is.

Values are numbers where they parse as one (``5e4``), else YAML (``[5.5, 5.5, 113]``,
``adiabatic``). File names among them (power or htc maps) are relative to the stack file's
folder, like those written in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import yaml

from chiptherm.description.yaml_numbers import load_yaml
from chiptherm.errors import InputError

CREATABLE = {(), ("boundaries",), ("materials",)}
"""Mappings in which a missing key may be created on the way down: a top-level section
(``grid.nx``), a face (``boundaries.top.htc``) or a material (``materials.x.conductivity``)."""


def parse_value(text: str) -> Any:
    """``text`` read as YAML with YAML 1.2 numbers (``5e4`` is a float, ``[5.5, 5.5, 113]`` a
    list), or the text itself where it is not YAML."""
    try:
        return load_yaml(text)
    except yaml.YAMLError:
        return text


def parse_assignment(text: str, option: str = "--set") -> tuple[str, Any]:
    """'boundaries.top.htc=5e4' -> ('boundaries.top.htc', 50000.0)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise InputError(f"{option} {text!r}: expected KEY=VALUE, e.g. boundaries.top.htc=5e4")
    return key.strip(), parse_value(value.strip())


def apply_override(data: Any, key: str, value: Any) -> None:
    """Set ``key`` (dotted path, see the module doc) in the stack dict ``data`` to ``value``."""
    parts = key.split(".")
    node = data
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth]) or "the stack file"
        last = depth == len(parts) - 1
        if isinstance(node, list):
            index = _list_index(node, part, f"key {key}: {where}")
            if last:
                node[index] = value
                return
            node[index] = _container(node[index], f"key {key}: {where}.{part}")
            node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = value
                return
            if part not in node and tuple(parts[:depth]) not in CREATABLE:
                known = ", ".join(map(str, node)) or "none"
                raise InputError(f"key {key}: {where} has no key {part!r}; it has {known}")
            node[part] = _container(node.get(part), f"key {key}: {where}.{part}")
            node = node[part]
        else:
            raise InputError(f"key {key}: {where} is a value, not a mapping or list")


def _list_index(items: list[Any], part: str, what: str) -> int:
    """The position of ``part`` in a list: an integer, or the item whose 'name' it is."""
    names = [item.get("name") if isinstance(item, dict) else None for item in items]
    if part in names:
        return names.index(part)
    if part.lstrip("-").isdigit() and -len(items) <= int(part) < len(items):
        return int(part) % len(items)
    known = ", ".join(str(n) for n in names if n is not None) or f"positions 0-{len(items) - 1}"
    raise InputError(f"{what} has no item {part!r}; expected one of {known}")


def _container(node: Any, what: str) -> Any:
    """``node`` to descend into: itself when it is a mapping or list, a new mapping for a
    missing key or an 'adiabatic' face."""
    if node is None or node == "adiabatic":
        return {}
    if isinstance(node, dict | list):
        return node
    raise InputError(f"{what} is the value {node!r}, not a mapping or list")


def apply_overrides(data: Any, assignments: Sequence[tuple[str, Any]]) -> Any:
    """``data`` with every (key, value) of ``assignments`` applied, in order."""
    for key, value in assignments:
        apply_override(data, key, value)
    return data


def sweep_values(text: str, option: str = "--vary") -> list[float]:
    """Values of a sweep: '1e3,1e4,1e5' (a list), 'start:stop:count' (evenly spaced) or
    'start:stop:count:log' (evenly spaced in log, start and stop > 0)."""
    try:
        if ":" not in text:
            values = [float(v) for v in text.split(",") if v.strip()]
        else:
            parts = text.split(":")
            if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] != "log"):
                raise ValueError
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
            if count < 2:
                raise ValueError
            if len(parts) == 4:
                if start <= 0 or stop <= 0:
                    raise ValueError
                values = list(np.geomspace(start, stop, count))
            else:
                values = list(np.linspace(start, stop, count))
    except ValueError:
        raise InputError(
            f"{option} {text!r}: expected values 'a,b,c', 'start:stop:count' or "
            "'start:stop:count:log' (count at least 2, log ranges above 0)"
        ) from None
    if not values:
        raise InputError(f"{option} {text!r}: no values")
    return [float(v) for v in values]
