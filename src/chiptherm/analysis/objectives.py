"""Temperatures of interest: the hottest cell, a layer's or a block's, as weighted sums.

An :class:`Objective` is J = Σ w·T over the cells, with weights that may depend on the stack
(a layer's thickness, a block's position) but not on the field: the hottest cell of the
nominal solution stays the same cell as the stack changes. :func:`smooth_maximum` turns a
hottest-cell objective into a smooth maximum for derivatives with respect to block positions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from chiptherm.analysis.compact import BlockInput, block_inputs, unit_block_field
from chiptherm.description.stack import Stack
from chiptherm.discretize.grid import Grid
from chiptherm.errors import InputError
from chiptherm.solvers.result import Result


@dataclass(frozen=True)
class Objective:
    """A temperature of interest as a weighted sum J = Σ w·T over the cells.

    Attributes:
        spec: as given: 'peak', 'mean', 'max:LAYER', 'mean:LAYER', 'block:LABEL' (the
            block's mean) or 'block-max:LABEL' (the hottest cell it heats).
        label: what it is, in words.
        weights: (stack, grid) -> (nz, ny, nx) weights; they may depend on the stack
            (a layer's thickness, a block's power), never on the field.
    """

    spec: str
    label: str
    weights: Callable[[Stack, Grid], np.ndarray]


OBJECTIVES = "peak, mean, max:LAYER, mean:LAYER, block:NAME or block-max:NAME"


def make_objective(spec: str, result: Result) -> Objective:
    """The objective ``spec`` for the nominal solution ``result``; a hottest cell ('peak',
    'max:LAYER', 'block-max:NAME') is the cell that is hottest in ``result`` among its cells,
    kept fixed as the parameters move.

    Raises:
        InputError: for an unknown spec, layer or block, naming what there is.
    """
    kind, _, name = spec.partition(":")
    if spec == "mean":
        return Objective(spec, "stack mean", _volume_weights(None))
    if kind == "mean" and name:
        return Objective(spec, f"mean of layer {name}", _volume_weights(_layer(spec, result)))
    if kind == "block" and name:
        block = _block(spec, result)
        return Objective(
            spec, f"mean of block {name}", _block_weights(block.source, block.block.name)
        )
    cells = hottest_cells(spec, result)
    field = result.temperature
    cell = np.unravel_index(int(np.argmax(np.where(cells, field, -np.inf))), field.shape)
    where = {"peak": "hottest cell", "max": f"hottest cell of {name}"}
    label = f"{where.get(kind, f'hottest cell block {name} heats')} ({describe_cell(result, cell)})"
    return Objective(spec, label, _one_hot(cell))


def hottest_cells(spec: str, result: Result) -> np.ndarray:
    """(nz, ny, nx) mask of the cells a hottest-cell objective looks at: every cell ('peak'),
    a layer's ('max:LAYER') or those a block heats ('block-max:NAME').

    Raises:
        InputError: for another spec, or an unknown layer or block.
    """
    kind, _, name = spec.partition(":")
    shape = result.temperature.shape
    if spec == "peak":
        return np.ones(shape, dtype=bool)
    mask = np.zeros(shape, dtype=bool)
    if kind == "max" and name:
        mask[result.grid.cells_of_layer(_layer(spec, result))] = True
        return mask
    if kind == "block-max" and name:
        block = _block(spec, result)
        weights = _block_weights(block.source, block.block.name)(result.stack, result.grid)
        return weights > 0
    raise InputError(f"objective {spec!r}: expected {OBJECTIVES}")


def _layer(spec: str, result: Result) -> int:
    """The index of the layer an objective names."""
    name = spec.partition(":")[2]
    layers = [layer.name for layer in result.stack.layers]
    if name not in layers:
        raise InputError(f"objective {spec!r}: no layer {name!r}; layers: {', '.join(layers)}")
    return layers.index(name)


def _block(spec: str, result: Result) -> BlockInput:
    """The power block an objective names."""
    name = spec.partition(":")[2]
    blocks = {b.label: b for b in block_inputs(result.stack)}
    if name not in blocks:
        known = ", ".join(blocks) or "none"
        raise InputError(f"objective {spec!r}: no power block {name!r}; blocks: {known}")
    return blocks[name]


SMOOTH_WIDTH = 0.005
"""Width of the smooth maximum that block moves differentiate, as a fraction of the field's
range: the cells within about this much of the hottest one share its weight."""


def smooth_maximum(target: Objective, nominal: Result) -> Objective:
    """For a hottest-cell objective ('peak', 'max:LAYER', 'block-max:NAME'): weights that make
    it a smooth maximum, softmax(β·T) over its cells (the derivative of log Σ exp(β·T) / β)
    with 1/β the larger of :data:`SMOOTH_WIDTH` of the field's range and twice the step from
    the hottest cell to its lateral neighbours (:func:`cell_step`: on coarse grids one cell
    is too sharp to follow); any other objective as it is.

    A block moves the hottest cell with it when its own heat makes the peak, so the derivative
    of one fixed cell would mostly say where that cell sits in the block; the smooth maximum
    follows the hot region, as the peak does."""
    if target.spec.partition(":")[0] not in ("peak", "max", "block-max"):
        return target
    field = nominal.temperature
    cells = hottest_cells(target.spec, nominal)
    width = max(SMOOTH_WIDTH * float(field.max() - field.min()), 2 * cell_step(field, cells))
    beta = 1.0 / width if width > 0 else 0.0
    peak = float(field[cells].max())
    weights = np.where(cells, np.exp(beta * (field - peak)), 0.0)
    weights /= weights.sum()
    return Objective(
        f"smooth {target.spec}", f"smooth maximum near {target.label}", lambda s, g: weights
    )


def cell_step(field: np.ndarray, cells: np.ndarray) -> float:
    """The largest temperature step, K, from the hottest of ``cells`` to a lateral neighbour:
    on a coarse grid the smooth maximum must be at least this wide to hold more than the one
    cell that a shifted block hands its heat to."""
    k, j, i = np.unravel_index(int(np.argmax(np.where(cells, field, -np.inf))), field.shape)
    _, ny, nx = field.shape
    neighbours = [
        field[k, jj, ii]
        for jj, ii in ((j - 1, i), (j + 1, i), (j, i - 1), (j, i + 1))
        if 0 <= jj < ny and 0 <= ii < nx
    ]
    return float(field[k, j, i] - min(neighbours)) if neighbours else 0.0


def describe_cell(result: Result, cell: tuple[int, ...]) -> str:
    """'x=3.1 mm, y=4.0 mm, in die1_active' for a (z, y, x) cell index."""
    k, j, i = (int(c) for c in cell)
    layer = result.stack.layers[int(result.grid.layer_of_cell[k])].name
    return f"x={result.grid.x[i] * 1e3:.3g} mm, y={result.grid.y[j] * 1e3:.3g} mm, in {layer}"


def _one_hot(cell: tuple[int, ...]) -> Callable[[Stack, Grid], np.ndarray]:
    def weights(_: Stack, grid: Grid) -> np.ndarray:
        w = np.zeros(grid.shape)
        w[cell] = 1.0
        return w

    return weights


def _volume_weights(layer_index: int | None) -> Callable[[Stack, Grid], np.ndarray]:
    def weights(_: Stack, grid: Grid) -> np.ndarray:
        w = np.zeros(grid.shape)
        cells = (
            np.arange(grid.shape[0]) if layer_index is None else grid.cells_of_layer(layer_index)
        )
        w[cells] = grid.dz[cells, None, None]
        return w / w.sum()

    return weights


def _block_weights(source: str, block: str) -> Callable[[Stack, Grid], np.ndarray]:
    """The power-weighted mean over the cells a block heats, as ``solve`` reports it."""

    def weights(stack: Stack, grid: Grid) -> np.ndarray:
        q = unit_block_field(stack, grid, source, block)
        return q / q.sum()

    return weights
