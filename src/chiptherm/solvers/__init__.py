"""Linear solvers for :class:`~chiptherm.discretize.system.System`, behind one front.

``make_solver(system, method)`` builds a solver once (factorization, AMG hierarchy or
transform tables); its ``solve(b, x0=None, tol=...)`` can then be called for many right-hand
sides, and ``solve_many(solver, B)`` solves a batch (k, nz, ny, nx) together. ``solve_system``
builds, solves and checks the answer.

Methods:
    transform     exact DCT/DST + tridiagonal solver, laterally uniform stacks only
    cg-mg         conjugate gradients, geometric multigrid preconditioner (lateral
                  semi-coarsening, z-line smoothing) for heterogeneous stacks
    cg-amg        conjugate gradients, pyamg smoothed-aggregation preconditioner
    cg-transform  conjugate gradients, preconditioned by the transform solver of the
                  laterally averaged stack (good for nearly uniform stacks)
    gmres-amg     GMRES with the AMG preconditioner (non-symmetric systems)
    direct        sparse LU (SuperLU)
    auto          transform when possible, direct up to 20,000 cells (up to 1,000,000
                  when conductances span more than 10 orders of magnitude, where Krylov
                  methods stall), else cg-mg

Every solver is built for a device (``device=``, or the default that
:func:`~chiptherm.solvers.backend.using_device` sets): ``numpy``, the host path above, or a
torch device (``cuda``, ``cpu``), where transform, cg-mg and cg-transform run
(:mod:`chiptherm.solvers.device`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

import numpy as np

from chiptherm.discretize.system import System
from chiptherm.errors import SolverError
from chiptherm.solvers.backend import DEVICE_METHODS, resolve, using_device
from chiptherm.solvers.base import SolveInfo
from chiptherm.solvers.batched import solve_many
from chiptherm.solvers.device import DeviceSolver, device_choice
from chiptherm.solvers.direct import DirectSolver
from chiptherm.solvers.krylov import KrylovSolver
from chiptherm.solvers.transform import TransformSolver

METHODS = ("auto", "transform", "cg-mg", "cg-amg", "cg-transform", "gmres-amg", "direct")
DIRECT_LIMIT = 20_000
HIGH_CONTRAST = 1e10
"""Largest over smallest link conductance beyond which 'auto' prefers the direct solver."""
HIGH_CONTRAST_DIRECT_LIMIT = 1_000_000


class LinearSolver(Protocol):
    name: str
    setup_s: float

    def solve(
        self, b: np.ndarray, x0: np.ndarray | None = None, tol: float = 1e-10
    ) -> tuple[np.ndarray, SolveInfo]: ...


def conductance_contrast(system: System) -> float:
    """Largest over smallest cell-to-cell conductance of ``system``."""
    links = [g.ravel() for g in (system.gx, system.gy, system.gz) if g.size]
    every = np.concatenate(links)
    return float(every.max() / every.min())


def choose_method(system: System) -> str:
    """The method 'auto' picks for ``system``."""
    return choice(system)[0]


def choice(system: System) -> tuple[str, str]:
    """The method 'auto' picks for ``system`` and why, in a phrase for the summary."""
    if system.lateral_structure is not None:
        return "transform", "laterally uniform stack: the exact transform solver"
    if system.size <= DIRECT_LIMIT:
        return "direct", f"{system.size:,} cells (at most {DIRECT_LIMIT:,}): sparse LU is fastest"
    if system.size <= HIGH_CONTRAST_DIRECT_LIMIT:
        contrast = conductance_contrast(system)
        if contrast > HIGH_CONTRAST:
            return "direct", (
                f"conductances span {contrast:.1e}: iterative solvers stall, so sparse LU"
            )
    # geometric multigrid keeps its iteration count with the grid and the contrast, where the
    # averaged stack's transform (cg-transform) needs 100-170 and pyamg several times the
    # memory (benchmarks/solver.py)
    return "cg-mg", "non-uniform stack: multigrid CG (iterations independent of grid, contrast)"


def make_solver(
    system: System, method: str = "auto", maxiter: int = 2000, device: str | None = None
) -> LinearSolver:
    """Build the solver ``method`` (see module doc) for ``system`` on ``device`` ('numpy',
    'cpu', 'cuda', 'cuda:N'; default: :func:`~chiptherm.solvers.backend.default_device`).

    A method that runs on the host only (direct, cg-amg, gmres-amg) raises when a torch
    device is named here, and is built on the host when the device is only the default of a
    ``using_device`` block: an analysis that picks sparse LU for a small system keeps it.
    """
    if method not in METHODS:
        raise SolverError(f"unknown solver {method!r}; expected one of {', '.join(METHODS)}")
    target = resolve(device)
    if target is not None and (device is not None or method in ("auto", *DEVICE_METHODS)):
        return DeviceSolver(system, method, target, maxiter)
    if method == "auto":
        method = choose_method(system)
    if method == "transform":
        return TransformSolver.for_system(system)
    if method == "direct":
        return DirectSolver(system.matrix)
    if method == "cg-mg":  # imported here: its compiled kernels load numba (0.5 s)
        from chiptherm.solvers.multigrid_cg import MultigridCG

        return MultigridCG(system, maxiter=maxiter)
    kind, preconditioner = method.split("-")
    return KrylovSolver(system, preconditioner=preconditioner, method=kind, maxiter=maxiter)


def solve_system(
    system: System,
    method: str = "auto",
    x0: np.ndarray | None = None,
    tol: float = 1e-10,
    maxiter: int = 2000,
    progress: Callable[[str], None] | None = None,
    device: str | None = None,
) -> tuple[np.ndarray, SolveInfo]:
    """Solve ``system`` and return the (nz, ny, nx) temperature in K with diagnostics.

    The reported relative residual is always recomputed from the System itself. ``progress``
    receives one-line messages: the solver being built, then each Krylov iteration.
    ``device`` as in :func:`make_solver`.
    """
    report = progress or (lambda _: None)
    target = resolve(device)
    if method != "auto":
        chosen, reason = method, "asked for"
    elif target is not None:
        chosen, reason = device_choice(system, target)
    else:
        chosen, reason = choice(system)
    report(f"{chosen}: setting up for {system.size:,} cells")
    solver = make_solver(system, method, maxiter=maxiter, device=device)
    if getattr(solver, "reports_iterations", False):
        solver.on_iteration = lambda k: report(f"{solver.name}: iteration {k}")
    else:
        report(f"{solver.name}: solving {system.size:,} cells")
    x, info = solver.solve(system.rhs, x0=None if x0 is None else x0.reshape(system.shape), tol=tol)
    residual = system.relative_residual(x)
    return x, dataclasses.replace(info, relative_residual=residual, reason=reason)


__all__ = [
    "METHODS",
    "DeviceSolver",
    "DirectSolver",
    "KrylovSolver",
    "LinearSolver",
    "SolveInfo",
    "TransformSolver",
    "choose_method",
    "make_solver",
    "solve_many",
    "solve_system",
    "using_device",
]
