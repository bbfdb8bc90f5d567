"""What every linear solver returns, and the checks they share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chiptherm.errors import SolverError


@dataclass(frozen=True)
class SolveInfo:
    """Diagnostics of one solve.

    Attributes:
        method: solver name ('transform', 'cg-mg', 'cg-amg', 'cg-transform', 'gmres-amg',
            'direct').
        iterations: Krylov iterations (0 for direct methods).
        relative_residual: ||b - A·T|| / ||b|| of the returned field.
        setup_s: seconds spent building the solver (factorization, AMG hierarchy), wall clock.
        solve_s: seconds spent in the solve itself, wall clock.
        warm_start: whether an initial guess was given.
        nonlinear_steps: fixed-point steps of a temperature-dependent solve (0: linear); the
            iterations and times are then summed over the steps.
        reason: why 'auto' took this method ('asked for' when it was named; empty where no
            choice was made).
        device: where the solve ran: 'numpy' (the host path) or a torch device ('cuda:0',
            'cpu'); see :mod:`chiptherm.solvers.backend`.
    """

    method: str
    iterations: int
    relative_residual: float
    setup_s: float
    solve_s: float
    warm_start: bool = False
    nonlinear_steps: int = 0
    reason: str = ""
    device: str = "numpy"


def relative_residual(matrix, x: np.ndarray, b: np.ndarray) -> float:
    """||b - A x|| / ||b|| (1 when b = 0 and x != 0, 0 when both vanish)."""
    r = b - matrix @ x
    nb = float(np.linalg.norm(b))
    nr = float(np.linalg.norm(r))
    if nb == 0.0:
        return 0.0 if nr == 0.0 else 1.0
    return nr / nb


def check_converged(method: str, residual: float, tol: float, iterations: int) -> None:
    """Raise :class:`SolverError` unless ``residual`` is finite and at most ``tol``."""
    if not np.isfinite(residual) or residual > tol:
        raise SolverError(
            f"{method} did not converge: relative residual {residual:.3e} > tolerance "
            f"{tol:.1e} after {iterations} iterations (try a larger --maxiter or another "
            f"--solver)"
        )
