"""Power budgets: the most block power under a temperature limit, by linear programming on
the exact linear response, verified by full solves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chiptherm import solve, stack_from_dict
from chiptherm.analysis.budget import power_budget
from chiptherm.analysis.compact import resistance_matrix, with_block_powers
from chiptherm.cli import app
from chiptherm.description.stack_io import save_stack
from chiptherm.errors import InputError
from tests.conftest import example

from .test_compact import K_SLAB, L_SLAB, SIDE, slab


def test_the_budget_of_a_slab_heats_it_evenly_up_to_the_limit():
    stack = stack_from_dict(slab(halves=True))
    plan = power_budget(resistance_matrix(stack), 350.0)
    # the top of a slab heated evenly through its volume is P L / (2 k A) above the base
    analytic = 2 * K_SLAB * SIDE**2 * (350.0 - 300.0) / L_SLAB
    assert plan.watts.sum() == pytest.approx(analytic, rel=1e-2)
    assert plan.watts[0] == pytest.approx(plan.watts[1], rel=1e-6)
    assert plan.peak_k == pytest.approx(350.0, abs=1e-9)
    assert all(z == 199 for z, _, _ in plan.limiting)  # the top cells


def test_the_budget_is_verified_by_a_solve_and_no_block_can_take_more():
    stack = example("two_die", 24, 24)
    matrix = resistance_matrix(stack)
    upper = {f"bank{i}": 3.0 for i in range(4)}
    plan = power_budget(matrix, 358.15, lower={"hotspot": 2.0}, upper=upper)
    pairs = {(b.source, b.block.name): w for b, w in zip(matrix.blocks, plan.watts, strict=True)}
    assert solve(with_block_powers(stack, pairs)).max_temperature == pytest.approx(358.15, abs=1e-6)
    assert plan.watts[matrix.labels.index("hotspot")] >= 2.0 - 1e-9
    for j, label in enumerate(matrix.labels):
        if plan.watts[j] < plan.bounds[j, 1] - 1e-6:  # not at its upper bound: more overheats
            more = plan.watts.copy()
            more[j] += 0.01
            assert matrix.peaks(more) > 358.15, label
    assert plan.uniform_scale == pytest.approx((358.15 - 300.0) / (matrix.peaks() - 300.0))


def test_budgets_that_cannot_be_met_say_why():
    matrix = resistance_matrix(stack_from_dict(slab(halves=True)))
    with pytest.raises(InputError, match="with every block off a heated cell is already at"):
        power_budget(matrix, 299.0)
    with pytest.raises(InputError, match="lower power bounds alone heat a cell to"):
        power_budget(matrix, 301.0, lower={"west": 100.0})
    with pytest.raises(InputError, match="unknown block 'north'"):
        power_budget(matrix, 350.0, upper={"north": 1.0})
    with pytest.raises(InputError, match="'east': the lower power bound exceeds"):
        power_budget(matrix, 350.0, lower={"east": 2.0}, upper={"east": 1.0})


def test_budget_command_reports_and_verifies(tmp_path: Path):
    path = tmp_path / "slab.yaml"
    save_stack(stack_from_dict(slab(halves=True)), path)
    out = tmp_path / "out"
    args = ["budget", str(path), "--max-temperature", "320", "--max", "west=0.1", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "verified by the solver: hottest cell 320.0000 K" in res.output
    doc = json.loads((out / "budget.json").read_text())
    west, east = doc["blocks"]
    assert west["max_k"] <= 320.0 + 1e-6 and east["limit_k"] == 320.0
    assert west["budget_w"] == pytest.approx(0.1) and west["max_w"] == 0.1  # capped
    assert east["max_w"] is None and east["budget_w"] > 0.16  # more than an even share
    assert (out / "budget.png").stat().st_size > 5000
    bad = CliRunner().invoke(app, [*args[:4], "--max", "west", "--no-files"])
    assert bad.exit_code == 1 and "--max 'west': expected NAME=VALUE" in bad.output


def test_a_block_limit_holds_the_cells_of_that_block_only():
    stack = example("two_die", 24, 24)
    matrix = resistance_matrix(stack)
    upper = {label: 40.0 for label in matrix.labels}
    plain = power_budget(matrix, 358.15, upper=upper)
    banks = {f"bank{i}": 340.0 for i in range(4)}  # the memory die's blocks run cooler
    held = power_budget(matrix, 358.15, upper=upper, block_limits=banks)
    for i, label in enumerate(matrix.labels):
        cap = banks.get(label, 358.15)
        assert held.block_peak_k[i] <= cap + 1e-6
    banks_at = [held.block_peak_k[matrix.labels.index(b)] for b in banks]
    assert max(banks_at) == pytest.approx(340.0, abs=1e-6)  # some bank cell is at its limit
    assert held.watts.sum() < plain.watts.sum()  # a tighter limit admits less power
    pairs = {(b.source, b.block.name): w for b, w in zip(matrix.blocks, held.watts, strict=True)}
    verified = solve(with_block_powers(stack, pairs))
    assert verified.max_temperature <= 358.15 + 1e-6
    with pytest.raises(InputError, match="unknown block 'bank9'"):
        power_budget(matrix, 358.15, block_limits={"bank9": 300.0})


def test_budget_command_takes_block_limits(tmp_path: Path):
    path = tmp_path / "slab.yaml"
    save_stack(stack_from_dict(slab(halves=True)), path)
    args = ["budget", str(path), "--max-temperature", "320", "--limit", "west=310", "--json"]
    res = CliRunner().invoke(app, [*args, "--no-files"])
    assert res.exit_code == 0, res.output
    west, east = json.loads(res.stdout)["blocks"]
    assert west["limit_k"] == 310.0 and west["max_k"] <= 310.0 + 1e-6
    assert east["max_k"] == pytest.approx(320.0, abs=1e-6)
    bad = CliRunner().invoke(app, [*args[:4], "--limit", "west", "--no-files"])
    assert bad.exit_code == 1 and "--limit 'west': expected NAME=VALUE" in bad.output
