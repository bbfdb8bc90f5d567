"""Compact thermal model of a floorplan: the block-to-block thermal resistance matrix.

Conduction is linear in the power, so the mean temperature of every power block of a stack is

    T_i = T0_i + sum_j R_ij P_j

for any block powers P (W): T0 (K) is the block's temperature with every block off (ambients,
fixed temperatures and power maps stay on), and R_ij (K/W) is the mean temperature rise of
block i per watt in block j. One solve per block on one factorized (or preconditioned) system
gives R; afterwards any power assignment of the floorplan costs one small matrix product,
exactly, with no solver and no learned model.

A block's temperature is the mean that its own power sees: the temperature weighted by the
block's power in each cell (the area overlap, split through the layer by cell height), which
is the block mean that ``chiptherm solve`` reports. With those weights R = Wᵀ A⁻¹ W for the
symmetric finite-volume matrix A, so R is symmetric (reciprocity: a watt in block j warms
block i as much as a watt in i warms j) and, since A is an M-matrix, all its entries are
positive. Blocks of a source that feeds several layers or faces count once, with their
temperature weighted over all of them.

A coolant that warms along its flow keeps the temperatures affine in the power (its
temperature is the inlet's plus the heat picked up upstream), so the matrix holds for such
stacks too, extracted on the system coupled to the coolant temperatures; it is then no longer
symmetric: the coolant carries a block's heat downstream, so a watt upstream warms a
downstream block more than the reverse.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chiptherm.description.stack import Block, Stack
from chiptherm.discretize.grid import Grid
from chiptherm.discretize.system import System, power_field
from chiptherm.errors import InputError
from chiptherm.solvers import make_solver, solve_many
from chiptherm.tasks import Cluster, Runner, on_cluster, run_tasks, worker_cache


@dataclass(frozen=True)
class BlockInput:
    """One power block of the floorplan.

    Attributes:
        label: its name in the matrix: the block name, or 'source/block' when block names
            repeat across sources.
        source: the power source that holds it.
        block: the block as the stack defines it.
    """

    label: str
    source: str
    block: Block


@dataclass(frozen=True)
class HeatedCells:
    """Every cell that receives power, and its temperature as an affine function of the block
    powers: the hottest cell of the stack is always one of them (unless a face's ambient is
    hotter than all of them).

    Attributes:
        index: (m,) flat indices into the (nz, ny, nx) field.
        background_k: (m,) their temperatures with every block off, K.
        response: (m, n) their temperature rise per watt in each block, K/W.
        shape: the (nz, ny, nx) shape of the field.
        owners: (m, n) whether each block heats each cell.
    """

    index: np.ndarray
    background_k: np.ndarray
    response: np.ndarray
    shape: tuple[int, int, int]
    owners: np.ndarray

    def temperatures(self, watts: np.ndarray) -> np.ndarray:
        """(..., m) heated-cell temperatures, K, for block powers (..., n) W."""
        return self.background_k + watts @ self.response.T

    def block_peaks(self, watts: np.ndarray) -> np.ndarray:
        """(..., n) the hottest cell each block heats, K, for block powers (..., n) W."""
        cells = self.temperatures(watts)[..., :, None]  # (..., m, 1)
        return np.where(self.owners, cells, -np.inf).max(axis=-2)

    def position(self, k: int) -> tuple[int, int, int]:
        """(z, y, x) cell indices of heated cell ``k``."""
        z, y, x = np.unravel_index(self.index[k], self.shape)
        return int(z), int(y), int(x)


@dataclass(frozen=True)
class ResistanceMatrix:
    """Block temperatures of a floorplan as an affine function of its block powers.

    Attributes:
        stack_name: the stack it was extracted from.
        blocks: the blocks, in matrix order.
        nominal_w: (n,) the block powers the stack file gives, W.
        background_k: (n,) block temperatures with every block at 0 W, K.
        resistance: (n, n) mean temperature rise of block i per watt in block j, K/W.
        method: the linear solver used.
        seconds: wall time of the extraction.
        heated: the heated cells, for the peak temperature of any block powers.
    """

    stack_name: str
    blocks: list[BlockInput]
    nominal_w: np.ndarray
    background_k: np.ndarray
    resistance: np.ndarray
    method: str
    seconds: float
    heated: HeatedCells

    @property
    def labels(self) -> list[str]:
        return [b.label for b in self.blocks]

    def powers(self, watts: Mapping[str, float] | np.ndarray | None = None) -> np.ndarray:
        """Block powers (n,) W: the nominal ones, with those named in ``watts`` replaced, or
        an array of every block's power (the last axis n; leading axes allowed)."""
        if watts is None:
            return self.nominal_w.copy()
        if isinstance(watts, Mapping):
            return self.by_label(watts, self.nominal_w)
        array = np.asarray(watts, dtype=float)
        if array.ndim == 0 or array.shape[-1] != len(self.blocks):
            raise InputError(
                f"expected {len(self.blocks)} block powers (W) in the last axis, got shape "
                f"{array.shape}"
            )
        return array

    def by_label(self, values: Mapping[str, float] | None, default: np.ndarray) -> np.ndarray:
        """(n,) ``default`` with the entries named in ``values`` (block labels) replaced.

        Raises:
            InputError: naming a label that is not a block of the matrix.
        """
        out = np.array(default, dtype=float)
        for label, value in (values or {}).items():
            if label not in self.labels:
                raise InputError(
                    f"unknown block {label!r}; the blocks are {', '.join(self.labels)}"
                )
            out[self.labels.index(label)] = float(value)
        return out

    def temperatures(self, watts: Mapping[str, float] | np.ndarray | None = None) -> np.ndarray:
        """Mean temperature (…, n) K of every block for block powers ``watts`` (see
        :meth:`powers`; by default the stack's own)."""
        return self.background_k + self.powers(watts) @ self.resistance.T

    def peaks(self, watts: Mapping[str, float] | np.ndarray | None = None) -> np.ndarray:
        """The hottest cell temperature (…) K of the stack for block powers ``watts`` (see
        :meth:`powers`), exact: the maximum over the heated cells."""
        return self.heated.temperatures(self.powers(watts)).max(axis=-1)

    def block_peaks(self, watts: Mapping[str, float] | np.ndarray | None = None) -> np.ndarray:
        """The hottest cell (…, n) K that each block heats, for block powers ``watts`` (see
        :meth:`powers`), exact."""
        return self.heated.block_peaks(self.powers(watts))

    def summary(self) -> dict[str, Any]:
        """JSON-ready description: blocks, R in K/W, the background and nominal temperatures."""
        nominal = self.temperatures()
        nominal_peaks = self.block_peaks()
        return {
            "stack": self.stack_name,
            "method": self.method,
            "seconds": self.seconds,
            "blocks": [
                {
                    "label": b.label,
                    "source": b.source,
                    "block": b.block.name,
                    "nominal_w": float(w),
                    "background_k": float(t0),
                    "self_resistance_k_per_w": float(r),
                    "nominal_temperature_k": float(t),
                    "nominal_peak_k": float(peak),
                }
                for b, w, t0, r, t, peak in zip(
                    self.blocks,
                    self.nominal_w,
                    self.background_k,
                    np.diag(self.resistance),
                    nominal,
                    nominal_peaks,
                    strict=True,
                )
            ],
            "nominal_peak_k": float(self.peaks()),
            "heated_cells": int(self.heated.index.size),
            "resistance_k_per_w": self.resistance.tolist(),
            "asymmetry": asymmetry(self.resistance),
        }


def asymmetry(matrix: np.ndarray) -> float:
    """max |R - Rᵀ| / max |R|: 0 for an exactly reciprocal matrix."""
    scale = float(np.abs(matrix).max()) or 1.0
    return float(np.abs(matrix - matrix.T).max() / scale)


def block_inputs(stack: Stack) -> list[BlockInput]:
    """Every block of every block source that heats a layer or face, in file order."""
    pairs = [(name, block) for name in stack.used_power for block in stack.power[name].blocks]
    labels = block_labels([(name, block.name) for name, block in pairs])
    return [
        BlockInput(label, name, block) for label, (name, block) in zip(labels, pairs, strict=True)
    ]


def block_labels(pairs: list[tuple[str, str]]) -> list[str]:
    """Labels of (source, block) pairs: the block names, or 'source/block' when names repeat."""
    names = [block for _, block in pairs]
    unique = len(set(names)) == len(names)
    return [block if unique else f"{source}/{block}" for source, block in pairs]


def with_block_powers(stack: Stack, watts: Mapping[tuple[str, str], float]) -> Stack:
    """``stack`` with every block power set: ``watts`` for the (source, block) pairs it names,
    0 W for every other block. Map sources are kept."""
    power = {
        name: source
        if source.map is not None
        else source.model_copy(
            update={
                "blocks": [
                    b.model_copy(update={"watts": watts.get((name, b.name), 0.0)})
                    for b in source.blocks
                ]
            }
        )
        for name, source in stack.power.items()
    }
    return stack.model_copy(update={"power": power})


def unit_block_field(stack: Stack, grid: Grid, source: str, block: str) -> np.ndarray:
    """(nz, ny, nx) watts per cell that block ``block`` of ``source`` injects at 1 W (per
    layer or face its source feeds), the stack's other power aside."""
    one_watt = power_field(with_block_powers(stack, {(source, block): 1.0}), grid)
    return one_watt - power_field(with_block_powers(stack, {}), grid)


def resistance_matrix(
    stack: Stack,
    method: str = "auto",
    tol: float = 1e-10,
    on_block: Callable[[int, int], None] | None = None,
    cluster: Cluster | Runner | None = None,
) -> ResistanceMatrix:
    """Extract the block-to-block thermal resistance matrix of ``stack`` on its grid.

    Args:
        stack: a stack with at least one block power source.
        method: the linear solver (see :mod:`chiptherm.solvers`); built once for all blocks
            (once per worker on a cluster).
        tol: relative residual tolerance of iterative solvers.
        on_block: told (done, total) as blocks are solved.
        cluster: solve the blocks' unit responses as tasks on a Dask cluster
            (:mod:`chiptherm.tasks`), :data:`BLOCKS_PER_TASK` blocks a task; the same numbers
            as in this process.

    Raises:
        InputError: when the stack has no power blocks, or k(T) or leakage make its
            temperatures nonlinear in the power.
    """
    start = time.perf_counter()
    if stack.nonlinearities:
        raise InputError(
            "a resistance matrix needs temperatures linear in the power, and "
            f"{' and '.join(stack.nonlinearities)} depend(s) on the temperature"
        )
    blocks = block_inputs(stack)
    if not blocks:
        raise InputError(
            f"stack {stack.name!r} has no power blocks: a resistance matrix needs power "
            "sources given as 'blocks' that heat a layer or face"
        )
    response = BlockResponse(stack, method, tol)
    n = len(blocks)
    resistance = np.empty((n, n))
    heated_response = np.empty((response.heated.size, n))
    # in this process one batched solve per chunk; on a cluster a task per chunk, each worker
    # building its own BlockResponse once
    per_chunk = BLOCKS_PER_TASK if on_cluster(cluster) else BLOCK_BATCH
    chunks = [range(s, min(s + per_chunk, n)) for s in range(0, n, per_chunk)]
    if not on_cluster(cluster):
        work, items = response.columns, chunks
    else:
        work, items = block_columns, [(stack, method, tol, chunk) for chunk in chunks]
    done = (lambda k, _: on_block(min(k * per_chunk, n), n)) if on_block else None
    for chunk, columns in zip(chunks, run_tasks(work, items, cluster, done, ()), strict=True):
        resistance[:, chunk], heated_response[:, chunk] = columns
    grid, weights = response.grid, response.weights
    return ResistanceMatrix(
        stack.name,
        blocks,
        np.array([b.block.watts for b in blocks]),
        np.array([float((w * response.background).sum()) for w in weights]),
        resistance,
        response.method_name,
        time.perf_counter() - start,
        HeatedCells(
            response.heated,
            response.background.ravel()[response.heated],
            heated_response,
            grid.shape,
            np.stack([q.ravel()[response.heated] > 0 for q in response.unit_q], axis=1),
        ),
    )


class BlockResponse:
    """What the unit responses of a stack's blocks need, built once (per process or worker):
    the system and its solver, every block's watts per cell at 1 W (``unit_q``) and the
    weights of its mean temperature, the blocks-off field (``background``, K) and the heated
    cells (``heated``, flat indices: the hottest cell is one of them, by the discrete maximum
    principle, so they carry the peak)."""

    def __init__(self, stack: Stack, method: str, tol: float) -> None:
        system = System.from_stack(stack)
        self.grid: Grid = system.grid  # type: ignore[assignment]
        blocks = block_inputs(stack)
        background_q = power_field(with_block_powers(stack, {}), self.grid)
        self.unit_q = [unit_block_field(stack, self.grid, b.source, b.block.name) for b in blocks]
        self.weights = [q / q.sum() for q in self.unit_q]
        self.background, self.rise_of, self.method_name = linear_response(
            stack, system, method, tol
        )
        unit_heated = np.sum(self.unit_q, axis=0) > 0
        self.heated = np.flatnonzero((background_q > 0).ravel() | unit_heated.ravel())

    def columns(self, chunk: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The resistance matrix's columns (n, len(chunk)) K/W and the heated cells' rises
        (heated, len(chunk)) K/W of the blocks in ``chunk``, each at 1 W (faces and inlets
        at 0 K, the rest off), solved together."""
        rises = self.rise_of(np.stack([self.unit_q[j] for j in chunk]))
        resistance = np.array([[float((w * rise).sum()) for rise in rises] for w in self.weights])
        return resistance, np.stack([rise.ravel()[self.heated] for rise in rises], axis=1)


def block_columns(task: tuple[Stack, str, float, Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """A task of :func:`resistance_matrix` on a cluster: (stack, method, tol, block indices)
    -> :meth:`BlockResponse.columns`, with the response built once per worker process."""
    stack, method, tol, chunk = task
    key = ("block response", stack.model_dump_json(), method, tol)
    return worker_cache(key, lambda: BlockResponse(stack, method, tol)).columns(chunk)


BLOCKS_PER_TASK = 4
"""Blocks a task of a resistance matrix on a cluster solves: enough to amortize a task's
overhead (milliseconds), few enough to spread a floorplan over many workers."""


BLOCK_BATCH = 1
"""Blocks whose unit responses are solved together (one batched solve per this many). One:
on a CPU a batch of 16 costs 1.4x more time per map than single solves at 1.4 M cells and six
times the memory (``benchmarks/solver.py``, 'cg-mg x16'), the vectors outweighing the shared
matrix; the batched path is there for an accelerator."""


def linear_response(
    stack: Stack, system: System, method: str, tol: float, off: Stack | None = None
) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray], str]:
    """The field of ``stack`` with every block off (K) (or of ``off``, a stack on the same
    grid with the varying power taken out), the rises (k, nz, ny, nx) K that a batch of
    powers (k, nz, ny, nx) W adds to it, and the method's name.

    Without coolants the rises are solved together on a solver built once for ``system``
    (:func:`~chiptherm.solvers.solve_many`). A coolant
    warming along its flow keeps the equations linear but couples the field to the coolant's
    temperatures: the blocks-off field is the fixed-point solve, and each rise one solve of
    the coupled system (:meth:`chiptherm.analysis.jacobian.Jacobian.solve`), coolant temperatures
    included, with the inlets at 0 K.
    """
    grid: Grid = system.grid  # type: ignore[assignment]
    off = with_block_powers(stack, {}) if off is None else off
    if not stack.coolants:
        solver = make_solver(system, method)
        background, _ = solver.solve(system.rhs_for(power_field(off, grid)), tol=tol)

        def rises(q: np.ndarray) -> np.ndarray:
            return solve_many(solver, q, tol=tol)[0].reshape(q.shape)

        return background.reshape(system.shape), rises, solver.name
    from chiptherm.analysis.jacobian import Jacobian
    from chiptherm.solvers.nonlinear import solve_nonlinear
    from chiptherm.solvers.terms import coolants_of

    solution = solve_nonlinear(off, grid, method, tol=tol, kelvin_tol=1e-10)
    coupled = Jacobian.at(off, grid, solution.temperature, coolants_of(off, solution.system))

    def coupled_rises(q: np.ndarray) -> np.ndarray:
        return np.stack([coupled.solve(qi, tol=tol)[: qi.size].reshape(qi.shape) for qi in q])

    return solution.temperature, coupled_rises, f"{solution.info.method} + coupled coolant"
