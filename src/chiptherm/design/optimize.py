"""Floorplan optimization: place power blocks to minimize the peak temperature.

A :class:`Problem` (YAML) names a trained operator (its case gives the stack and the layer or face
that carries the blocks), or a stack file and the power source that takes the blocks (a
:class:`Site`; searched by the solver alone, with all of the stack's physics), the blocks
(sizes, powers; fixed ones with a position), keep-out regions, the overlap rule and the
objective. The search is CMA-ES (the ``cma`` library) over the block
positions, one population per generation, evaluated in one of two modes:

- ``hybrid``: the operator scores the whole population in one batched prediction; the
  ``search.screen`` best-predicted candidates of each generation are checked by the confidence
  score and the solver (warm-started from the prediction) replaces doubtful values; the other
  predictions are shifted by the checked ones' mean correction. The last ``search.polish``
  share of the steps is evaluated by the solver, and the final placement is always verified.
- ``solver``: every candidate solved by the reference solver (``method``: 'auto' = the fastest,
  'cg-amg' = pyamg-preconditioned CG), the baseline.

The objective of a placement, in K, is  peak·max T + mean·mean T + gradient·max |∇T| (K/mm),
all over the cells that carry the blocks, plus the overlap and keep-out penalty.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from chiptherm.analysis.jacobian import Jacobian
from chiptherm.description.settings import Settings, load_settings
from chiptherm.description.stack import Block, Stack
from chiptherm.discretize.grid import Grid
from chiptherm.discretize.system import System, power_field
from chiptherm.errors import InputError, SolverError
from chiptherm.operator.model import Operator
from chiptherm.operator.sampling import rasterize_blocks
from chiptherm.solvers import SolveInfo, make_solver
from chiptherm.solvers.nonlinear import RUNAWAY_K, coolants_of, solve_nonlinear
from chiptherm.solvers.result import Result
from chiptherm.trust.confidence import DEFAULT_TOLERANCE_K, ErrorEstimator


class BlockSpec(Settings):
    """A block to place: size (m), power (W); ``x``, ``y`` (lower-left corner, m) for fixed
    blocks and optional starting points of movable ones."""

    name: str
    """The block's name, unique in the problem."""
    width: float = Field(gt=0)
    """Extent along x, m."""
    height: float = Field(gt=0)
    """Extent along y, m."""
    watts: float = Field(ge=0)
    """Dynamic power, W."""
    leakage_w: float = Field(default=0.0, ge=0)
    """Leakage at the reference temperature, W (stack problems with leakage)."""
    x: float | None = Field(default=None, ge=0)
    """West edge, m: the position of a fixed block, the start of a movable one."""
    y: float | None = Field(default=None, ge=0)
    """South edge, m."""
    fixed: bool = False
    """A fixed block stays at (x, y)."""

    def at(self, x: float, y: float) -> Block:
        """The block with its lower-left corner at (x, y), m."""
        return Block(
            name=self.name,
            x=x,
            y=y,
            width=self.width,
            height=self.height,
            watts=self.watts,
            leakage_w=self.leakage_w,
        )

    @model_validator(mode="after")
    def _position(self) -> BlockSpec:
        if self.fixed and (self.x is None or self.y is None):
            raise ValueError("a fixed block needs x and y")
        return self


class KeepOut(Settings):
    """A rectangle (m) that no movable block may overlap."""

    x: float = Field(ge=0)
    """West edge, m."""
    y: float = Field(ge=0)
    """South edge, m."""
    width: float = Field(gt=0)
    """Extent along x, m."""
    height: float = Field(gt=0)
    """Extent along y, m."""


class Objective(Settings):
    """Weights of the objective terms (see module doc)."""

    peak: float = Field(default=1.0, ge=0)
    """Weight of the hottest cell, per K."""
    mean: float = Field(default=0.0, ge=0)
    """Weight of the mean temperature of the power layer, per K."""
    gradient: float = Field(default=0.0, ge=0)
    """Weight of the largest lateral temperature gradient."""


class Search(Settings):
    """CMA-ES settings: ``steps`` candidate evaluations in generations of ``population``.

    ``screen``: in hybrid mode, how many of each generation's best-predicted candidates are
    checked (confidence score, solver where it fails); the others keep their predictions,
    shifted by the mean correction the checked ones received, so the ranking CMA-ES sees is
    anchored to checked values. Default: 60 % of the population (12 of 20), which kept the
    hybrid within 0.1 K of the solver-only search on all five benchmark problems.
    ``polish``: in hybrid mode, the share of the steps (at the end) whose candidates the solver
    evaluates instead of the operator, so the last local moves rank by exact temperatures.
    ``descent``: after the search, at most this many gradient steps from the best placement
    (L-BFGS-B on a smooth maximum, gradients by the adjoint: a solve and an adjoint solve
    each, with the Jacobian of the full equations for k(T), leakage and coolants; objectives
    without the gradient term); the result is kept only if
    the solver's objective improves.
    """

    steps: int = Field(default=1000, ge=1)
    """Candidate evaluations in all."""
    population: int = Field(default=20, ge=4)
    """Candidates per CMA-ES generation."""
    sigma: float = Field(default=0.1, gt=0, le=1)
    """Initial CMA-ES step as a fraction of the chip side."""
    seed: int = 0
    """Seed of the search."""
    screen: int | None = Field(default=None, ge=1)
    """Hybrid mode: candidates of each generation checked by the score (see above)."""
    polish: float = Field(default=0.1, ge=0, le=1)
    """Hybrid mode: the share of the steps, at the end, evaluated by the solver."""
    descent: int = Field(default=0, ge=0)
    """Gradient steps after the search (0: none)."""

    @property
    def screened(self) -> int:
        """Candidates checked per generation."""
        return self.screen or max(1, round(0.6 * self.population))


class Problem(Settings):
    """A floorplan problem (see module doc)."""

    name: str = "floorplan"
    """Shown in the report."""
    model: str | None = None
    """A shipped model or a model folder (relative to the problem file): the hybrid search."""
    stack: str | None = None
    """A stack file (relative to the problem file): the solver searches alone."""
    power: str | None = None
    """With `stack`: the power source whose blocks are placed."""
    blocks: list[BlockSpec] = Field(min_length=1)
    """The blocks, movable and fixed."""
    keepout: list[KeepOut] = Field(default_factory=list)
    """Rectangles no movable block may overlap."""
    overlap: Literal["forbid", "penalty"] = "forbid"
    """Overlapping blocks are refused, or penalized by `overlap_weight`."""
    overlap_weight: float = Field(default=50.0, ge=0)
    """K per unit of overlap area fraction, with `overlap: penalty`."""
    objective: Objective = Objective()
    search: Search = Search()
    tolerance_k: float = Field(default=DEFAULT_TOLERANCE_K, gt=0)
    """The confidence score's tolerance: a prediction above it goes to the solver, K."""
    solver: str = "auto"
    """The reference solver."""

    @model_validator(mode="after")
    def _names(self) -> Problem:
        if (self.model is None) == (self.stack is None):
            raise ValueError(
                "give either 'model' (an operator, for the hybrid search) or 'stack' (a stack "
                "file, searched by the solver alone), not both or neither"
            )
        if self.stack is not None and self.power is None:
            raise ValueError(
                "a 'stack' problem names the power source that takes the blocks: 'power'"
            )
        if self.model is not None and self.power is not None:
            raise ValueError("'power' goes with 'stack'; a model's case names its own source")
        names = [b.name for b in self.blocks]
        if len(set(names)) != len(names):
            raise ValueError("block names must be unique")
        if all(b.fixed for b in self.blocks):
            raise ValueError("at least one block must be movable")
        return self


def load_problem(path: str | Path) -> tuple[Problem, Path]:
    """Read and validate a problem file; returns it and its folder."""
    path = Path(path)
    return load_settings(path, Problem, "a problem file"), path.parent


def resolve_model(problem: Problem, base: Path) -> str:
    """The problem's model as a path relative to its file, or a shipped name."""
    assert problem.model is not None
    candidate = base / problem.model
    return str(candidate) if (candidate / "model.json").exists() else problem.model


@dataclass(frozen=True)
class Site:
    """Where the blocks go: a stack, the power source that takes them, the grid, and the
    z-cells that source heats (its layer, or the top or bottom cells of its face)."""

    stack: Stack
    power: str
    grid: Grid
    cells: np.ndarray

    @property
    def size(self) -> tuple[float, float]:
        return self.stack.size

    @classmethod
    def of_operator(cls, op: Operator) -> Site:
        """The operator's case, its varying source emptied."""
        case = op.case
        grid = case.grid()
        return cls(case.stack_with(np.zeros(case.sensors)), case.power, grid, op.source_cells(grid))

    @classmethod
    def of_stack(cls, stack: Stack, power: str) -> Site:
        """A stack file and the source named ``power``, which must heat exactly one layer or
        face."""
        if power not in stack.power:
            raise InputError(
                f"power: the stack has no power source {power!r}; it has {', '.join(stack.power)}"
            )
        layers = [i for i, layer in enumerate(stack.layers) if layer.power == power]
        faces = [f for f in ("top", "bottom") if stack.boundary(f).power == power]
        if len(layers) + len(faces) != 1:
            raise InputError(
                f"power: source {power!r} must heat exactly one layer or face to take blocks"
            )
        grid = Grid.from_stack(stack)
        if faces:
            cells = np.array([grid.shape[0] - 1 if faces[0] == "top" else 0])
        else:
            cells = grid.cells_of_layer(layers[0])
        return cls(stack, power, grid, cells)


def load_site(problem: Problem, base: Path) -> Site:
    """The site of a 'stack' problem: its stack file, relative to the problem's folder."""
    from chiptherm.formats.loading import load_stack

    assert problem.stack is not None and problem.power is not None
    return Site.of_stack(load_stack(base / problem.stack), problem.power)


SCORE_TRIAL = 10
"""Checks that always score, to measure how often the operator passes and what it costs."""


@dataclass
class History:
    """Best objective after each generation (K), and what the evaluations cost."""

    evaluations: list[int] = field(default_factory=list)
    best: list[float] = field(default_factory=list)
    solver_calls: int = 0
    refinements: int = 0
    scores: int = 0
    accepted: int = 0
    polished: int = 0
    descent_steps: int = 0
    descent_gain_k: float = 0.0
    score_seconds: float = 0.0
    solve_seconds: float = 0.0
    timed_solves: int = 0

    def scoring_pays(self) -> bool:
        """Whether scoring a candidate is cheaper, on average, than solving it outright.

        A score saves a solve only when it accepts the prediction, so after the first
        ``SCORE_TRIAL`` checks it pays while acceptance rate × solve time > score time. With
        a slow solver (pyamg) scoring almost always pays; with the transform solver, which
        costs less than the score itself, or an operator that keeps failing the tolerance,
        the solver decides directly.
        """
        if self.scores < SCORE_TRIAL or self.timed_solves == 0:
            return True
        solve = self.solve_seconds / self.timed_solves
        return self.accepted / self.scores * solve > self.score_seconds / self.scores


@dataclass
class Outcome:
    """The result of an optimization run."""

    mode: str
    placement: np.ndarray
    blocks: list[Block]
    objective_k: float
    verified: Result
    initial: Result
    verified_peak_k: float
    initial_peak_k: float
    history: History
    seconds: float
    overlap_k: float = 0.0  # the overlap and keep-out penalty of the placement (0: none)
    power: str = ""  # the stack's power source that carries the blocks
    cells: np.ndarray | None = None  # z-indices of the cells that carry them
    runaways: int = 0  # candidates without a steady state (thermal runaway), solver search


def validate_problem(problem: Problem, size: tuple[float, float]) -> None:
    """Refuse a problem that cannot be placed on a die of ``size`` (m): a block larger than
    the die, a fixed block sticking out of it, or (with ``overlap: forbid``) more block and
    keep-out area than the die has."""
    lx, ly = size
    for b in problem.blocks:
        if b.width > lx or b.height > ly:
            raise InputError(
                f"block {b.name!r} ({b.width:g} x {b.height:g} m) is larger than the die "
                f"({lx:g} x {ly:g} m)"
            )
        if b.fixed and (b.x + b.width > lx * (1 + 1e-9) or b.y + b.height > ly * (1 + 1e-9)):
            raise InputError(f"fixed block {b.name!r} sticks out of the die ({lx:g} x {ly:g} m)")
    if problem.overlap == "forbid":
        blocks = sum(b.width * b.height for b in problem.blocks)
        keepout = sum(
            max(min(k.x + k.width, lx) - max(k.x, 0.0), 0.0)
            * max(min(k.y + k.height, ly) - max(k.y, 0.0), 0.0)
            for k in problem.keepout
        )
        if blocks + keepout > lx * ly * (1 + 1e-9):
            raise InputError(
                f"the blocks ({1e6 * blocks:.3g} mm²) and keep-outs ({1e6 * keepout:.3g} mm²) "
                f"cover more than the die ({1e6 * lx * ly:.3g} mm²), so no placement without "
                "overlaps exists; use 'overlap: penalty' to allow overlaps"
            )


class Floorplan:
    """A problem bound to its site (and operator, for the hybrid search): evaluation of
    placements by operator and solver."""

    def __init__(
        self, problem: Problem, op: Operator | None = None, site: Site | None = None
    ) -> None:
        if site is None:
            if op is None:
                raise InputError("a floorplan needs an operator or a site for its blocks")
            site = Site.of_operator(op)
        if site.stack.power[site.power].leakage is None and any(
            b.leakage_w for b in problem.blocks
        ):
            raise InputError(
                f"blocks give 'leakage_w' but power source {site.power!r} has no 'leakage' "
                "(its coefficient)"
            )
        self.problem = problem
        self.site = site
        self.op = op
        self.size = site.size
        self.grid = site.grid
        validate_problem(problem, self.size)
        self.movable = [b for b in problem.blocks if not b.fixed]
        self.fixed = [b for b in problem.blocks if b.fixed]
        self.cells = site.cells
        self.system = System.from_stack(site.stack, self.grid)
        self.solver = None
        self.estimator: ErrorEstimator | None = None
        self.runaways = 0  # placements without a steady state met by the solver search

    # -- placements ------------------------------------------------------------------------------
    @property
    def dimensions(self) -> int:
        return 2 * len(self.movable)

    def corners(self, u: np.ndarray) -> np.ndarray:
        """(S, m, 2) lower-left corners (m) of the movable blocks from u in [0, 1]^(S, 2m)."""
        u = np.clip(np.atleast_2d(u), 0.0, 1.0).reshape(len(np.atleast_2d(u)), -1, 2)
        span = np.array([[self.size[0] - b.width, self.size[1] - b.height] for b in self.movable])
        return u * span[None]

    def start(self) -> np.ndarray:
        """u of the starting placement: the given positions; blocks without one are packed in
        shelves from the top edge down, spread evenly along each shelf, so the search starts
        from a placement without overlaps when the blocks fit."""
        lx, ly = self.size
        corners = self.shelf_corners()
        u = []
        for b in self.movable:
            for axis, (pos, side, extent) in enumerate(((b.x, lx, b.width), (b.y, ly, b.height))):
                if pos is None:
                    pos = corners[b.name][axis]
                free = side - extent
                u.append(0.5 if free <= 0 else float(np.clip(pos / free, 0.0, 1.0)))
        return np.array(u)

    def shelf_corners(self) -> dict[str, tuple[float, float]]:
        """Lower-left corners of the blocks without a given position, packed in shelves."""
        lx, ly = self.size
        todo = sorted(
            (b for b in self.movable if b.x is None or b.y is None), key=lambda b: -b.height
        )
        shelves: list[list[BlockSpec]] = []
        width = lx
        for b in todo:
            if not shelves or width + b.width > lx:
                shelves.append([])
                width = 0.0
            shelves[-1].append(b)
            width += b.width
        out: dict[str, tuple[float, float]] = {}
        top = ly
        for shelf in shelves:
            height = max(b.height for b in shelf)
            gap = max(lx - sum(b.width for b in shelf), 0.0) / (len(shelf) + 1)
            x = gap
            for b in shelf:
                out[b.name] = (x, max(top - height, 0.0))
                x += b.width + gap
            top -= height
        return out

    def rectangles(self, u: np.ndarray) -> np.ndarray:
        """(S, n, 5) all blocks as fractions of the die (x0, y0, w, h) and W."""
        lx, ly = self.size
        corners = self.corners(u)
        rows = []
        for s in range(len(corners)):
            row = [
                [c[0] / lx, c[1] / ly, b.width / lx, b.height / ly, b.watts]
                for c, b in zip(corners[s], self.movable, strict=True)
            ]
            row += [[b.x / lx, b.y / ly, b.width / lx, b.height / ly, b.watts] for b in self.fixed]
            rows.append(row)
        return np.array(rows)

    def blocks(self, u: np.ndarray) -> list[Block]:
        """The placed blocks of one placement u (2m,)."""
        corners = self.corners(u)[0]
        movable = [
            b.at(float(c[0]), float(c[1])) for c, b in zip(corners, self.movable, strict=True)
        ]
        return movable + [b.at(b.x, b.y) for b in self.fixed]  # type: ignore[arg-type]

    def stack(self, u: np.ndarray) -> Stack:
        """The site's stack carrying the placed blocks of u (the source keeps its leakage)."""
        source = self.site.stack.power[self.site.power]
        placed = source.model_copy(update={"blocks": self.blocks(u), "map": None})
        return self.site.stack.with_power(self.site.power, placed)

    def penalty(self, u: np.ndarray) -> np.ndarray:
        """(S,) overlap and keep-out penalty, K: weight x overlap area / smaller block area."""
        rects = self.rectangles(u)  # fractions
        lx, ly = self.size
        m = len(self.movable)
        weight = self.problem.overlap_weight * (100.0 if self.problem.overlap == "forbid" else 1.0)
        out = np.zeros(len(rects))
        keep = [[k.x / lx, k.y / ly, k.width / lx, k.height / ly] for k in self.problem.keepout]
        for i in range(m):
            a = rects[:, i]
            others = [rects[:, j, :4] for j in range(rects.shape[1]) if j > i or j >= m]
            for b in others + [np.broadcast_to(np.array(k), (len(rects), 4)) for k in keep]:
                ox = np.clip(
                    np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0]),
                    0,
                    None,
                )
                oy = np.clip(
                    np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1]),
                    0,
                    None,
                )
                smaller = np.minimum(a[:, 2] * a[:, 3], b[:, 2] * b[:, 3])
                out += weight * ox * oy / smaller
        return out

    # -- objective ---------------------------------------------------------------------------------
    def objective_of_fields(self, fields: np.ndarray) -> np.ndarray:
        """(S,) objective, K, from fields (S, nz_src, ny, nx) on the block-carrying cells."""
        w = self.problem.objective
        flat = fields.reshape(len(fields), -1)
        out = w.peak * flat.max(1)
        if w.mean:
            out += w.mean * flat.mean(1)
        if w.gradient:
            gy, gx = np.gradient(fields, self.grid.dy, self.grid.dx, axis=(-2, -1))
            out += w.gradient * 1e-3 * np.sqrt(gx**2 + gy**2).reshape(len(fields), -1).max(1)
        return out

    def operator_objective(self, u: np.ndarray) -> np.ndarray:
        """(S,) objective of placements predicted by the operator (one batched prediction)."""
        assert self.op is not None
        dens = rasterize_blocks(self.rectangles(u), self.size, self.op.case.sensors)
        fields = self.op.predict(dens, grid=self.grid, z_cells=self.cells)
        return self.objective_of_fields(fields) + self.penalty(u)

    def solve(
        self, u: np.ndarray, method: str, x0: np.ndarray | None = None
    ) -> tuple[np.ndarray, SolveInfo]:
        """The solver field (nz, ny, nx), K, of one placement u (2m,)."""
        if self.site.stack.needs_iteration:  # k(T), leakage or a coolant: fixed-point solve
            solution = solve_nonlinear(self.stack(u), self.grid, method, x0)
            return solution.temperature, solution.info
        if self.solver is None or self.solver[0] != method:
            self.solver = (method, make_solver(self.system, method))
        q = power_field(self.stack(u), self.grid)
        return self.solver[1].solve(self.system.rhs_for(q), x0=x0, tol=1e-9)

    def solver_objective(
        self, u: np.ndarray, method: str, x0: np.ndarray | None = None
    ) -> tuple[float, np.ndarray | None]:
        """The objective (K) of one placement by the solver, and its field (None when the
        placement has no steady state: thermal runaway scores ``RUNAWAY_K`` plus its
        penalty, worse than any placement that has one)."""
        penalty = float(self.penalty(u[None])[0])
        try:
            field, _ = self.solve(u, method, x0)
        except SolverError:
            if not self.site.stack.needs_iteration:
                raise
            self.runaways += 1
            return RUNAWAY_K + penalty, None
        value = self.objective_of_fields(field[self.cells][None])[0] + penalty
        return float(value), field

    def result(self, u: np.ndarray, field: np.ndarray, info: SolveInfo) -> Result:
        stack = self.stack(u)
        if stack.needs_iteration:  # the balance of the system assembled at the field
            system = solve_nonlinear(stack, self.grid, x0=field).system
        else:
            system = System.from_stack(stack, self.grid)
        return Result(stack, self.grid, field, info, system.energy_balance(field))


def optimize(
    problem: Problem,
    op: Operator | None,
    mode: Literal["hybrid", "solver"] = "hybrid",
    solver: str | None = None,
    progress: Callable[[int, float], None] | None = None,
    site: Site | None = None,
) -> Outcome:
    """Run the search; ``solver`` is the reference method (default: the problem's). Without
    an operator, ``site`` says where the blocks go and the solver alone searches."""
    import cma

    method = solver or problem.solver
    if op is None and mode == "hybrid":
        raise InputError(
            "the hybrid search needs a model; a problem with a 'stack' is searched by the "
            "solver alone (mode 'solver')"
        )
    plan = Floorplan(problem, op, site)
    search = problem.search
    if search.descent:
        check_descent(plan)
    es = cma.CMAEvolutionStrategy(
        plan.start(),
        search.sigma,
        {
            "bounds": [0.0, 1.0],
            "popsize": search.population,
            "seed": search.seed + 1,
            "verbose": -9,
        },
    )
    history = History()
    start = time.perf_counter()
    # the starting placement is the first incumbent, so the answer is never worse than it
    best_u = plan.start()
    if mode == "hybrid":
        predicted = float(plan.operator_objective(best_u[None])[0])
        best_value = check(plan, best_u, predicted, method, history, problem.tolerance_k)
    else:
        best_value, _ = plan.solver_objective(best_u, method)
        history.solver_calls += 1
    evaluations = 1
    while evaluations < search.steps:
        asked = np.array(es.ask())
        candidates = asked[: search.steps - evaluations]
        polishing = evaluations >= search.steps * (1.0 - search.polish)
        if mode == "hybrid" and not polishing:
            values = plan.operator_objective(candidates)
            top = np.argsort(values)[: search.screened]
            checked = np.array(
                [
                    check(
                        plan, candidates[i], float(values[i]), method, history, problem.tolerance_k
                    )
                    for i in top
                ]
            )
            values += float(np.mean(checked - values[top]))
            values[top] = checked
            i = int(top[np.argmin(checked)])
            if values[i] < best_value:
                best_u, best_value = candidates[i], float(values[i])
        else:
            values = np.empty(len(candidates))
            for k, u in enumerate(candidates):
                values[k], _ = plan.solver_objective(u, method)
                history.solver_calls += 1
            history.polished += len(candidates) if mode == "hybrid" else 0
            i = int(np.argmin(values))
            if values[i] < best_value:
                best_u, best_value = candidates[i], float(values[i])
        evaluations += len(candidates)
        if len(candidates) == len(asked):
            es.tell(list(asked), list(values))
        history.evaluations.append(evaluations)
        history.best.append(best_value)
        if progress is not None:
            progress(evaluations, best_value)
    if search.descent:
        best_u, best_value = descend(plan, best_u, best_value, search.descent, history)
    field, info = plan.solve(best_u, "auto")
    history.solver_calls += 1
    verified = plan.result(best_u, field, info)
    start_u = plan.start()
    f0, i0 = plan.solve(start_u, "auto")
    initial = plan.result(start_u, f0, i0)
    return Outcome(
        mode,
        best_u,
        plan.blocks(best_u),
        best_value,
        verified,
        initial,
        float(field[plan.cells].max()),
        float(f0[plan.cells].max()),
        history,
        time.perf_counter() - start,
        float(plan.penalty(best_u[None])[0]),
        plan.site.power,
        plan.cells,
        plan.runaways,
    )


DESCENT_WIDTH = 0.005
"""Width of the smooth maximum the descent minimizes, as a fraction of the starting field's
range on the block-carrying cells."""


def check_descent(plan: Floorplan) -> None:
    """Refuse a gradient descent that cannot run on ``plan``, before any search.

    Raises:
        InputError: for an objective with a gradient term.
    """
    if plan.problem.objective.gradient:
        raise InputError("search.descent needs an objective without the gradient term")


class SmoothObjective:
    """The descent's objective of a placement u: peak·smoothmax + mean·mean of the
    block-carrying cells plus the overlap penalty, K, with its gradient in u by the adjoint.

    The smooth maximum is log Σ exp(β·T) / β. One call solves the placement and its adjoint;
    on a linear stack both on one solver, and the gradient with respect to a block's position
    is the adjoint field times the change of the rasterized power (no more solves), plus the
    penalty's change. A stack solved by fixed-point iteration (k(T), leakage, coolants) is
    solved warm-started from the last placement's field, its adjoint comes from the Jacobian
    of its full equations (:mod:`chiptherm.analysis.jacobian`), and a position's gradient is the
    adjoint times the change of the residual of the moved block (two assemblies), which
    carries the block's leakage along with its power.
    """

    def __init__(self, plan: Floorplan, beta: float) -> None:
        check_descent(plan)
        self.plan = plan
        self.beta = beta
        self.iterated = plan.site.stack.needs_iteration
        self.solver = None if self.iterated else make_solver(plan.system, "auto")
        self.last: np.ndarray | None = None  # the warm start of fixed-point solves

    def field(self, u: np.ndarray) -> np.ndarray:
        """The solver field (nz, ny, nx) of placement u, K."""
        return self._solved(u, jacobian=False)[0]

    def _solved(self, u: np.ndarray, jacobian: bool) -> tuple[np.ndarray, Jacobian | None]:
        """The field of placement u and, for a stack solved by fixed-point iteration when
        ``jacobian``, the Jacobian of its equations there.

        Raises:
            SolverError: on thermal runaway.
        """
        plan = self.plan
        if not self.iterated:
            assert self.solver is not None
            q = power_field(plan.stack(u), plan.grid)
            field, _ = self.solver.solve(plan.system.rhs_for(q), tol=1e-10)
            return field.reshape(plan.grid.shape), None
        stack = plan.stack(u)
        solution = solve_nonlinear(stack, plan.grid, x0=self.last, kelvin_tol=1e-9)
        self.last = solution.temperature
        if not jacobian:
            return solution.temperature, None
        coolants = coolants_of(stack, solution.system)
        return solution.temperature, Jacobian.at(stack, plan.grid, solution.temperature, coolants)

    def __call__(self, u: np.ndarray) -> tuple[float, np.ndarray, float]:
        """(smooth objective, its gradient (2m,), the true objective), K.

        Raises:
            SolverError: on thermal runaway of a stack solved by fixed-point iteration.
        """
        plan, weights, cells = self.plan, self.plan.problem.objective, self.plan.cells
        field, jacobian = self._solved(u, jacobian=True)
        carried = field[cells]
        penalty = float(plan.penalty(u[None])[0])
        top = float(carried.max())
        soft = np.exp(self.beta * (carried - top))
        w = np.zeros(plan.grid.shape)
        w[cells] = weights.peak * soft / soft.sum() + weights.mean / carried.size
        change = self._linear_change(w) if jacobian is None else self._full_change(w, jacobian)
        gradient = np.zeros_like(u)
        for k in range(len(u)):
            hi, lo = u.copy(), u.copy()
            hi[k], lo[k] = min(u[k] + 1e-4, 1.0), max(u[k] - 1e-4, 0.0)
            dp = plan.penalty(hi[None])[0] - plan.penalty(lo[None])[0]
            gradient[k] = (change(k, hi, lo) + float(dp)) / (hi[k] - lo[k])
        smooth = top + float(np.log(soft.sum())) / self.beta
        mean = float(carried.mean())
        value = weights.peak * smooth + weights.mean * mean + penalty
        true_value = float(plan.objective_of_fields(carried[None])[0]) + penalty
        return value, gradient, true_value

    def _linear_change(self, w: np.ndarray) -> Callable[[int, np.ndarray, np.ndarray], float]:
        """The objective's change from placement lo to hi of coordinate k on a linear stack:
        the per-watt adjoint map times the change of the block's rasterized power."""
        plan, cells = self.plan, self.plan.cells
        assert self.solver is not None
        adjoint, _ = self.solver.solve(w, tol=1e-10)
        adjoint = adjoint.reshape(plan.grid.shape)
        # a watt in the carrying cells, spread through them by height as the source's power is
        share = plan.grid.dz[cells] / plan.grid.dz[cells].sum()
        per_watt = np.tensordot(share, adjoint[cells], axes=1)  # (ny, nx) K/W

        def change(k: int, hi: np.ndarray, lo: np.ndarray) -> float:
            block = plan.movable[k // 2]
            moved = [plan.grid.block_fraction(plan.blocks(v)[k // 2]) for v in (hi, lo)]
            return float((per_watt * block.watts * (moved[0] - moved[1])).sum())

        return change

    def _full_change(
        self, w: np.ndarray, jacobian: Jacobian
    ) -> Callable[[int, np.ndarray, np.ndarray], float]:
        """The objective's change from placement lo to hi of coordinate k on a stack solved by
        fixed-point iteration: the adjoint times the change of the residual at the field."""
        plan = self.plan
        multipliers = jacobian.solve_transpose(w, tol=1e-10)

        def change(k: int, hi: np.ndarray, lo: np.ndarray) -> float:
            moved = [jacobian.residual(plan.stack(v), plan.grid) for v in (hi, lo)]
            return float(multipliers @ (moved[0] - moved[1]))

        return change


def descend(
    plan: Floorplan, u0: np.ndarray, value0: float, steps: int, history: History
) -> tuple[np.ndarray, float]:
    """Polish a placement by gradient descent: L-BFGS-B over the block positions (bounds
    [0, 1]) on the :class:`SmoothObjective` with 1/β = :data:`DESCENT_WIDTH` of the starting
    field's range on the block-carrying cells, for at most ``steps`` evaluations (a solve and
    an adjoint solve each). Returns the placement with the best true objective met (``u0``
    and ``value0`` unless one beats them).

    Raises:
        InputError: for an objective with a gradient term.
    """
    from scipy.optimize import minimize

    start = np.asarray(u0, dtype=float)
    objective = SmoothObjective(plan, 1.0)
    span = float(np.ptp(objective.field(start)[plan.cells]))
    history.solver_calls += 1
    objective.beta = 1.0 / (DESCENT_WIDTH * span) if span > 0 else 1.0
    best = {"u": start, "value": value0}

    def evaluate(u: np.ndarray) -> tuple[float, np.ndarray]:
        try:
            value, gradient, true_value = objective(u)
        except SolverError:  # thermal runaway: far worse than any placement with a steady state
            if not objective.iterated:
                raise
            plan.runaways += 1
            history.solver_calls += 1
            return RUNAWAY_K + float(plan.penalty(u[None])[0]), np.zeros_like(u)
        history.solver_calls += 2  # the placement and its adjoint
        history.descent_steps += 1
        if true_value < best["value"]:
            best["u"], best["value"] = u.copy(), true_value
        return value, gradient

    minimize(
        evaluate,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, 1.0)] * len(start),
        options={"maxfun": steps, "maxiter": steps},
    )
    history.descent_gain_k = value0 - best["value"]
    return best["u"], best["value"]


def check(
    plan: Floorplan,
    u: np.ndarray,
    predicted: float,
    method: str,
    history: History,
    tolerance_k: float,
) -> float:
    """The objective of a candidate: the operator's when its confidence score passes, else the
    solver's, warm-started from the prediction. Once scoring stops paying (see
    :meth:`History.scoring_pays`), the solver decides directly. If the first
    ``SCORE_TRIAL`` checks all pass, the next candidate is solved anyway (counted as a
    refinement), once, so that the comparison knows what a solve costs."""
    field = None
    assert plan.op is not None
    if history.scoring_pays():
        if plan.estimator is None:
            plan.estimator = ErrorEstimator(plan.system, plan.site.stack)
        started = time.perf_counter()
        q = power_field(plan.stack(u), plan.grid)
        dens = rasterize_blocks(plan.rectangles(u[None]), plan.size, plan.op.case.sensors)
        field = plan.op.predict(dens, grid=plan.grid)[0]
        conf = plan.estimator.score(field, tolerance_k, rhs=plan.system.rhs_for(q))
        history.scores += 1
        history.score_seconds += time.perf_counter() - started
        if conf.accepted and (history.timed_solves or history.scores <= SCORE_TRIAL):
            history.accepted += 1
            return predicted
    history.refinements += 1
    return timed_solve(plan, u, method, field, history)


def timed_solve(
    plan: Floorplan, u: np.ndarray, method: str, x0: np.ndarray | None, history: History
) -> float:
    """The solver's objective of a candidate (warm-started from ``x0``), timed into
    ``history``."""
    history.solver_calls += 1
    started = time.perf_counter()
    value, _ = plan.solver_objective(u, method, x0=x0)
    history.solve_seconds += time.perf_counter() - started
    history.timed_solves += 1
    return value


def outcome_summary(outcome: Outcome) -> dict[str, object]:
    """A JSON-ready summary of an optimization run."""
    h = outcome.history
    return {
        "mode": outcome.mode,
        "seconds": outcome.seconds,
        "evaluations": h.evaluations[-1] if h.evaluations else 0,
        "solver_calls": h.solver_calls,
        "confidence_checks": h.scores,
        "confidence_accepted": h.accepted,
        "refinements": h.refinements,
        "polish_evaluations": h.polished,
        "descent_steps": h.descent_steps,
        "descent_gain_k": h.descent_gain_k,
        "objective_k": outcome.objective_k,
        "initial_peak_k": outcome.initial_peak_k,
        "verified_peak_k": outcome.verified_peak_k,
        "overlap_penalty_k": outcome.overlap_k,
        "runaway_candidates": outcome.runaways,
        "blocks": [b.model_dump() for b in outcome.blocks],
        "history": {"evaluations": h.evaluations, "best_k": h.best},
    }


def write_report(outcome: Outcome, out_dir: str | Path) -> list[Path]:
    """placement.yaml (the best stack), before.png / after.png maps of the block-carrying cells
    (hottest through their layer) with the placed blocks outlined, history.png and summary.json
    in ``out_dir``."""
    from chiptherm.description.stack_io import save_stack
    from chiptherm.report.outputs import write_json
    from chiptherm.report.plots import plot_heat_map, plot_history

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [save_stack(outcome.verified.stack, out / "placement.yaml")]
    maps = []
    for name, result, peak in (
        ("before", outcome.initial, outcome.initial_peak_k),
        ("after", outcome.verified, outcome.verified_peak_k),
    ):
        source = result.stack.power[outcome.power or next(iter(result.stack.power))]
        if outcome.cells is not None:  # the layer (or face) that carries the blocks
            tmap = result.temperature[outcome.cells].max(axis=0)
        else:
            hottest = np.unravel_index(np.argmax(result.temperature), result.temperature.shape)
            tmap = result.temperature[hottest[0]]
        maps.append((name, tmap, source.blocks, peak))
    vmin = min(m[1].min() for m in maps)
    vmax = max(m[1].max() for m in maps)
    for name, tmap, blocks, peak in maps:
        written.append(
            plot_heat_map(
                tmap,
                outcome.verified.stack.size,
                out / f"{name}.png",
                title=f"{name}: peak {peak:.2f} K (solver)",
                blocks=blocks,
                vmin=vmin,
                vmax=vmax,
            )
        )
    h = outcome.history
    written.append(
        plot_history(
            h.best,
            out / "history.png",
            title=f"{outcome.mode} search",
            ylabel="best objective (K)",
            xlabel="generation",
        )
    )
    written.append(write_json(out / "summary.json", outcome_summary(outcome)))
    return written
