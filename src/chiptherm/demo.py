"""The main job: a tour of chiptherm on its shipped models, with a report folder.

1. Sample a power map from the training distribution of the shipped ``surface_modal`` model,
   the most accurate of the shipped models.
2. Predict the temperature field with it, score it (max error in K: exact on this laterally
   uniform stack, and the coarse-grid estimate other stacks get beside it), refine it with the
   solver if the score fails, and compare with a full solve; then the same map through the
   weaker ``surface`` model (a separable DeepOHeat-v1 network), whose prediction the score
   rejects at the same tolerance and the solver refines: what happens when a prediction fails.
3. Optimize a small floorplan of power blocks with the hybrid operator/solver search; the final
   placement is verified by the solver, its block-to-block thermal resistance matrix
   extracted and checked against that solve, and its power headroom measured: how much every
   block may grow before the hottest cell is as hot as in the initial placement; the adjoint
   sensitivities of its peak to every parameter of the stack say what moves it most.
4. Sweep the top heat-transfer coefficient of the shipped ``volumetric`` model (one model for
   every cooling condition) and compare its peak temperatures with solves on the case grid and on
   a grid twice as fine.
5. Predict a thousand power maps in batches (peaks and per-layer maxima of every field) and
   check the hottest ones with the solver.
6. A 3D stack: the shipped ``stacked_dies`` model predicts a logic die's map under a memory die
   whose power is fixed, at two lid cooling values, against the solver.
7. The solver beyond a linear stack: a die with temperature-dependent silicon, leakage and a
   warming coolant, against its linear version, with its thermal runaway margin; and a logic
   and a memory die cooled between them by water in a microchannel cavity.
8. In time: that die's step response (its power switched on from idle), with the times to
   63 and 99 % of its steady rise.
9. Print a summary table and write PNG maps, the optimization history, the sweep plot, the peak
   histogram and an index.html.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chiptherm.analysis.budget import power_budget
from chiptherm.analysis.compact import resistance_matrix
from chiptherm.analysis.sensitivity import sensitivity
from chiptherm.description.stack import Stack
from chiptherm.description.stack_io import stack_from_dict
from chiptherm.design import (
    BlockSpec,
    Outcome,
    Problem,
    Search,
    optimize,
    outcome_summary,
    write_report,
)
from chiptherm.operator.batch import NamedMaps, predict_batch
from chiptherm.operator.checkpoint import load_operator, shipped_models
from chiptherm.operator.evaluate import error_metrics
from chiptherm.operator.inference import parameter_sweep, predict_checked, training_distribution
from chiptherm.operator.model import Operator
from chiptherm.report.html import Section, write_index
from chiptherm.report.maps import plot_cross_section, plot_heat_map, plot_resistance_matrix
from chiptherm.report.outputs import write_json
from chiptherm.report.plots import plot_histogram, plot_sweep, plot_tornado, plot_transient
from chiptherm.solvers.nonlinear import runaway_margin
from chiptherm.solvers.result import solve
from chiptherm.transient import simulate
from chiptherm.trust.confidence import ErrorEstimator


@dataclass
class DemoReport:
    """What the demo measured (JSON-ready ``summary``) and where it wrote its files."""

    summary: dict[str, Any]
    files: list[Path] = field(default_factory=list)


def demo_problem(model: str, steps: int, seed: int) -> Problem:
    """Four blocks on the 1 mm die: two movable 0.2 mm cores, a movable cache, a fixed I/O."""
    return Problem(
        name="demo floorplan",
        model=model,
        blocks=[
            BlockSpec(name="core0", width=2e-4, height=2e-4, watts=4e-4, x=3e-4, y=3e-4),
            BlockSpec(name="core1", width=2e-4, height=2e-4, watts=4e-4, x=4e-4, y=4e-4),
            BlockSpec(name="cache", width=3e-4, height=1.5e-4, watts=2e-4, x=3.5e-4, y=6e-4),
            BlockSpec(name="io", width=1e-3, height=1e-4, watts=1e-4, x=0.0, y=0.0, fixed=True),
        ],
        search=Search(steps=steps, population=12, seed=seed),
    )


SECTIONS = (
    "predict, score and refine",
    "optimize a floorplan",
    "sweep the cooling",
    "a thousand maps",
    "stacked dies",
    "solver physics",
    "step response",
)
"""The demo's sections, in the order ``on_section`` hears of them."""


def run_demo(
    out_dir: str | Path,
    seed: int = 0,
    tolerance_k: float = 0.5,
    steps: int = 240,
    on_section: Callable[[int, str], None] | None = None,
) -> DemoReport:
    """Run the tour (see module doc) and write its report into ``out_dir``; ``on_section(i,
    name)`` hears of each of :data:`SECTIONS` as it begins."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def begin(name: str) -> None:
        if on_section is not None:
            on_section(SECTIONS.index(name), name)

    missing = {"surface", "surface_modal"} - set(shipped_models())
    if missing:
        from chiptherm.errors import InputError

        raise InputError(f"the shipped models {sorted(missing)} are not installed")
    begin("predict, score and refine")
    best, meta = load_operator("surface_modal")
    case = best.case
    density = training_distribution(meta).sample(
        1, case.size, case.sensors, np.random.default_rng(seed)
    )[0]

    checked = predict_checked(best, density, None, tolerance_k, refine_with="krylov")
    op, surface_meta = load_operator("surface")  # the weaker model, on the same case
    fallback = predict_checked(op, density, None, tolerance_k, refine_with="krylov")
    stack = case.stack_with(density)
    coarse = ErrorEstimator.for_stack(stack, method="coarse").score(checked.predicted, tolerance_k)
    reference = solve(stack)
    solve_s = reference.info.setup_s + reference.info.solve_s
    metrics = error_metrics(checked.predicted[None], reference.temperature[None], case.ambient)

    top = -1 if case.source_face == "top" else 0
    size = case.size
    pred_top, ref_top = checked.predicted[top], reference.temperature[top]
    lo, hi = min(pred_top.min(), ref_top.min()), max(pred_top.max(), ref_top.max())
    files = [
        plot_heat_map(
            pred_top,
            size,
            out / "predicted.png",
            title="operator prediction (top)",
            vmin=lo,
            vmax=hi,
        ),
        plot_heat_map(
            ref_top, size, out / "solver.png", title="reference solver (top)", vmin=lo, vmax=hi
        ),
        plot_heat_map(
            pred_top - ref_top,
            size,
            out / "error.png",
            title="prediction - solver (top)",
            label="error (K)",
            cmap="coolwarm",
        ),
        plot_heat_map(
            density, size, out / "power.png", title="power map", label="W/m²", cmap="viridis"
        ),
    ]

    begin("optimize a floorplan")
    outcome: Outcome = optimize(demo_problem("surface", steps, seed), op, "hybrid")
    opt_files = write_report(outcome, out / "floorplan")
    files += opt_files
    couplings, coupling_files = floorplan_resistances(outcome, out / "floorplan")
    files += coupling_files
    drivers, driver_files = floorplan_sensitivity(outcome, out / "floorplan")
    files += driver_files

    begin("sweep the cooling")
    sweep, sweep_files = cooling_sweep(out, seed)
    files += sweep_files
    begin("a thousand maps")
    many, many_files = thousand_maps(op, surface_meta, out, seed)
    files += many_files
    begin("stacked dies")
    stacked, stacked_files = stacked_dies(out, seed)
    files += stacked_files
    begin("solver physics")
    physics, physics_files = solver_physics(out)
    files += physics_files
    begin("step response")
    in_time, time_files = step_response(out)
    files += time_files

    c = checked.confidence
    summary = {
        "prediction": {
            "model": meta.get("name", "surface_modal"),
            "grid": list(reference.temperature.shape),
            "path": checked.path,
            "score_method": c.method,
            "estimated_max_error_k": c.error_k,
            "coarse_estimate_k": coarse.error_k,
            "coarse_accepted": coarse.accepted,
            "true_max_error_k": metrics.max_abs_k,
            "tolerance_k": tolerance_k,
            "relative_residual": c.relative_residual,
            "mae_k": metrics.mae_k,
            "peak_error_k": metrics.peak_error_k,
            "solve_s": solve_s,
            **checked.summary(),
        },
        "rejected_prediction": {
            "model": surface_meta.get("name", "surface"),
            "estimated_max_error_k": fallback.confidence.error_k,
            **fallback.summary(),
        },
        "floorplan": outcome_summary(outcome) | {"resistances": couplings, "sensitivity": drivers},
        "cooling_sweep": sweep,
        "many_maps": many,
        "stacked_dies": stacked,
        "solver_physics": physics,
        "step_response": in_time,
    }
    files.append(write_json(out / "summary.json", summary))
    files.append(write_index(out / "index.html", "chiptherm demo", sections(summary)))
    return DemoReport(summary, files)


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


def hot_die(nonlinear: bool) -> Stack:
    """A 4 mm die on a copper cold plate, two 6 W cores and an idle cache: with ``nonlinear``
    its silicon conducts as 148·(T/300)^-1.3 W/(m·K), the blocks leak (idle ones too) and the
    water under the plate warms along its flow; without, constant silicon, no leakage and the
    water at its inlet temperature everywhere."""
    silicon: dict[str, Any] = {"conductivity": 148.0, "heat_capacity": 1.63e6}
    bottom: dict[str, Any] = {"htc": 5.0e4, "ambient": 300.0}
    source: dict[str, Any] = {
        "blocks": [
            {
                "name": "core0",
                "x": 4e-4,
                "y": 4e-4,
                "width": 1.4e-3,
                "height": 1.4e-3,
                "watts": 6.0,
            },
            {
                "name": "core1",
                "x": 2.2e-3,
                "y": 4e-4,
                "width": 1.4e-3,
                "height": 1.4e-3,
                "watts": 6.0,
            },
            {
                "name": "cache",
                "x": 4e-4,
                "y": 2.2e-3,
                "width": 3.2e-3,
                "height": 1.4e-3,
                "watts": 0.0,
            },
        ]
    }
    if nonlinear:
        silicon["temperature_exponent"] = -1.3
        source["leakage"] = {"fraction": 0.25, "coefficient": 0.012}
        source["blocks"][2]["leakage_w"] = 0.8
        bottom = {
            "htc": 5.0e4,
            "coolant": {"inlet_temperature": 300.0, "flow_rate": 5e-4, "direction": "+x"},
        }
    return stack_from_dict(
        {
            "name": "hot die on a cold plate",
            "size": [4e-3, 4e-3],
            "materials": {"die_si": silicon},
            "layers": [
                {"name": "die", "thickness": 5e-4, "material": "die_si", "cells": 3, "power": "p"},
                {"name": "tim", "thickness": 5e-5, "material": "tim"},
                {"name": "plate", "thickness": 1.5e-3, "material": "copper", "cells": 2},
            ],
            "power": {"p": source},
            "boundaries": {"bottom": bottom},
            "grid": {"nx": 40, "ny": 40},
        }
    )


def interlayer_cooling() -> Stack:
    """A logic die (two 20 W cores) under a memory die (8 W), cooled between them by water
    in a 200 µm cavity of 50 µm channels at a 100 µm pitch (1 g/s); still air above, the
    board below."""

    def block(name: str, x: float, y: float, w: float, h: float, watts: float) -> dict:
        return {"name": name, "x": x, "y": y, "width": w, "height": h, "watts": watts}

    coolant = {"inlet_temperature": 300.0, "flow_rate": 1e-3, "direction": "+x"}
    return stack_from_dict(
        {
            "name": "microchannel cavity between two dies",
            "size": [5e-3, 5e-3],
            "layers": [
                {"name": "memory", "thickness": 1e-4, "material": "silicon", "power": "mem"},
                {
                    "name": "channels",
                    "thickness": 2e-4,
                    "material": "silicon",
                    "cells": 2,
                    "channels": {"width": 5e-5, "pitch": 1e-4},
                    "coolant": coolant,
                },
                {"name": "logic", "thickness": 1e-4, "material": "silicon", "power": "logic"},
            ],
            "power": {
                "mem": {"blocks": [block("banks", 2.5e-4, 2.5e-4, 4.5e-3, 4.5e-3, 8.0)]},
                "logic": {
                    "blocks": [
                        block("core_in", 5e-4, 1.75e-3, 1.5e-3, 1.5e-3, 20.0),
                        block("core_out", 3e-3, 1.75e-3, 1.5e-3, 1.5e-3, 20.0),
                    ]
                },
            },
            "boundaries": {"top": {"htc": 1e3}, "bottom": {"htc": 500.0}},
            "grid": {"nx": 40, "ny": 40},
        }
    )


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


def sections(summary: dict[str, Any]) -> list[Section]:
    """The index.html content."""
    p, f = summary["prediction"], summary["floorplan"]
    rejected = summary["rejected_prediction"]
    predict = Section(
        "1. Predict, score, refine",
        f"A power map drawn from the training distribution of the '{p['model']}' operator. The "
        "confidence score solves the residual equation of the prediction for its error: on "
        "this laterally uniform stack exactly, with one transform solve; stacks with TSVs or "
        "other regions get a coarse-grid estimate (with a safety factor of 1.5), shown beside "
        "it for comparison. The weaker separable model's prediction of the same map shows "
        "what happens when the score rejects one: the solver refines it, warm-started.",
        rows=[
            ("answer path", p["path"]),
            (
                f"max error by the score ({p['score_method']})",
                f"{p['estimated_max_error_k']:.3f} K",
            ),
            ("coarse-grid estimate", f"{p['coarse_estimate_k']:.3f} K"),
            ("true max error (vs solver)", f"{p['true_max_error_k']:.3f} K"),
            ("tolerance", f"{p['tolerance_k']} K"),
            ("relative residual", f"{p['relative_residual']:.2e}"),
            ("mean abs error", f"{p['mae_k']:.4f} K"),
            ("peak error", f"{p['peak_error_k']:.3f} K"),
            (
                f"the same map by '{rejected['model']}'",
                f"score {rejected['estimated_max_error_k']:.3f} K: {rejected['path']}",
            ),
        ],
        images=["power.png", "predicted.png", "solver.png", "error.png"],
    )
    r_doc, s_doc = f["resistances"], f["sensitivity"]
    opt = Section(
        "2. Optimize a floorplan",
        "CMA-ES over the positions of the movable blocks; the operator scores populations, the "
        "confidence score checks each new best, the solver refines doubtful ones and verifies "
        "the final placement. Its block-to-block resistance matrix then gives every block's "
        "mean temperature and the peak for any block powers, exactly, and how much more power "
        "the new placement takes before it is as hot as the old one.",
        rows=[
            ("peak before (solver)", f"{f['initial_peak_k']:.3f} K"),
            ("peak after (solver)", f"{f['verified_peak_k']:.3f} K"),
            ("evaluations", str(f["evaluations"])),
            ("solver calls", str(f["solver_calls"])),
            ("refinements", str(f["refinements"])),
            ("wall time", f"{f['seconds']:.1f} s"),
            (
                "block self-resistance (K/W)",
                ", ".join(
                    f"{name} {r:,.0f}"
                    for name, r in zip(
                        r_doc["blocks"], r_doc["self_resistance_k_per_w"], strict=True
                    )
                ),
            ),
            (
                "strongest coupling",
                "{} and {}: {:,.0f} K/W".format(
                    *r_doc["strongest_coupling"], r_doc["strongest_coupling_k_per_w"]
                ),
            ),
            (
                "power the placement can take at the initial peak",
                f"{r_doc['power_scale_at_initial_peak']:.3f} × every block",
            ),
            (
                "matrix against the verifying solve",
                f"{r_doc['max_gap_to_solve_k']:.1e} K "
                f"({r_doc['seconds']:.2f} s, one solve per block)",
            ),
            (
                "what moves the peak most (per +10 %)",
                ", ".join(f"{d['label']} {d['k_per_10_percent']:+.2f} K" for d in s_doc["largest"]),
            ),
            (
                "sensitivities to the block powers sum to the rise",
                f"{s_doc['power_sum_k']:.4f} K of {s_doc['rise_k']:.4f} K "
                f"({s_doc['parameters']} parameters, {s_doc['seconds']:.2f} s, adjoint)",
            ),
        ],
        images=[
            "floorplan/before.png",
            "floorplan/after.png",
            "floorplan/history.png",
            "floorplan/resistance.png",
            "floorplan/sensitivity.png",
        ],
    )
    c = summary["cooling_sweep"]
    span = max(c["predicted_peak_k"]) - min(c["predicted_peak_k"])
    cooling = Section(
        "3. One model, every cooling",
        "The shipped 'volumetric' operator takes the top and bottom heat-transfer coefficients as "
        "inputs (the face conditions are solved exactly inside the model). One block map, top h "
        "from 50 to 50,000 W/(m²·K): one batched prediction against a solve per value. The "
        "solves on the case grid overestimate the sharp peaks of small blocks; on a grid twice "
        "as fine they meet the operator.",
        rows=[
            ("peak temperature span", f"{span:.2f} K"),
            ("max peak gap, solver on a 2x finer grid", f"{c['max_peak_gap_k']:.3f} K"),
            ("max peak gap, solver on the case grid", f"{c['max_peak_gap_case_grid_k']:.3f} K"),
            ("operator, all values", f"{c['predict_s'] * 1e3:.0f} ms"),
            ("solver, all values", f"{c['solve_s']:.1f} s"),
        ],
        images=["cooling.png"],
    )
    m = summary["many_maps"]
    gaps = np.abs(np.subtract(m["hottest_predicted_peak_k"], m["hottest_solved_peak_k"]))
    many = Section(
        f"4. {m['maps']} power maps",
        f"{m['maps']} maps of the training distribution predicted in batches: the peak, mean and "
        "per-layer maxima of every field (chiptherm predict-batch does this from .npy files). "
        f"The {len(gaps)} hottest are solved again to check their peaks.",
        rows=[
            ("operator, all maps", f"{m['predict_s']:.2f} s ({m['predictions_per_s']:.0f} per s)"),
            ("solver, per map", f"{m['solve_s_per_map'] * 1e3:.0f} ms"),
            (
                "hottest map, predicted / solved peak",
                "{:.2f} / {:.2f} K".format(
                    m["hottest_predicted_peak_k"][0], m["hottest_solved_peak_k"][0]
                ),
            ),
            ("max peak gap of the hottest", f"{gaps.max():.3f} K"),
        ],
        images=["peaks.png"],
    )
    d = summary["stacked_dies"]
    stacked = Section(
        "5. A 3D stack with a fixed die",
        f"The shipped 'stacked_dies' model learned the logic die's power map; the memory die "
        f"above it ({', '.join(d['fixed_power'])}, fixed power) and the warm board are one exact "
        f"solve added to every prediction. One {d['logic_w']:.2f} W logic map at two lid "
        "cooling values, against the solver.",
        rows=[
            (
                f"lid h = {h:,.0f} W/(m²·K): predicted / solved peak, MAE",
                f"{p:.2f} / {t:.2f} K, {e:.4f} K",
            )
            for h, p, t, e in zip(
                d["lid_htc"], d["predicted_peak_k"], d["solved_peak_k"], d["mae_k"], strict=True
            )
        ],
        images=["stacked_dies.png"],
    )
    h = summary["solver_physics"]
    runaway = (
        f"at {h['runaway_scale']:.2f}× (stable to {h['runaway_stable_scale']:.2f}×)"
        if h["runaway_scale"] is not None
        else "not within 16×"
    )
    physics = Section(
        "6. The solver beyond a linear stack",
        "A 4 mm die on a water cold plate, solved by fixed-point iteration: silicon conducts "
        "less as it heats, the cores and an idle cache leak more as they heat, and the water "
        "warms along its flow. No operator covers this stack; the solver does, and says how "
        "far its power may grow before no steady state exists. Then a 3D stack cooled from "
        "inside: water in microchannels between a logic and a memory die.",
        rows=[
            (
                "peak: linear model / all three effects",
                f"{h['linear_peak_k']:.2f} / {h['peak_k']:.2f} K",
            ),
            ("fixed-point steps", str(h["fixed_point_steps"])),
            ("leakage at the answer", f"{h['leakage_w']:.2f} W"),
            ("water outlet (inlet 300 K)", f"{h['coolant_outlet_k']:.2f} K"),
            ("thermal runaway", runaway),
            (
                "microchannels between a logic and a memory die: hottest upstream / downstream "
                "core",
                f"{h['cavity']['core_in_max_k']:.2f} / {h['cavity']['core_out_max_k']:.2f} K",
            ),
            (
                "heat the water carries / power; water outlet",
                f"{h['cavity']['heat_to_water_w']:.2f} / {h['cavity']['power_w']:.0f} W; "
                f"{h['cavity']['outlet_k']:.2f} K",
            ),
            (
                "pressure drop / pumping power",
                f"{h['cavity']['pressure_drop_pa'] / 1e3:.1f} kPa / "
                f"{h['cavity']['pumping_power_w'] * 1e3:.1f} mW",
            ),
        ],
        images=["hot_die.png"],
    )
    t = summary["step_response"]
    in_time = Section(
        "7. In time",
        "The same hot die switched on from idle: each implicit step (BDF2, steps doubling from "
        "a hundred-thousandth of the run) is a fixed-point solve with the heat capacity of "
        "every cell, so the leakage and the water follow the temperature as it rises.",
        rows=[
            ("steps / time", f"{t['steps']} / {t['seconds']:.1f} s"),
            (
                "peak: idle → end of run (steady)",
                f"{t['initial_peak_k']:.2f} → {t['final_peak_k']:.2f} ({t['steady_peak_k']:.2f}) K",
            ),
            (
                "63 % / 99 % of the rise after",
                f"{1e3 * t['time_to_63_s']:.1f} / {1e3 * t['time_to_99_s']:.0f} ms",
            ),
            ("energy balance of a step, worst", f"{t['balance_error']:.1e}"),
        ],
        images=["step_response.png"],
    )
    return [predict, opt, cooling, many, stacked, physics, in_time]
