"""Result statistics and probes."""

from __future__ import annotations

import numpy as np
from conftest import example

from chiptherm import solve


def test_probe_hits_cell_centres_and_interpolates_between() -> None:
    result = solve(example("single_die", 24, 20))
    g = result.grid
    layer = "die_active"
    cell = g.cells_of_layer(result.stack.layer_index(layer))[0]
    assert np.isclose(result.probe(g.x[5], g.y[7], layer), result.temperature[cell, 7, 5])
    mid = result.probe(0.5 * (g.x[5] + g.x[6]), g.y[7], layer)
    assert np.isclose(mid, 0.5 * (result.temperature[cell, 7, 5] + result.temperature[cell, 7, 6]))


def test_layer_and_block_stats_are_consistent() -> None:
    result = solve(example("single_die", 24, 20))
    for name, stats in result.layer_stats.items():
        field = result.layer_field(name)
        assert stats.max == field.max() and stats.min == field.min()
        assert stats.min <= stats.mean <= stats.max
    blocks = {b.block: b for b in result.block_stats}
    # the hottest core (21 W) is hotter than the L2 (6 W over a larger area)
    assert blocks["core3"].stats.mean > blocks["l2"].stats.mean
    assert result.max_temperature >= max(b.stats.max for b in blocks.values())
