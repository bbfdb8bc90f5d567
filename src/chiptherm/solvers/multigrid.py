"""Geometric multigrid for layered stacks: lateral semi-coarsening with z-line smoothing.

A chip stack is thin: its layers are tens of µm thick and millimetres wide, so the vertical
conductances of a cell dwarf its lateral ones (aspect ratios up to 100), and within one layer
copper or silicon (148-400 W/(m·K)) sits beside mold compound (0.6-1 W/(m·K)). Point smoothers
fail on both counts. This preconditioner is built for that shape:

- **z-line smoothing**: every (x, y) column is solved exactly along z (a tridiagonal solve by
  the Thomas algorithm, factored once), so the strong vertical coupling is never a problem;
  the columns are swept in a red-black checkerboard (red, then black), a block Gauss–Seidel.
- **lateral semi-coarsening**: each coarser level merges 2 x 2 columns and keeps every z-cell,
  because the z-lines resolve z exactly. The coarse operator is Galerkin with piecewise-constant
  aggregation, PᵀAP: its conductances are the sums of the fine conductances between (or into)
  the merged columns, so it is again a 7-point conductance network, contrasts and all; no
  averaging of materials happens anywhere.
- **W-cycle, over-corrected**: a lateral level holds a quarter of the cells of the one above,
  so a W-cycle costs about twice a fine-level sweep; piecewise-constant aggregation
  under-corrects smooth errors, and the correction is scaled by ``OVER_CORRECTION``.
- the coarsest level (at most ``COARSEST_COLUMNS`` columns) is factored by sparse LU.

The cycle is symmetric (the post-smoother sweeps the colours in the reverse order), so it
preconditions CG. It is written here rather than taken from pyamg because pyamg's algebraic
hierarchy neither keeps the z-lines nor the tensor structure: on the TSV benchmark it needs
about four times the memory and more time than this geometric one (``benchmarks/solver.py``).
Array shapes: fields (nz, ny, nx); ``gx`` (nz, ny, nx-1), ``gy`` (nz, ny-1, nx), ``gz``
(nz-1, ny, nx), W/K.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from chiptherm.discretize.system import System

COARSEST_COLUMNS = 64
"""A level with at most this many (x, y) columns is solved directly."""
OVER_CORRECTION = 1.2
"""Scale of the coarse-grid correction: aggregation's coarse operator is too stiff for smooth
errors, so a slightly longer step helps (any value in (0, 2) keeps the cycle convergent).
Measured on the TSV stack of ``benchmarks/solver.py`` (317 k cells): 15 CG iterations at 1.2,
17 at 1.0, 23 at 1.6 and 0.8."""
SWEEPS = 1
"""Red-black z-line sweeps before and after each coarse correction."""
COARSE_VISITS = 2
"""Coarse corrections per level: 2 is a W-cycle, 1 a V-cycle."""
"""Red-black z-line sweeps before and after each coarse correction."""


@dataclass
class Level:
    """The 7-point conductance network of one level and the z-line factors of its smoother.

    Attributes:
        gx, gy, gz: conductances between neighbouring cells, W/K.
        diag: (nz, ny, nx) the matrix diagonal: every conductance touching the cell, faces and
            sinks included, W/K.
        inv_w, lower: (nz, ny, nx) the Thomas factors of each column's tridiagonal matrix
            (diagonal ``diag``, off-diagonals -gz): 1/pivot, and the multiplier of the row above.
        red: (ny, nx) True on the red columns of the checkerboard.
    """

    gx: np.ndarray
    gy: np.ndarray
    gz: np.ndarray
    diag: np.ndarray

    def __post_init__(self) -> None:
        nz, ny, nx = self.diag.shape
        self.inv_w = np.empty_like(self.diag)
        self.lower = np.zeros_like(self.diag)
        w = self.diag[0].copy()
        self.inv_w[0] = 1.0 / w
        for k in range(1, nz):
            self.lower[k] = -self.gz[k - 1] * self.inv_w[k - 1]
            w = self.diag[k] + self.lower[k] * self.gz[k - 1]
            self.inv_w[k] = 1.0 / w
        jj, ii = np.meshgrid(np.arange(nx), np.arange(ny))
        self.red = (ii + jj) % 2 == 0

    @property
    def shape(self) -> tuple[int, int, int]:
        """(nz, ny, nx); fields of a batch have leading axes before these."""
        return self.diag.shape  # type: ignore[return-value]

    @classmethod
    def of_system(cls, system: System, dtype: type = np.float32) -> Level:
        """The finest level: ``system``'s conductances in ``dtype``."""
        return cls(*(a.astype(dtype) for a in (system.gx, system.gy, system.gz, system.diagonal)))

    # -- the operator --------------------------------------------------------------------------
    def neighbours(self, x: np.ndarray) -> np.ndarray:
        """(nz, ny, nx) the lateral neighbours' pull, Σ g·x over the four lateral links, W."""
        out = np.zeros_like(x)
        out[..., :-1] += self.gx * x[..., 1:]
        out[..., 1:] += self.gx * x[..., :-1]
        out[..., :-1, :] += self.gy * x[..., 1:, :]
        out[..., 1:, :] += self.gy * x[..., :-1, :]
        return out

    def apply(self, x: np.ndarray) -> np.ndarray:
        """A·x, (nz, ny, nx) -> (nz, ny, nx), W."""
        out = self.diag * x - self.neighbours(x)
        out[..., :-1, :, :] -= self.gz * x[..., 1:, :, :]
        out[..., 1:, :, :] -= self.gz * x[..., :-1, :, :]
        return out

    def column_solve(self, r: np.ndarray) -> np.ndarray:
        """Every column's tridiagonal system solved for right-hand side ``r`` (Thomas)."""
        y = r.copy()
        nz = y.shape[-3]
        for k in range(1, nz):
            y[..., k, :, :] -= self.lower[k] * y[..., k - 1, :, :]
        y[..., -1, :, :] *= self.inv_w[-1]
        for k in range(nz - 2, -1, -1):
            y[..., k, :, :] += self.gz[k] * y[..., k + 1, :, :]
            y[..., k, :, :] *= self.inv_w[k]
        return y

    def sweep(self, x: np.ndarray, b: np.ndarray, colours: tuple[bool, ...]) -> None:
        """Red-black z-line Gauss–Seidel in place: for each colour, its columns solved
        exactly with the other columns' current values."""
        for colour in colours:
            solved = self.column_solve(b + self.neighbours(x))
            np.copyto(x, solved, where=self.red if colour else ~self.red)

    # -- coarsening ----------------------------------------------------------------------------
    def coarsened(self) -> Level:
        """The Galerkin operator PᵀAP of 2 x 2 column aggregates (z kept): the links between
        aggregates summed, the links inside one dropped, faces and sinks summed."""
        nz, ny, nx = self.shape
        extra = self.diag - link_sum(self.gx, self.gy, self.gz, self.shape)
        gx = aggregate(self.gx[:, :, 1::2], along_x=False)
        gy = aggregate(self.gy[:, 1::2, :], along_y=False)
        gz = aggregate(self.gz)
        coarse = (nz, (ny + 1) // 2, (nx + 1) // 2)
        return Level(gx, gy, gz, aggregate(extra) + link_sum(gx, gy, gz, coarse))

    def matrix(self) -> sp.csc_array:
        """This level's operator as a sparse matrix (for the coarsest level's LU)."""
        nz, ny, nx = self.shape
        n = nz * ny * nx
        off_x = np.zeros(self.shape)
        off_x[:, :, :-1] = self.gx
        off_y = np.zeros(self.shape)
        off_y[:, :-1, :] = self.gy
        diagonals, offsets = [self.diag.ravel()], [0]
        for values, step in ((off_x, 1), (off_y, nx), (self.gz, nx * ny)):
            if step < n:
                v = -values.ravel()[: n - step]
                diagonals += [v, v]
                offsets += [step, -step]
        return sp.diags_array(diagonals, offsets=offsets, shape=(n, n), format="csc")


def link_sum(
    gx: np.ndarray, gy: np.ndarray, gz: np.ndarray, shape: tuple[int, int, int]
) -> np.ndarray:
    """(nz, ny, nx) the sum of the cell-to-cell conductances touching each cell, W/K."""
    d = np.zeros(shape, dtype=gz.dtype)
    d[:, :, :-1] += gx
    d[:, :, 1:] += gx
    d[:, :-1, :] += gy
    d[:, 1:, :] += gy
    d[:-1] += gz
    d[1:] += gz
    return d


def aggregate(a: np.ndarray, along_x: bool = True, along_y: bool = True) -> np.ndarray:
    """Sums of ``a`` (nz, ny, nx) over pairs of neighbouring cells along x and/or y (the last
    of an odd count alone)."""
    ny, nx = a.shape[-2:]
    out = ((ny + 1) // 2 if along_y else ny, (nx + 1) // 2 if along_x else nx)
    if a.size == 0:
        return np.zeros((*a.shape[:-2], *out), dtype=a.dtype)
    if along_y:
        a = np.add.reduceat(a, np.arange(0, ny, 2), axis=-2)
    if along_x:
        a = np.add.reduceat(a, np.arange(0, nx, 2), axis=-1)
    return a


def restrict(r: np.ndarray) -> np.ndarray:
    """Pᵀr: the residual summed over each 2 x 2 aggregate."""
    return aggregate(r)


def prolong(e: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """P·e: each aggregate's value given to its (up to) four columns."""
    _, ny, nx = shape
    return np.repeat(np.repeat(e, 2, axis=-2), 2, axis=-1)[..., :ny, :nx]


class Multigrid:
    """The W-cycle preconditioner of a :class:`System`: ``apply_inverse(r)`` ≈ A⁻¹r.

    Built once per matrix (levels and factors), applied to any number of residuals.
    """

    def __init__(self, system: System) -> None:
        self.levels = [Level.of_system(system)]
        while self._columns(self.levels[-1]) > COARSEST_COLUMNS:
            self.levels.append(self.levels[-1].coarsened())
        self.coarsest = spla.splu(self.levels[-1].matrix())

    @staticmethod
    def _columns(level: Level) -> int:
        return level.shape[1] * level.shape[2]

    @property
    def bytes_per_cell(self) -> float:
        """Memory of the hierarchy per fine cell, bytes (arrays of every level)."""
        arrays = sum(
            a.nbytes
            for lv in self.levels
            for a in (lv.gx, lv.gy, lv.gz, lv.diag, lv.inv_w, lv.lower)
        )
        return arrays / self.levels[0].diag.size

    def cycle(self, depth: int, b: np.ndarray) -> np.ndarray:
        """One W-cycle on level ``depth`` for right-hand side ``b``, from zero."""
        if depth == len(self.levels) - 1:
            columns = b.reshape(-1, int(np.prod(b.shape[-3:]))).T.astype(float)
            return self.coarsest.solve(columns).T.reshape(b.shape).astype(b.dtype)
        level = self.levels[depth]
        x = np.zeros_like(b)
        for _ in range(SWEEPS):
            level.sweep(x, b, (True, False))
        for _ in range(COARSE_VISITS if depth + 2 < len(self.levels) else 1):
            r = b - level.apply(x)
            x += OVER_CORRECTION * prolong(self.cycle(depth + 1, restrict(r)), level.shape)
        for _ in range(SWEEPS):
            level.sweep(x, b, (False, True))
        return x

    def apply_inverse(self, r: np.ndarray) -> np.ndarray:
        """The preconditioned residual, flat (N,) or (nz, ny, nx) as given."""
        fine = self.levels[0]
        z = self.cycle(0, r.reshape(fine.shape).astype(fine.diag.dtype))
        return z.astype(r.dtype).reshape(r.shape)

    def apply_many(self, r: np.ndarray) -> np.ndarray:
        """The preconditioned residuals of a batch (k, nz, ny, nx) at once: every level's
        arrays are read once for all k."""
        fine = self.levels[0]
        z = self.cycle(0, r.reshape(-1, *fine.shape).astype(fine.diag.dtype))
        return z.astype(r.dtype)
