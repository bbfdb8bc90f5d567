"""Temperature-dependent conductivity: the analytic slab, energy balance, and where it is
refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from chiptherm import solve, stack_from_dict
from chiptherm.analysis.compact import resistance_matrix
from chiptherm.cli import app
from chiptherm.description.stack_io import save_stack
from chiptherm.discretize.homogenize import homogenized
from chiptherm.discretize.system import System
from chiptherm.errors import InputError, SolverError, StackError
from chiptherm.formats.loading import load_stack
from chiptherm.solvers.nonlinear import solve_nonlinear
from tests.conftest import EXAMPLES

K0, N, T_REF, T_BASE, L, SIDE, WATTS = 148.0, -1.3, 300.0, 300.0, 1e-3, 1e-3, 8.0


def slab(exponent: float, cells: int):
    """Silicon-like k = K0 (T/300)^exponent, heated through its top face, bottom at 300 K."""
    silicon = {"conductivity": K0, "temperature_exponent": exponent, "reference_temperature": T_REF}
    return stack_from_dict(
        {
            "name": "slab",
            "size": [SIDE, SIDE],
            "materials": {"si": silicon},
            "layers": [{"name": "body", "thickness": L, "material": "si", "cells": cells}],
            "power": {
                "p": {
                    "blocks": [
                        {
                            "name": "all",
                            "x": 0,
                            "y": 0,
                            "width": SIDE,
                            "height": SIDE,
                            "watts": WATTS,
                        }
                    ]
                }
            },
            "boundaries": {"bottom": {"temperature": T_BASE}, "top": {"power": "p"}},
            "grid": {"nx": 2, "ny": 2},
        }
    )


def kirchhoff_profile(z: np.ndarray) -> np.ndarray:
    """k(T) dT/dz = q'' integrates to K0 T_REF/(N+1) [(T/T_REF)^(N+1) - (T_BASE/T_REF)^(N+1)]
    = q'' z (z up from the held base)."""
    flux = WATTS / SIDE**2
    inner = (T_BASE / T_REF) ** (N + 1) + (N + 1) * flux * z / (K0 * T_REF)
    return T_REF * inner ** (1 / (N + 1))


def test_the_slab_converges_at_second_order_to_the_kirchhoff_solution():
    errors = []
    for cells in (50, 100):
        result = solve(slab(N, cells))
        exact = kirchhoff_profile(result.grid.z)
        errors.append(float(np.abs(result.temperature[:, 0, 0] - exact).max()))
        assert 4 <= result.info.nonlinear_steps <= 15
    assert errors[1] < 5e-4
    assert np.log2(errors[0] / errors[1]) == pytest.approx(2.0, abs=0.1)
    # and it matters: constant k at 300 K leaves the top 7 K cooler
    constant = solve(slab(0.0, 100))
    assert constant.info.nonlinear_steps == 0
    assert solve(slab(N, 100)).max_temperature - constant.max_temperature > 6.0


@pytest.fixture(scope="module")
def hot_two_die():
    data = yaml.safe_load((EXAMPLES / "two_die.yaml").read_text())
    data["grid"] = {"nx": 24, "ny": 24}
    data.setdefault("materials", {})["silicon"] = {"conductivity": 148.0, "temperature_exponent": N}
    return stack_from_dict(data)


def test_a_3d_stack_balances_energy_and_solves_its_own_nonlinear_system(hot_two_die):
    result = solve(hot_two_die)
    assert result.info.nonlinear_steps >= 3
    assert result.balance.relative_error < 1e-9
    # the returned field solves the system assembled at itself, not just the last frozen one
    at_result = System.from_stack(hot_two_die, temperature=result.temperature)
    assert at_result.relative_residual(result.temperature) < 1e-8
    assert result.info.relative_residual == pytest.approx(
        at_result.relative_residual(result.temperature)
    )
    # silicon above 300 K conducts worse than its 148 W/(m·K) at 300 K
    frozen = solve(hot_two_die, kelvin_tol=np.inf)  # one step: k at the reference
    assert frozen.info.nonlinear_steps == 1
    assert result.max_temperature > frozen.max_temperature + 0.5


def test_a_warm_start_at_the_answer_needs_two_steps_and_divergence_is_an_error(hot_two_die):
    answer = solve(hot_two_die)
    again = solve_nonlinear(hot_two_die, x0=answer.temperature)
    # the second step confirms the contraction: nothing is left to move
    assert len(again.changes) == 2 and max(again.changes) < 1e-6
    assert again.info.warm_start
    with pytest.raises(SolverError, match="did not converge in 2 steps"):
        solve_nonlinear(hot_two_die, max_steps=2)


def test_stack_files_keep_the_exponent_and_bad_values_are_named(tmp_path, hot_two_die):
    path = tmp_path / "hot.yaml"
    save_stack(hot_two_die, path)
    assert load_stack(path).material("silicon").temperature_exponent == N
    assert load_stack(path).temperature_dependent_materials == ["silicon"]
    plain = tmp_path / "plain.yaml"
    save_stack(slab(0.0, 4), plain)
    assert "temperature_exponent" not in plain.read_text()
    bad = yaml.safe_load(path.read_text())
    bad["materials"]["silicon"]["reference_temperature"] = -5
    with pytest.raises(StackError, match=r"materials.silicon.reference_temperature"):
        stack_from_dict(bad)


def test_linear_only_tools_refuse_temperature_dependent_stacks(hot_two_die):
    with pytest.raises(
        InputError, match=r"linear in the power, and the conductivity of 'silicon' depend"
    ):
        resistance_matrix(hot_two_die)
    data = yaml.safe_load((EXAMPLES / "tsv_array.yaml").read_text())
    data["materials"] = {"copper": {"conductivity": 400.0, "temperature_exponent": -0.1}}
    with pytest.raises(InputError, match=r"layer 'bond'.*'copper' depends on the temperature"):
        homogenized(stack_from_dict(data))


def test_solve_command_reports_the_fixed_point_steps(tmp_path, hot_two_die):
    path = tmp_path / "hot.yaml"
    save_stack(hot_two_die, path)
    res = CliRunner().invoke(app, ["solve", str(path), "--no-files"])
    assert res.exit_code == 0, res.output
    assert "fixed-point steps" in res.output


# -- leakage ------------------------------------------------------------------------------
H_PLATE, AREA, T_AIR, BETA, DYNAMIC = 5000.0, 1e-4, 300.0, 0.02, 10.0


def plate(fraction: float, nx: int = 1):
    """A thin copper plate cooled from below, 10 W of dynamic power leaking ``fraction`` of it
    at 300 K, the leakage growing as exp(0.02 (T - 300))."""
    side = AREA**0.5
    return stack_from_dict(
        {
            "name": "plate",
            "size": [side, side],
            "ambient": T_AIR,
            "layers": [{"name": "die", "thickness": 1e-4, "material": "copper", "power": "p"}],
            "power": {
                "p": {
                    "blocks": [
                        {
                            "name": "all",
                            "x": 0,
                            "y": 0,
                            "width": side,
                            "height": side,
                            "watts": DYNAMIC,
                        }
                    ],
                    "leakage": {"fraction": fraction, "coefficient": BETA},
                }
            },
            "boundaries": {"bottom": {"htc": H_PLATE}},
            "grid": {"nx": nx, "ny": nx},
        }
    )


def test_leakage_of_a_lumped_plate_is_the_stable_root_of_its_heat_balance():
    from scipy.optimize import brentq

    # one cell: G (T - T_air) = P (1 + f exp(beta (T - 300))), G the film and the half-cell
    fraction = 0.2
    conductance = AREA / (1 / H_PLATE + 0.5e-4 / 400.0)
    leaked = fraction * DYNAMIC

    def imbalance(t: float) -> float:
        return conductance * (t - T_AIR) - DYNAMIC - leaked * np.exp(BETA * (t - 300.0))

    turning = 300.0 + np.log(conductance / (BETA * leaked)) / BETA  # the unstable root beyond
    stable = brentq(imbalance, T_AIR, turning, xtol=1e-12)
    result = solve(plate(fraction))
    assert result.max_temperature == pytest.approx(stable, abs=1e-6)
    assert result.leakage_w == pytest.approx(leaked * np.exp(BETA * (stable - 300.0)), rel=1e-6)
    # the last step froze the leakage within 1e-6 K of the answer: balanced to about 1e-9
    assert result.balance.relative_error < 1e-7
    assert result.summary()["energy"]["leakage"] == result.leakage_w
    # three times the leakage has no steady state at all: thermal runaway
    assert (
        imbalance(turning) > 0
        and max(
            conductance * (t - T_AIR) - DYNAMIC - 3 * DYNAMIC * np.exp(BETA * (t - 300.0))
            for t in np.linspace(T_AIR, 1000.0, 200)
        )
        < 0
    )
    with pytest.raises(SolverError, match="thermal runaway"):
        solve(plate(3.0))


def test_leakage_in_a_3d_stack_follows_the_local_temperature():
    data = yaml.safe_load((EXAMPLES / "two_die.yaml").read_text())
    data["grid"] = {"nx": 24, "ny": 24}
    data["power"]["die1"]["leakage"] = {"fraction": 0.2, "coefficient": 0.01}
    leaky = stack_from_dict(data)
    result = solve(leaky)
    assert result.balance.relative_error < 1e-7
    assert result.info.relative_residual < 1e-7
    # the reported leakage is the local law summed over the cells of the answer
    from chiptherm.discretize.system import source_field

    dynamic = source_field(leaky, result.grid, "die1")
    expected = float((0.2 * dynamic * np.exp(0.01 * (result.temperature - 300.0))).sum())
    assert result.leakage_w == pytest.approx(expected, rel=1e-9)
    plain = solve(
        leaky.with_power("die1", leaky.power["die1"].model_copy(update={"leakage": None}))
    )
    assert result.leakage_w > 0.2 * 38.0 * 1.2  # more than at 300 K: the die runs hot
    assert result.max_temperature > plain.max_temperature + 5.0
    # with temperature-dependent silicon as well, both feedbacks in one iteration
    data["materials"] = {"silicon": {"conductivity": 148.0, "temperature_exponent": N}}
    both = solve(stack_from_dict(data))
    assert both.balance.relative_error < 1e-7 and both.info.relative_residual < 1e-7
    assert both.max_temperature > result.max_temperature


def test_leakage_is_saved_validated_and_refused_where_linearity_is_needed(tmp_path):
    stack = plate(0.2, nx=4)
    path = tmp_path / "plate.yaml"
    save_stack(stack, path)
    assert load_stack(path).power["p"].leakage == stack.power["p"].leakage
    assert "leakage" not in (save_stack(slab(0.0, 4), tmp_path / "s.yaml").read_text())
    bad = yaml.safe_load(path.read_text())
    bad["power"]["p"]["leakage"]["coefficient"] = 0
    with pytest.raises(StackError, match=r"power.p.leakage.coefficient"):
        stack_from_dict(bad)
    with pytest.raises(InputError, match=r"and the leakage of 'p' depend"):
        resistance_matrix(stack)


def test_near_runaway_the_iteration_stops_on_the_distance_left_not_the_last_change():
    from scipy.optimize import brentq

    from chiptherm.solvers.nonlinear import distance_left

    # a geometric tail d, d·ρ, d·ρ², ... sums to d·ρ/(1-ρ) beyond the last step
    assert distance_left([float("inf"), 1.0, 0.9]) == pytest.approx(0.9 * 0.9 / 0.1)
    assert distance_left([float("inf"), 1.0]) == float("inf")
    assert distance_left([1.0, 1.5]) == float("inf")
    # a plate whose loop gain at the stable root is 0.92: each step removes only 8 %
    fraction = 0.614
    conductance = AREA / (1 / H_PLATE + 0.5e-4 / 400.0)

    def imbalance(t: float) -> float:
        leak = fraction * DYNAMIC * np.exp(BETA * (t - 300.0))
        return conductance * (t - T_AIR) - DYNAMIC - leak

    turning = 300.0 + np.log(conductance / (BETA * fraction * DYNAMIC)) / BETA
    stable = brentq(imbalance, T_AIR, turning, xtol=1e-12)
    gain = BETA * fraction * DYNAMIC * np.exp(BETA * (stable - 300.0)) / conductance
    assert 0.9 < gain < 0.95
    result = solve(plate(fraction))
    assert result.info.nonlinear_steps > 100
    assert abs(result.max_temperature - stable) < 1e-6  # a last change of 1e-6 K left ~1e-5 K


def test_the_runaway_margin_brackets_the_lumped_plate_s_fold():
    from scipy.optimize import brentq

    from chiptherm.solvers.nonlinear import runaway_margin

    # a scale s of the power keeps a steady state while G (T - T_air) = s P (1 + f e^(β(T-300)))
    # has a root; at the fold the two sides touch: T = T_air + s P / G + 1/β there
    fraction = 0.2
    conductance = AREA / (1 / H_PLATE + 0.5e-4 / 400.0)

    def touching(s: float) -> float:
        t = T_AIR + s * DYNAMIC / conductance + 1 / BETA
        return s * DYNAMIC * fraction * BETA * np.exp(BETA * (t - 300.0)) - conductance

    fold = brentq(touching, 0.1, 10.0, xtol=1e-12)
    margin = runaway_margin(plate(fraction), rel_tol=0.002)
    assert margin.stable_scale <= fold <= margin.runaway_scale * 1.002
    assert margin.runaway_scale - margin.stable_scale <= 0.002 * margin.stable_scale
    assert [ok for _, ok in margin.trials[:1]] == [True]
    with pytest.raises(SolverError, match="needs a power source with 'leakage'"):
        runaway_margin(slab(0.0, 4))
    with pytest.raises(SolverError, match="runs away as given"):
        runaway_margin(plate(3.0))


def test_solve_reports_the_runaway_margin(tmp_path):
    path = save_stack(plate(0.2), tmp_path / "plate.yaml")
    res = CliRunner().invoke(app, ["solve", str(path), "--no-files", "--runaway-margin"])
    assert res.exit_code == 0, res.output
    assert "thermal runaway margin: all power may grow by" in res.output
    doc = CliRunner().invoke(app, ["solve", str(path), "--no-files", "--runaway-margin", "--json"])
    margin = json.loads(doc.stdout)["runaway_margin"]
    assert 1.0 < margin["stable_scale"] < margin["runaway_scale"]
    linear = save_stack(slab(0.0, 4), tmp_path / "slab.yaml")
    refused = CliRunner().invoke(app, ["solve", str(linear), "--runaway-margin", "--no-files"])
    assert refused.exit_code == 1 and "has no power source with 'leakage'" in refused.output


def test_idle_blocks_leak_their_own_leakage_w(tmp_path):
    # the plate's 10 W leaking 20 % is the same plate with an idle block leaking 2 W
    by_fraction = solve(plate(0.2))
    data = yaml.safe_load(save_stack(plate(0.2), tmp_path / "p.yaml").read_text())
    assert "leakage_w" not in (tmp_path / "p.yaml").read_text()  # zeros are not written
    side = AREA**0.5
    data["power"]["p"]["leakage"]["fraction"] = 0.0
    data["power"]["p"]["blocks"] = [
        {"name": "busy", "x": 0, "y": 0, "width": side, "height": side, "watts": DYNAMIC},
        {
            "name": "idle",
            "x": 0,
            "y": 0,
            "width": side,
            "height": side,
            "watts": 0.0,
            "leakage_w": 0.2 * DYNAMIC,
        },
    ]
    by_block = solve(stack_from_dict(data))
    assert by_block.max_temperature == pytest.approx(by_fraction.max_temperature, abs=1e-8)
    assert by_block.leakage_w == pytest.approx(by_fraction.leakage_w, rel=1e-9)
    del data["power"]["p"]["leakage"]
    with pytest.raises(StackError, match="'leakage_w' but the source has no 'leakage'"):
        stack_from_dict(data)
