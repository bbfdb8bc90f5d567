"""The demo's report page: one HTML section per demo section, written from the summary."""

from __future__ import annotations

from typing import Any

import numpy as np

from chiptherm.report.html import Section


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
