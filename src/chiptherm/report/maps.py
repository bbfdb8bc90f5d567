"""Maps: pictures of fields over the die or across the stack (matplotlib, no display needed).

A temperature (or influence) map with block outlines and arrows, a vertical cross-section
with its layers named, the peak over a two-key sweep, and the block-to-block resistance
matrix. Lengths in m on input, drawn in mm.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.patches import Rectangle
from mpl_toolkits.axes_grid1 import make_axes_locatable

from chiptherm.description.stack import Block
from chiptherm.report.plots import looks_logarithmic, save_figure


def plot_heat_map(
    field: np.ndarray,
    size: tuple[float, float],
    path: str | Path,
    *,
    title: str = "",
    blocks: Sequence[Block] = (),
    label: str = "Temperature (K)",
    cmap: str = "inferno",
    vmin: float | None = None,
    vmax: float | None = None,
    log_scale: bool = False,
    arrows: Sequence[tuple[float, float, float, float]] = (),
) -> Path:
    """Save a (ny, nx) map over a chip of ``size`` (m) as a PNG, axes in mm, south at the bottom.

    Block outlines are drawn and labelled; the colour bar carries ``label``. ``log_scale``
    colours a positive field logarithmically (fields that span decades, like influence maps).
    ``arrows`` (x, y, u, v) in m are drawn from (x, y) along (u, v).
    """
    lx, ly = size
    aspect = ly / lx
    fig, ax = plt.subplots(figsize=(6.4, max(2.5, min(9.0, 5.2 * aspect + 1.0))), dpi=110)
    norm = None
    if log_scale and float(np.min(field)) > 0:
        norm = LogNorm(vmin=vmin or float(np.min(field)), vmax=vmax or float(np.max(field)))
        vmin = vmax = None
    image = ax.imshow(
        field,
        origin="lower",
        extent=(0, lx * 1e3, 0, ly * 1e3),
        cmap=cmap,
        norm=norm,
        vmin=vmin,
        vmax=vmax,
        interpolation="nearest",
        aspect="equal",
    )
    for block in blocks:
        ax.add_patch(
            Rectangle(
                (block.x * 1e3, block.y * 1e3),
                block.width * 1e3,
                block.height * 1e3,
                fill=False,
                edgecolor="cyan",
                linewidth=1.0,
            )
        )
        if len(blocks) <= 40:
            ax.text(
                (block.x + 0.03 * block.width) * 1e3,
                (block.y + 0.97 * block.height) * 1e3,
                block.name,
                color="cyan",
                fontsize=7,
                ha="left",
                va="top",
            )
    if arrows:
        x, y, u, v = (np.array(column) * 1e3 for column in zip(*arrows, strict=True))
        ax.quiver(x, y, u, v, angles="xy", scale_units="xy", scale=1.0, color="white", width=0.006)
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    if title:
        ax.set_title(title, fontsize=10)
    bar = make_axes_locatable(ax).append_axes("right", size="4%", pad=0.12)  # as tall as the map
    fig.colorbar(image, cax=bar, label=label)
    return save_figure(fig, path)


def plot_resistance_matrix(
    resistance: np.ndarray, labels: Sequence[str], path: str | Path, *, title: str
) -> Path:
    """Save an (n, n) thermal resistance matrix (K/W, row = heated-up block, column = powered
    block) as a heat map, the values written in the cells when there are at most 16 blocks."""
    n = len(labels)
    side = min(12.0, 2.8 + 0.42 * n)
    fig, ax = plt.subplots(figsize=(side + 1.2, side), dpi=110)
    image = ax.imshow(resistance, cmap="magma", interpolation="nearest")
    ticks = np.arange(n)
    fontsize = 8 if n <= 24 else 6
    ax.set_xticks(ticks, labels if n <= 60 else [], rotation=90, fontsize=fontsize)
    ax.set_yticks(ticks, labels if n <= 60 else [], fontsize=fontsize)
    ax.set_xlabel("powered block (1 W)")
    ax.set_ylabel("block whose mean temperature rises")
    if n <= 16:
        middle = 0.5 * (float(resistance.min()) + float(resistance.max()))
        for i in range(n):
            for j in range(n):
                value = float(resistance[i, j])
                ax.text(
                    j,
                    i,
                    f"{value:.3g}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="black" if value > middle else "white",
                )
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label="thermal resistance (K/W)", shrink=0.85)
    return save_figure(fig, path)


def plot_cross_section(
    section: np.ndarray,
    x_edges: np.ndarray,
    layer_of_cell: Sequence[str],
    path: str | Path,
    *,
    title: str,
) -> Path:
    """Save a vertical (nz, nx) slice of a field as a PNG: x in mm across, one row per z-cell
    (bottom first) so that thin layers stay visible, each layer named at its middle and
    separated by a line."""
    nz = section.shape[0]
    fig, ax = plt.subplots(figsize=(7.2, max(3.0, min(9.0, 1.2 + 0.16 * nz))), dpi=110)
    image = ax.pcolormesh(
        1e3 * np.asarray(x_edges), np.arange(nz + 1), section, cmap="inferno", shading="flat"
    )
    names = list(layer_of_cell)
    starts = [k for k in range(nz) if k == 0 or names[k] != names[k - 1]]
    ends = [*starts[1:], nz]
    for start in starts[1:]:
        ax.axhline(start, color="white", linewidth=0.6, alpha=0.7)
    ax.set_yticks([(s + e) / 2 for s, e in zip(starts, ends, strict=True)])
    ax.set_yticklabels([names[s] for s in starts], fontsize=7)
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("layer (z-cells, not to scale)")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label="Temperature (K)", shrink=0.9)
    return save_figure(fig, path)


def plot_peak_map(
    x_values: Sequence[float],
    y_values: Sequence[float],
    peaks: np.ndarray,
    path: str | Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
) -> Path:
    """Save a two-key sweep as a PNG: the peak temperature (ny, nx) K over the grid of values
    (x varies along the columns), log axes for keys swept logarithmically, each cell labelled
    when there are at most 12 × 12."""
    fig, ax = plt.subplots(figsize=(6.6, 4.8), dpi=110)
    x, y = np.asarray(x_values, dtype=float), np.asarray(y_values, dtype=float)
    image = ax.pcolormesh(x, y, peaks, cmap="inferno", shading="nearest")
    for values, set_scale in ((x, ax.set_xscale), (y, ax.set_yscale)):
        if looks_logarithmic(values):
            set_scale("log")
    if peaks.shape[0] <= 12 and peaks.shape[1] <= 12:
        middle = 0.5 * (float(np.nanmin(peaks)) + float(np.nanmax(peaks)))
        for i, yv in enumerate(y):
            for j, xv in enumerate(x):
                if not np.isfinite(peaks[i, j]):
                    continue
                ax.text(
                    xv,
                    yv,
                    f"{peaks[i, j]:.1f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="black" if peaks[i, j] > middle else "white",
                )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label="peak temperature (K)", shrink=0.9)
    return save_figure(fig, path)
