"""The response operator against the solver on a heterogeneous stack: predictions equal solves
of the same maps, the rises are reciprocal, the peak is the stack's, and bad input is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from chiptherm import System, load_stack, stack_from_dict
from chiptherm.description.parts import PowerSource
from chiptherm.description.stack import Stack
from chiptherm.discretize.system import power_field
from chiptherm.errors import InputError
from chiptherm.operator.response import (
    ResponseOperator,
    allowed_rects,
    build_response,
    map_power,
)
from chiptherm.solvers import make_solver

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SENSORS = (8, 10)  # 2 mm sensor cells over the 20 x 16 mm package


@pytest.fixture(scope="module")
def package() -> Stack:
    """``examples/chiplets.yaml`` (two dies in mold, bumps, an interposer with TSV fields) on
    a 40 x 32 grid, with a cooled east side and a second, fixed source on the lid."""
    data = load_stack(EXAMPLES / "chiplets.yaml").model_dump(mode="json")
    data["grid"] = {"nx": 40, "ny": 32}
    data["boundaries"]["east"] = {"htc": 2.0e3}
    data["layers"][0]["power"] = "lid_heater"
    data["power"]["lid_heater"] = {
        "blocks": [{"name": "strip", "x": 0.0, "y": 0.0, "width": 0.02, "height": 0.002,
                    "watts": 5.0}]
    }  # fmt: skip
    return stack_from_dict(data)


@pytest.fixture(scope="module")
def operator(package: Stack) -> ResponseOperator:
    return build_response(package, "chips", SENSORS, within="regions", method="direct")


def solved(stack: Stack, operator: ResponseOperator, maps: np.ndarray) -> list[np.ndarray]:
    """The fields (nz, ny, nx) K of ``stack`` with each of ``maps`` as its 'chips' source,
    every sensor cell's watts spread over the die columns it overlaps, by one factorization
    (the matrix does not depend on the power)."""
    off = stack.with_power("chips", PowerSource(map=np.zeros(SENSORS)))
    system = System.from_stack(off)
    grid = system.grid
    solver = make_solver(system, "direct")
    rects = allowed_rects(stack, "chips", "regions")
    fields = []
    for watts in maps:
        heated = power_field(off, grid) + map_power(off, grid, "chips", rects, watts)
        field, _ = solver.solve(system.rhs_for(heated).ravel(), tol=1e-12)
        fields.append(field.reshape(system.shape))
    return fields


def one_hot(cell: tuple[int, int] | np.ndarray) -> np.ndarray:
    """A sensor map with 1 W in ``cell`` (row, column)."""
    watts = np.zeros(SENSORS)
    watts[tuple(cell)] = 1.0
    return watts


def random_maps(operator: ResponseOperator, count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 2.0, (count, *SENSORS)) * operator.active


def test_predictions_equal_solves_of_the_same_maps(
    package: Stack, operator: ResponseOperator
) -> None:
    maps = random_maps(operator, 3)
    predicted = operator.predict(maps)
    assert predicted.shape == (3, len(operator.levels), 32, 40)
    for watts, field, exact in zip(maps, predicted, solved(package, operator, maps), strict=True):
        rise = float(exact.max() - package.ambient)
        assert np.abs(field - exact[operator.levels]).max() < 1e-6 * rise  # float32 storage
        # the hottest cell of the stack lies where the source heats
        assert operator.peaks(watts) == pytest.approx(exact.max(), abs=1e-6 * rise)


def test_the_rises_are_reciprocal(operator: ResponseOperator, package: Stack) -> None:
    """A watt in sensor cell s warms sensor cell t's footprint as much as the reverse (the
    finite-volume matrix is symmetric): R = Uᵀ G with U the unit power fields."""
    from chiptherm.discretize.grid import Grid

    grid = Grid.from_stack(package)
    rects = allowed_rects(package, "chips", "regions")
    units = [
        map_power(package, grid, "chips", rects, one_hot(cell))[operator.levels].ravel()
        for cell in np.argwhere(operator.active)[:12]
    ]
    r = np.array(units) @ operator.response[:12].astype(float).T
    assert np.all(r > 0)
    assert np.abs(r - r.T).max() < 1e-6 * r.max()


def test_a_saved_operator_predicts_the_same(tmp_path: Path, operator: ResponseOperator) -> None:
    path = tmp_path / "chiplets.npz"
    operator.save(path)
    again = ResponseOperator.load(path)
    maps = random_maps(operator, 2, seed=1)
    assert np.array_equal(again.predict(maps), operator.predict(maps))
    assert [p.name for p in tmp_path.iterdir()] == ["chiplets.npz"]  # no temporary left
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(InputError, match="not a chiptherm response operator"):
        ResponseOperator.load(path)


def test_bad_maps_are_refused(operator: ResponseOperator) -> None:
    outside = np.zeros(SENSORS)
    outside[0, 0] = 1.0  # the mold's corner, outside both dies
    assert not operator.active[0, 0]
    with pytest.raises(InputError, match=r"sensor cell \(row 0, column 0\) carries 1 W"):
        operator.predict(outside)
    with pytest.raises(InputError, match=r"expected shape \(k, 8, 10\)"):
        operator.predict(np.zeros((4, 4)))


def test_stacks_and_sources_it_cannot_take_are_refused(package: Stack) -> None:
    with pytest.raises(InputError, match="linear in the power"):
        build_response(load_stack(EXAMPLES / "hot_die.yaml"), "die", (4, 4))
    with pytest.raises(InputError, match="no power source 'cpu'"):
        build_response(package, "cpu", SENSORS)
    with pytest.raises(InputError, match="no material regions"):
        build_response(package, "lid_heater", SENSORS, within="regions")


def test_a_sensor_cell_on_a_die_edge_heats_the_die_only(package: Stack) -> None:
    """The memory die spans x = 13.5-18.5 mm: the 2 mm sensor cell at 12-14 mm overlaps it by
    a quarter, and its watt goes into the die's silicon columns there, none into the mold."""
    from chiptherm.discretize.grid import Grid

    grid = Grid.from_stack(package)
    rects = allowed_rects(package, "chips", "regions")
    memory = rects[1]
    unit = map_power(package, grid, "chips", rects, one_hot((3, 6)))  # y 6-8, x 12-14 mm
    assert unit.sum() == pytest.approx(1.0, rel=1e-12)
    heated = unit.sum(axis=0) > 0
    assert heated.any() and np.all(heated <= grid.region_mask(memory))
    assert np.all(grid.x[heated.any(axis=0)] > memory.x)


def test_the_commands_build_an_operator_and_predict_with_it(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from chiptherm.cli import app

    target = tmp_path / "chiplets.npz"
    build = [
        "response", str(EXAMPLES / "chiplets.yaml"), "--source", "chips", "--sensors", "8x10",
        "--within-regions", "--solver", "direct", "--set", "grid.nx=40", "--set", "grid.ny=32",
        "--to", str(target), "--json",
    ]  # fmt: skip
    result = CliRunner().invoke(app, build)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    op = ResponseOperator.load(target)
    assert summary["active_sensor_cells"] == int(op.active.sum()) == len(op.response)
    watts = random_maps(op, 1, seed=2)[0]
    np.save(tmp_path / "map.npy", watts)
    out = tmp_path / "prediction"
    predict = ["response-predict", str(target), "--power", str(tmp_path / "map.npy")]
    result = CliRunner().invoke(app, [*predict, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["peak_k"] == pytest.approx(float(op.peaks(watts)))
    saved = np.load(out / "temperature.npz")["temperature"]
    assert np.array_equal(saved, op.predict(watts))
    np.save(tmp_path / "small.npy", np.ones((4, 5)))
    wrong = ["response-predict", str(target), "--power", str(tmp_path / "small.npy")]
    result = CliRunner().invoke(app, [*wrong, "--no-files"])
    assert result.exit_code == 1 and "expected shape (k, 8, 10)" in result.output
    result = CliRunner().invoke(app, [*build[:4], "--sensors", "8by10", "--to", str(target)])
    assert result.exit_code == 1 and "expected ROWSxCOLUMNS" in result.output
