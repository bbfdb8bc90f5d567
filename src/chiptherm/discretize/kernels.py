"""Compiled host kernels of the 7-point conductance network: the operator that multigrid CG
multiplies by, and the z-line smoother and grid transfers of :mod:`chiptherm.solvers.multigrid`.

A solve of a heterogeneous stack is memory-bound: every step streams a few arrays of the size
of the grid. Written as numpy expressions, one red-black z-line sweep makes about forty passes
over memory (each lateral link, each Thomas step and each temporary is its own pass); the
kernels here make one. They are compiled by numba (LLVM), which keeps the code in Python's
syntax, vectorizes the row loops and caches the machine code on disk, so only the first call
on a machine pays for compilation (a few seconds; a new process then loads the machine code
from that cache in about 0.5 s, once). A torch device keeps the array-operation
form of the same steps (:class:`~chiptherm.solvers.multigrid.Level`), and the tests hold both
to float32 round-off of each other.

**Rows layout.** The multigrid kernels take their arrays with y outermost, (ny, nz, nx)
(:mod:`chiptherm.discretize.layout`): all z-cells of one row of columns are then one
contiguous block, which a z-line sweep streams through once. In the stack's own (nz, ny, nx)
order the same sweep jumps a whole z-plane between consecutive cells of a column, which
measured 1.3-1.9x slower here (4.3 against 5.7-8.4 ns per cell and sweep from 110 k to 4.3 M
cells, the worst on grids of 64 x 64 to 256 x 256 columns, whose planes are a power-of-two
number of bytes apart and collide in the caches).

Every kernel works row by row: a row of ``nx`` cells is what a loop reads contiguously, and
the rows a step needs stay in cache while it is in use. No fast-math: the floating-point
operations are IEEE's, in the order written.

Array shapes (rows layout): fields ``x``, ``b``, ``out`` are batches (m, ny, nz, nx); the
network's ``diag`` and ``inv_w`` (ny, nz, nx), ``gx`` (ny, nz, nx-1), ``gy`` (ny-1, nz, nx),
``gz`` (ny, nz-1, nx), W/K; all C-contiguous and of one floating type (float32 in the
multigrid cycle, float64 in CG).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(inline="always")
def _plus_row(row, a, c, x, g_row):  # pragma: no cover - compiled
    """row[i] += Σ g·x over the two links within row (a, c) of ``x`` (n0, n1, n2), ``g_row``
    (n0, n1, n2-1)."""
    n2 = x.shape[2]
    here, g = x[a, c], g_row[a, c]
    for i in range(n2 - 1):
        row[i] += g[i] * here[i + 1]
    for i in range(1, n2):
        row[i] += g[i - 1] * here[i - 1]


@njit(inline="always")
def _plus_inner(row, a, c, x, g_inner):  # pragma: no cover - compiled
    """row[i] += Σ g·x over the links along axis 1 of the cells of row (a, c), ``g_inner``
    (n0, n1-1, n2)."""
    n2 = x.shape[2]
    if c > 0:
        g, near = g_inner[a, c - 1], x[a, c - 1]
        for i in range(n2):
            row[i] += g[i] * near[i]
    if c + 1 < x.shape[1]:
        g, near = g_inner[a, c], x[a, c + 1]
        for i in range(n2):
            row[i] += g[i] * near[i]


@njit(inline="always")
def _plus_outer(row, a, c, x, g_outer):  # pragma: no cover - compiled
    """row[i] += Σ g·x over the links along axis 0 of the cells of row (a, c), ``g_outer``
    (n0-1, n1, n2)."""
    n2 = x.shape[2]
    if a > 0:
        g, near = g_outer[a - 1, c], x[a - 1, c]
        for i in range(n2):
            row[i] += g[i] * near[i]
    if a + 1 < x.shape[0]:
        g, near = g_outer[a, c], x[a + 1, c]
        for i in range(n2):
            row[i] += g[i] * near[i]


@njit(inline="always")
def _plus_links(row, a, c, x, g_outer, g_inner, g_row):  # pragma: no cover - compiled
    """row[i] += Σ g·x over the six links of the cells of row (a, c) of ``x`` (n0, n1, n2)."""
    _plus_row(row, a, c, x, g_row)
    _plus_inner(row, a, c, x, g_inner)
    _plus_outer(row, a, c, x, g_outer)


@njit(cache=True, nogil=True)
def apply_stencil(x, diag, g_outer, g_inner, g_row, out):  # pragma: no cover - compiled
    """out = A·x for a batch x (m, n0, n1, n2), W: the matrix-free 7-point operator, in either
    layout: (nz, ny, nx) with links (gz, gy, gx), or the rows layout (ny, nz, nx) with
    (gy, gz, gx)."""
    m, n0, n1, n2 = x.shape
    zero = np.zeros(n2, dtype=x.dtype)
    for s in range(m):
        for a in range(n0):
            for c in range(n1):
                row = out[s, a, c]
                _residual_row(row, zero, a, c, x[s], diag, g_outer, g_inner, g_row)
                for i in range(n2):
                    row[i] = -row[i]  # exact: A·x = -(0 - A·x)


@njit(inline="always")
def _residual_row(row, base, a, c, xs, diag, g_outer, g_inner, g_row):  # pragma: no cover
    """row[i] = base[i] - (A·x)[i] over row (a, c) of ``xs`` (n0, n1, n2), W."""
    d, here = diag[a, c], xs[a, c]
    for i in range(row.shape[0]):
        row[i] = base[i] - d[i] * here[i]
    _plus_links(row, a, c, xs, g_outer, g_inner, g_row)


@njit(inline="always")
def _lateral_pull(row, base, xs, gx, gy, j, k):  # pragma: no cover - compiled
    """row[i] = base[i] + Σ g·x over the four lateral links of the cells of row (y j, z k), in
    the rows layout: along x within the row, along y across rows (axis 0)."""
    for i in range(row.shape[0]):
        row[i] = base[i]
    _plus_row(row, j, k, xs, gx)
    _plus_outer(row, j, k, xs, gy)


@njit(inline="always")
def _solve_columns_of_row(xs, bs, gx, gy, gz, inv_w, j, parity, y):  # pragma: no cover
    """The z-columns of row j whose checkerboard colour is ``parity`` ((i + j) % 2), each
    solved exactly along z for the current values of its lateral neighbours; ``y`` (nz, nx)
    is scratch. Every column of the row is eliminated (the loops stay contiguous and
    vectorize; measured faster than strided loops over one colour); only those of the
    colour are written back."""
    nz, nx = y.shape
    for k in range(nz):  # right-hand side and forward elimination
        row = y[k]
        _lateral_pull(row, bs[j, k], xs, gx, gy, j, k)
        if k > 0:
            below, g, w = y[k - 1], gz[j, k - 1], inv_w[j, k - 1]
            for i in range(nx):
                row[i] += g[i] * w[i] * below[i]
    row, w = y[nz - 1], inv_w[j, nz - 1]  # back substitution
    for i in range(nx):
        row[i] *= w[i]
    for k in range(nz - 2, -1, -1):
        row, above, g, w = y[k], y[k + 1], gz[j, k], inv_w[j, k]
        for i in range(nx):
            row[i] = (row[i] + g[i] * above[i]) * w[i]
    first = (j + parity) & 1
    for k in range(nz):
        target, row = xs[j, k], y[k]
        for i in range(first, nx, 2):
            target[i] = row[i]


@njit(cache=True, nogil=True)
def zline_sweep(x, b, gx, gy, gz, inv_w, first):  # pragma: no cover - compiled
    """One red-black z-line Gauss–Seidel sweep in place on a batch x (m, ny, nz, nx), rows
    layout: the columns of colour ``first`` (0: (i + j) even, 1: odd), then those of the
    other colour.

    ``inv_w`` holds the reciprocal pivots of each column's tridiagonal matrix (diagonal
    ``diag``, off-diagonals -gz), so the elimination multiplier below pivot k is
    -gz[k-1]·inv_w[k-1]. The two colours are pipelined in one pass over the rows: row j of
    the first colour, then row j-1 of the second, which by then sees its final neighbours of
    the first colour; the result equals two separate passes.
    """
    m, ny, nz, nx = x.shape
    y = np.empty((nz, nx), dtype=x.dtype)
    second = 1 - first
    for s in range(m):
        xs, bs = x[s], b[s]
        for j in range(ny + 1):
            if j < ny:
                _solve_columns_of_row(xs, bs, gx, gy, gz, inv_w, j, first, y)
            if j > 0:
                _solve_columns_of_row(xs, bs, gx, gy, gz, inv_w, j - 1, second, y)


@njit(cache=True, nogil=True)
def restricted_residual(x, b, diag, gx, gy, gz, coarse):  # pragma: no cover - compiled
    """coarse = Pᵀ(b - A·x): the residual of a batch x (m, ny, nz, nx), rows layout, summed
    over each 2 x 2 aggregate of columns, into ``coarse`` (m, (ny+1)//2, nz, (nx+1)//2), W."""
    m, ny, nz, nx = x.shape
    row = np.empty(nx, dtype=x.dtype)
    half = nx // 2
    for s in range(m):
        xs = x[s]
        for j in range(ny):
            for k in range(nz):
                _residual_row(row, b[s, j, k], j, k, xs, diag, gy, gz, gx)
                target = coarse[s, j >> 1, k]
                if j & 1 == 0:
                    target[:] = 0.0
                for i in range(half):
                    target[i] += row[2 * i] + row[2 * i + 1]
                if nx & 1:
                    target[half] += row[nx - 1]


@njit(cache=True, nogil=True)
def add_prolonged(x, e, scale):  # pragma: no cover - compiled
    """x += scale · P·e: each aggregate's correction e (m, (ny+1)//2, nz, (nx+1)//2) added to
    its (up to) four columns of x (m, ny, nz, nx), rows layout."""
    m, ny, nz, nx = x.shape
    for s in range(m):
        for j in range(ny):
            for k in range(nz):
                source, target = e[s, j >> 1, k], x[s, j, k]
                for i in range(nx):
                    target[i] += scale * source[i >> 1]
