"""The impedance command: the transient compact model of a floorplan, and its burst budget."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
from chiptherm.report.html import Section

if TYPE_CHECKING:
    from chiptherm.transient.impedance import ThermalImpedance


@app.command()
@friendly_errors
@threaded
def impedance(
    stack_file: StackArgument,
    trace: Annotated[
        Path | None,
        typer.Option(
            help="CSV power trace (as for transient) to evaluate with the fitted networks: "
            "writes block_temperatures.csv and .png.",
            metavar="TRACE.csv",
        ),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(
            help="How long each step response runs, s \\[default: six time constants of the "
            "stack's own step response].",
            min=0.0,
        ),
    ] = None,
    points: Annotated[
        int, typer.Option(help="Times at which --trace is evaluated, evenly spaced.", min=2)
    ] = 1000,
    max_temperature: Annotated[
        float | None,
        typer.Option(
            "--max-temperature",
            help="A hot-spot limit, K: prints how much power each block may draw alone for "
            "each --burst duration, from the steady state at the stack's powers, before any "
            "block's hot spot reaches it.",
        ),
    ] = None,
    burst: Annotated[
        str,
        typer.Option(
            help="Burst durations for --max-temperature, s, comma-separated.",
            metavar="S,S,...",
        ),
    ] = "1e-3,1e-2,1e-1",
    spice: Annotated[
        bool,
        typer.Option(
            "--spice",
            help="Also write zth.lib: every block's own Foster network as a SPICE subcircuit "
            "(ohms = K/W, farads = J/K, volts = K, amperes = W).",
        ),
    ] = False,
    solver: SolverOption = "auto",
    out: out_option("out/STACK-impedance") = None,
    as_json: JsonOption = False,
    no_files: NoFilesOption = False,
    sets: SetOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Thermal impedance of a floorplan: every block's temperature rise in time per watt
    switched on in any block, fitted with Foster networks, the transient compact model.

    One step response per block on a stack linear in the power gives Z_ij(t) (K/W); each is
    fitted with a Foster network held to the steady resistance R_ij, so any power trace's
    block temperatures follow in closed form, without solving again. Prints every block's
    self-resistance, the time its own response takes to 63 % and the block coupled to it most;
    writes impedance.json (R, the networks' time constants and resistances), zth.csv (every
    pair's computed response) and zth.png (the blocks' own responses against time).

    With --max-temperature, also the burst budget: the power each block may draw alone for
    each --burst duration, from the steady state at the stack's own powers, before a hot spot
    (the hottest cell a block heats) reaches the limit, and whose.

    With --workers or --scheduler the blocks' runs go to a Dask cluster, a few blocks a task.

    Example: chiptherm impedance examples/two_die.yaml --max-temperature 373.15
    """

    folder = output_folder(out, Path("out") / f"{stack_file.stem}-impedance", no_files)
    out_dir = folder.path if folder else Path()
    from chiptherm.atomic import atomic_write_text
    from chiptherm.report.html import write_index
    from chiptherm.report.outputs import write_csv, write_json
    from chiptherm.report.plots import plot_sweep
    from chiptherm.report.progress import progress_bar
    from chiptherm.transient import read_power_trace
    from chiptherm.transient.impedance import thermal_impedance

    stack = load_stack_with(stack_file, sets)
    power_trace = read_power_trace(trace, stack) if trace is not None else None
    durations = parse_durations(burst)
    with progress_bar("step responses", "steps", err_console, as_json) as bar:
        task = bar.add_task("steps", total=None)
        model = thermal_impedance(
            stack,
            duration=duration,
            method=solver,
            on_block=lambda done, total: bar.update(task, completed=done, total=total),
            cluster=cluster_from(workers, scheduler),
        )
    summary = model.summary()
    labels = model.labels
    if max_temperature is not None:
        allowed, binding = model.burst_limits(max_temperature, np.append(durations, np.inf))
        names = np.array([*labels, ""])  # -1: no hot spot can reach the limit
        summary["burst"] = {
            "max_temperature_k": max_temperature,
            "durations_s": durations.tolist(),
            "nominal_w": [b.block.watts for b in model.blocks],
            "allowed_w": allowed[:-1].tolist(),
            "steady_w": allowed[-1].tolist(),
            "binding": names[binding].tolist(),  # whose hot spot reaches it, per duration
        }
    evaluated = None
    if power_trace is not None:
        end = float(power_trace.times[-1] + max(np.diff(power_trace.times).max(initial=0.0), 0.0))
        end = end if end > 0 else float(model.times[-1])
        times = np.linspace(0.0, end, points)
        evaluated = (times, model.temperatures(power_trace, times))
        summary["trace"] = {
            "end_s": end,
            "max_mean_k": dict(zip(labels, evaluated[1].max(axis=0).tolist(), strict=True)),
        }
    if not no_files:
        write_json(out_dir / "impedance.json", summary)
        rows = [
            {"time_s": float(t)}
            | {f"{a}<-{b}": float(model.z[s, i, j]) for i, a in enumerate(labels) for j, b in
               enumerate(labels)}
            for s, t in enumerate(model.times)
        ]  # fmt: skip
        write_csv(out_dir / "zth.csv", rows)
        t = model.times[1:]
        curves = {f"{a} (own)": (t, model.z[1:, i, i]) for i, a in enumerate(labels)}
        plot_sweep(
            t,
            curves,
            out_dir / "zth.png",
            title=f"{stack.name}: each block's own thermal impedance (computed)",
            xlabel="time (s)",
            ylabel="Z (K/W)",
        )
        if evaluated is not None:
            times, temps = evaluated
            write_csv(
                out_dir / "block_temperatures.csv",
                [
                    {"time_s": float(x)} | dict(zip(labels, row.tolist(), strict=True))
                    for x, row in zip(times, temps, strict=True)
                ],
            )
            plot_sweep(
                times,
                {label: (times, temps[:, j]) for j, label in enumerate(labels)},
                out_dir / "block_temperatures.png",
                title=f"{stack.name}: block means under the trace (Foster networks)",
                xlabel="time (s)",
                ylabel="mean temperature (K)",
                log_x=False,
            )
        if spice:
            atomic_write_text(out_dir / "zth.lib", model.spice())
        images = ["zth.png"] + (["block_temperatures.png"] if evaluated is not None else [])
        title = f"{stack.name}: thermal impedance"
        pages = impedance_page(model, images, summary.get("burst"))
        write_index(out_dir / "index.html", title, pages)
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    console.print(
        f"{stack.name}: {len(labels)} blocks, {model.times.size - 1} steps each, {model.method}, "
        f"{model.seconds:.2f} s; Foster networks of {model.taus.size} terms within "
        f"{model.fit_error:.1e} of the largest resistance"
    )
    table = Table(title_justify="left")
    for col in ("block", "R self K/W", "own 63 % after", "coupled most to", "max mean K"):
        table.add_column(col, justify="left" if col in ("block", "coupled most to") else "right")
    for i, label in enumerate(labels):
        others = [j for j in range(len(labels)) if j != i]
        most = max(others, key=lambda j: model.resistance[i, j]) if others else None
        t63 = summary["time_to_63_s"][i][i]
        table.add_row(
            label,
            f"{model.resistance[i, i]:.4g}",
            "—" if t63 is None else f"{t63:.3g} s",
            "—" if most is None else f"{labels[most]} ({model.resistance[i, most]:.3g} K/W)",
            "—" if evaluated is None else f"{evaluated[1][:, i].max():.2f}",
        )
    console.print(table)
    if "burst" in summary:
        print_bursts(summary["burst"], labels)
    if not no_files:
        console.print(f"wrote files to {folder.target}")


def parse_durations(text: str) -> np.ndarray:
    """'1e-3,1e-2' -> (2,) positive durations, s."""
    try:
        values = np.array([float(part) for part in text.split(",") if part.strip()])
    except ValueError:
        raise InputError(f"--burst {text!r}: expected durations in s, e.g. 1e-3,1e-2") from None
    if values.size == 0 or not np.all(np.isfinite(values) & (values > 0)):
        raise InputError(f"--burst {text!r}: expected positive durations in s, e.g. 1e-3,1e-2")
    return values


def print_bursts(burst: dict, labels: list[str]) -> None:
    """The most power each block may draw alone for each burst, below the hot-spot limit."""
    table = Table(
        title=f"power each block may draw alone before a hot spot reaches "
        f"{burst['max_temperature_k']:.2f} K (the others at their own)",
        title_justify="left",
    )
    table.add_column("block")
    table.add_column("nominal W", justify="right")
    for duration in burst["durations_s"]:
        table.add_column(f"for {duration:g} s", justify="right")
    table.add_column("steady", justify="right")
    for j, label in enumerate(labels):
        cells = [row[j] for row in burst["allowed_w"]] + [burst["steady_w"][j]]
        by = [row[j] for row in burst["binding"]]
        shown = [
            f"{w:.3g} W" + ("" if who in (label, "") else f" ({who})")
            for w, who in zip(cells, by, strict=True)
        ]
        table.add_row(label, f"{burst['nominal_w'][j]:.3g}", *shown)
    console.print(table)
    console.print("(in brackets: the block whose hot spot reaches the limit first, if not its own)")


def impedance_page(
    model: ThermalImpedance, images: list[str], burst: dict | None = None
) -> list[Section]:
    """The sections of an impedance extraction's index.html: the networks, each block's own
    resistance, response time and strongest coupling, and the burst budget if any."""
    labels = model.labels
    rows = []
    for i, label in enumerate(labels):
        t63 = model.time_to(1 - math.exp(-1), i, i)
        others = [j for j in range(len(labels)) if j != i]
        most = max(others, key=lambda j: model.resistance[i, j]) if others else None
        coupling = "—" if most is None else f"{labels[most]} {model.resistance[i, most]:.3g} K/W"
        own = "—" if t63 is None else f"{t63:.3g} s"
        rows.append((label, f"R {model.resistance[i, i]:.4g} K/W, 63 % after {own}; {coupling}"))
    networks = Section(
        "Foster networks",
        f"{model.times.size - 1} steps per block on {model.method}, {model.seconds:.1f} s; "
        f"{model.taus.size} time constants from {model.taus[0]:.2g} to {model.taus[-1]:.2g} s; "
        f"every network within {model.fit_error:.1e} of the largest resistance.",
        images=images,
    )
    sections = [
        networks,
        Section("Blocks: own resistance and response; coupled most to", rows=rows),
    ]
    if burst is not None:
        heads = [f"{d:g} s" for d in burst["durations_s"]] + ["steady"]
        budget = [
            (
                f"{label} (nominal {burst['nominal_w'][j]:.3g} W)",
                ", ".join(
                    f"{head}: {w:.3g} W" + ("" if who in (label, "") else f" ({who})")
                    for head, w, who in zip(
                        heads,
                        [row[j] for row in burst["allowed_w"]] + [burst["steady_w"][j]],
                        [row[j] for row in burst["binding"]],
                        strict=True,
                    )
                ),
            )
            for j, label in enumerate(labels)
        ]  # fmt: skip
        limit = burst["max_temperature_k"]
        title = f"Burst budget: power alone until a hot spot reaches {limit:.2f} K"
        sections.append(Section(title, rows=budget))
    return sections
