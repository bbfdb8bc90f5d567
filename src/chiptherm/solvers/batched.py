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
from typing import Any

import numpy as np

from chiptherm.errors import SolverError
from chiptherm.solvers.backend import namespace, to_numpy
from chiptherm.solvers.base import SolveInfo

Operator = Callable[[Any], Any]
"""A map of a (k, N) block to a (k, N) block (numpy arrays or torch tensors)."""


def columnwise_dot(a: Any, b: Any) -> Any:
    """(k,) dot products of the rows of two (k, N) blocks."""
    return namespace(a, b).vecdot(a, b, axis=-1)


def conjugate_gradients(
    apply: Operator,
    precondition: Operator,
    b: Any,
    x0: Any = None,
    tol: float = 1e-10,
    maxiter: int = 2000,
) -> tuple[Any, np.ndarray, np.ndarray]:
    """Solve A x_i = b_i for every row i of ``b`` (k, N) to ‖b_i - A x_i‖ ≤ tol·‖b_i‖.

    ``b`` and ``x0`` are numpy arrays or torch tensors (float64), and so is x; the loop runs
    where they live and reads only k numbers back per iteration.

    Returns:
        x (k, N), the iterations each row took (k,), and each row's true relative residual
        (k,), recomputed from ``apply`` at the end (the recursive residual of CG can drift
        from it near round-off, so CG restarts from the iterate, at most three times).
    """
    xp = namespace(b)
    x = xp.zeros_like(b) if x0 is None else xp.asarray(x0, copy=True)
    norm_b = xp.sqrt(columnwise_dot(b, b))
    norm_b = xp.where(norm_b == 0.0, xp.ones_like(norm_b), norm_b)
    iterations = np.zeros(b.shape[0], dtype=int)
    zero = xp.zeros_like(norm_b)
    for _ in range(4):
        r = b - apply(x)
        active = xp.sqrt(columnwise_dot(r, r)) > tol * norm_b
        if not bool(xp.any(active)) or iterations.max() >= maxiter:
            break
        z = precondition(r)
        p = xp.asarray(z, copy=True)
        rz = columnwise_dot(r, z)
        while bool(xp.any(active)) and iterations.max() < maxiter:
            ap = apply(p)
            curvature = columnwise_dot(p, ap)
            bent = active & (curvature > 0)
            alpha = xp.where(bent, rz / xp.where(bent, curvature, norm_b), zero)
            x += alpha[:, None] * p
            r -= alpha[:, None] * ap
            iterations += to_numpy(active).astype(bool)
            active &= xp.sqrt(columnwise_dot(r, r)) > tol * norm_b
            z = precondition(r)
            rz_new = columnwise_dot(r, z)
            beta = xp.where(active, rz_new / xp.where(rz != 0, rz, norm_b), zero)
            p = z + beta[:, None] * p
            rz = rz_new
    r = b - apply(x)
    return x, iterations, to_numpy(xp.sqrt(columnwise_dot(r, r)) / norm_b)


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
