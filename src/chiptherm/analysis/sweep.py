"""Parameter sweeps of the solver: stack-file values varied over a grid of values (one key, or
the product of several), every solve warm-started from the one before."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chiptherm.analysis.compact import block_labels
from chiptherm.description.stack import Stack
from chiptherm.discretize.grid import Grid
from chiptherm.errors import SolverError
from chiptherm.formats.loading import load_stack
from chiptherm.solvers.result import Result, solve
from chiptherm.tasks import Cluster, TaskFailure, run_tasks


@dataclass(frozen=True)
class SweepPoint:
    """The solve at one point of the sweep.

    Attributes:
        values: each swept key's value at this point.
        peak_k, mean_k: hottest cell and volume-mean temperature, K.
        layer_max_k: layer name -> its hottest cell, K (top first).
        block_mean_k: block label -> its mean temperature, K.
        method: the linear solver used.
        iterations: Krylov iterations (0 for direct and transform solves).
        nonlinear_steps: fixed-point steps (0 for a linear stack).
        warm_start: whether the solve started from the previous point's field.
        seconds: wall time of the solve, assembly included.
        error: why the solve failed (thermal runaway, no convergence), or None; the
            temperatures of a failed point are NaN.
        pumping_w: the pumping power of every cavity with channels together, W (0 without).
    """

    values: dict[str, float]
    peak_k: float
    mean_k: float
    layer_max_k: dict[str, float]
    block_mean_k: dict[str, float]
    method: str
    iterations: int
    nonlinear_steps: int
    warm_start: bool
    seconds: float
    error: str | None = None
    pumping_w: float = 0.0


def pumping_power(result: Result) -> float:
    """The pumping power of every cavity with channels of ``result``'s stack, W."""
    outlets = result.coolant_outlets()
    return float(sum(c.get("pumping_power_w", 0.0) for c in outlets.values()))


@dataclass(frozen=True)
class StackSweep:
    """A sweep of one stack file over the product of the values of ``axes``, the last key
    varying fastest.

    Attributes:
        stack_name: the stack's name.
        axes: (key, values) of each swept key, in sweep order.
        points: one solve per combination, in sweep order.
    """

    stack_name: str
    axes: list[tuple[str, list[float]]]
    points: list[SweepPoint]

    @property
    def keys(self) -> list[str]:
        return [key for key, _ in self.axes]

    @property
    def pumped(self) -> bool:
        """Whether any point pumps coolant through channels (then its power is reported)."""
        return any(p.pumping_w > 0 for p in self.points)

    def peak_grid(self) -> np.ndarray:
        """The peaks (K) shaped as the axes: (n1,) for one key, (n1, n2) for two, ..."""
        return np.array([p.peak_k for p in self.points]).reshape([len(v) for _, v in self.axes])

    def summary(self) -> dict[str, Any]:
        """JSON-ready: the axes and every point (a failed one with its error and null
        temperatures)."""
        points = []
        for p in self.points:
            doc = asdict(p)
            if p.error is not None:
                doc |= {"peak_k": None, "mean_k": None}
            points.append(doc)
        return {
            "stack": self.stack_name,
            "axes": {key: values for key, values in self.axes},
            "points": points,
        }

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per point, for CSV: the values, peak, mean, layer maxima, block means
        (NaN for a failed point) and the error of a failed one."""
        solved = [p for p in self.points if p.error is None]
        layers = list(solved[0].layer_max_k) if solved else []
        blocks = list(solved[0].block_mean_k) if solved else []
        nan = float("nan")
        return [
            dict(p.values)
            | {"peak_k": p.peak_k, "mean_k": p.mean_k}
            | {f"max {name}": p.layer_max_k.get(name, nan) for name in layers}
            | {f"mean {label}": p.block_mean_k.get(label, nan) for label in blocks}
            | ({"pumping_w": p.pumping_w} if self.pumped else {})
            | {"error": p.error or ""}
            for p in self.points
        ]


def block_means(result: Result) -> dict[str, float]:
    """Block label (its name, or 'source/name' when names repeat) -> mean temperature, K."""
    stats = result.block_stats
    labels = block_labels([(b.source, b.block) for b in stats])
    return {label: b.stats.mean for label, b in zip(labels, stats, strict=True)}


def sweep_stack(
    path: str | Path,
    axes: Sequence[tuple[str, Sequence[float]]],
    overrides: Sequence[tuple[str, Any]] = (),
    method: str = "auto",
    on_point: Callable[[int, int], None] | None = None,
    cluster: Cluster | None = None,
) -> StackSweep:
    """Solve the stack file at ``path`` at every combination of the values of ``axes`` (each a
    dotted key, see :mod:`chiptherm.description.overrides`, and its values), after
    ``overrides``. A point whose solve fails (thermal runaway, no convergence) is kept with
    its error and NaN temperatures, and the sweep goes on.

    In this process (``cluster`` None) each solve starts from the previous field when the grid
    is the same (iterative and nonlinear solves gain from it). On a ``cluster``
    (:mod:`chiptherm.tasks`) the points are independent tasks, each carrying its validated
    stack and solved from a cold start: the same values as in this process to the solver's
    tolerance (exactly for direct and transform solves), in the same order.

    ``on_point`` is told (done, total) after each solve.
    """
    keys = [key for key, _ in axes]
    combinations = list(itertools.product(*(values for _, values in axes)))
    assignments = [list(zip(keys, c, strict=True)) for c in combinations]
    stacks = [load_stack(path, [*overrides, *assignment]) for assignment in assignments]
    name = stacks[0].name if stacks else ""
    grid = [(key, [float(v) for v in values]) for key, values in axes]
    if cluster is not None:
        tasks = [(dict(a), stack, method) for a, stack in zip(assignments, stacks, strict=True)]
        outcomes = run_tasks(solve_point, tasks, cluster, on_point, expected=(SolverError,))
        points = [
            failed_point(dict(a), 0.0, False, o.message) if isinstance(o, TaskFailure) else o
            for a, o in zip(assignments, outcomes, strict=True)
        ]
        return StackSweep(name, grid, points)
    points: list[SweepPoint] = []
    previous: np.ndarray | None = None
    for i, (assignment, stack) in enumerate(zip(assignments, stacks, strict=True)):
        warm = previous is not None and previous.shape == Grid.from_stack(stack).shape
        point, previous = solved_point(dict(assignment), stack, method, previous if warm else None)
        points.append(point)
        if on_point is not None:
            on_point(i + 1, len(combinations))
    return StackSweep(name, grid, points)


def solve_point(task: tuple[dict[str, float], Stack, str]) -> SweepPoint:
    """One point of a sweep from a cold start: (swept values, stack, method) -> its point (a
    task of :func:`~chiptherm.tasks.run_tasks`). Raises SolverError where the solve fails."""
    values, stack, method = task
    start = time.perf_counter()
    return point_of(values, solve(stack, method=method), False, start)


def solved_point(
    values: dict[str, Any], stack: Stack, method: str, x0: np.ndarray | None
) -> tuple[SweepPoint, np.ndarray | None]:
    """The point at ``values`` solved from ``x0`` (None: cold), and the field to start the
    next one from (None after a failed solve)."""
    start = time.perf_counter()
    try:
        result = solve(stack, method=method, x0=x0)
    except SolverError as exc:  # e.g. thermal runaway at this point: record, go on
        return failed_point(values, time.perf_counter() - start, x0 is not None, str(exc)), None
    return point_of(values, result, x0 is not None, start), result.temperature


def point_of(values: dict[str, Any], result: Result, warm: bool, start: float) -> SweepPoint:
    """The sweep point of a solved ``result``, timed from ``start`` (perf_counter s)."""
    return SweepPoint(
        {key: float(value) for key, value in values.items()},
        result.max_temperature,
        float(result.grid.volume_mean(result.temperature)),
        {layer: s.max for layer, s in result.layer_stats.items()},
        block_means(result),
        result.info.method,
        result.info.iterations,
        result.info.nonlinear_steps,
        warm,
        time.perf_counter() - start,
        pumping_w=pumping_power(result),
    )


def failed_point(values: dict[str, Any], seconds: float, warm: bool, error: str) -> SweepPoint:
    """A point whose solve failed: NaN temperatures and the error."""
    nan = float("nan")
    values = {key: float(value) for key, value in values.items()}
    return SweepPoint(values, nan, nan, {}, {}, "", 0, 0, warm, seconds, error)
