"""How far to trust a predicted temperature field, and how to fix it when not.

The finite-volume system A·T = b of the stack judges any candidate field T (from an operator,
an old solution, a guess):

- its relative residual ||b - A·T|| / ||b|| says how well T balances the power of every cell;
- the error e = T_true - T solves A·e = r with r = b - A·T. :class:`ErrorEstimator` solves that
  residual equation in one of two ways:

  - ``exact``, for laterally uniform stacks (each layer one material): the transform solver
    gives e to round-off at the cost of one fast solve, so the score is the true largest error
    against the reference solution on the same grid;
  - ``coarse``, for every other stack: r is summed onto a grid coarser by ``factor`` in x and y
    and through each layer of at least ``MIN_COARSENED_CELLS`` cells (conservatively, W per
    coarse cell), solved there exactly, the coarse error is spread back onto the fine cells,
    and 8 Jacobi sweeps on the fine grid add the local part. Thin layers keep their cells: the
    error of a sharp power map peaks there, and halving them overstated it by up to 1.7x. Two
    sweeps were too few where the error sits in a one-cell active layer (the raw estimate fell
    to 0.53 of the true error on `stacked_dies` block maps; 0.82 with 8). On the shipped cases
    the raw estimate is 0.82-1.11 of the true max error (benchmarks/confidence.py measures it).

  The largest |e| (times a safety factor for the coarse estimate) is the estimated maximum
  error in kelvin, compared with the user's tolerance.

When the estimate fails the tolerance, :func:`refine` runs the reference solver warm-started
from the prediction, or, where the error is exact, adds it: T + e is then the reference
solution itself, for the price of the score.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from chiptherm.description.stack import Stack
from chiptherm.discretize.grid import resample_matrix
from chiptherm.discretize.system import System
from chiptherm.errors import InputError, SolverError
from chiptherm.solvers import SolveInfo, TransformSolver, make_solver

DEFAULT_TOLERANCE_K = 0.5
MIN_COARSENED_CELLS = 8
"""Layers with fewer z-cells than this keep all of them on the coarse grid."""

EstimateMethod = Literal["auto", "exact", "coarse"]


def coarse_stack(stack: Stack, factor: int) -> Stack:
    """``stack`` with ``factor`` times fewer cells along x and y, and through each layer of at
    least ``MIN_COARSENED_CELLS`` cells."""
    layers = [
        layer.model_copy(
            update={
                "cells": layer.cells
                if layer.cells < MIN_COARSENED_CELLS
                else math.ceil(layer.cells / factor)
            }
        )
        for layer in stack.layers
    ]
    nx = max(1, math.ceil(stack.grid.nx / factor))
    ny = max(1, math.ceil(stack.grid.ny / factor))
    return stack.model_copy(update={"layers": layers}).with_grid(nx, ny)


@dataclass(frozen=True)
class Confidence:
    """The verdict on one predicted field.

    Attributes:
        relative_residual: ||b - A·T|| / ||b|| of the field.
        error_k: estimated largest ``|T_pred - T_true|`` over all cells, K.
        tolerance_k: the acceptance tolerance, K.
        accepted: error_k <= tolerance_k.
        seconds: wall time of the scoring.
        method: 'exact' (error_k is the true largest error, from one transform solve) or
            'coarse' (a coarse-grid estimate times the safety factor).
    """

    relative_residual: float
    error_k: float
    tolerance_k: float
    accepted: bool
    seconds: float
    method: str = "coarse"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ErrorEstimator:
    """The error field of candidate temperatures on one stack geometry.

    Build once per stack (the matrix does not depend on the power, only b does), then call
    :meth:`score` for many candidates and power maps.

    Args:
        system: the fine finite-volume system.
        stack: the stack it was built from (for the coarse grid).
        factor: coarsening in x, y and through thick layers (coarse method).
        sweeps: Jacobi sweeps on the fine grid after the coarse correction (coarse method).
        safety: the coarse estimate is multiplied by this before comparing with the tolerance
            (the exact error is not).
        method: 'exact' (laterally uniform stacks only), 'coarse', or 'auto': exact where the
            stack allows it, else coarse.
    """

    def __init__(
        self,
        system: System,
        stack: Stack,
        factor: int = 2,
        sweeps: int = 8,
        safety: float = 1.5,
        method: EstimateMethod = "auto",
    ) -> None:
        if method not in ("auto", "exact", "coarse"):
            raise InputError(f"unknown estimate method {method!r}; expected auto, exact or coarse")
        uniform = system.lateral_structure is not None
        if method == "exact" and not uniform:
            raise SolverError(
                "the exact error needs a laterally uniform stack (each layer one material, "
                "side faces adiabatic or all fixed); use the coarse estimate"
            )
        if method == "auto":
            method = "exact" if uniform else "coarse"
        self.method = method
        self.system = system
        self.safety = 1.0 if self.method == "exact" else safety
        self.sweeps = sweeps
        self.matrix = system.matrix  # one CSR product is 4x faster than the stencil
        self.inverse_diagonal = 1.0 / system.diagonal
        if self.method == "exact":
            self.transform = TransformSolver.for_system(system)
            return
        self.coarse = System.from_stack(coarse_stack(stack, factor))
        self.coarse_solver = make_solver(self.coarse)
        fine, crs = system.grid, self.coarse.grid
        # restriction (coarse <- fine) sums W; its transpose spreads K back onto fine cells
        self.rx = resample_matrix(fine.x_edges, crs.x_edges)
        self.ry = resample_matrix(fine.y_edges, crs.y_edges)
        self.rz = resample_matrix(fine.z_edges, crs.z_edges)

    @classmethod
    def for_stack(
        cls,
        stack: Stack,
        factor: int = 2,
        sweeps: int = 8,
        safety: float = 1.5,
        method: EstimateMethod = "auto",
    ) -> ErrorEstimator:
        return cls(System.from_stack(stack), stack, factor, sweeps, safety, method)

    def apply(self, temperature: np.ndarray) -> np.ndarray:
        """A·T, (nz, ny, nx) K -> (nz, ny, nx) W."""
        return (self.matrix @ temperature.ravel()).reshape(self.system.shape)

    def restrict(self, fine: np.ndarray) -> np.ndarray:
        """(nz, ny, nx) extensive values on the fine grid -> their sums on the coarse grid."""
        out = np.tensordot(self.rz, fine, axes=(1, 0))
        return np.matmul(self.ry, out) @ self.rx.T

    def prolong(self, coarse: np.ndarray) -> np.ndarray:
        """(nz, ny, nx) coarse intensive values (K) -> fine cells, by overlap."""
        out = np.tensordot(self.rz.T, coarse, axes=(1, 0))
        return np.matmul(self.ry.T, out) @ self.rx

    def error_field(self, temperature: np.ndarray, rhs: np.ndarray | None = None) -> np.ndarray:
        """Estimated T_true - T, (nz, ny, nx) K, for the system (or right-hand side ``rhs``)."""
        b = self.system.rhs if rhs is None else rhs
        return self.error_of_residual(b - self.apply(temperature))

    def error_of_residual(self, residual: np.ndarray) -> np.ndarray:
        """Error (nz, ny, nx) K of a field whose residual b - A·T is ``residual`` (W): exact,
        or the coarse estimate (without the safety factor)."""
        if self.method == "exact":
            return self.transform.apply_inverse(residual)
        coarse_error, _ = self.coarse_solver.solve(self.restrict(residual), tol=1e-8)
        error = self.prolong(coarse_error.reshape(self.coarse.shape))
        for _ in range(self.sweeps):  # error += (residual - A·error) / diag, in place
            step = self.apply(error)
            np.subtract(residual, step, out=step)
            step *= self.inverse_diagonal
            error += step
        return error

    def score(
        self,
        temperature: np.ndarray,
        tolerance_k: float = DEFAULT_TOLERANCE_K,
        rhs: np.ndarray | None = None,
    ) -> Confidence:
        """The confidence verdict on ``temperature`` (nz, ny, nx) K."""
        start = time.perf_counter()
        b = self.system.rhs if rhs is None else rhs
        residual = b - self.apply(temperature)  # one matrix product serves both measures
        relative = float(np.linalg.norm(residual) / max(np.linalg.norm(b), 1e-300))
        error = self.safety * float(np.abs(self.error_of_residual(residual)).max())
        return Confidence(
            relative,
            error,
            tolerance_k,
            error <= tolerance_k,
            time.perf_counter() - start,
            self.method,
        )


@dataclass(frozen=True)
class Refinement:
    """A refined field and how it was reached, with a cold start of the same solver."""

    temperature: np.ndarray
    warm: SolveInfo
    cold: SolveInfo | None


def krylov_method(system: System) -> str:
    """The warm-startable solver for refinement: CG preconditioned by the exact transform
    solver on a laterally uniform stack (one iteration), else multigrid CG (iterations
    independent of the grid and the contrast; it also runs on a device)."""
    return "cg-transform" if system.lateral_structure is not None else "cg-mg"


EXACT_CORRECTION = "exact-correction"
"""The method name of a refinement by T + A⁻¹·r on a laterally uniform stack."""


def refine(
    system: System,
    prediction: np.ndarray,
    method: str | None = None,
    tol: float = 1e-8,
    compare_cold: bool = False,
    estimator: ErrorEstimator | None = None,
) -> Refinement:
    """Solve ``system`` with ``method`` warm-started from ``prediction``; optionally also from a
    cold start (the uniform mean ambient temperature) to report the saving.

    With no ``method`` and an exact ``estimator`` (laterally uniform stack, same matrix), the
    answer is the prediction plus its exact error, T + A⁻¹·(b - A·T): one transform solve and
    no Krylov iterations, the reference solution to round-off.
    """
    if method is None and estimator is not None and estimator.method == "exact":
        start = time.perf_counter()
        field = prediction + estimator.error_field(prediction, rhs=system.rhs)
        warm = SolveInfo(
            EXACT_CORRECTION,
            0,
            system.relative_residual(field),
            0.0,
            time.perf_counter() - start,
            True,
        )
    else:
        solver = make_solver(system, method or krylov_method(system))
        start = time.perf_counter()
        field, warm = solver.solve(system.rhs, x0=prediction, tol=tol)
        warm = dataclasses.replace(
            warm,
            relative_residual=system.relative_residual(field),
            setup_s=solver.setup_s,
            solve_s=time.perf_counter() - start,
            warm_start=True,
        )
    cold = None
    if compare_cold:
        solver = make_solver(system, method or krylov_method(system))
        start = time.perf_counter()
        ambient = np.mean([np.mean(link.temperature) for link in system.faces.values()] or [0.0])
        _, info = solver.solve(system.rhs, x0=np.full(system.shape, ambient), tol=tol)
        cold = dataclasses.replace(
            info, setup_s=solver.setup_s, solve_s=time.perf_counter() - start, warm_start=False
        )
    return Refinement(np.asarray(field).reshape(system.shape), warm, cold)
