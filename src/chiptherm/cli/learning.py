"""Commands of the neural operators: train, models, predict, predict-batch, evaluate,
optimize, demo."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from chiptherm.cli.common import (
    REJECTED_EXIT,
    JsonOption,
    NoFilesOption,
    OutputsKept,
    app,
    console,
    err_console,
    friendly_errors,
    output_folder,
    parse_params,
    threaded,
)
from chiptherm.cli.solving import show_result
from chiptherm.errors import InputError


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
@threaded
def train(
    config: Annotated[Path, typer.Argument(help="Training config YAML.", metavar="CONFIG.yaml")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Model folder \\[default: config 'output'].")
    ] = None,
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
        "layers (top first)": ", ".join(m.layers),
        "trained": trained,
        "folder": m.folder,
    }


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


@app.command()
@friendly_errors
@threaded
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
    as_json: JsonOption = False,
    no_files: NoFilesOption = False,
) -> None:
    """Predict the temperature field of a power map with a trained operator, and score it.

    The confidence score gives the largest error in K (exact on laterally uniform stacks, a
    coarse-grid estimate on others); --refine runs the solver from the prediction when it
    exceeds --tol-kelvin.

    Writes temperature.npz (K, on the case grid), summary.json and PNG maps like 'solve'. A
    prediction the score rejects and --refine did not hand to the solver ends with exit status
    3; a map far stronger or weaker than the training maps, resampled from another grid or
    removing heat is named in a warning or note.
    Example: chiptherm predict surface --power examples/surface_flux.npy --refine --out out/pred
    """
    import numpy as np

    from chiptherm.operator.checkpoint import load_operator
    from chiptherm.operator.inference import predict_checked, training_distribution
    from chiptherm.operator.model import per_sample
    from chiptherm.operator.plausibility import check_power, training_power_range
    from chiptherm.operator.sampling import load_map
    from chiptherm.trust.confidence import EXACT_CORRECTION

    folder = output_folder(out, Path("out") / Path(str(model)).name, no_files)
    out_dir = folder.path if folder else Path()

    op, meta = load_operator(model)
    params = parse_params(param)
    op.parameter_values(1, params)  # checks names and values before any work
    power_check = None
    if power is not None:
        watts = load_map(power)
        power_check = check_power(op, training_power_range(op, meta), [watts])
        density = op.case.density_from_watts(watts)
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
    notes = power_check.messages() if power_check is not None else []
    if power_check is not None:
        summary["power_check"] = {**power_check.as_dict(), "notes": [n for _, n in notes]}
    rejected = not checked.confidence.accepted and checked.refinement is None
    written = show_result(result, summary, out_dir, as_json, no_files)
    if as_json:  # the notes are in the JSON; the exit status still tells a rejection
        if rejected:
            raise OutputsKept(REJECTED_EXIT)
        return
    for level, note in notes:
        err_console.print(f"[bold yellow]{level}:[/] {note}", highlight=False)
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
        console.print(f"wrote {len(written)} files to [bold]{folder.target}[/]")
    if rejected:
        err_console.print(
            f"[bold red]REJECTED:[/] the confidence score puts this prediction's largest error "
            f"at {c.error_k:.3g} K, above --tol-kelvin {c.tolerance_k:g} K; rerun with --refine "
            f"for the solver's answer (exit status {REJECTED_EXIT})",
            highlight=False,
        )
        raise OutputsKept(REJECTED_EXIT)


@app.command("predict-batch")
@friendly_errors
@threaded
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
    the rejected ones to the solver; the answer column says which each row is. Rejected
    predictions left unrefined end with exit status 3; maps far stronger or weaker than the
    training maps are named in a warning, with or without --check.

    Example: chiptherm predict-batch volumetric maps.npy --param top_htc=2e4 --out out/sweep
    """
    from chiptherm.operator.batch import BatchChecker, read_parameter_table, read_power_maps
    from chiptherm.operator.batch import predict_batch as predict_all
    from chiptherm.operator.checkpoint import load_operator
    from chiptherm.operator.inference import machine
    from chiptherm.operator.plausibility import check_power, training_power_range
    from chiptherm.operator.train import device_of
    from chiptherm.report.outputs import write_csv, write_json
    from chiptherm.report.plots import plot_histogram
    from chiptherm.report.progress import progress_bar

    folder = output_folder(out, Path("out") / f"{Path(str(model)).name}-batch")
    out_dir = folder.path
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
    power_check = check_power(op, training_power_range(op, meta), maps.watts)
    if params_file is not None:
        names = [p.name for p in op.case.parameters]
        table = read_parameter_table(params_file, len(maps), names)
        twice = sorted(set(table) & set(params))
        if twice:
            raise InputError(f"{twice} given both by --param and in {params_file}")
        params = {**params, **table}
    checker = BatchChecker(op, tol_kelvin, refine) if check else None
    label = "predict" + (" and check" if check else "")
    with progress_bar(label, "maps", err_console, quiet) as progress:
        task = progress.add_task("predict", total=len(maps))
        result = predict_all(
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
    notes = power_check.messages(maps.names)
    summary["power_check"] = {**power_check.as_dict(), "notes": [n for _, n in notes]}
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
        f"on {op.device}); wrote {3 + fields + check} files to [bold]{folder.target}[/]"
    )
    for level, note in notes:
        err_console.print(f"[bold yellow]{level}:[/] {note}", highlight=False)
    if result.accepted is not None and not refine and not result.accepted.all():
        rejected = int((~result.accepted).sum())
        err_console.print(
            f"[bold red]REJECTED:[/] the confidence score rejects {rejected} of {len(rows)} "
            f"predictions (largest error above {tol_kelvin:g} K; the 'answer' column); add "
            f"--refine for the solver's answers (exit status {REJECTED_EXIT})",
            highlight=False,
        )
        raise OutputsKept(REJECTED_EXIT)
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
@threaded
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
@threaded
def optimize(
    problem_file: Annotated[Path, typer.Argument(help="Problem YAML.", metavar="PROBLEM.yaml")],
    mode: Annotated[
        str | None,
        typer.Option(
            help="hybrid (operator + solver) or solver \\[default: hybrid with a model, solver "
            "with a stack file]."
        ),
    ] = None,
    solver: Annotated[
        str | None, typer.Option(help="Reference solver \\[default: the problem's].")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Override search.steps.")] = None,
    descent: Annotated[
        int | None,
        typer.Option(
            help="Override search.descent: gradient steps (adjoint, L-BFGS-B) that polish the "
            "best placement after the search; linear stacks."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Report folder \\[default: out/PROBLEM].")
    ] = None,
    as_json: JsonOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Place power blocks to minimize the peak temperature; the answer is solver-verified.

    Writes placement.yaml, before.png, after.png, history.png and summary.json.
    Example: chiptherm optimize examples/problems/floorplan.yaml --out out/floorplan
    """
    from rich.progress import TextColumn

    folder = output_folder(out, Path("out") / problem_file.stem)
    out_dir = folder.path if folder else Path()
    from chiptherm.design import (
        Site,
        load_problem,
        load_site,
        outcome_summary,
        resolve_model,
        validate_problem,
        write_report,
    )
    from chiptherm.design import (
        optimize as run,
    )
    from chiptherm.operator.checkpoint import load_operator
    from chiptherm.report.progress import progress_bar

    problem, base = load_problem(problem_file)
    mode = mode or ("hybrid" if problem.model is not None else "solver")
    if mode not in ("hybrid", "solver"):
        raise InputError(f"--mode {mode!r}: expected 'hybrid' or 'solver'")
    changes = {k: v for k, v in (("steps", steps), ("descent", descent)) if v is not None}
    if changes:
        problem = problem.model_copy(update={"search": problem.search.model_copy(update=changes)})
    op, site = None, None
    try:
        if problem.model is not None:
            op, _ = load_operator(resolve_model(problem, base))
            site = Site.of_operator(op)
        else:
            site = load_site(problem, base)
        validate_problem(problem, site.size)
    except InputError as exc:
        raise InputError(exc.detail, source=str(problem_file)) from None
    if op is None and mode == "hybrid":
        raise InputError(
            "--mode hybrid needs a model; a problem with a 'stack' is searched by the solver "
            "alone (--mode solver)"
        )
    best_so_far = TextColumn("best {task.fields[best]}")
    bar = progress_bar("search", "evals", err_console, quiet or as_json, best_so_far)
    with bar as progress:
        task = progress.add_task("search", total=problem.search.steps, best="-")

        def report(done: int, best: float) -> None:
            progress.update(task, completed=done, best=f"{best:.3f} K")

        outcome = run(problem, op, mode, solver, report, site)  # type: ignore[arg-type]
    summary = outcome_summary(outcome)
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
    if summary["descent_steps"]:
        table.add_row(
            "gradient descent: steps / gain",
            f"{summary['descent_steps']} / {summary['descent_gain_k']:.3f} K",
        )
    if outcome.runaways:
        table.add_row("candidates in thermal runaway", str(outcome.runaways))
    table.add_row("wall time", f"{outcome.seconds:.1f} s")
    console.print(table)
    if outcome.overlap_k > 0:
        rule = "no placement without overlaps was found" if problem.overlap == "forbid" else ""
        console.print(
            f"[yellow]warning:[/] the placement overlaps other blocks or keep-outs (penalty "
            f"{outcome.overlap_k:.3g} K){'; ' + rule if rule else ''}"
        )
    console.print(f"wrote {len(written)} files to [bold]{folder.target}[/]")


@app.command()
@friendly_errors
@threaded
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
    import time

    import numpy as np

    from chiptherm.demo import SECTIONS, run_demo

    folder = output_folder(out, out)
    started = time.perf_counter()
    with console.status("running the demo...") as status:

        def section(i: int, name: str) -> None:
            line = f"demo {i + 1}/{len(SECTIONS)}: {name} ({time.perf_counter() - started:.0f} s)"
            if console.is_terminal:
                status.update(line)
            else:  # a log, CI, | tee: a line per section
                console.print(line, highlight=False)

        report = run_demo(folder.path, seed, tol_kelvin, steps, on_section=section)
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
    rej = report.summary["rejected_prediction"]
    table.add_row(
        f"same map by '{rej['model']}': score, answer",
        f"{rej['estimated_max_error_k']:.3f} K, {rej['path']}",
    )
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
    driver = f["sensitivity"]["largest"][0]
    table.add_row(
        "what moves its peak most (adjoint)",
        f"{driver['label']}: {driver['k_per_10_percent']:+.2f} K per +10 %",
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
    h = report.summary["solver_physics"]
    table.add_row(
        "hot die, linear → k(T), leakage, coolant",
        f"{h['linear_peak_k']:.2f} → {h['peak_k']:.2f} K",
    )
    table.add_row("hot die: power before thermal runaway", f"{h['runaway_stable_scale']:.2f} ×")
    c = h["cavity"]
    table.add_row(
        "microchannels between dies: core in → out",
        f"{c['core_in_max_k']:.2f} → {c['core_out_max_k']:.2f} K",
    )
    t = report.summary["step_response"]
    table.add_row(
        "hot die in time: 63 / 99 % of the rise after",
        f"{1e3 * t['time_to_63_s']:.1f} / {1e3 * t['time_to_99_s']:.0f} ms",
    )
    console.print(table)
    console.print(f"report: [bold]{folder.target / 'index.html'}[/]")
