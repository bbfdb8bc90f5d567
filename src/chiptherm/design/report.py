"""The report of a floorplan search: a JSON-ready summary (:func:`outcome_summary`) and the
files a run writes (:func:`write_report`: the placed stack, before and after maps, the history
plot and the summary)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from chiptherm.design.outcome import Outcome


def outcome_summary(outcome: Outcome) -> dict[str, object]:
    """A JSON-ready summary of an optimization run."""
    h = outcome.history
    return {
        "mode": outcome.mode,
        "seconds": outcome.seconds,
        "evaluations": h.evaluations[-1] if h.evaluations else 0,
        "solver_calls": h.solver_calls,
        "confidence_checks": h.scores,
        "confidence_accepted": h.accepted,
        "refinements": h.refinements,
        "polish_evaluations": h.polished,
        "descent_steps": h.descent_steps,
        "descent_gain_k": h.descent_gain_k,
        "objective_k": outcome.objective_k,
        "initial_peak_k": outcome.initial_peak_k,
        "verified_peak_k": outcome.verified_peak_k,
        "overlap_penalty_k": outcome.overlap_k,
        "runaway_candidates": outcome.runaways,
        "blocks": [b.model_dump() for b in outcome.blocks],
        "dies": outcome.dies,
        "history": {"evaluations": h.evaluations, "best_k": h.best},
    }


def write_report(outcome: Outcome, out_dir: str | Path) -> list[Path]:
    """placement.yaml (the best stack), before.png / after.png maps of the block-carrying cells
    (hottest through their layer) with the placed blocks outlined, history.png and summary.json
    in ``out_dir``."""
    from chiptherm.description.stack_io import save_stack
    from chiptherm.report.maps import plot_heat_map
    from chiptherm.report.outputs import write_json
    from chiptherm.report.plots import plot_history

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [save_stack(outcome.verified.stack, out / "placement.yaml")]
    maps = []
    for name, result, peak in (
        ("before", outcome.initial, outcome.initial_peak_k),
        ("after", outcome.verified, outcome.verified_peak_k),
    ):
        source = result.stack.power[outcome.power or next(iter(result.stack.power))]
        if outcome.cells is not None:  # the layer (or face) that carries the blocks
            tmap = result.temperature[outcome.cells].max(axis=0)
        else:
            hottest = np.unravel_index(np.argmax(result.temperature), result.temperature.shape)
            tmap = result.temperature[hottest[0]]
        maps.append((name, tmap, source.blocks, peak))
    vmin = min(m[1].min() for m in maps)
    vmax = max(m[1].max() for m in maps)
    for name, tmap, blocks, peak in maps:
        written.append(
            plot_heat_map(
                tmap,
                outcome.verified.stack.size,
                out / f"{name}.png",
                title=f"{name}: peak {peak:.2f} K (solver)",
                blocks=blocks,
                vmin=vmin,
                vmax=vmax,
            )
        )
    h = outcome.history
    written.append(
        plot_history(
            h.best,
            out / "history.png",
            title=f"{outcome.mode} search",
            ylabel="best objective (K)",
            xlabel="generation",
        )
    )
    written.append(write_json(out / "summary.json", outcome_summary(outcome)))
    return written
