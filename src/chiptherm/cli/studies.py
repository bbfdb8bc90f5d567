"""Commands that solve a stack more than once: converge (the grid error, by refining), sweep
(the stack at each value, or each combination of values, of its keys) and compare (two designs
side by side)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from chiptherm.cli.common import (
    JsonOption,
    NoFilesOption,
    SchedulerOption,
    SetOption,
    SolverOption,
    StackArgument,
    WorkersOption,
    app,
    cluster_from,
    console,
    err_console,
    friendly_errors,
    load_stack_with,
    out_option,
    output_folder,
    threaded,
)
from chiptherm.errors import InputError
from chiptherm.report.figures import convergence_figure, plot_study


@app.command()
@friendly_errors
@threaded
def converge(
    stack_file: StackArgument,
    levels: Annotated[int, typer.Option(help="Grids in the study (at least 3).")] = 3,
    ratio: Annotated[
        float,
        typer.Option(
            help="Refinement ratio between grids; keep it an integer, so block edges stay on "
            "cell edges."
        ),
    ] = 2.0,
    coarser: Annotated[
        bool,
        typer.Option(
            "--coarser",
            help="Study the stack's grid and coarser ones (it is the finest) instead of finer.",
        ),
    ] = False,
    solver: SolverOption = "auto",
    max_cells: Annotated[
        int, typer.Option(help="Refuse a study whose finest grid has more cells.")
    ] = 40_000_000,
    out: out_option("out/STACK-convergence") = None,
    as_json: JsonOption = False,
    no_files: NoFilesOption = False,
    sets: SetOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Grid convergence study: how far the solution is from the grid-independent one.

    Solves the stack on grids --ratio apart in x, y and through every layer (the stack's own
    grid and finer ones, or coarser ones with --coarser) and, for the peak, the mean, every
    layer's maximum and every block's mean temperature, reports the observed order, the
    Richardson-extrapolated value and the grid convergence index (GCI) of the finest grid as a
    band in K. Writes convergence.json and convergence.png.

    Example: chiptherm converge examples/tsv_array.yaml --out out/tsv-convergence
    """
    from chiptherm.analysis.convergence import convergence_study, quantity_table, stretch_fraction
    from chiptherm.report.outputs import write_json

    folder = output_folder(out, Path("out") / f"{stack_file.stem}-convergence", no_files)
    out_dir = folder.path if folder else Path()
    stack = load_stack_with(stack_file, sets)
    with err_console.status(f"grid convergence study of {stack.name}") as status:
        study = convergence_study(
            stack,
            levels,
            ratio,
            not coarser,
            solver,
            max_cells,
            progress=status.update,
            cluster=cluster_from(workers, scheduler),
        )
    summary = study.summary()
    if not no_files:
        write_json(out_dir / "convergence.json", summary)
        convergence_figure(study, out_dir / "convergence.png", f"{stack.name}: grid convergence")
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    grids = Table(title="grids", title_justify="left")
    for col in ("nx × ny × nz", "cells", "h µm", "solver", "seconds"):
        grids.add_column(col, justify="right")
    for level in study.levels:
        grids.add_row(
            f"{level.nx} × {level.ny} × {level.nz}",
            f"{level.cells:,}",
            f"{1e6 * level.h_m:.2f}",
            level.method,
            f"{level.seconds:.2f}",
        )
    console.print(grids)
    table = Table(
        title="finest grid: value ± GCI band, extrapolated limit, observed order p",
        title_justify="left",
        box=None,
        pad_edge=False,
    )
    for col in ("quantity", "finest K", "± K", "limit K", "p", "behaviour"):
        table.add_column(col, justify="left" if col in ("quantity", "behaviour") else "right")
    for name, e, values in quantity_table(study):
        note = "pre-asymptotic" if e.behaviour == "monotone" and not e.asymptotic else e.behaviour
        table.add_row(
            name,
            f"{values[-1]:.3f}",
            f"{e.band:.3f}",
            "-" if e.extrapolated is None else f"{e.extrapolated:.3f}",
            "-" if e.order is None else f"{e.order:.2f}",
            note,
        )
    console.print(table)
    if any(
        e.behaviour != "grid-independent" and not e.asymptotic for e in study.estimates.values()
    ):
        console.print(
            "pre-asymptotic: p far from the scheme's 2, oscillatory: the values go up and down; "
            "for those, refine further before trusting the band"
        )
    if stretch_fraction(study.levels) > 0.1:
        console.print(
            "[yellow]note:[/] layers too thin to coarsen kept their z-cells, so the grids were "
            "not scaled evenly; the cell size h mixes both directions"
        )
    if not no_files:
        console.print(f"wrote 2 files to [bold]{folder.target}[/]")


@app.command()
@friendly_errors
@threaded
def sweep(
    stack_file: StackArgument,
    vary: Annotated[
        list[str],
        typer.Option(
            help="A key and its values: KEY=a,b,c, KEY=start:stop:count or "
            "KEY=start:stop:count:log, e.g. boundaries.top.htc=1e3:1e5:9:log; repeat it to "
            "sweep every combination.",
            metavar="KEY=VALUES",
        ),
    ],
    solver: SolverOption = "auto",
    out: out_option("out/STACK-sweep") = None,
    as_json: JsonOption = False,
    no_files: NoFilesOption = False,
    sets: SetOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Sweep values of a stack file: the peak, the mean, every layer's maximum and every
    block's mean temperature at each value, or each combination of values of several keys.

    Every solve starts from the previous field when the grid stays the same; with --workers
    or --scheduler the points are solved on a Dask cluster instead, each from a cold start
    (the same values to the solver's tolerance, in the same order). Writes
    sweep.json, sweep.csv and sweep.png (one key: the peak and the block means against the
    value; two keys: the peak over the grid of values).

    Example: chiptherm sweep examples/two_die.yaml --vary boundaries.top.htc=1e3:1e5:9:log
    """
    from chiptherm.analysis.sweep import sweep_stack
    from chiptherm.description.overrides import parse_assignment, sweep_values
    from chiptherm.formats.loading import load_stack
    from chiptherm.report.outputs import write_csv, write_json
    from chiptherm.report.progress import progress_bar

    folder = output_folder(out, Path("out") / f"{stack_file.stem}-sweep", no_files)
    out_dir = folder.path if folder else Path()
    axes = []
    for item in vary:
        key, sep, spec = item.partition("=")
        if not sep or not key.strip():
            raise InputError(
                f"--vary {item!r}: expected KEY=VALUES, e.g. boundaries.top.htc=1e3,1e4"
            )
        axes.append((key.strip(), sweep_values(spec.strip())))
    if len({key for key, _ in axes}) < len(axes):
        raise InputError("--vary: each key may be swept once")
    overrides = [parse_assignment(item) for item in sets or []]
    load_stack(stack_file, [*overrides, *((k, v[0]) for k, v in axes)])  # fails before solving
    total = int(np.prod([len(v) for _, v in axes]))
    cluster = cluster_from(workers, scheduler)
    with progress_bar("solving", "solves", err_console, as_json) as bar:
        task = bar.add_task("solves", total=total)
        study = sweep_stack(
            stack_file,
            axes,
            overrides,
            solver,
            on_point=lambda done, _: bar.update(task, completed=done),
            cluster=cluster,
        )
    summary = study.summary()
    title = f"{study.stack_name}: sweep of {' × '.join(study.keys)}"
    if not no_files:
        write_json(out_dir / "sweep.json", summary)
        write_csv(out_dir / "sweep.csv", study.rows())
        plot_study(study, out_dir / "sweep.png", title)
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    table = Table(title=title, title_justify="left")
    short = [".".join(key.split(".")[-2:]) for key in study.keys]  # the title has the full keys
    pumping = ("pumping W",) if study.pumped else ()
    for col in (*short, "peak K", "mean K", *pumping, "hottest block", "solver", "iterations", "s"):
        table.add_column(col, justify="left" if col == "hottest block" else "right")
    for p in study.points:
        if p.error is not None:
            reason = "thermal runaway" if "runaway" in p.error else "solve failed"
            values = (f"{v:.4g}" for v in p.values.values())
            dashes = ("-",) * (3 if study.pumped else 2)
            table.add_row(*values, *dashes, f"[red]{reason}[/]", "-", "-", f"{p.seconds:.2f}")
            continue
        block = max(p.block_mean_k, key=p.block_mean_k.get) if p.block_mean_k else None
        table.add_row(
            *(f"{v:.4g}" for v in p.values.values()),
            f"{p.peak_k:.3f}",
            f"{p.mean_k:.3f}",
            *((f"{p.pumping_w:.3g}",) if study.pumped else ()),
            "-" if block is None else f"{block} ({p.block_mean_k[block]:.2f} K)",
            p.method,
            str(p.iterations) + (" (warm)" if p.warm_start and p.iterations else ""),
            f"{p.seconds:.2f}",
        )
    console.print(table)
    failed = [p for p in study.points if p.error is not None]
    if failed:
        console.print(
            f"{len(failed)} of {len(study.points)} solves failed; the first: {failed[0].error}"
        )
    if not no_files:
        plotted = len(study.axes) <= 2
        console.print(f"wrote {3 if plotted else 2} files to [bold]{folder.target}[/]")


@app.command()
@friendly_errors
@threaded
def compare(
    stack_a: Annotated[Path, typer.Argument(help="Design A, a stack YAML file.", metavar="A.yaml")],
    stack_b: Annotated[Path, typer.Argument(help="Design B, a stack YAML file.", metavar="B.yaml")],
    solver: SolverOption = "auto",
    out: out_option("out/A-vs-B") = None,
    as_json: JsonOption = False,
    no_files: NoFilesOption = False,
) -> None:
    """Two designs side by side: the peak, every layer's hottest cell and every block's mean
    in both and their change (B - A), layers and blocks matched by name.

    Writes compare.json and, for every layer or face both heat on the same lateral grid, a
    map of the change (difference_LAYER.png).

    Example: chiptherm compare examples/single_die.yaml examples/hot_die.yaml
    """
    from chiptherm.analysis.compare import compare_stacks
    from chiptherm.formats.loading import load_stack
    from chiptherm.report.maps import plot_heat_map
    from chiptherm.report.outputs import safe_name, write_json

    folder = output_folder(out, Path("out") / f"{stack_a.stem}-vs-{stack_b.stem}", no_files)
    out_dir = folder.path if folder else Path()
    a, b = load_stack(stack_a), load_stack(stack_b)
    with err_console.status(f"solving {a.name} and {b.name}"):
        found = compare_stacks(a, b, solver)
    summary = found.summary()
    written = []
    if not no_files:
        written.append(write_json(out_dir / "compare.json", summary))
        for name, (source, delta) in found.maps.items():
            span = float(np.abs(delta).max()) or 1.0
            written.append(
                plot_heat_map(
                    delta,
                    b.size,
                    out_dir / f"difference_{safe_name(name)}.png",
                    title=f"{name}: {b.name} minus {a.name}",
                    blocks=b.power[source].blocks,
                    label="change (K)",
                    cmap="coolwarm",
                    vmin=-span,
                    vmax=span,
                )
            )
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    table = Table(title=f"{b.name} (B) against {a.name} (A)", title_justify="left")
    for col in ("", "A, K", "B, K", "B - A, K"):
        table.add_column(col, justify="left" if not col else "right")
    for label, changes in (
        ("", [found.peak]),
        ("max ", found.layers),
        ("mean ", found.blocks),
    ):
        for c in changes:
            table.add_row(f"{label}{c.name}", f"{c.a_k:.3f}", f"{c.b_k:.3f}", f"{c.delta_k:+.3f}")
    console.print(table)
    for who, names in (("A", found.only_a), ("B", found.only_b)):
        if names:
            console.print(f"only in {who}: {', '.join(names)}")
    if not no_files:
        console.print(f"wrote {len(written)} files to [bold]{folder.target}[/]")
