"""The figures of an analysis, drawn from its result object: the grid-convergence curves, the
picture of a sweep (one key: curves; two keys: the peak over the grid of values), the
influence maps of a sensitivity study (written with their npz) and its block-move arrows.

Each function takes the study as the analysis returns it and writes into a run folder; the
command line and the review call the same functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def convergence_figure(study: Any, path: Path, title: str) -> Path:
    """convergence.png of a study: the peak and the mean against the cell size, with their
    limits and bands."""
    from chiptherm.report.plots import plot_convergence

    return plot_convergence(
        [level.h_m for level in study.levels],
        {
            name: (
                study.values[name],
                study.estimates[name].extrapolated,
                study.estimates[name].band,
            )
            for name in ("peak", "mean")
        },
        path,
        title=title,
    )


KEY_UNITS = {
    "htc": "W/(m²·K)",
    "thickness": "m",
    "x": "m",
    "y": "m",
    "width": "m",
    "height": "m",
    "watts": "W",
    "leakage_w": "W",
    "conductivity": "W/(m·K)",
    "contact_resistance": "m²·K/W",
    "ambient": "K",
    "temperature": "K",
    "inlet_temperature": "K",
    "flow_rate": "kg/s",
    "heat_capacity": "J/(m³·K)",
}
"""The unit of a stack file's key, by its last part (SI, as the file holds it)."""


def key_label(key: str) -> str:
    """An axis label for a swept key: 'boundaries.top.htc (W/(m²·K))'."""
    unit = KEY_UNITS.get(key.rsplit(".", 1)[-1])
    return f"{key} ({unit})" if unit else key


def plot_study(study: Any, path: Path, title: str) -> None:
    """The sweep's picture: one key, the peak and the hottest blocks' means against the value;
    two keys, the peak over the grid of values; more keys, none."""
    from chiptherm.report.maps import plot_peak_map
    from chiptherm.report.plots import looks_logarithmic, plot_sweep

    if len(study.axes) == 1:
        key, values = study.axes[0]
        x = np.array(values)
        solved = [p for p in study.points if p.error is None]
        first = solved[0].block_mean_k if solved else {}
        hottest = sorted(first, key=lambda b: -first[b])[:6]
        nan = float("nan")
        plot_sweep(
            x,
            {"peak": (x, [p.peak_k for p in study.points])}
            | {
                f"mean {b}": (x, [p.block_mean_k.get(b, nan) for p in study.points])
                for b in hottest
            },
            path,
            title=title,
            xlabel=key_label(key),
            ylabel="temperature (K)",
            log_x=looks_logarithmic(x),
        )
    elif len(study.axes) == 2:
        (ykey, yvalues), (xkey, xvalues) = study.axes
        plot_peak_map(
            xvalues,
            yvalues,
            study.peak_grid(),
            path,
            title=title,
            xlabel=key_label(xkey),
            ylabel=key_label(ykey),
        )


def write_moves(study: Any, out_dir: Path) -> list[Path]:
    """moves_LAYER.png for every layer or face that carries power: its temperature with an
    arrow on each block along which moving it cools J fastest, longer for faster; the files
    written."""
    from chiptherm.report.maps import plot_heat_map
    from chiptherm.report.outputs import safe_name
    from chiptherm.solvers.result import carrier_maps

    steepest = max((m.k_per_mm for m in study.moves), default=0.0)
    if steepest <= 0.0:
        return []
    stack = study.nominal.stack
    reach = 0.25 * min(stack.size) / steepest  # m of arrow per K/mm
    written = []
    for label, (source, tmap) in carrier_maps(
        stack, study.nominal.grid, study.nominal.temperature
    ).items():
        arrows = [
            (
                m.block.x + m.block.width / 2,
                m.block.y + m.block.height / 2,
                m.downhill[0] * m.k_per_mm * reach,
                m.downhill[1] * m.k_per_mm * reach,
            )
            for m in study.moves
            if m.source == source
        ]
        path = plot_heat_map(
            tmap,
            stack.size,
            out_dir / f"moves_{safe_name(label)}.png",
            title=f"{label}: moving a block along its arrow cools the {study.objective.spec}",
            blocks=stack.power[source].blocks,
            arrows=arrows,
        )
        written.append(path)
    return written


def write_influence(study: Any, out_dir: Path) -> list[Path]:
    """The adjoint's influence maps (K/W per watt placed at each point of every layer or face
    that carries power) as influence.npz and one PNG each; the files written."""
    from chiptherm.report.maps import plot_heat_map
    from chiptherm.report.outputs import safe_name, write_npz

    maps = study.influence_maps()
    if not maps:
        return []
    stack, grid = study.nominal.stack, study.nominal.grid
    written = [
        write_npz(
            out_dir / "influence.npz",
            x=grid.x,
            y=grid.y,
            **{safe_name(label): field for label, (_, field) in maps.items()},
        )
    ]
    for label, (source, field) in maps.items():
        written.append(
            plot_heat_map(
                field,
                stack.size,
                out_dir / f"influence_{safe_name(label)}.png",
                title=f"{label}: rise of the {study.objective.spec} per watt placed here",
                blocks=stack.power[source].blocks,
                label="K/W",
                cmap="viridis",
                log_scale=True,
            )
        )
    return written
