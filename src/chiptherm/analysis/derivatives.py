"""How the change of an objective J under a change of the stack is evaluated, three ways that
share one interface (:class:`Evaluator`): on a linear stack by the adjoint λ (one solve, then
an assembly per parameter: ΔJ = Δw·T + λ·(Δb - ΔA·T)); on a stack solved by fixed-point
iteration by the adjoint of its full Jacobian; and by full solves warm-started from the nominal
field (the check of both). :func:`choose_evaluator` solves the nominal stack and picks the one
a method names.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from chiptherm.analysis.jacobian import Jacobian
from chiptherm.analysis.objectives import Objective, make_objective
from chiptherm.description.stack import Stack
from chiptherm.discretize.grid import Grid
from chiptherm.discretize.system import System
from chiptherm.solvers import LinearSolver, make_solver
from chiptherm.solvers.nonlinear import solve_nonlinear
from chiptherm.solvers.result import Result, solve
from chiptherm.solvers.terms import coolants_of


def choose_evaluator(
    stack: Stack, objective: str, method: str, solver: str, tol: float
) -> tuple[Result, Objective, Evaluator]:
    """The nominal solution, the objective on it and the evaluator of ``method``: the
    adjoint's shares the nominal solve's solver, or for a stack solved by fixed-point
    iteration uses the Jacobian at the converged field."""
    if method == "adjoint" and stack.needs_iteration:
        grid = Grid.from_stack(stack)
        solution = solve_nonlinear(stack, grid, solver, tol=tol, kelvin_tol=1e-9)
        nominal = Result(
            stack,
            grid,
            solution.temperature,
            solution.info,
            solution.system.energy_balance(solution.temperature),
        )
        target = make_objective(objective, nominal)
        coolants = coolants_of(stack, solution.system)
        jacobian = Jacobian.at(stack, grid, solution.temperature, coolants)
        return nominal, target, JacobianEvaluator(nominal, target, jacobian, tol)
    if method == "adjoint":
        system = System.from_stack(stack)
        linear_solver = make_solver(system, solver)
        nominal = solve_with(stack, system, linear_solver, tol)
        target = make_objective(objective, nominal)
        return nominal, target, AdjointEvaluator(nominal, target, linear_solver, tol)
    nominal = solve(stack, method=solver, tol=tol, kelvin_tol=1e-9)
    target = make_objective(objective, nominal)
    return nominal, target, SolveEvaluator(nominal, target, solver, tol)


def solve_with(stack: Stack, system: System, linear_solver: LinearSolver, tol: float) -> Result:
    """The nominal solution of a linear ``stack`` on a solver that is kept for the adjoint."""
    field, info = linear_solver.solve(system.rhs, tol=tol)
    field = field.reshape(system.shape)
    info = replace(info, relative_residual=system.relative_residual(field))
    return Result(stack, system.grid, field, info, system.energy_balance(field))  # type: ignore[arg-type]


class Evaluator:
    """J at a stack near the nominal one: what a central difference of the parameters takes.

    Attributes:
        solves: the solves made so far, the nominal one included.
        adjoint: the adjoint field λ (nz, ny, nx) K/W, or None.
    """

    solves: int = 1
    adjoint: np.ndarray | None = None

    def __call__(self, moved: Stack) -> float:
        raise NotImplementedError

    def for_objective(self, target: Objective) -> Evaluator:
        """The same kind of evaluator for another objective, counting on from these solves."""
        raise NotImplementedError


class AdjointEvaluator(Evaluator):
    """J at ``moved`` to first order by the adjoint, from an assembly and no solve:
    J ≈ w(moved)·T + λ·(b(moved) - A(moved)·T), T the nominal field, which is exact in the
    limit of a small change (the nominal residual is zero)."""

    def __init__(
        self,
        nominal: Result,
        target: Objective,
        linear_solver: LinearSolver,
        tol: float,
        solves: int = 1,
    ) -> None:
        weights = target.weights(nominal.stack, nominal.grid)
        adjoint, _ = linear_solver.solve(weights, tol=tol)  # A is symmetric: Aᵀ = A
        self.adjoint = adjoint.reshape(weights.shape)
        self.solves = solves + 1
        self.nominal = nominal
        self.field = nominal.temperature
        self.target = target
        self.linear_solver = linear_solver
        self.tol = tol

    def for_objective(self, target: Objective) -> AdjointEvaluator:
        return AdjointEvaluator(self.nominal, target, self.linear_solver, self.tol, self.solves)

    def __call__(self, moved: Stack) -> float:
        system = System.from_stack(moved)
        grid: Grid = system.grid  # type: ignore[assignment]
        explicit = float((self.target.weights(moved, grid) * self.field).sum())
        return explicit + float((self.adjoint * system.residual(self.field)).sum())


class JacobianEvaluator(Evaluator):
    """J at ``moved`` to first order by the adjoint of a stack solved by fixed-point
    iteration (k(T), leakage, coolants): J ≈ w(moved)·T + λ·R(moved; T, c), with Jᵀλ = (w, 0)
    for the Jacobian J of the full equations at the nominal field T and coolant
    temperatures c (:mod:`chiptherm.analysis.jacobian`); an assembly per call, no solve."""

    def __init__(
        self, nominal: Result, target: Objective, jacobian: Jacobian, tol: float, solves: int = 1
    ) -> None:
        weights = target.weights(nominal.stack, nominal.grid)
        self.multipliers = jacobian.solve_transpose(weights, tol=tol)
        self.adjoint = self.multipliers[: weights.size].reshape(weights.shape)
        self.solves = solves + 1
        self.nominal = nominal
        self.target = target
        self.jacobian = jacobian
        self.tol = tol

    def for_objective(self, target: Objective) -> JacobianEvaluator:
        return JacobianEvaluator(self.nominal, target, self.jacobian, self.tol, self.solves)

    def __call__(self, moved: Stack) -> float:
        grid = Grid.from_stack(moved)
        explicit = float((self.target.weights(moved, grid) * self.nominal.temperature).sum())
        return explicit + float(self.multipliers @ self.jacobian.residual(moved))


class SolveEvaluator(Evaluator):
    """J at ``moved`` by a full solve started from the nominal field."""

    def __init__(
        self, nominal: Result, target: Objective, solver: str, tol: float, solves: int = 1
    ) -> None:
        self.solves = solves
        self.nominal = nominal
        self.target = target
        self.solver = solver
        self.tol = tol

    def for_objective(self, target: Objective) -> SolveEvaluator:
        return SolveEvaluator(self.nominal, target, self.solver, self.tol, self.solves)

    def __call__(self, moved: Stack) -> float:
        result = solve(
            moved, method=self.solver, x0=self.nominal.temperature, tol=self.tol, kelvin_tol=1e-9
        )
        self.solves += 1
        return float((self.target.weights(moved, result.grid) * result.temperature).sum())
