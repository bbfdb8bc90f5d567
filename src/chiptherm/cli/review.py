"""The review command: a stack's temperatures, how far to trust them, what drives the peak and
how much room is left, on one page."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from chiptherm.cli.common import (
    JsonOption,
    LimitOption,
    NoFilesOption,
    SamplesOption,
    SchedulerOption,
    SeedOption,
    SetOption,
    SolverOption,
    StackArgument,
    ToleranceOption,
    WorkersOption,
    app,
    cluster_from,
    console,
    err_console,
    friendly_errors,
    load_stack_with,
    out_option,
    output_folder,
    parse_params,
    parse_tolerances,
    threaded,
)
from chiptherm.cli.sensitivity import Propagation, compass, report_sections
from chiptherm.report.figures import convergence_figure, write_influence, write_moves
from chiptherm.report.html import Section


@app.command()
@friendly_errors
@threaded
def review(
    stack_file: StackArgument,
    max_temperature: Annotated[
        float | None,
        typer.Option(
            help="A temperature limit, K: how far all power may grow before the hottest cell "
            "reaches it (linear stacks).",
        ),
    ] = None,
    limit: LimitOption = None,
    tolerance: ToleranceOption = None,
    samples: SamplesOption = 0,
    seed: SeedOption = 0,
    solver: SolverOption = "auto",
    out: out_option("out/STACK-review") = None,
    as_json: JsonOption = False,
    no_files: NoFilesOption = False,
    sets: SetOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """A design review: the solution and its grid error band, what drives the peak (every
    parameter, every block's position), its uncertainty from tolerances, the power headroom to
    a temperature limit (and blocks' own limits) and, with leakage, the thermal runaway
    margin.

    Writes the solve's files (temperature.npz, maps, cross-section, .vtr), the sensitivity
    files, review.json and one index.html with all of it. With --workers or --scheduler the
    coarser grids and the --samples solves run on a Dask cluster.

    Example: chiptherm review examples/two_die.yaml --max-temperature 373.15 --tolerance power=5%
    """
    from chiptherm.analysis.review import design_review
    from chiptherm.report.html import write_index
    from chiptherm.report.outputs import solve_sections, write_json, write_result
    from chiptherm.report.plots import plot_tornado

    folder = output_folder(out, Path("out") / f"{stack_file.stem}-review", no_files)
    out_dir = folder.path if folder else Path()
    tolerances = parse_tolerances(tolerance, samples)
    limits = parse_params(limit, "--limit", "bank0=358.15")
    stack = load_stack_with(stack_file, sets)
    with err_console.status(f"reviewing {stack.name}") as status:
        found = design_review(
            stack,
            max_temperature,
            limits,
            tolerances,
            samples,
            seed,
            solver,
            progress=status.update,
            cluster=cluster_from(workers, scheduler),
        )
    summary = found.summary()
    if not no_files:
        result_summary = found.result.summary()
        solve_files = write_result(found.result, out_dir, result_summary)
        files = list(solve_files)
        drivers = found.drivers
        shown = drivers.entries[:12]
        files.append(
            plot_tornado(
                [e.parameter.label for e in shown],
                [e.per_change for e in shown],
                out_dir / "sensitivity.png",
                title=f"{stack.name}: what moves the peak",
                xlabel="change of the peak for ±10 % of the parameter (K, linear estimate)",
            )
        )
        files += write_influence(drivers, out_dir) + write_moves(drivers, out_dir)
        spread = None
        if found.uncertainty is not None:
            spread = Propagation(found.uncertainty, found.sampled, found.tolerances)
            files += spread.write(out_dir, drivers)
        if found.grid is not None:
            files.append(
                convergence_figure(
                    found.grid, out_dir / "convergence.png", f"{stack.name}: grid convergence"
                )
            )
        files.append(write_json(out_dir / "review.json", summary))
        sections = [verdict_section(found, files)]
        sections += solve_sections(result_summary, solve_files)
        sections += report_sections(drivers, shown, spread, files)
        files.append(write_index(out_dir / "index.html", f"{stack.name}: review", sections))
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    console.print(verdict_table(found))
    if not no_files:
        console.print(f"wrote {len(set(files))} files to [bold]{folder.target}[/]")


def verdict_rows(found: Any) -> list[tuple[str, str]]:
    """The review in (label, value) rows: peak, grid band, drivers, moves, uncertainty,
    headroom and runaway margin."""
    rows = [("peak", f"{found.result.max_temperature:.3f} K  ({found.drivers.objective.label})")]
    if found.grid is not None:
        peak = found.grid.estimates["peak"]
        limit = (
            "" if peak.extrapolated is None else f", grid-independent ≈ {peak.extrapolated:.3f} K"
        )
        rows.append(("discretization", f"± {peak.band:.3f} K ({peak.behaviour}{limit})"))
    else:
        rows.append(("discretization", f"not estimated: {found.grid_note}"))
    for e in found.drivers.entries[:3]:
        rows.append((f"driver: {e.parameter.key}", f"{e.per_change:+.3f} K per +10 %"))
    if found.drivers.moves:
        move = max(found.drivers.moves, key=lambda m: m.k_per_mm)
        rows.append(
            (
                f"best move: {move.label}",
                f"{compass(move.downhill)}, {-move.k_per_mm:+.3f} K per mm",
            )
        )
    if found.uncertainty is not None:
        rows.append(("σ from the tolerances", f"{found.uncertainty.sigma_k:.3f} K (first order)"))
        if found.sampled is not None and "mean_k" in found.sampled.summary():
            mc = found.sampled.summary()
            rows.append(("sampled mean / 95 %", f"{mc['mean_k']:.3f} / {mc['p95_k']:.3f} K"))
    if found.headroom is not None:
        binding = found.headroom.binding
        cap = found.limit_k if binding == "every cell" else found.block_limits.get(binding)
        where = "every cell" if binding == "every cell" else f"{binding}'s cells"
        rows.append(
            (
                f"power headroom: {where} at {cap:.2f} K",
                f"{found.headroom.scale:.3f} × all power"
                + ("  (already beyond the limit)" if found.headroom.scale < 1 else ""),
            )
        )
    if found.runaway is not None:
        rows.append(("thermal runaway margin", f"{found.runaway.stable_scale:.2f} × all power"))
    return rows


def verdict_table(found: Any) -> Table:
    table = Table(
        title=f"{found.result.stack.name}: review ({found.seconds:.1f} s)",
        title_justify="left",
        show_header=False,
    )
    table.add_column("what")
    table.add_column("value", justify="right")
    for label, value in verdict_rows(found):
        table.add_row(label, value)
    return table


def verdict_section(found: Any, files: list[Path]) -> Section:
    images = [f.name for f in files if f.name == "convergence.png"]
    return Section(
        "Review",
        "The peak, its distance to the grid-independent value (grid convergence index from "
        "the stack's grid and two coarser ones), what drives it, and how much room is left.",
        rows=verdict_rows(found),
        images=images,
    )
