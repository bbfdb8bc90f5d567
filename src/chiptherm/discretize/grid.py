"""Discretization of a stack: cell edges, the layer of each z-cell, rasterized power.

The grid is a tensor grid: uniform in x (nx cells) and y (ny cells) over the chip, and
non-uniform in z, where each layer is split into ``layer.cells`` equal cells. Arrays of
cell values have shape ``(nz, ny, nx)``; index 0 is bottom (z), south (y), west (x).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from chiptherm.description.stack import Block, PowerSource, Rect, Stack


def overlap_1d(edges: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Length of [lo, hi] inside each cell of ``edges`` (n+1,) -> (n,), in the unit of edges."""
    return np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0.0, None)


def rect_area_fraction(rect: Rect, x_edges: np.ndarray, y_edges: np.ndarray) -> np.ndarray:
    """Area of ``rect`` inside each cell, divided by the rectangle's area: (ny, nx), sums to 1."""
    ox = overlap_1d(x_edges, rect.x, rect.x1)
    oy = overlap_1d(y_edges, rect.y, rect.y1)
    return np.outer(oy, ox) / (rect.width * rect.height)


def resample_matrix(src_edges: np.ndarray, dst_edges: np.ndarray) -> np.ndarray:
    """Conservative 1-D resampling: R[i, j] = share of source cell j that lies in target cell i.

    Shape (n_dst, n_src). Columns sum to 1 where the source lies inside the target range, so
    ``R @ values`` keeps totals (watts are neither lost nor created).
    """
    lo = np.maximum(dst_edges[:-1, None], src_edges[None, :-1])
    hi = np.minimum(dst_edges[1:, None], src_edges[None, 1:])
    return np.clip(hi - lo, 0.0, None) / np.diff(src_edges)[None, :]


@dataclass(frozen=True)
class Grid:
    """Cell edges of a stack's discretization, in m.

    Attributes:
        x_edges: (nx+1,) west to east.
        y_edges: (ny+1,) south to north.
        z_edges: (nz+1,) bottom to top.
        layer_of_cell: (nz,) index into ``Stack.layers`` (top-first) of each z-cell.
    """

    x_edges: np.ndarray
    y_edges: np.ndarray
    z_edges: np.ndarray
    layer_of_cell: np.ndarray

    @classmethod
    def from_stack(cls, stack: Stack) -> Grid:
        lx, ly = stack.size
        x_edges = np.linspace(0.0, lx, stack.grid.nx + 1)
        y_edges = np.linspace(0.0, ly, stack.grid.ny + 1)
        dz: list[float] = []
        owner: list[int] = []
        n_layers = len(stack.layers)
        for i in reversed(range(n_layers)):  # bottom layer first
            layer = stack.layers[i]
            dz += [layer.thickness / layer.cells] * layer.cells
            owner += [i] * layer.cells
        z_edges = np.concatenate([[0.0], np.cumsum(dz)])
        return cls(x_edges, y_edges, z_edges, np.asarray(owner, dtype=np.int64))

    @property
    def key(self) -> tuple[bytes, ...]:
        """The cell edges as bytes: a hashable key of the grid (for per-worker caches)."""
        return tuple(e.tobytes() for e in (self.x_edges, self.y_edges, self.z_edges))

    # -- sizes -----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """(nz, ny, nx)."""
        return (len(self.z_edges) - 1, len(self.y_edges) - 1, len(self.x_edges) - 1)

    @property
    def size(self) -> int:
        nz, ny, nx = self.shape
        return nz * ny * nx

    @property
    def dx(self) -> float:
        return float(self.x_edges[1] - self.x_edges[0])

    @property
    def dy(self) -> float:
        return float(self.y_edges[1] - self.y_edges[0])

    @cached_property
    def dz(self) -> np.ndarray:
        """(nz,) cell heights in m."""
        return np.diff(self.z_edges)

    def volume_mean(self, field: np.ndarray) -> np.ndarray:
        """Volume mean of fields (..., nz, ny, nx): lateral cells are equal, so each z-level
        weighs by its height."""
        return field.mean(axis=(-2, -1)) @ (self.dz / self.dz.sum())

    @cached_property
    def x(self) -> np.ndarray:
        """(nx,) cell-centre x in m."""
        return 0.5 * (self.x_edges[1:] + self.x_edges[:-1])

    @cached_property
    def y(self) -> np.ndarray:
        """(ny,) cell-centre y in m."""
        return 0.5 * (self.y_edges[1:] + self.y_edges[:-1])

    @cached_property
    def z(self) -> np.ndarray:
        """(nz,) cell-centre z in m (0 at the bottom face)."""
        return 0.5 * (self.z_edges[1:] + self.z_edges[:-1])

    def cells_of_layer(self, layer_index: int) -> np.ndarray:
        """z-indices (ascending) of the cells of layer ``layer_index`` (top-first numbering)."""
        return np.flatnonzero(self.layer_of_cell == layer_index)

    # -- rasterization -------------------------------------------------------------------------
    def block_fraction(self, block: Rect) -> np.ndarray:
        """(ny, nx) share of ``block``'s area in each lateral cell (sums to 1)."""
        return rect_area_fraction(block, self.x_edges, self.y_edges)

    def power_map(self, source: PowerSource) -> np.ndarray:
        """(ny, nx) watts per lateral cell of ``source``, conserving the total power."""
        if source.map is not None:
            my, mx = source.map.shape
            lx, ly = self.x_edges[-1], self.y_edges[-1]
            rx = resample_matrix(np.linspace(0.0, lx, mx + 1), self.x_edges)
            ry = resample_matrix(np.linspace(0.0, ly, my + 1), self.y_edges)
            return ry @ source.map @ rx.T
        out = np.zeros((len(self.y_edges) - 1, len(self.x_edges) - 1))
        for block in source.blocks:
            out += block.watts * self.block_fraction(block)
        return out

    def average_map(self, values: np.ndarray) -> np.ndarray:
        """(ny, nx) area average on each lateral cell of an intensive (my, mx) map (e.g.
        W/(m²·K)) given on its own uniform grid over the chip."""
        my, mx = values.shape
        lx, ly = self.x_edges[-1], self.y_edges[-1]
        ax = resample_matrix(self.x_edges, np.linspace(0.0, lx, mx + 1)).T
        ay = resample_matrix(self.y_edges, np.linspace(0.0, ly, my + 1)).T
        return ay @ values @ ax.T

    def region_mask(self, region: Rect) -> np.ndarray:
        """(ny, nx) boolean: cells whose centre lies inside ``region``."""
        in_x = (self.x >= region.x) & (self.x < region.x1)
        in_y = (self.y >= region.y) & (self.y < region.y1)
        return np.outer(in_y, in_x)

    def block_cells(self, block: Block) -> tuple[slice, slice]:
        """(y-slice, x-slice) of the lateral cells that ``block`` overlaps."""
        ox = np.flatnonzero(overlap_1d(self.x_edges, block.x, block.x1) > 0)
        oy = np.flatnonzero(overlap_1d(self.y_edges, block.y, block.y1) > 0)
        return slice(oy[0], oy[-1] + 1), slice(ox[0], ox[-1] + 1)
