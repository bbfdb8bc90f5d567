"""Coolant that warms along its flow over a cooled face."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from chiptherm import solve, stack_from_dict
from chiptherm.cli import app
from chiptherm.description.stack_io import save_stack
from chiptherm.errors import StackError, UnsupportedError
from chiptherm.solvers.nonlinear import solve_nonlinear

WATTS, FLOW, CP, INLET, NX, NY = 40.0, 0.002, 4180.0, 300.0, 10, 4


def plate(direction: str = "+x", flow: float = FLOW, lateral_k: float = 1e-6, **bottom) -> dict:
    """A die heated evenly, cooled from below by a coolant; with a tiny lateral conductivity
    every column carries its own share of the power straight down."""
    return {
        "name": "cold-plate",
        "size": [0.01, 0.004],
        "materials": {"m": {"conductivity": [lateral_k, lateral_k, 100.0]}},
        "layers": [{"name": "die", "thickness": 5e-4, "material": "m", "cells": 2, "power": "p"}],
        "power": {
            "p": {
                "blocks": [
                    {"name": "all", "x": 0, "y": 0, "width": 0.01, "height": 0.004, "watts": WATTS}
                ]
            }
        },
        "boundaries": {
            "bottom": {
                "htc": 2e4,
                "coolant": {"inlet_temperature": INLET, "flow_rate": flow, "direction": direction},
                **bottom,
            }
        },
        "grid": {"nx": NX, "ny": NY},
    }


def test_the_coolant_warms_by_the_heat_upstream_over_its_heat_capacity():
    stack = stack_from_dict(plate())
    solution = solve_nonlinear(stack)
    coolant = solution.system.faces["bottom"].temperature
    # each column passes WATTS / NX to the coolant; a cell sees the columns upstream and half
    # its own
    expected = INLET + (np.arange(NX) + 0.5) * (WATTS / NX) / (FLOW * CP)
    assert coolant == pytest.approx(np.tile(expected, (NY, 1)), abs=1e-9)
    result = solve(stack)
    outlet = result.summary()["energy"]["coolant"]["bottom"]
    assert outlet["outlet_k"] == pytest.approx(INLET + WATTS / (FLOW * CP), rel=1e-12)
    assert outlet["heat_w"] == pytest.approx(WATTS, rel=1e-12)
    assert result.balance.relative_error < 1e-12
    # the die above follows its coolant: every column the same rise above it
    rise = result.temperature[0] - coolant
    assert rise == pytest.approx(np.full_like(rise, rise[0, 0]), rel=1e-9)


@pytest.mark.parametrize(("forward", "backward", "axis"), [("+x", "-x", 2), ("+y", "-y", 1)])
def test_reversing_the_flow_mirrors_the_field(forward, backward, axis):
    ahead = solve(stack_from_dict(plate(forward, lateral_k=50.0))).temperature
    back = solve(stack_from_dict(plate(backward, lateral_k=50.0))).temperature
    assert np.abs(np.flip(back, axis=axis) - ahead).max() < 1e-8
    hot = np.unravel_index(int(np.argmax(ahead)), ahead.shape)
    assert hot[axis] == ahead.shape[axis] - 1  # downstream is hottest


def test_a_fast_coolant_is_a_fixed_ambient():
    fast = solve(stack_from_dict(plate(flow=1e4, lateral_k=50.0)))
    data = plate(lateral_k=50.0)
    data["boundaries"]["bottom"] = {"htc": 2e4, "ambient": INLET}
    fixed = solve(stack_from_dict(data))
    assert np.abs(fast.temperature - fixed.temperature).max() < 1e-5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"htc": None}, "'coolant' needs a convective face"),
        ({"ambient": 310.0}, "either 'ambient' or 'coolant'"),
        ({"coolant": {"inlet_temperature": 300, "flow_rate": 1e-3, "direction": "x"}}, "direction"),
        ({"coolant": {"inlet_temperature": 300, "flow_rate": 0}}, "flow_rate"),
    ],
)
def test_bad_coolants_are_refused(change, message):
    data = plate()
    data["boundaries"]["bottom"] |= change
    data["boundaries"]["bottom"] = {k: v for k, v in data["boundaries"]["bottom"].items() if v}
    with pytest.raises(StackError, match=message):
        stack_from_dict(data)


def test_side_faces_and_the_operator_refuse_coolants():
    data = plate()
    data["boundaries"]["east"] = data["boundaries"].pop("bottom")
    with pytest.raises(StackError, match="'coolant' is supported on the top and bottom faces"):
        stack_from_dict(data)
    stack = stack_from_dict(plate())
    from chiptherm.operator.case import Case

    with pytest.raises(UnsupportedError, match="coolant on the bottom face warms"):
        Case(stack, "p", (4, 4))


def test_solve_reports_the_outlet(tmp_path):
    path = save_stack(stack_from_dict(plate(lateral_k=50.0)), tmp_path / "plate.yaml")
    res = CliRunner().invoke(app, ["solve", str(path), "--no-files"])
    assert res.exit_code == 0, res.output
    outlet = INLET + WATTS / (FLOW * CP)
    assert f"300.00 K in, {outlet:.2f} K out" in res.output
