"""One implicit time step, and the steady states around a run, for linear and iterated stacks.

A step solves (A + s·C)·T = b + s·C·M: the steady system with one more link per cell, of
conductance s·C (s = weight/Δt in 1/s, C the cell's heat capacity) to the field M that the
scheme builds from the earlier steps (see :mod:`chiptherm.transient`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chiptherm.analysis.compact import with_block_powers
from chiptherm.description.stack import Stack
from chiptherm.discretize.grid import Grid
from chiptherm.discretize.system import SinkLink, System, power_field
from chiptherm.errors import InputError
from chiptherm.solvers import make_solver
from chiptherm.solvers.nonlinear import final_system, scaled_power, solve_nonlinear, with_sink
from chiptherm.transient.trace import PowerTrace

STORAGE = "heat capacity"
"""The name of the heat-capacity link among a step system's sinks."""
DEFAULT_STEPS = 400
LARGEST_STEP = 0.01
"""Doubling steps stop growing at this fraction of the run."""


def capacity_field(stack: Stack, grid: Grid) -> np.ndarray:
    """(nz, ny, nx) heat capacity of every cell, J/K, with layer regions painted in (a
    cavity's walls fill the solid fraction of its volume; its coolant stores no heat).

    Raises:
        InputError: naming the first material in use without a heat capacity.
    """
    nz, ny, nx = grid.shape
    rho_c = np.empty((nz, ny, nx))
    for layer_index, layer in enumerate(stack.layers):
        cells = grid.cells_of_layer(layer_index)
        block = slice(cells[0], cells[-1] + 1)
        paint = [(layer.material, np.ones((ny, nx), dtype=bool))]
        paint += [(region.material, grid.region_mask(region)) for region in layer.regions]
        for name, mask in paint:
            capacity = stack.material(name).heat_capacity
            if capacity is None:
                raise InputError(
                    f"materials.{name}: no heat_capacity (J/(m³·K), the volumetric heat "
                    f"capacity ρ·c_p) for a transient run; layer {layer.name!r} uses it"
                )
            rho_c[block][:, mask] = capacity * layer.solid_fraction
    volume = grid.dx * grid.dy * grid.dz[:, None, None]
    return rho_c * volume


def step_times(
    duration: float, dt: float | None, double_every: int, breaks: Sequence[float] = ()
) -> np.ndarray:
    """(s+1,) the times at the ends of the steps, from 0 to ``duration`` s (see
    :func:`step_lengths`)."""
    lengths = step_lengths(duration, dt, double_every, breaks)
    times = np.concatenate([[0.0], np.cumsum(lengths)])
    times[-1] = duration
    return times


def step_lengths(
    duration: float, dt: float | None, double_every: int, breaks: Sequence[float] = ()
) -> np.ndarray:
    """(s,) the step lengths of a run of ``duration`` s, s.

    Uniform steps of ``dt`` (default duration / 400), the last one shortened to land on the
    duration; or, with ``double_every`` N > 0, steps starting at ``dt`` (default
    duration / 10⁵) that double after every N steps until they reach duration / 100, and
    start again from ``dt`` at each of the ``breaks`` (s: where the power changes), on which
    a step then ends. Equal steps are equal to the last bit, so one solver serves them all."""
    if double_every < 0:
        raise InputError(f"double_every: expected 0 (uniform steps) or more, got {double_every}")
    if dt is None:
        dt = duration / (DEFAULT_STEPS if double_every == 0 else 1e5)
    if not (math.isfinite(dt) and dt > 0):
        raise InputError(f"dt: expected a positive time step in s, got {dt:g}")
    if dt > duration:
        raise InputError(f"dt: {dt:g} s is longer than the run's {duration:g} s")
    if double_every == 0:
        count = max(round(duration / dt), 1)
        if abs(count * dt - duration) <= 1e-9 * duration:
            return np.full(count, duration / count)
        whole = math.floor(duration / dt)
        return np.append(np.full(whole, dt), duration - whole * dt)
    largest = max(duration * LARGEST_STEP, dt)
    edges = [0.0, *sorted(b for b in breaks if 0.0 < b < duration), duration]
    lengths: list[float] = []
    for start, end in itertools.pairwise(edges):
        lengths += doubling(end - start, dt, largest, double_every)
    return np.array(lengths)


def doubling(span: float, first: float, largest: float, every: int) -> list[float]:
    """Step lengths covering ``span`` s: ``first``, doubled after every ``every`` steps up
    to ``largest``, the last one shortened to land on the span's end."""
    lengths: list[float] = []
    step, elapsed = first, 0.0
    while elapsed < span * (1 - 1e-12):
        lengths.append(min(step, span - elapsed))
        elapsed += lengths[-1]
        if len(lengths) % every == 0:
            step = min(2 * step, largest)
    return lengths


def scheme_terms(
    scheme: str, lengths: np.ndarray, n: int, history: list[np.ndarray]
) -> tuple[float, np.ndarray, np.ndarray]:
    """(weight, memory, guess) of step ``n`` (from 1) of ``lengths`` (s) after the fields
    ``history`` (the last two, K): the step solves (A + weight·C/Δt)·T = b + weight·C/Δt·memory,
    warm-started from ``guess``. Backward Euler for 'euler' and for BDF2's first step; else
    variable-step BDF2 with ω = Δt_n/Δt_{n-1}: weight (1+2ω)/(1+ω), memory
    ((1+ω)·T_n - ω²/(1+ω)·T_{n-1})/weight (3/2, 2 and 1/2 for equal steps)."""
    if n == 1 or scheme == "euler":
        return 1.0, history[-1], history[-1]
    ratio = lengths[n - 1] / lengths[n - 2]
    weight = (1 + 2 * ratio) / (1 + ratio)
    memory = ((1 + ratio) * history[-1] - ratio**2 / (1 + ratio) * history[-2]) / weight
    return weight, memory, history[-1] + ratio * (history[-1] - history[-2])


@dataclass(frozen=True)
class StepState:
    """The end of one step: the field (nz, ny, nx) K, the power put in during the step and
    the heat leaving through the faces and into coolants at its end, W."""

    field: np.ndarray
    power_w: float
    heat_out_w: float


class Steps:
    """What every kind of step needs: the stack, its grid, the trace, the heat capacity
    (nz, ny, nx) J/K, the linear solver's name and tolerance, and each row's stack."""

    def __init__(
        self, stack: Stack, grid: Grid, trace: PowerTrace, capacity: np.ndarray, method: str,
        tol: float,
    ) -> None:  # fmt: skip
        self.stack, self.grid, self.trace = stack, grid, trace
        self.capacity, self.method, self.tol = capacity, method, tol
        self._stacks: dict[int | None, Stack] = {}
        self._solvers: dict[float, Any] = {}
        self.name = ""

    def step_solver(self, scale: float) -> Any:
        """The solver of A + scale·C (scale in 1/s), A the stack's matrix at its reference
        temperature, built once per step length; only the two latest are kept (a run whose
        steps double never returns to a shorter one)."""
        if scale not in self._solvers:
            if len(self._solvers) >= 2:
                self._solvers.pop(next(iter(self._solvers)))
            link = SinkLink(conductance=scale * self.capacity, temperature=0.0)
            system = with_sink(System.from_stack(self.stack, self.grid), (STORAGE, link))
            self._solvers[scale] = make_solver(system, self.method)
        return self._solvers[scale]

    def row_stack(self, row: int | None) -> Stack:
        """The stack with the block powers of ``row`` (None: every block off)."""
        if row not in self._stacks:
            self._stacks[row] = row_stack(self.stack, self.trace, row)
        return self._stacks[row]


class LinearSteps(Steps):
    """Steps of a stack linear in the power: the matrix A + s·C depends only on the step
    length, so its solver is built once per length (only the two latest are kept: a run whose
    steps double never returns to a shorter one) and each row's power changes only b."""

    def __init__(
        self, stack: Stack, grid: Grid, trace: PowerTrace, capacity: np.ndarray, method: str,
        tol: float,
    ) -> None:  # fmt: skip
        super().__init__(stack, grid, trace, capacity, method, tol)
        self.base = System.from_stack(stack, grid)
        self._steady = make_solver(self.base, method)
        self._powers: dict[int | None, np.ndarray] = {}
        self.name = self._steady.name

    def q(self, row: int | None) -> np.ndarray:
        """(nz, ny, nx) power per cell during ``row`` (None: every block off), W."""
        if row not in self._powers:
            self._powers[row] = power_field(self.row_stack(row), self.grid)
        return self._powers[row]

    def steady(self, row: int | None) -> StepState:
        """The steady state at ``row``'s power (None: every block off)."""
        q = self.q(row)
        field, _ = self._steady.solve(self.base.rhs_for(q), tol=self.tol)
        field = np.asarray(field).reshape(self.grid.shape)
        return StepState(field, float(q.sum()), self.heat_out(field))

    def step(self, row: int, scale: float, memory: np.ndarray, guess: np.ndarray) -> StepState:
        """Solve (A + scale·C)·T = b(row) + scale·C·memory, warm-started from ``guess``."""
        solver = self.step_solver(scale)
        self.name = solver.name
        q = self.q(row)
        rhs = self.base.rhs_for(q) + scale * self.capacity * memory
        field, _ = solver.solve(rhs, x0=guess, tol=self.tol)
        field = np.asarray(field).reshape(self.grid.shape)
        return StepState(field, float(q.sum()), self.heat_out(field))

    def at(self, field: np.ndarray) -> StepState:
        """A given field, with every block off."""
        return StepState(field, float(self.q(None).sum()), self.heat_out(field))

    def heat_out(self, field: np.ndarray) -> float:
        """Heat leaving ``field`` through the faces, W."""
        return float(sum(self.base.heat_out(field).values()))


class IteratedSteps(Steps):
    """Steps of a stack with k(T), leakage or a coolant warming along its flow: each steady
    state and each step is a fixed-point iteration
    (:func:`chiptherm.solvers.nonlinear.solve_nonlinear`) whose systems carry the heat-capacity
    link, so conductivity, leakage and coolant are all taken at the step's own temperature
    (fully implicit). Without k(T) the matrix stays the same, and one solver per step length
    serves every iteration of every step."""

    def steady(self, row: int | None) -> StepState:
        """The steady state at ``row``'s power (None: every block off).

        Raises:
            SolverError: when there is none (thermal runaway).
        """
        solution = solve_nonlinear(self.row_stack(row), self.grid, self.method, tol=self.tol)
        return self._state(solution.system, solution.temperature)

    def step(self, row: int, scale: float, memory: np.ndarray, guess: np.ndarray) -> StepState:
        """One step by fixed-point iteration from ``guess``.

        Raises:
            SolverError: when the iteration diverges (thermal runaway within the step).
        """
        link = SinkLink(conductance=scale * self.capacity, temperature=memory)
        solution = solve_nonlinear(
            self.row_stack(row), self.grid, self.method, x0=guess, tol=self.tol,
            storage=(STORAGE, link), solver=self._solver(scale),
        )  # fmt: skip
        self.name = f"{solution.info.method} + fixed point"
        return self._state(solution.system, solution.temperature)

    def at(self, field: np.ndarray) -> StepState:
        """A given field, with every block off: its leakage, and the heat leaving it through
        the faces and into coolants (whose temperatures the heat it gives them sets)."""
        stack = self.row_stack(None)
        system = final_system(stack, self.grid, field)
        return self._state(system, field)

    def _solver(self, scale: float) -> Any:
        """The shared step solver where the matrix does not depend on the temperature
        (leakage and coolants change only b); None with k(T), whose matrix each fixed-point
        step rebuilds."""
        return None if self.stack.temperature_dependent_materials else self.step_solver(scale)

    @staticmethod
    def _state(system: System, field: np.ndarray) -> StepState:
        out = system.heat_out(field)
        out.pop(f"cavity {STORAGE}", None)  # stored, not lost
        return StepState(field, float(system.q.sum()), float(sum(out.values())))


def row_stack(stack: Stack, trace: PowerTrace, row: int | None) -> Stack:
    """``stack`` with the block powers of ``row`` (None: every block off; power maps stay,
    unless the stack has no blocks: then every source is off, so that its step response
    switches the maps on)."""
    if row is None:
        return with_block_powers(stack, {}) if trace.blocks else scaled_power(stack, 0.0)
    pairs = {
        (b.source, b.block.name): float(w)
        for b, w in zip(trace.blocks, trace.watts[row], strict=True)
    }
    return with_block_powers(stack, pairs)
