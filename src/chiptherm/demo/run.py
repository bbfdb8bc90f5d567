"""Running the main job: a tour of chiptherm on its shipped models, with a report folder.

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

from chiptherm.demo.report import sections
from chiptherm.demo.steps import (
    cooling_sweep,
    floorplan_resistances,
    floorplan_sensitivity,
    solver_physics,
    stacked_dies,
    step_response,
    thousand_maps,
)
from chiptherm.design import (
    BlockSpec,
    Outcome,
    Problem,
    Search,
    optimize,
    outcome_summary,
    write_report,
)
from chiptherm.operator.checkpoint import load_operator, shipped_models
from chiptherm.operator.evaluate import error_metrics
from chiptherm.operator.inference import predict_checked, training_distribution
from chiptherm.report.html import write_index
from chiptherm.report.maps import plot_heat_map
from chiptherm.report.outputs import write_json
from chiptherm.solvers.result import solve
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
