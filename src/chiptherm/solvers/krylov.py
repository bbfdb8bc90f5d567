"""Preconditioned Krylov solvers: CG for the symmetric systems of conduction, GMRES otherwise.

Preconditioners: a pyamg smoothed-aggregation V-cycle ('amg'), or the exact transform solver
of a laterally averaged copy of the system ('transform'), which is nearly exact when the
stack is nearly uniform (a few regions, convective sides).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from chiptherm.discretize.system import LateralStructure, System
from chiptherm.solvers.base import SolveInfo, check_converged, relative_residual
from chiptherm.solvers.transform import TransformSolver


def averaged_structure(system: System) -> LateralStructure | None:
    """A laterally uniform stand-in for ``system``: per-z means of every conductance.

    Side faces count as adiabatic unless both sides of an axis are fixed at one temperature.
    Returns None when the stand-in would be singular (heat leaves only through the sides).
    """
    nz = system.shape[0]

    def mean_z(a: np.ndarray, n: int) -> np.ndarray:
        return a.reshape(a.shape[0], -1).mean(axis=1) if a.size else np.zeros(n)

    gx, gy, gz = mean_z(system.gx, nz), mean_z(system.gy, nz), mean_z(system.gz, nz - 1)
    vertical = {
        face: (
            (
                float(system.faces[face].conductance.mean()),
                float(np.mean(system.faces[face].temperature)),
            )
            if face in system.faces
            else (0.0, 0.0)
        )
        for face in ("top", "bottom")
    }
    sink = mean_z(system.sink_conductance, nz)
    if vertical["top"][0] == 0.0 and vertical["bottom"][0] == 0.0 and not sink.any():
        return None
    return LateralStructure(gx, gy, gz, vertical, "neumann", "neumann", sink)


def build_preconditioner(system: System, kind: str) -> spla.LinearOperator | None:
    """An approximate inverse of ``system``'s matrix: 'amg' (a smoothed-aggregation V-cycle),
    'transform' (the exact transform solver of the laterally uniform or averaged system),
    'transform-or-amg' (the transform where a stand-in exists, else AMG) or 'none'. (CG with
    the geometric multigrid cycle is :class:`~chiptherm.solvers.multigrid_cg.MultigridCG`.)"""
    n = system.size
    if kind == "transform-or-amg":
        uniform = system.lateral_structure is not None or averaged_structure(system) is not None
        kind = "transform" if uniform else "amg"
    if kind == "amg":
        import pyamg  # 0.2 s to import: only where an AMG hierarchy is built

        ml = pyamg.smoothed_aggregation_solver(
            sp.csr_matrix(system.matrix), symmetry="symmetric", max_coarse=500
        )
        return ml.aspreconditioner(cycle="V")
    if kind == "transform":
        structure = system.lateral_structure or averaged_structure(system)
        if structure is None:
            raise ValueError("no laterally uniform stand-in for this system; use 'amg'")
        inner = TransformSolver(structure, system.shape)
        return spla.LinearOperator((n, n), matvec=inner.apply_inverse, dtype=float)
    if kind == "none":
        return None
    raise ValueError(
        f"unknown preconditioner {kind!r}; expected amg, transform, transform-or-amg or none"
    )


class KrylovSolver:
    """CG (or GMRES) with an AMG or transform preconditioner; build once, solve many times."""

    reports_iterations = True
    """Whether ``on_iteration`` is told the count after every iteration (for progress)."""

    def __init__(
        self,
        system: System,
        preconditioner: str = "amg",
        method: str | None = None,
        maxiter: int = 2000,
    ) -> None:
        t0 = time.perf_counter()
        self.matrix = system.matrix
        self.method = method or ("cg" if is_symmetric(self.matrix) else "gmres")
        self.maxiter = maxiter
        self.preconditioner = preconditioner
        self._m = build_preconditioner(system, preconditioner)
        self.name = f"{self.method}-{preconditioner}"
        self.setup_s = time.perf_counter() - t0
        self.on_iteration: Callable[[int], None] | None = None  # told the count after each

    def _iterate(
        self, b: np.ndarray, x0: np.ndarray | None, tol: float, callback: object
    ) -> np.ndarray:
        if self.method == "cg":
            x, _ = spla.cg(
                self.matrix,
                b,
                x0=x0,
                rtol=tol,
                atol=0.0,
                maxiter=self.maxiter,
                M=self._m,
                callback=callback,
            )
        else:
            x, _ = spla.gmres(
                self.matrix,
                b,
                x0=x0,
                rtol=tol,
                atol=0.0,
                restart=50,
                maxiter=self.maxiter,
                M=self._m,
                callback=callback,
                callback_type="pr_norm",
            )
        return x

    def solve(
        self, b: np.ndarray, x0: np.ndarray | None = None, tol: float = 1e-10
    ) -> tuple[np.ndarray, SolveInfo]:
        """Solve A x = b to ||b - A x|| <= tol·||b||; raise SolverError if it does not converge."""
        t0 = time.perf_counter()
        shape = b.shape
        bf = b.ravel()
        x0f = None if x0 is None else np.asarray(x0, dtype=float).ravel()
        count = [0]

        def callback(_: object) -> None:
            count[0] += 1
            if self.on_iteration is not None:
                self.on_iteration(count[0])

        x = x0f
        # the recursive residual of CG can drift from the true one near round-off: restart
        # from the current iterate (at most 3 times) until the true residual meets tol
        for _ in range(4):
            x = self._iterate(bf, x, tol, callback)
            residual = relative_residual(self.matrix, x, bf)
            if residual <= tol or count[0] >= self.maxiter:
                break
        check_converged(self.name, residual, tol * 1.0001, count[0])
        info = SolveInfo(
            self.name,
            count[0],
            residual,
            self.setup_s,
            time.perf_counter() - t0,
            warm_start=x0 is not None,
        )
        return x.reshape(shape), info

    def solve_many(
        self, b: np.ndarray, x0: np.ndarray | None = None, tol: float = 1e-10
    ) -> tuple[np.ndarray, list[SolveInfo]]:
        """Solve for a batch ``b`` (k, nz, ny, nx) one right-hand side after another (these
        preconditioners gain nothing from batching; cg-mg batches, see
        :class:`~chiptherm.solvers.multigrid_cg.MultigridCG`)."""
        fields = [self.solve(b[i], None if x0 is None else x0[i], tol) for i in range(len(b))]
        return np.stack([f for f, _ in fields]), [info for _, info in fields]


def is_symmetric(matrix: sp.sparray) -> bool:
    """Whether ``matrix`` equals its transpose to round-off."""
    diff = abs(matrix - matrix.T)
    scale = abs(matrix).max()
    return bool(diff.max() <= 1e-12 * scale) if diff.nnz else True
