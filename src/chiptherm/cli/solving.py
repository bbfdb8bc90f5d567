"""Commands of the reference solver on one stack: solve, with probes, the runaway margin and
every output file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from chiptherm.cli.common import (
    DeviceOption,
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
    out_option,
    output_folder,
    solver_device,
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
    if s.get("device", "numpy") != "numpy":
        diag.add_row("device", s["device"])
    if s.get("reason") and s["reason"] != "asked for":
        diag.add_row("why", s["reason"])
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
    out: out_option("out/STACK") = None,
    as_json: JsonOption = False,
    solver: SolverOption = "auto",
    device: DeviceOption = "numpy",
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
    from chiptherm.solvers.backend import using_device
    from chiptherm.solvers.result import solve as solve_stack

    solver_device(solver, device)
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
    with using_device(device):
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
