"""The transient command: temperatures in time under a power trace."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from chiptherm.cli.common import (
    JsonOption,
    LimitOption,
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
    parse_params,
    threaded,
)
from chiptherm.errors import InputError
from chiptherm.report.html import Section

PLOTTED_BLOCKS = 6
"""The transient plot shows the peak and at most this many of the hottest blocks."""


@app.command()
@friendly_errors
@threaded
def transient(
    stack_file: StackArgument,
    trace: Annotated[
        Path | None,
        typer.Option(
            help="CSV power trace: a header 'time' (s) and block names, then one row per power "
            "change in W, each held until the next row; unlisted blocks keep their power from "
            "the stack file. Default: the stack's powers switched on at t = 0 (step response).",
            metavar="TRACE.csv",
        ),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(
            help="How long to run, s \\[default: the trace's last row plus its longest row, or "
            "six time constants of the step response].",
            min=0.0,
        ),
    ] = None,
    dt: Annotated[
        float | None,
        typer.Option(
            help="Time step (the first one when steps double), s \\[default: duration / 400, "
            "or duration / 1e5 when steps double].",
            min=0.0,
        ),
    ] = None,
    scheme: Annotated[
        str, typer.Option(help="bdf2 (second order) or euler (backward Euler, first order).")
    ] = "bdf2",
    initial: Annotated[
        str,
        typer.Option(
            help="Start from 'idle' (the steady state with every block off) or 'first' (the "
            "steady state at the trace's first row)."
        ),
    ] = "idle",
    double_every: Annotated[
        int | None,
        typer.Option(
            help="Double the step after this many steps, up to duration/100, starting again "
            "where the power changes; 0 keeps it \\[default, without --dt: 25 for a step "
            "response or a trace of up to 20 rows, else 0].",
            min=0,
        ),
    ] = None,
    frames: Annotated[
        int, typer.Option(help="Full fields saved to fields.npz, evenly spaced in time.", min=0)
    ] = 10,
    max_temperature: Annotated[
        float | None,
        typer.Option(
            "--max-temperature",
            help="A limit for the peak, K: when it is first reached and how long the peak "
            "stays above it.",
        ),
    ] = None,
    limit: LimitOption = None,
    solver: SolverOption = "auto",
    out: out_option("out/STACK-transient") = None,
    as_json: JsonOption = False,
    no_files: NoFilesOption = False,
    sets: SetOption = None,
) -> None:
    """Transient run: how the peak and every block's temperature follow the power in time.

    Integrates C dT/dt = b(t) - A T on the steady solver's grid with implicit steps (BDF2 by
    default); a step response takes steps that double every 25 steps, as its temperatures
    change over decades of time. Needs each material's volumetric heat capacity
    (heat_capacity, J/(m³·K); built-in materials carry one). With k(T), leakage or a warming
    coolant each step is a fixed-point iteration, and a leaky stack that runs away thermally
    ends the run there. Prints the peak's extremes, the times to 63/90/99 % of its steady rise
    and every block's hottest moment, and with --max-temperature (or --limit for a block's
    hottest cell) when the limit is first reached and how long it stays above; writes
    transient.json, transient.csv (every step),
    transient.png (temperatures and power against time) and fields.npz (saved fields, K).

    Example: chiptherm transient examples/two_die.yaml --trace trace.csv --dt 1e-4
    """

    folder = output_folder(out, Path("out") / f"{stack_file.stem}-transient", no_files)
    out_dir = folder.path if folder else Path()
    from chiptherm.analysis.compact import block_inputs
    from chiptherm.report.html import write_index
    from chiptherm.report.outputs import write_csv, write_json, write_npz
    from chiptherm.report.plots import plot_transient
    from chiptherm.report.progress import progress_bar
    from chiptherm.transient import read_power_trace, simulate

    stack = load_stack_with(stack_file, sets)
    power_trace = read_power_trace(trace, stack) if trace is not None else None
    if power_trace is None and stack_file.suffix == ".stk":
        power_trace = slots_of_3dice(stack_file, stack, quiet=as_json)
    limits = parse_params(limit, "--limit", "core0=358.15")
    labels = [b.label for b in block_inputs(stack)]
    for name in limits:
        if name not in labels:
            raise InputError(f"--limit {name}: no such block; the blocks are {', '.join(labels)}")
    with progress_bar("stepping", "steps", err_console, as_json) as bar:
        task = bar.add_task("steps", total=None)
        result = simulate(
            stack,
            power_trace,
            duration=duration,
            dt=dt,
            scheme=scheme,  # type: ignore[arg-type]
            initial=initial,  # type: ignore[arg-type]
            double_every=double_every,
            frames=frames,
            method=solver,
            on_step=lambda done, total: bar.update(task, completed=done, total=total),
        )
    summary = result.summary()
    summary["limits"] = [asdict(c) for c in result.crossings(max_temperature, limits)]
    if not no_files:
        write_json(out_dir / "transient.json", summary)
        write_csv(out_dir / "transient.csv", result.rows())
        hottest = np.argsort(-result.block_max_k.max(axis=0))[:PLOTTED_BLOCKS]
        curves = {"peak": result.peak_k}
        curves |= {f"{result.labels[j]} mean": result.block_mean_k[:, j] for j in hottest}
        steady = {"peak": result.steady_peak_k}
        steady |= {f"{result.labels[j]} mean": result.steady_block_mean_k[j] for j in hottest}
        plot_transient(
            result.times,
            curves,
            steady,
            result.power_w,
            out_dir / "transient.png",
            title=f"{stack.name}: {result.scheme}, {len(result.times) - 1} steps (steady at the "
            "last power dashed)",
            log_time=power_trace is None,  # a step response spans decades
            limit_k=max_temperature,
        )
        write_npz(
            out_dir / "fields.npz",
            temperature=result.frames,
            time_s=result.frame_times,
            z_m=result.grid.z,
            y_m=result.grid.y,
            x_m=result.grid.x,
        )
        write_index(out_dir / "index.html", f"{stack.name}: transient", page(summary))
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    print_summary(summary)
    if not no_files:
        console.print(f"wrote 5 files to {folder.target} (open index.html)")


def page(summary: dict) -> list[Section]:
    """The sections of a transient run's index.html: the run, the peak, limits, blocks."""

    def seconds(value: float | None) -> str:
        return "—" if value is None else f"{value:.4g} s"

    run = Section(
        "Run",
        rows=[
            ("scheme, steps", f"{summary['scheme']}, {summary['steps']}"),
            (
                "duration (shortest step)",
                f"{summary['duration_s']:.4g} s ({summary['dt_s']:.3g} s)",
            ),
            ("solver, cells", f"{summary['method']}, {summary['cells']:,}"),
            ("wall time", f"{summary['seconds']:.2f} s"),
            ("energy balance of a step, worst", f"{summary['balance_error']:.1e}"),
        ],
    )
    steady = summary["steady_peak_k"]
    first, last = summary["initial_peak_k"], summary["final_peak_k"]
    hottest, when = summary["max_peak_k"], seconds(summary["max_peak_time_s"])
    peak = Section(
        "Peak",
        rows=[
            ("initial → final", f"{first:.2f} → {last:.2f} K"),
            ("hottest (when)", f"{hottest:.2f} K ({when})"),
            ("steady at the last power", "none (runaway)" if steady is None else f"{steady:.2f} K"),
            ("thermal runaway at", seconds(summary["runaway_s"])),
            ("63 / 90 / 99 % of the steady rise", " / ".join(
                seconds(summary[f"time_to_{p}_s"]) for p in (63, 90, 99))),
        ],
        images=["transient.png"],
    )  # fmt: skip
    limits = Section(
        "Limits",
        rows=[
            (
                f"{c['what']} at {c['limit_k']:.2f} K: first reached, time above",
                f"{seconds(c['first_s'])}, {c['above_s']:.4g} s",
            )
            for c in summary["limits"]
        ],
    )
    blocks = Section(
        "Blocks: hottest mean / hottest cell / final mean (K)",
        rows=[
            (b["label"], f"{b['max_mean_k']:.2f} / {b['max_k']:.2f} / {b['final_mean_k']:.2f}")
            for b in summary["blocks"]
        ],
    )
    return [run, peak, *([limits] if summary["limits"] else []), blocks]


def print_summary(summary: dict) -> None:
    """The run's settings and the peak's course, then one row per block."""

    def seconds(value: float | None) -> str:
        return "not reached" if value is None else f"{value:.4g} s"

    console.print(
        f"{summary['stack']}: {summary['steps']} {summary['scheme']} steps over "
        f"{summary['duration_s']:.4g} s (the shortest {summary['dt_s']:.3g} s) on "
        f"{summary['cells']:,} cells, "
        f"{summary['method']}, {summary['seconds']:.2f} s; energy balance to "
        f"{summary['balance_error']:.1e}"
    )
    reached = (
        f", reached to 63/90/99 % after {seconds(summary['time_to_63_s'])} / "
        f"{seconds(summary['time_to_90_s'])} / {seconds(summary['time_to_99_s'])}"
        if summary["step_response"]
        else ""
    )
    steady = (
        "no steady state at the last power"
        if summary["steady_peak_k"] is None
        else f"steady at the last power {summary['steady_peak_k']:.2f} K{reached}"
    )
    console.print(
        f"peak {summary['initial_peak_k']:.2f} K -> {summary['final_peak_k']:.2f} K, hottest "
        f"{summary['max_peak_k']:.2f} K at {summary['max_peak_time_s']:.4g} s; {steady}"
    )
    if summary["runaway_s"] is not None:
        console.print(
            f"[bold red]thermal runaway[/] at {summary['runaway_s']:.4g} s: the leakage grows "
            "faster with temperature than the cooling removes it; the run ends there"
        )
    for c in summary["limits"]:
        what = "the peak" if c["what"] == "peak" else f"{c['what']}'s hottest cell"
        if c["first_s"] is None:
            console.print(
                f"{what} stays below {c['limit_k']:.2f} K (highest {c['highest_k']:.2f} K)"
            )
        else:
            console.print(
                f"[bold]{what} reaches {c['limit_k']:.2f} K after {c['first_s']:.4g} s[/] and "
                f"stays above it for {c['above_s']:.4g} s in all (highest {c['highest_k']:.2f} K)"
            )
    table = Table(title_justify="left")
    for col in ("block", "hottest mean K", "hottest cell K", "final mean K", "steady mean K"):
        table.add_column(col, justify="left" if col == "block" else "right")
    for row in summary["blocks"]:
        table.add_row(
            row["label"],
            f"{row['max_mean_k']:.2f}",
            f"{row['max_k']:.2f}",
            f"{row['final_mean_k']:.2f}",
            "—" if row["steady_mean_k"] is None else f"{row['steady_mean_k']:.2f}",
        )
    console.print(table)


def slots_of_3dice(stk_file: Path, stack: Any, quiet: bool) -> Any:
    """The time slots of a transient 3D-ICE stack file as the power trace of ``stack`` (its
    conversion), said on the terminal; None for a steady file."""
    from chiptherm.formats.threedice_files import read_stk
    from chiptherm.transient.threedice import trace_from_3dice

    doc = read_stk(stk_file)
    slots = trace_from_3dice(doc, stack)
    if slots is None:
        return None
    if not quiet:
        step = doc.transient.step  # type: ignore[union-attr]
        err_console.print(
            f"the power trace is the file's {len(slots.times)} time slots of "
            f"{doc.transient.slot:g} s; 3D-ICE's own steps are --scheme euler --dt {step:g} "  # type: ignore[union-attr]
            "--double-every 0 (or chiptherm 3dice for its output files)",
            highlight=False,
        )
    return slots
