"""The output section of a 3D-ICE stack (``T``, ``Tflp``, ``Tflpel``, ``Tmap``, ``Pmap``,
``Tcoolant``): headers and data lines written as 3D-ICE writes them, each file atomically."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from chiptherm.atomic import atomic_write_text
from chiptherm.formats.threedice import IceModel, output_elements
from chiptherm.formats.threedice_files import Output


def floorplan_value(
    field: np.ndarray, ranges: list[tuple[int, int, int, int]], quantity: str
) -> float:
    """Tflp statistic of one element over its rectangles' cell ranges in ``field``."""
    cells = [field[r0 : r1 + 1, c0 : c1 + 1] for r0, r1, c0, c1 in ranges]
    hi = max(float(c.max()) for c in cells)
    lo = min(float(c.min()) for c in cells)
    if quantity == "maximum":
        return hi
    if quantity == "minimum":
        return lo
    if quantity == "gradient":
        return hi - lo
    return float(np.mean([c.mean() for c in cells]))


def write_outputs(model: IceModel, temperature: np.ndarray, workdir: Path = Path(".")) -> list[str]:
    """Execute the output section for a steady run (only ``final`` instructions get a data
    line, at time 0); returns the files written."""
    texts = output_headers(model)
    for out, text in zip(model.doc.outputs, texts, strict=True):
        if out.when == "final":
            sources = model.rhs_for(model.system.q)
            text.append(output_data(model, out, temperature, sources, 0.0))
    return write_texts(model, texts, workdir)


def output_headers(model: IceModel) -> list[list[str]]:
    """One list of text pieces per output instruction, holding its header so far (3D-ICE
    truncates each file and writes its header before the run)."""
    doc = model.doc
    cw = doc.cell[1]
    texts = []
    for out in doc.outputs:
        if out.kind == "T":
            col, row = cell_of(model, out.x, out.y)
            text = (
                f"% Temperature of the thermal cell of {out.element} at location "
                f"({out.x:.2f}, {out.y:.2f})\n"
                f"% [{col},{row}] ({model.x_edges[col]:.2f}, {row * cw:.2f})\n"
                "% Time(s) \t Temperature(K)\n"
            )
        elif out.kind in ("Tflp", "Tflpel"):
            elements = output_elements(model, out)
            text = f"% {out.quantity} temperatures of the floorplan elements of {out.element}\n"
            if out.kind == "Tflp":
                text += "% Time(s) \t " + "".join(f"{e.name}(K) \t " for e in elements) + "\n"
            else:
                text += f"% Time(s) \t {elements[0].name}(K)\n"
        elif out.kind == "Tcoolant":
            text = (
                f"% {out.quantity.capitalize()} temperatures for the outlet of the channel "
                f"{out.element}\n% Time(s) \t Temperature(K)\n"
            )
        else:  # Tmap, Pmap
            what = "temperature" if out.kind == "Tmap" else "power"
            text = f"% Map of the {what} of {out.element}\n"
        texts.append([text])
    return texts


def output_data(
    model: IceModel, out: Output, temperature: np.ndarray, sources: np.ndarray, time: float
) -> str:
    """The data of output instruction ``out`` at ``time`` (s): the field ``temperature`` and
    the source vector ``sources`` (power plus sink terms; Pmap prints it), both
    (nz, n_rows, n_cols), as 3D-ICE prints them."""
    level = model.layer_of_element[out.element]
    field_ = temperature[level]
    if out.kind == "T":
        col, row = cell_of(model, out.x, out.y)
        return f"{time:f} \t {field_[row, col]:16.12f}\n"
    if out.kind in ("Tflp", "Tflpel"):
        values = [
            floorplan_value(field_, model.element_ranges(e), out.quantity)
            for e in output_elements(model, out)
        ]
        if out.kind == "Tflp":
            return f"{time:5.3f} \t " + "".join(f"{v:5.3f} \t " for v in values) + "\n"
        return f"{time:5.3f} \t {values[0]:7.3f}\n"
    if out.kind == "Tcoolant":
        return f"{time:5.3f} \t {coolant_value(model, out, temperature):7.3f}\n"
    data = field_ if out.kind == "Tmap" else sources[level]
    return "".join("".join(f"{v:7.3f}  " for v in row) + "\n" for row in data) + "\n"


def cell_of(model: IceModel, x: float, y: float) -> tuple[int, int]:
    """(column, row) of the cell holding (x, y) µm: the last one where none does."""
    cw = model.doc.cell[1]
    col = int(np.searchsorted(model.x_edges[1:], x, side="right"))
    return min(col, model.n_cols - 1), min(math.floor(y / cw), model.n_rows - 1)


def write_texts(model: IceModel, texts: list[list[str]], workdir: Path) -> list[str]:
    """Write each output file (atomically), and the axes of Tmap and Pmap; returns the
    output files' paths."""
    cw = model.doc.cell[1]
    if any(out.kind in ("Tmap", "Pmap") for out in model.doc.outputs):
        centres = (model.x_edges[:-1] + model.x_edges[1:]) / 2
        xs = "".join(f"{x:5.2f}\n" for x in centres)
        ys = "".join(f"{(r + 0.5) * cw:5.2f}\n" for r in range(model.n_rows))
        atomic_write_text(workdir / "xaxis.txt", xs)
        atomic_write_text(workdir / "yaxis.txt", ys)
    for out, text in zip(model.doc.outputs, texts, strict=True):
        atomic_write_text(workdir / out.path, "".join(text))
    return [out.path for out in model.doc.outputs]


def coolant_value(model: IceModel, out: Output, temperature: np.ndarray) -> float:
    """Tcoolant statistic of the coolant leaving the channel ``out.element``: over the last
    row's coolant cells (3D-ICE's average also counts its first column's cell once more, and
    its maximum and minimum start from that cell even where it is a 4RM wall; chiptherm takes
    the coolant cells alone)."""
    assert model.cavity is not None  # read_stk checks that the element is a channel
    level = model.layer_of_element[out.element]
    c = next(c for layer, c, _ in model.cavity.coolant if layer == level)
    outlet = temperature[level, -1][c > 0]
    hi, lo = float(outlet.max()), float(outlet.min())
    return {"maximum": hi, "minimum": lo, "gradient": hi - lo}.get(
        out.quantity, float(outlet.mean())
    )
