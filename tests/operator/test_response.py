"""The response operator against the solver on a heterogeneous stack: predictions equal solves
of the same maps, the rises are reciprocal, the peak is the stack's, and bad input is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chiptherm import System, load_stack, stack_from_dict
from chiptherm.description.parts import PowerSource
from chiptherm.description.stack import Stack
from chiptherm.discretize.system import power_field
from chiptherm.errors import InputError
from chiptherm.operator.response import ResponseOperator, build_response
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


def solved(stack: Stack, maps: np.ndarray) -> list[np.ndarray]:
    """The fields (nz, ny, nx) K of ``stack`` with each of ``maps`` as its 'chips' source,
    by one factorization (the matrix does not depend on the power)."""
    system = System.from_stack(stack)
    solver = make_solver(system, "direct")
    fields = []
    for watts in maps:
        heated = power_field(stack.with_power("chips", PowerSource(map=watts)), system.grid)
        field, _ = solver.solve(system.rhs_for(heated).ravel(), tol=1e-12)
        fields.append(field.reshape(system.shape))
    return fields


def random_maps(operator: ResponseOperator, count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 2.0, (count, *SENSORS)) * operator.active


def test_predictions_equal_solves_of_the_same_maps(
    package: Stack, operator: ResponseOperator
) -> None:
    maps = random_maps(operator, 3)
    predicted = operator.predict(maps)
    assert predicted.shape == (3, len(operator.levels), 32, 40)
    for watts, field, exact in zip(maps, predicted, solved(package, maps), strict=True):
        rise = float(exact.max() - package.ambient)
        assert np.abs(field - exact[operator.levels]).max() < 1e-6 * rise  # float32 storage
        # the hottest cell of the stack lies where the source heats
        assert operator.peaks(watts) == pytest.approx(exact.max(), abs=1e-6 * rise)


def test_the_rises_are_reciprocal(operator: ResponseOperator, package: Stack) -> None:
    """A watt in sensor cell s warms sensor cell t's footprint as much as the reverse (the
    finite-volume matrix is symmetric): R = Uᵀ G with U the unit power fields."""
    from chiptherm.discretize.grid import Grid
    from chiptherm.discretize.system import source_field

    grid = Grid.from_stack(package)
    units = []
    for y, x in np.argwhere(operator.active)[:12]:
        one_watt = np.zeros(SENSORS)
        one_watt[y, x] = 1.0
        unit = source_field(package.with_power("chips", PowerSource(map=one_watt)), grid, "chips")
        units.append(unit[operator.levels].ravel())
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
