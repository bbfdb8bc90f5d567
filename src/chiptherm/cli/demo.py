"""The main job: ``chiptherm demo`` runs every part of chiptherm on the shipped models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chiptherm.cli.common import (
    app,
    console,
    friendly_errors,
    output_folder,
    threaded,
)


@app.command()
@friendly_errors
@threaded
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = Path("out/demo"),
    seed: Annotated[int, typer.Option(help="Seed of the power map and the search.")] = 0,
    tol_kelvin: Annotated[float, typer.Option(help="Confidence tolerance, K.")] = 0.5,
    steps: Annotated[int, typer.Option(help="Floorplan search evaluations.")] = 240,
) -> None:
    """Tour chiptherm with its shipped models: predict, score, refine, compare, optimize.

    Writes a report folder with PNG maps, the optimization history and index.html.
    Example: chiptherm demo --out out/demo
    """
    import time

    import numpy as np

    from chiptherm.demo import SECTIONS, run_demo

    folder = output_folder(out, out)
    started = time.perf_counter()
    with console.status("running the demo...") as status:

        def section(i: int, name: str) -> None:
            line = f"demo {i + 1}/{len(SECTIONS)}: {name} ({time.perf_counter() - started:.0f} s)"
            if console.is_terminal:
                status.update(line)
            else:  # a log, CI, | tee: a line per section
                console.print(line, highlight=False)

        report = run_demo(folder.path, seed, tol_kelvin, steps, on_section=section)
    p, f = report.summary["prediction"], report.summary["floorplan"]
    table = Table(title="chiptherm demo", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("prediction path", p["path"])
    table.add_row(
        "max error: score / coarse estimate / true",
        f"{p['estimated_max_error_k']:.3f} / {p['coarse_estimate_k']:.3f} / "
        f"{p['true_max_error_k']:.3f} K",
    )
    table.add_row("mean abs / peak error", f"{p['mae_k']:.4f} / {p['peak_error_k']:.3f} K")
    rej = report.summary["rejected_prediction"]
    table.add_row(
        f"same map by '{rej['model']}': score, answer",
        f"{rej['estimated_max_error_k']:.3f} K, {rej['path']}",
    )
    table.add_row(
        "predict / score / full solve",
        f"{p['predict_s']:.3f} / {p['confidence']['seconds']:.3f} / {p['solve_s']:.3f} s",
    )
    table.add_row(
        "floorplan peak before → after", f"{f['initial_peak_k']:.2f} → {f['verified_peak_k']:.2f} K"
    )
    table.add_row("evaluations / solver calls", f"{f['evaluations']} / {f['solver_calls']}")
    r = f["resistances"]
    table.add_row(
        "floorplan resistance matrix: strongest coupling",
        "{} ↔ {} {:,.0f} K/W".format(*r["strongest_coupling"], r["strongest_coupling_k_per_w"]),
    )
    table.add_row(
        "power the new placement takes at the old peak",
        f"{r['power_scale_at_initial_peak']:.3f} ×",
    )
    driver = f["sensitivity"]["largest"][0]
    table.add_row(
        "what moves its peak most (adjoint)",
        f"{driver['label']}: {driver['k_per_10_percent']:+.2f} K per +10 %",
    )
    c = report.summary["cooling_sweep"]
    table.add_row(
        f"top h sweep, {len(c['values'])} values: max peak gap",
        f"{c['max_peak_gap_k']:.3f} K (solver 2x finer)",
    )
    m = report.summary["many_maps"]
    table.add_row(
        f"{m['maps']} maps in batches", f"{m['predict_s']:.2f} s ({m['predictions_per_s']:.0f}/s)"
    )
    d = report.summary["stacked_dies"]
    gaps = np.abs(np.subtract(d["predicted_peak_k"], d["solved_peak_k"]))
    table.add_row("stacked dies, fixed die: max peak gap", f"{gaps.max():.3f} K")
    h = report.summary["solver_physics"]
    table.add_row(
        "hot die, linear → k(T), leakage, coolant",
        f"{h['linear_peak_k']:.2f} → {h['peak_k']:.2f} K",
    )
    table.add_row("hot die: power before thermal runaway", f"{h['runaway_stable_scale']:.2f} ×")
    c = h["cavity"]
    table.add_row(
        "microchannels between dies: core in → out",
        f"{c['core_in_max_k']:.2f} → {c['core_out_max_k']:.2f} K",
    )
    t = report.summary["step_response"]
    table.add_row(
        "hot die in time: 63 / 99 % of the rise after",
        f"{1e3 * t['time_to_63_s']:.1f} / {1e3 * t['time_to_99_s']:.0f} ms",
    )
    console.print(table)
    console.print(f"report: [bold]{folder.target / 'index.html'}[/]")
