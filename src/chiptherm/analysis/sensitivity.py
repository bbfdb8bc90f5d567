"""Which design parameter moves a temperature most: sensitivities by the adjoint method.

For a linear stack the field solves A(p)·T = b(p), and a temperature of interest is a
weighted sum J = w(p)·T (the hottest cell, a layer's or a block's mean). Its derivative with
respect to any parameter p is

    dJ/dp = (dw/dp)·T + λ·(db/dp - (dA/dp)·T),    with  Aᵀλ = w,

so one extra solve (the adjoint λ, K/W) gives the derivative for every parameter at once; the
derivatives of A, b and w are differences of the assembled system at p·(1 ± ε) acting on the
fixed field T, which cost an assembly each, not a solve. Stacks solved by fixed-point
iteration (k(T), leakage, a warming coolant) take the same route with the Jacobian of their
full equations in place of A and the coolant temperatures as further unknowns
(:mod:`chiptherm.analysis.jacobian`): still one adjoint solve. Central differences of full solves,
warm-started from the nominal field (two solves per parameter), remain as method 'solves',
the check of both.

The same differences of a block shifted by a hundredth of a cell give the derivatives with
respect to every block's position (:class:`BlockMove`). A block whose own heat makes the
peak carries the hottest cell with it, so for a hottest-cell objective the moves
differentiate a smooth maximum instead (:func:`smooth_maximum`).

Sensitivities are logarithmic, S = dJ/d ln p = p·dJ/dp in K: the change of J for a small
relative change of p, so that parameters of any unit line up. Two identities of the heat
equation check them (and the tests use them):

- the rise is linear in the power, so the sensitivities to every power sum to J minus its
  zero-power value (Euler's theorem for homogeneous functions);
- multiplying every conductivity and film coefficient by c divides the rise by c, so their
  sensitivities minus those to the contact resistances sum to minus the rise.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chiptherm.analysis.compact import block_inputs
from chiptherm.analysis.derivatives import Evaluator, SolveEvaluator, choose_evaluator
from chiptherm.analysis.objectives import Objective, smooth_maximum
from chiptherm.analysis.parameters import Parameter, replace_item, stack_parameters
from chiptherm.description.stack import Block, Stack
from chiptherm.discretize.grid import Grid
from chiptherm.errors import InputError
from chiptherm.solvers.result import Result, carrier_maps

ADJOINT_STEP = 1e-4
"""Relative step of the central differences of the assembled system (no solve involved)."""
SOLVE_STEP = 1e-2
"""Relative step of the central differences of full solves (method 'solves')."""
REPORT_CHANGE = 0.1
"""The relative change the tables and the tornado plot show: +10 %."""


# -- results ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParameterSensitivity:
    """How the objective moves with one parameter.

    Attributes:
        parameter: the parameter.
        per_log: dJ/d ln p, K: the change of J per unit relative change of p.
        derivative: dJ/dp, K per unit of the parameter.
    """

    parameter: Parameter
    per_log: float
    derivative: float

    @property
    def unit(self) -> str:
        """The unit of :attr:`derivative`: 'K/W', 'K/m', 'K/(W/(m·K))'."""
        unit = self.parameter.unit
        if unit == "1":
            return "K"
        return f"K/({unit})" if any(c in unit for c in "/·") else f"K/{unit}"

    @property
    def per_change(self) -> float:
        """The linear estimate of the change of J for a +10 % change of p, K."""
        return self.per_log * REPORT_CHANGE


@dataclass(frozen=True)
class BlockMove:
    """How J changes as one power block moves, its size and power kept.

    Attributes:
        label: the block's label (its name, or 'source/name' when names repeat).
        source: its power source.
        block: the block.
        dx: dJ/dx, K/m (None when the block spans the chip along x).
        dy: dJ/dy, K/m (None when the block spans the chip along y).
    """

    label: str
    source: str
    block: Block
    dx: float | None
    dy: float | None

    @property
    def downhill(self) -> tuple[float, float]:
        """The direction (unit vector, x and y) in which the block cools J fastest: minus the
        gradient, (0, 0) when it has none."""
        gx, gy = self.dx or 0.0, self.dy or 0.0
        norm = math.hypot(gx, gy)
        return (-gx / norm, -gy / norm) if norm > 0 else (0.0, 0.0)

    @property
    def k_per_mm(self) -> float:
        """|grad J|, K per mm of movement in the best direction."""
        return math.hypot(self.dx or 0.0, self.dy or 0.0) * 1e-3


@dataclass(frozen=True)
class Sensitivity:
    """The sensitivities of one objective to every parameter of a stack, largest first.

    Attributes:
        stack_name: the stack.
        objective: the objective.
        value_k: the objective at the nominal stack, K.
        entries: one per parameter, by decreasing ``|dJ/d ln p|``.
        method: 'adjoint' or 'finite differences'.
        solves: the number of solves it took (the nominal one included).
        seconds: wall time.
        nominal: the nominal solution.
        influence: (nz, ny, nx) dJ/dq, K/W: how much J rises per watt injected in each cell
            (the adjoint field λ; by reciprocity also the temperature rise of J's cells, per
            watt, seen from each cell); None for the finite-difference method.
        moves: the derivatives of J with respect to every powered block's position.
    """

    stack_name: str
    objective: Objective
    value_k: float
    entries: list[ParameterSensitivity]
    method: str
    solves: int
    seconds: float
    nominal: Result
    influence: np.ndarray | None = None
    moves: list[BlockMove] = dataclasses.field(default_factory=list)

    def influence_maps(self) -> dict[str, tuple[str, np.ndarray]]:
        """Per layer or face that carries power (by name, or 'top face'): the name of its
        power source and the (ny, nx) rise of J per watt placed at each point of it, K/W (a
        watt in a layer spreads through its z-cells by height, as layer power does): where a
        block would hurt J most, and where least. Empty without an influence field."""
        if self.influence is None:
            return {}
        return carrier_maps(self.nominal.stack, self.nominal.grid, self.influence)

    def of(self, key: str) -> ParameterSensitivity:
        """The entry of the parameter with dotted ``key``."""
        for entry in self.entries:
            if entry.parameter.key == key:
                return entry
        raise KeyError(
            f"no parameter {key!r}; parameters: {[e.parameter.key for e in self.entries]}"
        )

    def total(self, kind: str) -> float:
        """Sum of dJ/d ln p over the parameters of one kind, K (for 'power': the part of J
        that the power raises above its zero-power value)."""
        return float(sum(e.per_log for e in self.entries if e.parameter.kind == kind))

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "stack": self.stack_name,
            "objective": self.objective.spec,
            "objective_label": self.objective.label,
            "value_k": self.value_k,
            "method": self.method,
            "solves": self.solves,
            "seconds": self.seconds,
            "rise_from_power_k": self.total("power"),
            "block_moves": [
                {
                    "block": m.label,
                    "k_per_mm_east": None if m.dx is None else m.dx * 1e-3,
                    "k_per_mm_north": None if m.dy is None else m.dy * 1e-3,
                    "k_per_mm_best": m.k_per_mm,
                }
                for m in self.moves
            ],
            "parameters": [
                {
                    "key": e.parameter.key,
                    "label": e.parameter.label,
                    "kind": e.parameter.kind,
                    "value": e.parameter.value,
                    "unit": e.parameter.unit,
                    "k_per_log": e.per_log,
                    "k_per_10_percent": e.per_change,
                    "derivative": e.derivative,
                    "derivative_unit": e.unit,
                }
                for e in self.entries
            ],
        }


# -- computation -----------------------------------------------------------------------------
def sensitivity(
    stack: Stack,
    objective: str = "peak",
    method: str = "auto",
    solver: str = "auto",
    tol: float = 1e-10,
    on_parameter: Callable[[int, int], None] | None = None,
    moves: bool = True,
) -> Sensitivity:
    """The sensitivities of one temperature of ``stack`` to every parameter of it, and to
    the position of every power block.

    Args:
        stack: the stack.
        objective: which temperature (see :func:`make_objective`).
        method: 'adjoint' (one extra solve, with the Jacobian of the full equations for k(T),
            leakage and coolants), 'solves' (central differences of full solves, two per
            parameter) or 'auto' (the adjoint).
        solver: the linear solver (see :mod:`chiptherm.solvers`).
        tol: relative residual tolerance of iterative solvers.
        on_parameter: told (done, total) after each parameter and each block move.
        moves: also the derivatives with respect to every block's position (see
            :class:`BlockMove`; with 'solves', up to four more solves per block).

    Raises:
        InputError: for an unknown objective or method.
    """
    start = time.perf_counter()
    if method == "auto":
        method = "adjoint"
    if method not in ("adjoint", "solves"):
        raise InputError(f"method {method!r}: expected auto, adjoint or solves")
    nominal, target, evaluate = choose_evaluator(stack, objective, method, solver, tol)
    step = ADJOINT_STEP if method == "adjoint" else SOLVE_STEP
    influence = evaluate.adjoint
    parameters = stack_parameters(stack)
    movable = sum(b.block.watts > 0 for b in block_inputs(stack)) if moves else 0
    total = len(parameters) + movable

    def tick(done: int) -> None:
        if on_parameter is not None:
            on_parameter(done, total)

    entries = []
    for n, parameter in enumerate(parameters):
        up, down = (evaluate(parameter.scaled(stack, 1.0 + sign * step)) for sign in (1, -1))
        per_log = (up - down) / (2.0 * step)
        entries.append(ParameterSensitivity(parameter, per_log, per_log / parameter.value))
        tick(n + 1)
    value = float((target.weights(stack, nominal.grid) * nominal.temperature).sum())
    block_moves = []
    if moves:
        smooth = smooth_maximum(target, nominal)
        if smooth is not target:  # a hottest cell: its own evaluator for the smooth maximum
            evaluate = evaluate.for_objective(smooth)
        at = float((smooth.weights(stack, nominal.grid) * nominal.temperature).sum())
        block_moves = _block_moves(
            stack, nominal.grid, evaluate, at, lambda n: tick(len(parameters) + n)
        )
    entries.sort(key=lambda e: -abs(e.per_log))
    return Sensitivity(
        stack.name,
        target,
        value,
        entries,
        "adjoint" if method == "adjoint" else "finite differences",
        evaluate.solves,
        time.perf_counter() - start,
        nominal,
        influence,
        block_moves,
    )


@dataclass(frozen=True)
class SolvedChange:
    """The objective actually solved at a parameter's value times (1 - c) and (1 + c).

    Attributes:
        key: the parameter's dotted key.
        down_k: J(p·(1 - c)) - J(p), K.
        up_k: J(p·(1 + c)) - J(p), K.
    """

    key: str
    down_k: float
    up_k: float


def solved_changes(
    study: Sensitivity,
    count: int,
    change: float = REPORT_CHANGE,
    solver: str = "auto",
    tol: float = 1e-10,
    on_solve: Callable[[int, int], None] | None = None,
) -> list[SolvedChange]:
    """Solve the stack with each of the ``count`` largest parameters of ``study`` moved by
    -``change`` and +``change`` (relative), warm-started from the nominal field: the real,
    nonlinear response beside the linear estimate (a conductivity acts as 1/k, so +10 % gains
    less than -10 % loses). ``on_solve`` is told (done, total)."""
    stack = study.nominal.stack
    evaluate = SolveEvaluator(study.nominal, study.objective, solver, tol)
    out = []
    entries = study.entries[:count]
    for n, entry in enumerate(entries):
        values = []
        for factor in (1.0 - change, 1.0 + change):
            values.append(evaluate(entry.parameter.scaled(stack, factor)) - study.value_k)
            if on_solve is not None:
                on_solve(2 * n + len(values), 2 * len(entries))
        out.append(SolvedChange(entry.parameter.key, values[0], values[1]))
    return out


def _shifted(stack: Stack, source: str, index: int, axis: str, delta: float) -> Stack:
    """``stack`` with block ``index`` of ``source`` moved by ``delta`` m along ``axis``."""
    power = stack.power[source]
    block = power.blocks[index]
    new = block.model_copy(update={axis: getattr(block, axis) + delta})
    return stack.with_power(
        source, power.model_copy(update={"blocks": replace_item(power.blocks, index, new)})
    )


def _block_moves(
    stack: Stack,
    grid: Grid,
    evaluate: Evaluator,
    value: float,
    on_block: Callable[[int], None],
) -> list[BlockMove]:
    """dJ/dx and dJ/dy of every block with power: central differences of a shift by a
    hundredth of a cell (the rasterized power is piecewise linear in the position), one-sided
    where the block touches the chip's edge (from ``value``, J at the nominal stack), none
    where it spans the chip. ``on_block`` is told how many blocks are done."""
    labels = {(b.source, b.block.name): b.label for b in block_inputs(stack)}
    lx, ly = stack.size
    out = []
    for source in stack.used_power:
        for index, block in enumerate(stack.power[source].blocks):
            if block.watts <= 0:
                continue
            gradient = []
            for axis, low, high, size, cell in (
                ("x", block.x, block.x1, lx, grid.dx),
                ("y", block.y, block.y1, ly, grid.dy),
            ):
                step = 0.01 * cell
                room_low, room_high = low - step >= -1e-15, high + step <= size + 1e-15
                if not (room_low or room_high):
                    gradient.append(None)
                    continue
                up = evaluate(_shifted(stack, source, index, axis, step)) if room_high else value
                down = evaluate(_shifted(stack, source, index, axis, -step)) if room_low else value
                gradient.append((up - down) / (step * (room_low + room_high)))
            out.append(
                BlockMove(labels[(source, block.name)], source, block, gradient[0], gradient[1])
            )
            on_block(len(out))
    return out
