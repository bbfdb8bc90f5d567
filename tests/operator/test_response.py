"""The response operator against the solver on a heterogeneous stack: predictions equal solves
of the projected power, first moments bring block floorplans' peaks closer to the truth than
constants, the rises are reciprocal, the peak is the stack's, and bad input is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from chiptherm import System, load_stack, stack_from_dict
from chiptherm.description.parts import Block, PowerSource
from chiptherm.description.stack import Stack
from chiptherm.discretize.grid import Grid
from chiptherm.discretize.system import power_field
from chiptherm.errors import InputError
from chiptherm.operator.response import (
    ResponseOperator,
    allowed_rects,
    build_response,
    column_power,
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


_FACTORIZED: dict[str, tuple[System, object]] = {}


def solved(stack: Stack, columns: np.ndarray) -> list[np.ndarray]:
    """The fields (nz, ny, nx) K of ``stack`` with each of ``columns`` (k, ny, nx) W per
    solver column as its 'chips' source, by one factorization per stack (the matrix does not
    depend on the power)."""
    key = stack.model_dump_json()
    if key not in _FACTORIZED:
        system = System.from_stack(stack)
        _FACTORIZED[key] = system, make_solver(system, "direct")
    system, solver = _FACTORIZED[key]
    fields = []
    for watts in columns:
        heated = power_field(stack.with_power("chips", PowerSource(map=watts)), system.grid)
        field, _ = solver.solve(system.rhs_for(heated).ravel(), tol=1e-12)  # type: ignore[attr-defined]
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


def floorplans(stack: Stack, count: int, seed: int = 0) -> list[list[Block]]:
    """Blocks of 1-3 mm, 2-10 W, placed at random inside the two dies, three per die."""
    rng = np.random.default_rng(seed)
    dies = allowed_rects(stack, "chips", "regions")
    plans = []
    for _ in range(count):
        blocks = []
        for n, die in enumerate(dies * 3):
            w, h = rng.uniform(1e-3, 3e-3, 2)
            x, y = rng.uniform(die.x, die.x1 - w), rng.uniform(die.y, die.y1 - h)
            blocks.append(
                Block(name=f"b{n}", x=x, y=y, width=w, height=h, watts=rng.uniform(2, 10))
            )
        plans.append(blocks)
    return plans


def block_columns(stack: Stack, plans: list[list[Block]]) -> np.ndarray:
    """(k, ny, nx) W per solver column of each floorplan, as the solver spreads blocks."""
    grid = Grid.from_stack(stack)
    return np.stack([grid.power_map(PowerSource(blocks=blocks)) for blocks in plans])


def test_predictions_equal_solves_of_the_projected_power(
    package: Stack, operator: ResponseOperator
) -> None:
    plans = floorplans(package, 2)
    columns = block_columns(package, plans)
    predicted = operator.predict_blocks(plans)
    assert predicted.shape == (2, len(operator.levels), 32, 40)
    assert np.array_equal(predicted, operator.predict_columns(columns))
    projected = operator.basis.projected(columns)
    assert projected.sum(axis=(1, 2)) == pytest.approx(columns.sum(axis=(1, 2)), rel=1e-12)
    for field, exact in zip(predicted, solved(package, projected), strict=True):
        rise = float(exact.max() - package.ambient)
        assert np.abs(field - exact[operator.levels]).max() < 1e-6 * rise  # float32 storage
    # sensor maps: each cell's watts spread evenly over its columns
    maps = random_maps(operator, 2)
    for field, exact in zip(
        operator.predict(maps), solved(package, operator.basis.spread(maps)), strict=True
    ):
        rise = float(exact.max() - package.ambient)
        assert np.abs(field - exact[operator.levels]).max() < 1e-6 * rise
        # the hottest cell of the stack lies where the source heats
        assert field.max() == pytest.approx(exact.max(), abs=1e-6 * rise)


def test_first_moments_bring_block_peaks_closer_than_constants(
    package: Stack, operator: ResponseOperator
) -> None:
    """Against the blocks solved as blocks: the sensor grid smears each block's power over its
    2 mm cells; keeping each cell's first moments puts it back where it is."""
    constants = build_response(package, "chips", SENSORS, within="regions", order=0,
                               method="direct")  # fmt: skip
    assert len(constants.response) == int(operator.active.sum()) < len(operator.response)
    plans = floorplans(package, 4, seed=3)
    exact = np.array([f.max() for f in solved(package, block_columns(package, plans))])
    errors = {
        order: np.abs(op.predict_blocks(plans).max(axis=(1, 2, 3)) - exact)
        for order, op in ((0, constants), (1, operator))
    }
    assert errors[1].max() < errors[0].max() / 3


def test_second_moments_bring_the_cells_in_the_dies_closer_still(
    package: Stack, operator: ResponseOperator
) -> None:
    """Order 2 (six functions a cell) against order 1 (three): the largest error in the dies'
    cells, against the blocks solved as blocks, falls."""
    second = build_response(package, "chips", SENSORS, within="regions", order=2,
                            method="direct")  # fmt: skip
    assert len(second.response) > len(operator.response)
    plans = floorplans(package, 4, seed=5)
    exact = np.stack([f[operator.levels] for f in solved(package, block_columns(package, plans))])
    dies = operator.basis.owner >= 0
    worst = {
        order: float(np.abs(op.predict_blocks(plans) - exact)[..., dies].max())
        for order, op in ((1, operator), (2, second))
    }
    assert worst[2] < 0.8 * worst[1]


def test_the_rises_are_reciprocal(operator: ResponseOperator, package: Stack) -> None:
    """Basis function s warms function t as much as t warms s (the finite-volume matrix is
    symmetric): R = Uᵀ G with U the functions' power fields."""
    grid = Grid.from_stack(package)
    shapes = operator.basis.shapes[:12].toarray().reshape(12, *grid.shape[1:])
    units = [column_power(package, grid, "chips", s)[operator.levels].ravel() for s in shapes]
    r = np.array(units) @ operator.response[:12].astype(float).T
    assert np.all(np.diag(r) > 0)
    assert np.abs(r - r.T).max() < 1e-6 * np.abs(r).max()


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


def test_bad_maps_are_refused(package: Stack, operator: ResponseOperator) -> None:
    outside = np.zeros(SENSORS)
    outside[0, 0] = 1.0  # the mold's corner, outside both dies
    assert not operator.active[0, 0]
    with pytest.raises(InputError, match=r"sensor cell \(row 0, column 0\) carries 1 W"):
        operator.predict(outside)
    with pytest.raises(InputError, match=r"expected shape \(k, 8, 10\)"):
        operator.predict(np.zeros((4, 4)))
    # a block's edge reaching 0.1 mm into the mold: that power moves into the die's edge
    memory = allowed_rects(package, "chips", "regions")[1]
    edge = Block(name="edge", x=memory.x - 1e-4, y=memory.y, width=2e-3, height=2e-3, watts=4.0)
    columns = block_columns(package, [[edge]])
    assert columns[0][:, :27].sum() > 0  # the solver puts some into the column beside the die
    kept = operator.basis.projected(columns)
    assert kept.sum() == pytest.approx(4.0, rel=1e-12) and kept[0][:, :27].sum() == 0.0
    stray = Block(name="mold", x=0.0, y=0.0, width=1e-3, height=1e-3, watts=1.0)
    with pytest.raises(InputError, match="1 W of 1 W lie in solver columns outside the regions"):
        operator.predict_blocks([[stray]])


def test_stacks_and_sources_it_cannot_take_are_refused(package: Stack) -> None:
    with pytest.raises(InputError, match="linear in the power"):
        build_response(load_stack(EXAMPLES / "hot_die.yaml"), "die", (4, 4))
    with pytest.raises(InputError, match="no power source 'cpu'"):
        build_response(package, "cpu", SENSORS)
    with pytest.raises(InputError, match="no material regions"):
        build_response(package, "lid_heater", SENSORS, within="regions")


def test_a_sensor_cell_on_a_die_edge_heats_the_die_only(
    package: Stack, operator: ResponseOperator
) -> None:
    """The memory die spans x = 13.5-18.5 mm: the 2 mm sensor cell at 12-14 mm owns only its
    silicon columns (x > 13.5 mm), and its basis functions put no power into the mold."""
    grid = Grid.from_stack(package)
    memory = allowed_rects(package, "chips", "regions")[1]
    cell = 3 * SENSORS[1] + 6  # row 3 (y 6-8 mm), column 6 (x 12-14 mm)
    owned = operator.basis.owner == cell
    assert owned.any() and np.all(owned <= grid.region_mask(memory))
    assert np.all(grid.x[owned.any(axis=0)] > memory.x)
    functions = operator.basis.shapes[np.flatnonzero(operator.basis.cell == cell)].toarray()
    # one 0.5 mm column wide: the constant and the moment along y, no slope along x
    assert len(functions) == 2 and np.ptp(grid.x[owned.any(axis=0)]) == 0
    assert np.all(functions[:, ~owned.ravel()] == 0)


def test_the_commands_build_an_operator_and_predict_with_it(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from chiptherm.cli import app

    target = tmp_path / "chiplets.npz"
    build = [
        "response", str(EXAMPLES / "chiplets.yaml"), "--source", "chips", "--sensors", "8x10",
        "--within-regions", "--order", "0", "--solver", "direct", "--set", "grid.nx=40",
        "--set", "grid.ny=32", "--to", str(target), "--json",
    ]  # fmt: skip
    result = CliRunner().invoke(app, build)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    op = ResponseOperator.load(target)
    assert summary["basis_functions"] == len(op.response) == summary["active_sensor_cells"]
    watts = random_maps(op, 1, seed=2)[0]
    np.save(tmp_path / "map.npy", watts)
    out = tmp_path / "prediction"
    predict = ["response-predict", str(target), "--power", str(tmp_path / "map.npy")]
    result = CliRunner().invoke(app, [*predict, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["peak_k"] == pytest.approx(float(op.peaks(watts)))
    saved = np.load(out / "temperature.npz")["temperature"]
    assert np.array_equal(saved, op.predict(watts))
    assert (out / "hottest_level.png").stat().st_size > 0
    plan = load_stack(EXAMPLES / "chiplets.yaml")  # the shipped floorplan on this operator
    from_file = ["response-predict", str(target), "--floorplan", str(EXAMPLES / "chiplets.yaml")]
    result = CliRunner().invoke(app, [*from_file, "--json", "--no-files"])
    assert result.exit_code == 0, result.output
    expected = op.predict_blocks([plan.power["chips"].blocks]).max()
    assert json.loads(result.stdout)["peak_k"] == pytest.approx(float(expected))
    assert json.loads(result.stdout)["power_w"] == pytest.approx(95.0)
    np.save(tmp_path / "small.npy", np.ones((4, 5)))
    wrong = ["response-predict", str(target), "--power", str(tmp_path / "small.npy")]
    result = CliRunner().invoke(app, [*wrong, "--no-files"])
    assert result.exit_code == 1 and "expected shape (k, 8, 10)" in result.output
    result = CliRunner().invoke(app, [*build[:4], "--sensors", "8by10", "--to", str(target)])
    assert result.exit_code == 1 and "expected ROWSxCOLUMNS" in result.output
    result = CliRunner().invoke(app, [*build[:6], "--to", str(tmp_path / "op.txt")])
    assert result.exit_code == 1 and "expected a .npz file" in result.output
    both = [*predict, "--floorplan", str(EXAMPLES / "chiplets.yaml"), "--no-files"]
    for args in (both, ["response-predict", str(target), "--no-files"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1 and "--power MAP.npy or --floorplan STACK.yaml" in (
            result.output
        )
    (tmp_path / "map.txt").write_text("not an array")
    result = CliRunner().invoke(
        app, ["response-predict", str(target), "--power", str(tmp_path / "map.txt"), "--no-files"]
    )
    assert result.exit_code == 1 and "not a .npy array" in result.output
    other = ["response-predict", str(target), "--floorplan", str(EXAMPLES / "surface.yaml")]
    result = CliRunner().invoke(app, [*other, "--no-files"])
    assert result.exit_code == 1 and "stack 'surface', not 'chiplets'" in result.output
    data = load_stack(EXAMPLES / "chiplets.yaml").model_dump(mode="json")
    np.save(tmp_path / "chips.npy", np.ones((200, 240)))  # a map, not blocks
    data["power"]["chips"] = {"map": "chips.npy"}
    (tmp_path / "empty.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    no_blocks = ["response-predict", str(target), "--floorplan", str(tmp_path / "empty.yaml")]
    result = CliRunner().invoke(app, [*no_blocks, "--no-files"])
    assert result.exit_code == 1 and "no blocks in power source 'chips'" in result.output
