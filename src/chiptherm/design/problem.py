"""The problem file of a floorplan search: the blocks to place (sizes, powers, fixed
positions), keep-out rectangles, the overlap rule, the objective and the search settings, read
and validated from YAML (:func:`load_problem`), and the checks a problem must pass against the
die it is placed on (:func:`validate_problem`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from chiptherm.description.settings import Settings, load_settings
from chiptherm.description.stack import Block
from chiptherm.errors import InputError
from chiptherm.trust.confidence import DEFAULT_TOLERANCE_K


class Rectangle(Settings):
    """An axis-aligned rectangle in the chip plane, m; (x, y) is its south-west corner."""

    x: float = Field(ge=0)
    """West edge, m."""
    y: float = Field(ge=0)
    """South edge, m."""
    width: float = Field(gt=0)
    """Extent along x, m."""
    height: float = Field(gt=0)
    """Extent along y, m."""


class KeepOut(Rectangle):
    """A rectangle (m) that no movable block may overlap."""


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
    within: Rectangle | None = None
    """The area a movable block stays inside (its die on an interposer), m; default the
    whole chip."""

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
        if self.within is not None and (
            self.width > self.within.width * (1 + 1e-9)
            or self.height > self.within.height * (1 + 1e-9)
        ):
            raise ValueError(
                f"the block ({self.width:g} x {self.height:g} m) is larger than its 'within' "
                f"area ({self.within.width:g} x {self.within.height:g} m)"
            )
        return self


class DieSpec(Rectangle):
    """A die to place on the interposer: its footprint where the stack file has it (x, y:
    the south-west corner, m). Every material region of the stack with exactly this
    footprint (the die's silicon in each of its layers, its bump field), every region inside
    it in the layers it ``carries``, and every block of the placed source inside it move
    with the die; the rest (mold, by default the interposer's TSV fields) stays."""

    name: str
    """The die's name, unique in the problem."""
    within: Rectangle | None = None
    """The area the die stays inside, m; default the whole chip."""
    fixed: bool = False
    """A fixed die stays where the stack file has it (its regions still count as taken)."""
    carries: list[str] = Field(default_factory=list)
    """Layers whose regions inside the die's footprint move with it too (the interposer's
    TSV field under the die); in the other layers only regions of its exact footprint do."""


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
    polish: float | None = Field(default=None, ge=0, le=1)
    """Hybrid mode: the share of the steps, at the end, evaluated by the solver (default
    0.1 with a network operator; 0 with a response operator or a coarser grid, whose checks
    come at the end)."""
    descent: int = Field(default=0, ge=0)
    """Gradient steps after the search (0: none)."""
    coarse: int | None = Field(default=None, ge=2)
    """Hybrid die placement: the ranking grid's lateral coarsening, stack cells per ranking
    cell along x and y (default: the largest factor up to 8 that leaves at least 24 cells
    along each side, and at least 2)."""
    verify: int = Field(default=8, ge=1)
    """Hybrid mode with a response operator or a coarser grid (die placement): the
    best-ranked distinct placements the solver checks at the end; the best checked one is
    the answer."""

    def ranking_factor(self, nx: int, ny: int, largest: int = 8, keep: int = 24) -> int:
        """Hybrid die placement: the ranking grid's coarsening of an nx x ny grid, ``coarse``
        or by default the largest factor up to ``largest`` that leaves at least ``keep``
        cells along each side, and at least 2. On ``examples/chiplets.yaml`` (240 x 200) it
        is 8: a 30 x 25 grid whose solve, assembly included, costs about 1/40 of the
        package's (``benchmarks/optimize_chiplets.py``)."""
        return self.coarse or max(2, min(largest, nx // keep, ny // keep))

    def polish_share(self, checked_at_end: bool) -> float:
        """The share of the steps the solver evaluates at the end (see ``polish``)."""
        if self.polish is not None:
            return self.polish
        return 0.0 if checked_at_end else 0.1

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
    response: str | None = None
    """With `stack`: a response operator of it (.npz from `chiptherm response`, relative to
    the problem file) for the hybrid search."""
    blocks: list[BlockSpec] = Field(default_factory=list)
    """The blocks, movable and fixed."""
    dies: list[DieSpec] = Field(default_factory=list)
    """With `stack`: dies to place instead of blocks (each carries its blocks along)."""
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
        if self.response is not None and self.stack is None:
            raise ValueError("'response' goes with 'stack': the stack the operator was built from")
        names = [b.name for b in self.blocks]
        if len(set(names)) != len(names):
            raise ValueError("block names must be unique")
        if self.dies:
            if self.stack is None:
                raise ValueError("'dies' go with 'stack': the stack file holds their regions")
            if self.blocks or self.response is not None:
                raise ValueError(
                    "a problem places 'dies' (each with the stack's blocks on it) or 'blocks', "
                    "not both; a response operator holds for fixed dies only"
                )
            if len({d.name for d in self.dies}) != len(self.dies):
                raise ValueError("die names must be unique")
            if all(d.fixed for d in self.dies):
                raise ValueError("at least one die must be movable")
            return self
        if all(b.fixed for b in self.blocks):
            raise ValueError("at least one block must be movable (or give 'dies' to place)")
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


def validate_problem(problem: Problem, size: tuple[float, float]) -> None:
    """Refuse a problem that cannot be placed on a die of ``size`` (m): a block larger than
    the die, a fixed block or a block's or die's ``within`` area sticking out of it, or (with
    ``overlap: forbid``) more block and keep-out area than the die has."""
    lx, ly = size
    for b in problem.blocks:
        if b.width > lx or b.height > ly:
            raise InputError(
                f"block {b.name!r} ({b.width:g} x {b.height:g} m) is larger than the die "
                f"({lx:g} x {ly:g} m)"
            )
        if b.fixed and (b.x + b.width > lx * (1 + 1e-9) or b.y + b.height > ly * (1 + 1e-9)):
            raise InputError(f"fixed block {b.name!r} sticks out of the die ({lx:g} x {ly:g} m)")
    for kind, item in [
        *(("block", b) for b in problem.blocks),
        *(("die", d) for d in problem.dies),
    ]:
        area = item.within
        if area is not None and (
            area.x + area.width > lx * (1 + 1e-9) or area.y + area.height > ly * (1 + 1e-9)
        ):
            raise InputError(
                f"{kind} {item.name!r}: its 'within' area ({area.x:g}, {area.y:g}, "
                f"{area.width:g} x {area.height:g} m) sticks out of the "
                f"{'die' if kind == 'block' else 'chip'} ({lx:g} x {ly:g} m)"
            )
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
