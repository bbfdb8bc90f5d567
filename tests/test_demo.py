"""The main job: the demo tour on the shipped models."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from chiptherm.cli import app
from chiptherm.demo import SECTIONS


def test_demo_writes_a_consistent_report(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--steps", "24"])
    assert result.exit_code == 0, result.output
    assert "chiptherm demo" in result.output
    summary = json.loads((out / "summary.json").read_text())
    p, f = summary["prediction"], summary["floorplan"]
    assert p["path"] in ("operator", "refined")
    # a line per section where the output is not a terminal (a log, CI, | tee)
    for i, name in enumerate(SECTIONS, 1):
        assert f"demo {i}/{len(SECTIONS)}: {name}" in result.output
    # the strongest model comes first; a rejected prediction shows the refinement
    assert p["model"] == "surface_modal"
    rejected = summary["rejected_prediction"]
    assert rejected["model"] == "surface"
    assert rejected["path"] == (
        "refined" if rejected["estimated_max_error_k"] > 0.5 else "operator"
    )
    # the score is honest: when it accepts, the true error is within the tolerance
    if p["path"] == "operator":
        assert p["true_max_error_k"] <= p["tolerance_k"]
    # on the uniform surface stack the score is exact; the coarse estimate errs on the safe side
    assert p["score_method"] == "exact"
    assert abs(p["estimated_max_error_k"] - p["true_max_error_k"]) < 1e-6
    assert p["true_max_error_k"] <= p["coarse_estimate_k"] <= 2.5 * p["true_max_error_k"]
    assert f["verified_peak_k"] <= f["initial_peak_k"]
    r = f["resistances"]  # the placement's resistance matrix reproduces its verifying solve
    assert r["blocks"] == ["core0", "core1", "cache", "io"]
    assert r["peak_gap_to_solve_k"] < 1e-6
    # a cooler placement takes more power before it is as hot as the initial one
    assert (r["power_scale_at_initial_peak"] > 1.0) == (f["verified_peak_k"] < f["initial_peak_k"])
    assert r["max_gap_to_solve_k"] < 1e-6 and r["asymmetry"] < 1e-6 * max(
        r["self_resistance_k_per_w"]
    )
    s = f["sensitivity"]  # the peak's sensitivities: the verified peak, powers sum to its rise
    assert s["peak_k"] == pytest.approx(f["verified_peak_k"], abs=1e-6)
    assert s["power_sum_k"] == pytest.approx(s["rise_k"], rel=1e-6)
    assert "floorplan/sensitivity.png" in (out / "index.html").read_text()
    sweep = summary["cooling_sweep"]
    peaks = sweep["solved_peak_k"]
    assert peaks[0] > peaks[-1] + 1.0  # a cooler top face lowers the peak...
    assert sweep["max_peak_gap_k"] < 0.1  # ...and one model follows it, against refined solves
    many = summary["many_maps"]
    assert many["maps"] == 1000 and len(many["hottest"]) == 3
    predicted, solved = many["hottest_predicted_peak_k"], many["hottest_solved_peak_k"]
    assert predicted == sorted(predicted, reverse=True)  # the hottest first
    assert max(abs(a - b) for a, b in zip(predicted, solved, strict=True)) < 1.0
    stacked = summary["stacked_dies"]
    assert stacked["fixed_power"] == ["memory"]
    hot, cool = stacked["solved_peak_k"]  # more lid cooling, cooler
    assert hot > cool + 1.0
    gaps = np.abs(np.subtract(stacked["predicted_peak_k"], stacked["solved_peak_k"]))
    assert gaps.max() < 0.2 and max(stacked["mae_k"]) < 0.01
    physics = summary["solver_physics"]
    # silicon conducting less, leakage and warming water all heat the die
    assert physics["peak_k"] > physics["linear_peak_k"] + 1.0
    assert physics["leakage_w"] > 0 and physics["coolant_outlet_k"] > 300.0
    assert physics["energy_error"] < 1e-7
    assert 1.0 < physics["runaway_stable_scale"] < physics["runaway_scale"]
    cavity = physics["cavity"]  # the water takes most of the heat and warms downstream
    assert 0.8 * cavity["power_w"] < cavity["heat_to_water_w"] < cavity["power_w"]
    warming = cavity["heat_to_water_w"] / (1e-3 * 4180.0)
    assert cavity["outlet_k"] == pytest.approx(300.0 + warming, rel=1e-9)
    assert cavity["core_out_max_k"] > cavity["core_in_max_k"] + 1.0
    assert cavity["pumping_power_w"] == pytest.approx(cavity["pressure_drop_pa"] * 1e-3 / 997.0)
    in_time = summary["step_response"]  # the same die in time ends at its steady state
    assert in_time["steady_peak_k"] == pytest.approx(physics["peak_k"], abs=1e-4)
    rise = in_time["steady_peak_k"] - in_time["initial_peak_k"]
    assert in_time["final_peak_k"] == pytest.approx(in_time["steady_peak_k"], abs=0.01 * rise)
    assert 0 < in_time["time_to_63_s"] < in_time["time_to_99_s"]
    assert in_time["balance_error"] < 1e-4  # the fixed-point iteration stops at 1e-6 K
    html = (out / "index.html").read_text()
    for image in (
        "predicted.png",
        "solver.png",
        "error.png",
        "floorplan/after.png",
        "floorplan/history.png",
        "floorplan/resistance.png",
        "cooling.png",
        "peaks.png",
        "stacked_dies.png",
        "hot_die.png",
        "step_response.png",
    ):
        assert image in html
        assert (out / image).stat().st_size > 1000
