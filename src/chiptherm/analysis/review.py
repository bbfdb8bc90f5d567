"""A design review of one stack: its temperatures and how far to trust them, what drives the
peak, and how much room is left.

One call puts together what the separate tools say about a stack:

- the solution (:func:`chiptherm.solvers.result.solve`);
- its discretization error: a grid convergence study on the stack's grid and two grids 2×
  and 4× coarser (:mod:`chiptherm.analysis.convergence`), which bounds the peak's distance to the
  grid-independent value;
- what moves the peak: the sensitivities to every parameter and block position
  (:mod:`chiptherm.analysis.sensitivity`);
- with tolerances, the peak's uncertainty (:mod:`chiptherm.analysis.tolerance`);
- the headroom: the factor on all power at which the hottest cell reaches a temperature
  limit (exact for a stack linear in the power, coolants included: T = T₀ + s·(T₁ - T₀)
  cell by cell, T₀ the field without power; bisected over solves with k(T) or leakage), and,
  for a stack with leakage, the factor at which it runs away thermally.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chiptherm.analysis.compact import block_inputs, unit_block_field
from chiptherm.analysis.convergence import Study, convergence_study
from chiptherm.analysis.sensitivity import Sensitivity, sensitivity
from chiptherm.analysis.tolerance import (
    LinearUncertainty,
    MonteCarlo,
    assign_tolerances,
    linear_uncertainty,
    monte_carlo,
)
from chiptherm.description.stack import Stack
from chiptherm.discretize.grid import Grid
from chiptherm.errors import ChipthermError, InputError, SolverError
from chiptherm.solvers.nonlinear import RunawayMargin, bisect_factor, runaway_margin, scaled_power
from chiptherm.solvers.result import Result, solve
from chiptherm.tasks import Cluster, Runner


@dataclass(frozen=True)
class DesignReview:
    """Everything :func:`design_review` found about one stack.

    Attributes:
        result: the solution on the stack's grid.
        grid: the convergence study (None when it could not run; ``grid_note`` says why).
        grid_note: why there is no study, or ''.
        drivers: the sensitivities of the peak.
        tolerances: the relative σ of every toleranced parameter, by key.
        uncertainty: the first-order uncertainty of the peak from the tolerances, or None.
        sampled: the Monte Carlo run, or None.
        limit_k: the temperature limit of every cell, K, or None.
        block_limits: the blocks' own limits on the cells they heat, K, by label.
        headroom: the factor on all power at which a cell reaches its limit, and which limit,
            or None without limits.
        runaway: the thermal runaway margin (stacks with leakage), or None.
        seconds: wall time.
    """

    result: Result
    grid: Study | None
    grid_note: str
    drivers: Sensitivity
    tolerances: dict[str, float]
    uncertainty: LinearUncertainty | None
    sampled: MonteCarlo | None
    limit_k: float | None
    block_limits: Mapping[str, float]
    headroom: Headroom | None
    runaway: RunawayMargin | None
    seconds: float

    @property
    def peak_band_k(self) -> float | None:
        """The peak lies within ± this of its grid-independent value (GCI), K."""
        return None if self.grid is None else self.grid.estimates["peak"].band

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary."""
        peak = None if self.grid is None else self.grid.estimates["peak"]
        doc: dict[str, Any] = {
            "stack": self.result.stack.name,
            "peak_k": self.result.max_temperature,
            "grid": None
            if peak is None
            else {
                "band_k": peak.band,
                "extrapolated_k": peak.extrapolated,
                "order": peak.order,
                "behaviour": peak.behaviour,
                "cells": [level.cells for level in self.grid.levels],  # type: ignore[union-attr]
            },
            "grid_note": self.grid_note,
            "drivers": [
                {"key": e.parameter.key, "k_per_10_percent": e.per_change}
                for e in self.drivers.entries[:10]
            ],
            "moves": [
                {"block": m.label, "k_per_mm": m.k_per_mm, "downhill": list(m.downhill)}
                for m in sorted(self.drivers.moves, key=lambda m: -m.k_per_mm)[:10]
            ],
            "limit_k": self.limit_k,
            "block_limits_k": dict(self.block_limits),
            "headroom": None
            if self.headroom is None or not np.isfinite(self.headroom.scale)
            else self.headroom.scale,
            "headroom_binding": None if self.headroom is None else self.headroom.binding,
            "seconds": self.seconds,
        }
        if self.uncertainty is not None:
            doc["uncertainty"] = {
                "sigma_k": self.uncertainty.sigma_k,
                "worst_case_k": self.uncertainty.worst_case_k,
            }
            if self.sampled is not None:
                doc["uncertainty"]["monte_carlo"] = self.sampled.summary()
        if self.runaway is not None:
            doc["runaway"] = {
                "stable_scale": self.runaway.stable_scale,
                "runaway_scale": None
                if np.isinf(self.runaway.runaway_scale)
                else self.runaway.runaway_scale,
            }
        return doc


@dataclass(frozen=True)
class Headroom:
    """How far all power may grow before a temperature limit is reached.

    Attributes:
        scale: the factor on all power (below 1: already beyond a limit).
        binding: what reaches its limit first: 'every cell' (the global limit) or a block's
            label (its own limit on the cells it heats).
    """

    scale: float
    binding: str


def cell_limits(
    stack: Stack, grid: Grid, limit_k: float | None, block_limits: Mapping[str, float] | None
) -> tuple[np.ndarray, np.ndarray]:
    """(nz, ny, nx) temperature limit of every cell, K (inf where none), and what sets it:
    'every cell' (``limit_k``) or the label of a block whose own, lower limit covers the cells
    it heats.

    Raises:
        InputError: for a block label the stack does not have.
    """
    limits = np.full(grid.shape, np.inf if limit_k is None else limit_k)
    owner = np.full(grid.shape, "every cell", dtype=object)
    blocks = {b.label: b for b in block_inputs(stack)}
    for label, cap in (block_limits or {}).items():
        if label not in blocks:
            known = ", ".join(blocks) or "none"
            raise InputError(f"--limit {label}: no power block {label!r}; blocks: {known}")
        block = blocks[label]
        heated = unit_block_field(stack, grid, block.source, block.block.name)
        tighter = (heated > 0) & (cap < limits)
        limits[tighter], owner[tighter] = cap, label
    return limits, owner


def power_headroom(
    stack: Stack,
    result: Result,
    limit_k: float | None,
    block_limits: Mapping[str, float] | None = None,
    solver: str = "auto",
) -> Headroom:
    """The factor s on all power of ``stack`` (linear in the power: no k(T), no leakage;
    coolants warm in proportion to the heat) at which a cell first reaches its limit
    (:func:`cell_limits`). With T₀ the field without power (one more solve) and
    T₁ = ``result``, every cell is T₀ + s·(T₁ - T₀), so s is the least
    (limit - T₀) / (T₁ - T₀) over the cells the power warms.

    Raises:
        InputError: for a block label the stack does not have.
    """
    limits, owner = cell_limits(stack, result.grid, limit_k, block_limits)
    background = solve(scaled_power(stack, 0.0), method=solver).temperature
    rise = result.temperature - background
    warmed = rise > 1e-12 * max(float(np.abs(rise).max()), 1e-300)
    candidates = warmed & np.isfinite(limits)
    if not candidates.any():
        return Headroom(float("inf"), "")
    ratio = np.where(candidates, (limits - background) / np.where(warmed, rise, 1.0), np.inf)
    first = np.unravel_index(int(np.argmin(ratio)), ratio.shape)
    return Headroom(float(ratio[first]), str(owner[first]))


def nonlinear_headroom(
    stack: Stack,
    result: Result,
    limit_k: float | None,
    block_limits: Mapping[str, float] | None = None,
    ceiling: float = 16.0,
    rel_tol: float = 1e-4,
    solver: str = "auto",
) -> Headroom:
    """The same factor for a stack with k(T) or leakage, by bisection over warm-started
    solves: a factor is too much when a cell passes its limit or the stack runs away (more
    power only heats such stacks further). Stops within ``rel_tol``; ``inf`` when no limit is
    reached up to ``ceiling``.

    Raises:
        InputError: for a block label the stack does not have.
    """
    limits, owner = cell_limits(stack, result.grid, limit_k, block_limits)
    field = result.temperature

    over = field - limits
    worst = np.unravel_index(int(np.argmax(over)), over.shape)
    seen = {1.0: (bool(over[worst] > 0), str(owner[worst]))}  # factor -> (beyond, binding)

    def beyond(factor: float) -> bool:
        nonlocal field
        if factor not in seen:
            try:
                field = solve(scaled_power(stack, factor), method=solver, x0=field).temperature
            except SolverError:
                seen[factor] = (True, "thermal runaway")
            else:
                over = field - limits
                worst = np.unravel_index(int(np.argmax(over)), over.shape)
                seen[factor] = (bool(over[worst] > 0), str(owner[worst]))
        return seen[factor][0]

    low, high = (0.0, 1.0) if beyond(1.0) else (1.0, 2.0)
    low, high = bisect_factor(beyond, low, high, ceiling, rel_tol)
    if np.isinf(high):  # no limit reached up to the ceiling
        return Headroom(float("inf"), "")
    return Headroom(low, seen[high][1])


def design_review(
    stack: Stack,
    limit_k: float | None = None,
    block_limits: Mapping[str, float] | None = None,
    tolerances: Sequence[tuple[str, float]] = (),
    samples: int = 0,
    seed: int = 0,
    solver: str = "auto",
    progress: Callable[[str], None] | None = None,
    cluster: Cluster | None = None,
) -> DesignReview:
    """Review ``stack`` (see the module doc); ``progress`` is told each step's name. On a
    ``cluster`` (:mod:`chiptherm.tasks`) the coarser grids and the Monte Carlo samples are
    solved as tasks, over one connection.

    Raises:
        InputError: for tolerances that name no parameter.
        SolverError: when the stack itself cannot be solved (e.g. it runs away).
    """
    report = progress or (lambda _: None)
    with Runner(cluster) as runner:
        args = (limit_k, block_limits, tolerances, samples, seed, solver)
        return review_on(stack, *args, report, runner)


def review_on(
    stack: Stack,
    limit_k: float | None,
    block_limits: Mapping[str, float] | None,
    tolerances: Sequence[tuple[str, float]],
    samples: int,
    seed: int,
    solver: str,
    report: Callable[[str], None],
    runner: Runner,
) -> DesignReview:
    """:func:`design_review` with its tasks run by ``runner``."""
    start = time.perf_counter()
    report("solving and differentiating the peak")
    drivers = sensitivity(stack, "peak", solver=solver)
    result = drivers.nominal
    report("grid convergence: two coarser grids")
    try:
        grid, note = convergence_study(stack, finer=False, method=solver, cluster=runner), ""
    except ChipthermError as exc:
        grid, note = None, str(exc)
    uncertainty = sampled = None
    sigmas = assign_tolerances(drivers, tolerances) if tolerances else {}
    if sigmas:
        uncertainty = linear_uncertainty(drivers, sigmas)
        if samples:
            report(f"sampling {samples} stacks")
            sampled = monte_carlo(drivers, sigmas, samples, seed, solver, cluster=runner)
    headroom = None
    if limit_k is not None or block_limits:
        report("headroom to the temperature limits")
        find = nonlinear_headroom if stack.nonlinearities else power_headroom
        headroom = find(stack, result, limit_k, block_limits, solver=solver)
    runaway = None
    if stack.leaky_sources:
        report("thermal runaway margin")
        try:
            runaway = runaway_margin(stack, ceiling=16.0, rel_tol=0.02, method=solver)
        except ChipthermError:
            runaway = None
    return DesignReview(
        result,
        grid,
        note,
        drivers,
        sigmas,
        uncertainty,
        sampled,
        limit_k,
        dict(block_limits or {}),
        headroom,
        runaway,
        time.perf_counter() - start,
    )
