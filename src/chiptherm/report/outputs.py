"""Writing a solve's outputs: temperature.npz, summary.json, PNG heat maps, a .vtr file."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from chiptherm.atomic import atomic_write_bytes, atomic_write_text
from chiptherm.report.plots import plot_heat_map
from chiptherm.report.vtk import write_vtr
from chiptherm.result import Result


def safe_name(name: str) -> str:
    """A file-name-safe version of a layer or block name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "layer"


def write_npz(path: str | Path, **arrays: np.ndarray) -> Path:
    """Write arrays to a compressed .npz atomically."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def write_json(path: str | Path, data: Any) -> Path:
    """Write JSON (indented) atomically."""
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    return Path(path)


def write_csv(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows (dicts with the same keys) as CSV with a header, atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else [])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())
    return Path(path)


def write_result(result: Result, out_dir: str | Path, summary: dict[str, Any]) -> list[Path]:
    """Write the standard output set of a solve into ``out_dir``; returns the files written.

    - ``temperature.npz``: ``temperature`` (nz, ny, nx) K, ``x``, ``y``, ``z`` cell centres and
      ``x_edges``, ``y_edges``, ``z_edges`` in m, ``layer_of_cell``;
    - ``summary.json``;
    - ``map_<layer>.png`` for every layer or face that carries power;
    - ``temperature.vtr`` for ParaView.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    g = result.grid
    written = [
        write_npz(
            out / "temperature.npz",
            temperature=result.temperature,
            x=g.x,
            y=g.y,
            z=g.z,
            x_edges=g.x_edges,
            y_edges=g.y_edges,
            z_edges=g.z_edges,
            layer_of_cell=g.layer_of_cell,
        ),
        write_json(out / "summary.json", summary),
    ]
    stack = result.stack
    for i, layer in enumerate(stack.layers):
        if layer.power:
            tmap = result.layer_map(i)
            written.append(
                plot_heat_map(
                    tmap,
                    stack.size,
                    out / f"map_{safe_name(layer.name)}.png",
                    title=f"{stack.name}: {layer.name} (max {tmap.max():.2f} K)",
                    blocks=stack.power[layer.power].blocks,
                )
            )
    for face, level in (("top", -1), ("bottom", 0)):
        name = stack.boundary(face).power
        if name:
            tmap = result.temperature[level]
            written.append(
                plot_heat_map(
                    tmap,
                    stack.size,
                    out / f"map_{face}_face.png",
                    title=f"{stack.name}: {face} face (max {tmap.max():.2f} K)",
                    blocks=stack.power[name].blocks,
                )
            )
    written.append(write_vtr(out / "temperature.vtr", g, {"temperature_K": result.temperature}))
    return written
