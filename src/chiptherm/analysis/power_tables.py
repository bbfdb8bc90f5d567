"""Block powers from CSV tables: power cases for a resistance matrix (one row a case) and the
rows of a power trace (one row a time), each column a block of the stack, with errors that
name the file, line and column."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chiptherm.analysis.compact import BlockInput
from chiptherm.errors import InputError


@dataclass(frozen=True)
class PowerCases:
    """Block power assignments read from a CSV file.

    Attributes:
        names: (m,) case names (the 'name' column, else 'case1', 'case2', ...).
        watts: (m, n) power of every block of the matrix in each case, W; blocks the file does
            not list keep their nominal power.
    """

    names: list[str]
    watts: np.ndarray


def read_block_table(
    path: Path, blocks: list[BlockInput], extra: str, what: str
) -> list[list[str]]:
    """The rows of a CSV file whose header names blocks of ``blocks`` and the column
    ``extra``, the header checked (``what`` the file holds, for messages).

    Raises:
        InputError: for an unreadable or empty file, an unknown or repeated column name.
    """
    try:
        rows = list(csv.reader(io.StringIO(path.read_text())))
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what}: {exc.strerror}") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise InputError(f"{path}: empty; expected a header of block names, then rows of W")
    header = [cell.strip() for cell in rows[0]]
    labels = [b.label for b in blocks]
    for column, name in enumerate(header, start=1):
        if name != extra and name not in labels:
            raise InputError(
                f"{path}:1: column {column}: unknown block {name!r}; the blocks are "
                f"{', '.join(labels) or 'none'} (and {extra!r})"
            )
    if len(set(header)) != len(header):
        raise InputError(f"{path}:1: a column name repeats")
    return rows


def read_power_cases(path: str | Path, blocks: list[BlockInput]) -> PowerCases:
    """Read power cases of ``blocks`` (see :func:`block_inputs`) from a CSV file.

    The header names the blocks (matrix labels) and optionally a 'name' column; every other
    row is one case, in W (at least 0).

    Raises:
        InputError: naming the file, the line and the column of anything else.
    """
    path = Path(path)
    rows = read_block_table(path, blocks, "name", "power cases")
    header = [cell.strip() for cell in rows[0]]
    labels = [b.label for b in blocks]
    names: list[str] = []
    watts = np.tile([b.block.watts for b in blocks], (len(rows) - 1, 1))
    blank = 0
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            blank += 1
            continue
        if len(row) != len(header):
            raise InputError(
                f"{path}:{line}: {len(row)} values, expected {len(header)} (one per column)"
            )
        case = line - 2 - blank
        names.append(f"case{case + 1}")
        for column, (name, cell) in enumerate(zip(header, row, strict=True), start=1):
            if name == "name":
                names[-1] = cell.strip()
                continue
            try:
                value = float(cell)
            except ValueError:
                raise InputError(
                    f"{path}:{line}: column {column} ({name}): {cell.strip()!r} is not a number (W)"
                ) from None
            if not (np.isfinite(value) and value >= 0):
                raise InputError(
                    f"{path}:{line}: column {column} ({name}): expected a power of at least "
                    f"0 W, got {cell.strip()}"
                )
            watts[case, labels.index(name)] = value
    if not names:
        raise InputError(f"{path}: no cases below the header")
    return PowerCases(names, watts[: len(names)])
