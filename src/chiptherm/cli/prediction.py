"""Commands that use an operator: predict (one power map, with its confidence verdict and
optional refinement by the solver), predict-batch (many maps at once), evaluate (a model
against the solver on fresh maps)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chiptherm.cli.common import (
    REJECTED_EXIT,
    JsonOption,
    NoFilesOption,
    OutputsKept,
    SchedulerOption,
    WorkersOption,
    app,
    cluster_from,
    console,
    err_console,
    friendly_errors,
    out_option,
    output_folder,
    parse_params,
    refining_device,
    threaded,
)
from chiptherm.cli.solving import show_result
from chiptherm.errors import InputError
from chiptherm.report.tables import metrics_table


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
    out: out_option("out/MODEL") = None,
    tol_kelvin: Annotated[
        float, typer.Option(help="Accept a prediction whose estimated max error is below this, K.")
    ] = 0.5,
    refine: Annotated[
        bool, typer.Option("--refine", help="Refine with the solver when the score fails.")
    ] = False,
    refine_solver: Annotated[
        str | None, typer.Option(help="Warm-started solver for --refine [cg-transform, or cg-mg].")
    ] = None,
    device: Annotated[
        str,
        typer.Option(
            help="cpu or cuda[:N]: where the model runs, and with cuda also the solver of "
            "--refine (on cpu the solver keeps scipy's host path)."
        ),
    ] = "cpu",
    grid_check: Annotated[
        bool,
        typer.Option(
            "--grid-check",
            help="Also solve on a grid twice finer (8x the cells): the operator's error beside "
            "the case grid's own, which of them limits the answer, and whether refining moved "
            "it closer to the finer solution.",
        ),
    ] = False,
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
    from chiptherm.operator.train import device_of
    from chiptherm.solvers.backend import using_device
    from chiptherm.trust.confidence import EXACT_CORRECTION

    where = device_of(device)
    folder = output_folder(out, Path("out") / Path(str(model)).name, no_files)
    out_dir = folder.path if folder else Path()

    op, meta = load_operator(model, device=str(where))
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
    with using_device(refining_device(device)):
        how = (refine_solver or "krylov") if refine else None
        checked = predict_checked(op, density, params, tol_kelvin, how, check_grid=grid_check)
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
    if checked.grid is not None:
        console.print(checked.grid.verdict(), highlight=False)
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
    device: Annotated[
        str,
        typer.Option(
            help="cpu or cuda[:N]: where the model runs, and with cuda also the solves of "
            "--refine (on cpu they keep scipy's host path)."
        ),
    ] = "cpu",
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
    grid_check: Annotated[
        bool,
        typer.Option(
            "--grid-check",
            help="With --check: also solve every map on a grid twice finer: each row's case-grid "
            "error, its answer's distance to the finer solution, and which error limits it.",
        ),
    ] = False,
    out: out_option("out/MODEL-batch") = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Predict many power maps at once: peak, mean and per-layer maxima of every field.

    Writes summary.csv (one row per map), summary.json, peaks.png (histogram of the peaks),
    with --fields temperatures.npy, and with --check errors.png (histogram of the scores).
    Scalar inputs: --param for all maps, or a CSV with one row per map. --check scores
    every prediction (its largest error in K, in the score_error_k column) and --refine hands
    the rejected ones to the solver; the answer column says which each row is. Rejected
    predictions left unrefined end with exit status 3; maps far stronger or weaker than the
    training maps are named in a warning, with or without --check. With --workers or
    --scheduler the checks and refinements of each batch run on a Dask cluster (on its CPUs).

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
    from chiptherm.solvers.backend import using_device
    from chiptherm.tasks import Runner

    folder = output_folder(out, Path("out") / f"{Path(str(model)).name}-batch")
    out_dir = folder.path
    params = parse_params(param)
    op, meta = load_operator(model, device=str(device_of(device)))
    op.parameter_values(1, params)  # checks names and values before any work
    if batch < 1:
        raise InputError("--batch must be at least 1")
    if refine and not check:
        raise InputError("--refine refines the maps that --check rejects; add --check")
    if grid_check and not check:
        raise InputError("--grid-check compares what --check scores with a finer grid; add --check")
    if tol_kelvin <= 0:
        raise InputError("--tol-kelvin must be > 0 K")
    if (workers is not None or scheduler is not None) and not check:
        raise InputError("--workers and --scheduler run the checks of --check; add --check")
    maps = read_power_maps(power)
    power_check = check_power(op, training_power_range(op, meta), maps.watts)
    if params_file is not None:
        names = [p.name for p in op.case.parameters]
        table = read_parameter_table(params_file, len(maps), names)
        twice = sorted(set(table) & set(params))
        if twice:
            raise InputError(f"{twice} given both by --param and in {params_file}")
        params = {**params, **table}
    cluster = cluster_from(workers, scheduler) if check else None
    label = "predict" + (" and check" if check else "")
    with (
        Runner(cluster) as runner,
        progress_bar(label, "maps", err_console, quiet) as progress,
        using_device(refining_device(device)),
    ):
        checker = (
            BatchChecker(op, tol_kelvin, refine, runner=runner, check_grid=grid_check)
            if check
            else None
        )
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
        if result.grids is not None:
            summary["check"]["limited_by_grid"] = sum(g.limited_by == "grid" for g in result.grids)
            summary["check"]["refined_away"] = sum(
                g.refinement_improves is False for g in result.grids
            )
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
        if "limited_by_grid" in c:
            console.print(
                f"grid check: the case grid's own error is the larger for {c['limited_by_grid']} "
                f"of {len(rows)} maps; {c['refined_away']} refinement(s) moved the answer away "
                "from the finer grid's solution (columns grid_error_k, answer_vs_finer_k)"
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
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Compare a model with the reference solver on held-out maps; prints a metrics table.
    With --workers or --scheduler the reference solves run on a Dask cluster.

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
    cluster = cluster_from(workers, scheduler)
    with Progress(console=err_console, transient=True, disable=as_json) as progress:
        for k in kinds:
            dist = distribution_for(meta, k)
            found = evaluate_operator(op, dist, maps, seed, grid, progress, refine, params, cluster)
            results.append((k, found))
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
