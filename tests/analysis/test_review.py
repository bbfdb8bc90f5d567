"""The design review: the headroom is exact, the pieces agree with the tools they come from,
and the command writes one page with all of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chiptherm import solve, stack_from_dict
from chiptherm.analysis.compact import resistance_matrix
from chiptherm.analysis.convergence import convergence_study
from chiptherm.analysis.review import design_review, nonlinear_headroom, power_headroom
from chiptherm.cli import app
from chiptherm.description.stack_io import save_stack
from chiptherm.errors import InputError
from chiptherm.solvers.nonlinear import scaled_power
from tests.conftest import example

from .test_sensitivity import leaky_plate


def test_headroom_scales_the_power_to_the_limit_exactly() -> None:
    """Solving with all power times the headroom puts the hottest cell on the limit; the
    review's other parts are those of the tools it calls."""
    stack = example("two_die", 20, 20)
    limit = 350.0
    found = design_review(stack, limit_k=limit, tolerances=[("power", 0.05)])
    assert 0.3 < found.headroom.scale < 1.0  # this stack is above 350 K already
    assert found.headroom.binding == "every cell"
    at_limit = solve(scaled_power(stack, found.headroom.scale))
    assert at_limit.max_temperature == pytest.approx(limit, abs=1e-6)
    assert found.result.max_temperature == pytest.approx(solve(stack).max_temperature, abs=1e-9)
    study = convergence_study(stack, finer=False)
    assert found.peak_band_k == pytest.approx(study.estimates["peak"].band)
    assert found.uncertainty is not None and found.uncertainty.sigma_k > 0
    assert found.runaway is None and found.sampled is None
    doc = found.summary()
    assert doc["drivers"][0]["key"] == found.drivers.entries[0].parameter.key
    assert json.loads(json.dumps(doc))["headroom"] == pytest.approx(found.headroom.scale)


def test_headroom_with_two_ambients_takes_the_background_into_account() -> None:
    """With faces at different ambients the field without power is not uniform: the headroom
    is found cell by cell from it, and still lands the peak on the limit."""
    stack = example("stacked_dies", 16, 16)
    result = solve(stack)
    limit = result.max_temperature + 5.0
    factor = power_headroom(stack, result, limit).scale
    assert factor > 1.0
    assert solve(scaled_power(stack, factor)).max_temperature == pytest.approx(limit, abs=1e-6)


def test_a_blocks_own_limit_binds_on_the_cells_it_heats() -> None:
    """A memory bank limited below the global limit: the headroom stops when the hottest cell
    the bank heats reaches its own limit (the resistance matrix's block peak), while the
    stack's peak stays below the global limit."""
    stack = example("two_die", 16, 16)
    result = solve(stack)
    matrix = resistance_matrix(stack)
    bank = float(matrix.block_peaks()[matrix.labels.index("bank1")])
    found = power_headroom(stack, result, 400.0, {"bank1": bank + 2.0})
    assert found.binding == "bank1"
    scaled = resistance_matrix(scaled_power(stack, found.scale))
    assert float(scaled.block_peaks()[matrix.labels.index("bank1")]) == pytest.approx(
        bank + 2.0, abs=1e-6
    )
    assert float(scaled.peaks()) < 400.0
    with pytest.raises(InputError, match="no power block 'bank9'"):
        power_headroom(stack, result, None, {"bank9": 350.0})


def test_a_coolant_is_linear_in_the_power_so_the_headroom_is_exact() -> None:
    """Water warming along a cavity warms in proportion to the heat: the headroom still puts
    the peak on the limit."""
    from tests.description.test_cavity import sandwich

    stack = stack_from_dict(sandwich(lateral_k=50.0))
    result = solve(stack)
    limit = result.max_temperature + 7.0
    factor = power_headroom(stack, result, limit).scale
    assert solve(scaled_power(stack, factor)).max_temperature == pytest.approx(limit, abs=1e-6)


def test_a_leaky_stack_gets_its_runaway_margin_and_a_bisected_headroom() -> None:
    """With leakage the field is not linear in the power: the headroom is bisected over
    solves, and solving at it puts the peak on the limit; a limit beyond the fold is reached
    first by thermal runaway."""
    stack = stack_from_dict(leaky_plate())
    found = design_review(stack, limit_k=340.0)
    assert found.runaway is not None and found.runaway.stable_scale > 1.0
    assert found.headroom is not None and found.headroom.binding == "every cell"
    at_limit = solve(scaled_power(stack, found.headroom.scale)).max_temperature
    assert at_limit == pytest.approx(340.0, abs=0.05) and at_limit <= 340.0
    result = solve(stack)
    beyond = nonlinear_headroom(stack, result, 2000.0)
    assert beyond.binding == "thermal runaway"
    assert beyond.scale == pytest.approx(found.runaway.stable_scale, rel=0.03)
    assert found.grid is None or found.peak_band_k >= 0  # one lateral cell: maybe no study


def test_review_command_writes_one_page(tmp_path: Path) -> None:
    path = save_stack(example("two_die", 16, 16), tmp_path / "two_die.yaml")
    out = tmp_path / "review"
    runner = CliRunner()
    args = ["review", str(path), "--max-temperature", "373.15", "--tolerance", "power=5%"]
    result = runner.invoke(app, [*args, "--limit", "bank0=320", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "headroom: bank0's cells at" in result.output
    assert "discretization" in result.output
    page = (out / "index.html").read_text()
    for name in (
        "cross_section.png",
        "convergence.png",
        "sensitivity.png",
        "moves_die1_active.png",
    ):
        assert name in page and (out / name).exists()
    doc = json.loads((out / "review.json").read_text())
    assert doc["headroom_binding"] == "bank0" and doc["uncertainty"]["sigma_k"] > 0
    spread = json.loads((out / "uncertainty.json").read_text())
    assert (
        spread["tolerances"] == {key: 0.05 for key in spread["tolerances"]} and spread["tolerances"]
    )
    bad = runner.invoke(app, ["review", str(path), "--samples", "3", "--no-files"])
    assert bad.exit_code == 1 and "--samples needs --tolerance" in bad.output
