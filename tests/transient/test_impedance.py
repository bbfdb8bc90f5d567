"""Thermal impedance: the lumped plate's exponential, reciprocity in time, the steady limit,
and traces evaluated by the Foster networks against transient runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from chiptherm.analysis.compact import resistance_matrix
from chiptherm.cli import app
from chiptherm.description.stack_io import save_stack, stack_from_dict
from chiptherm.errors import InputError, UnsupportedError
from chiptherm.transient import PowerTrace, read_power_trace, simulate
from chiptherm.transient.impedance import thermal_impedance
from tests.conftest import example

from .test_transient import AMBIENT, WATTS, lumped_constants, plate


def test_the_plate_s_impedance_is_its_exponential():
    """One cell: Z(t) = R·(1 - exp(-t/τ)); the network follows it to 3e-4 of R between its
    samples too, and holds R exactly at the end."""
    tau, rise = lumped_constants()
    model = thermal_impedance(stack_from_dict(plate()))
    t = np.linspace(0.0, model.times[-1], 500)
    exact = rise * (1 - np.exp(-t / tau))
    assert model.response(t)[:, 0, 0] == pytest.approx(exact, abs=3e-4 * rise)
    assert model.foster.sum(axis=2)[0, 0] == pytest.approx(rise, rel=1e-6)
    assert np.all(model.foster[0, 0] >= 0)  # a driving-point Foster network
    assert model.background_k == pytest.approx([AMBIENT])


def test_responses_are_reciprocal_and_end_at_the_resistance_matrix():
    """Z_ij(t) = Z_ji(t) at every time (power-weighted means, A symmetric, C diagonal), the
    responses approach R after six time constants, and the networks keep R exactly."""
    stack = example("two_die", 12, 12)
    model = thermal_impedance(stack)
    scale = np.abs(model.z).max()
    assert np.abs(model.z - model.z.transpose(0, 2, 1)).max() < 1e-9 * scale
    steady = resistance_matrix(stack)
    assert model.resistance == pytest.approx(steady.resistance, rel=1e-12)
    assert model.z[-1] == pytest.approx(steady.resistance, rel=0.01)
    assert model.foster.sum(axis=2) == pytest.approx(steady.resistance, rel=1e-5)
    assert model.fit_error < 1e-3
    for i in range(len(model.blocks)):  # a block's own response rises monotonically
        assert np.all(np.diff(model.z[:, i, i]) > -1e-12)
        assert np.all(model.foster[i, i] >= 0)


def test_a_trace_by_the_networks_matches_a_transient_run():
    """The example trace on the two dies: the networks' block means agree with a transient
    run to 2e-4 of the rise, away from the first 10 µs after each change of power (where
    both are below their time resolution)."""
    stack = example("two_die", 12, 12)
    model = thermal_impedance(stack)
    trace = read_power_trace(example_trace(), stack)
    run = simulate(stack, trace, frames=0, double_every=100)
    predicted = model.temperatures(trace, run.times)
    settled = np.ones(run.times.size, dtype=bool)
    for change in trace.times:
        settled &= ~((run.times > change) & (run.times < change + 1e-5))
    rise = run.block_mean_k.max() - run.block_mean_k[0].min()
    assert np.abs(predicted - run.block_mean_k)[settled].max() < 2e-4 * rise
    assert predicted[0] == pytest.approx(model.background_k)


def example_trace():
    from tests.conftest import EXAMPLES

    return EXAMPLES / "two_die_trace.csv"


def test_refusals_name_the_problem():
    with pytest.raises(UnsupportedError, match="linear in the power; 'hot-die' has"):
        thermal_impedance(example("hot_die", 8, 8))
    with pytest.raises(InputError, match="duration: expected a positive time in s, got -1"):
        thermal_impedance(stack_from_dict(plate()), duration=-1.0)
    maps_only = plate()
    maps_only["power"]["p"] = {"map": [[0.25, 0.25], [0.25, 0.25]]}
    with pytest.raises(InputError, match="'plate' has no power blocks"):
        thermal_impedance(stack_from_dict(maps_only))
    model = thermal_impedance(stack_from_dict(plate()))
    other = PowerTrace(np.zeros(1), np.ones((1, 8)), resistance_matrix(example("two_die")).blocks)
    with pytest.raises(InputError, match=r"the trace's blocks \(bank0"):
        model.temperatures(other, np.zeros(1))


def test_cli_writes_the_networks_and_the_trace(tmp_path):
    stack_path = save_stack(stack_from_dict(plate()), tmp_path / "plate.yaml")
    tau, rise = lumped_constants()
    trace = tmp_path / "trace.csv"
    trace.write_text(f"time,all\n0,1\n{tau},0\n")
    out = tmp_path / "z"
    res = CliRunner().invoke(
        app, ["impedance", str(stack_path), "--trace", str(trace), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    for name in ("impedance.json", "zth.csv", "zth.png", "block_temperatures.csv", "index.html"):
        assert (out / name).is_file(), name
    assert 'src="block_temperatures.png"' in (out / "index.html").read_text()
    summary = json.loads((out / "impedance.json").read_text())
    assert summary["resistance_k_per_w"][0][0] == pytest.approx(rise, rel=1e-9)
    assert summary["time_to_63_s"][0][0] == pytest.approx(tau, rel=2e-3)
    # heated for τ: the hottest mean is 1 - 1/e of the rise
    hottest = summary["trace"]["max_mean_k"]["all"]
    assert hottest == pytest.approx(AMBIENT + rise * (1 - np.exp(-1)), abs=1e-3 * rise)


def test_hot_spots_follow_their_cells_and_bound_the_burst_power():
    """Each block's hot spot is the hottest cell it heats at the stack's powers; its networks
    give that cell's temperature under a trace as a transient run does, and the burst budget
    is (limit − T_nominal)/Z_jj(t) above the nominal power: on the plate,
    P = P₀ + (T_lim − T_a − R·P₀)/(R·(1 − e^(−t/τ)))."""
    tau, rise = lumped_constants()
    model = thermal_impedance(stack_from_dict(plate()))
    limit = AMBIENT + 2 * rise
    durations = np.array([0.5 * tau, tau, 3 * tau, np.inf])
    allowed = model.burst_power(limit, durations)[:, 0]
    exact = WATTS + (limit - AMBIENT - rise * WATTS) / (rise * (1 - np.exp(-durations / tau)))
    assert allowed == pytest.approx(exact, rel=1e-3)
    assert allowed[-1] == pytest.approx(2 * WATTS, rel=1e-9)  # steady: twice the rise

    stack = example("two_die", 12, 12)
    model = thermal_impedance(stack)
    steady = resistance_matrix(stack)
    nominal = steady.heated.temperatures(steady.nominal_w)
    for i, (z, y, x) in enumerate(model.hotspot_cells):
        own = steady.heated.owners[:, i]
        assert model.hotspot_background_k[i] + model.hotspot_resistance[i] @ steady.nominal_w == (
            pytest.approx(nominal[own].max())
        )
        assert (z, y, x) in {steady.heated.position(k) for k in np.flatnonzero(own)}
    trace = read_power_trace(example_trace(), stack)
    run = simulate(stack, trace, frames=40, double_every=100)
    cells = [tuple(c) for c in model.hotspot_cells]
    solved = np.array([[frame[c] for c in cells] for frame in run.frames])
    predicted = model.temperatures(trace, run.frame_times, hotspots=True)
    rise = solved.max() - solved[0].min()
    assert np.abs(predicted - solved).max() < 2e-4 * rise  # float32 frames: ~1e-5 of 70 K


def test_cli_prints_the_burst_budget_and_refuses_bad_durations(tmp_path):
    stack_path = save_stack(stack_from_dict(plate()), tmp_path / "plate.yaml")
    tau, rise = lumped_constants()
    limit = AMBIENT + 2 * rise
    args = ["impedance", str(stack_path), "--no-files", "--max-temperature", str(limit)]
    res = CliRunner().invoke(app, [*args, "--burst", f"{tau}", "--json"])
    assert res.exit_code == 0, res.output
    burst = json.loads(res.stdout)["burst"]
    expected = WATTS + (limit - AMBIENT - rise * WATTS) / (rise * (1 - np.exp(-1)))
    assert burst["allowed_w"][0][0] == pytest.approx(expected, rel=1e-3)
    assert burst["steady_w"][0] == pytest.approx(2 * WATTS, rel=1e-9)
    res = CliRunner().invoke(app, [*args, "--burst", "1e-3,-2"])
    assert res.exit_code == 1
    assert "--burst '1e-3,-2': expected positive durations in s" in res.output


def test_at_the_burst_budget_the_first_hot_spot_just_reaches_the_limit():
    """From the steady state at the stack's powers, a burst at the budget brings the binding
    hot spot to the limit at the burst's end and no hot spot above it before; on two_die a
    memory bank's budget is set by the logic die's hot spot above it, not its own."""
    stack = example("two_die", 12, 12)
    model = thermal_impedance(stack)
    limit = 373.15
    durations = np.array([1e-3, 1e-2])
    allowed, binding = model.burst_limits(limit, durations)
    nominal = np.array([b.block.watts for b in model.blocks])
    settle = 1e3 * model.taus[-1]  # the nominal steady state, to the networks' precision
    for d, duration in enumerate(durations):
        for j in range(len(nominal)):
            burst = nominal.copy()
            burst[j] = allowed[d, j]
            trace = PowerTrace(np.array([0.0, settle]), np.vstack([nominal, burst]), model.blocks)
            times = settle + np.linspace(0.0, duration, 60)
            hot = model.temperatures(trace, times, hotspots=True)
            assert hot.max() <= limit + 5e-3  # never above it (to the networks' precision)
            assert hot[-1, binding[d, j]] == pytest.approx(limit, abs=5e-3)  # ... until the end
    labels = model.labels
    assert labels[binding[1, labels.index("bank0")]] != "bank0"


def test_the_spice_library_holds_each_block_s_own_network(tmp_path):
    """zth.lib: per block a chain of parallel R-C pairs (ohms = K/W, farads = J/K) whose step
    response, Σ R·(1 − exp(−t/(R·C))), is the block's own impedance and ends at R_ii."""
    stack = example("two_die", 12, 12)
    path = save_stack(stack, tmp_path / "two_die.yaml")
    res = CliRunner().invoke(
        app, ["impedance", str(path), "--spice", "--json", "--out", str(tmp_path / "z")]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    networks: dict[str, list[tuple[float, float]]] = {}
    name = ""
    for line in (tmp_path / "z" / "zth.lib").read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == ".subckt":
            name = parts[1].removeprefix("zth_")
            networks[name] = []
        elif parts and parts[0].startswith("R"):
            networks[name].append((float(parts[3]), 0.0))
        elif parts and parts[0].startswith("C"):
            r, _ = networks[name][-1]
            networks[name][-1] = (r, float(parts[3]))
    assert list(networks) == summary["blocks"]
    t = np.geomspace(1e-6, 1.0, 50)
    foster = np.array(summary["foster_k_per_w"])
    taus = np.array(summary["taus_s"])
    for i, label in enumerate(summary["blocks"]):
        pairs = np.array(networks[label])
        spice = (pairs[:, 0] * (1 - np.exp(-t[:, None] / (pairs[:, 0] * pairs[:, 1])))).sum(1)
        model = ((1 - np.exp(-t[:, None] / taus)) * foster[i, i]).sum(1)
        resistance = summary["resistance_k_per_w"][i][i]
        assert spice == pytest.approx(model, abs=1e-4 * resistance)
        assert pairs[:, 0].sum() == pytest.approx(resistance, rel=1e-4)
        assert np.all(pairs > 0)  # a passive network
