"""Sensitivities: analytic slabs, the heat equation's scaling identities, adjoint against full
solves, leakage's implicit derivative, and the command line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from chiptherm import Stack, solve, stack_from_dict
from chiptherm.analysis.compact import resistance_matrix
from chiptherm.analysis.sensitivity import (
    Sensitivity,
    _shifted,
    sensitivity,
    solved_changes,
    stack_parameters,
)
from chiptherm.cli import app
from chiptherm.description.stack_io import save_stack
from chiptherm.discretize.system import System
from chiptherm.errors import InputError
from chiptherm.report.run_folder import MARKER
from tests.conftest import example

SIDE, T_AIR = 1e-3, 300.0
K_SLAB, L_SLAB, H_TOP, R_CONTACT, WATTS, CELLS = 3.0, 4e-4, 2e3, 2e-5, 0.05, 4


def heated_slab() -> dict:
    """Two slabs (the same material) with a contact resistance between them, heated through
    the bottom face, cooled on top: a 1-D field whose bottom cell sits at
    T_air + q·(1/h + R_c + (2L - dz/2)/k), q the flux, dz = L/CELLS."""
    block = {"name": "all", "x": 0.0, "y": 0.0, "width": SIDE, "height": SIDE, "watts": WATTS}
    layer = {"thickness": L_SLAB, "material": "slab", "cells": CELLS}
    return {
        "name": "slab",
        "size": [SIDE, SIDE],
        "ambient": T_AIR,
        "materials": {"slab": {"conductivity": K_SLAB}},
        "layers": [
            {"name": "upper", **layer, "contact_resistance": R_CONTACT},
            {"name": "lower", **layer},
        ],
        "power": {"p": {"blocks": [block]}},
        "boundaries": {"top": {"htc": H_TOP}, "bottom": {"power": "p"}},
        "grid": {"nx": 3, "ny": 2},
    }


def slab_expectations() -> dict[str, float]:
    """dT/d ln p of the bottom cell, K, for every parameter of the heated slab."""
    q = WATTS / SIDE**2
    conduction = q * (L_SLAB - L_SLAB / CELLS / 2) / K_SLAB  # through 'lower' to its top
    upper = q * L_SLAB / K_SLAB
    return {
        "materials.slab.conductivity": -(conduction + upper),
        "layers.upper.thickness": upper,
        "layers.lower.thickness": conduction,
        "layers.upper.contact_resistance": q * R_CONTACT,
        "boundaries.top.htc": -q / H_TOP,
        "power.p.blocks.all.watts": q * (1 / H_TOP + R_CONTACT) + conduction + upper,
    }


@pytest.mark.parametrize("method", ["adjoint", "solves"])
def test_heated_slab_matches_its_analytic_derivatives(method: str) -> None:
    study = sensitivity(stack_from_dict(heated_slab()), "peak", method=method)
    expected = slab_expectations()
    assert {e.parameter.key for e in study.entries} == set(expected)
    tolerance = 1e-7 if method == "adjoint" else 2e-4  # central differences of 1/k: O(ε²)
    for key, value in expected.items():
        assert study.of(key).per_log == pytest.approx(value, rel=tolerance), key
    # the derivative in the parameter's own unit, and the table's +10 % estimate
    power = study.of("power.p.blocks.all.watts")
    assert power.derivative == pytest.approx(expected["power.p.blocks.all.watts"] / WATTS)
    assert power.unit == "K/W" and study.of("boundaries.top.htc").unit == "K/(W/(m²·K))"
    assert power.per_change == pytest.approx(0.1 * power.per_log)
    # largest first
    magnitudes = [abs(e.per_log) for e in study.entries]
    assert magnitudes == sorted(magnitudes, reverse=True)


def test_solved_changes_follow_the_exact_response_of_the_slab() -> None:
    """The slab's bottom cell is linear in the power and the thickness but goes as 1/h and
    1/k: solved ±10 % changes follow those laws, where the linear estimate is symmetric."""
    study = sensitivity(stack_from_dict(heated_slab()), "peak")
    changes = {c.key: c for c in solved_changes(study, count=len(study.entries))}
    assert set(changes) == set(slab_expectations())
    for key, per_log in slab_expectations().items():
        inverse = key in ("boundaries.top.htc", "materials.slab.conductivity")
        for factor, solved in ((0.9, changes[key].down_k), (1.1, changes[key].up_k)):
            expected = -per_log * (1 / factor - 1) if inverse else per_log * (factor - 1)
            assert solved == pytest.approx(expected, rel=1e-8, abs=1e-10), (key, factor)


def scaling_sums(study: Sensitivity) -> tuple[float, float]:
    """(Σ power sensitivities, Σ conductivity + film - contact sensitivities), K."""
    conductances = study.total("conductivity") + study.total("htc") - study.total("contact")
    return study.total("power"), conductances


@pytest.mark.parametrize("objective", ["peak", "mean", "max:bottom_die", "block:core"])
def test_sensitivities_obey_the_scaling_identities_on_a_tsv_stack(objective: str) -> None:
    """With one ambient, the rise is linear in the power and inversely proportional to every
    conductance: the power sensitivities sum to the rise, the conductance ones to minus it."""
    stack = example("tsv_array", 24, 24)
    if objective == "block:core":
        objective = "block:" + stack.power[stack.used_power[0]].blocks[0].name
    study = sensitivity(stack, objective, moves=False)
    assert study.method == "adjoint" and study.solves == 2
    rise = study.value_k - stack.ambient
    assert rise > 1.0
    power, conductances = scaling_sums(study)
    assert power == pytest.approx(rise, rel=1e-6)
    assert conductances == pytest.approx(-rise, rel=1e-6)


def test_adjoint_agrees_with_full_solves_on_a_two_die_stack() -> None:
    stack = example("two_die", 16, 16)
    for objective in ("peak", "mean:die2_active", "block:hotspot"):
        adjoint = sensitivity(stack, objective, method="adjoint", moves=False)
        solves = sensitivity(stack, objective, method="solves", moves=False)
        assert solves.solves == 1 + 2 * len(stack_parameters(stack))
        assert adjoint.value_k == pytest.approx(solves.value_k, abs=1e-9)
        scale = max(abs(e.per_log) for e in adjoint.entries)
        for entry in adjoint.entries:
            other = solves.of(entry.parameter.key).per_log
            assert entry.per_log == pytest.approx(other, abs=2e-4 * scale), entry.parameter.key


def test_influence_maps_give_every_block_derivative_and_peak_at_the_hot_cell() -> None:
    """The adjoint field is dJ/dq: summed over a block's footprint it gives the block's
    derivative (found independently from the assembled system), it is positive everywhere
    (a watt anywhere warms every cell), and for the peak it is largest at the hottest cell."""
    stack = example("two_die", 16, 16)
    study = sensitivity(stack, "peak")
    assert study.influence is not None and study.influence.min() > 0
    assert np.argmax(study.influence) == np.argmax(study.nominal.temperature)
    maps = study.influence_maps()
    assert set(maps) == {"die1_active", "die2_active"}
    grid = study.nominal.grid
    for source, influence in maps.values():
        for block in stack.power[source].blocks:
            per_watt = float((influence * grid.block_fraction(block)).sum())
            key = f"power.{source}.blocks.{block.name}.watts"
            assert per_watt == pytest.approx(study.of(key).derivative, rel=1e-6), key
    assert sensitivity(stack, "peak", method="solves").influence_maps() == {}


def test_block_moves_agree_with_full_solves_and_follow_the_moving_peak() -> None:
    """dJ/dx and dJ/dy of every block by the adjoint (assemblies only) agree with shifted
    full solves. For the peak they differentiate a smooth maximum, which follows the hot
    region as a block that makes it moves: the hot spot's derivative predicts how the hottest
    cell, wherever it goes, changes over a shift of two cells. Blocks beside the peak cool it
    by moving away."""
    coarse = example("two_die", 16, 16)
    adjoint = sensitivity(coarse, "peak")
    solves = sensitivity(coarse, "peak", method="solves")
    assert adjoint.solves == 3  # nominal, adjoint of the peak, adjoint of the smooth maximum
    scale = max(m.k_per_mm for m in adjoint.moves) * 1e3
    by_label = {m.label: m for m in solves.moves}
    for move in adjoint.moves:
        other = by_label[move.label]
        for a, b in ((move.dx, other.dx), (move.dy, other.dy)):
            assert a == pytest.approx(b, abs=1e-6 * scale), move.label

    for cells in (100, 40):  # 0.1 mm cells, and 0.25 mm (the smooth maximum widens)
        stack = example("two_die", cells, cells)
        adjoint = sensitivity(stack, "peak")
        scale = max(m.k_per_mm for m in adjoint.moves) * 1e3
        hotspot = next(m for m in adjoint.moves if m.label == "hotspot")
        index = [b.name for b in stack.power["die1"].blocks].index("hotspot")
        shift = 3 * 0.01 / cells  # three cells, m
        for axis, slope in (("x", hotspot.dx), ("y", hotspot.dy)):
            peaks = [
                solve(_shifted(stack, "die1", index, axis, sign * shift)).max_temperature
                for sign in (1, -1)
            ]
            solved = (peaks[0] - peaks[1]) / (2 * shift)
            assert slope == pytest.approx(solved, rel=0.35, abs=0.15 * scale), (cells, axis)
    grid = adjoint.nominal.grid
    _, j, i = np.unravel_index(int(np.argmax(adjoint.nominal.temperature)), grid.shape)
    peak_xy = np.array([grid.x[i], grid.y[j]])
    for move in adjoint.moves:
        b = move.block
        holds_peak = b.x <= peak_xy[0] <= b.x1 and b.y <= peak_xy[1] <= b.y1
        if move.source != "die1" or holds_peak or move.k_per_mm * 1e3 < 1e-2 * scale:
            continue
        away = np.array([b.x + b.width / 2, b.y + b.height / 2]) - peak_xy
        assert np.dot(move.downhill, away) > 0, move.label


def test_block_moves_are_zero_by_symmetry_and_one_sided_at_the_edges() -> None:
    """A centred block on a laterally symmetric slab has no preferred direction; a block
    against the west edge takes a one-sided difference (moving east brings it nearer the
    centred block, whose mean warms); a block spanning the chip in y has no dy."""
    data = heated_slab()
    data["grid"] = {"nx": 20, "ny": 20}
    data["boundaries"] = {"top": {"htc": H_TOP}}
    data["layers"][1]["power"] = "p"
    side = SIDE
    data["power"]["p"]["blocks"] = [
        {
            "name": "mid",
            "x": 0.4 * side,
            "y": 0.4 * side,
            "width": 0.2 * side,
            "height": 0.2 * side,
            "watts": WATTS,
        },
        {"name": "edge", "x": 0.0, "y": 0.0, "width": 0.1 * side, "height": side, "watts": WATTS},
    ]
    both = sensitivity(stack_from_dict(data), "block:mid")
    data["power"]["p"]["blocks"] = data["power"]["p"]["blocks"][:1]
    alone = sensitivity(stack_from_dict(data), "block:mid").moves[0]
    edge = next(m for m in both.moves if m.label == "edge")
    assert edge.dy is None and edge.dx is not None and edge.dx > 0  # mid is east of it
    assert abs(alone.dx) < 1e-6 * edge.dx and abs(alone.dy) < 1e-6 * edge.dx


def test_a_blocks_hottest_cell_is_the_resistance_matrix_block_peak() -> None:
    """'block-max:NAME' is the hottest cell the block heats: the resistance matrix's exact
    block peak; its power sensitivities still sum to its rise, and the adjoint agrees with
    solves."""
    stack = example("two_die", 16, 16)
    matrix = resistance_matrix(stack)
    adjoint = sensitivity(stack, "block-max:bank1", moves=False)
    assert adjoint.value_k == pytest.approx(
        float(matrix.block_peaks()[matrix.labels.index("bank1")]), abs=1e-7
    )
    assert adjoint.total("power") == pytest.approx(adjoint.value_k - stack.ambient, rel=1e-6)
    solves = sensitivity(stack, "block-max:bank1", method="solves", moves=False)
    scale = max(abs(e.per_log) for e in adjoint.entries)
    for entry in adjoint.entries:
        other = solves.of(entry.parameter.key).per_log
        assert entry.per_log == pytest.approx(other, abs=2e-4 * scale), entry.parameter.key


def test_thinner_bulk_silicon_under_a_hot_spot_runs_hotter() -> None:
    """Spreading: on two_die the bulk silicon of the lower die spreads the hot spot's heat,
    so a thicker one lowers the peak, while a thicker TIM (a resistance in series) raises it.
    The adjoint says so, and two full solves 10 % apart agree with the estimate."""
    stack = example("two_die", 20, 20)
    study = sensitivity(stack, "peak")
    bulk, tim = study.of("layers.die1_bulk.thickness"), study.of("layers.tim.thickness")
    assert bulk.per_log < -0.1 and tim.per_log > 0.1
    for entry in (bulk, tim):
        moved = [entry.parameter.scaled(stack, f) for f in (0.95, 1.05)]
        low, high = (objective_of(study, s) for s in moved)
        assert high - low == pytest.approx(entry.per_change, rel=0.02)


def objective_of(study: Sensitivity, stack: Stack) -> float:
    """The study's objective (its fixed hottest cell) evaluated by a full solve of ``stack``."""
    result = solve(stack)
    return float((study.objective.weights(stack, result.grid) * result.temperature).sum())


# -- nonlinear stacks ------------------------------------------------------------------------
H_PLATE, BETA, FRACTION, DYNAMIC = 1e4, 0.02, 0.3, 20.0


def leaky_plate() -> dict:
    """A thin copper plate cooled from below whose 20 W leak 30 % more at 300 K, the leakage
    growing as exp(0.02 (T - 300)): one cell, G·(T - T_air) = P·(1 + f·E), E = e^(β(T-300))."""
    side = 1e-2
    block = {"name": "all", "x": 0, "y": 0, "width": side, "height": side, "watts": DYNAMIC}
    return {
        "name": "plate",
        "size": [side, side],
        "ambient": T_AIR,
        "layers": [{"name": "die", "thickness": 1e-4, "material": "copper", "power": "p"}],
        "power": {"p": {"blocks": [block], "leakage": {"fraction": FRACTION, "coefficient": BETA}}},
        "boundaries": {"bottom": {"htc": H_PLATE}},
        "grid": {"nx": 1, "ny": 1},
    }


@pytest.mark.parametrize(("method", "tolerance"), [("adjoint", 1e-7), ("solves", 1e-3)])
def test_leakage_sensitivities_match_the_implicit_derivative(method: str, tolerance: float) -> None:
    """Differentiating G·(T - T_air) = P·(1 + f·E) gives dT/d ln x = (∂ right side / ∂ ln x)
    / (G - P·f·β·E) for the power, the fraction and the coefficient: exactly what the
    adjoint of the full equations computes, and what differences of solves approach."""
    stack = stack_from_dict(leaky_plate())
    study = sensitivity(stack, "peak", method=method)
    assert study.method == ("adjoint" if method == "adjoint" else "finite differences")
    t = study.value_k
    conductance = float(System.from_stack(stack).faces["bottom"].conductance.sum())
    e = math.exp(BETA * (t - 300.0))
    slope = conductance - DYNAMIC * FRACTION * BETA * e
    assert conductance * (t - T_AIR) == pytest.approx(DYNAMIC * (1 + FRACTION * e), rel=1e-8)
    expected = {
        "power.p.blocks.all.watts": DYNAMIC * (1 + FRACTION * e) / slope,
        "power.p.leakage.fraction": DYNAMIC * FRACTION * e / slope,
        "power.p.leakage.coefficient": DYNAMIC * FRACTION * e * BETA * (t - 300.0) / slope,
    }
    for key, value in expected.items():
        assert study.of(key).per_log == pytest.approx(value, rel=tolerance), key
    # leakage amplifies: the power's sensitivity exceeds the rise it causes
    assert study.total("power") > t - T_AIR


def test_an_unknown_method_is_named() -> None:
    with pytest.raises(InputError, match="method 'newton': expected auto, adjoint or solves"):
        sensitivity(stack_from_dict(heated_slab()), method="newton")


@pytest.mark.parametrize(
    ("objective", "message"),
    [
        ("hottest", "expected peak, mean"),
        ("max:nowhere", "no layer 'nowhere'; layers: upper, lower"),
        ("block:cpu", "no power block 'cpu'; blocks: all"),
        ("block-max:cpu", "no power block 'cpu'; blocks: all"),
        ("mean:", "expected peak, mean"),
    ],
)
def test_unknown_objectives_are_named(objective: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        sensitivity(stack_from_dict(heated_slab()), objective)


# -- command line ----------------------------------------------------------------------------
def test_cli_writes_table_files_and_json(tmp_path: Path) -> None:
    path = save_stack(stack_from_dict(heated_slab()), tmp_path / "slab.yaml")
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(app, ["sensitivity", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "layers.upper.contact_resistance" in result.output
    assert {p.name for p in out.iterdir() if p.name != MARKER} == {
        "sensitivity.json",
        "sensitivity.csv",
        "sensitivity.png",
        "influence.npz",
        "influence_bottom_face.png",
        "index.html",
    }
    page = (out / "index.html").read_text()
    assert "layers.upper.contact_resistance" in page and "influence_bottom_face.png" in page
    with np.load(out / "influence.npz") as influence:
        assert influence["bottom_face"].shape == (2, 3) and influence["bottom_face"].min() > 0
    summary = json.loads((out / "sensitivity.json").read_text())
    assert summary["rise_from_power_k"] == pytest.approx(summary["value_k"] - T_AIR, rel=1e-6)
    csv_rows = (out / "sensitivity.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + len(slab_expectations())

    result = runner.invoke(
        app,
        [
            "sensitivity",
            str(path),
            "--json",
            "--no-files",
            "--set",
            "boundaries.top.htc=4e3",
            "--solved",
            "--top",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    htc = next(p for p in doc["parameters"] if p["key"] == "boundaries.top.htc")
    assert htc["value"] == 4e3
    assert htc["k_per_log"] == pytest.approx(-WATTS / SIDE**2 / 4e3, rel=1e-6)
    solved = doc["solved_changes"]  # the two largest, each at -10 % and +10 %
    assert [c["key"] for c in solved] == [p["key"] for p in doc["parameters"][:2]]
    assert solved[0]["k_at_plus_10_percent"] > 0 > solved[0]["k_at_minus_10_percent"]


def test_cli_bad_objective_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    path = save_stack(stack_from_dict(heated_slab()), tmp_path / "slab.yaml")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["sensitivity", str(path), "--objective", "max:core", "--out", str(out)]
    )
    assert result.exit_code == 1
    assert "no layer 'core'" in result.output and "Traceback" not in result.output
    assert not out.exists()
