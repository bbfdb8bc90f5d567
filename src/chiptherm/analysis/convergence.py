"""Grid convergence studies: how far a solution is from the grid-independent one.

The stack is solved on a sequence of grids, each ``ratio`` times finer (or coarser) than the
last in x, y and through every layer. For each quantity of interest (the peak temperature, the
mean, every layer's maximum, every power block's mean), the three finest values give, after
Celik et al., "Procedure for estimation and reporting of uncertainty due to discretization in
CFD applications", ASME J. Fluids Eng. 130 (2008) 078001:

- the observed order of accuracy p (the scheme's formal order is 2);
- the Richardson-extrapolated, grid-independent value;
- the grid convergence index of the finest grid (Roache's GCI, safety factor 1.25), here as a
  band in kelvin: the finest value is within ±GCI of the grid-independent one.

The band uses p clipped to [0.5, 2] and the extrapolation p of at least 0.5: an observed order
above the scheme's, or a tiny one (common before the grids reach the asymptotic range, e.g.
while a small block spans a few cells), would otherwise shrink the band or throw the
extrapolation far off. A study is ``asymptotic`` when
the observed order lies within 1 of the formal one; outside it, treat the band as a rough
guide and refine further.

Differences between levels decide the behaviour: ``monotone`` (the values approach a limit),
``oscillatory`` (the differences change sign: no order, and the band is the spread of the
values), or ``grid-independent`` (the values agree to round-off, as for piecewise-linear fields,
which the finite-volume scheme reproduces exactly).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any, Literal

from chiptherm.description.stack import Stack
from chiptherm.errors import InputError
from chiptherm.solvers.result import Result, solve
from chiptherm.tasks import Cluster, Runner, run_tasks

FORMAL_ORDER = 2.0
"""Order of accuracy of the cell-centred finite-volume scheme."""
SAFETY = 1.25
"""GCI safety factor for three-grid studies."""
MAX_CELLS = 40_000_000
"""Largest grid a study builds without being asked for it explicitly."""

Behaviour = Literal["monotone", "oscillatory", "grid-independent"]


@dataclass(frozen=True)
class Level:
    """One grid of the study.

    Attributes:
        nx, ny, nz: cells along x, y and z.
        cells: nx·ny·nz.
        h_m: representative cell size (stack volume / cells)^(1/3), m.
        method: the solver that solved it.
        seconds: set-up and solve time, s.
        energy_error: relative energy-balance error of the solution.
    """

    nx: int
    ny: int
    nz: int
    cells: int
    h_m: float
    method: str
    seconds: float
    energy_error: float


@dataclass(frozen=True)
class Estimate:
    """Richardson extrapolation of one quantity from its values on three grids.

    Attributes:
        behaviour: 'monotone', 'oscillatory' or 'grid-independent'.
        order: observed order p (None unless monotone).
        extrapolated: the grid-independent value (None when oscillatory).
        band: the finest value lies within ±band of the grid-independent one (GCI, in the
            quantity's unit).
        asymptotic: the observed order is within 1 of the formal order (or the values agree).
    """

    behaviour: Behaviour
    order: float | None
    extrapolated: float | None
    band: float
    asymptotic: bool


def observed_order(e21: float, e32: float, r21: float, r32: float) -> float:
    """Order p from the differences e21 = φ2 − φ1 and e32 = φ3 − φ2 (same sign) of three grids
    with refinement ratios r21 = h2/h1 and r32 = h3/h2 (1 = finest).

    Solves Celik et al. (2008), eq. 3, p·ln r21 = ln(e32/e21) + ln((r21^p − 1)/(r32^p − 1)),
    which φ = φ0 + C·h^p satisfies exactly, by bracketing on [1e-3, 50] (their fixed-point
    iteration can diverge for unequal ratios); the nearer end when there is no root.
    """
    ratio = math.log(e32 / e21)

    def residual(p: float) -> float:
        return (
            p * math.log(r21)
            - ratio
            - math.log(math.expm1(p * math.log(r21)) / math.expm1(p * math.log(r32)))
        )

    low, high = 1e-3, 50.0
    f_low, f_high = residual(low), residual(high)
    if f_low * f_high > 0:
        return low if abs(f_low) < abs(f_high) else high
    from scipy.optimize import brentq  # scipy.optimize takes 0.2 s to import

    return float(brentq(residual, low, high, xtol=1e-14, rtol=1e-12))


def richardson(values: Sequence[float], sizes: Sequence[float], tiny: float = 1e-9) -> Estimate:
    """The :class:`Estimate` of a quantity with ``values`` on grids of cell sizes ``sizes``,
    both coarse to fine (the last three are used). Differences below ``tiny`` times the
    magnitude of the values count as round-off.

    The extrapolation uses p of at least 0.5, the GCI band p clipped to [0.5, FORMAL_ORDER]
    (see the module doc), so the band always contains the extrapolated value.
    """
    if len(values) < 3 or len(values) != len(sizes):
        raise InputError("a convergence estimate needs the values on at least three grids")
    phi3, phi2, phi1 = (float(v) for v in values[-3:])
    h3, h2, h1 = (float(h) for h in sizes[-3:])
    if not h3 > h2 > h1 > 0:
        raise InputError("grid sizes must decrease from coarse to fine")
    e21, e32 = phi2 - phi1, phi3 - phi2
    scale = tiny * max(abs(phi1), abs(phi2), abs(phi3), 1e-300)
    if abs(e21) <= scale:
        if abs(e32) <= scale:
            return Estimate("grid-independent", None, phi1, abs(e21) + abs(e32), True)
        # the fine pair agrees but the coarse one does not: the finest grid is converged
        return Estimate("monotone", None, phi1, SAFETY * abs(e21), True)
    if abs(e32) <= scale or e32 / e21 < 0:
        spread = max(phi1, phi2, phi3) - min(phi1, phi2, phi3)
        return Estimate("oscillatory", None, None, SAFETY * spread, False)
    r21, r32 = h2 / h1, h3 / h2
    p = observed_order(e21, e32, r21, r32)
    extrapolated = phi1 - e21 / (r21 ** max(p, 0.5) - 1.0)
    band = SAFETY * abs(e21) / (r21 ** min(max(p, 0.5), FORMAL_ORDER) - 1.0)
    return Estimate("monotone", p, extrapolated, band, abs(p - FORMAL_ORDER) <= 1.0)


def scaled_stack(stack: Stack, factor: float) -> Stack:
    """``stack`` with its lateral cells and every layer's z-cells multiplied by ``factor``
    (rounded, at least 1; 2 for the lateral grid)."""
    layers = [
        layer.model_copy(update={"cells": max(1, round(layer.cells * factor))})
        for layer in stack.layers
    ]
    nx = max(2, round(stack.grid.nx * factor))
    ny = max(2, round(stack.grid.ny * factor))
    return stack.model_copy(update={"layers": layers}).with_grid(nx, ny)


def grid_levels(stack: Stack, levels: int, ratio: float, finer: bool) -> list[Stack]:
    """The stacks of a study, coarse to fine: the stack's own grid is the finest (``finer``
    False) or the coarsest (``finer`` True) of ``levels`` grids ``ratio`` apart."""
    if levels < 3:
        raise InputError(f"--levels {levels}: a study needs at least 3 grids")
    if not ratio > 1.0:
        raise InputError(f"--ratio {ratio:g}: grids must differ by a factor above 1")
    exponents = range(levels) if finer else range(-(levels - 1), 1)
    return [scaled_stack(stack, ratio**k) if k else stack for k in exponents]


def quantities(result: Result) -> dict[str, float]:
    """The quantities a study follows, K: peak, volume mean, every layer's maximum and every
    power block's mean temperature."""
    out = {
        "peak": result.max_temperature,
        "mean": float(result.grid.volume_mean(result.temperature)),
    }
    out |= {f"max {name}": s.max for name, s in result.layer_stats.items()}
    out |= {f"mean {b.block} ({b.layer})": b.stats.mean for b in result.block_stats}
    return out


@dataclass
class Study:
    """A grid convergence study.

    Attributes:
        stack: the stack as given.
        levels: the grids, coarse to fine.
        values: quantity -> its value (K) on every level, coarse to fine.
        estimates: quantity -> its :class:`Estimate`.
    """

    stack: Stack
    levels: list[Level]
    values: dict[str, list[float]]
    estimates: dict[str, Estimate]

    @property
    def finest(self) -> Level:
        return self.levels[-1]

    def summary(self) -> dict[str, Any]:
        """JSON-ready: levels, and per quantity the values, behaviour, order, extrapolated
        value and band."""
        return {
            "stack": self.stack.name,
            "levels": [asdict(level) for level in self.levels],
            "quantities": {
                name: {"values_k": self.values[name], **asdict(self.estimates[name])}
                for name in self.values
            },
        }


def convergence_study(
    stack: Stack,
    levels: int = 3,
    ratio: float = 2.0,
    finer: bool = True,
    method: str = "auto",
    max_cells: int = MAX_CELLS,
    progress: Callable[[str], None] | None = None,
    cluster: Cluster | Runner | None = None,
) -> Study:
    """Solve ``stack`` on ``levels`` grids ``ratio`` apart (see :func:`grid_levels`) and
    estimate the discretization error of every quantity on the finest grid; on a ``cluster``
    (:mod:`chiptherm.tasks`) the levels are solved as tasks of their own, side by side.

    Raises:
        InputError: fewer than 3 levels, a ratio not above 1, or a grid above ``max_cells``.
    """
    stacks = grid_levels(stack, levels, ratio, finer)
    shapes = [(s.grid.nx, s.grid.ny, sum(la.cells for la in s.layers)) for s in stacks]
    largest = max(nx * ny * nz for nx, ny, nz in shapes)
    if largest > max_cells:
        raise InputError(
            f"the finest grid would have {largest:,} cells (limit {max_cells:,}); use fewer "
            "levels, a smaller ratio, or study coarser grids"
        )
    volume = stack.size[0] * stack.size[1] * sum(la.thickness for la in stack.layers)
    report = progress or (lambda _: None)
    grids = ", ".join(f"{nx} x {ny} x {nz}" for nx, ny, nz in shapes)
    report(f"{len(stacks)} grids ({grids}), up to {largest:,} cells")
    sizes_m = [(volume / (nx * ny * nz)) ** (1.0 / 3.0) for nx, ny, nz in shapes]
    tasks = [(s, method, h) for s, h in zip(stacks, sizes_m, strict=True)]
    solved_levels = run_tasks(
        solve_level,
        tasks,
        cluster,
        on_done=lambda done, total: report(f"{done} of {total} grids solved"),
        expected=(),
    )
    solved = [level for level, _ in solved_levels]
    values: dict[str, list[float]] = {}
    for _, found in solved_levels:
        for name, value in found.items():
            values.setdefault(name, []).append(value)
    sizes = [level.h_m for level in solved]
    estimates = {name: richardson(v, sizes) for name, v in values.items()}
    return Study(stack, solved, values, estimates)


def solve_level(task: tuple[Stack, str, float]) -> tuple[Level, dict[str, float]]:
    """One level of a convergence study: (stack on its grid, method, cell size m) -> the
    level and its quantities (K)."""
    stack, method, h_m = task
    start = time.perf_counter()
    result = solve(stack, method)
    nz = sum(layer.cells for layer in stack.layers)
    level = Level(
        stack.grid.nx,
        stack.grid.ny,
        nz,
        stack.grid.nx * stack.grid.ny * nz,
        h_m,
        result.info.method,
        time.perf_counter() - start,
        result.balance.relative_error,
    )
    return level, quantities(result)


def stretch_fraction(levels: Sequence[Level]) -> float:
    """How unevenly the grids were scaled: the largest relative difference between the
    lateral and the vertical refinement ratios of consecutive levels (0 = even)."""
    worst = 0.0
    for coarse, fine in pairwise(levels):
        lateral = math.sqrt(fine.nx * fine.ny / (coarse.nx * coarse.ny))
        vertical = fine.nz / coarse.nz
        worst = max(worst, abs(lateral - vertical) / lateral)
    return worst


def quantity_table(study: Study, limit: int = 12) -> list[tuple[str, Estimate, list[float]]]:
    """The rows to print: peak, mean, layer maxima, then the block means with the widest
    bands, up to ``limit`` rows."""
    names = list(study.values)
    fixed = [n for n in names if not n.startswith("mean ") or n == "mean"]
    blocks = sorted(
        (n for n in names if n.startswith("mean ") and n != "mean"),
        key=lambda n: -study.estimates[n].band,
    )
    chosen = (fixed + blocks)[: max(limit, len(fixed))]
    return [(n, study.estimates[n], study.values[n]) for n in chosen]
