"""Reading and writing stack files (YAML), with errors that name file, line and key."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import ValidationError

from chiptherm.atomic import atomic_write_bytes, atomic_write_text
from chiptherm.description.stack import ReferenceError_, Stack
from chiptherm.description.yaml_numbers import load_yaml
from chiptherm.errors import InputError, StackError

KeyPath = tuple[str | int, ...]


def format_key(path: KeyPath) -> str:
    """``('layers', 2, 'thickness')`` -> ``layers[2].thickness``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def line_of(text: str, path: KeyPath) -> int | None:
    """1-based line of the YAML node at ``path`` in ``text`` (the deepest one that exists)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in path:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if str(key_node.value) == str(part):
                    child = value_node
                    line = key_node.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def _clean_loc(loc: tuple[Any, ...]) -> KeyPath:
    # pydantic adds validator tags such as 'function-before[...]' to the location
    return tuple(p for p in loc if not (isinstance(p, str) and "[" in p and p.endswith("]")))


def explain_validation(
    exc: ValidationError, text: str | None, source: str, error: type[InputError] = StackError
) -> InputError:
    """One :class:`InputError` naming file, line and key path of the first validation problem."""
    err = exc.errors()[0]
    ctx_error = (err.get("ctx") or {}).get("error")
    if isinstance(ctx_error, ReferenceError_):
        path, message = ctx_error.path, ctx_error.message
    else:
        path = _clean_loc(err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = f"unknown key {path[-1]!r}"
        elif err["type"] == "missing":
            message = "required key is missing"
    line = line_of(text, path) if text is not None else None
    more = len(exc.errors()) - 1
    if more > 0:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return error(message, source=source, line=line, key=format_key(path) or None)


def stack_from_dict(
    data: Any, *, source: str = "<stack>", base_dir: Path | None = None, text: str | None = None
) -> Stack:
    """Validate a plain dict (as read from YAML) into a :class:`Stack`.

    Raises:
        StackError: naming ``source``, the line (when ``text`` is given) and key path.
    """
    if not isinstance(data, dict):
        raise StackError("a stack file must be a YAML mapping (key: value pairs)", source=source)
    try:
        return Stack.model_validate(data, context={"base_dir": base_dir or Path(".")})
    except ValidationError as exc:
        raise explain_validation(exc, text, source) from None


def read_yaml(path: str | Path, error: type[InputError] = StackError) -> tuple[Any, str]:
    """Parse a YAML file; returns (data, text). Errors name the file and line."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise error(f"cannot read file: {exc.strerror}", source=str(path)) from None
    try:
        return load_yaml(text), text
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(f"invalid YAML: {problem}", source=str(path), line=line) from None


def stack_to_dict(
    stack: Stack,
    *,
    map_files: dict[str, str] | None = None,
    htc_files: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A YAML-ready dict of ``stack``; power maps are replaced by ``map_files[name]`` and
    face htc maps by ``htc_files[face]`` (default file names when not given)."""
    data = stack.model_dump(mode="python", exclude_defaults=False)
    data["size"] = list(stack.size)
    for name, source in data["power"].items():
        if source.get("leakage") is None:
            source.pop("leakage", None)
        for block in source.get("blocks") or []:
            if not block.get("leakage_w"):
                block.pop("leakage_w", None)
        if source.get("map") is not None:
            source["map"] = (map_files or {}).get(name, f"{name}.npy")
            source.pop("blocks", None)
        else:
            source.pop("map", None)
    for layer in data["layers"]:
        if not layer["regions"]:
            layer.pop("regions")
        if layer["power"] is None:
            layer.pop("power")
        if layer["contact_resistance"] == 0.0:
            layer.pop("contact_resistance")
    for name, mat in data["materials"].items():
        k = list(mat["conductivity"])
        data["materials"][name] = {"conductivity": k[0] if len(set(k)) == 1 else k}
        if mat["temperature_exponent"] != 0.0:
            data["materials"][name]["temperature_exponent"] = mat["temperature_exponent"]
            data["materials"][name]["reference_temperature"] = mat["reference_temperature"]
        if mat["heat_capacity"] is not None:
            data["materials"][name]["heat_capacity"] = mat["heat_capacity"]
    for face, bc in data["boundaries"].items():
        if bc.get("htc_map") is not None:
            bc["htc_map"] = (htc_files or {}).get(face, f"{face}_htc.npy")
    data["boundaries"] = {
        face: ({k: v for k, v in bc.items() if v is not None} or "adiabatic")
        for face, bc in data["boundaries"].items()
    }
    return tidy(data)


def tidy(value: Any) -> Any:
    """``value`` as a person would write it: keys whose value is None (the default) left out,
    floats to 15 significant digits (0.0008, not 0.0007999999999999999: the same number within
    an ulp or two), tuples as lists."""
    if isinstance(value, dict):
        return {k: tidy(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [tidy(v) for v in value]
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.15g}")
    return value


def save_stack(stack: Stack, path: str | Path) -> Path:
    """Write ``stack`` as YAML (atomically); power maps go to ``<stem>_<name>.npy`` and face
    htc maps to ``<stem>_<face>_htc.npy`` beside it."""
    path = Path(path)
    map_files: dict[str, str] = {}
    for name, source in stack.power.items():
        if source.map is not None:
            fname = f"{path.stem}_{name}.npy"
            buf = _npy_bytes(source.map)
            atomic_write_bytes(path.parent / fname, buf)
            map_files[name] = fname
    htc_files: dict[str, str] = {}
    for face, bc in stack.boundaries.items():
        if bc.htc_map is not None:
            fname = f"{path.stem}_{face}_htc.npy"
            atomic_write_bytes(path.parent / fname, _npy_bytes(bc.htc_map))
            htc_files[face] = fname
    data = stack_to_dict(stack, map_files=map_files, htc_files=htc_files)
    text = yaml.safe_dump(data, sort_keys=False)
    atomic_write_text(path, text)
    return path


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()
