"""A transient run: the time loop over implicit steps (see :mod:`chiptherm.transient`)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Literal

import numpy as np

from chiptherm.description.stack import Stack
from chiptherm.discretize.grid import Grid
from chiptherm.errors import InputError, SolverError
from chiptherm.transient.result import BlockProbe, Recorder, TransientResult
from chiptherm.transient.steps import (
    IteratedSteps,
    LinearSteps,
    StepState,
    capacity_field,
    scheme_terms,
    step_lengths,
    step_times,
)
from chiptherm.transient.trace import PowerTrace, step_trace

Scheme = Literal["bdf2", "euler"]
SCHEMES: tuple[str, ...] = ("bdf2", "euler")
DOUBLE_EVERY = 25
RESTARTING_ROWS = 20
"""Without a given step, a trace of at most this many rows takes doubling steps that start
again at each row; a longer one takes uniform steps."""
TIME_CONSTANTS = 6.0
"""A step response runs this many time constants E/P by default (e^-6 = 0.25 % left)."""
RUNAWAY_PEAK_K = 1000.0
"""A leaky stack whose peak passes this has run away thermally; the run ends there."""


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
        stack: a stack whose materials in use all have a heat capacity.
        trace: block powers in time; default: the stack's own powers switched on at t = 0.
        duration: how long to run, s; default: the last row's start plus the longest row
            (a trace), or six time constants E/P of the step response (E the energy the
            stack stores at the last row's steady state, P its power).
        dt: the time step (the first one when steps double), s; default: duration / 400,
            or duration / 10⁵ when steps double.
        scheme: 'bdf2' (second order) or 'euler' (first order).
        initial: 'idle' (the steady state with every block off; ambients, fixed faces and
            power maps stay; with no blocks at all, every source off), 'first' (the steady
            state at the first row's power), or an (nz, ny, nx) field in K.
        double_every: double the step after this many steps, up to duration / 100, and start
            again from ``dt`` where the power changes (0: uniform steps); default, without
            ``dt``: 25 for a step response or a trace of up to 20 rows (the temperatures
            change over decades of time after each change), else 0.
        frames: how many full fields to keep besides the initial one, evenly spaced in time.
        method: the linear solver of the steps (see :mod:`chiptherm.solvers`).
        tol: relative residual tolerance of iterative solvers.
        on_step: called with (step, steps) after every step.

    Raises:
        InputError: for a material without a heat capacity, or a bad duration, step or
            initial field; or no duration for a step response that has no steady state.
        SolverError: when a solve fails (a leaky stack's thermal runaway ends the run
            instead, see :attr:`TransientResult.runaway_s`).
    """
    start = time.perf_counter()
    if scheme not in SCHEMES:
        raise InputError(f"scheme: expected one of {', '.join(SCHEMES)}, got {scheme!r}")
    trace = trace or step_trace(stack)
    grid = Grid.from_stack(stack)
    capacity = capacity_field(stack, grid)
    kind = IteratedSteps if stack.needs_iteration else LinearSteps
    model = kind(stack, grid, trace, capacity, method, tol)
    final = steady_at(model, trace.times.size - 1, stack)
    duration = run_length(duration, trace, capacity, final, model)
    if double_every is None:
        few_rows = trace.times.size <= RESTARTING_ROWS
        double_every = DOUBLE_EVERY if few_rows and dt is None else 0
    breaks = trace.times[1:].tolist()  # doubling steps start again where the power changes
    lengths = step_lengths(duration, dt, double_every, breaks)
    times = step_times(duration, dt, double_every, breaks)
    state = initial_state(initial, grid, model)
    probes = [BlockProbe.of(stack, grid, b) for b in trace.blocks]
    record = Recorder(times, len(probes), frames)
    record.state(0, state.field, probes, state.power_w, state.heat_out_w, 0.0)
    history = [state.field]
    stored, worst, runaway = 0.0, 0.0, None
    steps = times.size - 1
    for n in range(1, steps + 1):
        h = lengths[n - 1]
        weight, memory, guess = scheme_terms(scheme, lengths, n, history)
        row = trace.row_at(times[n] - 0.5 * h)  # the row in force during the step
        try:
            state = model.step(row, weight / h, memory, guess)
        except SolverError:
            if not stack.leaky_sources:
                raise
            runaway = float(times[n])
            break
        check_finite(state, n, float(times[n]))
        stored += float(np.sum(capacity * (state.field - history[-1])))
        storage = float(np.sum(weight / h * capacity * (state.field - memory)))
        scale = max(abs(state.power_w), abs(state.heat_out_w), abs(storage), 1e-300)
        worst = max(worst, abs(state.power_w - state.heat_out_w - storage) / scale)
        record.state(n, state.field, probes, state.power_w, state.heat_out_w, stored)
        history = [history[-1], state.field]
        if on_step is not None:
            on_step(n, steps)
        if stack.leaky_sources and state.field.max() > RUNAWAY_PEAK_K:
            runaway = float(times[n])
            break
    series = record.series()
    nan = np.full(len(probes), math.nan)
    return TransientResult(
        stack=stack,
        grid=grid,
        labels=trace.labels,
        times=series["times"],
        power_w=series["power_w"],
        peak_k=series["peak_k"],
        block_mean_k=series["block_mean_k"],
        block_max_k=series["block_max_k"],
        stored_j=series["stored_j"],
        heat_out_w=series["heat_out_w"],
        balance_error=worst,
        frame_times=np.array(record.frame_times),
        frames=np.array(record.frames, dtype=np.float32),
        temperature=history[-1],
        steady_peak_k=math.nan if final is None else float(final.field.max()),
        steady_block_mean_k=nan
        if final is None
        else np.array([p.mean(final.field) for p in probes]),
        scheme=scheme,
        step_response=trace.times.size == 1,
        dt=float(lengths.min()),
        method=model.name,
        seconds=time.perf_counter() - start,
        runaway_s=runaway,
    )


def steady_at(model: LinearSteps | IteratedSteps, row: int, stack: Stack) -> StepState | None:
    """The steady state at ``row``'s power, or None where a leaky stack has none."""
    try:
        return model.steady(row)
    except SolverError:
        if not stack.leaky_sources:
            raise
        return None


def run_length(
    duration: float | None,
    trace: PowerTrace,
    capacity: np.ndarray,
    final: StepState | None,
    model: LinearSteps | IteratedSteps,
) -> float:
    """The run's duration, s: as given, else the trace's last row plus its longest row, else
    six time constants E/P of the step response."""
    if duration is not None:
        if not (math.isfinite(duration) and duration > 0):
            raise InputError(f"duration: expected a positive time in s, got {duration:g}")
        return float(duration)
    if trace.times.size > 1:
        return float(trace.times[-1] + np.diff(trace.times).max())
    if final is None:
        raise InputError(
            "duration: the stack has no steady state at this power (thermal runaway), so the "
            "step response has no time constant; give the duration in s"
        )
    return step_response_length(capacity, final, model.steady(None))


def step_response_length(capacity: np.ndarray, final: StepState, idle: StepState) -> float:
    """Six time constants E/P of switching from ``idle`` to ``final`` (steady states), s: E
    the energy stored between them (``capacity`` (nz, ny, nx) J/K), P the power added."""
    energy = float(np.sum(capacity * (final.field - idle.field)))
    power = final.power_w - idle.power_w
    if power <= 0 or energy <= 0:
        raise InputError("duration: the blocks carry no power; give the duration in s")
    return TIME_CONSTANTS * energy / power


def initial_state(
    initial: Literal["idle", "first"] | np.ndarray,
    grid: Grid,
    model: LinearSteps | IteratedSteps,
) -> StepState:
    """The state at t = 0: a steady state ('idle': every block off; 'first': the first row's
    power) or a given field (nz, ny, nx) K, with the power of the idle state."""
    if isinstance(initial, np.ndarray):
        if initial.shape != grid.shape:
            raise InputError(
                f"initial: a field of shape {initial.shape}, expected {grid.shape} (nz, ny, nx)"
            )
        if not np.all(np.isfinite(initial)) or initial.min() <= 0:
            raise InputError("initial: temperatures must be finite and positive (K)")
        return model.at(np.asarray(initial, dtype=float).copy())
    if initial not in ("idle", "first"):
        raise InputError(f"initial: expected 'idle', 'first' or a field, got {initial!r}")
    return model.steady(None if initial == "idle" else 0)


def check_finite(state: StepState, n: int, t: float) -> None:
    if not np.all(np.isfinite(state.field)):
        raise SolverError(f"step {n} at t = {t:g} s: the solve returned non-finite values")
