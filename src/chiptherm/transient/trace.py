"""Power traces: block powers in time, each row held until the next."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chiptherm.analysis.compact import BlockInput, block_inputs
from chiptherm.analysis.power_tables import read_block_table
from chiptherm.description.stack import Stack
from chiptherm.errors import InputError


@dataclass(frozen=True)
class PowerTrace:
    """Block powers in time, each row held from its time until the next row's.

    Attributes:
        times: (m,) start of each row, s; strictly increasing, the first at 0.
        watts: (m, n) power of every block of ``blocks`` in each row, W.
        blocks: the power blocks of the stack (see :func:`chiptherm.analysis.compact.block_inputs`).
    """

    times: np.ndarray
    watts: np.ndarray
    blocks: list[BlockInput]

    @property
    def labels(self) -> list[str]:
        return [b.label for b in self.blocks]

    def row_at(self, t: float) -> int:
        """The row in force at time ``t`` (s): the last one that starts at or before it."""
        return max(int(np.searchsorted(self.times, t, side="right")) - 1, 0)

    def csv(self) -> str:
        """The trace as :func:`read_power_trace` reads it: a 'time' column and the labels."""
        lines = [",".join(["time", *self.labels])]
        for t, row in zip(self.times, self.watts, strict=True):
            lines.append(",".join([repr(float(t))] + [repr(float(w)) for w in row]))
        return "\n".join(lines) + "\n"


def step_trace(stack: Stack) -> PowerTrace:
    """The stack's own block powers switched on at t = 0 (a step response)."""
    blocks = block_inputs(stack)
    return PowerTrace(np.zeros(1), np.array([[b.block.watts for b in blocks]]), blocks)


def read_power_trace(path: str | Path, stack: Stack) -> PowerTrace:
    """Read a power trace of ``stack``'s blocks from a CSV file.

    The header holds a 'time' column (s) and block names (as ``chiptherm resistances``
    labels them); each row gives the powers (W) from its time on. Times start at 0 and
    increase; blocks the file does not name keep their power from the stack file.

    Raises:
        InputError: naming the file, the line and the column of anything else.
    """
    path = Path(path)
    blocks = block_inputs(stack)
    labels = [b.label for b in blocks]
    rows = read_block_table(path, blocks, "time", "power trace")
    header = [cell.strip() for cell in rows[0]]
    if "time" not in header:
        raise InputError(f"{path}:1: no 'time' column (s); the header is {', '.join(header)}")
    times: list[float] = []
    watts: list[list[float]] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise InputError(f"{path}:{line}: {len(row)} values, expected {len(header)}")
        values = [b.block.watts for b in blocks]
        for column, (name, cell) in enumerate(zip(header, row, strict=True), start=1):
            value = _number(path, line, column, name, cell)
            if name == "time":
                if times and value <= times[-1]:
                    raise InputError(
                        f"{path}:{line}: column {column} (time): {value:g} s does not come "
                        f"after the previous row's {times[-1]:g} s"
                    )
                if not times and value != 0.0:
                    raise InputError(
                        f"{path}:{line}: column {column} (time): the first row must start "
                        f"at 0 s, got {value:g}"
                    )
                times.append(value)
            else:
                if value < 0:
                    raise InputError(
                        f"{path}:{line}: column {column} ({name}): expected a power of at "
                        f"least 0 W, got {cell.strip()}"
                    )
                values[labels.index(name)] = value
        watts.append(values)
    if not times:
        raise InputError(f"{path}: no rows below the header")
    return PowerTrace(np.array(times), np.array(watts).reshape(len(times), len(blocks)), blocks)


def _number(path: Path, line: int, column: int, name: str, cell: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        unit = "s" if name == "time" else "W"
        raise InputError(
            f"{path}:{line}: column {column} ({name}): {cell.strip()!r} is not a number ({unit})"
        ) from None
    if not math.isfinite(value):
        raise InputError(f"{path}:{line}: column {column} ({name}): {cell.strip()} is not finite")
    return value


# -- the result --------------------------------------------------------------------------------
