"""Floorplan search: CMA-ES (the ``cma`` library) over the block positions, one population
per generation, evaluated in one of two modes:

- ``hybrid``: the operator scores the whole population in one batched prediction. With a
  network operator, the ``search.screen`` best-predicted candidates of each generation are
  checked by the confidence score and the solver (warm-started from the prediction) replaces
  doubtful values; the other predictions are shifted by the checked ones' mean correction.
  With a response operator (:mod:`~chiptherm.operator.response`: the exact solve of the
  power its basis keeps), the predictions rank every generation unchecked, and at the end
  the solver checks the ``search.verify`` best-predicted distinct placements; the best
  checked one is the answer. The last ``search.polish`` share of the steps is evaluated by
  the solver, and the final placement is always verified.
- ``solver``: every candidate solved by the reference solver (``method``: 'auto' = the fastest,
  'cg-amg' = pyamg-preconditioned CG), the baseline.

The solver's evaluations of a generation (every generation in ``solver`` mode, the polish in
``hybrid`` mode) are independent: with a :class:`~chiptherm.tasks.Runner` on a Dask cluster
they run as tasks, one per candidate, each worker keeping its own factorization or
preconditioner. The hybrid's screen stays in this process: whether a candidate is scored or
solved depends on the checks before it.

The objective of a placement, in K, is  peak·max T + mean·mean T + gradient·max |∇T| (K/mm),
all over the cells that carry the blocks, plus the overlap and keep-out penalty.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from chiptherm.design.dies import DiePlan, plan_for
from chiptherm.design.floorplan import Floorplan, Site
from chiptherm.design.gradient import check_descent, descend
from chiptherm.design.outcome import SCORE_TRIAL, History, Outcome
from chiptherm.design.problem import Problem
from chiptherm.discretize.system import power_field
from chiptherm.errors import InputError
from chiptherm.operator.model import Operator
from chiptherm.operator.response import ResponseOperator
from chiptherm.operator.sampling import rasterize_blocks
from chiptherm.tasks import Runner, on_cluster, worker_cache
from chiptherm.trust.confidence import ErrorEstimator


def optimize(
    problem: Problem,
    op: Operator | ResponseOperator | None,
    mode: Literal["hybrid", "solver"] = "hybrid",
    solver: str | None = None,
    progress: Callable[[int, float], None] | None = None,
    site: Site | None = None,
    runner: Runner | None = None,
) -> Outcome:
    """Run the search; ``solver`` is the reference method (default: the problem's). Without
    an operator, ``site`` says where the blocks go and the solver alone searches. ``runner``
    says where a generation's solver evaluations run (None: here, one after another)."""
    import cma

    method = solver or problem.solver
    plan = plan_for(problem, op, site)
    if mode == "hybrid" and op is None and not plan.checked_at_end:
        raise InputError(
            "the hybrid search needs a model; a problem with a 'stack' is searched by the "
            "solver alone (mode 'solver')"
        )
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
    unchecked = mode == "hybrid" and plan.checked_at_end
    pool: list[tuple[np.ndarray, np.ndarray]] = []  # unchecked predictions: (u (S, 2m), (S,))
    if unchecked:
        best_value = float(plan.operator_objective(best_u[None])[0])
        pool.append((best_u[None], np.array([best_value])))
    elif mode == "hybrid":
        predicted = float(plan.operator_objective(best_u[None])[0])
        best_value = check(plan, best_u, predicted, method, history, problem.tolerance_k)
    else:
        best_value, _ = plan.solver_objective(best_u, method)
        history.solver_calls += 1
    evaluations = 1
    while evaluations < search.steps:
        asked = np.array(es.ask())
        candidates = asked[: search.steps - evaluations]
        polishing = evaluations >= search.steps * (1.0 - search.polish_share(unchecked))
        if unchecked and polishing and history.polished == 0:
            best_value = np.inf  # from here on the incumbent is the solver's
        if unchecked and not polishing:
            values = plan.operator_objective(candidates)
            pool.append((candidates, values))
            i = int(np.argmin(values))
            if values[i] < best_value:
                best_u, best_value = candidates[i], float(values[i])
        elif mode == "hybrid" and not polishing:
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
            values = solver_objectives(plan, candidates, method, runner)
            history.solver_calls += len(candidates)
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
    if unchecked:
        checked_u, checked = verify_best(plan, pool, search.verify, method, history)
        polished = history.polished > 0 and best_value <= checked
        best_u, best_value = (best_u, best_value) if polished else (checked_u, checked)
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
        plan.placed_dies(best_u) if isinstance(plan, DiePlan) else [],
    )


def verify_best(
    plan: Floorplan,
    pool: list[tuple[np.ndarray, np.ndarray]],
    count: int,
    method: str,
    history: History,
    apart: float = 0.02,
) -> tuple[np.ndarray, float]:
    """The best of the ``count`` best-predicted placements in ``pool`` (pairs of
    placements (S, 2m) and predicted objectives (S,)) by the solver, and its objective (K).

    Placements are taken in order of prediction, skipping any within ``apart`` (a share of
    each block's free span, on every coordinate) of one already taken, so that the checks
    cover the distinct optima the operator found rather than one optimum many times."""
    placements = np.concatenate([u for u, _ in pool])
    predicted = np.concatenate([v for _, v in pool])
    chosen: list[np.ndarray] = []
    for i in np.argsort(predicted, kind="stable"):
        if all(np.abs(placements[i] - c).max() > apart for c in chosen):
            chosen.append(placements[i])
        if len(chosen) == count:
            break
    values = [timed_solve(plan, u, method, None, history) for u in chosen]
    best = int(np.argmin(values))
    return chosen[best], float(values[best])


def solver_objectives(
    plan: Floorplan, candidates: np.ndarray, method: str, runner: Runner | None = None
) -> np.ndarray:
    """(S,) the solver's objectives (K) of placements ``candidates`` (S, 2m), in this process
    or as tasks of ``runner``; runaway placements are counted in ``plan.runaways``."""
    if runner is None or not on_cluster(runner):
        return np.array([plan.solver_objective(u, method)[0] for u in candidates])
    tasks = [Placement(plan.problem, plan.site, u, method) for u in candidates]
    outcomes = runner.run(placement_objective, tasks, expected=())
    plan.runaways += sum(runaway for _, runaway in outcomes)
    return np.array([value for value, _ in outcomes])


@dataclass(frozen=True)
class Placement:
    """One candidate for a worker: the problem, its site, the placement u (2m,) in [0, 1] and
    the solver's method."""

    problem: Problem
    site: Site
    u: np.ndarray
    method: str


def placement_objective(task: Placement) -> tuple[float, bool]:
    """The solver's objective (K) of one placement, and whether it ran away (a task of
    :func:`solver_objectives`); the floorplan and its solver are built once per worker."""
    site = task.site
    key = (
        "floorplan",
        task.problem.model_dump_json(),
        site.stack.model_dump_json(),
        site.power,
        *site.grid.key,
    )
    plan = worker_cache(key, lambda: plan_for(task.problem, None, task.site))
    value, field = plan.solver_objective(task.u, task.method)
    return value, field is None


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
