"""Grid convergence studies: Richardson extrapolation, observed order and GCI bands."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from chiptherm import Block, Layer, PowerSource, Stack
from chiptherm.analysis.convergence import (
    SAFETY,
    convergence_study,
    grid_levels,
    richardson,
)
from chiptherm.cli import app
from chiptherm.errors import InputError


@pytest.mark.parametrize("sizes", [(4.0, 2.0, 1.0), (3.0, 2.0, 1.2)])
def test_second_order_values_extrapolate_to_their_limit(sizes):
    values = [10.0 + 0.5 * h**2 for h in sizes]
    e = richardson(values, sizes)
    assert e.behaviour == "monotone" and e.asymptotic
    assert e.order == pytest.approx(2.0, abs=1e-9)  # also with unequal ratios (iterated)
    assert e.extrapolated == pytest.approx(10.0, abs=1e-12)
    assert e.band == pytest.approx(SAFETY * (values[-1] - 10.0), rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    order=st.floats(0.6, 1.95),
    amplitude=st.floats(-50.0, 50.0).filter(lambda a: abs(a) > 1e-3),
    limit=st.floats(250.0, 500.0),
    r21=st.floats(1.3, 3.0),
    r32=st.floats(1.3, 3.0),
)
def test_observed_order_and_limit_are_recovered(order, amplitude, limit, r21, r32):
    h1 = 1e-4
    sizes = [h1 * r21 * r32, h1 * r21, h1]
    values = [limit + amplitude * (h / sizes[0]) ** order for h in sizes]
    e = richardson(values, sizes)
    assert e.order == pytest.approx(order, rel=1e-6)
    assert e.extrapolated == pytest.approx(limit, abs=1e-6 * abs(amplitude))


def test_oscillating_and_constant_values_are_named():
    e = richardson([1.0, 3.0, 2.0], [4.0, 2.0, 1.0])
    assert e.behaviour == "oscillatory" and e.order is None and e.extrapolated is None
    assert e.band == pytest.approx(SAFETY * 2.0)
    same = richardson([300.0, 300.0, 300.0], [4.0, 2.0, 1.0])
    assert same.behaviour == "grid-independent" and same.band == 0.0


def test_estimates_refuse_too_few_grids_and_unordered_sizes():
    with pytest.raises(InputError, match="at least three grids"):
        richardson([1.0, 2.0], [2.0, 1.0])
    with pytest.raises(InputError, match="must decrease from coarse to fine"):
        richardson([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])


def test_an_order_beyond_the_schemes_does_not_shrink_the_band():
    values = [10.0 + h**4 for h in (4.0, 2.0, 1.0)]
    e = richardson(values, [4.0, 2.0, 1.0])
    assert e.order == pytest.approx(4.0) and not e.asymptotic
    assert e.extrapolated == pytest.approx(10.0)  # Richardson with the observed order...
    assert e.band == pytest.approx(SAFETY * 15.0 / 3.0)  # ...but p = 2 in the band, not 4


def heated_slab(cells: int = 4) -> Stack:
    """A 0.5 mm layer heated uniformly through its volume, cooled through the bottom face only:
    T(z) is quadratic, which the finite-volume scheme gets right to second order."""
    size = (1e-3, 1e-3)
    block = Block(name="all", x=0, y=0, width=size[0], height=size[1], watts=0.2)
    return Stack(
        size=size,
        ambient=300.0,
        materials={"m": {"conductivity": 5.0}},
        layers=[Layer(name="slab", thickness=5e-4, material="m", cells=cells, power="heat")],
        power={"heat": PowerSource(blocks=[block])},
        boundaries={"bottom": {"htc": 2e3}},
        grid={"nx": 2, "ny": 2},
    )


def test_study_of_a_heated_slab_brackets_the_analytic_answer():
    stack = heated_slab()
    study = convergence_study(stack, levels=3, ratio=2.0)
    assert [lv.nz for lv in study.levels] == [4, 8, 16]
    assert [lv.nx for lv in study.levels] == [2, 4, 8]
    q = 0.2 / (1e-6 * 5e-4)  # W/m³
    k, h, depth = 5.0, 2e3, 5e-4
    exact = {  # T(z) = 300 + qH/h + (q/k)(Hz - z²/2): its volume mean and its top value
        "mean": 300.0 + q * depth / h + q * depth**2 / (3 * k),
        "peak": 300.0 + q * depth / h + q * depth**2 / (2 * k),
    }
    for name, value in exact.items():
        e, finest = study.estimates[name], study.values[name][-1]
        assert abs(finest - value) <= e.band + 1e-9 * value  # the band covers the true error
    mean = study.estimates["mean"]
    assert mean.behaviour == "monotone" and mean.asymptotic
    assert mean.order == pytest.approx(2.0, abs=1e-3)
    assert abs(mean.extrapolated - exact["mean"]) < 1e-3 * abs(
        study.values["mean"][-1] - exact["mean"]
    )
    # the top (adiabatic) cell of a quadratic profile already holds the surface temperature
    assert study.estimates["peak"].behaviour == "grid-independent"
    assert all(lv.energy_error < 1e-9 for lv in study.levels)


def test_coarser_levels_end_at_the_stacks_own_grid():
    stack = heated_slab(cells=8).with_grid(8, 8)
    stacks = grid_levels(stack, 3, 2.0, finer=False)
    assert [(s.grid.nx, s.layers[0].cells) for s in stacks] == [(2, 2), (4, 4), (8, 8)]
    assert stacks[-1] is stack
    with pytest.raises(InputError, match="at least 3 grids"):
        grid_levels(stack, 2, 2.0, finer=True)
    with pytest.raises(InputError, match="factor above 1"):
        grid_levels(stack, 3, 1.0, finer=True)
    with pytest.raises(InputError, match="would have 262,144 cells"):
        convergence_study(stack, levels=4, max_cells=100_000)


def test_converge_command_writes_the_study(tmp_path):
    path = tmp_path / "slab.yaml"
    from chiptherm.description.stack_io import save_stack

    save_stack(heated_slab(), path)
    out = tmp_path / "conv"
    result = CliRunner().invoke(app, ["converge", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "peak" in result.output and "monotone" in result.output
    doc = json.loads((out / "convergence.json").read_text())
    assert [lv["cells"] for lv in doc["levels"]] == [16, 128, 1024]
    assert doc["quantities"]["mean"]["order"] == pytest.approx(2.0, abs=1e-3)
    assert (out / "convergence.png").stat().st_size > 5000
    bad = CliRunner().invoke(app, ["converge", str(path), "--levels", "2", "--out", str(out)])
    assert bad.exit_code == 1 and "at least 3 grids" in bad.output
    assert "Traceback" not in bad.output
