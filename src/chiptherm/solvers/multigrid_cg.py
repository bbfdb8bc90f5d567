"""cg-mg on the host: conjugate gradients preconditioned by the multigrid W-cycle, with the
vector updates fused into compiled passes.

Once the cycle and the operator are compiled (:mod:`chiptherm.discretize.kernels`), what CG
itself does between them is no longer small: written as numpy expressions, one iteration
streams its float64 vectors about thirty times (each axpy reads two vectors and writes a
temporary, the float64/float32 conversions around the float32 cycle are passes of their own).
Here an iteration makes four passes besides the operator and the cycle:

1. ``A·p`` (the compiled 7-point operator) and ``p·Ap``;
2. x += αp, r -= αAp, ‖r‖², and r in float32 for the cycle, in one pass;
3. the cycle, on float32;
4. r·z, then p = z + βp (z stays float32; CG's own vectors are float64).

The iteration is the same preconditioned CG as :func:`~chiptherm.solvers.batched.
conjugate_gradients` (which runs on torch devices), on a (k, N) block of right-hand sides
where each row keeps its own step lengths and stops on its own tolerance; a frozen row gets
zero steps and keeps its values. CG's recursive residual can drift from the true one near
round-off, so the iteration restarts from its iterate (at most three times) until the true
residual meets the tolerance.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from numba import njit

from chiptherm.discretize.kernels import apply_stencil
from chiptherm.discretize.layout import as_batch
from chiptherm.discretize.system import System
from chiptherm.errors import SolverError
from chiptherm.solvers.base import SolveInfo
from chiptherm.solvers.batched import batch_infos
from chiptherm.solvers.multigrid import Multigrid


@njit(cache=True, nogil=True)
def _advance(x, r, p, ap, alpha, r32):  # pragma: no cover - compiled
    """x += αp, r -= α·Ap and r32 = float32(r) for each row of the (k, N) blocks; returns
    ‖r‖² per row (k,)."""
    k, n = x.shape
    squares = np.zeros(k)
    for s in range(k):
        a = alpha[s]
        total = 0.0
        for i in range(n):
            x[s, i] += a * p[s, i]
            v = r[s, i] - a * ap[s, i]
            r[s, i] = v
            r32[s, i] = v
            total += v * v
        squares[s] = total
    return squares


@njit(cache=True, nogil=True)
def _mixed_dot(r, z):  # pragma: no cover - compiled
    """r·z per row of a float64 block r (k, N) and a float32 block z (k, N), in float64."""
    k, n = r.shape
    out = np.zeros(k)
    for s in range(k):
        total = 0.0
        for i in range(n):
            total += r[s, i] * z[s, i]
        out[s] = total
    return out


@njit(cache=True, nogil=True)
def _redirect(p, z, beta):  # pragma: no cover - compiled
    """p = z + βp per row: the next search direction, p float64 (k, N), z float32 (k, N)."""
    k, n = p.shape
    for s in range(k):
        b = beta[s]
        for i in range(n):
            p[s, i] = z[s, i] + b * p[s, i]


def _rowwise_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(k,) dot products of the rows of two (k, N) float64 blocks."""
    return np.einsum("ij,ij->i", a, b)


class MultigridCG:
    """cg-mg of ``system`` on the host: build once (the multigrid hierarchy), solve any number
    of right-hand sides, one at a time or as a (k, nz, ny, nx) batch.

    Attributes:
        name: 'cg-mg'.
        setup_s: seconds spent building the hierarchy.
        on_iteration: told the iteration count after each iteration of a single solve.
    """

    name = "cg-mg"
    reports_iterations = True
    """Whether ``on_iteration`` is told the count after every iteration (for progress)."""

    def __init__(self, system: System, maxiter: int = 2000) -> None:
        t0 = time.perf_counter()
        self.shape = system.shape
        self.maxiter = maxiter
        # the operator's arrays for the compiled product: (diag, gz, gy, gx), float64
        arrays = (system.diagonal, system.gz, system.gy, system.gx)
        self.stencil = tuple(np.ascontiguousarray(a, dtype=float) for a in arrays)
        self.cycle = Multigrid(system)
        self.setup_s = time.perf_counter() - t0
        self.on_iteration: Callable[[int], None] | None = None

    def solve(
        self, b: np.ndarray, x0: np.ndarray | None = None, tol: float = 1e-10
    ) -> tuple[np.ndarray, SolveInfo]:
        """Solve A x = b (W, any shape of N cells) to ‖b - A x‖ ≤ tol·‖b‖; x in K, in b's shape.
        Raises :class:`SolverError` if it does not converge within ``maxiter`` iterations."""
        start = None if x0 is None else np.asarray(x0, dtype=float).reshape(1, *self.shape)
        x, infos = self.solve_many(np.asarray(b).reshape(1, *self.shape), start, tol)
        return x[0].reshape(b.shape), infos[0]

    def solve_many(
        self, b: np.ndarray, x0: np.ndarray | None = None, tol: float = 1e-10
    ) -> tuple[np.ndarray, list[SolveInfo]]:
        """Solve for a batch ``b`` (k, nz, ny, nx), W, together: every iteration reads the
        conductances and each level of the hierarchy once for all k. Returns (k, nz, ny, nx) K
        and one :class:`SolveInfo` per right-hand side."""
        started = time.perf_counter()
        k = len(b)
        x, iterations, residuals = self._iterate(
            np.ascontiguousarray(b, dtype=float).reshape(k, -1),
            None if x0 is None else np.array(x0, dtype=float).reshape(k, -1),
            tol,
        )
        infos = batch_infos(
            self.name, iterations, residuals, tol, self.setup_s, started, x0 is not None
        )
        return x.reshape(b.shape), infos

    # -- the iteration -----------------------------------------------------------------------
    def _apply(self, v: np.ndarray) -> np.ndarray:
        """A·v for a block v (k, N), W: one compiled pass (0.6-0.9x a CSR product's time)."""
        out = np.empty_like(v)
        apply_stencil(as_batch(v, self.shape), *self.stencil, out.reshape(-1, *self.shape))
        return out

    def _precondition(self, r32: np.ndarray) -> np.ndarray:
        return self.cycle.apply_many(r32.reshape(-1, *self.shape)).reshape(r32.shape)

    def _iterate(
        self, b: np.ndarray, x0: np.ndarray | None, tol: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x (k, N), the iterations each row took (k,) and each row's true relative residual."""
        k = len(b)
        x = np.zeros_like(b) if x0 is None else x0
        norm_b = np.sqrt(_rowwise_dot(b, b))
        norm_b[norm_b == 0.0] = 1.0
        goal = (tol * norm_b) ** 2
        iterations = np.zeros(k, dtype=int)
        r32 = np.empty(b.shape, dtype=np.float32)
        for _ in range(4):  # restarts from the iterate while the true residual misses tol
            r = b - self._apply(x)
            squares = _rowwise_dot(r, r)
            active = squares > goal
            if not active.any() or iterations.max() >= self.maxiter:
                break
            r32[...] = r
            z = self._precondition(r32)
            p = z.astype(float)
            rz = _mixed_dot(r, z)
            while active.any() and iterations.max() < self.maxiter:
                ap = self._apply(p)
                curvature = _rowwise_dot(p, ap)
                bent = active & (curvature > 0)
                alpha = np.where(bent, rz / np.where(bent, curvature, 1.0), 0.0)
                squares = _advance(x, r, p, ap, alpha, r32)
                iterations += active
                active &= squares > goal
                if k == 1 and self.on_iteration is not None:
                    self.on_iteration(int(iterations[0]))
                z = self._precondition(r32)
                rz_new = _mixed_dot(r, z)
                beta = np.where(active, rz_new / np.where(rz != 0, rz, 1.0), 0.0)
                _redirect(p, z, beta)
                rz = rz_new
        r = b - self._apply(x)
        if not np.all(np.isfinite(r)):
            raise SolverError("cg-mg: the iteration produced non-finite values")
        return x, iterations, np.sqrt(_rowwise_dot(r, r)) / norm_b
