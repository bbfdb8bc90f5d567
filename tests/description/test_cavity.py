"""Interlayer microchannel cavities: coolant flowing between two dies and warming as it goes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chiptherm import Stack, solve, stack_from_dict
from chiptherm.analysis.compact import resistance_matrix
from chiptherm.analysis.sensitivity import sensitivity
from chiptherm.description.channels import laminar_friction, laminar_nusselt
from chiptherm.description.hydraulics import channel_flow
from chiptherm.errors import StackError, UnsupportedError
from chiptherm.operator.case import Case
from chiptherm.solvers.nonlinear import solve_nonlinear

WATTS, FLOW, CP, INLET, NX, NY = 30.0, 0.001, 4180.0, 300.0, 12, 3
K_Z, HTC, POROSITY = 120.0, 5e4, 0.6
T_DIE, T_CAVITY, DIE_CELLS = 1e-4, 2e-4, 2
SIZE = (0.012, 0.003)


def sandwich(direction: str = "+x", flow: float = FLOW, lateral_k: float = 1e-6, **extra) -> dict:
    """A die heated evenly through its top face over a cavity, every other face adiabatic:
    all heat leaves through the coolant. With a tiny lateral conductivity every column carries
    its own share of the power straight down."""
    block = {"name": "all", "x": 0, "y": 0, "width": SIZE[0], "height": SIZE[1], "watts": WATTS}
    coolant = {"inlet_temperature": INLET, "flow_rate": flow, "direction": direction}
    return {
        "name": "sandwich",
        "size": list(SIZE),
        "materials": {"m": {"conductivity": [lateral_k, lateral_k, K_Z]}},
        "layers": [
            {"name": "die", "thickness": T_DIE, "material": "m", "cells": DIE_CELLS},
            {
                "name": "channels",
                "thickness": T_CAVITY,
                "material": "m",
                "htc": HTC,
                "porosity": POROSITY,
                "coolant": coolant,
                **extra,
            },
        ],
        "power": {"p": {"blocks": [block]}},
        "boundaries": {"top": {"power": "p"}},
        "grid": {"nx": NX, "ny": NY},
    }


def test_coolant_warms_by_the_heat_upstream_and_the_die_follows_it() -> None:
    """Each column passes WATTS/NX to its channel; a channel cell sees the columns upstream
    and half its own. The die's top cell sits above its coolant by the series resistance of
    the film (1/htc), half the cavity's walls (conductivity scaled by 1 - porosity) and the
    die below its top cell's centre."""
    stack = stack_from_dict(sandwich())
    solution = solve_nonlinear(stack)
    coolant = solution.system.sinks["channels"].temperature
    per_channel_flow = FLOW / NY
    column = WATTS / (NX * NY)
    expected = INLET + (np.arange(NX) + 0.5) * column / (per_channel_flow * CP)
    assert coolant == pytest.approx(np.tile(expected, (NY, 1)), abs=1e-9)

    result = solve(stack)
    assert result.info.method == "transform"  # the matrix stays laterally uniform
    outlet = result.coolant_outlets()["cavity channels"]
    assert outlet["outlet_k"] == pytest.approx(INLET + WATTS / (FLOW * CP), rel=1e-12)
    assert result.balance.relative_error < 1e-12
    flux = WATTS / (SIZE[0] * SIZE[1])
    walls = (1 - POROSITY) * K_Z
    drop = flux * (1 / HTC + (T_CAVITY / 2) / walls + (T_DIE - T_DIE / DIE_CELLS / 2) / K_Z)
    assert result.temperature[-1] - coolant == pytest.approx(np.full((NY, NX), drop), rel=1e-9)


def test_reversing_the_flow_mirrors_the_field() -> None:
    forward = solve(stack_from_dict(sandwich("+x", lateral_k=50.0))).temperature
    backward = solve(stack_from_dict(sandwich("-x", lateral_k=50.0))).temperature
    np.testing.assert_allclose(backward, forward[:, :, ::-1], rtol=0, atol=1e-6)
    assert forward[-1, :, -1].mean() > forward[-1, :, 0].mean() + 1.0  # hotter downstream


def test_a_fast_coolant_is_a_fixed_ambient() -> None:
    slow = solve(stack_from_dict(sandwich(flow=FLOW, lateral_k=50.0)))
    fast = solve(stack_from_dict(sandwich(flow=1e4, lateral_k=50.0)))
    flux = WATTS / (SIZE[0] * SIZE[1])
    walls = (1 - POROSITY) * K_Z
    drop = flux * (1 / HTC + (T_CAVITY / 2) / walls + (T_DIE - T_DIE / DIE_CELLS / 2) / K_Z)
    assert fast.temperature[-1] == pytest.approx(np.full((NY, NX), INLET + drop), abs=1e-5)
    assert slow.max_temperature > fast.max_temperature + 5.0


def test_cavity_between_dies_on_a_nonuniform_stack_matches_the_direct_solve() -> None:
    """A copper region in the die makes the stack non-uniform: CG with the averaged
    transform (which carries the cavity's sink) agrees with LU, and the heat splits between
    the coolant and the bottom face as the energy balance says."""
    data = sandwich(lateral_k=50.0)
    data["layers"][0]["regions"] = [
        {"material": "copper", "x": 0.002, "y": 0.0, "width": 0.002, "height": 0.003}
    ]
    data["layers"].append({"name": "base", "thickness": 3e-4, "material": "silicon"})
    data["boundaries"]["bottom"] = {"htc": 500.0}
    data["grid"] = {"nx": 60, "ny": 15}
    stack = stack_from_dict(data)
    direct = solve(stack, method="direct")
    krylov = solve(stack, method="cg-transform")
    np.testing.assert_allclose(krylov.temperature, direct.temperature, atol=1e-6)
    by_face = direct.balance.by_face
    assert by_face["cavity channels"] + by_face["bottom"] == pytest.approx(WATTS, rel=1e-9)
    assert 0 < by_face["bottom"] < 0.05 * WATTS


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"htc": None}, "needs 'htc'"),
        ({"power": "p"}, "carries no power"),
        (
            {"regions": [{"material": "copper", "x": 0, "y": 0, "width": 1e-3, "height": 1e-3}]},
            "has no regions",
        ),
        ({"porosity": 1.0}, "porosity"),
    ],
)
def test_bad_cavities_are_rejected_with_the_key(change: dict, message: str) -> None:
    data = sandwich()
    data["layers"][1].update(change)
    data["layers"][1] = {k: v for k, v in data["layers"][1].items() if v is not None}
    with pytest.raises(StackError, match=message) as info:
        stack_from_dict(data, source="c.yaml")
    assert "layers[1]" in str(info.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [("htc", 1e4), ("porosity", 0.4), ("channels", {"width": 5e-5, "pitch": 1e-4})],
)
def test_cavity_keys_need_a_coolant(key: str, value: object) -> None:
    data = sandwich()
    data["layers"][0][key] = value
    with pytest.raises(StackError, match=f"'{key}' belongs to a cavity layer"):
        stack_from_dict(data)


def test_matrices_cases_and_sensitivities_of_a_cavity() -> None:
    stack = stack_from_dict(sandwich(lateral_k=50.0))
    # the coolant keeps the temperatures affine in the power: one block's resistance is its
    # rise per watt, (T - inlet)/W (to the fixed-point solve's own tolerance)
    matrix = resistance_matrix(stack)
    nominal = solve(stack, kelvin_tol=1e-10)
    mean = nominal.block_stats[0].stats.mean
    assert matrix.background_k[0] == pytest.approx(INLET, abs=1e-9)
    assert matrix.resistance[0, 0] == pytest.approx((mean - INLET) / WATTS, rel=1e-6)
    cooled_below = sandwich(lateral_k=50.0)
    cooled_below["boundaries"]["bottom"] = {"htc": 500.0}
    with pytest.raises(UnsupportedError, match="coolant in cavity 'channels' warms"):
        Case(stack_from_dict(cooled_below), "p", (4, 4))
    study = sensitivity(stack)
    assert study.method == "adjoint" and study.solves == 3  # nominal, peak, smooth maximum
    flow = study.of("layers.channels.coolant.flow_rate")
    htc = study.of("layers.channels.htc")
    assert flow.per_log < 0 and htc.per_log < 0  # more flow, better film: cooler
    # the film's share of the peak's rise above the local coolant is flux/htc
    flux = WATTS / (SIZE[0] * SIZE[1])
    assert htc.per_log == pytest.approx(-flux / HTC, rel=0.02)


# -- channels from their geometry ------------------------------------------------------------
def test_laminar_correlations_hold_their_textbook_limits() -> None:
    """Shah and London: a square duct has Nu = 3.61 and f·Re = 14.23, parallel plates 8.235
    and 24."""
    assert laminar_nusselt(1.0) == pytest.approx(3.608, abs=5e-3)  # the fit's own error
    assert laminar_friction(1.0) == pytest.approx(14.227, abs=5e-3)
    assert laminar_nusselt(0.0) == 8.235 and laminar_friction(0.0) == 24.0


def channel_stack(width: float, pitch: float, height: float, flow: float) -> Stack:
    data = sandwich(flow=flow, lateral_k=50.0)
    cavity = data["layers"][1]
    del cavity["htc"], cavity["porosity"]
    cavity["thickness"] = height
    cavity["channels"] = {"width": width, "pitch": pitch}
    return stack_from_dict(data)


def test_thin_channels_drop_pressure_as_between_parallel_plates() -> None:
    """Channels 10 µm wide and 1 mm high are nearly parallel plates: the pressure drop is
    12·μ·Q·L / (w³·H) per channel, to the aspect-ratio correction of about 1.4 %."""
    width, pitch, height, flow = 1e-5, 1e-4, 1e-3, 1e-4
    stack = channel_stack(width, pitch, height, flow)
    layer = stack.layers[1]
    result = channel_flow(stack, layer)
    coolant = layer.coolant
    assert result.channels == pytest.approx(SIZE[1] / pitch)
    per_channel = flow / coolant.density / result.channels  # m³/s
    plates = 12 * coolant.viscosity * per_channel * SIZE[0] / (width**3 * height)
    assert result.pressure_drop == pytest.approx(plates, rel=0.02)
    assert result.pumping_power == pytest.approx(result.pressure_drop * flow / coolant.density)
    assert result.laminar


def test_channels_set_the_cavity_coefficient_and_porosity() -> None:
    """With channels the walls fill 1 - width/pitch of the layer and the coefficient per
    footprint is the film's (Nu·k/D_h) times the wetted perimeter per pitch; the solve then
    follows the series law of the first test with those values, and reports the hydraulics."""
    width, pitch, flow = 5e-5, 1e-4, 1e4  # a fast coolant: a fixed ambient
    stack = channel_stack(width, pitch, T_CAVITY, flow)
    layer = stack.layers[1]
    assert layer.solid_fraction == pytest.approx(0.5)
    d_h = 2 * width * T_CAVITY / (width + T_CAVITY)
    film = laminar_nusselt(width / T_CAVITY) * layer.coolant.conductivity / d_h
    assert layer.wall_htc == pytest.approx(film * 2 * (width + T_CAVITY) / pitch)
    result = solve(stack)
    flux = WATTS / (SIZE[0] * SIZE[1])
    walls = 0.5 * K_Z  # vertical conduction through the walls
    die = (T_DIE - T_DIE / DIE_CELLS / 2) / K_Z
    drop = flux * (1 / layer.wall_htc + (T_CAVITY / 2) / walls + die)
    assert result.temperature[-1].mean() == pytest.approx(INLET + drop, abs=2e-3)
    water = result.coolant_outlets()["cavity channels"]
    assert water["pressure_drop_pa"] > 0 and water["pumping_power_w"] > 0
    assert not water["laminar"]  # 10 t/s through these channels is far from laminar


@pytest.mark.parametrize(
    ("channels", "extra", "message"),
    [
        ({"width": 1e-4, "pitch": 1e-4}, {}, "leaves no wall"),
        ({"width": 5e-5, "pitch": 1e-4}, {"htc": 1e5}, "either 'channels'"),
    ],
)
def test_bad_channels_are_named(channels: dict, extra: dict, message: str) -> None:
    data = sandwich()
    cavity = data["layers"][1]
    del cavity["htc"], cavity["porosity"]
    cavity |= {"channels": channels} | extra
    with pytest.raises(StackError, match=message):
        stack_from_dict(data)


def test_a_flow_sweep_trades_temperature_for_pumping_power(tmp_path: Path) -> None:
    """Laminar channels: the pressure drop grows with the flow and the pumping power with its
    square, while the peak falls."""
    from chiptherm.analysis.sweep import sweep_stack
    from chiptherm.description.stack_io import save_stack

    path = save_stack(channel_stack(5e-5, 1e-4, T_CAVITY, FLOW), tmp_path / "c.yaml")
    flows = [FLOW, 2 * FLOW, 4 * FLOW]
    study = sweep_stack(path, [("layers.channels.coolant.flow_rate", flows)])
    pumping = [p.pumping_w for p in study.points]
    assert study.pumped and pumping[1] == pytest.approx(4 * pumping[0], rel=1e-9)
    assert pumping[2] == pytest.approx(16 * pumping[0], rel=1e-9)
    peaks = [p.peak_k for p in study.points]
    assert peaks[0] > peaks[1] > peaks[2]
    assert all("pumping_w" in row for row in study.rows())
