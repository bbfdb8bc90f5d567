"""The ``chiptherm`` command line: parse, call the library, print. No physics here."""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from chiptherm.errors import ChipthermError, InputError

app = typer.Typer(
    help="Fast, trustworthy steady thermal simulation of chips and 3D-IC stacks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Change the stack file: KEY=VALUE with a dotted key, e.g. boundaries.top.htc=5e4 "
        "or layers.tim.thickness=3e-5; repeatable.",
        metavar="KEY=VALUE",
    ),
]


def load_stack_with(stack_file: Path, sets: list[str] | None) -> Any:
    """The stack file with the ``--set`` assignments applied."""
    from chiptherm.overrides import parse_assignment
    from chiptherm.stack_io import load_stack

    return load_stack(stack_file, [parse_assignment(item) for item in sets or []])


def friendly_errors(func: F) -> F:
    """Turn chiptherm errors into one red line on stderr and exit code 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ChipthermError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _print_version(value: bool) -> None:
    if value:
        from chiptherm import __version__

        console.print(f"chiptherm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Fast, trustworthy steady thermal simulation of chips and 3D-IC stacks."""


def parse_probe(text: str) -> tuple[float, float, str]:
    """'x,y,layer' (x, y in m) -> (x, y, layer)."""
    parts = text.split(",", 2)
    try:
        return float(parts[0]), float(parts[1]), parts[2].strip()
    except (IndexError, ValueError):
        raise InputError(
            f"--probe {text!r}: expected 'x,y,layer' with x and y in metres, e.g. 0.002,0.003,die"
        ) from None


def result_tables(summary: dict[str, Any]) -> list[Table]:
    """Rich tables of layer and block temperatures and solver diagnostics."""
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
    diag.add_row("energy balance error", f"{e['relative_error']:.1e}")
    tables.append(diag)
    return tables


@app.command()
@friendly_errors
def solve(
    stack_file: Annotated[Path, typer.Argument(help="Stack YAML file.", metavar="STACK.yaml")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder \\[default: out/STACK].")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary JSON only.")] = False,
    solver: Annotated[
        str, typer.Option(help="auto, transform, cg-amg, cg-transform, gmres-amg or direct.")
    ] = "auto",
    tol: Annotated[float, typer.Option(help="Relative residual tolerance (iterative).")] = 1e-10,
    probe: Annotated[
        list[str] | None, typer.Option(help="Probe 'x,y,layer' (m); repeatable.")
    ] = None,
    no_files: Annotated[bool, typer.Option("--no-files", help="Write no output files.")] = False,
    sets: SetOption = None,
) -> None:
    """Solve a stack file and write temperature.npz, summary.json, PNG maps and a .vtr file.

    Example: chiptherm solve examples/two_die.yaml --out out/two_die --probe 0.004,0.004,die1
    """
    from chiptherm.report.outputs import write_result
    from chiptherm.result import solve as solve_stack

    stack = load_stack_with(stack_file, sets)
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
    out_dir = out or Path("out") / stack_file.stem
    if not no_files:
        written = write_result(result, out_dir, summary)
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    for table in result_tables(summary):
        console.print(table)
    if not no_files:
        console.print(f"wrote {len(written)} files to [bold]{out_dir}[/]")


@app.command()
@friendly_errors
def converge(
    stack_file: Annotated[Path, typer.Argument(help="Stack YAML file.", metavar="STACK.yaml")],
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
    solver: Annotated[
        str, typer.Option(help="auto, transform, cg-amg, cg-transform, gmres-amg or direct.")
    ] = "auto",
    max_cells: Annotated[
        int, typer.Option(help="Refuse a study whose finest grid has more cells.")
    ] = 40_000_000,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder \\[default: out/STACK-convergence]."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary JSON only.")] = False,
    no_files: Annotated[bool, typer.Option("--no-files", help="Write no output files.")] = False,
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
    from chiptherm.convergence import convergence_study, quantity_table, stretch_fraction
    from chiptherm.report.outputs import write_json
    from chiptherm.report.plots import plot_convergence

    stack = load_stack_with(stack_file, sets)
    with err_console.status(f"grid convergence study of {stack.name}") as status:
        study = convergence_study(
            stack, levels, ratio, not coarser, solver, max_cells, progress=status.update
        )
    summary = study.summary()
    out_dir = out or Path("out") / f"{stack_file.stem}-convergence"
    if not no_files:
        write_json(out_dir / "convergence.json", summary)
        plot_convergence(
            [level.h_m for level in study.levels],
            {
                name: (study.values[name], study.estimates[name].extrapolated, e.band)
                for name, e in ((n, study.estimates[n]) for n in ("peak", "mean"))
            },
            out_dir / "convergence.png",
            title=f"{stack.name}: grid convergence",
        )
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
        console.print(f"wrote 2 files to [bold]{out_dir}[/]")


@app.command()
@friendly_errors
def sweep(
    stack_file: Annotated[Path, typer.Argument(help="Stack YAML file.", metavar="STACK.yaml")],
    vary: Annotated[
        str,
        typer.Option(
            help="The key and its values: KEY=a,b,c, KEY=start:stop:count or "
            "KEY=start:stop:count:log, e.g. boundaries.top.htc=1e3:1e5:9:log.",
            metavar="KEY=VALUES",
        ),
    ],
    solver: Annotated[
        str, typer.Option(help="auto, transform, cg-amg, cg-transform, gmres-amg or direct.")
    ] = "auto",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder \\[default: out/STACK-sweep]."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary JSON only.")] = False,
    no_files: Annotated[bool, typer.Option("--no-files", help="Write no output files.")] = False,
    sets: SetOption = None,
) -> None:
    """Sweep one value of a stack file: the peak, the mean, every layer's maximum and every
    block's mean temperature at each value.

    Every solve starts from the previous field when the grid stays the same. Writes
    sweep.json, sweep.csv and sweep.png (the peak and the block means against the value).

    Example: chiptherm sweep examples/two_die.yaml --vary boundaries.top.htc=1e3:1e5:9:log
    """
    from chiptherm.overrides import parse_assignment, sweep_values
    from chiptherm.report.outputs import write_csv, write_json
    from chiptherm.report.plots import plot_sweep
    from chiptherm.report.progress import progress_bar
    from chiptherm.stack_io import load_stack
    from chiptherm.sweep import sweep_stack

    key, sep, spec = vary.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--vary {vary!r}: expected KEY=VALUES, e.g. boundaries.top.htc=1e3,1e4")
    values = sweep_values(spec.strip())
    overrides = [parse_assignment(item) for item in sets or []]
    load_stack(stack_file, [*overrides, (key.strip(), values[0])])  # fails before any solve
    with progress_bar("solving", "solves", err_console, as_json) as bar:
        task = bar.add_task("solves", total=len(values))
        study = sweep_stack(
            stack_file,
            key.strip(),
            values,
            overrides,
            solver,
            on_point=lambda done, _: bar.update(task, completed=done),
        )
    summary = study.summary()
    out_dir = out or Path("out") / f"{stack_file.stem}-sweep"
    if not no_files:
        write_json(out_dir / "sweep.json", summary)
        write_csv(out_dir / "sweep.csv", study.rows())
        x = study.values
        blocks = list(study.points[0].block_mean_k)
        hottest = sorted(blocks, key=lambda b: -study.points[0].block_mean_k[b])[:6]
        plot_sweep(
            x,
            {"peak": (x, [p.peak_k for p in study.points])}
            | {f"mean {b}": (x, [p.block_mean_k[b] for p in study.points]) for b in hottest},
            out_dir / "sweep.png",
            title=f"{study.stack_name}: sweep of {study.key}",
            xlabel=study.key,
            ylabel="temperature (K)",
            log_x=bool(x.min() > 0 and x.max() / x.min() >= 20),
        )
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    table = Table(title=f"{study.stack_name}: sweep of {study.key}", title_justify="left")
    for col in ("value", "peak K", "mean K", "hottest block", "solver", "iterations", "s"):
        table.add_column(col, justify="left" if col == "hottest block" else "right")
    for p in study.points:
        block = max(p.block_mean_k, key=p.block_mean_k.get) if p.block_mean_k else None
        table.add_row(
            f"{p.value:.4g}",
            f"{p.peak_k:.3f}",
            f"{p.mean_k:.3f}",
            "-" if block is None else f"{block} ({p.block_mean_k[block]:.2f} K)",
            p.method,
            str(p.iterations) + (" (warm)" if p.warm_start and p.iterations else ""),
            f"{p.seconds:.2f}",
        )
    console.print(table)
    if not no_files:
        console.print(f"wrote 3 files to [bold]{out_dir}[/]")


@app.command()
@friendly_errors
def resistances(
    stack_file: Annotated[Path, typer.Argument(help="Stack YAML file.", metavar="STACK.yaml")],
    powers: Annotated[
        Path | None,
        typer.Option(
            help="CSV of power cases: a header of block names (and an optional 'name' column), "
            "then one case per row in W; unlisted blocks keep their power from the stack file. "
            "Writes block_temperatures.csv.",
            metavar="CASES.csv",
        ),
    ] = None,
    solver: Annotated[
        str, typer.Option(help="auto, transform, cg-amg, cg-transform, gmres-amg or direct.")
    ] = "auto",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder \\[default: out/STACK-resistances]."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary JSON only.")] = False,
    no_files: Annotated[bool, typer.Option("--no-files", help="Write no output files.")] = False,
    sets: SetOption = None,
) -> None:
    """Block-to-block thermal resistance matrix: every block's mean temperature for any block
    powers, exactly, without solving again.

    One solve per power block gives R (K/W: the mean temperature rise of block i per watt in
    block j) and the background T0 (K, every block off), so that T_i = T0_i + sum_j R_ij P_j
    for this floorplan. Writes resistance.json, resistance.csv and resistance.png; with
    --powers, evaluates every case of a CSV file: every block's mean and the hottest cell,
    which is always a heated one, exactly.

    Example: chiptherm resistances examples/two_die.yaml --powers cases.csv --out out/rmatrix
    """
    import numpy as np

    from chiptherm.compact import block_inputs, read_power_cases, resistance_matrix
    from chiptherm.report.outputs import write_csv, write_json
    from chiptherm.report.plots import plot_resistance_matrix
    from chiptherm.report.progress import progress_bar

    stack = load_stack_with(stack_file, sets)
    cases = None if powers is None else read_power_cases(powers, block_inputs(stack))
    with progress_bar("solving", "blocks", err_console, as_json) as bar:
        task = bar.add_task("blocks", total=None)
        matrix = resistance_matrix(
            stack,
            solver,
            on_block=lambda done, total: bar.update(task, completed=done, total=total),
        )
    summary = matrix.summary()
    if cases is not None:
        temperatures = matrix.temperatures(cases.watts)
        peaks = matrix.peaks(cases.watts)
        worst = int(np.argmax(peaks))
        summary["cases"] = {
            "file": str(powers),
            "count": len(cases.names),
            "hottest_case": cases.names[worst],
            "hottest_block": matrix.labels[int(np.argmax(temperatures[worst]))],
            "hottest_block_mean_k": float(temperatures[worst].max()),
            "peak_k": float(peaks[worst]),
        }
    out_dir = out or Path("out") / f"{stack_file.stem}-resistances"
    if not no_files:
        write_json(out_dir / "resistance.json", summary)
        write_csv(
            out_dir / "resistance.csv",
            [
                {"block": label} | dict(zip(matrix.labels, map(float, row), strict=True))
                for label, row in zip(matrix.labels, matrix.resistance, strict=True)
            ],
        )
        plot_resistance_matrix(
            matrix.resistance,
            matrix.labels,
            out_dir / "resistance.png",
            title=f"{stack.name}: block-to-block thermal resistance (K/W)",
        )
        if cases is not None:
            write_csv(
                out_dir / "block_temperatures.csv",
                [
                    {"name": name}
                    | dict(zip(matrix.labels, map(float, row), strict=True))
                    | {
                        "hottest_block": matrix.labels[int(np.argmax(row))],
                        "hottest_block_mean_k": float(row.max()),
                        "peak_k": float(peak),
                    }
                    for name, row, peak in zip(cases.names, temperatures, peaks, strict=True)
                ],
            )
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    table = Table(
        title=f"{stack.name}: {len(matrix.blocks)} blocks, {matrix.method}, {matrix.seconds:.2f} s",
        title_justify="left",
    )
    for col in ("block", "source", "W", "T0 K", "R self K/W", "warmed most by", "T K"):
        table.add_column(
            col, justify="left" if col in ("block", "source", "warmed most by") else "right"
        )
    others = matrix.resistance - np.diag(np.full(len(matrix.blocks), np.inf))
    for i, row in enumerate(summary["blocks"]):
        j = int(np.argmax(others[i])) if len(matrix.blocks) > 1 else None
        table.add_row(
            row["label"],
            row["source"],
            f"{row['nominal_w']:.3g}",
            f"{row['background_k']:.2f}",
            f"{row['self_resistance_k_per_w']:.4g}",
            "-" if j is None else f"{matrix.labels[j]} ({matrix.resistance[i, j]:.3g} K/W)",
            f"{row['nominal_temperature_k']:.2f}",
        )
    console.print(table)
    if cases is not None:
        c = summary["cases"]
        console.print(
            f"{c['count']} power cases: the hottest is {c['hottest_case']!r}, its hottest cell "
            f"at {c['peak_k']:.2f} K, block {c['hottest_block']} at "
            f"{c['hottest_block_mean_k']:.2f} K on average"
        )
    if not no_files:
        written = 3 if cases is None else 4
        console.print(f"wrote {written} files to [bold]{out_dir}[/]")


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
@friendly_errors
def hotspot(ctx: typer.Context) -> None:
    """Run a HotSpot steady grid model with HotSpot's own flags; writes its output files.

    Example: chiptherm hotspot -c hotspot.config -f ev6.flp -p gcc.ptrace -model_type grid
    -steady_file gcc.steady -grid_steady_file gcc.grid.steady [--json]
    [--solver auto|direct|multigrid]

    --solver: 'multigrid' iterates exactly as HotSpot's default build does (power-of-two
    grids; with -detailed_3D on, plain Gauss-Seidel as HotSpot does), so the printed values
    equal HotSpot's; 'direct' solves the same network exactly (as HotSpot's SuperLU build);
    'auto' (default) takes HotSpot's iteration where it applies.
    """
    from chiptherm.atomic import atomic_write_text
    from chiptherm.formats.hotspot import build_model, config_dump, effective_config

    args = list(ctx.args)
    as_json = "--json" in args
    if as_json:
        args.remove("--json")
    solver = "auto"
    if "--solver" in args:
        at = args.index("--solver")
        if at + 1 >= len(args) or args[at + 1] not in ("auto", "direct", "multigrid"):
            raise InputError("--solver expects auto, direct or multigrid")
        solver = args[at + 1]
        del args[at : at + 2]
    if not args or args[0] in ("-h", "--help"):
        console.print(hotspot.__doc__)
        return
    config = effective_config(args)
    model = build_model(config)
    if "d" in config:
        atomic_write_text(config["d"], config_dump(config))
    with console.status(f"solving the {model.rows} x {model.cols} grid model"):
        result = model.solve(solver)
    if "steady_file" in config:
        atomic_write_text(config["steady_file"], result.steady_text())
    if "grid_steady_file" in config:
        atomic_write_text(config["grid_steady_file"], result.grid_steady_text())
    blocks = result.block_temperatures()
    if as_json:
        summary = {
            "model": "hotspot-grid",
            "grid": {"rows": model.rows, "cols": model.cols, "layers": len(model.layers)},
            "solver": result.method,
            "blocks": [{"name": n, "temperature": t} for n, t in blocks],
            "max_temperature": float(result.grid.max()),
            "energy": {
                "power_in": result.balance.power_in,
                "heat_out": result.balance.heat_out,
                "relative_error": result.balance.relative_error,
            },
        }
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    table = Table(title="HotSpot grid model: block temperatures", title_justify="left")
    table.add_column("unit")
    table.add_column("T K", justify="right")
    for name, t in blocks:
        table.add_row(name, f"{t:.2f}")
    console.print(table)


@app.command("3dice")
@friendly_errors
def threedice(
    stk_file: Annotated[Path, typer.Argument(help="3D-ICE stack file.", metavar="FILE.stk")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Run a 3D-ICE steady solid stack and execute its output section, as 3D-ICE does.

    Paths inside the file are relative to the working directory.
    Example: chiptherm 3dice test.stk
    """
    from chiptherm.formats.threedice import build_model, read_stk, write_outputs
    from chiptherm.solvers import solve_system

    model = build_model(read_stk(stk_file))
    temperature, info = solve_system(model.system, method="auto", tol=1e-12)
    written = write_outputs(model, temperature)
    balance = model.system.energy_balance(temperature)
    if as_json:
        summary = {
            "model": "3d-ice",
            "grid": {"rows": model.n_rows, "cols": model.n_cols, "layers": model.system.shape[0]},
            "elements": {
                name: {
                    "max": float(temperature[level].max()),
                    "min": float(temperature[level].min()),
                    "mean": float(temperature[level].mean()),
                }
                for name, level in model.layer_of_element.items()
            },
            "outputs": written,
            "solver": {"method": info.method, "relative_residual": info.relative_residual},
            "energy": {
                "power_in": balance.power_in,
                "heat_out": balance.heat_out,
                "relative_error": balance.relative_error,
            },
        }
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    table = Table(title=f"3D-ICE stack {stk_file.name}: source layers", title_justify="left")
    for col in ("element", "max K", "min K", "mean K"):
        table.add_column(col, justify="left" if col == "element" else "right")
    for name, level in model.layer_of_element.items():
        t = temperature[level]
        table.add_row(name, f"{t.max():.3f}", f"{t.min():.3f}", f"{t.mean():.3f}")
    console.print(table)
    console.print(
        f"solver {info.method}, relative residual {info.relative_residual:.1e}, "
        f"energy balance error {balance.relative_error:.1e}; wrote {', '.join(written)}"
    )


HOTSPOT_FILE_FLAGS = {
    ".config": "-c",
    ".flp": "-f",
    ".ptrace": "-p",
    ".lcf": "-grid_layer_file",
    ".materials": "-materials_file",
}


def hotspot_args(files: list[Path], extra: list[str]) -> list[str]:
    """HotSpot flags for input files named by their extension, then ``extra`` flags."""
    args: list[str] = []
    for path in files:
        flag = HOTSPOT_FILE_FLAGS.get(path.suffix)
        if flag is None:
            known = ", ".join(HOTSPOT_FILE_FLAGS)
            raise InputError(
                f"{path}: not a HotSpot input I can place (expected {known}); pass it with "
                "its HotSpot flag instead, e.g. '-f file'"
            )
        args += [flag, str(path)]
    args += extra
    if "-model_type" not in args:
        args += ["-model_type", "grid"]
    return args


@app.command()
@friendly_errors
def budget(
    stack_file: Annotated[Path, typer.Argument(help="Stack YAML file.", metavar="STACK.yaml")],
    max_temperature: Annotated[
        float, typer.Option("--max-temperature", help="No cell may exceed this, K.")
    ],
    minimum: Annotated[
        list[str] | None,
        typer.Option("--min", help="Lower power bound of a block, NAME=W; repeatable."),
    ] = None,
    maximum: Annotated[
        list[str] | None,
        typer.Option("--max", help="Upper power bound of a block, NAME=W; repeatable."),
    ] = None,
    weight: Annotated[
        list[str] | None,
        typer.Option(help="Weight of a block's power in the total, NAME=VALUE; repeatable."),
    ] = None,
    solver: Annotated[
        str, typer.Option(help="auto, transform, cg-amg, cg-transform, gmres-amg or direct.")
    ] = "auto",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder \\[default: out/STACK-budget]."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary JSON only.")] = False,
    no_files: Annotated[bool, typer.Option("--no-files", help="Write no output files.")] = False,
    sets: SetOption = None,
) -> None:
    """Power budget: the most block power the floorplan takes with no cell above a limit.

    Maximizes the (weighted) total block power within per-block bounds (default 0 W to
    unbounded) subject to every cell staying at or below --max-temperature, by linear
    programming on the exact linear response of the heated cells (one solve per block), then
    verifies the answer with a full solve. Also reports the largest uniform scale of the
    stack's own powers. Writes budget.json and budget.png (the hottest layer at the budget).

    Example: chiptherm budget examples/two_die.yaml --max-temperature 358.15 --max bank0=5
    """
    import numpy as np

    from chiptherm.budget import power_budget
    from chiptherm.compact import resistance_matrix, with_block_powers
    from chiptherm.report.outputs import write_json
    from chiptherm.report.plots import plot_heat_map
    from chiptherm.report.progress import progress_bar
    from chiptherm.result import solve as solve_stack

    stack = load_stack_with(stack_file, sets)
    bounds = [
        parse_params(items, option, "core0=12.5")
        for items, option in ((minimum, "--min"), (maximum, "--max"), (weight, "--weight"))
    ]
    with progress_bar("solving", "blocks", err_console, as_json) as bar:
        task = bar.add_task("blocks", total=None)
        matrix = resistance_matrix(
            stack,
            solver,
            on_block=lambda done, total: bar.update(task, completed=done, total=total),
        )
    plan = power_budget(matrix, max_temperature, *bounds)
    pairs = {
        (b.source, b.block.name): float(w) for b, w in zip(matrix.blocks, plan.watts, strict=True)
    }
    verified = solve_stack(with_block_powers(stack, pairs), method=solver)
    grid = verified.grid
    limiting = [
        {
            "layer": stack.layers[int(grid.layer_of_cell[z])].name,
            "x_m": float(grid.x[x]),
            "y_m": float(grid.y[y]),
        }
        for z, y, x in plan.limiting
    ]
    summary = {
        "stack": stack.name,
        "max_temperature_k": max_temperature,
        "total_w": float(plan.watts.sum()),
        "nominal_total_w": float(matrix.nominal_w.sum()),
        "peak_k": plan.peak_k,
        "verified_peak_k": verified.max_temperature,
        "uniform_scale": plan.uniform_scale,
        "limiting_cells": limiting,
        "blocks": [
            {
                "label": label,
                "nominal_w": float(nominal),
                "min_w": float(lo),
                "max_w": None if np.isinf(hi) else float(hi),
                "budget_w": float(w),
                "mean_k": float(t),
            }
            for label, nominal, (lo, hi), w, t in zip(
                matrix.labels, matrix.nominal_w, plan.bounds, plan.watts, plan.block_k, strict=True
            )
        ],
    }
    out_dir = out or Path("out") / f"{stack_file.stem}-budget"
    if not no_files:
        write_json(out_dir / "budget.json", summary)
        hottest = limiting[0]["layer"] if limiting else stack.layers[0].name
        source = stack.layers[stack.layer_index(hottest)].power
        plot_heat_map(
            verified.layer_map(hottest),
            stack.size,
            out_dir / "budget.png",
            title=f"{stack.name}: {hottest} at the power budget ({summary['total_w']:.3g} W)",
            blocks=stack.power[source].blocks if source else (),
        )
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    table = Table(
        title=f"{stack.name}: power budget, no cell above {max_temperature:.2f} K",
        title_justify="left",
    )
    for col in ("block", "nominal W", "allowed W", "budget W", "mean K"):
        table.add_column(col, justify="left" if col == "block" else "right")
    for row in summary["blocks"]:
        high = "∞" if row["max_w"] is None else f"{row['max_w']:.3g}"
        table.add_row(
            row["label"],
            f"{row['nominal_w']:.3g}",
            f"{row['min_w']:.3g}–{high}",
            f"{row['budget_w']:.3f}",
            f"{row['mean_k']:.2f}",
        )
    console.print(table)
    console.print(
        f"total {summary['total_w']:.3f} W (nominal {summary['nominal_total_w']:.3f} W); the "
        f"stack's own powers scale uniformly by at most {plan.uniform_scale:.3f}"
    )
    if limiting:
        where = ", ".join(
            f"{c['layer']} ({1e3 * c['x_m']:.2f}, {1e3 * c['y_m']:.2f}) mm" for c in limiting[:3]
        )
        console.print(f"at the limit: {where}")
    console.print(
        f"verified by the solver: hottest cell {verified.max_temperature:.4f} K "
        f"({verified.info.method})"
    )
    if not no_files:
        console.print(f"wrote 2 files to [bold]{out_dir}[/]")


@app.command()
@friendly_errors
def homogenize(
    stack_file: Annotated[Path, typer.Argument(help="Stack YAML file.", metavar="STACK.yaml")],
    to: Annotated[Path, typer.Option("--to", help="Stack YAML file to write.")] = Path(
        "effective.yaml"
    ),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the comparison JSON only.")
    ] = False,
    sets: SetOption = None,
) -> None:
    """Replace layers with material regions (TSVs, pillars) by effective media, and say what
    that changes.

    Writes the laterally uniform stack (the one a case with 'homogenize: true' learns) and
    solves both: the peak, the mean and every layer's maximum, true against effective.

    Example: chiptherm homogenize examples/tsv_array.yaml --to tsv_effective.yaml
    """
    import numpy as np

    from chiptherm.homogenize import homogenized
    from chiptherm.result import solve as solve_stack
    from chiptherm.stack_io import save_stack

    stack = load_stack_with(stack_file, sets)
    effective = homogenized(stack)
    changed = [la.name for la in stack.layers if la.regions]
    if not changed:
        raise InputError(f"{stack_file}: no layer holds material regions; nothing to homogenize")
    with err_console.status(f"solving {stack.name} and its effective medium"):
        true, flat = solve_stack(stack), solve_stack(effective)
    rows = {"peak": (true.max_temperature, flat.max_temperature)}
    rows |= {
        f"max {name}": (true.layer_stats[name].max, flat.layer_stats[name].max)
        for name in true.layer_stats
    }
    save_stack(effective, to)
    doc = {
        "stack": str(stack_file),
        "written": str(to),
        "layers": {
            name: list(effective.material(f"{name} effective").conductivity) for name in changed
        },
        "true_k": {k: v[0] for k, v in rows.items()},
        "effective_k": {k: v[1] for k, v in rows.items()},
        "max_abs_difference_k": float(np.abs(true.temperature - flat.temperature).max()),
    }
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    table = Table(title=f"{stack.name}: true stack against effective media", title_justify="left")
    for col in ("quantity", "true K", "effective K", "difference K"):
        table.add_column(col, justify="left" if col == "quantity" else "right")
    for name, (a, b) in rows.items():
        table.add_row(name, f"{a:.3f}", f"{b:.3f}", f"{b - a:+.3f}")
    console.print(table)
    for name in changed:
        kx, ky, kz = effective.material(f"{name} effective").conductivity
        console.print(f"{name}: effective k = ({kx:.3g}, {ky:.3g}, {kz:.3g}) W/(m·K)")
    console.print(
        f"largest difference of any cell: {doc['max_abs_difference_k']:.3f} K; wrote [bold]{to}[/]"
    )


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@friendly_errors
def convert(
    ctx: typer.Context,
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(
            help="A 3D-ICE .stk file, or HotSpot inputs (.config .flp .ptrace .lcf "
            ".materials); HotSpot flags such as -grid_rows 128 may follow.",
            metavar="INPUT...",
        ),
    ] = None,
    to: Annotated[Path, typer.Option("--to", help="Stack YAML file to write.")] = Path(
        "stack.yaml"
    ),
) -> None:
    """Convert a 3D-ICE stack or a HotSpot input set into a native stack file.

    Both conversions keep the discretized model: solving the stack file gives the other
    tool's temperatures. A 3D-ICE stack maps layer for layer. A HotSpot grid model becomes a
    stack with thin link layers and a ring of package cells around the die that reproduce
    HotSpot's resistances (see chiptherm.formats.hotspot_stack).

    Examples: chiptherm convert test.stk --to test.yaml;
    chiptherm convert example.config ev6.flp gcc.ptrace -grid_rows 64 --to ev6.yaml
    """
    from chiptherm.stack_io import save_stack

    given = [str(p) for p in inputs or []]
    # typer leaves HotSpot flags among the positional arguments: from the first flag on,
    # everything is passed to HotSpot as it is
    first_flag = next((i for i, a in enumerate(given) if a.startswith("-")), len(given))
    files = [Path(a) for a in given[:first_flag]]
    extra = given[first_flag:] + list(ctx.args)
    if len(files) == 1 and files[0].suffix == ".stk" and not extra:
        from chiptherm.formats.convert import stack_from_3dice
        from chiptherm.formats.threedice import read_stk

        stack = stack_from_3dice(read_stk(files[0]), name=files[0].stem)
        kind = "3D-ICE"
    else:
        from chiptherm.formats.hotspot import build_model, effective_config
        from chiptherm.formats.hotspot_stack import stack_from_hotspot

        if not files and not extra:
            raise InputError("convert needs a 3D-ICE .stk file or HotSpot inputs")
        model = build_model(effective_config(hotspot_args(files, extra)))
        name = Path(model.layers[0].floorplan.source).stem or "hotspot"
        stack = stack_from_hotspot(model, name=name)
        kind = "HotSpot"
    save_stack(stack, to)
    console.print(
        f"wrote {to}: {kind} model as {len(stack.layers)} layers, {stack.total_power:.4g} W"
    )


# -- operator learning --------------------------------------------------------------------------
def parse_params(
    items: list[str] | None, option: str = "--param", example: str = "top_htc=800"
) -> dict[str, float]:
    """['top_htc=800', ...] -> {'top_htc': 800.0}; errors name ``option``."""
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"{option} {item!r}: expected NAME=VALUE, e.g. {example}") from None
    return out


def metrics_table(title: str, rows: list[tuple[str, dict[str, Any]]]) -> Table:
    """A table of evaluation metrics, one row per named result."""
    # no vertical rules, numbers never wrapped: the table fits 80 columns
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    cols = ("maps", "MAE K", "max K", "peak K", "worst K", "rel L2", "MAPE %", "speed")
    table.add_column("kind", justify="left", no_wrap=True)
    for col in cols:
        table.add_column(col, justify="right", no_wrap=True)
    for name, r in rows:
        entries = [(name, r["metrics"], f"{r['speedup']:.0f}x")]
        if "grid_solve_error" in r:  # the refined reference: also show the plain solve's error
            entries.append((f"{name} solver", r["grid_solve_error"], "1x"))
        for label, m, speed in entries:
            table.add_row(
                label,
                str(m["maps"]),
                f"{m['mae_k']:.4f}",
                f"{m['max_abs_k']:.3f}",
                f"{m['peak_error_k']:.3f}",
                f"{m['peak_error_max_k']:.3f}",
                f"{m['rel_l2']:.2e}",
                f"{m['mape_percent']:.4f}",
                speed,
            )
    return table


@app.command()
@friendly_errors
def train(
    config: Annotated[Path, typer.Argument(help="Training config YAML.", metavar="CONFIG.yaml")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Model folder \\[default: config 'output'].")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in the model folder.")] = False,
    steps: Annotated[int | None, typer.Option(help="Override training.steps.")] = None,
    device: Annotated[str | None, typer.Option(help="cpu or cuda \\[default: config].")] = None,
    cuda_graph: Annotated[
        bool | None,
        typer.Option(
            help="Record the training step once as a CUDA graph and replay it (CUDA only) "
            "\\[default: config]."
        ),
    ] = None,
    compile: Annotated[
        bool | None,
        typer.Option(help="Compile the physics loss with torch.compile \\[default: config]."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train an operator from the physics; writes model.safetensors + model.json checkpoints.

    Example: chiptherm train configs/surface.yaml --out runs/surface
    """
    from chiptherm.operator.train import train as run_training

    overrides: dict[str, Any] = {}
    if steps is not None:
        overrides["steps"] = steps
    if device is not None:
        overrides["device"] = device
    if cuda_graph is not None:
        overrides["cuda_graph"] = cuda_graph
    if compile is not None:
        overrides["compile"] = compile
    trainer = run_training(config, out=out, resume=resume, quiet=quiet, overrides=overrides)
    m = trainer.metrics
    where = trainer.out
    if m is not None:
        console.print(
            f"validation: MAE {m.mae_k:.4f} K, peak error {m.peak_error_k:.3f} K, "
            f"MAPE {m.mape_percent:.4f} %"
        )
    console.print(
        f"model written to [bold]{where}[/] after {trainer.step} steps ({trainer.elapsed:.1f} s)"
    )


def model_fields(m: Any) -> dict[str, str]:
    """The description of one model (a ``ModelSummary``) as labelled strings."""
    case = (
        f"{m.size_mm[0]:g} × {m.size_mm[1]:g} × {m.thickness_mm:g} mm, "
        f"{len(m.layers)} layer{'s' if len(m.layers) > 1 else ''}"
    )
    where = f"{m.power_face} face" if m.power_face else "layer"
    inputs = "\n".join(
        f"{i.name} {i.low:,g}–{i.high:,g}"
        + (f" (default {i.default:,g})" if i.default is not None else "")
        for i in m.inputs
    )
    v = m.metrics
    trained = f"{m.steps} steps" + (f", {m.train_s:.0f} s on {m.device}" if m.train_s else "")
    return {
        "case": case,
        "power input": f"{m.power} ({where}), {m.sensors[0]}×{m.sensors[1]} sensors",
        "fixed power": ", ".join(m.fixed_power) or "-",
        "effective media": ", ".join(m.homogenized) or "-",
        "scalar inputs, W/(m²·K)": inputs or "-",
        "network": m.network,
        "size": f"{m.parameters:,} values, {m.file_kib:.0f} KiB",
        "last validation": (
            f"MAE {v['mae_k']:.4f} K, peak {v['peak_error_k']:.3f} K\n"
            f"against case-grid solves of {v['maps']} maps"
            if v
            else "-"
        ),
        "layers (top first)": ", ".join(m.layers),
        "trained": trained,
        "folder": m.folder,
    }


def model_table(summaries: list[Any]) -> Table:
    """One row per model: case, inputs, network, size and last validation."""
    table = Table(title="models (chiptherm models NAME for the details)", title_justify="left")
    columns = ["case", "scalar inputs, W/(m²·K)", "network", "last validation"]
    for col in ["model", *columns]:
        table.add_column(col, overflow="fold")
    for m in summaries:
        fields = model_fields(m)
        table.add_row(m.name, *(fields[c] for c in columns))
    return table


def model_details(m: Any) -> Table:
    """Every field of one model, one per row."""
    table = Table(title=m.name, title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in model_fields(m).items():
        table.add_row(key, value)
    return table


@app.command()
@friendly_errors
def models(
    model: Annotated[
        str | None, typer.Argument(help="A model folder or shipped name \\[default: all shipped].")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the shipped models (or describe one): case, inputs and ranges, network, accuracy.

    Example: chiptherm models volumetric
    """
    from chiptherm.operator.catalog import catalog, describe

    summaries = catalog() if model is None else [describe(model)]
    if as_json:
        print(json.dumps([m.as_dict() for m in summaries], indent=2))
    elif model is None:
        console.print(model_table(summaries))
    else:
        console.print(model_details(summaries[0]))


@app.command()
@friendly_errors
def predict(
    model: Annotated[str, typer.Argument(help="Model folder or shipped model name.")],
    power: Annotated[
        Path | None,
        typer.Option(
            help="Power map .npy, W per cell of any uniform grid \\[default: sample one]."
        ),
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option(help="Scalar input NAME=VALUE, e.g. top_htc=800.")
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed of the sampled map when --power is not given.")
    ] = 0,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder \\[default: out/MODEL].")
    ] = None,
    tol_kelvin: Annotated[
        float, typer.Option(help="Accept a prediction whose estimated max error is below this, K.")
    ] = 0.5,
    refine: Annotated[
        bool, typer.Option("--refine", help="Refine with the solver when the score fails.")
    ] = False,
    refine_solver: Annotated[
        str | None, typer.Option(help="Warm-started solver for --refine [cg-transform, or cg-amg].")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary JSON only.")] = False,
    no_files: Annotated[bool, typer.Option("--no-files", help="Write no output files.")] = False,
) -> None:
    """Predict the temperature field of a power map with a trained operator, and score it.

    The confidence score gives the largest error in K (exact on laterally uniform stacks, a
    coarse-grid estimate on others); --refine runs the solver from the prediction when it
    exceeds --tol-kelvin.

    Writes temperature.npz (K, on the case grid), summary.json and PNG maps like 'solve'.
    Example: chiptherm predict surface --power examples/surface_flux.npy --refine --out out/pred
    """
    import numpy as np

    from chiptherm.operator.checkpoint import load_operator
    from chiptherm.operator.inference import predict_checked, training_distribution
    from chiptherm.operator.model import per_sample
    from chiptherm.operator.sampling import load_map
    from chiptherm.report.outputs import write_result
    from chiptherm.trust import EXACT_CORRECTION

    op, meta = load_operator(model)
    params = parse_params(param)
    op.parameter_values(1, params)  # checks names and values before any work
    if power is not None:
        density = op.case.density_from_watts(load_map(power))
    else:
        dist = training_distribution(meta)
        density = dist.sample(1, op.case.size, op.case.sensors, np.random.default_rng(seed))[0]
    if tol_kelvin <= 0:
        raise InputError("--tol-kelvin must be > 0 K")
    checked = predict_checked(
        op, density, params, tol_kelvin, (refine_solver or "krylov") if refine else None
    )
    result = checked.result
    summary = result.summary()
    summary["model"] = meta.get("name", str(model))
    inputs = op.parameter_values(1, params)
    values, outside = per_sample(inputs, 1)[0], op.extrapolated(inputs)
    if values:
        summary["parameters"] = values
        summary["extrapolated"] = outside
    summary.update(checked.summary())
    out_dir = out or Path("out") / Path(str(model)).name
    if not no_files:
        written = write_result(result, out_dir, summary)
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    for table in result_tables(summary):
        console.print(table)
    if values:
        given = ", ".join(
            f"{k} = {v:g}" + ("" if k in params else " (stack)") for k, v in values.items()
        )
        console.print(f"inputs: {given} W/(m²·K)")
    for name in outside:
        p = next(p for p in op.case.parameters if p.name == name)
        console.print(
            f"[yellow]note:[/] {name} = {values[name]:g} lies outside the training range "
            f"{p.low:,g}–{p.high:,g} W/(m²·K); the network extrapolates there, so trust the "
            "confidence verdict below (or use --refine)"
        )
    c = checked.confidence
    verdict = "[green]accepted[/]" if c.accepted else "[yellow]above tolerance[/]"
    how = "exact, one transform solve" if c.method == "exact" else "coarse-grid estimate"
    console.print(
        f"confidence: max error {c.error_k:.3f} K ({how}; tolerance {c.tolerance_k} K), "
        f"residual {c.relative_residual:.2e}, {verdict}; answer: [bold]{checked.path}[/]"
    )
    if checked.refinement is not None:
        w, cold = checked.refinement.warm, checked.refinement.cold
        line = (
            f"refined by the exact correction T + A⁻¹·r: {w.solve_s:.3f} s"
            if w.method == EXACT_CORRECTION
            else f"refined with {w.method}: {w.iterations} iterations, {w.solve_s:.3f} s warm"
        )
        if cold is not None:
            line += f" vs {cold.iterations} iterations, {cold.solve_s:.3f} s cold"
        console.print(line)
    if not no_files:
        console.print(f"wrote {len(written)} files to [bold]{out_dir}[/]")


@app.command("predict-batch")
@friendly_errors
def predict_batch(
    model: Annotated[str, typer.Argument(help="Model folder or shipped model name.")],
    power: Annotated[
        list[Path],
        typer.Argument(
            help="Power map .npy files, W per cell: each one map (ny, nx) or a stack (N, ny, nx).",
            metavar="MAPS.npy...",
        ),
    ],
    param: Annotated[
        list[str] | None,
        typer.Option(help="Scalar input for every map, NAME=VALUE (W/(m²·K)); repeatable."),
    ] = None,
    params_file: Annotated[
        Path | None,
        typer.Option(
            help="CSV of per-map scalar inputs: a header of input names, one row per map.",
            metavar="FILE.csv",
        ),
    ] = None,
    fields: Annotated[
        bool,
        typer.Option(help="Also write every field: temperatures.npy, float32 (N, nz, ny, nx) K."),
    ] = False,
    batch: Annotated[int, typer.Option(help="Maps per batch on the device.")] = 64,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Score every prediction with the confidence score (on the CPU)."
        ),
    ] = False,
    tol_kelvin: Annotated[
        float, typer.Option(help="With --check: accept an error below this, K.")
    ] = 0.5,
    refine: Annotated[
        bool,
        typer.Option(
            "--refine",
            help="With --check: solve the maps whose score fails, warm-started from the "
            "prediction; their rows and fields are then the solver's.",
        ),
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder \\[default: out/MODEL-batch].")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Predict many power maps at once: peak, mean and per-layer maxima of every field.

    Writes summary.csv (one row per map), summary.json, peaks.png (histogram of the peaks),
    with --fields temperatures.npy, and with --check errors.png (histogram of the scores).
    Scalar inputs: --param for all maps, or a CSV with one row per map. --check scores
    every prediction (its largest error in K, in the score_error_k column) and --refine hands
    the rejected ones to the solver; the answer column says which each row is.

    Example: chiptherm predict-batch volumetric maps.npy --param top_htc=2e4 --out out/sweep
    """
    from chiptherm.operator.batch import BatchChecker, read_parameter_table, read_power_maps
    from chiptherm.operator.batch import predict_batch as run
    from chiptherm.operator.checkpoint import load_operator
    from chiptherm.operator.inference import machine
    from chiptherm.operator.train import device_of
    from chiptherm.report.outputs import write_csv, write_json
    from chiptherm.report.plots import plot_histogram
    from chiptherm.report.progress import progress_bar

    params = parse_params(param)
    op, meta = load_operator(model, device=str(device_of(device)))
    op.parameter_values(1, params)  # checks names and values before any work
    if batch < 1:
        raise InputError("--batch must be at least 1")
    if refine and not check:
        raise InputError("--refine refines the maps that --check rejects; add --check")
    if tol_kelvin <= 0:
        raise InputError("--tol-kelvin must be > 0 K")
    maps = read_power_maps(power)
    if params_file is not None:
        names = [p.name for p in op.case.parameters]
        table = read_parameter_table(params_file, len(maps), names)
        twice = sorted(set(table) & set(params))
        if twice:
            raise InputError(f"{twice} given both by --param and in {params_file}")
        params = {**params, **table}
    out_dir = out or Path("out") / f"{Path(str(model)).name}-batch"
    checker = BatchChecker(op, tol_kelvin, refine) if check else None
    label = "predict" + (" and check" if check else "")
    with progress_bar(label, "maps", err_console, quiet) as progress:
        task = progress.add_task("predict", total=len(maps))
        result = run(
            op,
            maps,
            params,
            batch,
            out_dir / "temperatures.npy" if fields else None,
            lambda done: progress.update(task, completed=done),
            checker,
        )
    rows = result.rows()
    write_csv(out_dir / "summary.csv", rows)
    summary = {
        "model": meta.get("name", str(model)),
        "maps": len(rows),
        "parameters": result.parameter_summary(),
        "extrapolated": op.extrapolated(result.parameters),
        "seconds": result.seconds,
        "predictions_per_s": len(rows) / max(result.seconds, 1e-12),
        "device": str(op.device),
        "machine": machine(),
    }
    if result.accepted is not None and result.refined is not None:
        summary["check"] = {
            "tolerance_k": tol_kelvin,
            "accepted": int(result.accepted.sum()),
            "refined": int(result.refined.sum()),
            "seconds": result.check_seconds,
        }
    summary["results"] = rows
    write_json(out_dir / "summary.json", summary)
    plot_histogram(
        result.peak_k,
        out_dir / "peaks.png",
        title=f"{summary['model']}: peak temperature of {len(rows)} maps",
        xlabel="peak temperature (K)",
    )
    if result.error_k is not None:
        plot_histogram(
            result.error_k,
            out_dir / "errors.png",
            title=f"{summary['model']}: largest error of each prediction, by the score",
            xlabel="score: largest error (K)",
            mark=(tol_kelvin, f"tolerance {tol_kelvin:g} K"),
        )
    hottest = Table(title="hottest maps", title_justify="left")
    for col in ("map", "peak K", "mean K"):
        hottest.add_column(col, justify="left" if col == "map" else "right")
    for i in result.hottest(5):
        hottest.add_row(result.names[i], f"{result.peak_k[i]:.3f}", f"{result.mean_k[i]:.3f}")
    console.print(hottest)
    console.print(
        f"{len(rows)} maps in {result.seconds:.2f} s ({summary['predictions_per_s']:.0f} per s "
        f"on {op.device}); wrote {3 + fields + check} files to [bold]{out_dir}[/]"
    )
    if "check" in summary:
        c = summary["check"]
        rejected = len(rows) - c["accepted"]
        console.print(
            f"checked in {c['seconds']:.2f} s: {c['accepted']} accepted at {tol_kelvin:g} K, "
            f"{rejected} above it"
            + (f", {c['refined']} refined by the solver" if refine else " (use --refine)")
        )


@app.command()
@friendly_errors
def evaluate(
    model: Annotated[str, typer.Argument(help="Model folder or shipped model name.")],
    maps: Annotated[int, typer.Option(help="Held-out maps per kind.")] = 16,
    kind: Annotated[
        list[str] | None, typer.Option(help="train, grf or blocks; repeatable \\[default: all].")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the held-out maps.")] = 2026,
    nx: Annotated[
        int | None, typer.Option(help="Lateral grid of the comparison [case grid].")
    ] = None,
    refine: Annotated[
        int,
        typer.Option(
            help="Solve the references on a grid this many times finer (averaged back); "
            "the JSON then also holds the error of the solve on the comparison grid itself."
        ),
    ] = 1,
    param: Annotated[
        list[str] | None,
        typer.Option(
            help="Fix a scalar input, NAME=VALUE (repeatable); others are drawn from their "
            "training ranges."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write the JSON here, and a parity plot of the peaks beside it."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON only.")] = False,
) -> None:
    """Compare a model with the reference solver on held-out maps; prints a metrics table.

    Example: chiptherm evaluate surface --maps 32 --kind grf --kind blocks --out eval.json
    """
    from rich.progress import Progress

    from chiptherm.operator.checkpoint import load_operator
    from chiptherm.operator.inference import distribution_for, evaluate_operator
    from chiptherm.report.outputs import write_json
    from chiptherm.report.plots import plot_parity

    op, meta = load_operator(model)
    params = parse_params(param)
    op.parameter_values(1, params)  # checks names and values before any work
    kinds = kind or ["grf", "blocks"]
    grid = op.case.grid(nx, nx) if nx else None
    results = []
    with Progress(console=err_console, transient=True, disable=as_json) as progress:
        for k in kinds:
            dist = distribution_for(meta, k)
            results.append(
                (k, evaluate_operator(op, dist, maps, seed, grid, progress, refine, params))
            )
    doc = {"model": meta.get("name", str(model)), "results": dict(results)}
    if out is not None:
        write_json(out, doc)
        reference = f"solver{f', {refine}x finer grid' if refine > 1 else ''}"
        plot_parity(
            {k: (r["peaks_k"]["reference"], r["peaks_k"]["predicted"]) for k, r in results},
            out.with_suffix(".png"),
            title=f"{doc['model']}: peak temperature of each held-out map",
            xlabel=f"{reference}: peak temperature (K)",
        )
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    g = results[0][1]["grid"]
    console.print(
        metrics_table(
            f"{doc['model']} vs solver on {g['nx']}x{g['ny']}x{g['nz']}"
            + (f" (references {refine}x finer)" if refine > 1 else ""),
            results,
        )
    )
    for par in op.case.parameters:
        how = (
            f"fixed at {params[par.name]:g}"
            if par.name in params
            else f"drawn log-uniformly from {par.low:g} to {par.high:g}"
        )
        console.print(f"{par.name}: {how} W/(m²·K)")
    if out is not None:
        console.print(f"wrote {out} and {out.with_suffix('.png')}")


@app.command()
@friendly_errors
def optimize(
    problem_file: Annotated[Path, typer.Argument(help="Problem YAML.", metavar="PROBLEM.yaml")],
    mode: Annotated[str, typer.Option(help="hybrid (operator + solver) or solver.")] = "hybrid",
    solver: Annotated[
        str | None, typer.Option(help="Reference solver \\[default: the problem's].")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Override search.steps.")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Report folder \\[default: out/PROBLEM].")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary JSON only.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Place power blocks to minimize the peak temperature; the answer is solver-verified.

    Writes placement.yaml, before.png, after.png, history.png and summary.json.
    Example: chiptherm optimize examples/problems/floorplan.yaml --out out/floorplan
    """
    from rich.progress import TextColumn

    from chiptherm.operator.checkpoint import load_operator
    from chiptherm.optimize import (
        load_problem,
        outcome_summary,
        resolve_model,
        validate_problem,
        write_report,
    )
    from chiptherm.optimize import (
        optimize as run,
    )
    from chiptherm.report.progress import progress_bar

    if mode not in ("hybrid", "solver"):
        raise InputError(f"--mode {mode!r}: expected 'hybrid' or 'solver'")
    problem, base = load_problem(problem_file)
    if steps is not None:
        problem = problem.model_copy(
            update={"search": problem.search.model_copy(update={"steps": steps})}
        )
    op, _ = load_operator(resolve_model(problem, base))
    try:
        validate_problem(problem, op.case.size)
    except InputError as exc:
        raise InputError(exc.detail, source=str(problem_file)) from None
    best_so_far = TextColumn("best {task.fields[best]}")
    bar = progress_bar("search", "evals", err_console, quiet or as_json, best_so_far)
    with bar as progress:
        task = progress.add_task("search", total=problem.search.steps, best="-")

        def report(done: int, best: float) -> None:
            progress.update(task, completed=done, best=f"{best:.3f} K")

        outcome = run(problem, op, mode, solver, report)  # type: ignore[arg-type]
    summary = outcome_summary(outcome)
    out_dir = out or Path("out") / problem_file.stem
    written = write_report(outcome, out_dir)
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    table = Table(title=f"{problem.name}: {mode} search", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("peak before (solver)", f"{outcome.initial_peak_k:.3f} K")
    table.add_row("peak after (solver)", f"{outcome.verified_peak_k:.3f} K")
    table.add_row("evaluations", str(summary["evaluations"]))
    table.add_row("solver calls", str(summary["solver_calls"]))
    table.add_row(
        "confidence checks / refinements",
        f"{summary['confidence_checks']} / {summary['refinements']}",
    )
    table.add_row("wall time", f"{outcome.seconds:.1f} s")
    console.print(table)
    if outcome.overlap_k > 0:
        rule = "no placement without overlaps was found" if problem.overlap == "forbid" else ""
        console.print(
            f"[yellow]warning:[/] the placement overlaps other blocks or keep-outs (penalty "
            f"{outcome.overlap_k:.3g} K){'; ' + rule if rule else ''}"
        )
    console.print(f"wrote {len(written)} files to [bold]{out_dir}[/]")


@app.command()
@friendly_errors
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
    import numpy as np

    from chiptherm.demo import run_demo

    with console.status(
        "running the demo (predict, score, refine, optimize, sweep, batch, 3D stack)..."
    ):
        report = run_demo(out, seed, tol_kelvin, steps)
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
    console.print(table)
    console.print(f"report: [bold]{Path(out) / 'index.html'}[/]")


def reflow_help(doc: str) -> str:
    """A command docstring as help text: the lines of each paragraph joined into one (rich help
    keeps single line breaks, which leaves ragged lines at any terminal width), except before
    a line that starts with 'Example'."""
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    joined = []
    for paragraph in paragraphs:
        lines: list[str] = []
        for line in paragraph.splitlines():
            if lines and not line.startswith("Example"):
                lines[-1] += " " + line.strip()
            else:
                lines.append(line.strip())
        joined.append("\n".join(lines))
    return "\n\n".join(joined)


for _command in app.registered_commands:
    if _command.help is None and _command.callback is not None and _command.callback.__doc__:
        _command.help = reflow_help(_command.callback.__doc__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
