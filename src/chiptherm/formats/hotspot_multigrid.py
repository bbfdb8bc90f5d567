"""HotSpot's default steady solver: nested-iteration multigrid with Gauss–Seidel sweeps.

HotSpot built without SuperLU (its default build) does not solve the grid model exactly. It
coarsens the grid by halving rows and columns down to one row or column, starts from a
heuristic (lateral resistances ignored) on the coarsest grid, and on every level sweeps
Gauss–Seidel until the largest change in one sweep is below 1e-6 K, then interpolates to the
next finer grid. The answer it prints is therefore 1e-3 to 2e-3 K away from the exact one,
and after ``%.2f`` rounding a direct solve differs from it by 0.01 K in a fraction of nodes.

Reproducing the same iteration makes our printed values equal HotSpot's. The iteration is
defined on the same conductance network as the direct solve (see ``HotSpotModel.network``):

- cells are swept layer by layer, row by row (north first), column by column, then the 12
  package nodes in HotSpot's order (sink outer, sink inner, spreader);
- a coarse level is the same model with rows/2 and cols/2, its cell power the sum of the
  2×2 fine cells it covers;
- interior fine cells are interpolated bilinearly (weights 9/16, 3/16, 3/16, 1/16) from the
  coarse cells, edge cells take the value of the nearest coarse cell.

A sweep in lexicographic order equals a sweep over the wavefronts n + i + j = s in order,
because a 7-point stencil couples only cells on neighbouring wavefronts; that lets each
wavefront be updated as one vector operation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from chiptherm.solvers.network import Network

PACKAGE_NODES = 12
"""HotSpot's peripheral package nodes (spreader and sink edges), after the grid cells."""

TOLERANCE_K = 1.0e-6
"""HotSpot's DELTA: sweeps stop when no node moved by this much or more."""

PACKAGE_ORDER = (10, 11, 8, 9, 6, 7, 4, 5, 2, 3, 0, 1)
"""Package nodes in HotSpot's sweep order: SINK_N/S/W/E, SINK_C_N/S/W/E, SP_N/S/W/E."""


def is_power_of_two(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


@dataclass
class SweepPlan:
    """One level's Gauss–Seidel sweep: node groups in order, their matrix rows and diagonals.

    ``groups[g]`` holds node indices updated together; ``rows[g]`` is ``G[groups[g], :]``
    without the diagonal, ``diag[g]`` the diagonal. The update is
    x[group] = (b[group] - rows @ x) / diag.
    """

    groups: list[np.ndarray]
    rows: list[sp.csr_array]
    diag: list[np.ndarray]

    @classmethod
    def build(cls, matrix: sp.csr_array, layers: int, rows: int, cols: int) -> SweepPlan:
        n_cells = layers * rows * cols
        n, i, j = np.unravel_index(np.arange(n_cells), (layers, rows, cols))
        front = n + i + j
        order = np.argsort(front, kind="stable")
        bounds = np.searchsorted(front[order], np.arange(front.max() + 2))
        groups = [order[bounds[s] : bounds[s + 1]] for s in range(front.max() + 1)]
        groups += [np.array([n_cells + k]) for k in PACKAGE_ORDER]
        off = matrix - sp.diags_array(matrix.diagonal())
        off = sp.csr_array(off)
        diagonal = matrix.diagonal()
        return cls(groups, [off[g, :] for g in groups], [diagonal[g] for g in groups])

    def converge(self, x: np.ndarray, b: np.ndarray) -> None:
        """Sweep in place until no node moves by ``TOLERANCE_K`` or more (HotSpot's rule)."""
        while self.sweep(x, b) >= TOLERANCE_K:
            pass

    def sweep(self, x: np.ndarray, b: np.ndarray) -> float:
        """One Gauss–Seidel sweep of G·x = b in place; the largest change, K."""
        largest = 0.0
        for group, rows, diag in zip(self.groups, self.rows, self.diag, strict=True):
            new = (b[group] - rows @ x) / diag
            largest = max(largest, float(np.max(np.abs(new - x[group]))))
            x[group] = new
        return largest


def restrict_power(power: np.ndarray) -> np.ndarray:
    """(L, R, C) cell power -> (L, R/2, C/2): the sum of each 2×2 block, W."""
    layers, rows, cols = power.shape
    return power.reshape(layers, rows // 2, 2, cols // 2, 2).sum(axis=(2, 4))


def prolong_temperature(coarse: np.ndarray) -> np.ndarray:
    """(L, r, c) -> (L, 2r, 2c): bilinear inside, nearest coarse value on the edges, K."""
    layers, r, c = coarse.shape
    fine = np.empty((layers, 2 * r, 2 * c))
    s00, s10 = coarse[:, :-1, :-1], coarse[:, 1:, :-1]
    s01, s11 = coarse[:, :-1, 1:], coarse[:, 1:, 1:]
    fine[:, 1:-1:2, 1:-1:2] = (9 * s00 + 3 * s10 + s11 + 3 * s01) / 16
    fine[:, 2::2, 1:-1:2] = (3 * s00 + 9 * s10 + 3 * s11 + s01) / 16
    fine[:, 2::2, 2::2] = (s00 + 3 * s10 + 9 * s11 + 3 * s01) / 16
    fine[:, 1:-1:2, 2::2] = (3 * s00 + s10 + 3 * s11 + 9 * s01) / 16
    fine[:, 0::2, 0] = fine[:, 1::2, 0] = coarse[:, :, 0]
    fine[:, 0::2, -1] = fine[:, 1::2, -1] = coarse[:, :, -1]
    fine[:, 0, 0::2] = fine[:, 0, 1::2] = coarse[:, 0, :]
    fine[:, -1, 0::2] = fine[:, -1, 1::2] = coarse[:, -1, :]
    return fine


def heuristic_start(
    power: np.ndarray, rz: np.ndarray, ambient: float, n_package: int
) -> np.ndarray:
    """HotSpot's coarsest-level guess: 1-D vertical conduction to ambient, package at ambient.

    ``power`` is (L, R, C) W, ``rz`` the (L,) vertical resistances K/W (the last one includes
    the sink's share of convection). Returns the node vector (L·R·C + n_package,), K.
    """
    layers = power.shape[0]
    temp = np.empty_like(power)
    below = power.sum(axis=0)
    temp[-1] = ambient + below * rz[-1]
    below = below - power[-1]
    for n in range(layers - 2, -1, -1):
        temp[n] = temp[n + 1] + below * rz[n]
        below = below - power[n]
    return np.concatenate([temp.ravel(), np.full(n_package, ambient)])


class GridModel(Protocol):
    """What the iteration needs of a HotSpot grid model
    (:class:`~chiptherm.formats.hotspot.HotSpotModel`)."""

    rows: int
    cols: int
    layers: list
    config: dict[str, float]

    def network(self) -> Network: ...
    def cell_power(self) -> np.ndarray: ...
    def vertical_resistances(self) -> np.ndarray: ...
    def coarsened(self) -> GridModel: ...


def plain_gauss_seidel(model: GridModel, net: Network) -> np.ndarray:
    """HotSpot's iteration of a ``-detailed_3D`` model: Gauss–Seidel sweeps from the
    heuristic start, on the full grid only, until no node moves by 1e-6 K; returns the node
    temperatures (L·R·C + 12,), K."""
    x = heuristic_start(
        model.cell_power(), model.vertical_resistances(), model.config["ambient"], PACKAGE_NODES
    )
    SweepPlan.build(net.matrix(), len(model.layers), model.rows, model.cols).converge(x, net.rhs())
    return x


def nested_gauss_seidel(finest: GridModel, net: Network) -> np.ndarray:
    """Node temperatures (L·R·C + 12,), K, exactly as HotSpot's default build iterates;
    ``net`` is the network of ``finest``, the model on its own grid."""
    levels = [finest]
    while levels[-1].rows > 1 and levels[-1].cols > 1:
        levels.append(levels[-1].coarsened())
    powers = [finest.cell_power()]
    for _ in levels[1:]:
        powers.append(restrict_power(powers[-1]))
    x = None
    for model, power in zip(reversed(levels), reversed(powers), strict=True):
        level = net
        if model is not finest:  # coarse levels: the same model, restricted power
            level = model.network()
            level.power[: power.size] = power.ravel()
        b = level.rhs()
        if x is None:
            x = heuristic_start(
                power, model.vertical_resistances(), model.config["ambient"], PACKAGE_NODES
            )
        else:
            shape = (len(model.layers), model.rows // 2, model.cols // 2)
            coarse = x[:-PACKAGE_NODES].reshape(shape)
            x = np.concatenate([prolong_temperature(coarse).ravel(), x[-PACKAGE_NODES:]])
        SweepPlan.build(level.matrix(), len(model.layers), model.rows, model.cols).converge(x, b)
    return x
