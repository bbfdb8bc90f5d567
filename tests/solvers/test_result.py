"""Result statistics and probes."""

from __future__ import annotations

import numpy as np
import pytest

from chiptherm import solve
from tests.conftest import EXAMPLES, example


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


def test_probes_outside_the_stack_are_refused_not_clamped(tmp_path):
    from typer.testing import CliRunner

    from chiptherm.cli import app
    from chiptherm.errors import InputError

    result = solve(example("single_die", 24, 20))
    lx, ly = result.stack.size
    layer = result.stack.layers[0].name
    assert np.isfinite(result.probe(lx, ly, layer))  # the corner itself is inside
    with pytest.raises(InputError, match="lies outside the stack"):
        result.probe(1.5 * lx, 0.5 * ly, layer)
    with pytest.raises(InputError, match="lies outside the stack"):
        result.probe(0.5 * lx, 0.5 * ly, layer, z=-1e-3)
    out = CliRunner().invoke(
        app,
        ["solve", str(EXAMPLES / "single_die.yaml"), "--probe", f"{2 * lx},0,{layer}"],
    )
    assert out.exit_code == 1 and "lies outside the die" in out.output
