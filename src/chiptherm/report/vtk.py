"""VTK XML rectilinear-grid (.vtr) writer, loadable in ParaView.

Cell data are stored as base64-encoded little-endian binary arrays inline.
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from chiptherm.atomic import atomic_write_text
from chiptherm.discretize.grid import Grid


def _encode(array: np.ndarray) -> str:
    data = np.ascontiguousarray(array, dtype="<f8").tobytes()
    header = np.array([len(data)], dtype="<u8").tobytes()
    return base64.b64encode(header).decode() + base64.b64encode(data).decode()


def write_vtr(path: str | Path, grid: Grid, cell_data: dict[str, np.ndarray]) -> Path:
    """Write (nz, ny, nx) cell arrays on ``grid`` to a .vtr file (coordinates in m)."""
    nz, ny, nx = grid.shape
    extent = f"0 {nx} 0 {ny} 0 {nz}"
    arrays = "\n".join(
        f'        <DataArray type="Float64" Name="{name}" format="binary">'
        f"{_encode(values.reshape(grid.shape))}</DataArray>"
        for name, values in cell_data.items()
    )
    coords = "\n".join(
        f'        <DataArray type="Float64" Name="{axis}" format="binary">{_encode(edges)}'
        "</DataArray>"
        for axis, edges in (("x", grid.x_edges), ("y", grid.y_edges), ("z", grid.z_edges))
    )
    first = next(iter(cell_data), "")
    text = f"""<?xml version="1.0"?>
<VTKFile type="RectilinearGrid" version="1.0" byte_order="LittleEndian" header_type="UInt64">
  <RectilinearGrid WholeExtent="{extent}">
    <Piece Extent="{extent}">
      <CellData Scalars="{first}">
{arrays}
      </CellData>
      <Coordinates>
{coords}
      </Coordinates>
    </Piece>
  </RectilinearGrid>
</VTKFile>
"""
    atomic_write_text(path, text)
    return Path(path)


def read_vtr_cell_data(path: str | Path, name: str) -> np.ndarray:
    """Read back one cell array (flat, x fastest) from a .vtr written by :func:`write_vtr`."""
    import re

    text = Path(path).read_text()
    match = re.search(rf'Name="{name}" format="binary">([^<]*)<', text)
    if match is None:
        raise KeyError(name)
    blob = match.group(1)
    header_len = len(base64.b64encode(b"\0" * 8))
    return np.frombuffer(base64.b64decode(blob[header_len:]), dtype="<f8")
