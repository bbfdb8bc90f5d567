"""3D-ICE's model of a parsed stack (:mod:`~chiptherm.formats.threedice_files`) and its
output files.

The model reproduces 3D-ICE's discretization, including its full-height half-cells on an edge
layer without a heat sink; conductances come out directly in W/K. It carries each floorplan
element's share of every cell (for the power of any time slot) and each layer's cell heat
capacity; a steady run solves the first slot's power here, a transient run steps through the
slots in :mod:`chiptherm.transient.threedice`. The output section's headers and data lines
are written as 3D-ICE writes them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chiptherm.atomic import atomic_write_text
from chiptherm.discretize.grid import overlap_1d
from chiptherm.discretize.system import FaceLink, System
from chiptherm.errors import ChipthermWarning, FormatError
from chiptherm.formats.threedice_files import IceLayer, Output, StkFile
from chiptherm.formats.threedice_floorplan import IceFlpElement, read_ice_flp


# -- the model ---------------------------------------------------------------
def _range(start: float, end: float, step: float, n: int) -> tuple[int, int]:
    """3D-ICE's covered index range [first, last] for [start, end) on a grid of ``step``."""
    first = max(0, min(n - 1, math.floor(start / step + 1e-9)))
    last = math.ceil(end / step - 1e-9) - 1
    return first, max(first, min(n - 1, last))


@dataclass(frozen=True)
class IceSource:
    """A floorplan element on its die's source layer (global index, bottom = 0): ``share``
    (n_rows, n_cols) is the part of the element's power each cell takes (3D-ICE's exact
    area-overlap split; it sums to 1 over the chip)."""

    layer: int
    element: IceFlpElement
    share: np.ndarray


@dataclass
class IceModel:
    """The discretized 3D-ICE stack: a :class:`System` (carrying the first slot's power, the
    power of a steady run) plus what the outputs and the slots of a transient run need."""

    doc: StkFile
    system: System
    n_rows: int
    n_cols: int
    layer_of_element: dict[str, int]  # source layer (global, bottom = 0) of each element
    floorplans: dict[str, list[IceFlpElement]]  # by die element name
    sources: list[IceSource]
    cell_capacity: np.ndarray  # (nz,) heat capacity of one cell of each layer, J/K

    @property
    def n_layers(self) -> int:
        return len(self.cell_capacity)

    def power(self, slot: int) -> np.ndarray:
        """(nz, n_rows, n_cols) power of every cell during time slot ``slot`` (from 0), W;
        elements without a value for the slot give none."""
        q = np.zeros((self.n_layers, self.n_rows, self.n_cols))
        for source in self.sources:
            powers = source.element.powers
            if powers is not None and slot < len(powers):
                q[source.layer] += powers[slot] * source.share
        return q

    def element_ranges(self, el: IceFlpElement) -> list[tuple[int, int, int, int]]:
        """(r0, r1, c0, c1) inclusive cell ranges of each rectangle."""
        cl, cw = self.doc.cell
        out = []
        for x, y, lx, wy in el.rects:
            c0, c1 = _range(x, x + lx, cl, self.n_cols)
            r0, r1 = _range(y, y + wy, cw, self.n_rows)
            out.append((r0, r1, c0, c1))
        return out


def build_model(doc: StkFile) -> IceModel:
    """3D-ICE's steady conduction system for a solid stack (see FORMATS.md §B3-B5)."""
    lx, wy = doc.chip
    cl, cw = doc.cell
    n_cols, n_rows = int(lx / cl), int(wy / cw)
    # global layers, bottom first
    layers: list[IceLayer] = []
    layer_of_element: dict[str, int] = {}
    for el in reversed(doc.stack):
        if el.kind == "layer":
            layer_of_element[el.name] = len(layers)
            layers.append(doc.layers[el.ref])
        else:
            die = doc.dies[el.ref]
            offset = len(layers)
            layers += list(reversed(die.layers))
            layer_of_element[el.name] = offset + (len(die.layers) - 1 - die.source_index)
    nz = len(layers)
    k = np.array([doc.materials[la.material].conductivity for la in layers])  # (nz, 3)
    h = np.array([la.height for la in layers])
    area = cl * cw
    shape = (nz, n_rows, n_cols)
    gx = np.broadcast_to((k[:, 0] * cw * h / cl)[:, None, None], (nz, n_rows, n_cols - 1))
    gy = np.broadcast_to((k[:, 1] * cl * h / cw)[:, None, None], (nz, n_rows - 1, n_cols))
    g_up = k[:, 2] * area / (h / 2)
    g_down = g_up.copy()
    if doc.bottom_sink is None:
        g_up[0] = k[0, 2] * area / h[0]
    if doc.top_sink is None:
        g_down[-1] = k[-1, 2] * area / h[-1]
    gz_level = g_up[:-1] * g_down[1:] / (g_up[:-1] + g_down[1:])
    gz = np.broadcast_to(gz_level[:, None, None], (nz - 1, n_rows, n_cols))
    faces = {}
    for face, sink, level in (("top", doc.top_sink, -1), ("bottom", doc.bottom_sink, 0)):
        if sink is not None:
            kz, hn = k[level, 2], h[level]
            g_s = 2 * kz * sink.htc * area / (sink.htc * hn + 2 * kz)
            faces[face] = FaceLink(np.full((n_rows, n_cols), g_s), sink.temperature)
    floorplans: dict[str, list[IceFlpElement]] = {}
    sources: list[IceSource] = []
    x_edges = np.arange(n_cols + 1) * cl
    y_edges = np.arange(n_rows + 1) * cw
    for el in doc.stack:
        if el.kind != "die":
            continue
        flp = read_ice_flp(el.floorplan, doc.chip)  # type: ignore[arg-type]
        floorplans[el.name] = flp
        for fe in flp:
            share = np.zeros((n_rows, n_cols))
            for x, y, lxr, wyr in fe.rects:
                share += np.outer(overlap_1d(y_edges, y, y + wyr), overlap_1d(x_edges, x, x + lxr))
            sources.append(IceSource(layer_of_element[el.name], fe, share / fe.area))
    q = np.zeros(shape)
    for source in sources:
        if source.element.powers is None:
            warnings.warn(
                f"floorplan element {source.element.name} has no power values", stacklevel=2
            )
        else:
            q[source.layer] += source.element.powers[0] * source.share
    if doc.transient is None:
        warn_unused_slots([source.element for source in sources])
    system = System(
        np.ascontiguousarray(gx), np.ascontiguousarray(gy), np.ascontiguousarray(gz), faces, q
    )
    capacity = np.array([doc.materials[la.material].heat_capacity or 0.0 for la in layers])
    model = IceModel(
        doc, system, n_rows, n_cols, layer_of_element, floorplans, sources, capacity * area * h
    )
    for out in doc.outputs:  # checked before anything is written
        if out.kind == "Tflpel":
            output_elements(model, out)
    return model


def warn_unused_slots(elements: list[IceFlpElement]) -> None:
    """Say where a steady run leaves power values unused: it takes each element's first, as
    3D-ICE does; the others are the time slots of a transient run."""
    slotted = [e for e in elements if e.powers and len(e.powers) > 1]
    if slotted:
        first = slotted[0]
        warnings.warn(
            f"{first.source}:{first.line}: element {first.name} has {len(first.powers or [])} "
            f"power values ({len(slotted)} element(s) have several): a steady run takes the "
            "first of each, as 3D-ICE does; the others are the time slots of a transient run "
            "('solver: transient step DT, slot ST ;')",
            ChipthermWarning,
            stacklevel=3,
        )


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
            text.append(output_data(model, out, temperature, model.system.rhs, 0.0))
    return write_texts(model, texts, workdir)


def output_headers(model: IceModel) -> list[list[str]]:
    """One list of text pieces per output instruction, holding its header so far (3D-ICE
    truncates each file and writes its header before the run)."""
    doc = model.doc
    cl, cw = doc.cell
    texts = []
    for out in doc.outputs:
        if out.kind == "T":
            col, row = cell_of(model, out.x, out.y)
            text = (
                f"% Temperature of the thermal cell of {out.element} at location "
                f"({out.x:.2f}, {out.y:.2f})\n"
                f"% [{col},{row}] ({col * cl:.2f}, {row * cw:.2f})\n"
                "% Time(s) \t Temperature(K)\n"
            )
        elif out.kind in ("Tflp", "Tflpel"):
            elements = output_elements(model, out)
            text = f"% {out.quantity} temperatures of the floorplan elements of {out.element}\n"
            if out.kind == "Tflp":
                text += "% Time(s) \t " + "".join(f"{e.name}(K) \t " for e in elements) + "\n"
            else:
                text += f"% Time(s) \t {elements[0].name}(K)\n"
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
    data = field_ if out.kind == "Tmap" else sources[level]
    return "".join("".join(f"{v:7.3f}  " for v in row) + "\n" for row in data) + "\n"


def cell_of(model: IceModel, x: float, y: float) -> tuple[int, int]:
    """(column, row) of the cell holding (x, y) µm: the last one where none does."""
    cl, cw = model.doc.cell
    return min(math.floor(x / cl), model.n_cols - 1), min(math.floor(y / cw), model.n_rows - 1)


def output_elements(model: IceModel, out: Output) -> list[IceFlpElement]:
    """The floorplan elements a Tflp (all of its die's) or Tflpel (the one named) reports."""
    elements = model.floorplans[out.element]
    if out.kind == "Tflpel":
        elements = [e for e in elements if e.name == out.floorplan_element]
        if not elements:
            raise FormatError(
                f"Tflpel: no element {out.floorplan_element!r} in {out.element}'s floorplan",
                source=model.doc.source,
            )
    return elements


def write_texts(model: IceModel, texts: list[list[str]], workdir: Path) -> list[str]:
    """Write each output file (atomically), and the axes of Tmap and Pmap; returns the
    output files' paths."""
    cl, cw = model.doc.cell
    if any(out.kind in ("Tmap", "Pmap") for out in model.doc.outputs):
        xs = "".join(f"{(c + 0.5) * cl:5.2f}\n" for c in range(model.n_cols))
        ys = "".join(f"{(r + 0.5) * cw:5.2f}\n" for r in range(model.n_rows))
        atomic_write_text(workdir / "xaxis.txt", xs)
        atomic_write_text(workdir / "yaxis.txt", ys)
    for out, text in zip(model.doc.outputs, texts, strict=True):
        atomic_write_text(workdir / out.path, "".join(text))
    return [out.path for out in model.doc.outputs]
