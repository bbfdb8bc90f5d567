"""The input side of a response operator: the power distributions whose responses it holds.

The operator's input is the power of the source's layer per solver column (W per lateral
cell of the solver grid): a floorplan's blocks resampled onto it, or a map. Each sensor cell
owns the solver columns whose centres lie in it (and, for a package, inside its dies), and
holds one to three *basis functions* over them:

- order 0: the constant, 1 W in every owned column;
- order 1: also the centred coordinates x - x̄ and y - ȳ of the owned columns (scaled to
  O(1)), so that each cell keeps its power's first moments, where within the cell it sits;
- order 2: also their centred squares and product (six functions), its second moments, how
  the power spreads within the cell.

A cell too narrow for a function (one column wide has no slope along that axis, two columns
no curvature) leaves it out.

A power field is projected onto the basis cell by cell by least squares (the coefficients
are one sparse product, ``projection``), and the operator predicts the response to that
projection exactly. What the projection loses is what the sensor grid cannot hold: with
the constant alone a block's edge is smeared over its sensor cells (on
``examples/chiplets.yaml`` with 0.5 mm cells, the peaks of 40 random block floorplans
0.10-1.17 K low, cells in the dies up to 3.6 K off); the first moments put each cell's power
where it is, which brought those peaks within ±0.25 K and the cells within 2.0 K, for three
solves per sensor cell instead of one (``benchmarks/response.py``). Neither holds a step
inside a cell exactly.

Array shapes: column fields (k, ny, nx) W; basis functions and projection rows over the
ny·nx columns, row-major.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from chiptherm.description.parts import Rect
from chiptherm.discretize.grid import Grid
from chiptherm.errors import InputError


@dataclass(frozen=True)
class SensorBasis:
    """The basis functions of the active sensor cells and the projection onto them.

    Attributes:
        sensors: (my, mx) the sensor grid.
        owner: (ny, nx) the flat (row-major) index of the sensor cell owning each solver
            column, -1 where no power may go (outside the rectangles).
        shapes: (n_basis, ny·nx) sparse: each basis function as watts per column.
        projection: (n_basis, ny·nx) sparse: the least-squares coefficients of a column
            field on each cell's functions.
        cell: (n_basis,) the flat index of the sensor cell of each function.
        order: 0 (constants), 1 (and first moments) or 2 (and second moments).
    """

    sensors: tuple[int, int]
    owner: np.ndarray
    shapes: sp.csr_array
    projection: sp.csr_array
    cell: np.ndarray
    order: int

    @property
    def active(self) -> np.ndarray:
        """(my, mx) the sensor cells that own columns (may carry power)."""
        active = np.zeros(self.sensors[0] * self.sensors[1], dtype=bool)
        active[self.cell] = True
        return active.reshape(self.sensors)

    @classmethod
    def on_grid(
        cls,
        grid: Grid,
        sensors: tuple[int, int],
        rects: Sequence[Rect] | None = None,
        order: int = 1,
    ) -> SensorBasis:
        """The basis of an (my, mx) sensor grid over ``grid``'s columns, power allowed in
        the columns whose centres lie inside ``rects`` (everywhere for None).

        Raises:
            InputError: for an order other than 0, 1 or 2, or no column inside ``rects``.
        """
        if order not in (0, 1, 2):
            raise InputError(
                f"order: expected 0 (constants), 1 (first moments) or 2 (second), got {order}"
            )
        my, mx = sensors
        lx, ly = grid.x_edges[-1], grid.y_edges[-1]
        column_y = np.minimum((grid.y * my / ly).astype(int), my - 1)
        column_x = np.minimum((grid.x * mx / lx).astype(int), mx - 1)
        owner = np.add.outer(column_y * mx, column_x)
        if rects is not None:
            inside = np.zeros(owner.shape, dtype=bool)
            for rect in rects:
                inside |= grid.region_mask(rect)
            owner = np.where(inside, owner, -1)
        if not (owner >= 0).any():
            raise InputError("no column of the solver grid lies inside the regions")
        xs, ys = np.meshgrid(grid.x, grid.y)
        rows: list[np.ndarray] = []  # (n_c, nb) basis values per cell
        columns: list[np.ndarray] = []
        cells: list[int] = []
        flat = owner.ravel()
        order_by = np.argsort(flat, kind="stable")
        starts = np.searchsorted(flat[order_by], np.arange(my * mx + 1))
        for c in range(my * mx):
            idx = order_by[starts[c] : starts[c + 1]]
            if len(idx) == 0:
                continue
            basis = cell_basis(xs.ravel()[idx], ys.ravel()[idx], order)
            rows.append(basis)
            columns.append(idx)
            cells += [c] * basis.shape[1]
        shapes, projection = stacked_rows(rows, columns, owner.size)
        return cls((my, mx), owner, shapes, projection, np.array(cells), order)

    @cached_property
    def targets(self) -> np.ndarray:
        """(ny·nx,) the column whose power each column's power joins before the projection:
        a column beside the regions (no cell owns it, but it touches an owned one at a side
        or a corner) gives it to the nearest owned column, every other column keeps it."""
        from scipy.ndimage import distance_transform_edt

        outside = self.owner < 0
        targets = np.arange(outside.size)
        if outside.any():
            distance, (iy, ix) = distance_transform_edt(outside, return_indices=True)
            beside = (outside & (distance < 1.5)).ravel()
            targets[beside] = (iy * self.owner.shape[1] + ix).ravel()[beside]
        return targets

    @cached_property
    def reach(self) -> sp.csr_array:
        """(n_basis, ny·nx) the projection of column power moved to its :attr:`targets`."""
        n = len(self.targets)
        moves = sp.csr_array((np.ones(n), (self.targets, np.arange(n))), shape=(n, n))
        return sp.csr_array(self.projection @ moves)

    def spread(self, maps: np.ndarray) -> np.ndarray:
        """Column fields (k, ny, nx) W of sensor maps (k, my, mx) W per sensor cell: each
        cell's watts spread evenly over the columns it owns."""
        counts = np.bincount(self.owner.ravel()[self.owner.ravel() >= 0], minlength=maps[0].size)
        per_column = maps.reshape(len(maps), -1) / np.maximum(counts, 1)
        owned = np.where(self.owner >= 0, self.owner, 0)
        return np.where(self.owner >= 0, per_column[:, owned], 0.0)

    def coefficients(self, columns: np.ndarray) -> np.ndarray:
        """(k, n_basis) the basis coefficients of column fields (k, ny, nx) W. Power in a
        column beside the regions (a block's edge reaching into the mold by less than a
        column, which the solver would put there) moves into the nearest owned column.

        Raises:
            InputError: for power in a column farther from the regions.
        """
        flat = columns.reshape(len(columns), -1)
        far = self.owner.ravel()[self.targets] < 0  # power that no cell would own
        stray = np.abs(flat[:, far]).sum(axis=1)
        total = np.abs(flat).sum(axis=1)
        worst = int(np.argmax(stray - 1e-9 * total))
        if stray[worst] > 1e-9 * total[worst]:
            raise InputError(
                f"power field {worst}: {stray[worst]:.4g} W of {total[worst]:.4g} W lie in "
                "solver columns outside the regions the operator was built for (the dies): "
                "every block must lie inside them"
            )
        return (self.reach @ flat.T).T

    def projected(self, columns: np.ndarray) -> np.ndarray:
        """(k, ny, nx) W: what the basis keeps of column fields (k, ny, nx) W, the power
        whose response the operator predicts exactly."""
        kept = self.coefficients(columns) @ self.shapes
        return np.asarray(kept).reshape(columns.shape)


def cell_basis(x: np.ndarray, y: np.ndarray, order: int) -> np.ndarray:
    """(n_c, nb) the basis functions of one cell over its columns' centres ``x``, ``y`` (m):
    the constant, then up to ``order`` the centred monomials of the scaled coordinates, each
    kept only where it adds to the span of those before it."""
    candidates = [np.ones(len(x))]
    scaled = [(c - c.mean()) / c.std() for c in (x, y) if c.std() > 1e-9 * (abs(c).max() + 1)]
    if order >= 1:
        candidates += scaled
    if order >= 2:
        candidates += [a * b for i, a in enumerate(scaled) for b in scaled[i:]]
    kept: list[np.ndarray] = []
    for candidate in candidates:
        centred = candidate - candidate.mean() if kept else candidate
        new = centred
        if kept:  # what the functions kept so far do not already span
            basis = np.stack(kept, axis=1)
            new = centred - basis @ np.linalg.lstsq(basis, centred, rcond=None)[0]
        if np.linalg.norm(new) > 1e-8 * max(np.linalg.norm(candidate), 1.0):
            kept.append(centred)
    return np.stack(kept, axis=1)


def stacked_rows(
    rows: list[np.ndarray], columns: list[np.ndarray], size: int
) -> tuple[sp.csr_array, sp.csr_array]:
    """The basis functions and their least-squares projection as sparse (n_basis, size)
    arrays, from each cell's basis values ``rows`` (n_c, nb) over its ``columns`` (n_c,)."""
    data_s, data_p, row_index, col_index = [], [], [], []
    n = 0
    for values, idx in zip(rows, columns, strict=True):
        pinv = np.linalg.pinv(values)  # (nb, n_c): (BᵀB)⁻¹Bᵀ
        for k in range(values.shape[1]):
            data_s.append(values[:, k])
            data_p.append(pinv[k])
            row_index.append(np.full(len(idx), n))
            col_index.append(idx)
            n += 1
    index = (np.concatenate(row_index), np.concatenate(col_index))
    shapes = sp.csr_array((np.concatenate(data_s), index), shape=(n, size))
    projection = sp.csr_array((np.concatenate(data_p), index), shape=(n, size))
    return shapes, projection
