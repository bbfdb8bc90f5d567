"""Charts: curves, histograms, bars and parity plots of what chiptherm computes, and the one way
every figure is saved (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from chiptherm.atomic import atomic_path


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
