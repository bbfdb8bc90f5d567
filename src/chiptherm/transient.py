"""Transient heat conduction: how the temperature of a stack follows its power in time.

The finite-volume system of the steady solver, with the heat capacity C of every cell (J/K,
the volumetric heat capacity ρ·c_p of its material times its volume):

    C dT/dt = b(t) - A·T,

where b(t) carries the power at time t: block powers from a trace, each row held until the
next (power maps, ambients and fixed faces stay constant); a step takes the row in force at
its midpoint. Steps are implicit, so any Δt is
stable:

- ``bdf2`` (default), the second-order backward differentiation formula after one
  backward-Euler step: (3/2·C/Δt + A)·T_{n+1} = C/Δt·(2·T_n - T_{n-1}/2) + b_{n+1}. It is
  L-stable: the sudden steps of a power trace decay instead of ringing as they would under
  Crank-Nicolson;
- ``euler``: backward Euler, (C/Δt + A)·T_{n+1} = C/Δt·T_n + b_{n+1}, first order.

Either way the matrix A + c·C/Δt stays the same from step to step: a steady system with one
more link per cell, to its own earlier temperatures through the conductance c·C/Δt, which
the solvers treat like a cavity's coolant link. One solver is built once (the transform
solver where the stack is laterally uniform, else a factorization or preconditioned CG
warm-started by extrapolating the last two steps) and each step costs one solve.

The energy balance holds step by step: the power put in equals the change of stored energy
plus the heat leaving through the faces, exactly for backward Euler and for BDF2's own
three-level storage term. :class:`TransientResult` records both, with the peak and every
block's temperature at every step and a few full fields.

Stacks whose temperature is not linear in the power (k(T), leakage, a coolant warming along
its flow) are refused: each step would be a fixed-point iteration of its own.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from chiptherm.compact import BlockInput, block_inputs, unit_block_field, with_block_powers
from chiptherm.errors import InputError, SolverError, UnsupportedError
from chiptherm.grid import Grid
from chiptherm.solvers import make_solver
from chiptherm.stack import Stack
from chiptherm.system import SinkLink, System, power_field

Scheme = Literal["bdf2", "euler"]
SCHEMES: tuple[str, ...] = ("bdf2", "euler")
STORAGE = "heat capacity"
"""The name of the storage link among a step system's sinks."""
DEFAULT_STEPS = 400
DOUBLE_EVERY = 25
TIME_CONSTANTS = 6.0
"""A step response runs this many time constants E/P by default (e^-6 = 0.25 % left)."""


# -- heat capacity -----------------------------------------------------------------------------
def capacity_field(stack: Stack, grid: Grid) -> np.ndarray:
    """(nz, ny, nx) heat capacity of every cell, J/K, with layer regions painted in.

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
            rho_c[block][:, mask] = capacity
    volume = grid.dx * grid.dy * grid.dz[:, None, None]
    return rho_c * volume


# -- power traces ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PowerTrace:
    """Block powers in time, each row held from its time until the next row's.

    Attributes:
        times: (m,) start of each row, s; strictly increasing, the first at 0.
        watts: (m, n) power of every block of ``blocks`` in each row, W.
        blocks: the power blocks of the stack (see :func:`chiptherm.compact.block_inputs`).
    """

    times: np.ndarray
    watts: np.ndarray
    blocks: list[BlockInput]

    @property
    def labels(self) -> list[str]:
        return [b.label for b in self.blocks]

    def row_at(self, t: float) -> int:
        """The row in force at time ``t`` (s): the last one that starts at or before it."""
        return max(int(np.searchsorted(self.times, t, side="right")) - 1, 0)

    def total_w(self, row: int) -> float:
        return float(self.watts[row].sum())


def step_trace(stack: Stack) -> PowerTrace:
    """The stack's own block powers switched on at t = 0 (a step response)."""
    blocks = block_inputs(stack)
    return PowerTrace(np.zeros(1), np.array([[b.block.watts for b in blocks]]), blocks)


def read_power_trace(path: str | Path, stack: Stack) -> PowerTrace:
    """Read a power trace of ``stack``'s blocks from a CSV file.

    The header holds a 'time' column (s) and block names (as ``chiptherm resistances``
    labels them); each row gives the powers (W) from its time on. Times start at 0 and
    increase; blocks the file does not name keep their power from the stack file.

    Raises:
        InputError: naming the file, the line and the column of anything else.
    """
    path = Path(path)
    blocks = block_inputs(stack)
    labels = [b.label for b in blocks]
    try:
        rows = list(csv.reader(io.StringIO(path.read_text())))
    except OSError as exc:
        raise InputError(f"{path}: cannot read the power trace: {exc.strerror}") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise InputError(f"{path}: empty; expected a header 'time' and block names, then rows")
    header = [cell.strip() for cell in rows[0]]
    if "time" not in header:
        raise InputError(f"{path}:1: no 'time' column (s); the header is {', '.join(header)}")
    for column, name in enumerate(header, start=1):
        if name != "time" and name not in labels:
            raise InputError(
                f"{path}:1: column {column}: unknown block {name!r}; the blocks are "
                f"{', '.join(labels) or 'none'} (and 'time')"
            )
    if len(set(header)) != len(header):
        raise InputError(f"{path}:1: a column name repeats")
    times: list[float] = []
    watts: list[list[float]] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise InputError(f"{path}:{line}: {len(row)} values, expected {len(header)}")
        values = [b.block.watts for b in blocks]
        for column, (name, cell) in enumerate(zip(header, row, strict=True), start=1):
            value = _number(path, line, column, name, cell)
            if name == "time":
                if times and value <= times[-1]:
                    raise InputError(
                        f"{path}:{line}: column {column} (time): {value:g} s does not come "
                        f"after the previous row's {times[-1]:g} s"
                    )
                if not times and value != 0.0:
                    raise InputError(
                        f"{path}:{line}: column {column} (time): the first row must start "
                        f"at 0 s, got {value:g}"
                    )
                times.append(value)
            else:
                if value < 0:
                    raise InputError(
                        f"{path}:{line}: column {column} ({name}): expected a power of at "
                        f"least 0 W, got {cell.strip()}"
                    )
                values[labels.index(name)] = value
        watts.append(values)
    if not times:
        raise InputError(f"{path}: no rows below the header")
    return PowerTrace(np.array(times), np.array(watts).reshape(len(times), len(blocks)), blocks)


def _number(path: Path, line: int, column: int, name: str, cell: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        unit = "s" if name == "time" else "W"
        raise InputError(
            f"{path}:{line}: column {column} ({name}): {cell.strip()!r} is not a number ({unit})"
        ) from None
    if not math.isfinite(value):
        raise InputError(f"{path}:{line}: column {column} ({name}): {cell.strip()} is not finite")
    return value


# -- the result --------------------------------------------------------------------------------
@dataclass(frozen=True)
class TransientResult:
    """A transient run.

    Attributes:
        stack: the stack.
        grid: its discretization.
        labels: (n,) block labels.
        times: (s+1,) time of every step's end, the initial state first, s.
        power_w: (s+1,) total block and map power during the step that ends there, W; first
            the power of the initial state (every block off when it is 'idle').
        peak_k: (s+1,) hottest cell, K.
        block_mean_k: (s+1, n) every block's mean temperature (weighted by its power, as
            ``solve`` reports it), K.
        block_max_k: (s+1, n) the hottest cell each block heats, K.
        stored_j: (s+1,) energy stored above the initial state, J.
        heat_out_w: (s+1,) heat leaving through the faces, W.
        balance_error: the largest relative error of the discrete energy balance of a step.
        frame_times: (f,) times of the saved fields, s.
        frames: (f, nz, ny, nx) saved fields, K (float32).
        temperature: (nz, ny, nx) the last field, K.
        steady_peak_k: the hottest cell of the steady state at the last row's power, K.
        steady_block_mean_k: (n,) the blocks' means in that steady state, K.
        scheme: 'bdf2' or 'euler'.
        dt: the shortest time step, s.
        method: the solver of the steps.
        seconds: wall time of the run, s.
    """

    stack: Stack
    grid: Grid
    labels: list[str]
    times: np.ndarray
    power_w: np.ndarray
    peak_k: np.ndarray
    block_mean_k: np.ndarray
    block_max_k: np.ndarray
    stored_j: np.ndarray
    heat_out_w: np.ndarray
    balance_error: float
    frame_times: np.ndarray
    frames: np.ndarray
    temperature: np.ndarray
    steady_peak_k: float
    steady_block_mean_k: np.ndarray
    scheme: str
    dt: float
    method: str
    seconds: float

    def time_to(self, fraction: float) -> float | None:
        """The first time (s) at which the peak has covered ``fraction`` of its way from its
        initial value to the steady peak of the last row's power, interpolated between steps;
        None if it does not within the run."""
        start, end = float(self.peak_k[0]), self.steady_peak_k
        return time_to_value(self.times, self.peak_k, start + fraction * (end - start))

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary: settings, extremes, time to 63/90/99 % of the steady peak."""
        hottest = int(np.argmax(self.peak_k))
        return {
            "stack": self.stack.name,
            "scheme": self.scheme,
            "dt_s": self.dt,
            "steps": len(self.times) - 1,
            "duration_s": float(self.times[-1]),
            "method": self.method,
            "seconds": self.seconds,
            "cells": self.grid.size,
            "initial_peak_k": float(self.peak_k[0]),
            "final_peak_k": float(self.peak_k[-1]),
            "max_peak_k": float(self.peak_k[hottest]),
            "max_peak_time_s": float(self.times[hottest]),
            "steady_peak_k": self.steady_peak_k,
            "time_to_63_s": self.time_to(1.0 - math.exp(-1.0)),
            "time_to_90_s": self.time_to(0.9),
            "time_to_99_s": self.time_to(0.99),
            "balance_error": self.balance_error,
            "blocks": [
                {
                    "label": label,
                    "max_mean_k": float(self.block_mean_k[:, j].max()),
                    "max_k": float(self.block_max_k[:, j].max()),
                    "final_mean_k": float(self.block_mean_k[-1, j]),
                    "steady_mean_k": float(self.steady_block_mean_k[j]),
                }
                for j, label in enumerate(self.labels)
            ],
        }

    def rows(self) -> list[dict[str, float]]:
        """One row per step for a CSV file: time, power, peak, every block's mean and max."""
        out = []
        for i, t in enumerate(self.times):
            row = {
                "time_s": float(t),
                "power_w": float(self.power_w[i]),
                "peak_k": float(self.peak_k[i]),
            }
            for j, label in enumerate(self.labels):
                row[f"{label}_mean_k"] = float(self.block_mean_k[i, j])
                row[f"{label}_max_k"] = float(self.block_max_k[i, j])
            row["stored_j"] = float(self.stored_j[i])
            row["heat_out_w"] = float(self.heat_out_w[i])
            out.append(row)
        return out


def time_to_value(times: np.ndarray, values: np.ndarray, target: float) -> float | None:
    """The first time (s) at which ``values`` reach ``target`` in the direction they start
    moving from ``values[0]``, linearly interpolated; None if they never do."""
    rising = target >= values[0]
    reached = values >= target if rising else values <= target
    hits = np.flatnonzero(reached)
    if hits.size == 0:
        return None
    i = int(hits[0])
    if i == 0:
        return float(times[0])
    v0, v1 = values[i - 1], values[i]
    share = (target - v0) / (v1 - v0) if v1 != v0 else 1.0
    return float(times[i - 1] + share * (times[i] - times[i - 1]))


# -- block temperatures ------------------------------------------------------------------------
@dataclass(frozen=True)
class BlockProbe:
    """The cells one block heats and their weights: its mean is weights·T[cells]."""

    cells: np.ndarray
    weights: np.ndarray

    @classmethod
    def of(cls, stack: Stack, grid: Grid, block: BlockInput) -> BlockProbe:
        unit = unit_block_field(stack, grid, block.source, block.block.name).ravel()
        cells = np.flatnonzero(unit > 0)
        return cls(cells, unit[cells] / unit[cells].sum())

    def mean(self, temperature: np.ndarray) -> float:
        return float(self.weights @ temperature.ravel()[self.cells])

    def max(self, temperature: np.ndarray) -> float:
        return float(temperature.ravel()[self.cells].max())


# -- the run -----------------------------------------------------------------------------------
def simulate(
    stack: Stack,
    trace: PowerTrace | None = None,
    duration: float | None = None,
    dt: float | None = None,
    scheme: Scheme = "bdf2",
    initial: Literal["idle", "first"] | np.ndarray = "idle",
    double_every: int | None = None,
    frames: int = 10,
    method: str = "auto",
    tol: float = 1e-10,
    on_step: Callable[[int, int], None] | None = None,
) -> TransientResult:
    """Integrate the stack's temperature in time under a power trace.

    Args:
        stack: a linear stack whose materials in use all have a heat capacity.
        trace: block powers in time; default: the stack's own powers switched on at t = 0.
        duration: how long to run, s; default: the last row's start plus the longest row
            (a trace), or six time constants E/P of the step response (E the energy the
            stack stores at the last row's steady state, P its power).
        dt: the time step (the first one when steps double), s; default: duration / 400,
            or duration / 10⁵ when steps double.
        scheme: 'bdf2' (second order) or 'euler' (first order).
        initial: 'idle' (the steady state with every block off; ambients, fixed faces and
            power maps stay), 'first' (the steady state at the first row's power), or an
            (nz, ny, nx) field in K.
        double_every: double the step after this many steps, up to duration / 100 (0: keep
            it); default: 25 for a step response without ``dt`` (its temperatures change
            over decades of time), else 0.
        frames: how many full fields to keep besides the initial one, evenly spaced in time.
        method: the solver of the steps (see :mod:`chiptherm.solvers`).
        tol: relative residual tolerance of iterative solvers.
        on_step: called with (step, steps) after every step.

    Raises:
        UnsupportedError: for a stack that is not linear in the power.
        InputError: for a material without a heat capacity, or a bad duration, step or
            initial field.
        SolverError: when an iterative solve fails.
    """
    start = time.perf_counter()
    if stack.needs_iteration:
        raise UnsupportedError(
            f"transient runs need a stack that is linear in the power; {stack.name!r} has "
            f"{', '.join(stack.nonlinearities + stack.coolants)}"
        )
    if scheme not in SCHEMES:
        raise InputError(f"scheme: expected one of {', '.join(SCHEMES)}, got {scheme!r}")
    trace = trace or step_trace(stack)
    grid = Grid.from_stack(stack)
    base = System.from_stack(stack, grid)
    capacity = capacity_field(stack, grid)
    powers = RowPowers(stack, grid, trace)
    steady = make_solver(base, method)
    last = trace.times.size - 1
    steady_field, _ = steady.solve(base.rhs_for(powers.q(last)), tol=tol)
    duration = _duration(duration, trace, capacity, steady_field, base, steady, powers)
    if double_every is None:
        double_every = DOUBLE_EVERY if trace.times.size == 1 and dt is None else 0
    times = step_times(duration, dt, double_every)
    steps = times.size - 1
    temperature = _initial(initial, base, steady, powers, tol)
    probes = [BlockProbe.of(stack, grid, b) for b in trace.blocks]

    record = Recorder(times, len(probes), frames)
    idle = isinstance(initial, str) and initial == "idle"
    start_power = float(powers.idle().sum()) if idle else powers.total(0)
    record.state(0, temperature, probes, start_power, base, 0.0)
    solvers = StepSolvers(base, capacity, method)
    history = [temperature]
    stored = 0.0
    worst = 0.0
    for n in range(1, steps + 1):
        h = times[n] - times[n - 1]
        if n == 1 or scheme == "euler":
            weight, memory, guess = 1.0, history[-1], history[-1]
        else:  # variable-step BDF2; ratio 1 gives 3/2·T_{n+1} - 2·T_n + 1/2·T_{n-1}
            ratio = h / (times[n - 1] - times[n - 2])
            weight = (1 + 2 * ratio) / (1 + ratio)
            memory = ((1 + ratio) * history[-1] - ratio**2 / (1 + ratio) * history[-2]) / weight
            guess = history[-1] + ratio * (history[-1] - history[-2])
        q = powers.q(trace.row_at(times[n] - 0.5 * h))  # the row in force during the step
        storage = weight * capacity / h
        field, _ = solvers.get(weight / h).solve(
            base.rhs_for(q) + storage * memory, x0=guess, tol=tol
        )
        field = np.asarray(field).reshape(grid.shape)
        if not np.all(np.isfinite(field)):
            raise SolverError(
                f"step {n} at t = {times[n]:g} s: the solve returned non-finite values"
            )
        stored += float(np.sum(capacity * (field - history[-1])))
        heat_out = float(sum(base.heat_out(field).values()))
        scheme_storage = float(np.sum(storage * (field - memory)))
        power = float(q.sum())
        scale = max(abs(power), abs(heat_out), abs(scheme_storage), 1e-300)
        worst = max(worst, abs(power - heat_out - scheme_storage) / scale)
        record.state(n, field, probes, power, base, stored)
        history = [history[-1], field]
        if on_step is not None:
            on_step(n, steps)
    probe_means = np.array([p.mean(steady_field) for p in probes])
    return TransientResult(
        stack=stack,
        grid=grid,
        labels=trace.labels,
        times=record.times,
        power_w=record.power,
        peak_k=record.peak,
        block_mean_k=record.block_mean,
        block_max_k=record.block_max,
        stored_j=record.stored,
        heat_out_w=record.heat_out,
        balance_error=worst,
        frame_times=np.array(record.frame_times),
        frames=np.array(record.frames, dtype=np.float32),
        temperature=history[-1],
        steady_peak_k=float(np.max(steady_field)),
        steady_block_mean_k=probe_means,
        scheme=scheme,
        dt=float(np.diff(times).min()),
        method=solvers.name,
        seconds=time.perf_counter() - start,
    )


class RowPowers:
    """The power field of every trace row, built when first asked for."""

    def __init__(self, stack: Stack, grid: Grid, trace: PowerTrace) -> None:
        self.stack, self.grid, self.trace = stack, grid, trace
        self._fields: dict[int, np.ndarray] = {}

    def q(self, row: int) -> np.ndarray:
        """(nz, ny, nx) power per cell during ``row``, W."""
        if row not in self._fields:
            pairs = {
                (b.source, b.block.name): float(w)
                for b, w in zip(self.trace.blocks, self.trace.watts[row], strict=True)
            }
            self._fields[row] = power_field(with_block_powers(self.stack, pairs), self.grid)
        return self._fields[row]

    def total(self, row: int) -> float:
        return float(self.q(row).sum())

    def idle(self) -> np.ndarray:
        """(nz, ny, nx) power with every block off (power maps stay), W."""
        return power_field(with_block_powers(self.stack, {}), self.grid)


class Recorder:
    """Per-step series and the saved frames of a run over ``times`` (s+1,) s."""

    def __init__(self, times: np.ndarray, blocks: int, frames: int) -> None:
        count = times.size
        self.times = times
        self.power = np.zeros(count)
        self.peak = np.zeros(count)
        self.block_mean = np.zeros((count, blocks))
        self.block_max = np.zeros((count, blocks))
        self.stored = np.zeros(count)
        self.heat_out = np.zeros(count)
        wanted = np.linspace(0.0, times[-1], frames + 1)  # evenly spaced in time
        nearest = np.abs(times[None, :] - wanted[:, None]).argmin(axis=1)
        self.frame_steps = set(nearest.tolist())
        self.frame_times: list[float] = []
        self.frames: list[np.ndarray] = []

    def state(
        self,
        n: int,
        field: np.ndarray,
        probes: list[BlockProbe],
        power: float,
        system: System,
        stored: float,
    ) -> None:
        self.power[n] = power
        self.peak[n] = float(field.max())
        self.block_mean[n] = [p.mean(field) for p in probes]
        self.block_max[n] = [p.max(field) for p in probes]
        self.stored[n] = stored
        self.heat_out[n] = float(sum(system.heat_out(field).values()))
        if n in self.frame_steps:
            self.frame_times.append(float(self.times[n]))
            self.frames.append(field.astype(np.float32))


class StepSolvers:
    """Solvers of the step systems A + s·C, by s (1/s), built when first needed; only the
    two latest are kept (a step that doubles needs a new one, the earlier ones never return)."""

    def __init__(self, base: System, capacity: np.ndarray, method: str) -> None:
        self.base, self.capacity, self.method = base, capacity, method
        self._solvers: dict[float, Any] = {}
        self.name = ""

    def get(self, scale: float) -> Any:
        """The solver of A + scale·C, scale in 1/s."""
        if scale not in self._solvers:
            if len(self._solvers) >= 2:
                self._solvers.pop(next(iter(self._solvers)))
            link = SinkLink(conductance=scale * self.capacity, temperature=0.0)
            system = dataclasses.replace(self.base, sinks={**self.base.sinks, STORAGE: link})
            self._solvers[scale] = make_solver(system, self.method)
        solver = self._solvers[scale]
        self.name = solver.name
        return solver


def step_times(duration: float, dt: float | None, double_every: int) -> np.ndarray:
    """(s+1,) the times at the ends of the steps, from 0 to ``duration`` s.

    Uniform steps of ``dt`` (default duration / 400), the last one shortened to land on the
    duration; or, with ``double_every`` N > 0, steps starting at ``dt`` (default
    duration / 10⁵) that double after every N steps until they reach duration / 100."""
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
            return np.linspace(0.0, duration, count + 1)
        return np.append(np.arange(math.floor(duration / dt) + 1) * dt, duration)
    largest = max(duration / 100, dt)
    times = [0.0]
    step, taken = dt, 0
    while times[-1] < duration * (1 - 1e-12):
        times.append(min(times[-1] + step, duration))
        taken += 1
        if taken % double_every == 0:
            step = min(2 * step, largest)
    return np.array(times)


def _duration(
    duration: float | None,
    trace: PowerTrace,
    capacity: np.ndarray,
    steady_field: np.ndarray,
    base: System,
    steady: Any,
    powers: RowPowers,
) -> float:
    if duration is not None:
        if not (math.isfinite(duration) and duration > 0):
            raise InputError(f"duration: expected a positive time in s, got {duration:g}")
        return float(duration)
    if trace.times.size > 1:
        return float(trace.times[-1] + np.diff(trace.times).max())
    idle = steady.solve(base.rhs_for(powers.idle()), tol=1e-12)[0]
    energy = float(np.sum(capacity * (steady_field - idle.reshape(steady_field.shape))))
    power = powers.total(0) - float(powers.idle().sum())
    if power <= 0 or energy <= 0:
        raise InputError("duration: the blocks carry no power; give the duration in s")
    return TIME_CONSTANTS * energy / power


def _initial(
    initial: Literal["idle", "first"] | np.ndarray,
    base: System,
    steady: Any,
    powers: RowPowers,
    tol: float,
) -> np.ndarray:
    if isinstance(initial, np.ndarray):
        if initial.shape != base.shape:
            raise InputError(
                f"initial: a field of shape {initial.shape}, expected {base.shape} (nz, ny, nx)"
            )
        if not np.all(np.isfinite(initial)) or initial.min() <= 0:
            raise InputError("initial: temperatures must be finite and positive (K)")
        return np.asarray(initial, dtype=float).copy()
    if initial not in ("idle", "first"):
        raise InputError(f"initial: expected 'idle', 'first' or a field, got {initial!r}")
    q = powers.idle() if initial == "idle" else powers.q(0)
    field, _ = steady.solve(base.rhs_for(q), tol=tol)
    return np.asarray(field).reshape(base.shape)
