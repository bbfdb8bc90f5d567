"""Power budgets: the most block power a floorplan takes with no cell above a limit.

The temperature of every heated cell is affine in the block powers (see
:mod:`chiptherm.analysis.compact`), and the hottest cell of the stack is always a heated one, so "no
cell above T_max" is a set of linear constraints on the block powers, exactly. Maximizing the
(weighted) total power within per-block bounds is then a linear program (scipy's HiGHS).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from chiptherm.analysis.compact import ResistanceMatrix
from chiptherm.errors import InputError


@dataclass(frozen=True)
class PowerBudget:
    """The most power a floorplan can take with no cell above a temperature limit.

    Attributes:
        limit_k: the temperature no cell may exceed, K.
        watts: (n,) the budget of each block, W.
        peak_k: the hottest cell at the budget, K (the limit when a block is not at its bound).
        block_k: (n,) block mean temperatures at the budget, K.
        limiting: (z, y, x) indices of the cells at their limit (at most 8), hottest first.
        uniform_scale: the largest factor of the nominal powers within the limits.
        bounds: (n, 2) the lower and upper power of each block that were allowed, W.
        block_limits_k: (n,) the temperature limit on the cells each block heats, K.
        block_peak_k: (n,) the hottest cell each block heats at the budget, K.
    """

    limit_k: float
    watts: np.ndarray
    peak_k: float
    block_k: np.ndarray
    limiting: list[tuple[int, int, int]]
    uniform_scale: float
    bounds: np.ndarray
    block_limits_k: np.ndarray
    block_peak_k: np.ndarray


def power_budget(
    matrix: ResistanceMatrix,
    limit_k: float,
    lower: Mapping[str, float] | None = None,
    upper: Mapping[str, float] | None = None,
    weights: Mapping[str, float] | None = None,
    block_limits: Mapping[str, float] | None = None,
) -> PowerBudget:
    """Maximize the (weighted) total block power subject to every cell staying at or below
    ``limit_k`` (and every cell a block heats below that block's own limit, where given), by
    linear programming on the heated cells' exact linear response.

    Args:
        matrix: the floorplan's resistance matrix (with its heated cells).
        limit_k: the temperature limit of every cell, K.
        lower, upper: per-block power bounds by label, W (default 0 and unbounded).
        weights: per-block weights of the objective (default 1: the total power).
        block_limits: per-block temperature limits by label, K, on the cells each heats
            (e.g. a memory die's lower junction limit); ``limit_k`` where not given.

    Raises:
        InputError: for unknown labels, or when no power assignment within the bounds keeps
            every cell within its limit (the background alone, or the lower bounds, too hot).
    """
    n = len(matrix.blocks)
    lo = matrix.by_label(lower, np.zeros(n))
    hi = matrix.by_label(upper, np.full(n, np.inf))
    w = matrix.by_label(weights, np.ones(n))
    own_limits = matrix.by_label(block_limits, np.full(n, limit_k))
    if np.any(lo > hi):
        bad = matrix.labels[int(np.argmax(lo > hi))]
        raise InputError(f"block {bad!r}: the lower power bound exceeds the upper one")
    cells = matrix.heated
    # each heated cell's limit: the global one, or the lowest of the blocks that heat it
    cell_limit = np.where(cells.owners, own_limits[None, :], np.inf).min(axis=1)
    cell_limit = np.minimum(cell_limit, limit_k)
    headroom = cell_limit - cells.background_k
    if headroom.min() < 0:
        k = int(np.argmin(headroom))
        raise InputError(
            f"no power fits: with every block off a heated cell is already at "
            f"{cells.background_k[k]:.2f} K, above its limit of {cell_limit[k]:.2f} K"
        )
    over = cells.temperatures(lo) - cell_limit
    if over.max() > 1e-9:
        k = int(np.argmax(over))
        raise InputError(
            f"the lower power bounds alone heat a cell to {cells.temperatures(lo)[k]:.2f} K, "
            f"above its limit of {cell_limit[k]:.2f} K"
        )
    from scipy.optimize import linprog  # scipy.optimize takes 0.2 s to import

    solution = linprog(
        -w,
        A_ub=cells.response,
        b_ub=headroom,
        bounds=list(zip(lo, [None if np.isinf(h) else h for h in hi], strict=True)),
        method="highs",
    )
    if solution.status != 0:
        raise InputError(f"the power budget has no solution: {solution.message}")
    watts = np.clip(solution.x, lo, hi)
    temperatures = cells.temperatures(watts)
    order = np.argsort(-temperatures)
    at_limit = [int(k) for k in order if temperatures[k] >= cell_limit[k] - 1e-6][:8]
    nominal_rise = cells.response @ matrix.nominal_w
    with np.errstate(divide="ignore"):
        scales = np.where(nominal_rise > 0, headroom / nominal_rise, np.inf)
    return PowerBudget(
        limit_k,
        watts,
        float(temperatures.max()),
        matrix.temperatures(watts),
        [cells.position(k) for k in at_limit],
        float(scales.min()),
        np.column_stack([lo, hi]),
        own_limits,
        cells.block_peaks(watts),
    )
