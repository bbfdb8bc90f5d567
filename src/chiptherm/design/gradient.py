"""Gradient descent on a placement: a smooth objective whose gradient in the block positions
comes from one adjoint solve (:class:`SmoothObjective`), minimized by L-BFGS-B
(:func:`descend`) to polish the best placement the search found."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from chiptherm.analysis.jacobian import Jacobian
from chiptherm.design.floorplan import Floorplan
from chiptherm.design.outcome import History
from chiptherm.discretize.system import power_field
from chiptherm.errors import InputError, SolverError
from chiptherm.solvers import make_solver
from chiptherm.solvers.nonlinear import solve_nonlinear
from chiptherm.solvers.terms import RUNAWAY_K, coolants_of

DESCENT_WIDTH = 0.005
"""Width of the smooth maximum the descent minimizes, as a fraction of the starting field's
range on the block-carrying cells."""


def check_descent(plan: Floorplan) -> None:
    """Refuse a gradient descent that cannot run on ``plan``, before any search.

    Raises:
        InputError: for an objective with a gradient term, or a problem that places dies.
    """
    if plan.problem.objective.gradient:
        raise InputError("search.descent needs an objective without the gradient term")
    if plan.problem.dies:
        raise InputError("search.descent moves blocks; it does not move dies (use descent: 0)")


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
        InputError: for an objective with a gradient term, or a problem that places dies.
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
