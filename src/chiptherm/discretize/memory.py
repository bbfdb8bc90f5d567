"""Whether a grid fits in this machine's memory, asked before any array is allocated.

A solve holds the finite-volume system (conductances, power, diagonal, the conductivities it
is assembled from) and at least a solution and a residual: :data:`SOLVE_BYTES_PER_CELL` bytes
per cell is the least any method needs (the transform solver; cg-mg with its CSR matrix needs
about twice that, see ``benchmarks/solver.py``). A grid whose solve would need more than the
memory available is refused with both numbers, instead of failing half-way through an
allocation.
"""

from __future__ import annotations

import os
from pathlib import Path

from chiptherm.errors import InputError

SOLVE_BYTES_PER_CELL = 120
"""The least memory of a steady solve per cell, bytes: 15 float64 arrays of the grid's shape."""


def available_bytes() -> int | None:
    """Memory available to a new allocation, bytes: Linux's MemAvailable, else the free
    physical pages; None where neither can be read."""
    meminfo = Path("/proc/meminfo")
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(shape: tuple[int, int, int], bytes_per_cell: float = SOLVE_BYTES_PER_CELL) -> None:
    """Refuse a grid of ``shape`` (nz, ny, nx) whose solve needs more memory than is available.

    Raises:
        InputError: naming the cells, the memory the solve would need and what is available.
    """
    nz, ny, nx = shape
    cells = nz * ny * nx
    needed = cells * bytes_per_cell
    available = available_bytes()
    if available is None or needed <= available:
        return
    gib = 2**30
    raise InputError(
        f"the grid has {cells:,} cells ({nz} z-cells x {ny} x {nx}); solving it needs at least "
        f"{needed / gib:.1f} GiB and this machine has {available / gib:.1f} GiB available: "
        "lower grid.nx and grid.ny or the layers' cells"
    )
