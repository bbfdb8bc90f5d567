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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
