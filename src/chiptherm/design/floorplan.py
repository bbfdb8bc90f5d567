"""The geometry of a floorplan: where the blocks go (:class:`Site`: a stack, the power source
that takes the blocks and the cells it heats) and a problem bound to its site
(:class:`Floorplan`), which maps a search vector u in [0, 1]^(2m) to block corners, rectangles,
the placed stack, the overlap and keep-out penalty, and the objective of a placement by the
operator (batched) or the solver (one placement)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from chiptherm.description.stack import Block, Stack
from chiptherm.design.problem import BlockSpec, DieSpec, Problem, validate_problem
from chiptherm.discretize.grid import Grid
from chiptherm.discretize.system import System, power_field
from chiptherm.errors import InputError, SolverError
from chiptherm.operator.model import Operator
from chiptherm.operator.response import ResponseOperator
from chiptherm.operator.sampling import rasterize_blocks
from chiptherm.solvers import LinearSolver, SolveInfo, make_solver
from chiptherm.solvers.nonlinear import solve_nonlinear
from chiptherm.solvers.result import Result
from chiptherm.solvers.terms import RUNAWAY_K
from chiptherm.trust.confidence import ErrorEstimator


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


def overlap_share(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(S,) the overlap area of rectangles ``a`` and ``b`` (S, >= 4: x0, y0, width, height)
    as a share of the smaller one's area."""
    ox = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    oy = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    smaller = np.minimum(a[:, 2] * a[:, 3], b[:, 2] * b[:, 3])
    return np.clip(ox, 0, None) * np.clip(oy, 0, None) / smaller


def load_site(problem: Problem, base: Path) -> Site:
    """The site of a 'stack' problem: its stack file, relative to the problem's folder."""
    from chiptherm.formats.loading import load_stack

    assert problem.stack is not None and problem.power is not None
    return Site.of_stack(load_stack(base / problem.stack), problem.power)


def load_response(problem: Problem, base: Path) -> ResponseOperator | None:
    """The response operator a 'stack' problem names (relative to its folder), or None.

    Raises:
        InputError: for a file that does not exist (with the command that builds it) or is
            not a response operator.
    """
    if problem.response is None:
        return None
    path = Path(os.path.normpath(base / problem.response))
    if not path.exists():
        stack = os.path.normpath(base / str(problem.stack))
        raise InputError(
            f"response: {path} does not exist; build it from the problem's stack first: "
            f"chiptherm response {stack} --source {problem.power} "
            f"--sensors ROWSxCOLUMNS --within-regions --to {path}"
        )
    return ResponseOperator.load(path)


class Floorplan:
    """A problem bound to its site (and operator, for the hybrid search): evaluation of
    placements by operator and solver."""

    def __init__(
        self,
        problem: Problem,
        op: Operator | ResponseOperator | None = None,
        site: Site | None = None,
    ) -> None:
        if site is None:
            if not isinstance(op, Operator):
                raise InputError("a floorplan needs a network operator or a site for its blocks")
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
        self.movers: Sequence[BlockSpec | DieSpec] = self.movable  # what u places
        self.fixed = [b for b in problem.blocks if b.fixed]
        self.cells = site.cells
        self.solver: tuple[str, LinearSolver] | None = None
        self.warm: np.ndarray | None = None  # the last solved field: the next solve's start
        self.estimator: ErrorEstimator | None = None
        self.runaways = 0  # placements without a steady state met by the solver search
        self.levels = (
            response_levels(op, site) if isinstance(op, ResponseOperator) else None
        )  # where the site's cells lie among a response operator's output levels

    @cached_property
    def system(self) -> System:
        """The site's system: the matrix every block placement shares (assembled once, when
        first needed)."""
        return System.from_stack(self.site.stack, self.grid)

    @property
    def checked_at_end(self) -> bool:
        """Whether a hybrid search ranks by unchecked predictions and checks its best ones
        at the end (a response operator: the exact solve of the power its basis keeps),
        rather than scoring each generation's best (a network operator)."""
        return isinstance(self.op, ResponseOperator)

    # -- placements ------------------------------------------------------------------------------
    @property
    def dimensions(self) -> int:
        return 2 * len(self.movers)

    def areas(self) -> np.ndarray:
        """(m, 4) the area (x0, y0, width, height), m, each movable block (or die) stays
        in: its ``within`` or the whole chip."""
        lx, ly = self.size
        return np.array(
            [
                [0.0, 0.0, lx, ly]
                if b.within is None
                else [b.within.x, b.within.y, b.within.width, b.within.height]
                for b in self.movers
            ]
        )

    def corners(self, u: np.ndarray) -> np.ndarray:
        """(S, m, 2) lower-left corners (m) of the movable blocks (or dies) from u in
        [0, 1]^(S, 2m):
        u = 0 puts a block at its area's south-west corner, u = 1 at its north-east one."""
        u = np.clip(np.atleast_2d(u), 0.0, 1.0).reshape(len(np.atleast_2d(u)), -1, 2)
        areas = self.areas()
        size = np.array([[b.width, b.height] for b in self.movers])
        span = np.maximum(areas[:, 2:] - size, 0.0)
        return areas[None, :, :2] + u * span[None]

    def start(self) -> np.ndarray:
        """u of the starting placement: the given positions; blocks without one are packed in
        shelves from the top edge of their area down, spread evenly along each shelf, so the
        search starts from a placement without overlaps when the blocks fit."""
        corners = self.shelf_corners()
        u = []
        for b, area in zip(self.movers, self.areas(), strict=True):
            for axis, (pos, extent) in enumerate(((b.x, b.width), (b.y, b.height))):
                free = area[2 + axis] - extent
                if pos is None:
                    pos = corners[b.name][axis]
                u.append(0.5 if free <= 0 else float(np.clip((pos - area[axis]) / free, 0, 1)))
        return np.array(u)

    def shelf_corners(self) -> dict[str, tuple[float, float]]:
        """Lower-left corners (m) of the blocks without a given position, packed in shelves
        inside their areas (the blocks that share an area are packed together)."""
        groups: dict[tuple[float, ...], list[BlockSpec | DieSpec]] = {}
        for b, area in zip(self.movers, self.areas(), strict=True):
            if b.x is None or b.y is None:
                groups.setdefault(tuple(area), []).append(b)
        out: dict[str, tuple[float, float]] = {}
        for (x0, y0, lx, ly), todo in groups.items():
            shelves: list[list[BlockSpec | DieSpec]] = []
            width = lx
            for b in sorted(todo, key=lambda b: -b.height):
                if not shelves or width + b.width > lx:
                    shelves.append([])
                    width = 0.0
                shelves[-1].append(b)
                width += b.width
            top = y0 + ly
            for shelf in shelves:
                height = max(b.height for b in shelf)
                gap = max(lx - sum(b.width for b in shelf), 0.0) / (len(shelf) + 1)
                x = x0 + gap
                for b in shelf:
                    out[b.name] = (x, max(top - height, y0))
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

    @property
    def overlap_weight(self) -> float:
        """K per unit of overlap share: ``overlap_weight``, 100x with ``overlap: forbid``."""
        return self.problem.overlap_weight * (100.0 if self.problem.overlap == "forbid" else 1.0)

    def penalty(self, u: np.ndarray) -> np.ndarray:
        """(S,) overlap and keep-out penalty, K: weight x overlap area / smaller block area."""
        rects = self.rectangles(u)  # fractions
        lx, ly = self.size
        m = len(self.movable)
        out = np.zeros(len(rects))
        keep = [[k.x / lx, k.y / ly, k.width / lx, k.height / ly] for k in self.problem.keepout]
        for i in range(m):
            others = [rects[:, j, :4] for j in range(rects.shape[1]) if j > i or j >= m]
            for b in others + [np.broadcast_to(np.array(k), (len(rects), 4)) for k in keep]:
                out += self.overlap_weight * overlap_share(rects[:, i], b)
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
        if isinstance(self.op, ResponseOperator):
            placed = [self.blocks(row) for row in np.atleast_2d(u)]
            fields = self.op.predict_blocks(placed)[:, self.levels]
        else:
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
        stack = self.stack(u)
        system, solver = self.linear_solver(stack, method)
        field, info = solver.solve(
            system.rhs_for(power_field(stack, self.grid)),
            x0=self.warm if x0 is None else x0,
            tol=1e-9,
        )
        self.warm = field
        return field, info

    def linear_solver(self, stack: Stack, method: str) -> tuple[System, LinearSolver]:
        """The system of a placed linear ``stack`` and its solver: for blocks, the site's,
        built once per method (the matrix does not depend on where the blocks go)."""
        if self.solver is None or self.solver[0] != method:
            self.solver = (method, make_solver(self.system, method))
        return self.system, self.solver[1]

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


def response_levels(op: ResponseOperator, site: Site) -> np.ndarray:
    """(nc,) the positions of the site's cells among the output levels of a response
    operator, which must have been built from the site's stack, source and grid.

    Raises:
        InputError: for an operator of another stack, source or grid.
    """
    if op.source != site.power:
        raise InputError(
            f"the response operator was built for source {op.source!r}, not {site.power!r}; "
            "rebuild it with 'chiptherm response' from the problem's stack"
        )
    op.check_stack(site.stack, "response")
    levels = list(op.levels)
    missing = [int(c) for c in site.cells if c not in levels]
    if missing:
        raise InputError(
            f"the response operator keeps levels {levels} but the blocks heat levels "
            f"{[int(c) for c in site.cells]}; rebuild it with --all-levels"
        )
    return np.array([levels.index(c) for c in site.cells])
