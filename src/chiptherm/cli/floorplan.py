"""Commands on a fixed floorplan's linear response: resistances, budget."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chiptherm.cli.common import (
    JsonOption,
    LimitOption,
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
    parse_params,
    threaded,
)


@app.command()
@friendly_errors
@threaded
def resistances(
    stack_file: StackArgument,
    powers: Annotated[
        Path | None,
        typer.Option(
            help="CSV of power cases: a header of block names (and an optional 'name' column), "
            "then one case per row in W; unlisted blocks keep their power from the stack file. "
            "Writes block_temperatures.csv.",
            metavar="CASES.csv",
        ),
    ] = None,
    solver: SolverOption = "auto",
    out: out_option("out/STACK-resistances") = None,
    as_json: JsonOption = False,
    no_files: NoFilesOption = False,
    sets: SetOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Block-to-block thermal resistance matrix: every block's mean temperature for any block
    powers, exactly, without solving again. With --workers or --scheduler the blocks are
    solved on a Dask cluster, a few blocks a task (the same numbers).

    One solve per power block gives R (K/W: the mean temperature rise of block i per watt in
    block j) and the background T0 (K, every block off), so that T_i = T0_i + sum_j R_ij P_j
    for this floorplan. Writes resistance.json, resistance.csv and resistance.png; with
    --powers, evaluates every case of a CSV file: every block's mean and hottest cell, and the
    stack's hottest cell, which is always a heated one, exactly.

    Example: chiptherm resistances examples/two_die.yaml --powers cases.csv --out out/rmatrix
    """
    import numpy as np

    folder = output_folder(out, Path("out") / f"{stack_file.stem}-resistances", no_files)
    out_dir = folder.path if folder else Path()
    from chiptherm.analysis.compact import block_inputs, resistance_matrix
    from chiptherm.analysis.power_tables import read_power_cases
    from chiptherm.report.maps import plot_resistance_matrix
    from chiptherm.report.outputs import write_csv, write_json
    from chiptherm.report.progress import progress_bar

    stack = load_stack_with(stack_file, sets)
    cases = None if powers is None else read_power_cases(powers, block_inputs(stack))
    with progress_bar("solving", "blocks", err_console, as_json) as bar:
        task = bar.add_task("blocks", total=None)
        matrix = resistance_matrix(
            stack,
            solver,
            on_block=lambda done, total: bar.update(task, completed=done, total=total),
            cluster=cluster_from(workers, scheduler),
        )
    summary = matrix.summary()
    if cases is not None:
        temperatures = matrix.temperatures(cases.watts)
        block_peaks = matrix.block_peaks(cases.watts)
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
                    | {f"max {b}": float(t) for b, t in zip(matrix.labels, tops, strict=True)}
                    | {
                        "hottest_block": matrix.labels[int(np.argmax(row))],
                        "hottest_block_mean_k": float(row.max()),
                        "peak_k": float(peak),
                    }
                    for name, row, tops, peak in zip(
                        cases.names, temperatures, block_peaks, peaks, strict=True
                    )
                ],
            )
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    table = Table(
        title=f"{stack.name}: {len(matrix.blocks)} blocks, {matrix.method}, {matrix.seconds:.2f} s",
        title_justify="left",
    )
    for col in ("block", "source", "W", "T0 K", "R self K/W", "warmed most by", "mean K", "max K"):
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
            f"{row['nominal_peak_k']:.2f}",
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
        console.print(f"wrote {written} files to [bold]{folder.target}[/]")


@app.command()
@friendly_errors
@threaded
def budget(
    stack_file: StackArgument,
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
    limit: LimitOption = None,
    solver: SolverOption = "auto",
    out: out_option("out/STACK-budget") = None,
    as_json: JsonOption = False,
    no_files: NoFilesOption = False,
    sets: SetOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Power budget: the most block power the floorplan takes with no cell above a limit.

    Maximizes the (weighted) total block power within per-block bounds (default 0 W to
    unbounded) subject to every cell staying at or below --max-temperature, by linear
    programming on the exact linear response of the heated cells (one solve per block), then
    verifies the answer with a full solve. --limit gives a block a lower limit of its own on the
    cells it heats. Also reports the largest uniform scale of the stack's own powers. Writes
    budget.json and budget.png (the hottest layer at the budget).

    Example: chiptherm budget examples/two_die.yaml --max-temperature 358.15 --max bank0=5
    """
    import numpy as np

    folder = output_folder(out, Path("out") / f"{stack_file.stem}-budget", no_files)
    out_dir = folder.path if folder else Path()
    from chiptherm.analysis.budget import power_budget
    from chiptherm.analysis.compact import resistance_matrix, with_block_powers
    from chiptherm.report.maps import plot_heat_map
    from chiptherm.report.outputs import write_json
    from chiptherm.report.progress import progress_bar
    from chiptherm.solvers.result import solve as solve_stack

    stack = load_stack_with(stack_file, sets)
    bounds = [
        parse_params(items, option, "core0=12.5")
        for items, option in ((minimum, "--min"), (maximum, "--max"), (weight, "--weight"))
    ]
    limits = parse_params(limit, "--limit", "bank0=343.15")
    with progress_bar("solving", "blocks", err_console, as_json) as bar:
        task = bar.add_task("blocks", total=None)
        matrix = resistance_matrix(
            stack,
            solver,
            on_block=lambda done, total: bar.update(task, completed=done, total=total),
            cluster=cluster_from(workers, scheduler),
        )
    plan = power_budget(matrix, max_temperature, *bounds, block_limits=limits)
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
                "max_k": float(top),
                "limit_k": float(cap),
            }
            for label, nominal, (lo, hi), w, t, top, cap in zip(
                matrix.labels,
                matrix.nominal_w,
                plan.bounds,
                plan.watts,
                plan.block_k,
                plan.block_peak_k,
                plan.block_limits_k,
                strict=True,
            )
        ],
    }
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
    for col in ("block", "nominal W", "allowed W", "budget W", "mean K", "max K", "limit K"):
        table.add_column(col, justify="left" if col == "block" else "right")
    for row in summary["blocks"]:
        high = "∞" if row["max_w"] is None else f"{row['max_w']:.3g}"
        table.add_row(
            row["label"],
            f"{row['nominal_w']:.3g}",
            f"{row['min_w']:.3g}–{high}",
            f"{row['budget_w']:.3f}",
            f"{row['mean_k']:.2f}",
            f"{row['max_k']:.2f}",
            f"{row['limit_k']:.2f}",
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
        console.print(f"wrote 2 files to [bold]{folder.target}[/]")
