"""Effective media for layers with material regions."""

from __future__ import annotations

import numpy as np
import pytest

from chiptherm import Stack
from chiptherm.discretize.grid import Grid
from chiptherm.discretize.homogenize import area_fractions, homogenized
from chiptherm.discretize.system import conductivity_field


def bonded(regions: list[dict]) -> Stack:
    """Silicon over an oxide bond layer holding copper regions, on a 4 x 4 grid of a 1 mm die."""
    return Stack.model_validate(
        {
            "size": [1e-3, 1e-3],
            "layers": [
                {"name": "die", "thickness": 1e-4, "material": "silicon"},
                {"name": "bond", "thickness": 2e-5, "material": "sio2", "regions": regions},
            ],
            "boundaries": {"top": {"htc": 1e4}},
            "grid": {"nx": 4, "ny": 4},
        }
    )


def test_columns_add_through_the_layer_and_follow_maxwell_garnett_across_it():
    stack = bonded([{"material": "copper", "x": 0, "y": 0, "width": 5e-4, "height": 5e-4}])
    flat = homogenized(stack)
    bond = flat.layers[1]
    assert bond.regions == [] and bond.material == "bond effective"
    kx, ky, kz = flat.material("bond effective").conductivity
    k_cu = stack.material("copper").conductivity[0]
    k_ox = stack.material("sio2").conductivity[0]
    f = 0.25  # four of the sixteen cells
    assert kz == pytest.approx(f * k_cu + (1 - f) * k_ox)
    beta = f * (k_cu - k_ox) / (k_cu + k_ox)
    assert kx == ky == pytest.approx(k_ox * (1 + beta) / (1 - beta))
    assert k_ox < kx < kz < k_cu  # inclusions barely help across the layer, columns do through it
    assert flat.layers[0] == stack.layers[0]
    plain = bonded([])
    assert homogenized(plain) is plain


def test_fractions_are_painted_as_the_solver_paints_them():
    regions = [
        {"material": "copper", "x": 0, "y": 0, "width": 5e-4, "height": 7.5e-4},
        {"material": "tim", "x": 2.5e-4, "y": 2.5e-4, "width": 5e-4, "height": 5e-4},  # on top
    ]
    stack = bonded(regions)
    grid = Grid.from_stack(stack)
    shares = area_fractions(stack, stack.layers[1], grid)
    assert sum(shares.values()) == pytest.approx(1.0)
    _, _, kz = conductivity_field(stack, grid)
    bond_level = kz[0]  # index 0 = bottom = the bond layer
    for name, share in shares.items():
        painted = np.isclose(bond_level, stack.material(name).conductivity[2])
        assert painted.mean() == pytest.approx(share)


def test_homogenize_command_writes_the_effective_stack_and_compares(tmp_path):
    import json

    from typer.testing import CliRunner

    from chiptherm import load_stack, solve
    from chiptherm.cli import app
    from tests.conftest import EXAMPLES

    runner = CliRunner()
    out = tmp_path / "eff.yaml"
    result = runner.invoke(
        app, ["homogenize", str(EXAMPLES / "tsv_array.yaml"), "--to", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    effective = load_stack(out)
    assert not any(layer.regions for layer in effective.layers)
    assert list(doc["layers"]) == ["bond"]
    # the stack file holds 15 significant digits, the JSON all 17
    k = list(effective.material("bond effective").conductivity)
    assert doc["layers"]["bond"] == pytest.approx(k, rel=1e-14)
    true_peak = solve(load_stack(EXAMPLES / "tsv_array.yaml")).max_temperature
    assert doc["true_k"]["peak"] == pytest.approx(true_peak)
    assert doc["effective_k"]["peak"] == pytest.approx(solve(effective).max_temperature)
    assert doc["max_abs_difference_k"] >= abs(doc["effective_k"]["peak"] - true_peak)

    none = runner.invoke(
        app, ["homogenize", str(EXAMPLES / "two_die.yaml"), "--to", str(tmp_path / "x.yaml")]
    )
    assert none.exit_code == 1 and "no layer holds material regions" in none.output
    assert not (tmp_path / "x.yaml").exists()
