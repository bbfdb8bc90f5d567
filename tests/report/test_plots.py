"""Report figures: cropped to what they draw, integer counts, no curve hidden under another."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest

from chiptherm.report import plots
from chiptherm.report.maps import plot_heat_map
from chiptherm.report.plots import merge_coincident, plot_history, plot_transient


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions would save, kept open for inspection."""
    kept = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: kept.append(fig) or path)
    return kept


def empty_margins(path) -> list[int]:
    """The white rows or columns outside the drawing, in pixels: left, right, top, bottom."""
    image = matplotlib.image.imread(path)[..., :3]
    ink = np.any(image < 0.98, axis=2)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return [cols[0], ink.shape[1] - 1 - cols[-1], rows[0], ink.shape[0] - 1 - rows[-1]]


@pytest.mark.parametrize("size", [(1e-3, 1e-3), (4e-3, 1e-3), (1e-3, 3e-3)])
def test_a_heat_map_leaves_no_wide_empty_margin(tmp_path, size):
    field = np.random.default_rng(0).uniform(300, 320, (20, 30))
    path = plot_heat_map(field, size, tmp_path / "map.png", title="t")
    assert max(empty_margins(path)) <= 12  # pixels at 110 dpi: the 0.08 inch pad alone


def test_history_ticks_are_whole_generations(figures, tmp_path):
    plot_history(np.linspace(315, 312, 20), tmp_path / "h.png", title="t", ylabel="K")
    ticks = figures[0].axes[0].get_xticks()
    assert np.allclose(ticks, np.round(ticks)) and len(ticks) >= 3


def test_curves_on_one_another_share_one_line_and_one_legend_entry(figures, tmp_path):
    times = np.linspace(0, 1, 11)
    rise = 300 + 60 * (1 - np.exp(-5 * times))
    curves = {"peak": rise + 5, "core0": rise, "core1": rise + 1e-6, "cache": 300 + 0.5 * rise}
    steady = {name: float(c[-1]) for name, c in curves.items()}
    plot_transient(times, curves, steady, np.full(11, 20.0), tmp_path / "s.png", title="t")
    top = figures[0].axes[0]
    labels = [t.get_text() for t in top.get_legend().get_texts()]
    assert labels == ["peak", "core0 ≈ core1", "cache"]
    assert len(top.get_lines()) == 3 + 3  # each drawn curve and its dashed steady value


def test_merge_coincident_keeps_curves_that_differ_apart():
    a = np.array([300.0, 310.0, 320.0])
    groups = merge_coincident({"a": a, "b": a + 0.5, "c": a.copy(), "d": a + 0.5})
    assert list(groups) == [("a", "c"), ("b", "d")]
    assert merge_coincident({"a": a, "b": a + 0.2}).keys() == {("a",), ("b",)}
