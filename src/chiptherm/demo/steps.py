"""What each section of the demo computes: the floorplan's resistance matrix and
sensitivities, the cooling sweep, the stacked dies, the solver's physics beyond a linear
stack, the step response and a thousand maps. Each step writes its figures into the run folder
and returns its JSON-ready summary and the files it wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from chiptherm.analysis.budget import power_budget
from chiptherm.analysis.compact import resistance_matrix
from chiptherm.analysis.sensitivity import sensitivity
from chiptherm.demo.stacks import hot_die, interlayer_cooling
from chiptherm.design import (
    Outcome,
)
from chiptherm.operator.batch import NamedMaps, predict_batch
from chiptherm.operator.checkpoint import load_operator
from chiptherm.operator.inference import parameter_sweep, training_distribution
from chiptherm.operator.model import Operator
from chiptherm.report.maps import plot_cross_section, plot_heat_map, plot_resistance_matrix
from chiptherm.report.plots import plot_histogram, plot_sweep, plot_tornado, plot_transient
from chiptherm.solvers.nonlinear import runaway_margin
from chiptherm.solvers.result import solve
from chiptherm.transient import simulate


def floorplan_resistances(outcome: Outcome, out: Path) -> tuple[dict[str, Any], list[Path]]:
    """The block-to-block thermal resistance matrix of the optimized placement (one solve per
    block), checked against the verifying solve's block means, and the power headroom the
    placement bought: the factor by which every block's power may grow before the hottest
    cell reaches the initial placement's peak; the summary and the matrix plot."""
    matrix = resistance_matrix(outcome.verified.stack)
    headroom = power_budget(matrix, outcome.initial_peak_k).uniform_scale
    solved = {b.block: b.stats.mean for b in outcome.verified.block_stats}
    gap = np.abs(matrix.temperatures() - [solved[label] for label in matrix.labels])
    coupling = matrix.resistance - np.diag(np.diag(matrix.resistance))
    i, j = np.unravel_index(int(np.argmax(coupling)), coupling.shape)
    path = plot_resistance_matrix(
        matrix.resistance,
        matrix.labels,
        out / "resistance.png",
        title="optimized floorplan: block-to-block thermal resistance (K/W)",
    )
    summary = {
        "blocks": matrix.labels,
        "self_resistance_k_per_w": np.diag(matrix.resistance).tolist(),
        "strongest_coupling": [matrix.labels[i], matrix.labels[j]],
        "strongest_coupling_k_per_w": float(matrix.resistance[i, j]),
        "asymmetry": float(np.abs(matrix.resistance - matrix.resistance.T).max()),
        "max_gap_to_solve_k": float(gap.max()),
        "peak_gap_to_solve_k": abs(float(matrix.peaks()) - outcome.verified_peak_k),
        "power_scale_at_initial_peak": headroom,
        "seconds": matrix.seconds,
    }
    return summary, [path]


def floorplan_sensitivity(outcome: Outcome, out: Path) -> tuple[dict[str, Any], list[Path]]:
    """What moves the optimized placement's hottest cell most: its sensitivity to every
    parameter of the stack by the adjoint method (one extra solve), with the check that the
    power sensitivities sum to the rise; the summary and the tornado chart."""
    stack = outcome.verified.stack
    study = sensitivity(stack, "peak")
    top = study.entries[:8]
    path = plot_tornado(
        [e.parameter.label for e in top],
        [e.per_change for e in top],
        out / "sensitivity.png",
        title=f"optimized floorplan: {study.objective.label}",
        xlabel="change of the peak for ±10 % of the parameter (K, linear estimate)",
    )
    summary = {
        "objective": study.objective.label,
        "peak_k": study.value_k,
        "largest": [
            {"key": e.parameter.key, "label": e.parameter.label, "k_per_10_percent": e.per_change}
            for e in top[:4]
        ],
        "rise_k": study.value_k - stack.ambient,
        "power_sum_k": study.total("power"),
        "parameters": len(study.entries),
        "seconds": study.seconds,
    }
    return summary, [path]


def cooling_sweep(out: Path, seed: int, points: int = 8) -> tuple[dict[str, Any], list[Path]]:
    """Peak temperature of one ``volumetric`` block map as the top heat-transfer coefficient goes
    from 50 to 50,000 W/(m²·K): the operator against solves on the case grid and on a grid
    twice as fine; the summary and the plot."""
    op, meta = load_operator("volumetric")
    density = training_distribution(meta).sample(
        1, op.case.size, op.case.sensors, np.random.default_rng(seed)
    )[0]
    values = np.geomspace(50.0, 5e4, points)
    grid_sweep = parameter_sweep(op, density, "top_htc", values)
    fine_sweep = parameter_sweep(op, density, "top_htc", values, refine=2)
    dense = np.geomspace(values[0], values[-1], 64)
    curve = op.peaks(np.repeat(density[None], len(dense), axis=0), {"top_htc": dense})
    path = plot_sweep(
        values,
        {"operator": (dense, curve)},
        out / "cooling.png",
        title="one volumetric model, every cooling: peak temperature",
        xlabel="top heat-transfer coefficient (W/(m²·K)); bottom 500",
        markers={
            "solver, case grid": grid_sweep.solved_k,
            "solver, 2x finer grid": fine_sweep.solved_k,
        },
    )
    summary = fine_sweep.summary()
    summary["max_peak_gap_case_grid_k"] = grid_sweep.summary()["max_peak_gap_k"]
    summary["solve_s"] += grid_sweep.solve_s
    return summary, [path]


def stacked_dies(
    out: Path, seed: int, lids: tuple[float, ...] = (6e3, 4e4)
) -> tuple[dict[str, Any], list[Path]]:
    """One logic-die map of the ``stacked_dies`` model at each lid heat-transfer coefficient in
    ``lids``: predicted (the memory die's fixed power added exactly) and solved; the summary and
    the logic die's predicted map at the first value."""
    op, meta = load_operator("stacked_dies")
    case = op.case
    density = training_distribution(meta).sample(
        1, case.size, case.sensors, np.random.default_rng(seed + 2)
    )[0]
    layer = case.stack.layer_index(case.power_layer)
    cells = case.grid().cells_of_layer(layer)
    rows = []
    for h in lids:
        predicted = op.predict(density[None], {"lid_htc": h})[0]
        solved = solve(op.stack_for(density, {"lid_htc": h})).temperature
        rows.append((h, predicted, solved))
    path = plot_heat_map(
        rows[0][1][cells].max(axis=0),
        case.size,
        out / "stacked_dies.png",
        title=f"stacked dies: logic die (predicted), lid h = {lids[0]:,.0f} W/(m²·K)",
    )
    summary = {
        "fixed_power": case.fixed_sources,
        "logic_w": float(case.watts_from_density(density).sum()),
        "lid_htc": list(lids),
        "predicted_peak_k": [float(p.max()) for _, p, _ in rows],
        "solved_peak_k": [float(t.max()) for _, _, t in rows],
        "mae_k": [float(np.abs(p - t).mean()) for _, p, t in rows],
    }
    return summary, [path]


def solver_physics(out: Path) -> tuple[dict[str, Any], list[Path]]:
    """The solver beyond a linear stack: the hot die with k(T) silicon, leakage (idle blocks
    too) and warming coolant, against its linear version, and how far its power may grow
    before thermal runaway; the summary and the cross-section of the answer."""
    linear = solve(hot_die(False))
    hot = solve(hot_die(True))
    margin = runaway_margin(hot_die(True), ceiling=16.0, rel_tol=0.02)
    coolant = hot.coolant_outlets()["bottom"]
    _, y, _ = np.unravel_index(int(np.argmax(hot.temperature)), hot.temperature.shape)
    path = plot_cross_section(
        hot.temperature[:, y, :],
        hot.grid.x_edges,
        [hot.stack.layers[int(i)].name for i in hot.grid.layer_of_cell],
        out / "hot_die.png",
        title="hot die: k(T), leakage and warming coolant (x–z through the hottest cell)",
    )
    cavity = solve(interlayer_cooling())
    cores = {b.block: b.stats.max for b in cavity.block_stats if b.source == "logic"}
    water = cavity.coolant_outlets()["cavity channels"]
    summary = {
        "cavity": {
            "peak_k": cavity.max_temperature,
            "core_in_max_k": cores["core_in"],
            "core_out_max_k": cores["core_out"],
            "outlet_k": water["outlet_k"],
            "heat_to_water_w": water["heat_w"],
            "pressure_drop_pa": water["pressure_drop_pa"],
            "pumping_power_w": water["pumping_power_w"],
            "power_w": cavity.balance.power_in,
        },
        "linear_peak_k": linear.max_temperature,
        "peak_k": hot.max_temperature,
        "fixed_point_steps": hot.info.nonlinear_steps,
        "leakage_w": hot.leakage_w,
        "coolant_outlet_k": coolant["outlet_k"],
        "energy_error": hot.balance.relative_error,
        "runaway_stable_scale": margin.stable_scale,
        "runaway_scale": None if np.isinf(margin.runaway_scale) else margin.runaway_scale,
    }
    return summary, [path]


def step_response(out: Path) -> tuple[dict[str, Any], list[Path]]:
    """The hot die's step response (k(T), leakage and warming water at every step): its
    blocks switched on at t = 0 from the idle steady state; the peak and the cores against
    time."""
    result = simulate(hot_die(True), frames=0)
    summary = result.summary()
    cores = {f"{label} mean": result.block_mean_k[:, j] for j, label in enumerate(result.labels)}
    steady = dict(zip(cores, result.steady_block_mean_k.tolist(), strict=True))
    path = plot_transient(
        result.times,
        {"peak": result.peak_k} | cores,
        {"peak": result.steady_peak_k} | steady,
        result.power_w,
        out / "step_response.png",
        title="hot die: step response (steady values dashed)",
        log_time=True,
    )
    keys = ("steps", "seconds", "initial_peak_k", "final_peak_k", "steady_peak_k")
    keys += ("time_to_63_s", "time_to_99_s", "balance_error")
    return {key: summary[key] for key in keys} | {"final_power_w": float(result.power_w[-1])}, [
        path
    ]


def thousand_maps(
    op: Operator, meta: dict[str, Any], out: Path, seed: int, n: int = 1000, checked: int = 3
) -> tuple[dict[str, Any], list[Path]]:
    """``n`` maps of the model's training distribution predicted in batches; the ``checked``
    hottest solved by the solver; the summary and the peak histogram."""
    case = op.case
    density = training_distribution(meta).sample(
        n, case.size, case.sensors, np.random.default_rng(seed + 1)
    )
    maps = NamedMaps([f"map {i}" for i in range(n)], list(case.watts_from_density(density)))
    batch = predict_batch(op, maps, chunk=100)
    hottest = batch.hottest(checked)
    solved = [solve(case.stack_with(density[i])) for i in hottest]
    solve_s = float(np.mean([r.info.setup_s + r.info.solve_s for r in solved]))
    path = plot_histogram(
        batch.peak_k,
        out / "peaks.png",
        title=f"peak temperature of {n} power maps (one batched prediction)",
        xlabel="peak temperature (K)",
    )
    summary = {
        "maps": n,
        "predict_s": batch.seconds,
        "predictions_per_s": n / batch.seconds,
        "solve_s_per_map": solve_s,
        "hottest": [batch.names[i] for i in hottest],
        "hottest_predicted_peak_k": [float(batch.peak_k[i]) for i in hottest],
        "hottest_solved_peak_k": [float(r.temperature.max()) for r in solved],
    }
    return summary, [path]
