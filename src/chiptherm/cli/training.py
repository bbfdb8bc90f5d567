"""Commands that make and list operators: train (into a run folder, resumable), ship-model
(make a run a shipped model), models (the catalog, or one model in full)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from chiptherm.cli.common import (
    app,
    console,
    err_console,
    friendly_errors,
    out_option,
    threaded,
)


@app.command()
@friendly_errors
@threaded
def train(
    config: Annotated[Path, typer.Argument(help="Training config YAML.", metavar="CONFIG.yaml")],
    out: out_option("config 'output'", "Model folder") = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in the model folder.")] = False,
    steps: Annotated[int | None, typer.Option(help="Override training.steps.")] = None,
    max_minutes: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            help="Stop early after this many minutes of this run, saved and reported as an "
            "early stop (--resume continues the remaining steps) \\[default: config].",
        ),
    ] = None,
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
    """Train an operator from the physics; writes model.safetensors + model.json checkpoints
    into a run folder (the config's 'output', runs/NAME for the shipped configs). Ctrl-C or
    SIGTERM saves a checkpoint and exits with 130; --resume continues it. A run becomes a model
    of the installed package only by 'chiptherm ship-model'.

    Example: chiptherm train configs/surface.yaml --out runs/surface
    """
    from chiptherm.operator.train import train as run_training

    overrides: dict[str, Any] = {}
    if steps is not None:
        overrides["steps"] = steps
    if max_minutes is not None:
        overrides["max_minutes"] = max_minutes
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
    if trainer.stopped_early:
        err_console.print(
            f"[bold yellow]stopped early:[/] {trainer.stopped_early}; the model is what those "
            f"steps reached (continue with --resume)",
            highlight=False,
        )


@app.command("ship-model")
@friendly_errors
def ship_model(
    run: Annotated[Path, typer.Argument(help="A training run's folder.", metavar="RUN")],
    name: Annotated[str, typer.Argument(help="The name to install it under.")],
    force: Annotated[bool, typer.Option("--force", help="Replace a model of that name.")] = False,
) -> None:
    """Install a training run as a model of this chiptherm, found by NAME from then on (its
    model.json and weights, checked to load, copied as a whole).

    Example: chiptherm ship-model runs/surface surface --force
    """
    from chiptherm.operator.checkpoint import ship_model as install

    target = install(run, name, force=force)
    console.print(f"model {name!r} installed in [bold]{target}[/]")


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
        "resolves": resolution_text(m.resolution),
        "layers (top first)": ", ".join(m.layers),
        "trained": trained,
        "folder": m.folder,
    }


def resolution_text(r: dict[str, Any] | None) -> str:
    """What a model resolves (a ``Resolution.as_dict``) in two lines."""
    if not r:
        return "not measured"
    first = (
        f"hot spots down to {r['smallest_mm']:g} mm"
        if r["smallest_mm"] is not None
        else f"no hot spot tried ({r['sides_mm'][0]:g} mm and smaller)"
    )
    errors = ", ".join(
        f"{s:g} mm {e:.2f} K" for s, e in zip(r["sides_mm"], r["errors_k"], strict=True)
    )
    return (
        f"{first} within {r['tolerance_k']:g} K\n"
        f"({r['density_w_m2']:.3g} W/m² squares; largest error: {errors})"
    )


def short_inputs(m: Any) -> str:
    """A model's scalar inputs as ``name low–high`` lines, W/(m²·K), numbers in SI prefixes."""
    return (
        "\n".join(f"{i.name} {engineering(i.low)}–{engineering(i.high)}" for i in m.inputs) or "-"
    )


def engineering(value: float) -> str:
    """``value`` in at most four characters with a k or M suffix: 50000 → '50k'."""
    for factor, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:g}{suffix}"
    return f"{value:g}"


def short_network(m: Any) -> str:
    """The network label cut to its form and size: 'modal 48×48' or 'separable-kan r24'."""
    if m.network.startswith("modal:"):
        return "modal " + m.network.split(":")[1].split("cosine")[0].replace(" ", "")
    kind = m.network.split(" trunk")[0]
    rank = m.network.rsplit("rank ", 1)[-1]
    return f"{kind} r{rank}"


def model_table(summaries: list[Any]) -> Table:
    """One row per model, each cell short enough that the table fits 80 columns."""
    table = Table(
        title="models (chiptherm models NAME for the details)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
        pad_edge=False,
    )
    for column in ["model", "size, mm", "inputs, W/(m²·K)", "network"]:
        table.add_column(column, no_wrap=True)
    table.add_column("MAE, K", justify="right", no_wrap=True)
    table.add_column("peak, K", justify="right", no_wrap=True)
    for m in summaries:
        v = m.metrics
        size = f"{m.size_mm[0]:g}×{m.size_mm[1]:g}×{m.thickness_mm:g}"
        errors = [f"{v['mae_k']:.4f}", f"{v['peak_error_k']:.3f}"] if v else ["-", "-"]
        table.add_row(m.name, size, short_inputs(m), short_network(m), *errors)
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
