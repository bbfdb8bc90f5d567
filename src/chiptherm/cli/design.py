"""The command of the design search: optimize (a floorplan problem, hybrid or by the
solver alone)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chiptherm.cli.common import (
    JsonOption,
    SchedulerOption,
    WorkersOption,
    app,
    cluster_from,
    console,
    err_console,
    friendly_errors,
    out_option,
    output_folder,
    threaded,
)
from chiptherm.errors import InputError


@app.command()
@friendly_errors
@threaded
def optimize(
    problem_file: Annotated[Path, typer.Argument(help="Problem YAML.", metavar="PROBLEM.yaml")],
    mode: Annotated[
        str | None,
        typer.Option(
            help="hybrid (operator + solver) or solver \\[default: hybrid with a model or a "
            "response operator, solver with a stack file alone]."
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
    out: out_option("out/PROBLEM", "Report folder") = None,
    as_json: JsonOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Place power blocks to minimize the peak temperature; the answer is solver-verified.

    Writes placement.yaml, before.png, after.png, history.png and summary.json. With
    --workers or --scheduler each generation's solver evaluations run on a Dask cluster.
    Example: chiptherm optimize examples/problems/floorplan.yaml --out out/floorplan
    """
    from rich.progress import TextColumn

    folder = output_folder(out, Path("out") / problem_file.stem)
    out_dir = folder.path if folder else Path()
    from chiptherm.design import (
        Site,
        load_problem,
        load_response,
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
    from chiptherm.tasks import Runner

    problem, base = load_problem(problem_file)
    has_operator = problem.model is not None or problem.response is not None or problem.dies
    mode = mode or ("hybrid" if has_operator else "solver")
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
            op = load_response(problem, base)
        validate_problem(problem, site.size)
    except InputError as exc:
        raise InputError(exc.detail, source=str(problem_file)) from None
    if op is None and mode == "hybrid" and not problem.dies:
        raise InputError(
            "--mode hybrid needs a model or a response operator ('response: OPERATOR.npz', "
            "from 'chiptherm response'); a problem with a 'stack' alone is searched by the "
            "solver (--mode solver)"
        )
    best_so_far = TextColumn("best {task.fields[best]}")
    bar = progress_bar("search", "evals", err_console, quiet or as_json, best_so_far)
    with Runner(cluster_from(workers, scheduler)) as runner, bar as progress:
        task = progress.add_task("search", total=problem.search.steps, best="-")

        def report(done: int, best: float) -> None:
            progress.update(task, completed=done, best=f"{best:.3f} K")

        outcome = run(problem, op, mode, solver, report, site, runner)  # type: ignore[arg-type]
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
    if problem.dies and mode == "hybrid":
        factor = problem.search.ranking_factor(site.stack.grid.nx, site.stack.grid.ny)
        table.add_row(
            f"ranked on a {factor}x coarser grid; checked by the solver",
            str(problem.search.verify),
        )
    elif problem.response is not None and mode == "hybrid":
        table.add_row("best predictions checked by the solver", str(problem.search.verify))
    else:
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
