"""Many right-hand sides of one system, solved together.

A batch of power maps on one stack (predictions to refine, a Monte Carlo over powers, a
resistance matrix's unit blocks) shares the matrix and its preconditioner. Solving them
together reads the matrix and every multigrid level once per iteration for the whole batch
instead of once per map, which is what a memory-bound solve pays for.

:func:`conjugate_gradients` is preconditioned CG run on a (k, N) block of independent
systems at once: every column keeps its own step lengths and stops on its own tolerance
(frozen from then on). It is written here, over plain array operations, because scipy's CG
takes one right-hand side at a time; the same operations run on any array library.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from chiptherm.errors import SolverError
from chiptherm.solvers.base import SolveInfo

Operator = Callable[[np.ndarray], np.ndarray]
"""A map of a (k, N) block to a (k, N) block."""


def columnwise_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(k,) dot products of the rows of two (k, N) blocks."""
    return np.einsum("ij,ij->i", a, b)


def conjugate_gradients(
    apply: Operator,
    precondition: Operator,
    b: np.ndarray,
    x0: np.ndarray | None = None,
    tol: float = 1e-10,
    maxiter: int = 2000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve A x_i = b_i for every row i of ``b`` (k, N) to ‖b_i - A x_i‖ ≤ tol·‖b_i‖.

    Returns:
        x (k, N), the iterations each row took (k,), and each row's true relative residual
        (k,), recomputed from ``apply`` at the end (the recursive residual of CG can drift
        from it near round-off, so CG restarts from the iterate, at most three times).
    """
    x = np.zeros_like(b) if x0 is None else np.array(x0, dtype=float)
    norm_b = np.sqrt(columnwise_dot(b, b))
    norm_b[norm_b == 0.0] = 1.0
    iterations = np.zeros(len(b), dtype=int)
    for _ in range(4):
        r = b - apply(x)
        active = np.sqrt(columnwise_dot(r, r)) > tol * norm_b
        if not active.any() or iterations.max() >= maxiter:
            break
        z = precondition(r)
        p = z.copy()
        rz = columnwise_dot(r, z)
        while active.any() and iterations.max() < maxiter:
            ap = apply(p)
            curvature = columnwise_dot(p, ap)
            alpha = np.where(
                active & (curvature > 0), rz / np.where(curvature > 0, curvature, 1), 0
            )
            x += alpha[:, None] * p
            r -= alpha[:, None] * ap
            iterations += active
            active &= np.sqrt(columnwise_dot(r, r)) > tol * norm_b
            z = precondition(r)
            rz_new = columnwise_dot(r, z)
            beta = np.where(active, rz_new / np.where(rz != 0, rz, 1), 0)
            p = z + beta[:, None] * p
            rz = rz_new
    r = b - apply(x)
    return x, iterations, np.sqrt(columnwise_dot(r, r)) / norm_b


def solve_many(
    solver: object, b: np.ndarray, x0: np.ndarray | None = None, tol: float = 1e-10
) -> tuple[np.ndarray, list[SolveInfo]]:
    """Solve one system for a batch of right-hand sides ``b`` (k, nz, ny, nx), W, with a solver
    of :func:`~chiptherm.solvers.make_solver`: together where the solver can (``solve_many``
    of CG with multigrid), one after another otherwise. Returns (k, nz, ny, nx) K and one
    :class:`SolveInfo` per right-hand side."""
    batched = getattr(solver, "solve_many", None)
    if batched is not None and len(b) > 1:
        return batched(b, x0=x0, tol=tol)
    fields, infos = [], []
    for i in range(len(b)):
        field, info = solver.solve(b[i], x0=None if x0 is None else x0[i], tol=tol)  # type: ignore[attr-defined]
        fields.append(field.reshape(b.shape[1:]))
        infos.append(info)
    return np.stack(fields), infos


def batch_infos(
    name: str,
    iterations: np.ndarray,
    residuals: np.ndarray,
    tol: float,
    setup_s: float,
    started: float,
    warm: bool,
) -> list[SolveInfo]:
    """One :class:`SolveInfo` per right-hand side of a batched solve (the wall time shared
    equally); raise when any did not converge."""
    failed = np.flatnonzero(residuals > tol * 1.0001)
    if failed.size:
        i = int(failed[0])
        raise SolverError(
            f"{name}: {failed.size} of {len(residuals)} right-hand sides did not converge "
            f"(the first, #{i}, reached a relative residual of {residuals[i]:.2e} after "
            f"{iterations[i]} iterations; {tol:.0e} asked)"
        )
    each = (time.perf_counter() - started) / len(residuals)
    return [
        SolveInfo(name, int(n), float(res), setup_s, each, warm_start=warm)
        for n, res in zip(iterations, residuals, strict=True)
    ]
