"""Field layouts of the compiled kernels (:mod:`chiptherm.discretize.kernels`).

A stack's fields are (nz, ny, nx): z-planes one after another. The multigrid kernels take them
with y outermost, (ny, nz, nx), the "rows layout", so that every z-cell of one row of columns
is one contiguous block. These helpers convert between the two (numpy only; they import no
compiler).
"""

from __future__ import annotations

import numpy as np


def to_rows(a: np.ndarray) -> np.ndarray:
    """(..., nz, ny, nx) -> (..., ny, nz, nx), C-contiguous (a copy, unless the swap moves
    only an axis of length 1): the kernels' rows layout."""
    return np.ascontiguousarray(np.swapaxes(a, -3, -2))


def from_rows(a: np.ndarray) -> np.ndarray:
    """(..., ny, nz, nx) -> (..., nz, ny, nx), as a view (no copy)."""
    return np.swapaxes(a, -3, -2)


def as_batch(a: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """``a`` (N,), ``shape`` or (m, *shape) as a C-contiguous batch (m, *shape)."""
    return np.ascontiguousarray(a).reshape(-1, *shape)
