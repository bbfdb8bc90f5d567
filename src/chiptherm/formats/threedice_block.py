"""Steady solves of 3D-ICE cavity stacks by blocks: the solid with chiptherm's own solvers,
the coolant by its channels, the two coupled by GMRES.

A cavity stack's system splits into the solid cells S (dies, walls, the 2RM wall nodes) and
the coolant cells F:

    [A_SS  A_SF] [T_S]   [b_S]
    [A_FS  A_FF] [T_F] = [b_F].

A_SS is symmetric (conduction, and the films to the coolant on its diagonal): it is a
7-point network on the grid without the coolant (a 4RM channel cell stays as a cell with no
links; a 2RM coolant layer is left out, which makes the 2RM links that skip it ordinary
vertical links), so chiptherm's solvers take it: the exact transform solver when it is
laterally uniform (2RM and pin fins), multigrid CG otherwise (4RM). A_FF is the coolant's
transport: one tridiagonal chain per channel along the flow, factorized once. The films
couple the two weakly (on 3D-ICE's 4RM test, 4.7e-5 W/K a cell against a convective
C = 0.017 W/K), so one block Gauss-Seidel sweep,

    T_S = A_SS⁻¹ r_S,   T_F = A_FF⁻¹ (r_F - A_FS·T_S),

is a good preconditioner: GMRES needs 13 iterations on that test where LU factorizes the
whole stack (``benchmarks/threedice.py``). The sweep is linear (its solid solves are
converged to well below GMRES's tolerance), so plain GMRES applies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from chiptherm.discretize.system import SinkLink, System
from chiptherm.errors import SolverError

INNER_TOL = 1e-13
"""Relative residual of the solid's solves inside a sweep, far below GMRES's tolerance."""


@dataclass(frozen=True)
class BlockInfo:
    """How a block solve went: ``method`` names it and the solid's solver, ``iterations``
    are GMRES's."""

    method: str
    iterations: int
    relative_residual: float
    seconds: float


def solid_system(a: sp.csr_array, coolant: np.ndarray) -> tuple[System, np.ndarray]:
    """A_SS as a 7-point :class:`System` on the grid without the all-coolant layers, and the
    flat indices (in the full grid) of its cells; coolant cells left in it (4RM) have no
    links and a diagonal of their layer's size.

    Raises:
        SolverError: A_SS is not a 7-point network on that grid.
    """
    nz, ny, nx = coolant.shape
    kept = [z for z in range(nz) if not coolant[z].all()]
    full = (np.array(kept)[:, None, None] * ny * nx + np.arange(ny * nx).reshape(ny, nx)).ravel()
    shape = (len(kept), ny, nx)
    sub = sp.csr_array(a[full][:, full]).tocoo()
    solid = ~coolant.ravel()[full]
    links = (sub.row < sub.col) & solid[sub.row] & solid[sub.col]
    i, j, g = sub.row[links], sub.col[links], -sub.data[links]
    step = j - i
    gx, gy, gz = (
        np.zeros((*shape[:2], nx - 1)),
        np.zeros((shape[0], ny - 1, nx)),
        np.zeros((shape[0] - 1, ny, nx)),
    )
    zi, yi, xi = np.unravel_index(i, shape)
    left = np.ones(len(i), dtype=bool)
    for array, offset, ok in (
        (gx, 1, xi < nx - 1),
        (gy, nx, yi < ny - 1),
        (gz, nx * ny, zi < shape[0] - 1),
    ):
        pick = (step == offset) & ok
        array[zi[pick], yi[pick], xi[pick]] = g[pick]
        left &= ~pick
    if left.any():
        raise SolverError("a cavity stack's solid part is not a 7-point network")
    diagonal = np.zeros(sub.shape[0])
    on_diagonal = sub.row == sub.col
    diagonal[sub.row[on_diagonal]] = sub.data[on_diagonal]
    system = System(gx, gy, gz, {}, np.zeros(shape))
    rest = diagonal.reshape(shape) - system.diagonal
    # a coolant cell of a 4RM layer has no links: T = its right side over a diagonal of the
    # size of its layer's (a unit one would look like a huge sink to multigrid's coarse grids)
    holes = ~solid.reshape(shape)
    rest[holes] = 0.0
    full_diagonal = system.diagonal + rest
    for z in range(shape[0]):
        if holes[z].any():
            rest[z][holes[z]] = float(np.mean(full_diagonal[z][~holes[z]]))
    return System(gx, gy, gz, {}, np.zeros(shape), sinks={"coolant": SinkLink(rest, 0.0)}), full


class BlockSolver:
    """GMRES over block Gauss-Seidel sweeps (see the module doc) for the steady system
    ``a`` (N, N) W/K of a cavity stack whose coolant cells are True in ``coolant``
    (nz, n_rows, n_cols); ``method`` is the solid's solver ('auto': the transform solver
    where it applies, else multigrid CG)."""

    def __init__(self, a: sp.sparray, coolant: np.ndarray, method: str = "auto") -> None:
        from chiptherm.solvers import choice, make_solver

        self.a = sp.csr_array(a)
        system, self.solid_cells = solid_system(self.a, coolant)
        if method == "auto":
            method = "transform" if choice(system)[0] == "transform" else "cg-mg"
        self.solid = make_solver(system, method)
        self.shape = system.shape
        self.coolant_cells = np.nonzero(coolant.ravel())[0]
        rows = self.a[self.coolant_cells]
        self.a_fs = sp.csr_array(rows[:, self.solid_cells])
        self.a_ff = spla.splu(sp.csc_matrix(rows[:, self.coolant_cells]))
        self.n = self.a.shape[0]

    @property
    def name(self) -> str:
        return f"gmres-block ({self.solid.name} for the solid)"

    def sweep(self, r: np.ndarray) -> np.ndarray:
        """One block Gauss-Seidel sweep applied to ``r`` (N,)."""
        x = np.zeros(self.n)
        rs = r[self.solid_cells].reshape(self.shape)
        xs, _ = self.solid.solve(rs, tol=INNER_TOL)
        xs = np.asarray(xs).ravel()
        x[self.solid_cells] = xs
        x[self.coolant_cells] = self.a_ff.solve(r[self.coolant_cells] - self.a_fs @ xs)
        return x

    def solve(
        self, b: np.ndarray, tol: float = 1e-10, x0: np.ndarray | None = None
    ) -> tuple[np.ndarray, BlockInfo]:
        """T (N,) K with ‖b - A·T‖ ≤ tol·‖b‖, from ``x0`` (N,) when given.

        Raises:
            SolverError: GMRES did not reach ``tol`` in 200 iterations.
        """
        started = time.perf_counter()
        residuals: list[float] = []
        preconditioner = spla.LinearOperator((self.n, self.n), self.sweep)
        x, _ = spla.gmres(
            self.a, b, x0=x0, M=preconditioner, rtol=tol, atol=0.0, restart=50, maxiter=4,
            callback=residuals.append, callback_type="pr_norm",
        )  # fmt: skip
        residual = float(np.linalg.norm(b - self.a @ x) / np.linalg.norm(b))
        if not residual <= 10 * tol:
            raise SolverError(
                f"the cavity stack's block solve stalled at a relative residual of "
                f"{residual:.1e} after {len(residuals)} GMRES iterations"
            )
        seconds = time.perf_counter() - started
        return x, BlockInfo(self.name, len(residuals), residual, seconds)
