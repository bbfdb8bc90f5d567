"""3D-ICE's model of a parsed stack (:mod:`~chiptherm.formats.threedice_files`): its
discretization, as 3D-ICE discretizes it.

The model reproduces 3D-ICE's discretization, including its full-height half-cells on an edge
layer without a heat sink and, for a 4RM cavity, the grid's columns as wide as the cavity's
walls and channels; conductances come out directly in W/K. Solid stacks are a symmetric
:class:`System` (solved by chiptherm's solvers); a cavity adds the coolant's transport and
the 2RM model's links (:mod:`~chiptherm.formats.threedice_cavity`); how either is solved is
in :mod:`~chiptherm.formats.threedice_solve`. The model carries each floorplan element's
share of every cell (for the power of any time slot) and every cell's heat capacity; a
steady run solves the first slot's power, a transient run steps through the slots in
:mod:`chiptherm.transient.threedice`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from chiptherm.discretize.grid import overlap_1d
from chiptherm.discretize.system import FaceLink, System, series
from chiptherm.errors import ChipthermWarning, FormatError
from chiptherm.formats.threedice_cavity import (
    CavityTerms,
    IceCavity,
    advection,
    channel_columns,
    column_lengths,
    convective_term,
    skip_links,
)
from chiptherm.formats.threedice_files import Output, StkFile
from chiptherm.formats.threedice_floorplan import IceFlpElement, read_ice_flp


# -- the model ---------------------------------------------------------------
def index_range(start: float, end: float, edges: np.ndarray) -> tuple[int, int]:
    """3D-ICE's covered index range [first, last] of the cells between ``edges`` (n+1,) for
    [start, end): from the cell holding ``start`` to the one holding the end."""
    n = len(edges) - 1
    tol = 1e-9 * float(np.min(np.diff(edges)))
    first = min(n - 1, int(np.searchsorted(edges[1:], start + tol, side="right")))
    last = int(np.searchsorted(edges[1:], end - tol, side="left"))
    return first, max(first, min(n - 1, last))


@dataclass(frozen=True)
class IceSource:
    """A floorplan element on its die's source layer (global index, bottom = 0): ``share``
    (n_rows, n_cols) is the part of the element's power each cell takes (3D-ICE's exact
    area-overlap split; it sums to 1 over the chip)."""

    layer: int
    element: IceFlpElement
    share: np.ndarray


@dataclass(frozen=True)
class CellLayer:
    """One layer of cells, bottom first: ``kind`` is 'solid', or a cavity's '4rm', 'bottom
    wall', 'virtual wall', 'coolant' or 'top wall'; ``k`` (3,) W/(µm·K) and ``vhc``
    J/(µm³·K) are its (wall) material's."""

    kind: str
    height: float
    k: tuple[float, float, float]
    vhc: float
    cavity: IceCavity | None = None


@dataclass
class IceModel:
    """The discretized 3D-ICE stack: a :class:`System` (carrying the first slot's power, the
    power of a steady run), the cavities' terms, and what the outputs and the slots of a
    transient run need."""

    doc: StkFile
    system: System
    x_edges: np.ndarray  # (n_cols+1,) column edges, µm
    layer_of_element: dict[str, int]  # source layer (global, bottom = 0) of each element
    floorplans: dict[str, list[IceFlpElement]]  # by die element name
    sources: list[IceSource]
    capacity: np.ndarray  # (nz, n_rows, n_cols) heat capacity of every cell, J/K
    cavity: CavityTerms | None = None

    @property
    def n_layers(self) -> int:
        return self.system.shape[0]

    @property
    def n_rows(self) -> int:
        return self.system.shape[1]

    @property
    def n_cols(self) -> int:
        return self.system.shape[2]

    def power(self, slot: int) -> np.ndarray:
        """(nz, n_rows, n_cols) power of every cell during time slot ``slot`` (from 0), W;
        elements without a value for the slot give none."""
        q = np.zeros(self.system.shape)
        for source in self.sources:
            powers = source.element.powers
            if powers is not None and slot < len(powers):
                q[source.layer] += powers[slot] * source.share
        return q

    def rhs_for(self, q: np.ndarray) -> np.ndarray:
        """(nz, n_rows, n_cols) sources of power ``q``: q, the sinks' G_s·T_s and the
        incoming coolant's 2·C·T_in, W."""
        rhs = self.system.rhs_for(q)
        return rhs if self.cavity is None else rhs + self.cavity.inlet

    def matrix(self) -> sp.csr_array:
        """(N, N) the whole system's matrix, W/K (not symmetric with a cavity)."""
        a = self.system.matrix
        return a if self.cavity is None else sp.csr_array(a + self.cavity.matrix)

    def heat_out(self, temperature: np.ndarray) -> float:
        """Heat leaving through the sinks and with the coolant at ``temperature``, W."""
        out = sum(self.system.heat_out(temperature).values())
        return out if self.cavity is None else out + self.cavity.heat_carried(temperature)

    def element_ranges(self, el: IceFlpElement) -> list[tuple[int, int, int, int]]:
        """(r0, r1, c0, c1) inclusive cell ranges of each rectangle."""
        y_edges = np.arange(self.n_rows + 1) * self.doc.cell[1]
        out = []
        for x, y, lx, wy in el.rects:
            c0, c1 = index_range(x, x + lx, self.x_edges)
            r0, r1 = index_range(y, y + wy, y_edges)
            out.append((r0, r1, c0, c1))
        return out


def cell_layers(doc: StkFile) -> tuple[list[CellLayer], dict[str, int]]:
    """The stack's layers of cells, bottom first, and each element's source layer: a die's
    source layer, a layer itself, a cavity's coolant layer."""
    layers: list[CellLayer] = []
    layer_of_element: dict[str, int] = {}

    def solid(height: float, material: str) -> CellLayer:
        m = doc.materials[material]
        return CellLayer("solid", height, m.conductivity, m.heat_capacity or 0.0)

    for el in reversed(doc.stack):
        if el.kind == "layer":
            layer_of_element[el.name] = len(layers)
            la = doc.layers[el.ref]
            layers.append(solid(la.height, la.material))
        elif el.kind == "channel":
            cavity = doc.cavity
            assert cavity is not None  # read_stk checks
            layer_of_element[el.name] = len(layers) + cavity.coolant_layer
            wall = doc.materials[cavity.wall_material]
            for kind in cavity.layer_kinds:
                layers.append(
                    CellLayer(
                        kind, cavity.height, wall.conductivity, wall.heat_capacity or 0.0, cavity
                    )
                )
        else:
            die = doc.dies[el.ref]
            offset = len(layers)
            layers += [solid(la.height, la.material) for la in reversed(die.layers)]
            layer_of_element[el.name] = offset + (len(die.layers) - 1 - die.source_index)
    return layers, layer_of_element


def build_model(doc: StkFile) -> IceModel:
    """3D-ICE's system for the stack ``doc`` (see FORMATS.md §B3-B5 and the module doc)."""
    lx, wy = doc.chip
    cw = doc.cell[1]
    lengths = column_lengths(doc.cavity, lx, doc.cell[0], doc.source)
    n_cols, n_rows = len(lengths), int(wy / cw)
    if doc.cavity is not None and n_rows < 2:
        raise FormatError(
            f"a cavity needs at least 2 rows of cells along the flow; chip width {wy:g} and "
            f"cell width {cw:g} give {n_rows}",
            source=doc.source,
            line=doc.cavity.line,
        )
    x_edges = np.concatenate([[0.0], np.cumsum(lengths)])
    layers, layer_of_element = cell_layers(doc)
    nz = len(layers)
    k = np.array([la.k for la in layers])  # (nz, 3)
    h = np.array([la.height for la in layers])[:, None]
    area = lengths * cw  # (n_cols,)
    half_x = k[:, :1] * cw * h / (lengths / 2)  # (nz, n_cols)
    gx = series(half_x[:, :-1], half_x[:, 1:])
    gy = k[:, 1:2] * lengths * h / cw
    g_up = k[:, 2:] * area / (h / 2)
    g_down = g_up.copy()
    if doc.bottom_sink is None:
        g_up[0] = k[0, 2] * area / h[0]
    if doc.top_sink is None:
        g_down[-1] = k[-1, 2] * area / h[-1]
    capacity = np.array([la.vhc for la in layers])[:, None] * area * h
    faces = {}
    for face, sink, level in (("top", doc.top_sink, -1), ("bottom", doc.bottom_sink, 0)):
        if sink is not None:
            kz, hn = k[level, 2], h[level, 0]
            g_s = 2 * kz * sink.htc * area / (sink.htc * hn + 2 * kz)
            faces[face] = FaceLink(np.broadcast_to(g_s, (n_rows, n_cols)).copy(), sink.temperature)
    shape = (nz, n_rows, n_cols)
    links = LayerLinks(gx, gy, g_up, g_down, capacity)
    terms = add_cavities(links, layers, lengths, cw, lx, shape)
    floorplans, sources = floorplan_sources(doc, layer_of_element, x_edges, n_rows)
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
        np.ascontiguousarray(np.broadcast_to(links.gx[:, None, :], (nz, n_rows, n_cols - 1))),
        np.ascontiguousarray(np.broadcast_to(links.gy[:, None, :], (nz, n_rows - 1, n_cols))),
        np.ascontiguousarray(np.broadcast_to(links.gz()[:, None, :], (nz - 1, n_rows, n_cols))),
        faces,
        q,
    )
    model = IceModel(
        doc,
        system,
        x_edges,
        layer_of_element,
        floorplans,
        sources,
        np.broadcast_to(links.capacity[:, None, :], shape).copy(),
        terms,
    )
    for out in doc.outputs:  # checked before anything is written
        if out.kind == "Tflpel":
            output_elements(model, out)
    return model


@dataclass
class LayerLinks:
    """Conductances of a stack's layers, the same in every row, W/K: ``gx`` (nz, n_cols-1)
    between columns, ``gy`` (nz, n_cols) between rows, ``g_up``/``g_down`` (nz, n_cols) the
    half-cells towards the layer above and below, ``capacity`` (nz, n_cols) J/K, and
    ``fixed_gz``: the vertical links (n_cols,) a cavity sets instead of the half-cells in
    series, by lower layer."""

    gx: np.ndarray
    gy: np.ndarray
    g_up: np.ndarray
    g_down: np.ndarray
    capacity: np.ndarray
    fixed_gz: dict[int, np.ndarray] = field(default_factory=dict)

    def gz(self) -> np.ndarray:
        """(nz-1, n_cols) the links between each layer and the next, W/K."""
        gz = series(self.g_up[:-1], self.g_down[1:])
        for level, g in self.fixed_gz.items():
            gz[level] = g
        return gz


def add_cavities(
    links: LayerLinks,
    layers: list[CellLayer],
    lengths: np.ndarray,
    cw: float,
    chip_length: float,
    shape: tuple[int, int, int],
) -> CavityTerms | None:
    """Set the cavity layers' conductances and capacities in ``links``, and return what does
    not fit the 7-point network: the coolant's transport, its inlet source and the 2RM
    links that skip a layer. None for a solid stack."""
    area = lengths * cw
    starts = [i for i, la in enumerate(layers) if la.kind in ("4rm", "bottom wall")]
    g_up, g_down, fixed_gz = links.g_up, links.g_down, links.fixed_gz
    matrix = sp.csr_array((int(np.prod(shape)),) * 2)
    inlet = np.zeros(shape)
    coolant = []
    for m in starts:
        la = layers[m]
        cavity = la.cavity
        assert cavity is not None
        side, top, bottom = cavity.coolant_htc()
        kx, ky, kz = la.k
        height = la.height
        vol = area * height
        if cavity.model == "4rm":
            ch = channel_columns(cavity, len(lengths))
            half_x = np.where(ch, side * cw * height, kx * cw * height / (lengths / 2))
            links.gx[m] = series(half_x[:-1], half_x[1:])
            links.gy[m] = np.where(ch, 0.0, ky * lengths * height / cw)
            wall = kz * area / (height / 2)
            g_up[m] = np.where(ch, top * area, wall)
            g_down[m] = np.where(ch, bottom * area, wall)
            links.capacity[m] = np.where(ch, cavity.coolant_vhc, la.vhc) * vol
            flow_layer = m
        else:
            p = cavity.porosity
            b = m  # bottom wall, virtual wall, coolant, top wall
            g_wall = kz * area / (height / 2) * (1 - p)
            links.gx[b : b + 4] = 0.0
            links.gy[b : b + 4] = 0.0
            if cavity.model == "2rm":
                links.gy[b + 1] = ky * lengths * height / cw * (1 - p)
            fixed_gz[b - 1] = g_up[b - 1].copy()  # the wall node has no half-cell of its own
            fixed_gz[b] = g_wall
            fixed_gz[b + 1] = np.zeros_like(area)
            fixed_gz[b + 2] = top * area
            fixed_gz[b + 3] = g_down[b + 4].copy()
            matrix = matrix + skip_links(shape, [(b, b + 2, bottom * area), (b + 1, b + 3, g_wall)])
            links.capacity[b] = 0.0
            links.capacity[b + 1] = la.vhc * (1 - p) * vol
            links.capacity[b + 2] = cavity.coolant_vhc * p * vol
            links.capacity[b + 3] = 0.0
            flow_layer = b + 2
        c = convective_term(cavity, lengths, chip_length)
        matrix = matrix + advection(shape, flow_layer, c)
        inlet[flow_layer, 0] += 2.0 * c * cavity.inlet_temperature
        coolant.append((flow_layer, c, cavity.inlet_temperature))
    if not starts:
        return None
    return CavityTerms(sp.csr_array(matrix), inlet, coolant)


def floorplan_sources(
    doc: StkFile, layer_of_element: dict[str, int], x_edges: np.ndarray, n_rows: int
) -> tuple[dict[str, list[IceFlpElement]], list[IceSource]]:
    """Each die's floorplan, and every element's share of the cells of its source layer
    (the overlap of its rectangles with each cell, over its area)."""
    floorplans: dict[str, list[IceFlpElement]] = {}
    sources: list[IceSource] = []
    y_edges = np.arange(n_rows + 1) * doc.cell[1]
    for el in doc.stack:
        if el.kind != "die":
            continue
        flp = read_ice_flp(el.floorplan, doc.chip)  # type: ignore[arg-type]
        floorplans[el.name] = flp
        for fe in flp:
            share = np.zeros((n_rows, len(x_edges) - 1))
            for x, y, lxr, wyr in fe.rects:
                share += np.outer(overlap_1d(y_edges, y, y + wyr), overlap_1d(x_edges, x, x + lxr))
            sources.append(IceSource(layer_of_element[el.name], fe, share / fe.area))
    return floorplans, sources


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
