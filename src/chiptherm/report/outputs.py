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
from chiptherm.report.html import Section, write_index
from chiptherm.report.maps import plot_cross_section, plot_heat_map
from chiptherm.report.vtk import write_vtr
from chiptherm.solvers.result import Result, carrier_maps


def channel_text(coolant: dict[str, Any]) -> str:
    """'Δp 12.3 kPa, pumping 0.05 W, Re 340 (laminar)' for a cavity's coolant summary."""
    regime = "laminar" if coolant["laminar"] else "beyond the laminar correlations"
    return (
        f"Δp {coolant['pressure_drop_pa'] / 1e3:.3g} kPa, pumping {coolant['pumping_power_w']:.3g}"
        f" W, Re {coolant['reynolds']:.0f} ({regime})"
    )


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
    - ``cross_section.png``: the x-z slice through the hottest cell, every layer visible;
    - ``temperature.vtr`` for ParaView;
    - ``index.html``: the diagnostics, layer and block tables and the pictures on one page.
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
    for label, (source, tmap) in carrier_maps(stack, g, result.temperature).items():
        written.append(
            plot_heat_map(
                tmap,
                stack.size,
                out / f"map_{safe_name(label)}.png",
                title=f"{stack.name}: {label} (max {tmap.max():.2f} K)",
                blocks=stack.power[source].blocks,
            )
        )
    _, y, _ = np.unravel_index(int(np.argmax(result.temperature)), result.temperature.shape)
    written.append(
        plot_cross_section(
            result.temperature[:, y, :],
            g.x_edges,
            [stack.layers[int(i)].name for i in g.layer_of_cell],
            out / "cross_section.png",
            title=f"{stack.name}: x–z section through the hottest cell (y = {1e3 * g.y[y]:.3g} mm)",
        )
    )
    written.append(write_vtr(out / "temperature.vtr", g, {"temperature_K": result.temperature}))
    written.append(write_index(out / "index.html", stack.name, solve_sections(summary, written)))
    return written


def solve_sections(summary: dict[str, Any], files: list[Path]) -> list[Section]:
    """The report page of a solve: diagnostics, layers and blocks, and every picture."""
    s, e, g = summary["solver"], summary["energy"], summary["grid"]
    diagnostics = [
        ("hottest cell", f"{summary['max_temperature']:.3f} K"),
        ("cells", f"{g['cells']:,} ({g['nx']} × {g['ny']} × {g['nz']})"),
        ("solver", f"{s['method']}, {s['iterations']} iterations"),
        ("relative residual", f"{s['relative_residual']:.2e}"),
        ("power in / heat out", f"{e['power_in']:.6g} W / {e['heat_out']:.6g} W"),
        ("energy balance error", f"{e['relative_error']:.1e}"),
    ]
    if s.get("nonlinear_steps"):
        diagnostics.insert(3, ("fixed-point steps", str(s["nonlinear_steps"])))
    if e.get("leakage"):
        diagnostics.append(("of which leakage", f"{e['leakage']:.6g} W"))
    for face, c in (e.get("coolant") or {}).items():
        where = face if face.startswith("cavity") else f"{face} face"
        diagnostics.append(
            (f"coolant, {where}", f"{c['inlet_k']:.2f} K in, {c['outlet_k']:.2f} K out")
        )
        if "pressure_drop_pa" in c:
            diagnostics.append((f"channels, {where}", channel_text(c)))
    images = [f.name for f in files if f.suffix == ".png"]
    sections = [
        Section("Solve", rows=diagnostics, images=images),
        Section(
            "Layers (top first): max / mean",
            rows=[(r["name"], f"{r['max']:.3f} / {r['mean']:.3f} K") for r in summary["layers"]],
        ),
    ]
    if summary["blocks"]:
        sections.append(
            Section(
                "Blocks: W, max / mean",
                rows=[
                    (
                        f"{r['name']} ({r['layer']})",
                        f"{r['watts']:.4g} W, {r['max']:.3f} / {r['mean']:.3f} K",
                    )
                    for r in summary["blocks"]
                ],
            )
        )
    return sections
