"""Die placement: a problem whose search moves whole dies on the interposer of a stack
(:class:`DiePlan`). A die is the set of the stack's material regions that share its
footprint (its silicon in each layer, its bump field) and the blocks of the placed source
inside it; moving the die moves them all, and the mold compound fills the rest. The matrix
changes with every placement, so each candidate is assembled and its solver built anew
(:meth:`DiePlan.linear_solver`; warm-started from the last field).

A coarser copy of the same placement problem (:meth:`DiePlan.coarse`: the stack's lateral
grid divided by :meth:`~chiptherm.design.problem.Search.ranking_factor`) is the hybrid's
cheap model: it ranks every candidate,
and the solver on the stack's own grid checks the best-ranked distinct placements at the end
(:func:`~chiptherm.design.search.verify_best`)."""

from __future__ import annotations

import numpy as np

from chiptherm.description.parts import Block, Region
from chiptherm.description.stack import Stack
from chiptherm.design.floorplan import Floorplan, Site, overlap_share
from chiptherm.design.problem import DieSpec, Problem
from chiptherm.discretize.system import System
from chiptherm.errors import InputError
from chiptherm.solvers import LinearSolver, make_solver

TOUCH = 1e-9
"""Relative tolerance (of the chip's size) for a region's footprint to equal a die's."""


class DiePlan(Floorplan):
    """A die-placement problem bound to its stack: maps u in [0, 1]^(2d) (d movable dies)
    to die corners, the placed stack, the overlap penalty and the solver's objective."""

    def __init__(self, problem: Problem, site: Site) -> None:
        super().__init__(problem, None, site)
        self.dies = [d for d in problem.dies if not d.fixed]
        self.movers = self.dies  # u places the dies (corners, start, areas as for blocks)
        self.fixed_dies = [d for d in problem.dies if d.fixed]
        self.ranking: DiePlan | None = None  # the coarser copy that ranks hybrid candidates
        for die in problem.dies:
            check_die(die, site.stack)

    # -- placements ------------------------------------------------------------------------------
    def rectangles(self, u: np.ndarray) -> np.ndarray:
        """(S, n, 4) all dies (movable, then fixed) as fractions of the chip (x0, y0, w, h)."""
        lx, ly = self.size
        scale = np.array([lx, ly, lx, ly])
        corners = self.corners(u)
        moving = np.array([[d.width, d.height] for d in self.dies])
        fixed = np.array([[d.x, d.y, d.width, d.height] for d in self.fixed_dies]).reshape(-1, 4)
        rows = [np.vstack([np.hstack([c, moving]), fixed]) / scale[None] for c in corners]
        return np.array(rows)

    def penalty(self, u: np.ndarray) -> np.ndarray:
        """(S,) overlap penalty of the dies, K: weight x overlap area / smaller die area."""
        rects = self.rectangles(u)
        out = np.zeros(len(rects))
        for i in range(len(self.dies)):
            for j in range(i + 1, rects.shape[1]):
                out += self.overlap_weight * overlap_share(rects[:, i], rects[:, j])
        return out

    def moves(self, u: np.ndarray) -> list[tuple[DieSpec, float, float]]:
        """Each movable die of one placement u (2d,) with its shift (dx, dy) from the stack
        file's position, m."""
        corners = self.corners(u)[0]
        return [
            (d, float(c[0] - d.x), float(c[1] - d.y))
            for d, c in zip(self.dies, corners, strict=True)
        ]

    def stack(self, u: np.ndarray) -> Stack:
        """The site's stack with the dies (their regions and blocks) moved to placement u."""
        base = self.site.stack
        moves = self.moves(u)
        layers = [
            layer.model_copy(
                update={"regions": [moved(r, moves, layer.name) for r in layer.regions]}
            )
            if layer.regions
            else layer
            for layer in base.layers
        ]
        power = dict(base.power)
        source = power[self.site.power]
        power[self.site.power] = source.model_copy(
            update={"blocks": [moved(b, moves) for b in source.blocks]}
        )
        return base.model_copy(update={"layers": layers, "power": power})

    def placed_dies(self, u: np.ndarray) -> list[dict[str, object]]:
        """Every die of placement u (2d,): name, south-west corner x, y (m), fixed."""
        moving = [
            {"name": d.name, "x": d.x + dx, "y": d.y + dy, "fixed": False}
            for d, dx, dy in self.moves(u)
        ]
        return moving + [
            {"name": d.name, "x": d.x, "y": d.y, "fixed": True} for d in self.fixed_dies
        ]

    def blocks(self, u: np.ndarray) -> list[Block]:
        """The placed source's blocks, moved with their dies."""
        return list(self.stack(u).power[self.site.power].blocks)

    @property
    def checked_at_end(self) -> bool:
        """A die search ranks on a coarser grid and checks its best placements at the end."""
        return True

    def coarse(self) -> DiePlan:
        """The same problem on the stack's lateral grid divided by
        :meth:`~chiptherm.design.problem.Search.ranking_factor` (at least 4 cells a side):
        the hybrid's cheap model."""
        spec = self.site.stack.grid
        factor = self.problem.search.ranking_factor(spec.nx, spec.ny)
        nx, ny = max(spec.nx // factor, 4), max(spec.ny // factor, 4)
        stack = self.site.stack.with_grid(nx, ny)
        return DiePlan(self.problem, Site.of_stack(stack, self.site.power))

    def operator_objective(self, u: np.ndarray) -> np.ndarray:
        """(S,) objectives of placements u (S, 2d) on the coarser grid (:meth:`coarse`,
        built at the first call), K, one solve each (warm-started from the last)."""
        if self.ranking is None:
            self.ranking = self.coarse()
        method = self.problem.solver
        return np.array([self.ranking.solver_objective(v, method)[0] for v in np.atleast_2d(u)])

    # -- solves ------------------------------------------------------------------------------------
    def linear_solver(self, stack: Stack, method: str) -> tuple[System, LinearSolver]:
        """The system of placement ``stack``, assembled anew, and its solver. Each matrix is
        solved once, with no factorization to amortize, so 'auto' means multigrid CG here
        (20 ms against 0.4 s for LU at 16,000 cells)."""
        system = System.from_stack(stack, self.grid)
        return system, make_solver(system, "cg-mg" if method == "auto" else method)


def moved(
    part: Region | Block, moves: list[tuple[DieSpec, float, float]], layer: str | None = None
) -> Region | Block:
    """A region with a die's footprint (or inside it, in a layer the die ``carries``), or a
    block inside a die's footprint, shifted with that die; any other part unchanged."""
    for die, dx, dy in moves:
        if carried(part, die, isinstance(part, Block) or layer in die.carries):
            return part.model_copy(update={"x": part.x + dx, "y": part.y + dy})
    return part


def carried(part: Region | Block, die: DieSpec, inside: bool) -> bool:
    """Whether ``part`` moves with ``die``: a region with exactly its footprint, or (with
    ``inside``) any rectangle within it."""
    tol = TOUCH * max(die.width, die.height)
    if inside:
        return (
            part.x >= die.x - tol
            and part.y >= die.y - tol
            and part.x + part.width <= die.x + die.width + tol
            and part.y + part.height <= die.y + die.height + tol
        )
    return all(
        abs(a - b) <= tol
        for a, b in zip(
            (part.x, part.y, part.width, part.height),
            (die.x, die.y, die.width, die.height),
            strict=True,
        )
    )


def check_die(die: DieSpec, stack: Stack) -> None:
    """Refuse a die that carries a layer the stack lacks, that no region of the stack has
    the footprint of, or that its ``within`` area cannot hold (an area sticking out of the
    chip is refused by :func:`~chiptherm.design.problem.validate_problem`).

    Raises:
        InputError: naming the die and what is wrong.
    """
    names = [layer.name for layer in stack.layers]
    unknown = [name for name in die.carries if name not in names]
    if unknown:
        raise InputError(
            f"die {die.name!r}: carries {', '.join(map(repr, unknown))}, but stack "
            f"{stack.name!r} has layers {', '.join(names)}"
        )
    if not any(carried(r, die, False) for layer in stack.layers for r in layer.regions):
        raise InputError(
            f"die {die.name!r}: no region of stack {stack.name!r} has its footprint "
            f"({die.x:g}, {die.y:g}, {die.width:g} x {die.height:g} m); give the die where "
            "the stack file has its regions"
        )
    area = die.within
    if area is not None and (
        die.width > area.width * (1 + TOUCH) or die.height > area.height * (1 + TOUCH)
    ):
        raise InputError(f"die {die.name!r} is larger than its 'within' area")


def plan_for(problem: Problem, op: object, site: Site | None) -> Floorplan:
    """The plan of a problem: a :class:`DiePlan` when it places dies, else a
    :class:`~chiptherm.design.floorplan.Floorplan` of its blocks."""
    if problem.dies:
        if site is None:
            raise InputError("die placement needs the problem's stack (a 'stack' problem)")
        return DiePlan(problem, site)
    return Floorplan(problem, op, site)  # type: ignore[arg-type]
