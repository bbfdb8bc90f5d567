"""Stack validation: clear errors naming the file, line and key; property tests."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from chiptherm import StackError, load_stack, save_stack, stack_from_dict
from chiptherm.discretize.grid import Grid, resample_matrix

BASE = {
    "name": "t",
    "size": [0.01, 0.008],
    "layers": [
        {"name": "sink", "thickness": 1e-3, "material": "copper"},
        {"name": "die", "thickness": 1e-4, "material": "silicon", "power": "p", "cells": 2},
    ],
    "power": {
        "p": {
            "blocks": [
                {
                    "name": "b0",
                    "x": 0.001,
                    "y": 0.001,
                    "width": 0.002,
                    "height": 0.002,
                    "watts": 5.0,
                }
            ]
        }
    },
    "boundaries": {"top": {"htc": 1e4}},
    "grid": {"nx": 10, "ny": 8},
}


def mutated(path: tuple, value: object) -> dict:
    data = copy.deepcopy(BASE)
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "key", "expected"),
    [
        (("layers", 1, "thickness"), -1e-4, "layers[1].thickness", "greater than 0"),
        (("layers", 0, "material"), "unobtainium", "layers[0].material", "unknown material"),
        (("layers", 1, "power"), "nope", "layers[1].power", "unknown power source 'nope'"),
        (("power", "p", "blocks", 0, "x"), 0.009, "power.p.blocks[0]", "leaves the chip"),
        (("power", "p", "blocks", 0, "watts"), float("nan"), "power.p.blocks[0].watts", "finite"),
        (
            ("power", "p", "blocks", 0, "watts"),
            -1.0,
            "power.p.blocks[0].watts",
            "greater than or equal to 0",
        ),
        (("layers", 1, "cells"), 0, "layers[1].cells", "greater than or equal to 1"),
        (("grid", "nx"), 0, "grid.nx", "greater than or equal to 1"),
        (("boundaries", "top"), "cold", "boundaries.top", "expected 'adiabatic'"),
        (("boundaries", "top"), "adiabatic", "boundaries", "no face removes heat"),
        (
            ("boundaries", "north"),
            {"power": "p", "htc": 10},
            "boundaries.north.power",
            "top and bottom faces only",
        ),
        (("layers", 0, "thikness"), 1e-3, "layers[0]", "unknown key 'thikness'"),
        (("size",), [0.01], "size", "expected [width_x, height_y]"),
        (
            ("materials",),
            {"x": {"conductivity": [1, 2]}},
            "materials.x.conductivity",
            "[kx, ky, kz]",
        ),
        (("layers", 1, "name"), "sink", "layers[1].name", "duplicate layer name"),
    ],
)
def test_invalid_values_name_the_key(path: tuple, value: object, key: str, expected: str) -> None:
    with pytest.raises(StackError) as info:
        stack_from_dict(mutated(path, value), source="s.yaml")
    message = str(info.value)
    assert message.startswith("s.yaml")
    assert key in message
    assert expected in message


def test_file_errors_give_the_line(tmp_path: Path) -> None:
    data = mutated(("layers", 1, "thickness"), -1e-4)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "-0.0001" in text)
    with pytest.raises(StackError) as info:
        load_stack(path)
    assert f"bad.yaml:{line}: layers[1].thickness" in str(info.value)


def test_yaml_syntax_errors_give_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nsize: [0.01, 0.01\nlayers: []\n")
    with pytest.raises(StackError, match=r"broken.yaml:\d+: invalid YAML"):
        load_stack(path)


def test_missing_file_and_missing_map_are_clear(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="cannot read file"):
        load_stack(tmp_path / "nope.yaml")
    data = mutated(("power", "p"), {"map": "missing.npy"})
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(StackError, match=r"power.p.map: power map file .*missing.npy.* not exist"):
        load_stack(path)


def test_power_map_with_nan_is_rejected(tmp_path: Path) -> None:
    np.save(tmp_path / "m.npy", np.array([[1.0, np.nan]]))
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(mutated(("power", "p"), {"map": "m.npy"})))
    with pytest.raises(StackError, match="NaN"):
        load_stack(path)


def test_csv_maps_read_like_npy_maps(tmp_path: Path) -> None:
    """A CSV map (commas or spaces, comments, first line = south row) gives the same stack
    as the .npy of the same array; numpy.savetxt's output reads back as written."""
    values = np.arange(12.0).reshape(3, 4) / 7.0
    np.save(tmp_path / "m.npy", values)
    np.savetxt(tmp_path / "m.csv", values, delimiter=",", header="watts per cell, south first")
    (tmp_path / "m.txt").write_text(
        "\n".join(" ".join(repr(float(v)) for v in row) for row in values) + "\n\n"
    )
    stacks = []
    for name in ("m.npy", "m.csv", "m.txt"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(mutated(("power", "p"), {"map": name})))
        stacks.append(load_stack(path))
    for stack in stacks[1:]:
        np.testing.assert_array_equal(stack.power["p"].map, stacks[0].power["p"].map)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1, 2, 3\n4, x5, 6\n", r"m.csv.* line 2, column 2: 'x5' is not a number"),
        ("1, 2, 3\n# note\n4, 5\n", r"m.csv.* line 3 has 2 values, the first row 3"),
        ("# nothing\n\n", r"m.csv.* holds no numbers"),
    ],
)
def test_bad_csv_maps_name_the_line_and_column(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "m.csv").write_text(text)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(mutated(("power", "p"), {"map": "m.csv"})))
    with pytest.raises(StackError, match=r"power.p.map: power map '.*" + message):
        load_stack(path)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    data = mutated(("power", "p"), {"map": np.arange(12.0).reshape(3, 4).tolist()})
    data["materials"] = {"aniso": {"conductivity": [1.0, 2.0, 3.0]}}
    data["layers"][0]["material"] = "aniso"
    stack = stack_from_dict(data)
    path = save_stack(stack, tmp_path / "out.yaml")
    again = load_stack(path)
    assert again.material("aniso").conductivity == (1.0, 2.0, 3.0)
    assert np.array_equal(again.power["p"].map, stack.power["p"].map)
    assert again.layers == stack.layers and again.boundaries == stack.boundaries


finite = st.floats(min_value=1e-4, max_value=1.0, allow_nan=False)


@st.composite
def valid_stacks(draw: st.DrawFn) -> dict:
    lx, ly = draw(finite) * 0.02, draw(finite) * 0.02
    blocks = []
    for i in range(draw(st.integers(0, 5))):
        fx, fy = draw(st.floats(0, 0.9)), draw(st.floats(0, 0.9))
        fw, fh = draw(st.floats(0.01, 1 - fx)), draw(st.floats(0.01, 1 - fy))
        blocks.append(
            {
                "name": f"b{i}",
                "x": fx * lx,
                "y": fy * ly,
                "width": fw * lx,
                "height": fh * ly,
                "watts": draw(st.floats(0, 100)),
            }
        )
    n_layers = draw(st.integers(1, 4))
    layers = [
        {
            "name": f"l{i}",
            "thickness": draw(finite) * 1e-3,
            "material": draw(st.sampled_from(["silicon", "copper", "tim", "beol"])),
            "cells": draw(st.integers(1, 3)),
        }
        for i in range(n_layers)
    ]
    data = {
        "size": [lx, ly],
        "layers": layers,
        "boundaries": {"top": {"htc": 1e4}},
        "grid": {"nx": draw(st.integers(1, 12)), "ny": draw(st.integers(1, 12))},
    }
    if blocks:
        data["power"] = {"p": {"blocks": blocks}}
        layers[draw(st.integers(0, n_layers - 1))]["power"] = "p"
    return data


@settings(max_examples=60, deadline=None)
@given(valid_stacks())
def test_valid_stacks_validate_and_keep_their_power(data: dict) -> None:
    stack = stack_from_dict(data)
    expected = sum(b["watts"] for b in data.get("power", {}).get("p", {}).get("blocks", []))
    assert math.isclose(stack.total_power, expected, rel_tol=1e-12, abs_tol=1e-12)
    grid = Grid.from_stack(stack)
    for source in stack.power.values():
        assert math.isclose(
            grid.power_map(source).sum(), source.total_watts, rel_tol=1e-9, abs_tol=1e-12
        )
    assert math.isclose(grid.z_edges[-1], stack.thickness, rel_tol=1e-12)


BREAKERS = [
    (
        lambda d: d["layers"][0].__setitem__("thickness", -abs(d["layers"][0]["thickness"])),
        "layers[0].thickness",
    ),
    (lambda d: d["layers"][-1].__setitem__("material", "vibranium"), "material"),
    (lambda d: d["grid"].__setitem__("ny", -3), "grid.ny"),
    (lambda d: d.__setitem__("size", [d["size"][0], float("inf")]), "size"),
    (lambda d: d.__setitem__("boundaries", {}), "boundaries"),
    (  # the bottom layer has no interface below it: the value would be ignored
        lambda d: d["layers"][-1].__setitem__("contact_resistance", 1e-5),
        "].contact_resistance: the bottom layer",
    ),
]


@settings(max_examples=60, deadline=None)
@given(valid_stacks(), st.sampled_from(range(len(BREAKERS))))
def test_broken_stacks_are_rejected_with_the_key(data: dict, which: int) -> None:
    breaker, key = BREAKERS[which]
    breaker(data)
    with pytest.raises(StackError) as info:
        stack_from_dict(data, source="h.yaml")
    assert key in str(info.value)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.floats(0.1, 10))
def test_resampling_conserves_totals(n_src: int, n_dst: int, length: float) -> None:
    rng = np.random.default_rng(n_src * 31 + n_dst)
    values = rng.uniform(-1, 1, n_src)
    r = resample_matrix(np.linspace(0, length, n_src + 1), np.linspace(0, length, n_dst + 1))
    assert math.isclose((r @ values).sum(), values.sum(), rel_tol=1e-9, abs_tol=1e-9)


def test_lengths_and_powers_may_carry_units() -> None:
    """'50 um', '2.5mm', '500 mW' read as the SI numbers they stand for."""
    plain = stack_from_dict(BASE)
    data = copy.deepcopy(BASE)
    data["size"] = [f"{data['size'][0] * 1e3:g} mm", f"{data['size'][1] * 1e2:g}cm"]
    data["layers"][0]["thickness"] = f"{data['layers'][0]['thickness'] * 1e6:g} um"
    block = data["power"]["p"]["blocks"][0]
    block["width"] = f"{block['width'] * 1e6:g} µm"
    block["watts"] = f"{block['watts'] * 1e3:g} mW"
    united = stack_from_dict(data)
    assert united.size == pytest.approx(plain.size, rel=1e-12)
    assert united.layers[0].thickness == pytest.approx(plain.layers[0].thickness, rel=1e-12)
    got, want = united.power["p"].blocks[0], plain.power["p"].blocks[0]
    assert got.width == pytest.approx(want.width) and got.watts == pytest.approx(want.watts)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (("layers", 0, "thickness"), "50 furlongs", r"layers\[0\]\.thickness: .*a length"),
        (("power", "p", "blocks", 0, "watts"), "lots W", "watts: .*a power .*'500 mW'"),
        (("layers", 0, "thickness"), "-5 um", "greater than 0"),
    ],
)
def test_bad_units_are_named(key: tuple, value: str, message: str) -> None:
    with pytest.raises(StackError, match=message):
        stack_from_dict(mutated(key, value))


def test_saved_stacks_read_as_written_by_hand(tmp_path: Path) -> None:
    data = mutated(("layers", 1, "thickness"), 3 * 0.1 * 1e-3)  # 0.00030000000000000003
    path = save_stack(stack_from_dict(data), tmp_path / "s.yaml")
    text = path.read_text()
    assert "null" not in text
    assert "thickness: 0.0003\n" in text and "000000" not in text
    assert load_stack(path).layers[1].thickness == pytest.approx(3e-4, rel=1e-15)
