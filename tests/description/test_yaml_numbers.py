"""Numbers as people write them: YAML 1.2 floats in every YAML input (YAML 1.1 reads ``1e4``
as a string)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chiptherm import load_stack
from chiptherm.description.overrides import parse_assignment
from chiptherm.description.yaml_numbers import load_yaml
from chiptherm.design import load_problem
from chiptherm.operator.training_config import load_train_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONFIGS = Path(__file__).resolve().parents[2] / "configs"

STACK = """\
name: numbers
size: [1e-2, 8E-3]
layers:
  - {name: sink, thickness: 1e-3, material: copper}
  - {name: die, thickness: 100e-6, material: silicon, power: p, cells: 2}
power:
  p:
    blocks:
      - {name: b0, x: 1e-3, y: +1.e-3, width: 2e-3, height: .2e-2, watts: 5e0}
boundaries:
  top: {htc: 1e4, ambient: 3.0e2}
grid: {nx: 10, ny: 8}
"""


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1e4", 1e4),
        ("5e-5", 5e-5),
        ("100e-6", 100e-6),
        ("1.0e4", 1.0e4),
        ("-2E+3", -2e3),
        ("+1e1", 10.0),
        (".5", 0.5),
        ("1.", 1.0),
        ("0.1e-3", 1e-4),
    ],
)
def test_every_float_a_person_writes_is_a_float(text: str, value: float) -> None:
    loaded = load_yaml(f"x: {text}")["x"]
    assert isinstance(loaded, float) and loaded == value


def test_other_scalars_keep_their_types() -> None:
    data = load_yaml("a: 12\nb: 50 um\nc: adiabatic\nd: '1e4'\ne: [1e3, 2]\nf: 1e4x")
    assert data == {"a": 12, "b": "50 um", "c": "adiabatic", "d": "1e4", "e": [1e3, 2], "f": "1e4x"}
    assert isinstance(data["a"], int)


def test_a_stack_file_takes_exponents_without_a_dot(tmp_path: Path) -> None:
    path = tmp_path / "numbers.yaml"
    path.write_text(STACK)
    stack = load_stack(path)
    assert stack.size == (1e-2, 8e-3)
    assert stack.layers[1].thickness == pytest.approx(100e-6)
    assert stack.boundaries["top"].htc == 1e4
    block = stack.power["p"].blocks[0]
    assert (block.x, block.y, block.height, block.watts) == (1e-3, 1e-3, 2e-3, 5.0)


def test_a_training_config_takes_exponents_without_a_dot(tmp_path: Path) -> None:
    text = (CONFIGS / "surface.yaml").read_text().replace("lr: 2.0e-3", "lr: 2e-3")
    text = text.replace("../examples/surface.yaml", str(EXAMPLES / "surface.yaml"))
    assert "lr: 2e-3" in text
    (tmp_path / "surface.yaml").write_text(text)
    cfg, _ = load_train_config(tmp_path / "surface.yaml")
    assert cfg.training.lr == 2e-3


def test_a_problem_file_takes_exponents_without_a_dot(tmp_path: Path) -> None:
    text = (EXAMPLES / "problems" / "floorplan.yaml").read_text()
    text = text.replace("width: 2.0e-4", "width: 2e-4").replace("watts: 0.5e-3", "watts: 5e-4")
    (tmp_path / "floorplan.yaml").write_text(text)
    problem, _ = load_problem(tmp_path / "floorplan.yaml")
    assert problem.blocks[0].width == 2e-4
    assert problem.blocks[-1].watts == 5e-4


@pytest.mark.parametrize(("value", "expected"), [("1e4", 1e4), ("5e-5", 5e-5), ("3", 3)])
def test_set_values_are_numbers(value: str, expected: float) -> None:
    key, parsed = parse_assignment(f"boundaries.top.htc={value}")
    assert key == "boundaries.top.htc" and parsed == expected and type(parsed) is type(expected)
