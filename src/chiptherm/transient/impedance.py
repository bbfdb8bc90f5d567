"""Thermal impedance of a floorplan: the compact model of its temperatures in time.

For a stack linear in the power, the mean temperature of block i under any block powers
P_j(t) that start from the idle state (every block off) is

    T_i(t) = T0_i + sum_j integral Z_ij(t - s) dP_j(s),

with Z_ij(t) the rise of block i at time t after one watt is switched on in block j (K/W; the
step response, or thermal impedance, of the pair; Z_ij(∞) = R_ij of the resistance matrix,
:mod:`chiptherm.analysis.compact`). Power that steps by ΔP_jm at times t_m makes the
integral the sum sum_m ΔP_jm·Z_ij(t - t_m).

:func:`thermal_impedance` computes every Z_ij by one transient run per block, all on the
same solvers (one per step length), and fits each with a Foster network

    Z_ij(t) = sum_k r_ijk·(1 - exp(-t/τ_k)),

on fixed time constants τ_k (twenty per decade across the run) whose sum is held to the steady
resistance R_ij: each network keeps the exact steady value and answers any trace in closed
form, in microseconds instead of a transient run. A block's own impedance is a driving-point
one, a Foster network of positive resistances and capacitances, fitted with non-negative r
(scipy's NNLS); a transfer impedance starts with zero slope (the heat needs time to arrive),
which only terms of both signs follow (least squares, lightly ridged). A
block's temperature is the mean its own power sees, as in the resistance matrix; with these
weights Z is reciprocal at every time, Z_ij(t) = Z_ji(t) (A symmetric, C diagonal).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chiptherm.analysis.compact import BlockInput, HeatedCells, block_inputs, resistance_matrix
from chiptherm.description.stack import Stack
from chiptherm.discretize.grid import Grid
from chiptherm.errors import InputError, UnsupportedError
from chiptherm.tasks import Cluster, Runner
from chiptherm.transient.result import BlockProbe, time_to_value
from chiptherm.transient.run import step_response_length
from chiptherm.transient.steps import (
    LinearSteps,
    capacity_field,
    scheme_terms,
    step_lengths,
)
from chiptherm.transient.trace import PowerTrace

PER_DECADE = 20
"""Foster time constants per decade of time: a single exponential between two of them is
then followed to 3e-4 (6 per decade: 7e-3)."""
RIDGE = 1e-6
"""Tikhonov weight (squared) on a transfer network's terms: keeps terms of nearby time
constants from cancelling in large pairs."""
STEADY_WEIGHT = 1e3
"""How strongly a fit holds its network's sum to the steady resistance."""


@dataclass(frozen=True)
class ThermalImpedance:
    """Every block pair's step response and its Foster network.

    Attributes:
        stack_name: the stack.
        blocks: the power blocks, in matrix order.
        times: (s+1,) times of the computed responses, s (0 first).
        z: (s+1, n, n) computed rise of block i per watt switched on in block j, K/W.
        resistance: (n, n) the steady resistances, K/W.
        background_k: (n,) block temperatures with every block off, K.
        taus: (k,) the Foster time constants, s.
        foster: (n, n, k) the Foster resistances r_ijk, K/W (non-negative for i = j),
            symmetric in (i, j).
        fit_error: the largest gap between a network and its computed response, relative to
            the largest resistance (block means and hot spots alike).
        hotspot_cells: (n, 3) the (z, y, x) cell of each block's hot spot: the hottest cell
            it heats in the steady state at the stack's own powers.
        hotspot_z: (s+1, n, n) computed rise of hot spot i per watt switched on in block j,
            K/W (not reciprocal: a cell is not a block).
        hotspot_resistance: (n, n) their steady values, K/W.
        hotspot_background_k: (n,) the hot spots with every block off, K.
        hotspot_foster: (n, n, k) their Foster resistances, K/W.
        method: the solver of the runs.
        seconds: wall time of the extraction.
    """

    stack_name: str
    blocks: list[BlockInput]
    times: np.ndarray
    z: np.ndarray
    resistance: np.ndarray
    background_k: np.ndarray
    taus: np.ndarray
    foster: np.ndarray
    fit_error: float
    hotspot_cells: np.ndarray
    hotspot_z: np.ndarray
    hotspot_resistance: np.ndarray
    hotspot_background_k: np.ndarray
    hotspot_foster: np.ndarray
    method: str
    seconds: float

    @property
    def labels(self) -> list[str]:
        return [b.label for b in self.blocks]

    def response(self, t: np.ndarray, hotspots: bool = False) -> np.ndarray:
        """(m, n, n) Foster step responses at times ``t`` (m,) s (0 before 0) of the block
        means (or of the hot spots), K/W."""
        t = np.maximum(np.asarray(t, dtype=float), 0.0)
        rise = 1.0 - np.exp(-t[:, None] / self.taus[None, :])  # (m, k)
        return np.einsum("mk,ijk->mij", rise, self.hotspot_foster if hotspots else self.foster)

    def temperatures(
        self, trace: PowerTrace, times: np.ndarray, hotspots: bool = False
    ) -> np.ndarray:
        """(m, n) every block's mean temperature (or hot spot) at ``times`` (m,) s under
        ``trace`` (from the idle state at t = 0), K.

        Raises:
            InputError: when the trace's blocks are not this model's.
        """
        if trace.labels != self.labels:
            raise InputError(
                f"the trace's blocks ({', '.join(trace.labels)}) are not the model's "
                f"({', '.join(self.labels)})"
            )
        times = np.asarray(times, dtype=float)
        steps = np.diff(trace.watts, axis=0, prepend=np.zeros((1, len(self.blocks))))
        background = self.hotspot_background_k if hotspots else self.background_k
        out = np.tile(background, (times.size, 1))
        for start, change in zip(trace.times, steps, strict=True):
            if np.any(change):
                response = self.response(times - start, hotspots)
                out += response @ change * (times >= start)[:, None]
        return out

    def burst_power(self, limit_k: float, durations: np.ndarray) -> np.ndarray:
        """(d, n) the most power (W) each block may draw alone for each of ``durations`` (d,)
        s, from the steady state at the stack's own powers, before any hot spot reaches
        ``limit_k`` K (inf for a limit no hot spot can reach; an infinite duration gives the
        steady budget). The other blocks keep their powers. See :meth:`burst_limits`."""
        return self.burst_limits(limit_k, durations)[0]

    def burst_limits(self, limit_k: float, durations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """((d, n) the burst budget of :meth:`burst_power`, W; (d, n) the hot spot that
        reaches the limit first, an index into the blocks, -1 where none can).

        A burst of ΔP in block j lifts hot spot i by ΔP·Z_ij(t') above its nominal
        temperature. Z never falls (∂T/∂t obeys the source-free heat equation from a
        non-negative start), so the burst's end binds and ΔP may grow to the least over i of
        (T_lim - T_nom,i)/Z_ij(t). Z is the computed response within the run, interpolated,
        and the networks beyond it (the exact R for an infinite burst)."""
        nominal = np.array([b.block.watts for b in self.blocks])
        margin = limit_k - (self.hotspot_background_k + self.hotspot_resistance @ nominal)
        allowed, binding = [], []
        for duration in np.asarray(durations, dtype=float):
            z = self.hotspot_at(duration)  # (n hot spots, n blocks), K/W
            with np.errstate(divide="ignore", invalid="ignore"):
                extra = np.where(z > 0, margin[:, None] / z, np.inf)
            first = np.argmin(extra, axis=0)
            best = extra[first, np.arange(len(nominal))]
            allowed.append(np.where(np.isfinite(best), nominal + best, np.inf))
            binding.append(np.where(np.isfinite(best), first, -1))
        return np.array(allowed), np.array(binding)

    def hotspot_at(self, t: float) -> np.ndarray:
        """(n, n) hot spot i's rise per watt switched on in block j, t s later, K/W."""
        if not np.isfinite(t):
            return self.hotspot_resistance
        if t <= self.times[-1]:
            flat = self.hotspot_z.reshape(self.times.size, -1)
            rows = [np.interp(t, self.times, flat[:, k]) for k in range(flat.shape[1])]
            return np.array(rows).reshape(self.hotspot_z.shape[1:])
        return self.response(np.array([t]), True)[0]

    def time_to(self, fraction: float, i: int, j: int) -> float | None:
        """When block i's rise per watt in block j first covers ``fraction`` of R_ij, s (from
        the computed response, interpolated); None if not within the run."""
        if self.resistance[i, j] <= 0:
            return None
        return time_to_value(self.times, self.z[:, i, j], fraction * self.resistance[i, j])

    def spice(self, min_fraction: float = 1e-6) -> str:
        """A SPICE library of every block's own Foster network: per block a subcircuit
        ``zth_LABEL node ambient`` of parallel R (K/W as ohms) and C (J/K as farads,
        C = τ/r) pairs in series. A current of P amperes into ``node`` gives its temperature
        rise in volts. Terms below ``min_fraction`` of the block's resistance are left out.
        Only the driving-point networks are passive; the couplings between blocks are not
        exported."""
        lines = [
            f"* chiptherm thermal impedance of {self.stack_name}: Foster networks, block means",
            "* node voltage = temperature rise (K) for a current = power (W) into it",
        ]
        for i, label in enumerate(self.labels):
            name = "".join(c if c.isalnum() else "_" for c in label)
            terms = [
                (r, tau)
                for r, tau in zip(self.foster[i, i], self.taus, strict=True)
                if r > min_fraction * self.resistance[i, i]
            ]
            lines.append(f".subckt zth_{name} node ambient")
            for k, (r, tau) in enumerate(terms):
                top = "node" if k == 0 else f"n{k}"
                bottom = "ambient" if k == len(terms) - 1 else f"n{k + 1}"
                lines.append(f"R{k + 1} {top} {bottom} {r:.9g}")
                lines.append(f"C{k + 1} {top} {bottom} {tau / r:.9g}")
            lines.append(f".ends zth_{name}")
        return "\n".join(lines) + "\n"

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary: the blocks, R, every network's (τ, r) terms, and the time
        each pair's response takes to 63 % of its steady value."""
        n = len(self.blocks)
        return {
            "stack": self.stack_name,
            "method": self.method,
            "seconds": self.seconds,
            "blocks": self.labels,
            "background_k": self.background_k.tolist(),
            "resistance_k_per_w": self.resistance.tolist(),
            "fit_error": self.fit_error,
            "taus_s": self.taus.tolist(),
            "foster_k_per_w": self.foster.tolist(),
            "time_to_63_s": [
                [self.time_to(1 - math.exp(-1), i, j) for j in range(n)] for i in range(n)
            ],
            "hotspot_cells": self.hotspot_cells.tolist(),
            "hotspot_background_k": self.hotspot_background_k.tolist(),
            "hotspot_resistance_k_per_w": self.hotspot_resistance.tolist(),
            "hotspot_foster_k_per_w": self.hotspot_foster.tolist(),
        }


def thermal_impedance(
    stack: Stack,
    duration: float | None = None,
    double_every: int = 25,
    method: str = "auto",
    tol: float = 1e-10,
    on_block: Callable[[int, int], None] | None = None,
    cluster: Cluster | None = None,
) -> ThermalImpedance:
    """Compute and fit the thermal impedance of every pair of ``stack``'s power blocks.

    Args:
        stack: a stack linear in the power with at least one block and heat capacities.
        duration: how long each step response runs, s; default: six time constants E/P of
            the stack's own powers switched on (E the energy stored at steady state).
        double_every: steps from duration / 10⁵ double after this many steps (BDF2).
        method, tol: the linear solver of the steps.
        on_block: told (done, total) after each step of the runs, in steps of all blocks.
        cluster: where the runs go (:mod:`chiptherm.tasks`): None, here, all blocks on the
            same solvers; on a cluster the resistance matrix's blocks and the step responses
            of groups of :data:`BLOCKS_PER_RUN` blocks are tasks, each building its own
            solvers (one per step length).

    Raises:
        UnsupportedError: for a stack not linear in the power (k(T), leakage, coolants).
        InputError: for a stack without blocks, or a material without a heat capacity.
    """
    start = time.perf_counter()
    if stack.needs_iteration:
        raise UnsupportedError(
            f"a thermal impedance needs a stack linear in the power; {stack.name!r} has "
            f"{', '.join(stack.nonlinearities + stack.coolants)}"
        )
    blocks = block_inputs(stack)
    if not blocks:
        raise InputError(f"{stack.name!r} has no power blocks")
    n = len(blocks)
    runs = StepRuns(stack, method, tol)
    idle = runs.model.steady(None)
    if duration is None:
        duration = step_response_length(runs.capacity, runs.model.steady(n), idle)
    elif not (math.isfinite(duration) and duration > 0):
        raise InputError(f"duration: expected a positive time in s, got {duration:g}")
    lengths = step_lengths(duration, None, double_every)
    times = np.concatenate([[0.0], np.cumsum(lengths)])
    with Runner(cluster) as runner:
        steady = resistance_matrix(stack, method, tol, cluster=runner)
        heated = steady.heated
        hot = [hottest_heated(heated, steady.nominal_w, i) for i in range(n)]
        cells = heated.index[hot]  # flat indices of the hot spots
        if cluster is None:
            z, hotspot_z = runs.responses(list(range(n)), idle.field, lengths, cells, on_block)
        else:
            groups = [list(range(n))[i : i + BLOCKS_PER_RUN] for i in range(0, n, BLOCKS_PER_RUN)]
            tasks = [StepRunTask(stack, method, tol, g, idle.field, lengths, cells) for g in groups]
            steps = times.size - 1

            def report(done: int, count: int) -> None:  # groups done, told as steps of all
                if on_block is not None:
                    on_block(done * steps // count, steps)

            parts = runner.run(step_run_task, tasks, report, expected=())
            z = np.concatenate([p[0] for p in parts], axis=2)
            hotspot_z = np.concatenate([p[1] for p in parts], axis=2)
    taus, foster, fit_error = fit_foster(times, z, steady.resistance)
    hotspot_resistance = heated.response[hot]
    _, hotspot_foster, hotspot_error = fit_foster(
        times, hotspot_z, hotspot_resistance, reciprocal=False
    )
    return ThermalImpedance(
        stack_name=stack.name,
        blocks=blocks,
        times=times,
        z=z,
        resistance=steady.resistance,
        background_k=steady.background_k,
        taus=taus,
        foster=foster,
        fit_error=max(fit_error, hotspot_error),
        hotspot_cells=np.array([heated.position(k) for k in hot]),
        hotspot_z=hotspot_z,
        hotspot_resistance=hotspot_resistance,
        hotspot_background_k=heated.background_k[hot],
        hotspot_foster=hotspot_foster,
        method=runs.model.name,
        seconds=time.perf_counter() - start,
    )


BLOCKS_PER_RUN = 4
"""Blocks whose step responses one task of an impedance on a cluster computes, on one set of
step solvers (building them costs about as much as a few blocks' steps)."""


class StepRuns:
    """The step responses of a stack's blocks: one watt switched on in a block from the idle
    state, by BDF2 on :class:`~chiptherm.transient.steps.LinearSteps` (rows 0..n-1 of its
    trace: one watt in one block; row n: the stack's own powers)."""

    def __init__(self, stack: Stack, method: str, tol: float) -> None:
        blocks = block_inputs(stack)
        n = len(blocks)
        self.grid = Grid.from_stack(stack)
        self.capacity = capacity_field(stack, self.grid)
        rows = np.vstack([np.eye(n), [[b.block.watts for b in blocks]]])
        trace = PowerTrace(np.arange(n + 1.0), rows, blocks)
        self.model = LinearSteps(stack, self.grid, trace, self.capacity, method, tol)
        self.probes = [BlockProbe.of(stack, self.grid, b) for b in blocks]

    def responses(
        self,
        columns: list[int],
        idle: np.ndarray,
        lengths: np.ndarray,
        cells: np.ndarray,
        on_step: Callable[[int, int], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The rises (K/W) of every block's mean, (T, n, c), and of every block's hot spot
        (flat ``cells``, (n,)), (T, n, c), at the T = len(lengths) + 1 instants, for one watt
        switched on in each of the c blocks ``columns``; from the ``idle`` field (nz, ny, nx)
        K, all columns stepping together so that each step length's solver serves them all."""
        base_means = np.array([p.mean(idle) for p in self.probes])
        n, c = len(self.probes), len(columns)
        z = np.zeros((lengths.size + 1, n, c))
        hotspot_z = np.zeros((lengths.size + 1, n, c))
        histories = [[idle] for _ in columns]
        for step in range(1, lengths.size + 1):
            h = lengths[step - 1]
            for k, j in enumerate(columns):
                weight, memory, guess = scheme_terms("bdf2", lengths, step, histories[k])
                field = self.model.step(j, weight / h, memory, guess).field
                z[step, :, k] = [p.mean(field) for p in self.probes] - base_means
                hotspot_z[step, :, k] = field.ravel()[cells] - idle.ravel()[cells]
                histories[k] = [histories[k][-1], field]
            if on_step is not None:
                on_step(step, lengths.size)
        return z, hotspot_z


@dataclass(frozen=True)
class StepRunTask:
    """The step responses of a group of blocks, for a worker: the stack, its solver, the
    blocks' indices, the idle field (nz, ny, nx) K, the step lengths (s) and the hot-spot
    cells (flat indices)."""

    stack: Stack
    method: str
    tol: float
    columns: list[int]
    idle: np.ndarray
    lengths: np.ndarray
    cells: np.ndarray


def step_run_task(task: StepRunTask) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`StepRuns.responses` of one group of blocks (a task of :func:`thermal_impedance`)."""
    runs = StepRuns(task.stack, task.method, task.tol)
    return runs.responses(task.columns, task.idle, task.lengths, task.cells)


def hottest_heated(heated: HeatedCells, watts: np.ndarray, block: int) -> int:
    """The heated cell (row of ``heated``) that ``block`` heats and that is hottest at block
    powers ``watts`` (n,) W."""
    temperatures = np.where(heated.owners[:, block], heated.temperatures(watts), -np.inf)
    return int(np.argmax(temperatures))


def fit_foster(
    times: np.ndarray, z: np.ndarray, resistance: np.ndarray, reciprocal: bool = True
) -> tuple[np.ndarray, np.ndarray, float]:
    """Foster networks of the responses ``z`` (s+1, n, n) K/W at ``times`` (s+1,) s, each
    held to its steady ``resistance`` (n, n) K/W, one per pair (i, j), or per reciprocal
    pair: (taus (k,) s, r (n, n, k) K/W, the largest gap relative to the largest
    resistance). Without reciprocity (a hot spot's response to a block) every network takes
    terms of both signs."""
    from scipy.optimize import nnls  # scipy.optimize takes 0.2 s to import

    first = times[1] if times.size > 1 else 1.0
    decades = max(math.log10(times[-1] / first), 1.0)
    taus = np.logspace(
        math.log10(first / 2), math.log10(2 * times[-1]), round(decades * PER_DECADE)
    )
    basis = 1.0 - np.exp(-times[:, None] / taus[None, :])  # (s+1, k)
    system = np.vstack([basis, STEADY_WEIGHT * np.ones((1, taus.size))])
    ridged = np.vstack([system, math.sqrt(RIDGE) * np.eye(taus.size)])
    n = z.shape[1]
    foster = np.zeros((n, n, taus.size))
    for i in range(n):
        for j in range(i if reciprocal else 0, n):
            if reciprocal:  # one network for (i, j) and (j, i)
                pair, steady = (
                    0.5 * (z[:, i, j] + z[:, j, i]),
                    0.5 * (resistance[i, j] + resistance[j, i]),
                )
            else:
                pair, steady = z[:, i, j], resistance[i, j]
            target = np.append(pair, STEADY_WEIGHT * steady)
            if reciprocal and i == j:  # a driving point: a Foster network of positive R and C
                foster[i, i], _ = nnls(system, target)
            else:  # a transfer impedance starts late (zero slope): terms of either sign
                target = np.append(target, np.zeros(taus.size))
                foster[i, j] = np.linalg.lstsq(ridged, target, rcond=None)[0]
                if reciprocal:
                    foster[j, i] = foster[i, j]
    fitted = np.einsum("sk,ijk->sij", basis, foster)
    scale = float(np.abs(resistance).max()) or 1.0
    return taus, foster, float(np.abs(fitted - z).max() / scale)
