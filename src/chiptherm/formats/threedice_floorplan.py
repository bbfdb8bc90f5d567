"""3D-ICE floorplan files (.flp): each element's rectangles and power values, read with
errors that name the file and line (the grammar lives with the stack file's, in
:mod:`chiptherm.formats.threedice_files`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lark import Transformer, v_args

from chiptherm.errors import FormatError
from chiptherm.formats import read_text
from chiptherm.formats.threedice_grammar import (
    FLP_GRAMMAR,
    build_tree,
    number,
    parse_text,
    parser_of,
)


@dataclass
class IceFlpElement:
    name: str
    rects: list[tuple[float, float, float, float]]  # (x, y, length, width), µm
    powers: list[float] | None  # the power values, W: one per time slot of a transient run
    line: int | None = None  # where the element starts in its file
    source: str = ""  # the file

    @property
    def power(self) -> float | None:
        """The power of a steady run, W: the first value (3D-ICE's steady solve takes it)."""
        return None if self.powers is None else self.powers[0]

    @property
    def area(self) -> float:
        return sum(r[2] * r[3] for r in self.rects)


@v_args(inline=True)
class _FlpBuilder(Transformer):
    def rect(self, x, y, lx, wy):
        return (number(x), number(y), number(lx), number(wy))

    def posdim(self, x, y, lx, wy, *_):
        return [(number(x), number(y), number(lx), number(wy))]

    def rects(self, *rects):
        return list(rects)

    def extra(self, *_):
        return None

    def power(self, *values):
        return [number(v) for v in values]

    def element(self, name, shape, powers=None):
        return IceFlpElement(str(name), shape, powers, getattr(name, "line", None))


def read_ice_flp(path: str | Path, chip: tuple[float, float]) -> list[IceFlpElement]:
    """Parse a 3D-ICE floorplan; rectangles must lie within the chip (µm)."""
    source = str(path)
    tree = parse_text(parser_of(FLP_GRAMMAR), read_text(path), source)
    elements = build_tree(_FlpBuilder(), tree).children
    for el in elements:
        el.source = source
    tol = 1e-3
    for el in elements:
        for x, y, lx, wy in el.rects:
            if x < -tol or y < -tol or x + lx > chip[0] + tol or y + wy > chip[1] + tol:
                raise FormatError(
                    f"element {el.name}: rectangle ({x}, {y}, {lx}, {wy}) µm "
                    f"leaves the chip {chip[0]} x {chip[1]} µm",
                    source=source,
                )
            if lx <= 0 or wy <= 0:
                raise FormatError(f"element {el.name}: rectangle sizes must be > 0", source=source)
    return elements
