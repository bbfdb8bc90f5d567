"""Comparing two designs: identity, a better heat sink, a layer only one design has."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from chiptherm import solve, stack_from_dict
from chiptherm.analysis.compare import compare_results, compare_stacks
from chiptherm.cli import app
from chiptherm.description.stack_io import save_stack
from tests.conftest import example


def test_a_design_against_itself_changes_nothing() -> None:
    stack = example("two_die", 12, 12)
    result = solve(stack)
    same = compare_results(result, result)
    assert same.peak.delta_k == 0.0 and not same.only_a and not same.only_b
    assert all(c.delta_k == 0.0 for c in same.layers + same.blocks)
    assert set(same.maps) == {"die1_active", "die2_active"}
    assert all(np.all(delta == 0.0) for _, delta in same.maps.values())


def test_a_better_sink_cools_every_layer_and_block() -> None:
    """Doubling the top coefficient lowers every layer's hottest cell and every block's mean,
    by what the two solves say; the difference maps are negative everywhere."""
    a = example("two_die", 12, 12)
    top = a.boundary("top").model_copy(update={"htc": 2 * a.boundary("top").htc})
    b = a.model_copy(update={"boundaries": dict(a.boundaries) | {"top": top}})
    found = compare_stacks(a, b)
    assert found.peak.delta_k == pytest.approx(solve(b).max_temperature - solve(a).max_temperature)
    assert all(c.delta_k < 0 for c in found.layers + found.blocks)
    assert all(np.all(delta < 0) for _, delta in found.maps.values())


def test_layers_only_one_design_has_are_listed(tmp_path: Path) -> None:
    a = example("single_die", 10, 10)
    data = a.model_dump(mode="json")
    data["layers"].insert(0, {"name": "lid", "thickness": 1e-3, "material": "copper"})
    b = stack_from_dict(data)
    found = compare_stacks(a, b)
    assert found.only_b == ["lid"] and found.only_a == []
    assert {c.name for c in found.layers} == {layer.name for layer in a.layers}
    path_a = save_stack(a, tmp_path / "a.yaml")
    path_b = save_stack(b, tmp_path / "b.yaml")
    out = tmp_path / "cmp"
    result = CliRunner().invoke(app, ["compare", str(path_a), str(path_b), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "only in B: lid" in result.output
    doc = json.loads((out / "compare.json").read_text())
    assert doc["peak"]["delta_k"] == pytest.approx(found.peak.delta_k)
    assert (out / "difference_die_active.png").exists()
