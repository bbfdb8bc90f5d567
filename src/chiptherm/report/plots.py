"""Heat maps of temperature fields with block outlines (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator
from mpl_toolkits.axes_grid1 import make_axes_locatable

from chiptherm.atomic import atomic_path
from chiptherm.description.stack import Block


def looks_logarithmic(values: Sequence[float]) -> bool:
    """Whether positive sweep values are spaced more evenly in log than linearly (or span a
    factor of 20 or more): such a key reads best on a log axis."""
    v = np.sort(np.asarray(values, dtype=float))
    if v.size < 2 or v[0] <= 0:
        return False
    if v[-1] / v[0] >= 20:
        return True
    if v.size < 3:
        return False

    def unevenness(steps: np.ndarray) -> float:
        return float(np.std(steps) / max(np.mean(steps), 1e-300))

    return unevenness(np.diff(np.log(v))) < unevenness(np.diff(v))


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Lay out ``fig``, write it atomically as a PNG cropped to what is drawn, and close it."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight", pad_inches=0.08)
    plt.close(fig)
    return Path(path)


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


def plot_history(
    values: Sequence[float],
    path: str | Path,
    *,
    title: str,
    ylabel: str,
    xlabel: str = "step",
    extra: dict[str, Sequence[float]] | None = None,
) -> Path:
    """Save a line plot of one or more histories as a PNG."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    ax.plot(np.arange(len(values)), values, label=ylabel)
    for name, series in (extra or {}).items():
        ax.plot(np.arange(len(series)), series, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps and generations are counts
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if extra:
        ax.legend()
    return save_figure(fig, path)


def plot_sweep(
    values: Sequence[float],
    curves: dict[str, tuple[Sequence[float], Sequence[float]]],
    path: str | Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str = "peak temperature (K)",
    markers: dict[str, Sequence[float]] | None = None,
    log_x: bool = True,
) -> Path:
    """Save curves ((x, y) lines) and points measured at ``values`` (markers) over a
    logarithmic (or linear) x axis as a PNG."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=110)
    for name, (x, y) in curves.items():
        ax.plot(x, y, label=name)
    for name, series in (markers or {}).items():
        ax.plot(values, series, "o", fillstyle="none", label=name)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return save_figure(fig, path)


def plot_histogram(
    values: Sequence[float],
    path: str | Path,
    *,
    title: str,
    xlabel: str,
    bins: int = 40,
    mark: tuple[float, str] | None = None,
    ylabel: str = "maps",
) -> Path:
    """Save a histogram of ``values`` as a PNG, with a marked value (default: the largest,
    labelled 'hottest'); ``ylabel`` names what is counted."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    data = np.asarray(values, dtype=float)
    ax.hist(data, bins=min(bins, max(len(data), 1)), color="#c2410c", alpha=0.85)
    at, label = mark if mark is not None else (float(data.max()), "hottest")
    ax.axvline(at, color="black", linestyle="--", linewidth=1, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


def plot_parity(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    path: str | Path,
    *,
    title: str,
    xlabel: str = "reference peak temperature (K)",
    ylabel: str = "predicted peak temperature (K)",
) -> Path:
    """Save a parity plot: for each named series, (reference, predicted) points against the
    line y = x, as a PNG."""
    fig, ax = plt.subplots(figsize=(4.8, 4.6), dpi=110)
    lo, hi = np.inf, -np.inf
    for name, (ref, pred) in series.items():
        ax.plot(ref, pred, "o", fillstyle="none", label=name)
        lo = min(lo, float(np.min(ref)), float(np.min(pred)))
        hi = max(hi, float(np.max(ref)), float(np.max(pred)))
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="black", linewidth=0.8, label="y = x")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


def plot_training(records: Sequence[dict], path: str | Path, *, title: str) -> Path:
    """Save the loss terms of a training history (log scale) and, where it was validated, the
    mean and peak errors in K against the solver (right panel) as a PNG.

    ``records`` are dicts with ``step`` and either the loss terms or ``validation`` metrics
    (``mae_k``, ``peak_error_k``), as the trainer keeps them.
    """
    losses = [r for r in records if "loss" in r]
    checks = [r for r in records if "validation" in r]
    panels = 2 if checks else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 3.6), dpi=110, squeeze=False)
    ax = axes[0, 0]
    names = [k for k in (losses[0] if losses else {}) if k not in ("step", "time_s")]
    for name in names:
        ax.plot([r["step"] for r in losses], [max(r[name], 1e-16) for r in losses], label=name)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nondimensional)")
    ax.grid(alpha=0.3, which="both")
    if names:
        ax.legend(fontsize=8)
    if checks:
        right = axes[0, 1]
        steps = [r["step"] for r in checks]
        for key, label in (("mae_k", "mean abs error"), ("peak_error_k", "peak error")):
            right.plot(steps, [r["validation"][key] for r in checks], "o-", label=label)
        right.set_yscale("log")
        right.set_xlabel("step")
        right.set_ylabel("error against the solver (K)")
        right.grid(alpha=0.3, which="both")
        right.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def plot_convergence(
    sizes_m: Sequence[float],
    series: dict[str, tuple[Sequence[float], float | None, float]],
    path: str | Path,
    *,
    title: str,
) -> Path:
    """Save a grid convergence plot: for each quantity (name -> (values on each grid in K,
    the extrapolated value or None, the band in K)), its values against the cell size in µm,
    the extrapolated value at size 0 and the band around the finest value; one panel each."""
    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.6), dpi=110)
    h = 1e6 * np.asarray(sizes_m, dtype=float)
    panels = zip(np.atleast_1d(axes), series.items(), strict=True)
    for ax, (name, (values, extrapolated, band)) in panels:
        ax.plot(h, values, "o-", color="#c2410c", label="solver")
        ax.errorbar(h[-1:], values[-1:], yerr=[band], color="black", capsize=4, label="± GCI band")
        if extrapolated is not None:
            ax.plot([0.0], [extrapolated], "*", color="#1d4ed8", ms=11, label="extrapolated")
            ax.plot([0.0, h[-1]], [extrapolated, values[-1]], ":", color="#1d4ed8")
        ax.set_xlim(left=0.0)
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.set_xlabel("cell size (µm)")
        ax.set_ylabel(f"{name} (K)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
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


def plot_tornado(
    labels: Sequence[str],
    changes: Sequence[float],
    path: str | Path,
    *,
    title: str,
    xlabel: str,
    colors: Sequence[str] | None = None,
    downs: Sequence[float] | None = None,
) -> Path:
    """Save a tornado chart as a PNG: one row per label, the largest on top, a solid bar to
    the change for an increase of the parameter (``changes``, K) and a pale one to the change
    for a decrease (``downs``; the opposite of ``changes`` when None, as a linear estimate
    has it), so that the parameters that matter most, and their direction, stand out;
    ``colors`` (one per row) group them by kind."""
    n = len(labels)
    fig, ax = plt.subplots(figsize=(7.0, 1.4 + 0.32 * max(n, 1)), dpi=110)
    rows = np.arange(n)[::-1]
    up = np.asarray(changes, dtype=float)
    down = -up if downs is None else np.asarray(downs, dtype=float)
    fill = list(colors) if colors is not None else ["#c2410c"] * n
    ax.barh(rows, up, color=fill, alpha=0.9, label="parameter +10 %")
    ax.barh(rows, down, color=fill, alpha=0.3, label="parameter −10 %")
    limit = float(max(np.abs(up).max(), np.abs(down).max())) if n else 1.0
    for row, change, other in zip(rows, up, down, strict=True):
        for value, solid in ((change, True), (other, False)):
            if solid or downs is not None:
                ax.text(
                    value,
                    row,
                    f" {value:+.3g} K ".replace("-", "−"),
                    va="center",
                    ha="left" if value >= 0 else "right",
                    fontsize=8,
                    alpha=1.0 if solid else 0.7,
                )
    ax.set_yticks(rows, labels, fontsize=8)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_xlim(-1.45 * limit, 1.45 * limit)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="x")
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)


def merge_coincident(
    curves: dict[str, np.ndarray], rel: float = 5e-3
) -> dict[tuple[str, ...], np.ndarray]:
    """Group curves that lie on one another: each group's names with its first curve.

    Two curves coincide when they differ nowhere by more than ``rel`` times the span of all
    curves (at least 1e-9 K), about a line's width on a plot: drawn apart, the later would
    hide the earlier under its colour.
    ``curves`` name -> (s,) K; the groups keep the order of their first member."""
    values = list(curves.values())
    low = min(float(np.min(v)) for v in values) if values else 0.0
    high = max(float(np.max(v)) for v in values) if values else 0.0
    tolerance = max(rel * (high - low), 1e-9)
    groups: dict[tuple[str, ...], np.ndarray] = {}
    for name, series in curves.items():
        for names, first in list(groups.items()):
            if first.shape == series.shape and float(np.max(np.abs(first - series))) <= tolerance:
                groups[(*names, name)] = groups.pop(names)
                break
        else:
            groups[(name,)] = series
    return {
        names: groups[names] for names in sorted(groups, key=lambda n: list(curves).index(n[0]))
    }


def plot_transient(
    times: np.ndarray,
    curves: dict[str, np.ndarray],
    steady: dict[str, float],
    power: np.ndarray,
    path: str | Path,
    *,
    title: str,
    log_time: bool = False,
    limit_k: float | None = None,
) -> Path:
    """Save temperatures against time (top; each curve's steady value at the last power
    dashed, in its colour) above the total power (bottom) as a PNG.

    ``times`` (s+1,) s; ``curves`` name -> (s+1,) K; ``steady`` name -> K; ``power`` (s+1,) W,
    the power during the step that ends at each time. ``log_time`` draws the time on a log
    axis from the first step on (a step response spans decades); ``limit_k`` draws a
    temperature limit, K. Curves that lie on one another are drawn once, their names joined
    by '≈' in the legend."""
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(7.0, 5.0), dpi=110, sharex=True, height_ratios=(3, 1)
    )
    shown = slice(1, None) if log_time else slice(None)
    for names, series in merge_coincident(curves).items():
        (line,) = top.plot(times[shown], series[shown], label=" ≈ ".join(names))
        if np.isfinite(steady.get(names[0], np.nan)):
            top.axhline(steady[names[0]], color=line.get_color(), linestyle="--", linewidth=0.8)
    if limit_k is not None:
        top.axhline(limit_k, color="red", linestyle=":", linewidth=1.2, label="limit")
    top.set_ylabel("temperature (K)")
    top.set_title(title, fontsize=10)
    top.grid(alpha=0.3)
    top.legend(fontsize=8, ncol=2, loc="best")
    bottom.step(times[shown], power[shown], where="pre", color="0.3")
    if log_time:
        bottom.set_xscale("log")
    bottom.set_ylabel("power (W)")
    bottom.set_xlabel("time (s)")
    bottom.grid(alpha=0.3)
    return save_figure(fig, path)
