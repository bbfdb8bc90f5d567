"""Fast direct solver for laterally uniform stacks.

When every layer is laterally homogeneous and the side faces are adiabatic (or fixed at one
temperature), the lateral part of A is diagonalized by a discrete cosine transform (DCT-II,
adiabatic sides) or sine transform (DST-II, fixed sides) in x and y. In that basis A splits
into nx·ny independent tridiagonal systems along z, solved together by the Thomas algorithm.
The result is exact (to round-off) and costs O(N log N).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.fft

from chiptherm.discretize.system import LateralStructure, System
from chiptherm.errors import SolverError
from chiptherm.solvers.backend import to_device
from chiptherm.solvers.base import SolveInfo
from chiptherm.threads import fft_workers


def lateral_eigenvalues(n: int, kind: str) -> np.ndarray:
    """Eigenvalues (n,) of the 1-D operator tridiag(-1, 2, -1) with adiabatic ('neumann',
    ends 1) or fixed ('dirichlet', ends 3) cell-centred boundaries, in DCT-II/DST-II order."""
    k = np.arange(n) + (1 if kind == "dirichlet" else 0)
    return 4.0 * np.sin(np.pi * k / (2 * n)) ** 2


MATMUL_LIMIT = 400
"""Largest axis the host transforms by a dense product, and only when its FFT is slow.

Measured by ``benchmarks/transform.py`` (one thread, `two_die`, 18 z-cells, 2-core x86-64):
where scipy's FFT is fast (sizes whose prime factors are at most 11, see
:func:`fast_fft_size`) it takes 11-29 ns per cell from n = 64 to 640, and dense products 13-105
ns, so those sizes always go by FFT. Prime sizes go through Bluestein's algorithm, 67-94 ns per
cell, and there the dense product wins (21 ns at n = 101, 47 at 251) up to a size between 251
and 509 (90 ns dense against 78 by FFT at 509)."""


def fast_fft_size(n: int) -> bool:
    """Whether scipy's FFT transforms an axis of ``n`` cells fast (n has no prime factor
    above 11)."""
    return scipy.fft.next_fast_len(n) == n


def dense_axis(n: int, device: Any = None) -> bool:
    """Whether an axis of ``n`` cells is transformed by a dense product: always on a torch
    device (a GPU runs it near its peak and torch has no DCT), on the host where the FFT is
    slow and ``n`` at most :data:`MATMUL_LIMIT`."""
    return device is not None or (n <= MATMUL_LIMIT and not fast_fft_size(n))


def basis_matrix(n: int, kind: str) -> np.ndarray:
    """Orthonormal DCT-II ('neumann') or DST-II ('dirichlet') matrix (n, n): c = M @ v."""
    f = scipy.fft.dct if kind == "neumann" else scipy.fft.dst
    return f(np.eye(n), type=2, norm="ortho", axis=0)


class LateralBasis:
    """Forward and inverse lateral transforms of (..., nz, ny, nx) data, each axis by a dense
    product or by scipy's FFT-based DCT/DST as :func:`dense_axis` chooses."""

    def __init__(self, ny: int, nx: int, kind_y: str, kind_x: str, device: Any = None) -> None:
        self.kind_y, self.kind_x = kind_y, kind_x
        self.my = to_device(basis_matrix(ny, kind_y), device) if dense_axis(ny, device) else None
        self.mx = to_device(basis_matrix(nx, kind_x), device) if dense_axis(nx, device) else None

    @property
    def matmul(self) -> bool:
        """Whether both axes go by dense products."""
        return self.mx is not None and self.my is not None

    def forward(self, a: Any) -> Any:
        a = a @ self.mx.T if self.mx is not None else self._fft(a, -1, self.kind_x, False)
        return self.my @ a if self.my is not None else self._fft(a, -2, self.kind_y, False)

    def inverse(self, a: Any) -> Any:
        a = a @ self.mx if self.mx is not None else self._fft(a, -1, self.kind_x, True)
        return self.my.T @ a if self.my is not None else self._fft(a, -2, self.kind_y, True)

    @staticmethod
    def _fft(a: np.ndarray, axis: int, kind: str, inverse: bool) -> np.ndarray:
        if kind == "neumann":
            f = scipy.fft.idct if inverse else scipy.fft.dct
        else:
            f = scipy.fft.idst if inverse else scipy.fft.dst
        return f(a, type=2, axis=axis, norm="ortho", workers=fft_workers())


class TransformSolver:
    """Exact solver for a :class:`LateralStructure`; build once, solve many right-hand sides."""

    name = "transform"

    def __init__(
        self, structure: LateralStructure, shape: tuple[int, int, int], device: Any = None
    ) -> None:
        t0 = time.perf_counter()
        self.structure = structure
        self.shape = shape
        self.device = device
        nz, ny, nx = shape
        self.basis = LateralBasis(ny, nx, structure.kind_y, structure.kind_x, device)
        lam_x = lateral_eigenvalues(nx, structure.kind_x)
        lam_y = lateral_eigenvalues(ny, structure.kind_y)
        lateral = (
            structure.gx[:, None, None] * lam_x[None, None, :]
            + structure.gy[:, None, None] * lam_y[None, :, None]
        )  # (nz, ny, nx)
        diag = lateral
        diag[:-1] += structure.gz[:, None, None]
        diag[1:] += structure.gz[:, None, None]
        diag[-1] += structure.vertical["top"][0]
        diag[0] += structure.vertical["bottom"][0]
        if structure.sink is not None:  # cavity cells' links to their coolant
            diag += structure.sink[:, None, None]
        # Thomas factorization for all modes at once: inv_denom (nz, ny, nx), cp (nz-1, ny, nx)
        self._inv_denom = np.empty_like(diag)
        self._cp = np.empty((max(nz - 1, 0), ny, nx))
        denom = diag[0]
        for k in range(nz):
            if k > 0:
                denom = diag[k] - (-structure.gz[k - 1]) * self._cp[k - 1]
            if np.any(denom <= 0):
                raise SolverError("the transform solver met a singular mode: no face removes heat")
            self._inv_denom[k] = 1.0 / denom
            if k < nz - 1:
                self._cp[k] = -structure.gz[k] * self._inv_denom[k]
        self._inv_denom = to_device(self._inv_denom, device)
        self._cp = to_device(self._cp, device)
        self._gz = [float(g) for g in structure.gz]
        self.setup_s = time.perf_counter() - t0

    @classmethod
    def for_system(cls, system: System, device: Any = None) -> TransformSolver:
        """The solver of ``system`` (on a torch ``device``, or the host when None); raises if
        it is not laterally uniform."""
        structure = system.lateral_structure
        if structure is None:
            raise SolverError(
                "the transform solver needs a laterally uniform stack (each layer one material, "
                "side faces adiabatic or all fixed at one temperature); use --solver cg"
            )
        return cls(structure, system.shape, device)

    def apply_inverse(self, b: Any) -> Any:
        """A⁻¹ b for b of shape (nz, ny, nx) (or flat), returned in b's shape; a numpy array
        on the host, a torch tensor on this solver's device."""
        return self.apply_many(b.reshape(1, *self.shape)).reshape(b.shape)

    def apply_many(self, b: Any) -> Any:
        """A⁻¹ b for a batch b (k, nz, ny, nx), every map at once."""
        y = self.basis.forward(b)  # a new array, solved in place
        inv, cp, gz = self._inv_denom, self._cp, self._gz
        y[..., 0, :, :] *= inv[0]
        for k in range(1, self.shape[0]):
            y[..., k, :, :] += gz[k - 1] * y[..., k - 1, :, :]
            y[..., k, :, :] *= inv[k]
        for k in range(self.shape[0] - 2, -1, -1):
            y[..., k, :, :] -= cp[k] * y[..., k + 1, :, :]
        return self.basis.inverse(y)

    def solve(
        self, b: np.ndarray, x0: np.ndarray | None = None, tol: float = 1e-10
    ) -> tuple[np.ndarray, SolveInfo]:
        """Solve A x = b exactly; ``x0`` and ``tol`` are accepted for a uniform interface."""
        t0 = time.perf_counter()
        x = self.apply_inverse(b)
        return x, SolveInfo(
            self.name,
            0,
            float("nan"),
            self.setup_s,
            time.perf_counter() - t0,
            warm_start=x0 is not None,
        )
