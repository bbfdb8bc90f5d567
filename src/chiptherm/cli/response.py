"""The ``response`` and ``response-predict`` commands: a stack's response operator, built by
one solve per sensor cell, then any number of power maps predicted without solving."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

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


def parse_sensors(text: str) -> tuple[int, int]:
    """'MYxMX' (rows along y, columns along x) as (my, mx)."""
    rows, _, columns = text.lower().partition("x")
    try:
        sensors = (int(rows), int(columns))
    except ValueError:
        raise InputError(f"--sensors {text!r}: expected ROWSxCOLUMNS, e.g. 32x40") from None
    if min(sensors) < 1:
        raise InputError(f"--sensors {text!r}: expected at least 1x1 cells")
    return sensors


@app.command("response")
@friendly_errors
@threaded
def response(
    stack_file: StackArgument,
    source: Annotated[str, typer.Option(help="The power source whose map is the input.")],
    sensors: Annotated[
        str, typer.Option(help="The maps' grid over the chip, ROWSxCOLUMNS (y by x).")
    ],
    to: Annotated[
        Path, typer.Option(help="Where to write the operator (.npz).", metavar="OPERATOR.npz")
    ],
    within_regions: Annotated[
        bool,
        typer.Option(
            "--within-regions",
            help="Power only in the material regions of the source's layers (the dies of a "
            "package): solves only for the sensor cells over them, and a cell's watts stay in "
            "the silicon it covers.",
        ),
    ] = False,
    order: Annotated[
        int,
        typer.Option(
            min=0,
            max=2,
            help="Basis of each sensor cell: 0 the constant (one solve per cell), 1 also the "
            "first moments (three solves; keeps where in the cell a block's power sits), 2 "
            "also the second moments (six; how it spreads).",
        ),
    ] = 1,
    all_levels: Annotated[
        bool,
        typer.Option(
            "--all-levels", help="Keep the whole field, not only the layers the source heats."
        ),
    ] = False,
    solver: SolverOption = "auto",
    as_json: JsonOption = False,
    sets: SetOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Build the response operator of a stack: its temperatures as an affine function of a
    power map, for stacks a network cannot learn yet (material regions, cooled sides, contact
    resistances: anything the solver takes that is linear in the power).

    One solve per basis function of each sensor cell (its constant and, with --order 1, its
    first moments) gives the rises; a prediction (response-predict) is then one matrix
    product, equal to the solve of the same map. The
    operator keeps the layers the source heats, where its hottest cell lies. With --workers or
    --scheduler the basis functions are solved on a Dask cluster (the same numbers).
    Example: chiptherm response examples/chiplets.yaml --source chips --sensors 32x40
    --within-regions --to chiplets.npz
    """
    from chiptherm.operator.response import build_response
    from chiptherm.report.progress import progress_bar

    stack = load_stack_with(stack_file, sets)
    shape = parse_sensors(sensors)
    if to.suffix != ".npz":
        raise InputError(f"--to {to}: expected a .npz file")
    with progress_bar("solving", "basis functions", err_console, as_json) as bar:
        task = bar.add_task("basis functions", total=None)
        op = build_response(
            stack,
            source,
            shape,
            within="regions" if within_regions else None,
            levels="all" if all_levels else "heated",
            order=order,
            method=solver,
            on_sensor=lambda done, total: bar.update(task, completed=done, total=total),
            cluster=cluster_from(workers, scheduler),
        )
    op.save(to)
    summary = {
        "stack": op.stack_name,
        "source": op.source,
        "sensors": list(op.sensors),
        "active_sensor_cells": int(op.active.sum()),
        "order": op.basis.order,
        "basis_functions": len(op.response),
        "levels": op.levels.tolist(),
        "output_cells": int(op.response.shape[1]),
        "megabytes": op.nbytes / 2**20,
        "method": op.method,
        "seconds": op.seconds,
        "file": str(to),
    }
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    console.print(
        f"{summary['active_sensor_cells']} sensor cells of {shape[0]} x {shape[1]} "
        f"({summary['basis_functions']} basis functions), "
        f"{summary['output_cells']:,} output cells ({summary['megabytes']:.1f} MB), "
        f"{op.method} in {op.seconds:.1f} s; wrote {to}"
    )


@app.command("response-predict")
@friendly_errors
@threaded
def response_predict(
    operator: Annotated[
        Path, typer.Argument(help="A response operator (.npz).", metavar="OPERATOR.npz")
    ],
    power: Annotated[
        Path | None,
        typer.Option(
            help="Power map .npy: W per sensor cell (the operator's ROWS x COLUMNS) or per "
            "solver column (its ny x nx).",
        ),
    ] = None,
    floorplan: Annotated[
        Path | None,
        typer.Option(
            help="A stack file whose blocks of the operator's source are the power (the same "
            "package with another floorplan).",
            metavar="STACK.yaml",
        ),
    ] = None,
    out: out_option("out/OPERATOR-predict") = None,
    as_json: JsonOption = False,
    no_files: NoFilesOption = False,
) -> None:
    """Predict the temperatures of a power map or floorplan with a response operator: the
    solve of the same power as its basis keeps it, without solving. Writes temperature.npz
    (K, the operator's layers of cells), summary.json and hottest_level.png (the layer of
    the hottest cell, with the floorplan's blocks).

    Example: chiptherm response-predict chiplets.npz --floorplan my_floorplan.yaml --out
    out/map
    """
    import numpy as np

    from chiptherm.formats.loading import load_stack
    from chiptherm.operator.response import ResponseOperator
    from chiptherm.report.outputs import write_json

    if (power is None) == (floorplan is None):
        raise InputError("give the power as --power MAP.npy or --floorplan STACK.yaml (one)")
    op = ResponseOperator.load(operator)
    folder = output_folder(out, Path("out") / f"{operator.stem}-predict", no_files)
    blocks: list[Any] = []
    if floorplan is not None:
        placed = load_stack(floorplan)
        op.check_stack(placed, f"--floorplan {floorplan}", grid=False)
        source = placed.power.get(op.source)
        if source is None or not source.blocks:
            raise InputError(f"--floorplan {floorplan}: no blocks in power source {op.source!r}")
        blocks = source.blocks
        watts = sum(b.watts for b in blocks)
        field = op.predict_blocks([blocks])[0]
    else:
        try:
            array = np.load(power, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"--power {power}: not a .npy array ({exc})") from None
        columns = op.shape[1:]
        watts = float(np.sum(array))
        field = op.predict_columns(array[None])[0] if array.shape == columns else op.predict(array)
    hottest = np.unravel_index(int(np.argmax(field)), field.shape)
    summary: dict[str, Any] = {
        "operator": str(operator),
        "stack": op.stack_name,
        "source": op.source,
        "power_w": float(watts),
        "peak_k": float(field.max()),
        "peak_cell": {
            "z": int(op.levels[hottest[0]]),
            "y": int(hottest[1]),
            "x": int(hottest[2]),
        },
        "mean_k": float(field.mean()),
    }
    if folder is not None:  # put in place when the command succeeds
        from chiptherm.report.maps import plot_heat_map

        np.savez_compressed(folder.path / "temperature.npz", temperature=field, levels=op.levels)
        write_json(folder.path / "summary.json", summary)
        plot_heat_map(
            field[hottest[0]],
            op.size,
            folder.path / "hottest_level.png",
            title=f"{op.stack_name}: z-cell {summary['peak_cell']['z']}, peak "
            f"{summary['peak_k']:.2f} K",
            blocks=blocks,
        )
        summary["out"] = str(folder.target)
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    cell = summary["peak_cell"]
    console.print(
        f"{op.stack_name}: {summary['power_w']:.3g} W in {op.source!r}, hottest cell "
        f"{summary['peak_k']:.3f} K at (z {cell['z']}, y {cell['y']}, x {cell['x']})"
        + (f"; wrote {summary['out']}" if "out" in summary else "")
    )
