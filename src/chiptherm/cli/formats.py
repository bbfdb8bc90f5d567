"""Commands for other tools' inputs and effective media: hotspot, 3dice, convert,
homogenize."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from chiptherm.cli.common import (
    SetOption,
    StackArgument,
    app,
    console,
    err_console,
    friendly_errors,
    load_stack_with,
    threaded,
)
from chiptherm.errors import InputError


def take_option(args: list[str], name: str, expected: str) -> str | None:
    """Remove chiptherm's own ``name VALUE`` from HotSpot's arguments; its value, or None."""
    if name not in args:
        return None
    at = args.index(name)
    if at + 1 >= len(args):
        raise InputError(f"{name} expects {expected}")
    value = args[at + 1]
    del args[at : at + 2]
    return value


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
@friendly_errors
def hotspot(ctx: typer.Context) -> None:
    """Run a HotSpot steady grid model with HotSpot's own flags; writes its output files.

    Example: chiptherm hotspot -c hotspot.config -f ev6.flp -p gcc.ptrace -model_type grid
    -steady_file gcc.steady -grid_steady_file gcc.grid.steady [--json]
    [--solver auto|direct|multigrid] [--threads N]

    --solver: 'multigrid' iterates exactly as HotSpot's default build does (power-of-two
    grids; with -detailed_3D on, plain Gauss-Seidel as HotSpot does), so the printed values
    equal HotSpot's; 'direct' solves the same network exactly (as HotSpot's SuperLU build);
    'auto' (default) takes HotSpot's iteration where it applies.
    """
    from chiptherm.atomic import atomic_write_text
    from chiptherm.formats.hotspot import build_model
    from chiptherm.formats.hotspot_files import config_dump, effective_config
    from chiptherm.threads import set_threads

    args = list(ctx.args)
    as_json = "--json" in args
    if as_json:
        args.remove("--json")
    solver = take_option(args, "--solver", "auto, direct or multigrid") or "auto"
    if solver not in ("auto", "direct", "multigrid"):
        raise InputError("--solver expects auto, direct or multigrid")
    threads = take_option(args, "--threads", "a whole number of threads, e.g. --threads 2")
    if threads is not None and not threads.isdigit():
        raise InputError("--threads expects a whole number of threads, e.g. --threads 2")
    set_threads(None if threads is None else int(threads))
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
@threaded
def threedice(
    stk_file: Annotated[Path, typer.Argument(help="3D-ICE stack file.", metavar="FILE.stk")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
    scheme: Annotated[
        str,
        typer.Option(
            help="Transient runs: euler (3D-ICE's backward Euler, its numbers) or bdf2 "
            "(second order, restarted at every change of power)."
        ),
    ] = "euler",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    solver: Annotated[
        str,
        typer.Option(
            help="Cavity stacks: auto, lu (the whole stack factorized, as 3D-ICE does) or "
            "block (the solid by chiptherm's solvers, the coolant by its channels, coupled by "
            "GMRES; auto takes it for 2RM and pin fins, in transient runs from 40,000 cells)."
        ),
    ] = "auto",
    double_every: Annotated[
        int,
        typer.Option(
            min=0,
            help="Transient runs: 0 takes 3D-ICE's steps; N > 0 takes chiptherm's doubling "
            "steps instead, from --first-step, doubled after every N steps, starting small "
            "again at every slot (where the power changes); step outputs come at their ends.",
        ),
    ] = 0,
    first_step: Annotated[
        float | None,
        typer.Option(
            help="The first doubling step of each slot, s \\[default: the file's step / 10]."
        ),
    ] = None,
) -> None:
    """Run a 3D-ICE stack (solid, or with a microchannel or pin-fin cavity), steady or
    transient, and execute its output section, as 3D-ICE does.

    Paths inside the file are relative to the working directory. A transient run takes the
    floorplans' power values one time slot at a time and writes the step, slot and final
    instants of the output section.
    Example: chiptherm 3dice test.stk
    """
    from chiptherm.formats.threedice import build_model
    from chiptherm.formats.threedice_files import read_stk
    from chiptherm.formats.threedice_outputs import write_outputs
    from chiptherm.formats.threedice_solve import CAVITY_METHODS, solve_steady

    if scheme not in ("euler", "bdf2"):
        raise InputError(f"--scheme {scheme!r}: expected euler or bdf2")
    if solver not in CAVITY_METHODS:
        raise InputError(f"--solver {solver!r}: expected {', '.join(CAVITY_METHODS)}")
    model = build_model(read_stk(stk_file))
    if first_step is not None and double_every == 0:
        raise InputError("--first-step sets the doubling steps: give --double-every N too")
    if model.doc.transient is None and (double_every or scheme != "euler"):
        raise InputError(
            f"{stk_file}: the file asks for a steady run ('steady ;'); --scheme and "
            "--double-every apply to transient runs ('transient step DT, slot ST ;')"
        )
    if model.doc.transient is not None:
        from chiptherm.transient.threedice import slot_steps

        timing = model.doc.transient  # the steps checked before the progress bar starts
        slot_steps(timing.step, timing.slot, timing.steps_per_slot, double_every, first_step)
        options = {
            "scheme": scheme,
            "method": solver,
            "double_every": double_every,
            "first_step": first_step,
        }
        threedice_transient(model, stk_file, options, as_json, quiet)
        return
    temperature, info = solve_steady(model, method=solver)
    written = write_outputs(model, temperature)
    power_in = float(model.system.q.sum())
    heat_out = model.heat_out(temperature)
    balance_error = abs(power_in - heat_out) / max(abs(power_in), abs(heat_out), 1e-300)
    if as_json:
        summary = {
            "model": "3d-ice",
            "grid": {"rows": model.n_rows, "cols": model.n_cols, "layers": model.system.shape[0]},
            "elements": element_summary(model, temperature),
            "outputs": written,
            "solver": {
                "method": info.method,
                "why": info.reason,
                "relative_residual": info.relative_residual,
            },
            "energy": {
                "power_in": power_in,
                "heat_out": heat_out,
                "relative_error": balance_error,
            },
        }
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    console.print(element_table(model, temperature, f"3D-ICE stack {stk_file.name}"))
    console.print(
        f"solver {info.method} ({info.reason}), relative residual "
        f"{info.relative_residual:.1e}, "
        f"energy balance error {balance_error:.1e}; wrote {', '.join(written)}"
    )


def threedice_transient(
    model: Any, stk_file: Path, options: dict[str, Any], as_json: bool, quiet: bool
) -> None:
    """The transient half of ``chiptherm 3dice``: run (``options``: the scheme, solver and
    steps of :func:`~chiptherm.transient.threedice.run_transient`) with a progress bar over
    the steps, then the final field per element and the run's energy balance."""
    from chiptherm.report.progress import progress_bar
    from chiptherm.transient.threedice import run_transient

    with progress_bar("transient", "steps", err_console, quiet or as_json) as bar:
        task = bar.add_task("steps", total=None)
        run = run_transient(
            model,
            on_step=lambda done, total: bar.update(task, completed=done, total=total),
            **options,
        )
    scheme, lengths = options["scheme"], np.diff(run.times)
    put_in = float(run.power_w @ lengths)
    left = float(run.heat_out_w @ lengths)
    error = abs(put_in - left - run.stored_j) / max(abs(put_in), abs(left), 1e-300)
    if as_json:
        summary = {
            "model": "3d-ice",
            "analysis": "transient",
            "scheme": scheme,
            "grid": {"rows": model.n_rows, "cols": model.n_cols, "layers": model.n_layers},
            "step_s": float(lengths.min()) if run.steps else model.doc.transient.step,
            "longest_step_s": float(lengths.max()) if run.steps else model.doc.transient.step,
            "slots": run.slots,
            "steps": run.steps,
            "end_s": float(run.times[-1]),
            "elements": element_summary(model, run.final),
            "outputs": run.written,
            "solver": run.method,
            "energy": {"put_in_j": put_in, "left_j": left, "stored_j": run.stored_j},
            "energy_relative_error": error,
            "seconds": run.seconds,
        }
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    title = f"3D-ICE stack {stk_file.name} at {run.times[-1]:g} s"
    console.print(element_table(model, run.final, title))
    console.print(
        f"{run.slots} slots, {run.steps} {scheme} steps of {step_range(lengths)} s with "
        f"{run.method} in "
        f"{run.seconds:.2f} s; energy balance error {error:.1e}; wrote {', '.join(run.written)}"
    )


def step_range(lengths: Any) -> str:
    """'Δt', or 'Δt1 to Δt2' for steps of several lengths (s)."""
    if len(lengths) == 0 or np.ptp(lengths) <= 1e-12 * lengths.max():
        return f"{lengths.max(initial=0.0):g}"
    return f"{lengths.min():g} to {lengths.max():g}"


def element_summary(model: Any, temperature: Any) -> dict[str, dict[str, float]]:
    """Max, min and mean K of each stack element's source layer."""
    return {
        name: {
            "max": float(temperature[level].max()),
            "min": float(temperature[level].min()),
            "mean": float(temperature[level].mean()),
        }
        for name, level in model.layer_of_element.items()
    }


def element_table(model: Any, temperature: Any, title: str) -> Table:
    """:func:`element_summary` as a table."""
    table = Table(title=f"{title}: source layers", title_justify="left")
    for col in ("element", "max K", "min K", "mean K"):
        table.add_column(col, justify="left" if col == "element" else "right")
    for name, v in element_summary(model, temperature).items():
        table.add_row(name, f"{v['max']:.3f}", f"{v['min']:.3f}", f"{v['mean']:.3f}")
    return table


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
    from chiptherm.description.stack_io import save_stack

    given = [str(p) for p in inputs or []]
    # typer leaves HotSpot flags among the positional arguments: from the first flag on,
    # everything is passed to HotSpot as it is
    first_flag = next((i for i, a in enumerate(given) if a.startswith("-")), len(given))
    files = [Path(a) for a in given[:first_flag]]
    extra = given[first_flag:] + list(ctx.args)
    if len(files) == 1 and files[0].suffix == ".stk" and not extra:
        from chiptherm.formats.convert import stack_from_3dice
        from chiptherm.formats.threedice_files import read_stk

        doc = read_stk(files[0])
        stack = stack_from_3dice(doc, name=files[0].stem)
        kind = "3D-ICE"
    else:
        from chiptherm.formats.hotspot import build_model
        from chiptherm.formats.hotspot_files import effective_config
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
    if kind == "3D-ICE" and doc.transient is not None:
        write_slot_trace(doc, stack, to)


def write_slot_trace(doc: Any, stack: Any, to: Path) -> None:
    """Write a transient 3D-ICE stack's time slots as a power trace beside the converted
    stack ``to`` (STEM.trace.csv), and say how to run them as 3D-ICE does."""
    from chiptherm.atomic import atomic_write_text
    from chiptherm.transient.threedice import trace_from_3dice

    trace = trace_from_3dice(doc, stack)
    path = to.with_name(f"{to.stem}.trace.csv")
    atomic_write_text(path, trace.csv())  # type: ignore[union-attr]
    timing = doc.transient
    end = len(trace.times) * timing.slot  # type: ignore[union-attr]
    console.print(
        f"wrote {path}: {len(trace.times)} time slots of {timing.slot:g} s; "  # type: ignore[union-attr]
        f"3D-ICE's run is: chiptherm transient {to} --trace {path} --scheme euler "
        f"--dt {timing.step:g} --double-every 0 --duration {end:g}",
        soft_wrap=True,
    )


@app.command()
@friendly_errors
@threaded
def homogenize(
    stack_file: StackArgument,
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

    from chiptherm.description.stack_io import save_stack
    from chiptherm.discretize.homogenize import homogenized
    from chiptherm.solvers.result import solve as solve_stack

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
