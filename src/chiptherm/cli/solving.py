"""Commands of the reference solver: solve, converge, sweep."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from chiptherm.cli.common import (
    JsonOption,
    NoFilesOption,
    SetOption,
    SolverOption,
    StackArgument,
    app,
    console,
    err_console,
    friendly_errors,
    load_stack_with,
    output_folder,
    threaded,
)
from chiptherm.errors import InputError


def parse_probe(text: str) -> tuple[float, float, str]:
    """'x,y,layer' (x, y in m) -> (x, y, layer)."""
    parts = text.split(",", 2)
    try:
        return float(parts[0]), float(parts[1]), parts[2].strip()
    except (IndexError, ValueError):
        raise InputError(
            f"--probe {text!r}: expected 'x,y,layer' with x and y in metres, e.g. 0.002,0.003,die"
        ) from None


def show_result(
    result: Any, summary: dict[str, Any], out_dir: Path, as_json: bool, no_files: bool
) -> list[Path]:
    """Write a solve's (or prediction's) files unless ``no_files``, then print the summary
    JSON (``as_json``) or its tables; returns the files written."""
    from chiptherm.report.outputs import write_result

    written = [] if no_files else write_result(result, out_dir, summary)
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        for table in result_tables(summary):
            console.print(table)
    return written


def result_tables(summary: dict[str, Any]) -> list[Table]:
    """Rich tables of layer and block temperatures and solver diagnostics."""
    from chiptherm.report.outputs import channel_text

    layers = Table(title=f"{summary['stack']}: layers (top first)", title_justify="left")
    for col in ("layer", "max K", "min K", "mean K"):
        layers.add_column(col, justify="left" if col == "layer" else "right")
    for row in summary["layers"]:
        layers.add_row(row["name"], f"{row['max']:.3f}", f"{row['min']:.3f}", f"{row['mean']:.3f}")
    tables = [layers]
    if summary["blocks"]:
        blocks = Table(title="blocks", title_justify="left")
        for col in ("block", "layer", "W", "max K", "min K", "mean K"):
            blocks.add_column(col, justify="left" if col in ("block", "layer") else "right")
        for row in summary["blocks"]:
            blocks.add_row(
                row["name"],
                row["layer"],
                f"{row['watts']:.4g}",
                f"{row['max']:.3f}",
                f"{row['min']:.3f}",
                f"{row['mean']:.3f}",
            )
        tables.append(blocks)
    if summary["probes"]:
        probes = Table(title="probes", title_justify="left")
        for col in ("x m", "y m", "layer", "T K"):
            probes.add_column(col, justify="right")
        for row in summary["probes"]:
            probes.add_row(
                f"{row['x']:g}", f"{row['y']:g}", row["layer"], f"{row['temperature']:.3f}"
            )
        tables.append(probes)
    diag = Table(title="solver", title_justify="left", show_header=False)
    diag.add_column("what")
    diag.add_column("value", justify="right")
    s, e, g = summary["solver"], summary["energy"], summary["grid"]
    diag.add_row("cells", f"{g['cells']:,} ({g['nx']}x{g['ny']}x{g['nz']})")
    diag.add_row("method", s["method"])
    diag.add_row("iterations", str(s["iterations"]))
    if s.get("nonlinear_steps"):
        diag.add_row("fixed-point steps", str(s["nonlinear_steps"]))
    diag.add_row("relative residual", f"{s['relative_residual']:.2e}")
    diag.add_row("setup / solve", f"{s['setup_s']:.3f} s / {s['solve_s']:.3f} s")
    diag.add_row("power in / heat out", f"{e['power_in']:.6g} W / {e['heat_out']:.6g} W")
    if e.get("leakage"):
        diag.add_row("of which leakage", f"{e['leakage']:.6g} W")
    for face, c in (e.get("coolant") or {}).items():
        where = face if face.startswith("cavity") else f"{face} face"
        diag.add_row(f"coolant, {where}", f"{c['inlet_k']:.2f} K in, {c['outlet_k']:.2f} K out")
        if "pressure_drop_pa" in c:
            diag.add_row(f"channels, {where}", channel_text(c))
    diag.add_row("energy balance error", f"{e['relative_error']:.1e}")
    tables.append(diag)
    return tables


@app.command()
@friendly_errors
@threaded
def solve(
    stack_file: StackArgument,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder \\[default: out/STACK].")
    ] = None,
    as_json: JsonOption = False,
    solver: SolverOption = "auto",
    tol: Annotated[float, typer.Option(help="Relative residual tolerance (iterative).")] = 1e-10,
    probe: Annotated[
        list[str] | None, typer.Option(help="Probe 'x,y,layer' (m); repeatable.")
    ] = None,
    no_files: NoFilesOption = False,
    sets: SetOption = None,
    runaway_margin: Annotated[
        bool,
        typer.Option(
            "--runaway-margin",
            help="With leakage: also find by how much all power may grow before thermal "
            "runaway (bisection over further solves).",
        ),
    ] = False,
) -> None:
    """Solve a stack file; write temperature.npz, summary.json, PNG maps, a .vtr file and
    index.html.

    Example: chiptherm solve examples/two_die.yaml --out out/two_die --probe 0.004,0.004,die1_active
    """
    from chiptherm.solvers.result import solve as solve_stack

    folder = output_folder(out, Path("out") / stack_file.stem, no_files)
    out_dir = folder.path if folder else Path()
    stack = load_stack_with(stack_file, sets)
    if runaway_margin and not stack.leaky_sources:
        raise InputError(
            f"--runaway-margin: {stack_file} has no power source with 'leakage', so it cannot "
            "run away"
        )
    for name, source in stack.power.items():
        if source.map is not None and (source.map < 0).any():
            negative = source.map[source.map < 0]
            err_console.print(
                f"[bold yellow]note:[/] power map {name!r} removes {-negative.sum():.4g} W in "
                f"{negative.size} of {source.map.size} cells: negative map entries are heat "
                "removed (a cooler); block watts cannot be negative",
                highlight=False,
            )
    probes = [parse_probe(p) for p in probe or []]
    names = {layer.name for layer in stack.layers}
    lx, ly = stack.size
    for x, y, layer in probes:
        if layer not in names:
            raise InputError(f"--probe: no layer named {layer!r}; layers: {sorted(names)}")
        if not (0.0 <= x <= lx and 0.0 <= y <= ly):
            raise InputError(
                f"--probe ({x:g}, {y:g}) m lies outside the die, which spans 0 to {lx:g} m in "
                f"x and 0 to {ly:g} m in y"
            )
    with err_console.status(f"solving {stack.name}") as status:
        result = solve_stack(stack, method=solver, tol=tol, progress=status.update)
    summary = result.summary(probes)
    if runaway_margin:
        summary["runaway_margin"] = margin_summary(stack, solver)
    written = show_result(result, summary, out_dir, as_json, no_files)
    if as_json:
        return
    if runaway_margin:
        m = summary["runaway_margin"]
        console.print(
            f"thermal runaway margin: all power may grow by {m['stable_scale']:.3f}× "
            + (
                f"(it runs away at {m['runaway_scale']:.3f}×)"
                if m["runaway_scale"] is not None
                else f"and more (no runaway up to {m['ceiling']:.0f}×)"
            )
        )
    if not no_files:
        console.print(f"wrote {len(written)} files to [bold]{folder.target}[/]")


def margin_summary(stack: Any, solver: str, ceiling: float = 64.0) -> dict[str, Any]:
    """The runaway margin of ``stack`` as JSON, with a status line while it is searched."""
    from chiptherm.solvers.nonlinear import runaway_margin

    with err_console.status("searching the runaway margin") as status:
        margin = runaway_margin(
            stack,
            ceiling,
            method=solver,
            on_trial=lambda f, ok: status.update(
                f"runaway margin: {f:.3f}× {'stable' if ok else 'runs away'}"
            ),
        )
    return {
        "stable_scale": margin.stable_scale,
        "runaway_scale": None if np.isinf(margin.runaway_scale) else margin.runaway_scale,
        "ceiling": ceiling,
        "peak_at_stable_scale_k": margin.peak_k,
        "trials": [{"scale": f, "stable": ok} for f, ok in margin.trials],
    }


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
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder \\[default: out/STACK-convergence]."),
    ] = None,
    as_json: JsonOption = False,
    no_files: NoFilesOption = False,
    sets: SetOption = None,
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
            stack, levels, ratio, not coarser, solver, max_cells, progress=status.update
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
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder \\[default: out/STACK-sweep]."),
    ] = None,
    as_json: JsonOption = False,
    no_files: NoFilesOption = False,
    sets: SetOption = None,
) -> None:
    """Sweep values of a stack file: the peak, the mean, every layer's maximum and every
    block's mean temperature at each value, or each combination of values of several keys.

    Every solve starts from the previous field when the grid stays the same. Writes
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
    with progress_bar("solving", "solves", err_console, as_json) as bar:
        task = bar.add_task("solves", total=total)
        study = sweep_stack(
            stack_file,
            axes,
            overrides,
            solver,
            on_point=lambda done, _: bar.update(task, completed=done),
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


def convergence_figure(study: Any, path: Path, title: str) -> Path:
    """convergence.png of a study: the peak and the mean against the cell size, with their
    limits and bands."""
    from chiptherm.report.plots import plot_convergence

    return plot_convergence(
        [level.h_m for level in study.levels],
        {
            name: (
                study.values[name],
                study.estimates[name].extrapolated,
                study.estimates[name].band,
            )
            for name in ("peak", "mean")
        },
        path,
        title=title,
    )


KEY_UNITS = {
    "htc": "W/(m²·K)",
    "thickness": "m",
    "x": "m",
    "y": "m",
    "width": "m",
    "height": "m",
    "watts": "W",
    "leakage_w": "W",
    "conductivity": "W/(m·K)",
    "contact_resistance": "m²·K/W",
    "ambient": "K",
    "temperature": "K",
    "inlet_temperature": "K",
    "flow_rate": "kg/s",
    "heat_capacity": "J/(m³·K)",
}
"""The unit of a stack file's key, by its last part (SI, as the file holds it)."""


def key_label(key: str) -> str:
    """An axis label for a swept key: 'boundaries.top.htc (W/(m²·K))'."""
    unit = KEY_UNITS.get(key.rsplit(".", 1)[-1])
    return f"{key} ({unit})" if unit else key


def plot_study(study: Any, path: Path, title: str) -> None:
    """The sweep's picture: one key, the peak and the hottest blocks' means against the value;
    two keys, the peak over the grid of values; more keys, none."""
    from chiptherm.report.plots import looks_logarithmic, plot_peak_map, plot_sweep

    if len(study.axes) == 1:
        key, values = study.axes[0]
        x = np.array(values)
        solved = [p for p in study.points if p.error is None]
        first = solved[0].block_mean_k if solved else {}
        hottest = sorted(first, key=lambda b: -first[b])[:6]
        nan = float("nan")
        plot_sweep(
            x,
            {"peak": (x, [p.peak_k for p in study.points])}
            | {
                f"mean {b}": (x, [p.block_mean_k.get(b, nan) for p in study.points])
                for b in hottest
            },
            path,
            title=title,
            xlabel=key_label(key),
            ylabel="temperature (K)",
            log_x=looks_logarithmic(x),
        )
    elif len(study.axes) == 2:
        (ykey, yvalues), (xkey, xvalues) = study.axes
        plot_peak_map(
            xvalues,
            yvalues,
            study.peak_grid(),
            path,
            title=title,
            xlabel=key_label(xkey),
            ylabel=key_label(ykey),
        )


@app.command()
@friendly_errors
@threaded
def compare(
    stack_a: Annotated[Path, typer.Argument(help="Design A, a stack YAML file.", metavar="A.yaml")],
    stack_b: Annotated[Path, typer.Argument(help="Design B, a stack YAML file.", metavar="B.yaml")],
    solver: SolverOption = "auto",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder \\[default: out/A-vs-B]."),
    ] = None,
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
    from chiptherm.report.outputs import safe_name, write_json
    from chiptherm.report.plots import plot_heat_map

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
