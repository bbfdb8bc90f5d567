"""The finite-volume system A·T = b of steady conduction, div(k grad T) + q = 0.

Cell-centred finite volumes on the tensor :class:`~chiptherm.discretize.grid.Grid`. The conductance
between two neighbouring cells is the series combination of their half-cells, so interfaces
between different materials are exact for piecewise-linear fields; a convective face adds
1/h in series with the boundary half-cell, a fixed-temperature face is the half-cell alone.
The cells of a cavity layer (microchannels) pass heat to the coolant in them through a sink
conductance of their own (:class:`SinkLink`).

A :class:`System` is built once and used three ways: to solve, to score a prediction
(:meth:`System.residual`) and to refine one (warm start). Conductances are in W/K, powers in
W, temperatures in K. Cell arrays have shape ``(nz, ny, nx)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from chiptherm.description.stack import FACES, Stack
from chiptherm.discretize.grid import Grid
from chiptherm.discretize.memory import check_fits
from chiptherm.discretize.stencil import seven_point_matrix
from chiptherm.errors import SolverError


@dataclass(frozen=True)
class FaceLink:
    """Conductance of each boundary cell of a face to a reference temperature.

    ``conductance`` has the face's shape: (ny, nx) for top/bottom, (nz, nx) for north/south,
    (nz, ny) for east/west, in W/K. ``temperature`` is one value, or an array of the face's
    shape (a coolant warming along its flow), K. ``fixed`` is True for a fixed-temperature
    face.
    """

    conductance: np.ndarray
    temperature: float | np.ndarray
    fixed: bool = False


@dataclass(frozen=True)
class SinkLink:
    """Conductance of the cells of a cavity layer to the coolant flowing through it.

    ``conductance`` is (nz, ny, nx) W/K, zero outside the cavity's z-cells; ``temperature``
    is the coolant temperature, one value or an (ny, nx) array (one per channel cell, shared
    by the cavity's z-cells), K. A transient step's heat capacity is such a link too, of
    every cell to its own earlier temperatures, an (nz, ny, nx) field.
    """

    conductance: np.ndarray
    temperature: float | np.ndarray

    def heat(self, temperature: np.ndarray) -> np.ndarray:
        """(ny, nx) heat passed to the coolant by each column of the cavity at ``temperature``
        (nz, ny, nx) K, W."""
        return np.sum(self.conductance * (temperature - self.temperature), axis=0)


def _face_slice(face: str) -> tuple[slice | int, ...]:
    """Index of the cells touching ``face`` in a (nz, ny, nx) array."""
    return {
        "top": (-1, slice(None), slice(None)),
        "bottom": (0, slice(None), slice(None)),
        "north": (slice(None), -1, slice(None)),
        "south": (slice(None), 0, slice(None)),
        "east": (slice(None), slice(None), -1),
        "west": (slice(None), slice(None), 0),
    }[face]


def series(*conductances: np.ndarray | float) -> np.ndarray:
    """Series combination 1 / sum(1/g_i) of conductances (W/K), elementwise."""
    total = sum(1.0 / np.asarray(g, dtype=float) for g in conductances)
    return 1.0 / total


@dataclass
class System:
    """Conductances and sources of one discretized stack.

    Attributes:
        gx: (nz, ny, nx-1) conductance between x-neighbours (i, i+1), W/K.
        gy: (nz, ny-1, nx) conductance between y-neighbours, W/K.
        gz: (nz-1, ny, nx) conductance between z-neighbours, W/K.
        faces: boundary links of the non-adiabatic faces, by face name.
        q: (nz, ny, nx) injected power per cell, W (volumetric and surface).
        grid: the grid the system lives on, when it came from a stack.
        sinks: the coolant links of the cavity layers, by layer name.
    """

    gx: np.ndarray
    gy: np.ndarray
    gz: np.ndarray
    faces: dict[str, FaceLink]
    q: np.ndarray
    grid: Grid | None = None
    sinks: dict[str, SinkLink] = field(default_factory=dict)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_stack(
        cls, stack: Stack, grid: Grid | None = None, temperature: np.ndarray | None = None
    ) -> System:
        """Discretize ``stack`` on ``grid`` (default: the stack's own grid), with
        temperature-dependent conductivities taken at ``temperature`` (nz, ny, nx) K, or at
        their reference temperature when None."""
        grid = grid or Grid.from_stack(stack)
        check_fits(grid.shape)
        kx, ky, kz = conductivity_field(stack, grid, temperature)
        return cls(
            gx=lateral_conductance(kx, grid.dy * grid.dz[:, None, None], grid.dx, axis=2),
            gy=lateral_conductance(ky, grid.dx * grid.dz[:, None, None], grid.dy, axis=1),
            gz=vertical_conductance(stack, grid, kz),
            faces=boundary_links(stack, grid, kx, ky, kz),
            q=power_field(stack, grid),
            grid=grid,
            sinks=cavity_links(stack, grid),
        )

    # -- sizes -----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        return self.q.shape  # type: ignore[return-value]

    @property
    def size(self) -> int:
        return int(self.q.size)

    # -- the linear system --------------------------------------------------------------------
    @cached_property
    def diagonal(self) -> np.ndarray:
        """(nz, ny, nx) sum of all conductances touching each cell, W/K."""
        d = np.zeros(self.shape)
        d[:, :, :-1] += self.gx
        d[:, :, 1:] += self.gx
        d[:, :-1, :] += self.gy
        d[:, 1:, :] += self.gy
        d[:-1] += self.gz
        d[1:] += self.gz
        for face, link in self.faces.items():
            d[_face_slice(face)] += link.conductance
        for sink in self.sinks.values():
            d += sink.conductance
        return d

    @cached_property
    def rhs(self) -> np.ndarray:
        """(nz, ny, nx) right-hand side b = q + sum of G_face·T_face, W."""
        return self.rhs_for(self.q)

    def rhs_for(self, q: np.ndarray) -> np.ndarray:
        """The right-hand side (nz, ny, nx), W, of the same stack carrying power ``q`` instead:
        the matrix does not depend on the power, so one solver serves every power map."""
        b = np.asarray(q, dtype=float).copy()
        for face, link in self.faces.items():
            b[_face_slice(face)] += link.conductance * link.temperature
        for sink in self.sinks.values():
            b += sink.conductance * sink.temperature
        return b

    @property
    def b(self) -> np.ndarray:
        """Flat right-hand side (N,), W."""
        return self.rhs.ravel()

    @cached_property
    def matrix(self) -> sp.csr_array:
        """Sparse symmetric positive-definite A (N, N) in W/K, CSR, assembled without loops
        (:func:`~chiptherm.discretize.stencil.seven_point_matrix`)."""
        return seven_point_matrix(self.diagonal, self.gx, self.gy, self.gz)

    def apply(self, temperature: np.ndarray) -> np.ndarray:
        """A·T without forming A: (nz, ny, nx) or flat (N,) -> (nz, ny, nx), and a batch
        (k, nz, ny, nx) -> (k, nz, ny, nx), W. Every link's product goes through one scratch
        array: 1.7x the time of the CSR product at 4.3 M cells, with no matrix to store."""
        t = temperature.reshape(self.shape) if temperature.ndim < 3 else temperature
        out = self.diagonal * t
        scratch = np.empty_like(out)
        for g, here, there in (
            (self.gx, (..., slice(None, -1)), (..., slice(1, None))),
            (self.gy, (..., slice(None, -1), slice(None)), (..., slice(1, None), slice(None))),
            (
                self.gz,
                (..., slice(None, -1), slice(None), slice(None)),
                (..., slice(1, None), slice(None), slice(None)),
            ),
        ):
            for a, b in ((here, there), (there, here)):
                pull = np.multiply(g, t[b], out=scratch[a])
                np.subtract(out[a], pull, out=out[a])
        return out

    def residual(self, temperature: np.ndarray) -> np.ndarray:
        """b - A·T, (nz, ny, nx), W: the power each cell fails to balance."""
        return self.rhs - self.apply(temperature)

    def relative_residual(self, temperature: np.ndarray) -> float:
        """||b - A·T|| / ||b|| (2-norms)."""
        nb = float(np.linalg.norm(self.rhs))
        return float(np.linalg.norm(self.residual(temperature))) / (nb if nb > 0 else 1.0)

    # -- energy balance ----------------------------------------------------------------------
    def heat_out(self, temperature: np.ndarray) -> dict[str, float]:
        """Heat leaving through each non-adiabatic face, and into the coolant of each cavity
        (keyed 'cavity NAME'), W (negative = entering)."""
        t = temperature.reshape(self.shape)
        out = {
            face: float(np.sum(link.conductance * (t[_face_slice(face)] - link.temperature)))
            for face, link in self.faces.items()
        }
        for name, sink in self.sinks.items():
            out[f"cavity {name}"] = float(sink.heat(t).sum())
        return out

    def energy_balance(self, temperature: np.ndarray) -> EnergyBalance:
        """Power in against heat out through the boundaries for ``temperature``."""
        out = self.heat_out(temperature)
        total_in = float(self.q.sum())
        total_out = float(sum(out.values()))
        scale = max(float(np.abs(self.q).sum()), sum(abs(v) for v in out.values()), 1e-300)
        return EnergyBalance(total_in, total_out, out, abs(total_in - total_out) / scale)

    @property
    def sink_conductance(self) -> np.ndarray:
        """(nz, ny, nx) conductance of every cell to a cavity's coolant, W/K (zeros, or an
        empty (0, ny, nx) array, without cavities)."""
        if not self.sinks:
            return np.zeros((0, *self.shape[1:]))
        return sum(s.conductance for s in self.sinks.values())  # type: ignore[return-value]

    # -- structure ------------------------------------------------------------------------
    @cached_property
    def lateral_structure(self) -> LateralStructure | None:
        """Per-z conductances if the system is laterally uniform, else None.

        Laterally uniform means: every lateral and vertical conductance is constant over (y, x)
        within a z-level, top/bottom links are uniform, and each pair of side faces is either
        adiabatic on both sides or fixed at one common temperature on both sides with the
        half-cell conductance (so a cosine or sine transform diagonalizes the lateral operator).
        """
        nz, ny, nx = self.shape

        def per_z(a: np.ndarray, length: int) -> np.ndarray | None:
            if a.size == 0:
                return np.zeros(length)
            flat = a.reshape(a.shape[0], -1)
            if not np.allclose(flat, flat[:, :1], rtol=1e-12, atol=0.0):
                return None
            return flat[:, 0].copy()

        gx, gy, gz = per_z(self.gx, nz), per_z(self.gy, nz), per_z(self.gz, max(nz - 1, 0))
        sink = per_z(self.sink_conductance, nz)
        if gx is None or gy is None or gz is None or sink is None:
            return None
        vertical: dict[str, tuple[float, float]] = {}
        for face in ("top", "bottom"):
            link = self.faces.get(face)
            if link is None:
                vertical[face] = (0.0, 0.0)
                continue
            g = link.conductance
            if not np.allclose(g, g.flat[0], rtol=1e-12, atol=0.0):
                return None
            vertical[face] = (float(g.flat[0]), float(np.mean(link.temperature)))
        kinds: dict[str, str] = {}
        for axis, (lo, hi), g_axis, n_axis in (
            ("x", ("west", "east"), gx, nx),
            ("y", ("south", "north"), gy, ny),
        ):
            kind = self._side_kind(lo, hi, g_axis, n_axis)
            if kind is None:
                return None
            kinds[axis] = kind
        return LateralStructure(gx, gy, gz, vertical, kinds["x"], kinds["y"], sink)

    def _side_kind(self, lo: str, hi: str, g: np.ndarray, n: int) -> str | None:
        a, b = self.faces.get(lo), self.faces.get(hi)
        if a is None and b is None:
            return "neumann"
        if a is None or b is None or not (a.fixed and b.fixed) or a.temperature != b.temperature:
            return None
        if n < 2:
            return None
        # the fixed-face link must be the half-cell, i.e. twice the interior link, per z-level
        for link in (a, b):
            expected = 2.0 * g[:, None]
            if not np.allclose(link.conductance, expected, rtol=1e-12, atol=0.0):
                return None
        return "dirichlet"


@dataclass(frozen=True)
class LateralStructure:
    """Per-z description of a laterally uniform system (for the transform solver).

    ``gx[k]``, ``gy[k]``: lateral link conductance at z-level k, W/K; ``gz[k]``: link between
    levels k and k+1; ``vertical[face]`` = (conductance per cell, reference K) for top and
    bottom; ``kind_x``/``kind_y``: 'neumann' (adiabatic sides) or 'dirichlet' (fixed sides);
    ``sink[k]``: conductance of each cell of level k to a cavity's coolant (0 elsewhere).
    """

    gx: np.ndarray
    gy: np.ndarray
    gz: np.ndarray
    vertical: dict[str, tuple[float, float]]
    kind_x: str
    kind_y: str
    sink: np.ndarray | None = None


@dataclass(frozen=True)
class EnergyBalance:
    """Power in (W), heat out through the faces (W), and the relative mismatch."""

    power_in: float
    heat_out: float
    by_face: dict[str, float]
    relative_error: float


# -- building blocks of System.from_stack ---------------------------------------------------
def conductivity_field(
    stack: Stack, grid: Grid, temperature: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(kx, ky, kz), each (nz, ny, nx) in W/(m·K), with layer regions painted in.

    Temperature-dependent materials take their conductivity at ``temperature`` (nz, ny, nx) K
    of each cell, or at their reference temperature when it is None.
    """
    nz, ny, nx = grid.shape
    k = np.empty((3, nz, ny, nx))
    exponent = np.zeros((nz, ny, nx))
    reference = np.ones((nz, ny, nx))
    for layer_index, layer in enumerate(stack.layers):
        index = grid.cells_of_layer(layer_index)
        cells = slice(index[0], index[-1] + 1)  # contiguous: views, so the masks paint in place
        paint = [(layer.material, np.ones((ny, nx), dtype=bool))]
        paint += [(region.material, grid.region_mask(region)) for region in layer.regions]
        for name, mask in paint:
            material = stack.material(name)
            for axis in range(3):  # a cavity's walls fill the solid fraction of its volume
                k[axis, cells][:, mask] = material.conductivity[axis] * layer.solid_fraction
            exponent[cells][:, mask] = material.temperature_exponent
            reference[cells][:, mask] = material.reference_temperature
    if temperature is not None and exponent.any():
        if not np.all(np.isfinite(temperature)) or temperature.min() <= 0.0:
            raise SolverError(
                "temperature-dependent conductivity met a non-positive or non-finite "
                "temperature; the fixed-point iteration diverged"
            )
        k *= (temperature / reference) ** exponent
    return k[0], k[1], k[2]


def lateral_conductance(
    k: np.ndarray, face_area: np.ndarray, spacing: float, axis: int
) -> np.ndarray:
    """Series half-cell conductance between neighbours along ``axis`` (1 = y, 2 = x), W/K.

    ``face_area`` (m², broadcastable to k) is the area of the face between the two cells.
    """
    half = k * face_area / (0.5 * spacing)
    lo = [slice(None)] * 3
    hi = [slice(None)] * 3
    lo[axis] = slice(None, -1)
    hi[axis] = slice(1, None)
    a, b = half[tuple(lo)], half[tuple(hi)]
    return a * b / (a + b)


def vertical_conductance(stack: Stack, grid: Grid, kz: np.ndarray) -> np.ndarray:
    """(nz-1, ny, nx) conductance between z-levels, with layer contact resistances, W/K."""
    area = grid.dx * grid.dy
    half = kz * area / (0.5 * grid.dz[:, None, None])  # (nz, ny, nx)
    g = series(half[:-1], half[1:])
    # contact resistance of the layer above each interface (m²K/W -> K/W)
    above = grid.layer_of_cell[1:]
    below = grid.layer_of_cell[:-1]
    for k in np.flatnonzero(above != below):
        rc = stack.layers[above[k]].contact_resistance
        if rc > 0:
            g[k] = 1.0 / (1.0 / g[k] + rc / area)
    return g


def boundary_links(
    stack: Stack, grid: Grid, kx: np.ndarray, ky: np.ndarray, kz: np.ndarray
) -> dict[str, FaceLink]:
    """Links of every convective or fixed face to its reference temperature."""
    dz = grid.dz
    geometry = {
        # face: (area of each boundary cell face, half-cell distance, normal conductivity)
        "top": (grid.dx * grid.dy, dz[-1] / 2, kz[-1]),
        "bottom": (grid.dx * grid.dy, dz[0] / 2, kz[0]),
        "north": (grid.dx * dz[:, None], grid.dy / 2, ky[:, -1, :]),
        "south": (grid.dx * dz[:, None], grid.dy / 2, ky[:, 0, :]),
        "east": (grid.dy * dz[:, None], grid.dx / 2, kx[:, :, -1]),
        "west": (grid.dy * dz[:, None], grid.dx / 2, kx[:, :, 0]),
    }
    links: dict[str, FaceLink] = {}
    for face in FACES:
        bc = stack.boundary(face)
        if not bc.removes_heat:
            continue
        area, half, k = geometry[face]
        if bc.htc_map is not None:  # h·A / (1 + h·half/k): a cell with h = 0 is adiabatic
            h = grid.average_map(bc.htc_map)
            conductance = area * h / (1.0 + h * half / k)
        else:
            film = 0.0 if bc.htc is None else 1.0 / bc.htc  # m²K/W
            conductance = np.broadcast_to(area / (film + half / k), k.shape).copy()
        links[face] = FaceLink(
            conductance, stack.face_ambient(face), fixed=bc.kind == "temperature"
        )
    return links


def cavity_links(stack: Stack, grid: Grid) -> dict[str, SinkLink]:
    """Each cavity layer's cells linked to its coolant (at the inlet temperature; the
    fixed-point iteration warms it): htc times the cell's footprint, split over the layer's
    z-cells by height, W/K."""
    links = {}
    for layer_index, layer in enumerate(stack.layers):
        htc = layer.wall_htc
        if layer.coolant is None or htc is None:
            continue
        cells = grid.cells_of_layer(layer_index)
        conductance = np.zeros(grid.shape)
        share = grid.dz[cells] / layer.thickness
        conductance[cells] = (htc * grid.dx * grid.dy * share)[:, None, None]
        links[layer.name] = SinkLink(conductance, layer.coolant.inlet_temperature)
    return links


def power_field(stack: Stack, grid: Grid) -> np.ndarray:
    """(nz, ny, nx) injected power per cell, W: layer power split by cell height, plus
    surface power on the top and bottom cells (the dynamic power; leakage comes on top, see
    :mod:`chiptherm.solvers.nonlinear`)."""
    q = np.zeros(grid.shape)
    for name in stack.used_power:
        q += source_field(stack, grid, name)
    return q


def source_field(stack: Stack, grid: Grid, name: str) -> np.ndarray:
    """(nz, ny, nx) power per cell, W, of the power source ``name``: split by cell height
    through every layer it heats, on the top or bottom cells of a face it heats."""
    q = np.zeros(grid.shape)
    watts = grid.power_map(stack.power[name])
    for layer_index, layer in enumerate(stack.layers):
        if layer.power == name:
            cells = grid.cells_of_layer(layer_index)
            share = grid.dz[cells] / grid.dz[cells].sum()
            q[cells] += share[:, None, None] * watts[None]
    for face, level in (("top", -1), ("bottom", 0)):
        if stack.boundary(face).power == name:
            q[level] += watts
    return q
