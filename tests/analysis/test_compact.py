"""The block-to-block thermal resistance matrix: analytic, reciprocal, and exact for any powers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from chiptherm import solve, stack_from_dict
from chiptherm.analysis.compact import block_inputs, resistance_matrix, with_block_powers
from chiptherm.analysis.power_tables import read_power_cases
from chiptherm.cli import app
from chiptherm.description.stack_io import save_stack
from chiptherm.discretize.system import power_field
from chiptherm.errors import InputError
from tests.conftest import example

K_SLAB, L_SLAB, SIDE = 2.0, 1e-3, 2e-3


def slab(halves: bool) -> dict:
    """A slab heated through its volume, bottom held at 300 K, all else adiabatic: by one block
    over the whole die, or by two blocks over its west and east halves."""
    if halves:
        blocks = [
            {"name": "west", "x": 0.0, "y": 0.0, "width": SIDE / 2, "height": SIDE, "watts": 1.0},
            {
                "name": "east",
                "x": SIDE / 2,
                "y": 0.0,
                "width": SIDE / 2,
                "height": SIDE,
                "watts": 3.0,
            },
        ]
    else:
        blocks = [{"name": "all", "x": 0.0, "y": 0.0, "width": SIDE, "height": SIDE, "watts": 1.0}]
    return {
        "name": "slab",
        "size": [SIDE, SIDE],
        "materials": {"m": {"conductivity": K_SLAB}},
        "layers": [
            {"name": "body", "thickness": L_SLAB, "material": "m", "cells": 200, "power": "p"}
        ],
        "power": {"p": {"blocks": blocks}},
        "boundaries": {"bottom": {"temperature": 300.0}},
        "grid": {"nx": 4, "ny": 2},
    }


def test_uniform_heating_of_a_slab_matches_the_analytic_resistance():
    # T(z) = T_b + P/(k A L) (L z - z²/2); its mean over the slab: T_b + P L / (3 k A)
    analytic = L_SLAB / (3 * K_SLAB * SIDE**2)
    one = resistance_matrix(stack_from_dict(slab(halves=False)))
    assert one.labels == ["all"]
    assert one.resistance[0, 0] == pytest.approx(analytic, rel=1e-4)
    assert one.background_k[0] == pytest.approx(300.0, abs=1e-9)
    # two halves at 1 W each heat the slab as 2 W spread evenly: R11 + R12 = 2 * analytic
    two = resistance_matrix(stack_from_dict(slab(halves=True)))
    assert two.resistance.sum(axis=1) == pytest.approx([2 * analytic] * 2, rel=1e-4)
    assert two.resistance[0, 0] > two.resistance[0, 1] > 0


@pytest.mark.parametrize("name", ["two_die", "tsv_array", "stacked_dies"])
def test_the_matrix_is_reciprocal_positive_and_reproduces_solves(name):
    stack = example(name, 24, 24)
    matrix = resistance_matrix(stack)
    assert matrix.summary()["asymmetry"] < 1e-9
    assert (matrix.resistance > 0).all()
    rng = np.random.default_rng(3)
    for watts in (matrix.nominal_w, rng.uniform(0.0, 5.0, len(matrix.blocks))):
        pairs = {(b.source, b.block.name): w for b, w in zip(matrix.blocks, watts, strict=True)}
        result = solve(with_block_powers(stack, pairs))
        means = [b.stats.mean for b in result.block_stats]
        assert matrix.temperatures(watts) == pytest.approx(means, abs=1e-7)
        # the hottest cell is a heated one: the peak follows exactly from the heated cells
        assert matrix.peaks(watts) == pytest.approx(result.max_temperature, abs=1e-7)
        # and so does the hottest cell each block heats
        grid = result.grid
        for j, b in enumerate(matrix.blocks):
            heats = power_field(with_block_powers(stack, {(b.source, b.block.name): 1.0}), grid)
            own = heats > power_field(with_block_powers(stack, {}), grid)
            hottest = result.temperature[own].max()
            assert matrix.block_peaks(watts)[j] == pytest.approx(hottest, abs=1e-7)


@pytest.mark.parametrize("name", ["cold_plate", "microchannel"])
def test_a_warming_coolant_keeps_the_matrix_exact_but_not_reciprocal(name):
    """A coolant warming along its flow (a cold plate, a cavity between two dies) keeps the
    temperatures affine in the power: the matrix reproduces full fixed-point solves for any
    powers, peaks included. The coolant carries heat downstream, so R is not symmetric."""
    stack = example(name, 24, 16)
    matrix = resistance_matrix(stack)
    assert "coupled coolant" in matrix.method
    assert (matrix.resistance > 0).all()
    rng = np.random.default_rng(5)
    for watts in (matrix.nominal_w, rng.uniform(0.0, 60.0, len(matrix.blocks))):
        pairs = {(b.source, b.block.name): w for b, w in zip(matrix.blocks, watts, strict=True)}
        result = solve(with_block_powers(stack, pairs), kelvin_tol=1e-10)
        means = [b.stats.mean for b in result.block_stats]
        assert matrix.temperatures(watts) == pytest.approx(means, abs=1e-6)
        assert matrix.peaks(watts) == pytest.approx(result.max_temperature, abs=1e-6)


def with_flow(stack, factor: float):
    """``stack`` with its bottom coolant's flow rate multiplied by ``factor``."""
    bottom = stack.boundaries["bottom"]
    coolant = bottom.coolant.model_copy(update={"flow_rate": bottom.coolant.flow_rate * factor})
    faces = {**stack.boundaries, "bottom": bottom.model_copy(update={"coolant": coolant})}
    return stack.model_copy(update={"boundaries": faces})


def test_the_downstream_die_sees_the_upstream_heat_through_the_water():
    """On the cold plate the water flows from the upstream die to the downstream one: a watt
    upstream warms the water under the downstream die, a watt downstream never reaches the
    upstream one. The excess R[down, up] − R[up, down] is part of the water's full rise per
    watt, 1/(ṁ·c_p), and falls in proportion as the flow grows (the conduction part stays
    reciprocal)."""
    stack = example("cold_plate", 24, 16)
    coolant = stack.boundaries["bottom"].coolant
    fractions = []
    for factor in (1.0, 10.0, 100.0):
        matrix = resistance_matrix(with_flow(stack, factor))
        up, down = matrix.labels.index("upstream"), matrix.labels.index("downstream")
        excess = matrix.resistance[down, up] - matrix.resistance[up, down]
        fractions.append(excess * factor * coolant.flow_rate * coolant.heat_capacity)
    assert 0.1 < fractions[0] < 1.0
    assert fractions == pytest.approx([fractions[0]] * 3, rel=1e-3)


def test_power_maps_and_face_temperatures_form_the_background():
    data = slab(halves=True)
    data["power"]["leak"] = {"map": [[0.0, 0.2], [0.1, 0.0]]}
    data["layers"].append(
        {"name": "top", "thickness": 1e-4, "material": "m", "cells": 4, "power": "leak"}
    )
    data["boundaries"]["top"] = {"htc": 1000.0, "ambient": 320.0}
    stack = stack_from_dict(data)
    matrix = resistance_matrix(stack)
    off = solve(with_block_powers(stack, {}))
    expected = [
        float((off.layer_map("body") * off.grid.block_fraction(b.block)).sum())
        for b in matrix.blocks
    ]
    assert matrix.background_k == pytest.approx(expected, abs=1e-9)
    assert 300.0 < matrix.background_k.min() < 320.0
    nominal = [b.stats.mean for b in solve(stack).block_stats if b.source == "p"]
    assert matrix.temperatures() == pytest.approx(nominal, abs=1e-8)


def test_blocks_by_name_and_clear_errors():
    matrix = resistance_matrix(stack_from_dict(slab(halves=True)))
    both = matrix.temperatures({"east": 0.0})  # west keeps its 1 W
    assert both == pytest.approx(matrix.background_k + matrix.resistance[:, 0])
    with pytest.raises(InputError, match=r"unknown block.*'north'.*west, east"):
        matrix.temperatures({"north": 1.0})
    with pytest.raises(InputError, match="expected 2 block powers"):
        matrix.temperatures(np.ones(3))
    with pytest.raises(InputError, match="has no power blocks"):
        resistance_matrix(example("surface"))


def test_repeated_block_names_are_qualified_by_their_source():
    data = slab(halves=False)
    data["power"]["q"] = {"blocks": data["power"]["p"]["blocks"]}
    data["boundaries"]["top"] = {"htc": 100.0, "power": "q"}
    labels = [b.label for b in block_inputs(stack_from_dict(data))]
    assert labels == ["p/all", "q/all"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("west,nort\n1,2\n", r"cases.csv:1: column 2: unknown block 'nort'"),
        ("west\n1\nhot\n", r"cases.csv:3: column 1 \(west\): 'hot' is not a number"),
        ("west\n-1\n", r"cases.csv:2: column 1 \(west\): expected a power of at least 0 W"),
        ("name,west\na,1,2\n", r"cases.csv:2: 3 values, expected 2"),
        ("west\n", "no cases below the header"),
    ],
)
def test_bad_power_cases_are_named_by_line_and_column(tmp_path: Path, text, message):
    blocks = block_inputs(stack_from_dict(slab(halves=True)))
    path = tmp_path / "cases.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_power_cases(path, blocks)


def test_power_cases_keep_unlisted_blocks_at_their_nominal_power(tmp_path: Path):
    blocks = block_inputs(stack_from_dict(slab(halves=True)))
    path = tmp_path / "cases.csv"
    path.write_text("east,name\n0.5,idle\n\n2,\n")
    cases = read_power_cases(path, blocks)
    assert cases.names == ["idle", ""]
    assert cases.watts.tolist() == [[1.0, 0.5], [1.0, 2.0]]


def test_resistances_command_writes_the_matrix_and_evaluates_cases(tmp_path: Path):
    stack = stack_from_dict(slab(halves=True))
    path = tmp_path / "slab.yaml"
    save_stack(stack, path)
    (tmp_path / "cases.csv").write_text("name,west,east\ncool,0.1,0.2\nhot,4,0\n")
    out = tmp_path / "out"
    args = ["resistances", str(path), "--powers", str(tmp_path / "cases.csv"), "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "warmed most by" in res.output and "the hottest is 'hot', its hottest cell" in res.output
    doc = json.loads((out / "resistance.json").read_text())
    assert doc["cases"]["count"] == 2 and doc["asymmetry"] < 1e-9
    assert (out / "resistance.png").stat().st_size > 5000
    rows = (out / "block_temperatures.csv").read_text().splitlines()
    header = "name,west,east,max west,max east,hottest_block,hottest_block_mean_k,peak_k"
    assert rows[0] == header
    hot = solve(with_block_powers(stack, {("p", "west"): 4.0, ("p", "east"): 0.0}))
    assert float(rows[2].split(",")[1]) == pytest.approx(hot.block_stats[0].stats.mean, abs=1e-8)
    assert float(rows[2].split(",")[-1]) == pytest.approx(hot.max_temperature, abs=1e-8)
    assert float(rows[2].split(",")[3]) == pytest.approx(hot.max_temperature, abs=1e-8)  # west
    matrix = np.loadtxt(out / "resistance.csv", delimiter=",", skiprows=1, usecols=(1, 2))
    assert matrix == pytest.approx(np.array(doc["resistance_k_per_w"]))
    bad = CliRunner().invoke(
        app, ["resistances", str(path), "--powers", str(tmp_path / "none.csv"), "--no-files"]
    )
    assert bad.exit_code == 1 and "none.csv: cannot read the power cases" in bad.output
    assert "Traceback" not in bad.output


@settings(max_examples=15, deadline=None)
@given(
    rects=st.lists(
        st.tuples(
            st.floats(0.0, 0.7), st.floats(0.0, 0.7), st.floats(0.1, 0.3), st.floats(0.1, 0.3)
        ),
        min_size=1,
        max_size=5,
    ),
    watts=st.lists(st.floats(0.0, 3.0), min_size=5, max_size=5),
    top_htc=st.floats(100.0, 1e5),
)
def test_any_floorplan_gives_a_reciprocal_positive_exact_matrix(rects, watts, top_htc):
    blocks = [
        {
            "name": f"b{i}",
            "x": x * 1e-2,
            "y": y * 1e-2,
            "width": w * 1e-2,
            "height": h * 1e-2,
            "watts": watts[i],
        }
        for i, (x, y, w, h) in enumerate(rects)
    ]
    stack = stack_from_dict(
        {
            "name": "random",
            "size": [0.01, 0.01],
            "layers": [
                {"name": "sink", "thickness": 1e-3, "material": "copper"},
                {"name": "die", "thickness": 2e-4, "material": "silicon", "power": "p"},
            ],
            "power": {"p": {"blocks": blocks}},
            "boundaries": {"top": {"htc": top_htc}, "bottom": {"htc": 50.0}},
            "grid": {"nx": 10, "ny": 10},
        }
    )
    matrix = resistance_matrix(stack)
    assert matrix.summary()["asymmetry"] < 1e-9
    assert (matrix.resistance > 0).all()
    result = solve(stack)
    assert matrix.temperatures() == pytest.approx(
        [b.stats.mean for b in result.block_stats], abs=1e-8
    )
    assert float(matrix.peaks()) == pytest.approx(result.max_temperature, abs=1e-8)
