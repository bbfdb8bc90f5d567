"""Transient runs: the lumped RC law and its discrete forms, the heated slab's Fourier series,
the energy balance, the steady limit, leakage against the integrated nonlinear law and its
runaway, a warming coolant, power traces and their errors."""

from __future__ import annotations

import itertools
import json
import math
import re

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from typer.testing import CliRunner

from chiptherm.analysis.compact import block_inputs
from chiptherm.cli import app
from chiptherm.description.stack_io import save_stack, stack_from_dict
from chiptherm.errors import InputError
from chiptherm.solvers.result import solve
from chiptherm.transient import (
    PowerTrace,
    crossing,
    read_power_trace,
    simulate,
    step_times,
    time_to_value,
)
from tests.conftest import example

SIDE, THICK, K, RHO_C, H, WATTS, AMBIENT = 2e-3, 1e-4, 400.0, 3.45e6, 2.0e4, 1.0, 300.0


def plate(cells: int = 1) -> dict:
    """A thin copper plate heated through its volume, cooled through its bottom face."""
    return {
        "name": "plate",
        "size": [SIDE, SIDE],
        "ambient": AMBIENT,
        "materials": {"cu": {"conductivity": K, "heat_capacity": RHO_C}},
        "layers": [
            {"name": "plate", "thickness": THICK, "material": "cu", "cells": cells, "power": "p"}
        ],
        "power": {
            "p": {
                "blocks": [
                    {"name": "all", "x": 0.0, "y": 0.0, "width": SIDE, "height": SIDE, "watts": 1}
                ]
            }
        },
        "boundaries": {"bottom": {"htc": H}},
        "grid": {"nx": 2, "ny": 2},
    }


def lumped_constants() -> tuple[float, float]:
    """(time constant s, steady rise K) of the one-cell plate: its capacity over its
    conductance to ambient, the film in series with half the plate."""
    area = SIDE * SIDE
    conductance = 1.0 / (1.0 / (H * area) + THICK / 2 / (K * area))
    return RHO_C * area * THICK / conductance, WATTS / conductance


def test_backward_euler_follows_its_discrete_law_exactly():
    """One cell: C·(T_{n+1} - T_n)/Δt = P - G·(T_{n+1} - T_a), so the rise's distance to the
    steady one shrinks by 1/(1 + Δt/τ) each step."""
    tau, rise = lumped_constants()
    dt = tau / 7
    result = simulate(stack_from_dict(plate()), duration=3 * tau, dt=dt, scheme="euler")
    n = np.arange(len(result.times))
    expected = AMBIENT + rise * (1 - (1 + dt / tau) ** -n)
    assert result.peak_k == pytest.approx(expected, abs=1e-9 * rise)
    assert result.steady_peak_k == pytest.approx(AMBIENT + rise, rel=1e-12)


def test_a_stack_powered_by_maps_alone_switches_them_on():
    """With no blocks to switch, the step response starts from no power at all: the plate
    heated by a power map rises along the same exponential as with a block."""
    tau, rise = lumped_constants()
    data = plate()
    data["power"]["p"] = {"map": [[WATTS / 4, WATTS / 4], [WATTS / 4, WATTS / 4]]}
    result = simulate(stack_from_dict(data), frames=0)
    assert result.peak_k[0] == pytest.approx(AMBIENT)
    exact = AMBIENT + rise * (1 - np.exp(-result.times / tau))
    assert result.peak_k == pytest.approx(exact, abs=3e-4 * rise)


@pytest.mark.parametrize(("scheme", "order"), [("euler", 1), ("bdf2", 2)])
def test_the_schemes_converge_to_the_exponential_at_their_order(scheme, order):
    """T(t) = T_a + ΔT·(1 - exp(-t/τ)): halving Δt divides the error by 2^order."""
    tau, rise = lumped_constants()
    stack = stack_from_dict(plate())
    errors = []
    for steps in (40, 80, 160):
        result = simulate(stack, duration=2 * tau, dt=2 * tau / steps, scheme=scheme)
        exact = AMBIENT + rise * (1 - np.exp(-result.times / tau))
        errors.append(np.abs(result.peak_k - exact).max())
    rates = [math.log2(a / b) for a, b in itertools.pairwise(errors)]
    assert rates == pytest.approx([order, order], abs=0.15)
    assert errors[-1] < (0.01 if order == 1 else 2e-4) * rise


def test_doubling_steps_keep_the_second_order():
    """A step response changes over decades of time: steps from duration/10⁵ that double
    every 25 steps (up to duration/100) follow the exponential to 3e-4 of the rise in 325
    steps, and doubling every 50 (each step about halved) cuts the error about fourfold."""
    tau, rise = lumped_constants()
    stack = stack_from_dict(plate())
    errors = []
    for every in (25, 50):
        result = simulate(stack, double_every=every)  # six time constants by default
        assert result.times[-1] == pytest.approx(6 * tau, rel=1e-9)
        exact = AMBIENT + rise * (1 - np.exp(-result.times / tau))
        errors.append(np.abs(result.peak_k - exact).max())
    assert errors[0] < 3e-4 * rise
    assert errors[1] < 0.4 * errors[0]
    assert simulate(stack).times.size == 326  # the default for a step response


def test_step_times_double_up_to_a_hundredth_of_the_run():
    times = step_times(1.0, None, 25)
    steps = np.diff(times)
    assert times[0] == 0.0 and times[-1] == pytest.approx(1.0)
    assert steps[:25] == pytest.approx(np.full(25, 1e-5))
    assert steps[25:50] == pytest.approx(np.full(25, 2e-5))
    assert steps.max() == pytest.approx(0.01)
    assert np.all(steps[:-2] <= steps[1:-1] * (1 + 1e-9))  # the last one lands on 1 s
    uneven = step_times(1.0, 0.3, 0)  # the last step lands on the duration
    assert uneven == pytest.approx([0.0, 0.3, 0.6, 0.9, 1.0])


def test_a_short_trace_restarts_its_doubling_steps_at_every_change():
    """Without a step, a trace of few rows steps from 10⁻⁵ of the run again after each change
    of power, with a step ending on it, and follows the piecewise exponential to 3e-4 of the
    rise; 400 uniform steps straddle the changes and miss by far more."""
    tau, rise = lumped_constants()
    stack = stack_from_dict(plate())
    starts, watts = np.array([0.0, 2 * tau, 2.5 * tau]), np.array([[1.0], [0.0], [2.0]])
    trace = PowerTrace(starts, watts, block_inputs(stack))
    result = simulate(stack, trace, duration=5 * tau, frames=0)
    for change in starts[1:]:
        at = int(np.argmin(np.abs(result.times - change)))
        assert result.times[at] == pytest.approx(change, rel=1e-12)
        assert result.times[at + 1] - result.times[at] == pytest.approx(5 * tau * 1e-5)

    def exact(times: np.ndarray) -> np.ndarray:
        rise_now = np.zeros_like(times)
        level = 0.0
        edges = [*starts, np.inf]
        for (start, end), w in zip(itertools.pairwise(edges), watts[:, 0], strict=True):
            inside = (times >= start) & (times <= end)
            rise_now[inside] = w * rise + (level - w * rise) * np.exp(
                -(times[inside] - start) / tau
            )
            level = w * rise + (level - w * rise) * np.exp(-(min(end, 5 * tau) - start) / tau)
        return AMBIENT + rise_now

    error = np.abs(result.peak_k - exact(result.times)).max()
    assert error < 3e-4 * rise
    uniform = simulate(stack, trace, duration=5 * tau, double_every=0, frames=0)
    assert np.abs(uniform.peak_k - exact(uniform.times)).max() > 10 * error


def test_the_maximum_principle_holds_for_euler_and_for_bdf2_on_resolved_steps():
    """With powers ≥ 0 from the idle state the temperature never leaves [ambient, steady rise]
    (the maximum principle). Backward Euler keeps it at any step; BDF2 keeps it on the default
    steps, which start again at 10⁻⁵ of the run after every change, but on uniform steps
    longer than the time constant it overshoots the new level right after a switch, by up to
    3 % of the change (about 2 % here, below the ambient when the power goes off)."""
    tau, rise = lumped_constants()
    stack = stack_from_dict(plate())
    starts, watts = np.array([0.0, 20 * tau, 40 * tau]), np.array([[1.0], [0.0], [1.0]])
    trace = PowerTrace(starts, watts, block_inputs(stack))

    def excursion(**options) -> tuple[float, float]:
        """How far the plate goes below the ambient and above the steady rise, in rises."""
        run = simulate(stack, trace, duration=60 * tau, frames=0, **options)
        return (AMBIENT - run.peak_k.min()) / rise, (run.peak_k.max() - AMBIENT - rise) / rise

    for ratio in (0.5, 2.0, 7.2):
        low, high = excursion(dt=ratio * tau, double_every=0, scheme="euler")
        assert low <= 1e-12 and high <= 1e-12
    low, high = excursion()  # BDF2 on the restarted doubling steps
    assert low <= 1e-9 and high <= 1e-9
    low, high = excursion(dt=5 * tau, double_every=0, scheme="bdf2")
    assert 0.01 < low < 0.03 and 0.01 < high < 0.03


def test_a_slab_heated_from_above_follows_its_fourier_series():
    """Bottom held at T0, a flux q'' into the top from t = 0: the rise at height z is
    q''·z/k - sum_n 2·q''·(-1)^n/(k·L·β_n²)·sin(β_n·z)·exp(-α·β_n²·t), β_n = (n + 1/2)·π/L."""
    k, rho_c, thick, side, watts = 2.0, 1.6e6, 1e-3, 1e-3, 0.01
    stack = stack_from_dict(
        {
            "name": "slab",
            "size": [side, side],
            "materials": {"m": {"conductivity": k, "heat_capacity": rho_c}},
            "layers": [{"name": "body", "thickness": thick, "material": "m", "cells": 100}],
            "power": {"q": {"blocks": [{"name": "all", "x": 0, "y": 0, "width": side,
                                        "height": side, "watts": watts}]}},
            "boundaries": {"top": {"power": "q"}, "bottom": {"temperature": AMBIENT}},
            "grid": {"nx": 2, "ny": 2},
        }
    )  # fmt: skip
    alpha, flux = k / rho_c, watts / side**2
    diffusion = thick**2 / alpha
    result = simulate(stack, duration=0.5 * diffusion, dt=diffusion / 2000, frames=4)
    z = result.grid.z
    beta = (np.arange(400) + 0.5) * math.pi / thick
    for t, field in zip(result.frame_times[1:], result.frames[1:], strict=True):
        series = (2 * flux * (-1.0) ** np.arange(400) / (k * thick * beta**2))[:, None] * (
            np.sin(np.outer(beta, z)) * np.exp(-alpha * beta**2 * t)[:, None]
        )
        exact = AMBIENT + flux * z / k - series.sum(axis=0)
        column = field[:, 0, 0]
        assert column == pytest.approx(exact, abs=2e-3 * flux * thick / k)


def test_energy_is_conserved_step_by_step_and_over_the_run():
    """Power in = stored energy change + heat out, for every step of a trace that doubles the
    power and then switches it off, on the non-uniform two-die stack; over the run, backward
    Euler's sum of (P - Q)·Δt is the stored energy exactly."""
    stack = example("two_die", 12, 12)
    blocks = block_inputs(stack)
    watts = np.tile([b.block.watts for b in blocks], (3, 1)) * np.array([[1.0], [2.0], [0.0]])
    trace = PowerTrace(np.array([0.0, 0.01, 0.02]), watts, blocks)
    dt = 5e-4
    assert simulate(stack, trace, duration=0.03, dt=dt, scheme="bdf2").balance_error < 1e-8
    result = simulate(stack, trace, duration=0.03, dt=dt, scheme="euler")
    assert result.balance_error < 1e-8
    net = np.cumsum(result.power_w[1:] - result.heat_out_w[1:]) * dt
    assert net == pytest.approx(result.stored_j[1:], rel=1e-8, abs=1e-9 * result.stored_j.max())
    assert result.power_w[21] == pytest.approx(2 * result.power_w[20])  # the rows as given
    assert result.power_w[-1] == pytest.approx(0.0, abs=1e-12)


def test_a_long_run_ends_at_the_steady_state_and_cooling_returns_to_idle():
    stack = example("two_die", 16, 16)
    steady = solve(stack)
    result = simulate(stack, frames=1)  # six time constants E/P by default
    rise = steady.max_temperature - result.peak_k[0]
    assert result.steady_peak_k == pytest.approx(steady.max_temperature, abs=1e-8)
    assert result.peak_k[-1] == pytest.approx(steady.max_temperature, abs=0.005 * rise)
    assert np.all(np.diff(result.peak_k) > -1e-9)  # a step response rises monotonically
    # the times to 63 %, 90 % and 99 % are ordered, and the peak crosses them there
    t63, t90, t99 = (result.time_to(f) for f in (1 - math.exp(-1), 0.9, 0.99))
    assert 0 < t63 < t90 < t99 < result.times[-1]
    assert result.summary()["time_to_90_s"] == t90
    # start from the heated state with the power off: back to the idle state
    off = PowerTrace(np.zeros(1), np.zeros((1, len(result.labels))), block_inputs(stack))
    cooled = simulate(stack, off, duration=result.times[-1] * 2, initial=result.temperature)
    assert cooled.peak_k[-1] == pytest.approx(result.peak_k[0], abs=0.005 * rise)


def leaky_plate(fraction: float, coefficient: float) -> dict:
    data = plate()
    data["power"]["p"]["leakage"] = {"fraction": fraction, "coefficient": coefficient}
    return data


def lumped_leaky_law(fraction: float, coefficient: float, end: float):
    """The one-cell plate with leakage, C·dT/dt = P·(1 + f·exp(β·(T - T_a))) - G·(T - T_a),
    integrated by scipy to 1e-10 (up to 800 K)."""
    tau, rise = lumped_constants()
    conductance = WATTS / rise
    capacity = tau * conductance

    def rate(_t, t):
        leak = fraction * WATTS * np.exp(coefficient * (t[0] - AMBIENT))
        return [(WATTS + leak - conductance * (t[0] - AMBIENT)) / capacity]

    def hot(_t, t):
        return t[0] - 800.0

    hot.terminal = True
    return solve_ivp(
        rate, (0, end), [AMBIENT], method="Radau", rtol=1e-10, atol=1e-9, dense_output=True,
        events=hot,
    )  # fmt: skip


def test_leakage_is_taken_at_each_step_s_own_temperature():
    """A leaky one-cell plate follows the integrated nonlinear law to 2e-4 of its rise, and
    rises higher and slower than without leakage; the energy balance holds to the fixed-point
    iteration's tolerance."""
    result = simulate(stack_from_dict(leaky_plate(0.3, 0.02)), frames=0)
    law = lumped_leaky_law(0.3, 0.02, result.times[-1])
    rise = result.peak_k.max() - AMBIENT
    assert np.abs(result.peak_k - law.sol(result.times)[0]).max() < 2e-4 * rise
    assert result.method.endswith("+ fixed point")
    assert result.balance_error < 1e-6
    assert result.runaway_s is None
    _, linear_rise = lumped_constants()
    assert rise > 1.3 * linear_rise * WATTS


def test_a_leaky_stack_without_a_steady_state_runs_away_when_the_law_blows_up():
    """With a strong leakage there is no steady state: the run ends at thermal runaway,
    within 1 % of the time at which the integrated law blows up; a step response then needs
    a duration."""
    stack = stack_from_dict(leaky_plate(0.5, 0.05))
    tau, _ = lumped_constants()
    with pytest.raises(InputError, match="no steady state at this power"):
        simulate(stack)
    result = simulate(stack, duration=20 * tau, dt=tau / 200, frames=0)
    law = lumped_leaky_law(0.5, 0.05, 20 * tau)
    blow_up = law.t_events[0][0]
    assert result.runaway_s == pytest.approx(blow_up, rel=0.01)
    assert math.isnan(result.steady_peak_k) and result.summary()["steady_peak_k"] is None
    early = result.times < 0.8 * blow_up
    assert result.peak_k[early] == pytest.approx(law.sol(result.times[early])[0], abs=0.05)


def test_a_warming_coolant_stack_settles_at_its_fixed_point():
    """The cold plate (water warming along its flow) rises to the steady fixed-point solve;
    the heat into the water counts as heat out in the balance."""
    stack = example("cold_plate", 16, 8)
    result = simulate(stack, frames=0, double_every=10)
    steady = solve(stack)
    rise = steady.max_temperature - result.peak_k[0]
    assert result.steady_peak_k == pytest.approx(steady.max_temperature, abs=1e-5)
    assert result.peak_k[-1] == pytest.approx(steady.max_temperature, abs=0.005 * rise)
    assert result.balance_error < 1e-6
    assert result.heat_out_w[-1] == pytest.approx(result.power_w[-1], rel=0.005)


def test_a_limit_is_reached_and_left_when_the_exponentials_say():
    """The plate heated for 2τ, then cooled: it reaches half its rise after τ·ln 2 and stays
    above it for 2τ + τ·ln(1 - e⁻²) (until the cooling brings it back down)."""
    tau, rise = lumped_constants()
    stack = stack_from_dict(plate())
    trace = PowerTrace(np.array([0.0, 2 * tau]), np.array([[1.0], [0.0]]), block_inputs(stack))
    result = simulate(stack, trace, duration=4 * tau, frames=0)
    limit = AMBIENT + 0.5 * rise
    peak, block = result.crossings(limit, {"all": limit})
    assert peak.first_s == pytest.approx(tau * math.log(2), rel=1e-3)
    assert peak.above_s == pytest.approx(2 * tau + tau * math.log(1 - math.exp(-2)), rel=1e-3)
    assert peak.highest_k == pytest.approx(AMBIENT + rise * (1 - math.exp(-2)), abs=3e-4 * rise)
    assert block.what == "all" and block.first_s == pytest.approx(peak.first_s)
    never = result.crossings(AMBIENT + rise)[0]
    assert never.first_s is None and never.above_s == 0.0
    with pytest.raises(InputError, match="--limit nope: no such block; the blocks are all"):
        result.crossings(None, {"nope": 350.0})


def test_crossing_counts_the_time_above_between_steps():
    times = np.array([0.0, 1.0, 2.0, 3.0])
    above = crossing(times, np.array([0.0, 2.0, 2.0, 0.0]), 1.0, "x")
    assert above.first_s == pytest.approx(0.5) and above.above_s == pytest.approx(2.0)
    hot_start = crossing(times, np.array([3.0, 0.0, 0.0, 0.0]), 1.0, "x")
    assert hot_start.first_s == 0.0 and hot_start.above_s == pytest.approx(2 / 3)


def test_time_to_value_interpolates_between_steps():
    times = np.array([0.0, 1.0, 2.0])
    assert time_to_value(times, np.array([0.0, 2.0, 3.0]), 1.0) == pytest.approx(0.5)
    assert time_to_value(times, np.array([5.0, 3.0, 1.0]), 2.0) == pytest.approx(1.5)
    assert time_to_value(times, np.array([0.0, 1.0, 1.5]), 2.0) is None


def test_refusals_name_what_is_missing(tmp_path):
    data = plate()
    data["materials"]["cu"].pop("heat_capacity")
    with pytest.raises(InputError, match=r"materials.cu: no heat_capacity .* layer 'plate'"):
        simulate(stack_from_dict(data))
    with pytest.raises(InputError, match="dt: expected a positive"):
        simulate(stack_from_dict(plate()), duration=1.0, dt=-1.0)
    with pytest.raises(InputError, match="initial: a field of shape"):
        simulate(stack_from_dict(plate()), duration=1.0, initial=np.ones((2, 2, 2)))
    with pytest.raises(InputError, match="initial: expected 'idle', 'first' or a field"):
        simulate(stack_from_dict(plate()), duration=1.0, initial="hot")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="scheme: expected one of bdf2, euler, got 'rk4'"):
        simulate(stack_from_dict(plate()), duration=1.0, scheme="rk4")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="double_every: expected 0"):
        simulate(stack_from_dict(plate()), duration=1.0, double_every=-1)
    with pytest.raises(InputError, match="duration: expected a positive time in s, got -1"):
        simulate(stack_from_dict(plate()), duration=-1.0)
    idle = plate()
    idle["power"]["p"]["blocks"][0]["watts"] = 0.0
    with pytest.raises(InputError, match="the blocks carry no power; give the duration in s"):
        simulate(stack_from_dict(idle))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("time,nope\n0,1\n", r"trace.csv:1: column 2: unknown block 'nope'"),
        ("all\n1\n", r"trace.csv:1: no 'time' column"),
        ("time,all\n0,1\n0,2\n", r"trace.csv:3: column 1 \(time\): 0 s does not come after"),
        ("time,all\n1,1\n", r"trace.csv:2: column 1 \(time\): the first row must start at 0"),
        ("time,all\n0,-1\n", r"trace.csv:2: column 2 \(all\): expected a power of at least 0"),
        ("time,all\n0,x\n", r"trace.csv:2: column 2 \(all\): 'x' is not a number \(W\)"),
        ("time,all\n0\n", r"trace.csv:2: 1 values, expected 2"),
        ("time,all\n", r"trace.csv: no rows below the header"),
    ],
)
def test_trace_errors_name_the_line_and_column(tmp_path, text, message):
    path = tmp_path / "trace.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_power_trace(path, stack_from_dict(plate()))


def test_cli_runs_a_trace_and_writes_its_files(tmp_path):
    stack_path = save_stack(stack_from_dict(plate()), tmp_path / "plate.yaml")
    tau, rise = lumped_constants()
    trace = tmp_path / "trace.csv"
    trace.write_text(f"time,all\n0,1\n{2 * tau},0\n")
    out = tmp_path / "run"
    res = CliRunner().invoke(
        app,
        ["transient", str(stack_path), "--trace", str(trace), "--dt", str(tau / 50), "--out",
         str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    for name in ("transient.json", "transient.csv", "transient.png", "fields.npz", "index.html"):
        assert (out / name).is_file(), name
    assert 'src="transient.png"' in (out / "index.html").read_text()
    summary = json.loads((out / "transient.json").read_text())
    # heated for 2τ: the peak reaches 1 - e^-2 of the rise, then cools for 2τ
    assert summary["max_peak_k"] == pytest.approx(AMBIENT + rise * (1 - math.exp(-2)), rel=1e-4)
    assert summary["max_peak_time_s"] == pytest.approx(2 * tau, rel=1e-6)
    assert summary["steps"] == 200
    assert not summary["step_response"] and summary["time_to_63_s"] is None  # a trace
    assert summary["limits"] == []
    lines = (out / "transient.csv").read_text().splitlines()
    assert lines[0].startswith("time_s,power_w,peak_k,all_mean_k,all_max_k")
    assert len(lines) == 202
    with np.load(out / "fields.npz") as fields:
        assert fields["temperature"].shape == (11, 1, 2, 2)
        assert fields["time_s"][-1] == pytest.approx(4 * tau)


def test_cli_reports_a_bad_trace_in_one_line_and_writes_nothing(tmp_path):
    stack_path = save_stack(stack_from_dict(plate()), tmp_path / "plate.yaml")
    trace = tmp_path / "trace.csv"
    trace.write_text("time,all\n0,1\n0,2\n")
    out = tmp_path / "run"
    res = CliRunner().invoke(
        app, ["transient", str(stack_path), "--trace", str(trace), "--out", str(out)]
    )
    assert res.exit_code == 1
    assert "trace.csv:3: column 1 (time): 0 s does not come after" in res.output
    assert "Traceback" not in res.output
    assert not out.exists()


def test_cli_reports_when_a_limit_is_reached(tmp_path):
    stack_path = save_stack(stack_from_dict(plate()), tmp_path / "plate.yaml")
    tau, rise = lumped_constants()
    limit = AMBIENT + 0.5 * rise
    args = ["transient", str(stack_path), "--max-temperature", str(limit), "--no-files"]
    res = CliRunner().invoke(app, [*args, "--limit", f"all={limit}"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())  # as one line, however the console wraps it
    reached = re.search(rf"the peak reaches {limit:.2f} K after ([0-9.e-]+) s", text)
    assert reached and float(reached.group(1)) == pytest.approx(tau * math.log(2), rel=1e-3)
    assert "all's hottest cell reaches" in text
    res = CliRunner().invoke(app, [*args, "--limit", "cpu=350"])
    assert res.exit_code == 1
    assert "--limit cpu: no such block; the blocks are all" in " ".join(res.output.split())
