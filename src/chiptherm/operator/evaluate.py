"""Accuracy of an operator against the reference finite-volume solver."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from rich.progress import Progress

from chiptherm.description.stack import Stack
from chiptherm.discretize.grid import Grid
from chiptherm.operator.case import Case
from chiptherm.solvers.result import solve
from chiptherm.tasks import Cluster, run_tasks


@dataclass(frozen=True)
class Metrics:
    """Errors of predicted against reference temperature fields.

    Attributes:
        maps: number of maps compared.
        mae_k: mean absolute error over all cells and maps, K.
        max_abs_k: largest absolute error anywhere, K.
        peak_error_k: mean over maps of |max T_pred - max T_ref|, K.
        peak_error_max_k: worst such peak error, K.
        rel_l2: mean over maps of ||T_pred - T_ref|| / ||T_ref - T_ambient||.
        mape_percent: mean of |T_pred - T_ref| / T_ref over all cells, in %, T in K.
    """

    maps: int
    mae_k: float
    max_abs_k: float
    peak_error_k: float
    peak_error_max_k: float
    rel_l2: float
    mape_percent: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def error_metrics(pred: np.ndarray, ref: np.ndarray, ambient: float) -> Metrics:
    """Metrics of predictions against references, both (B, nz, ny, nx) in K."""
    err = pred - ref
    n = pred.shape[0]
    flat_err, flat_rise = err.reshape(n, -1), (ref - ambient).reshape(n, -1)
    peak = np.abs(pred.reshape(n, -1).max(1) - ref.reshape(n, -1).max(1))
    rise_norm = np.maximum(np.linalg.norm(flat_rise, axis=1), 1e-300)
    return Metrics(
        maps=n,
        mae_k=float(np.abs(err).mean()),
        max_abs_k=float(np.abs(err).max()),
        peak_error_k=float(peak.mean()),
        peak_error_max_k=float(peak.max()),
        rel_l2=float((np.linalg.norm(flat_err, axis=1) / rise_norm).mean()),
        mape_percent=float(100.0 * np.abs(err / ref).mean()),
    )


def refined(stack: Stack, factor: int) -> Stack:
    """``stack`` with every lateral cell and every layer's z-cells split ``factor`` times."""
    layers = [la.model_copy(update={"cells": la.cells * factor}) for la in stack.layers]
    refined_stack = stack.model_copy(update={"layers": layers})
    return refined_stack.with_grid(stack.grid.nx * factor, stack.grid.ny * factor)


def coarsened(field: np.ndarray, factor: int) -> np.ndarray:
    """(nz·f, ny·f, nx·f) cell values averaged over blocks of f x f x f cells."""
    nz, ny, nx = (n // factor for n in field.shape)
    return field.reshape(nz, factor, ny, factor, nx, factor).mean(axis=(1, 3, 5))


def reference_fields(
    case: Case,
    density: np.ndarray,
    params: list[dict[str, float]] | None = None,
    grid: Grid | None = None,
    progress: Progress | None = None,
    refine: int = 1,
    cluster: Cluster | None = None,
) -> np.ndarray:
    """Solver temperatures (B, nz, ny, nx), K, for sensor-grid densities (B, ny, nx) W/m².

    With ``refine`` = f > 1 every solve runs on a grid f times finer along each axis and is
    averaged back onto ``grid``'s cells: a reference nearly free of the discretization error of
    ``grid`` itself (finite volumes overestimate sharp peaks on coarse grids). On a ``cluster``
    (:mod:`chiptherm.tasks`) every map is a task carrying its stack."""
    grid = grid or case.grid()
    nz, ny, nx = grid.shape
    stacks = [
        case.stack_with(q, params[i] if params else None).with_grid(nx, ny)
        for i, q in enumerate(density)
    ]
    task = progress.add_task("reference solves", total=len(stacks)) if progress else None

    def advance(done: int, _: int) -> None:
        if progress is not None and task is not None:
            progress.update(task, completed=done)

    fields = run_tasks(reference_field, [(s, refine) for s in stacks], cluster, advance, ())
    if progress is not None and task is not None:
        progress.remove_task(task)
    return np.stack(fields) if fields else np.empty((0, nz, ny, nx))


def reference_field(task: tuple[Stack, int]) -> np.ndarray:
    """(stack, refine) -> its solved field (nz, ny, nx) K, on a grid ``refine`` times finer
    averaged back when refine > 1."""
    stack, refine = task
    if refine > 1:
        return coarsened(solve(refined(stack, refine)).temperature, refine)
    return solve(stack).temperature
