"""Sparse direct solver (SuperLU): for small systems and for general conductance networks."""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from chiptherm.errors import SolverError
from chiptherm.solvers.base import SolveInfo, relative_residual


class DirectSolver:
    """LU factorization of A, built once; each solve is two triangular sweeps."""

    name = "direct"

    def __init__(self, matrix: sp.sparray) -> None:
        t0 = time.perf_counter()
        self.matrix = matrix
        try:
            self._lu = spla.splu(sp.csc_matrix(matrix), permc_spec="MMD_AT_PLUS_A")
        except RuntimeError as exc:
            raise SolverError(
                f"the system is singular ({exc}); does any face remove heat?"
            ) from None
        self.setup_s = time.perf_counter() - t0

    def solve(
        self, b: np.ndarray, x0: np.ndarray | None = None, tol: float = 1e-10
    ) -> tuple[np.ndarray, SolveInfo]:
        """Solve A x = b; ``x0`` is ignored (a direct solve needs no start)."""
        t0 = time.perf_counter()
        x = self._lu.solve(np.asarray(b, dtype=float).ravel())
        residual = relative_residual(self.matrix, x, b.ravel())
        if not np.isfinite(residual) or residual > 1e-6:
            raise SolverError(f"direct solve is inaccurate: relative residual {residual:.2e}")
        info = SolveInfo(
            self.name,
            0,
            residual,
            self.setup_s,
            time.perf_counter() - t0,
            warm_start=x0 is not None,
        )
        return x.reshape(b.shape), info
