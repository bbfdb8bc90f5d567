"""The values a stack file writes, parsed and checked: lengths and powers in SI or with a unit
('50 um', '500 mW'), conductivities (one number or [kx, ky, kz]), and 2-D maps (power, heat
transfer coefficient) given inline or as .npy or .csv files beside the stack file; and the
frozen, strict pydantic base every part of a stack is built on.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    ValidationInfo,
)

LENGTH_UNITS = {"m": 1.0, "cm": 1e-2, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "nm": 1e-9}


POWER_UNITS = {"W": 1.0, "kW": 1e3, "mW": 1e-3, "uW": 1e-6, "µW": 1e-6}


def parse_quantity(value: Any, units: dict[str, float], what: str, example: str) -> Any:
    """A number as it is (SI), or a string '<number> <unit>' converted to SI."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            number = text[: -len(unit)].strip()
            try:
                return float(number) * units[unit]
            except ValueError:
                break
    raise ValueError(
        f"expected {what} as a number in SI units or a string like {example!r} "
        f"(units: {', '.join(units)}), got {value!r}"
    )


def parse_length(value: Any) -> Any:
    return parse_quantity(value, LENGTH_UNITS, "a length", "50 um")


def parse_watts(value: Any) -> Any:
    return parse_quantity(value, POWER_UNITS, "a power", "500 mW")


Length = Annotated[float, BeforeValidator(parse_length)]
"""A length in m; YAML may also give '50 um', '2.5 mm', ..."""


Watts = Annotated[float, BeforeValidator(parse_watts)]
"""A power in W; YAML may also give '500 mW', '1.2 kW', ..."""


class StackModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        arbitrary_types_allowed=True,
        allow_inf_nan=False,
        use_attribute_docstrings=True,  # the docstring under a field is its description
    )


def parse_conductivity(value: Any) -> tuple[float, float, float]:
    if isinstance(value, bool):
        raise ValueError("expected a number or a list [kx, ky, kz] in W/(m·K)")
    if isinstance(value, int | float):
        value = [value] * 3
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise ValueError("expected a number or a list [kx, ky, kz] in W/(m·K)")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"conductivity entries must be numbers, got {v!r}")
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"conductivity must be finite and > 0 W/(m·K), got {v}")
        out.append(float(v))
    return (out[0], out[1], out[2])


Conductivity = Annotated[tuple[float, float, float], BeforeValidator(parse_conductivity)]


def read_csv_map(path: Path, what: str) -> np.ndarray:
    """A 2-D array from a text file: one row of numbers per line, separated by commas or
    white space, the first line the south row (y index 0), as ``numpy.savetxt`` writes an
    (ny, nx) array; blank lines and lines starting with '#' are skipped.

    Raises:
        ValueError: naming the file, the line and the column of a bad entry, or a line whose
            length differs from the first.
    """
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {what} {str(path)!r}: {exc}") from None
    rows: list[list[float]] = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        row = []
        for column, cell in enumerate(text.replace(",", " ").split(), start=1):
            try:
                row.append(float(cell))
            except ValueError:
                raise ValueError(
                    f"{what} {str(path)!r} line {number}, column {column}: {cell!r} is not a number"
                ) from None
        if rows and len(row) != len(rows[0]):
            raise ValueError(
                f"{what} {str(path)!r} line {number} has {len(row)} values, the first row "
                f"{len(rows[0])}"
            )
        rows.append(row)
    if not rows:
        raise ValueError(f"{what} {str(path)!r} holds no numbers")
    return np.array(rows)


def _load_map(value: Any, info: ValidationInfo, what: str, unit: str) -> np.ndarray:
    """A finite 2-D (ny, nx) array from a list, or from a .npy or .csv (.txt) path relative to
    the stack file's folder (validation context); ``what`` and ``unit`` name it in errors."""
    if isinstance(value, str | Path):
        base = Path((info.context or {}).get("base_dir", "."))
        path = Path(value)
        if not path.is_absolute():
            path = base / path
        if not path.exists():
            raise ValueError(f"{what} file {str(path)!r} does not exist")
        if path.suffix.lower() in (".csv", ".txt"):
            value = read_csv_map(path, what)
        else:
            try:
                value = np.load(path, allow_pickle=False)
            except Exception as exc:  # numpy raises many kinds for a bad file
                raise ValueError(f"cannot read {what} {str(path)!r} as .npy: {exc}") from None
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a 2-D array of numbers (ny, nx) in {unit}") from None
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{what} must be a 2-D array (ny, nx), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or infinite values")
    arr = arr.copy()
    arr.setflags(write=False)
    return arr


def _as_map(value: Any, info: ValidationInfo) -> Any:
    """A power map: W per cell of its own uniform grid over the chip."""
    return _load_map(value, info, "power map", "W")


def _as_htc_map(value: Any, info: ValidationInfo) -> Any:
    """A heat-transfer-coefficient map: W/(m²·K) over its own uniform grid on the face."""
    arr = _load_map(value, info, "htc map", "W/(m²·K)")
    if arr.min() < 0 or arr.max() <= 0:
        raise ValueError(
            "htc map values must be at least 0 W/(m²·K), and some above 0 "
            f"(got {arr.min():g} to {arr.max():g})"
        )
    return arr


PowerMap = Annotated[
    np.ndarray,
    BeforeValidator(_as_map),
    PlainSerializer(lambda a: a.tolist(), return_type=list),
]


HtcMap = Annotated[
    np.ndarray,
    BeforeValidator(_as_htc_map),
    PlainSerializer(lambda a: a.tolist(), return_type=list),
]
