"""The ``chiptherm`` command line: parse, call the library, print. No physics here."""

from __future__ import annotations

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


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    """Fast, trustworthy steady thermal simulation of chips and 3D-IC stacks."""
    if version:
        from chiptherm import __version__

        console.print(f"chiptherm {__version__}")
        raise typer.Exit()


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
    diag.add_row("relative residual", f"{s['relative_residual']:.2e}")
    diag.add_row("setup / solve", f"{s['setup_s']:.3f} s / {s['solve_s']:.3f} s")
    diag.add_row("power in / heat out", f"{e['power_in']:.6g} W / {e['heat_out']:.6g} W")
    diag.add_row("energy balance error", f"{e['relative_error']:.1e}")
    tables.append(diag)
    return tables


@app.command()
@friendly_errors
def solve(
    stack_file: Annotated[Path, typer.Argument(help="Stack YAML file.", metavar="STACK.yaml")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder [default: out/<stack>].")
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
) -> None:
    """Solve a stack file and write temperature.npz, summary.json, PNG maps and a .vtr file.

    Example: chiptherm solve examples/two_die.yaml --out out/two_die --probe 0.004,0.004,die1
    """
    from chiptherm.report.outputs import write_result
    from chiptherm.result import solve as solve_stack
    from chiptherm.stack_io import load_stack

    stack = load_stack(stack_file)
    probes = [parse_probe(p) for p in probe or []]
    names = {layer.name for layer in stack.layers}
    for *_, layer in probes:
        if layer not in names:
            raise InputError(f"--probe: no layer named {layer!r}; layers: {sorted(names)}")
    result = solve_stack(stack, method=solver, tol=tol)
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


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
@friendly_errors
def hotspot(ctx: typer.Context) -> None:
    """Run a HotSpot steady grid model with HotSpot's own flags; writes its output files.

    Example: chiptherm hotspot -c hotspot.config -f ev6.flp -p gcc.ptrace -model_type grid
    -steady_file gcc.steady -grid_steady_file gcc.grid.steady [--json]
    """
    from chiptherm.atomic import atomic_write_text
    from chiptherm.formats.hotspot import build_model, config_dump, effective_config

    args = list(ctx.args)
    as_json = "--json" in args
    if as_json:
        args.remove("--json")
    if not args or args[0] in ("-h", "--help"):
        console.print(hotspot.__doc__)
        return
    config = effective_config(args)
    model = build_model(config)
    if "d" in config:
        atomic_write_text(config["d"], config_dump(config))
    result = model.solve()
    if "steady_file" in config:
        atomic_write_text(config["steady_file"], result.steady_text())
    if "grid_steady_file" in config:
        atomic_write_text(config["grid_steady_file"], result.grid_steady_text())
    blocks = result.block_temperatures()
    if as_json:
        summary = {
            "model": "hotspot-grid",
            "grid": {"rows": model.rows, "cols": model.cols, "layers": len(model.layers)},
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


@app.command()
@friendly_errors
def convert(
    inputs: Annotated[list[Path], typer.Argument(help="A 3D-ICE .stk file.", metavar="INPUT...")],
    to: Annotated[Path, typer.Option("--to", help="Stack YAML file to write.")],
) -> None:
    """Convert a 3D-ICE stack file into a native stack file with the same discretized model.

    Floorplan paths inside the .stk are relative to the working directory, as in 3D-ICE.
    Example: chiptherm convert test.stk --to test.yaml
    """
    from chiptherm.errors import UnsupportedError
    from chiptherm.formats.convert import stack_from_3dice
    from chiptherm.formats.threedice import read_stk
    from chiptherm.stack_io import save_stack

    if len(inputs) != 1 or inputs[0].suffix != ".stk":
        raise UnsupportedError(
            "convert takes one 3D-ICE .stk file; HotSpot inputs cannot be expressed as a "
            "native stack yet (its package nodes and full-layer vertical resistances have no "
            "native equivalent); run them with 'chiptherm hotspot'"
        )
    stack = stack_from_3dice(read_stk(inputs[0]), name=inputs[0].stem)
    save_stack(stack, to)
    console.print(f"wrote {to} ({len(stack.layers)} layers, {stack.total_power:.4g} W)")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
