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
  so a W-cycle costs about twice a fine-level pre- and post-sweep; piecewise-constant aggregation
  under-corrects smooth errors, and the correction is scaled by ``OVER_CORRECTION``.
- the coarsest level (at most ``COARSEST_COLUMNS`` columns) is factored by sparse LU.

The cycle is symmetric (the post-smoother sweeps the colours in the reverse order), so it
preconditions CG. On the host every step of a level is one compiled pass
(:mod:`chiptherm.discretize.kernels`), imported where first used so that importing chiptherm
does not load the compiler (numba takes about half a second to import).

It is written here rather than taken from pyamg because pyamg's algebraic
hierarchy neither keeps the z-lines nor the tensor structure: on the TSV benchmark it needs
about four times the memory and more time than this geometric one (``benchmarks/solver.py``).
Array shapes: fields (nz, ny, nx); ``gx`` (nz, ny, nx-1), ``gy`` (nz, ny-1, nx), ``gz``
(nz-1, ny, nx), W/K.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from chiptherm.discretize.layout import as_batch, from_rows, to_rows
from chiptherm.discretize.stencil import seven_point_matrix
from chiptherm.discretize.system import System
from chiptherm.solvers.backend import (
    is_host,
    namespace,
    pair_sums,
    to_device,
    to_numpy,
)

COARSEST_COLUMNS = 64
"""A level with at most this many (x, y) columns is solved directly."""
OVER_CORRECTION = 1.3
"""Scale of the coarse-grid correction: aggregation's coarse operator is too stiff for smooth
errors, so a longer step helps. CG iterations to 1e-8 at 1.0 / 1.2 / 1.3 / 1.4: TSV stack of
``benchmarks/solver.py`` at 1.44 M cells 15 / 13 / 12 / 11, ``examples/chiplets.yaml``
17 / 14 / 13 / 13, a 1:1000 contrast 13 / 12 / 11 / 18, and never more at 1.3 than at 1.2 on
the test stacks; 1.4 costs up to 50 % more on small stacks and 1.5 broke down (160 iterations)
at 4.3 M cells, so 1.3 keeps a margin."""
SWEEPS = 1
"""Red-black z-line sweeps before and after each coarse correction."""
COARSE_VISITS = 2
"""Coarse corrections per level on the host: 2 is a W-cycle, 1 a V-cycle."""
DEVICE_COARSE_VISITS = 1
"""Coarse corrections per level on a torch device. A device pays for every kernel launch, and
a W-cycle visits level d 2^d times, each visit a few hundred launches for a few hundred cells;
the V-cycle's extra CG iterations cost less there (to be timed on a GPU)."""

Array = Any
"""A numpy array or a torch tensor (see :mod:`chiptherm.solvers.backend`)."""


@dataclass
class Level:
    """The 7-point conductance network of one level and the z-line factors of its smoother.

    The arrays are all numpy arrays or all torch tensors on one device; every method runs on
    either. On the host each step is one compiled pass (:mod:`chiptherm.discretize.kernels`)
    over fields in the kernels' rows layout (ny, nz, nx); on a torch device the same steps are
    array operations on (nz, ny, nx). :meth:`native` and :meth:`standard` convert a field.

    Attributes:
        gx, gy, gz: conductances between neighbouring cells, W/K.
        diag: (nz, ny, nx) the matrix diagonal: every conductance touching the cell, faces and
            sinks included, W/K.
        rows: on the host, the arrays of the compiled kernels in their rows layout
            (:func:`~chiptherm.discretize.layout.to_rows`): gx, gy, gz and diag (of which
            the attributes above are views), and inv_w, the reciprocal pivots of every
            column's tridiagonal matrix (diagonal ``diag``, off-diagonals -gz), 1/W·K.
        colours: on a device: for red (True) and black (False), the checkerboard's two parity
            quadrants of that colour, each as its index and the Thomas factors of its
            columns, see :func:`column_solve`.
    """

    gx: Array
    gy: Array
    gz: Array
    diag: Array
    smoother: bool = True
    """Whether to factor the z-lines (False: the operator alone, :meth:`apply`)."""

    def __post_init__(self) -> None:
        self.colours: dict[bool, list[tuple[tuple[int, int], ColumnFactors]]] = {}
        self.rows: dict[str, np.ndarray] = {}
        if self.host:  # the kernels' rows layout; the (nz, ny, nx) attributes become its views
            for name in ("gx", "gy", "gz", "diag"):
                self.rows[name] = to_rows(getattr(self, name))
                setattr(self, name, from_rows(self.rows[name]))
        if not self.smoother:
            return
        xp = namespace(self.diag)
        nz = self.diag.shape[0]
        inv_w = xp.empty_like(self.diag)
        lower = xp.zeros_like(self.diag)
        w = self.diag[0]
        inv_w[0] = 1.0 / w
        for k in range(1, nz):
            lower[k] = -self.gz[k - 1] * inv_w[k - 1]
            w = self.diag[k] + lower[k] * self.gz[k - 1]
            inv_w[k] = 1.0 / w
        if self.host:  # the compiled sweep recomputes the multipliers from gz and inv_w
            self.rows["inv_w"] = to_rows(inv_w)
            return
        # the checkerboard's colours as (y, x) parity quadrants: red (0, 0) and (1, 1),
        # black (0, 1) and (1, 0); each keeps its columns' factors contiguous
        for colour, parities in ((True, ((0, 0), (1, 1))), (False, ((0, 1), (1, 0)))):
            self.colours[colour] = []
            for a, c in parities:
                q = (Ellipsis, slice(a, None, 2), slice(c, None, 2))
                factors = tuple(xp.asarray(f[q], copy=True) for f in (lower, inv_w, self.gz))
                self.colours[colour].append(((a, c), factors))

    @property
    def host(self) -> bool:
        """Whether the arrays are numpy's (the compiled kernels run the steps) or torch's."""
        return is_host(self.diag)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(nz, ny, nx); fields of a batch have leading axes before these."""
        return tuple(self.diag.shape)  # type: ignore[return-value]

    @classmethod
    def of_system(
        cls, system: System, single: bool = True, device: Any = None, smoother: bool = True
    ) -> Level:
        """The finest level: ``system``'s conductances in single (or double) precision, as
        numpy arrays (``device`` None) or torch tensors on ``device``; without the smoother's
        factors when ``smoother`` is False (a matrix-free operator)."""
        arrays = (system.gx, system.gy, system.gz, system.diagonal)
        if device is None:
            dtype = np.float32 if single else np.float64
            return cls(*(a.astype(dtype) for a in arrays), smoother=smoother)
        import torch

        dtype = torch.float32 if single else torch.float64
        return cls(*(to_device(a, device, dtype) for a in arrays), smoother=smoother)

    # -- the operator --------------------------------------------------------------------------
    def neighbours(self, x: Array) -> Array:
        """(nz, ny, nx) the lateral neighbours' pull, Σ g·x over the four lateral links, W."""
        out = namespace(x).zeros_like(x)
        out[..., :-1] += self.gx * x[..., 1:]
        out[..., 1:] += self.gx * x[..., :-1]
        out[..., :-1, :] += self.gy * x[..., 1:, :]
        out[..., 1:, :] += self.gy * x[..., :-1, :]
        return out

    def native(self, x: Array) -> Array:
        """A field (..., nz, ny, nx) in the layout of :meth:`sweep` and the transfers: the rows
        layout (..., ny, nz, nx) on the host (a copy), itself on a device."""
        return to_rows(x) if self.host else x

    def standard(self, x: Array) -> Array:
        """A field of the level's layout back in (..., nz, ny, nx) (a view on the host)."""
        return from_rows(x) if self.host else x

    def apply(self, x: Array) -> Array:
        """A·x, (..., nz, ny, nx) -> (..., nz, ny, nx), W: the matrix-free 7-point operator."""
        if self.host:
            from chiptherm.discretize import kernels

            batch = as_batch(to_rows(x), self.rows["diag"].shape)
            out = np.empty_like(batch)
            r = self.rows
            kernels.apply_stencil(batch, r["diag"], r["gy"], r["gz"], r["gx"], out)
            return from_rows(out).reshape(x.shape)
        out = self.diag * x - self.neighbours(x)
        out[..., :-1, :, :] -= self.gz * x[..., 1:, :, :]
        out[..., 1:, :, :] -= self.gz * x[..., :-1, :, :]
        return out

    def sweep(self, x: Array, b: Array, colours: tuple[bool, ...]) -> None:
        """Red-black z-line Gauss–Seidel in place on ``x`` (level layout, see :meth:`native`):
        for each colour (True: red, (i + j) even), its columns (and only they) solved exactly
        with the other columns' current values."""
        if self.host:
            from chiptherm.discretize import kernels

            if len(colours) != 2 or colours[1] == colours[0]:  # pragma: no cover - one colour
                raise ValueError("the host sweep takes both colours, in either order")
            r, shape = self.rows, self.rows["diag"].shape
            xb, bb = x.reshape(-1, *shape), as_batch(b, shape)
            first = 0 if colours[0] else 1
            kernels.zline_sweep(xb, bb, r["gx"], r["gy"], r["gz"], r["inv_w"], first)
            return
        for colour in colours:
            pull = b + self.neighbours(x)  # for every cell: measured faster than for a
            for (a, c), factors in self.colours[colour]:  # colour's strided quadrants alone
                q = (Ellipsis, slice(a, None, 2), slice(c, None, 2))
                x[q] = column_solve(pull[q], *factors)

    def restricted_residual(self, x: Array, b: Array) -> Array:
        """Pᵀ(b - A·x): the residual summed over each 2 x 2 aggregate of columns, in the level
        layout: (..., nz, ny, nx) -> (..., nz, (ny+1)//2, (nx+1)//2) on a device, (..., ny,
        nz, nx) -> (..., (ny+1)//2, nz, (nx+1)//2) on the host, W."""
        if not self.host:
            return restrict(b - self.apply(x))
        from chiptherm.discretize import kernels

        r, shape = self.rows, self.rows["diag"].shape
        xb, bb = as_batch(x, shape), as_batch(b, shape)
        ny, nz, nx = shape
        coarse = np.empty((len(xb), (ny + 1) // 2, nz, (nx + 1) // 2), dtype=xb.dtype)
        kernels.restricted_residual(xb, bb, r["diag"], r["gx"], r["gy"], r["gz"], coarse)
        return coarse.reshape(*x.shape[:-3], *coarse.shape[-3:])

    def add_prolonged(self, x: Array, e: Array, scale: float) -> None:
        """x += scale·P·e in place (level layout): each aggregate's correction ``e`` given to
        its columns."""
        if not self.host:
            x += scale * prolong(e, self.shape)
            return
        from chiptherm.discretize import kernels

        xb = x.reshape(-1, *self.rows["diag"].shape)
        eb = as_batch(e, e.shape[-3:])
        kernels.add_prolonged(xb, eb, x.dtype.type(scale))

    @property
    def nbytes(self) -> int:
        """Memory of this level's arrays, bytes."""
        arrays = [self.gx, self.gy, self.gz, self.diag]
        arrays += [a for name, a in self.rows.items() if name == "inv_w"]
        arrays += [f for quadrants in self.colours.values() for _, fs in quadrants for f in fs]
        return sum(a.nbytes if is_host(a) else a.element_size() * a.numel() for a in arrays)

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
        """This level's operator as a scipy sparse matrix, float64 (for the coarsest level)."""
        arrays = (to_numpy(a) for a in (self.diag, self.gx, self.gy, self.gz))
        return seven_point_matrix(*arrays).tocsc()


ColumnFactors = tuple[Array, Array, Array]
"""The Thomas factors of a set of z-columns: the multiplier of the row above, 1/pivot, and the
vertical links (each (nz, ...) or (nz-1, ...) over the columns)."""


def column_solve(r: Array, lower: Array, inv_w: Array, gz: Array) -> Array:
    """Every column's tridiagonal system (diagonal and -gz off it, factored as ``lower`` and
    ``inv_w``) solved for right-hand side ``r`` (..., nz, ny', nx') by the Thomas algorithm."""
    y = namespace(r).asarray(r, copy=True)
    nz = y.shape[-3]
    for k in range(1, nz):
        y[..., k, :, :] -= lower[k] * y[..., k - 1, :, :]
    y[..., -1, :, :] *= inv_w[-1]
    for k in range(nz - 2, -1, -1):
        y[..., k, :, :] += gz[k] * y[..., k + 1, :, :]
        y[..., k, :, :] *= inv_w[k]
    return y


def link_sum(gx: Array, gy: Array, gz: Array, shape: tuple[int, int, int]) -> Array:
    """(nz, ny, nx) the sum of the cell-to-cell conductances touching each cell, W/K."""
    xp = namespace(gz)
    d = xp.zeros(shape, dtype=gz.dtype, device=gz.device if not is_host(gz) else None)
    d[:, :, :-1] += gx
    d[:, :, 1:] += gx
    d[:, :-1, :] += gy
    d[:, 1:, :] += gy
    d[:-1] += gz
    d[1:] += gz
    return d


def aggregate(a: Array, along_x: bool = True, along_y: bool = True) -> Array:
    """Sums of ``a`` (..., ny, nx) over pairs of neighbouring cells along x and/or y (the last
    of an odd count alone)."""
    if along_y:
        a = pair_sums(a, axis=-2)
    if along_x:
        a = pair_sums(a, axis=-1)
    return a


def restrict(r: Array) -> Array:
    """Pᵀr: the residual summed over each 2 x 2 aggregate."""
    return aggregate(r)


def prolong(e: Array, shape: tuple[int, int, int]) -> Array:
    """P·e: each aggregate's value given to its (up to) four columns."""
    xp = namespace(e)
    _, ny, nx = shape
    return xp.repeat(xp.repeat(e, 2, axis=-2), 2, axis=-1)[..., :ny, :nx]


class CoarsestSolve:
    """The exact solve of the coarsest level: sparse LU on the host, a dense Cholesky factor
    on a torch device (the level holds at most ``COARSEST_COLUMNS`` columns)."""

    def __init__(self, level: Level) -> None:
        matrix = level.matrix()
        self.level = level
        self.host = is_host(level.diag)
        if self.host:
            self.lu = spla.splu(matrix)
        else:
            import torch

            dense = torch.as_tensor(matrix.toarray(), device=level.diag.device)
            self.factor = torch.linalg.cholesky(dense)

    def __call__(self, b: Array) -> Array:
        """A⁻¹b for ``b`` (..., in the level's layout), in b's shape, layout and type."""
        size = int(np.prod(b.shape[-3:]))
        if self.host:
            standard = self.level.standard(b)
            columns = standard.reshape(-1, size).T.astype(float)
            x = self.lu.solve(columns).T.reshape(standard.shape)
            return self.level.native(x.astype(b.dtype))
        import torch

        columns = b.reshape(-1, size).T.to(torch.float64)
        return torch.cholesky_solve(columns, self.factor).T.reshape(b.shape).to(b.dtype)


class Multigrid:
    """The W-cycle preconditioner of a :class:`System`: ``apply_inverse(r)`` ≈ A⁻¹r.

    Built once per matrix (levels and factors), applied to any number of residuals: numpy
    arrays on the host (``device`` None), torch tensors on ``device`` (a V-cycle there, see
    :data:`DEVICE_COARSE_VISITS`).
    """

    def __init__(self, system: System, device: Any = None, visits: int | None = None) -> None:
        self.levels = [Level.of_system(system, device=device)]
        while self._columns(self.levels[-1]) > COARSEST_COLUMNS:
            self.levels.append(self.levels[-1].coarsened())
        self.coarsest = CoarsestSolve(self.levels[-1])
        default = COARSE_VISITS if device is None else DEVICE_COARSE_VISITS
        self.visits = default if visits is None else visits

    @staticmethod
    def _columns(level: Level) -> int:
        return level.shape[1] * level.shape[2]

    @property
    def bytes_per_cell(self) -> float:
        """Memory of the hierarchy per fine cell, bytes (arrays of every level)."""
        return sum(lv.nbytes for lv in self.levels) / int(np.prod(self.levels[0].shape))

    def cycle(self, depth: int, b: Array) -> Array:
        """One W-cycle (or V-cycle) on level ``depth`` for right-hand side ``b``, from zero."""
        if depth == len(self.levels) - 1:
            return self.coarsest(b)
        level = self.levels[depth]
        x = namespace(b).zeros_like(b)
        for _ in range(SWEEPS):
            level.sweep(x, b, (True, False))
        for _ in range(self.visits if depth + 2 < len(self.levels) else 1):
            correction = self.cycle(depth + 1, level.restricted_residual(x, b))
            level.add_prolonged(x, correction, OVER_CORRECTION)
        for _ in range(SWEEPS):
            level.sweep(x, b, (False, True))
        return x

    def _single(self, r: Array) -> Array:
        """``r`` in the cycle's precision (itself when it already is)."""
        return namespace(r).astype(r, self.levels[0].diag.dtype, copy=False)

    def apply_inverse(self, r: Array) -> Array:
        """The preconditioned residual, flat (N,) or (nz, ny, nx) as given, in r's type."""
        return self.apply_many(r.reshape(1, *self.levels[0].shape)).reshape(r.shape)

    def apply_many(self, r: Array) -> Array:
        """The preconditioned residuals of a batch (k, nz, ny, nx) at once, in r's type: every
        level's arrays are read once for all k."""
        fine = self.levels[0]
        b = fine.native(self._single(r).reshape(-1, *fine.shape))
        z = fine.standard(self.cycle(0, b))
        if is_host(z):
            z = np.ascontiguousarray(z)
        return namespace(r).astype(z, r.dtype, copy=False)
