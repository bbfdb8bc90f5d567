"""The sensitivity command: what moves a temperature most, and how uncertain it is."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from chiptherm.cli.common import (
    JsonOption,
    NoFilesOption,
    SamplesOption,
    SchedulerOption,
    SeedOption,
    SetOption,
    SolverOption,
    StackArgument,
    ToleranceOption,
    WorkersOption,
    app,
    cluster_from,
    console,
    err_console,
    friendly_errors,
    load_stack_with,
    out_option,
    output_folder,
    parse_tolerances,
    threaded,
)
from chiptherm.report.figures import write_influence, write_moves
from chiptherm.report.html import Section
from chiptherm.tasks import Cluster

KIND_COLORS = {
    "power": "#c2410c",
    "leakage": "#9a3412",
    "conductivity": "#1d4ed8",
    "contact": "#6d28d9",
    "thickness": "#0f766e",
    "htc": "#0369a1",
    "flow": "#0891b2",
    "channel": "#0e7490",
}
"""Bar colours of the tornado chart, by parameter kind."""


@app.command()
@friendly_errors
@threaded
def sensitivity(
    stack_file: StackArgument,
    objective: Annotated[
        str,
        typer.Option(
            help="The temperature to explain: peak (the hottest cell), mean, max:LAYER, "
            "mean:LAYER, block:NAME (a block's mean) or block-max:NAME (the hottest cell it "
            "heats)."
        ),
    ] = "peak",
    method: Annotated[
        str,
        typer.Option(
            help="adjoint (one extra solve for all parameters; k(T), leakage and coolants "
            "through the Jacobian of the full equations), solves (two full solves per "
            "parameter, the check) or auto (the adjoint)."
        ),
    ] = "auto",
    top: Annotated[int, typer.Option(min=1, help="Parameters shown in the table and chart.")] = 15,
    moves: Annotated[
        bool,
        typer.Option(
            help="Also differentiate with respect to every block's position (with the "
            "solves method, up to four solves per block).",
        ),
    ] = True,
    solved: Annotated[
        bool,
        typer.Option(
            "--solved",
            help="Also solve the stack with each shown parameter at -10 % and +10 % (two "
            "warm-started solves each): the real change beside the linear estimate.",
        ),
    ] = False,
    tolerance: ToleranceOption = None,
    samples: SamplesOption = 0,
    seed: SeedOption = 0,
    solver: SolverOption = "auto",
    out: out_option("out/STACK-sensitivity") = None,
    as_json: JsonOption = False,
    no_files: NoFilesOption = False,
    sets: SetOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Which parameter moves a temperature most: the sensitivity of the hottest cell (or a
    layer's or block's temperature) to every thickness, conductivity, contact resistance,
    film coefficient, coolant flow, block power and leakage parameter of the stack.

    One extra (adjoint) solve serves all parameters together, for stacks with k(T), leakage
    or a coolant too (through the Jacobian of their full equations). The table gives
    the change for +10 % of each parameter (a linear estimate) and the derivative in the
    parameter's own unit. Writes sensitivity.json, sensitivity.csv and sensitivity.png (a
    tornado chart). It also gives the derivative with respect to every block's position: which
    way to move each block, and how much that cools the temperature per mm (moves_LAYER.png:
    an arrow on each block).

    With --tolerance the parameters' relative standard deviations give the temperature's
    uncertainty: first order (σ and each parameter's share of the variance, from the
    sensitivities) and, with --samples, by solving sampled stacks. Writes uncertainty.json,
    and uncertainty.png (the sampled distribution).

    Example: chiptherm sensitivity examples/two_die.yaml --tolerance power=5% --samples 200
    """
    from chiptherm.analysis.sensitivity import sensitivity as find_sensitivity
    from chiptherm.analysis.sensitivity import solved_changes
    from chiptherm.report.html import write_index
    from chiptherm.report.outputs import write_csv, write_json
    from chiptherm.report.plots import plot_tornado
    from chiptherm.report.progress import progress_bar

    folder = output_folder(out, Path("out") / f"{stack_file.stem}-sensitivity", no_files)
    out_dir = folder.path if folder else Path()
    tolerances = parse_tolerances(tolerance, samples)
    stack = load_stack_with(stack_file, sets)
    with progress_bar("differentiating", "steps", err_console, as_json) as bar:
        task = bar.add_task("parameters", total=None)
        study = find_sensitivity(
            stack,
            objective,
            method,
            solver,
            on_parameter=lambda done, total: bar.update(task, completed=done, total=total),
            moves=moves,
        )
    summary = study.summary()
    shown = study.entries[:top]
    checks = []
    if solved:
        with progress_bar("solving ±10 %", "solves", err_console, as_json) as bar:
            task = bar.add_task("solves", total=2 * len(shown))
            checks = solved_changes(
                study,
                len(shown),
                solver=solver,
                on_solve=lambda d, _: bar.update(task, completed=d),
            )
        summary["solved_changes"] = [
            {"key": c.key, "k_at_minus_10_percent": c.down_k, "k_at_plus_10_percent": c.up_k}
            for c in checks
        ]
    spread = None
    if tolerances:
        cluster = cluster_from(workers, scheduler)
        spread = propagate(study, tolerances, samples, seed, solver, as_json, cluster)
        summary["uncertainty"] = spread.summary
    title = f"{study.stack_name}: {study.objective.label}, {study.value_k:.2f} K"
    if not no_files:
        files = [
            write_json(out_dir / "sensitivity.json", summary),
            write_csv(out_dir / "sensitivity.csv", summary["parameters"]),
            plot_tornado(
                [e.parameter.label for e in shown],
                [c.up_k for c in checks] if checks else [e.per_change for e in shown],
                out_dir / "sensitivity.png",
                title=title,
                xlabel="change of the temperature for ±10 % of the parameter (K, "
                + ("solved)" if checks else "linear estimate)"),
                colors=[KIND_COLORS[e.parameter.kind] for e in shown],
                downs=[c.down_k for c in checks] if checks else None,
            ),
        ]
        files += write_influence(study, out_dir) + write_moves(study, out_dir)
        if spread is not None:
            files += spread.write(out_dir, study)
        files.append(
            write_index(out_dir / "index.html", title, report_sections(study, shown, spread, files))
        )
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    table = Table(title=title, title_justify="left")
    table.add_column("parameter", no_wrap=True)
    # with solved changes the derivative column gives way (it stays in the files)
    columns = (
        ("value", "K per +10 %", "solved -10 %", "solved +10 %")
        if checks
        else (
            "value",
            "K per +10 %",
            "derivative",
        )
    )
    for col in columns:
        table.add_column(col, justify="right")
    for n, e in enumerate(shown):
        p = e.parameter
        value = f"{p.value:.4g}" + ("" if p.unit == "1" else f" {p.unit}")
        rest = (
            (f"{checks[n].down_k:+.3f}", f"{checks[n].up_k:+.3f}")
            if checks
            else (f"{e.derivative:.4g} {e.unit}",)
        )
        table.add_row(p.key, value, f"{e.per_change:+.3f}", *rest)
    console.print(table)
    if study.moves:
        console.print(moves_table(study, top))
    left = len(study.entries) - len(shown)
    console.print(
        f"{study.method}, {study.solves} solves, {study.seconds:.2f} s"
        + (f"; {left} smaller parameters in the files" if left and not no_files else "")
    )
    if not stack.nonlinearities:  # linear in the power, coolants included
        console.print(
            f"the power raises it {study.total('power'):.3f} K above its zero-power value "
            "(the power sensitivities sum to that rise)"
        )
    if spread is not None:
        console.print(spread.table(study))
    if not no_files:
        console.print(f"wrote {len(files)} files to [bold]{folder.target}[/]")


def report_sections(
    study: Any, shown: list[Any], spread: Propagation | None, files: list[Path]
) -> list[Section]:
    """index.html of a sensitivity run: the ranking, the block moves, the influence maps and
    the uncertainty, each with its pictures."""
    images = [f.name for f in files if f.suffix == ".png"]
    power = study.total("power")
    sections = [
        Section(
            f"What moves the {study.objective.label}",
            f"{study.method}, {study.solves} solves, {study.seconds:.2f} s. The change for +10 % "
            f"of each parameter (a linear estimate) and the derivative in its own unit.",
            rows=[("value", f"{study.value_k:.3f} K")]
            + (
                []
                if study.nominal.stack.nonlinearities
                else [("rise from the power", f"{power:.3f} K")]
            )
            + [
                (e.parameter.key, f"{e.per_change:+.4f} K  ({e.derivative:.4g} {e.unit})")
                for e in shown
            ],
            images=[i for i in images if i == "sensitivity.png"],
        )
    ]
    if study.moves:
        sections.append(
            Section(
                "Moving a block",
                "K per mm east and north, and the way that cools fastest (arrows on the maps).",
                rows=[
                    (
                        m.label,
                        f"{0.0 if m.dx is None else m.dx * 1e-3:+.4f}, "
                        f"{0.0 if m.dy is None else m.dy * 1e-3:+.4f}; {compass(m.downhill)}",
                    )
                    for m in sorted(study.moves, key=lambda m: -m.k_per_mm)
                ],
                images=[i for i in images if i.startswith("moves_")],
            )
        )
    influence = [i for i in images if i.startswith("influence_")]
    if influence:
        sections.append(
            Section(
                "Influence: the rise per watt placed at each point",
                "The adjoint field λ on every powered layer, K/W, logarithmic colours.",
                images=influence,
            )
        )
    if spread is not None:
        doc = spread.summary
        rows = [
            ("σ, first order", f"{doc['linear_sigma_k']:.3f} K"),
            ("worst case, every parameter 1σ off", f"± {doc['linear_worst_case_k']:.3f} K"),
        ]
        mc = doc.get("monte_carlo", {})
        if "mean_k" in mc:
            rows += [
                (
                    f"sampled mean / σ ({mc['samples']} samples)",
                    f"{mc['mean_k']:.3f} / {mc['std_k']:.3f} K",
                ),
                ("sampled 5 % / 95 %", f"{mc['p05_k']:.3f} / {mc['p95_k']:.3f} K"),
            ]
        sections.append(
            Section(
                "Uncertainty from the tolerances",
                rows=rows,
                images=[i for i in images if i == "uncertainty.png"],
            )
        )
    return sections


COMPASS = ("east", "north-east", "north", "north-west", "west", "south-west", "south", "south-east")


def compass(direction: tuple[float, float]) -> str:
    """The nearest of eight compass directions of an (x, y) vector, '-' for none."""
    x, y = direction
    if x == 0.0 and y == 0.0:
        return "-"
    return COMPASS[round(math.atan2(y, x) / (math.pi / 4)) % 8]


def moves_table(study: Any, top: int) -> Table:
    """The blocks whose moves change J most: K per mm east and north, and the best way."""
    table = Table(
        title=f"moving a block (size and power kept): the {study.objective.spec}, K per mm",
        title_justify="left",
    )
    for col in ("block", "east", "north", "fastest cooling"):
        table.add_column(col, justify="left" if col == "block" else "right")
    for m in sorted(study.moves, key=lambda m: -m.k_per_mm)[:top]:
        table.add_row(
            m.label,
            "-" if m.dx is None else f"{m.dx * 1e-3:+.4f}",
            "-" if m.dy is None else f"{m.dy * 1e-3:+.4f}",
            f"{compass(m.downhill)}, {-m.k_per_mm:+.4f}",
        )
    return table


class Propagation:
    """The uncertainty of the objective: the linear estimate and, with samples, Monte Carlo."""

    def __init__(self, linear: Any, sampled: Any, sigmas: dict[str, float]) -> None:
        self.linear = linear
        self.sampled = sampled
        self.sigmas = sigmas

    @property
    def summary(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "tolerances": self.sigmas,
            "value_k": self.linear.value_k,
            "linear_sigma_k": self.linear.sigma_k,
            "linear_worst_case_k": self.linear.worst_case_k,
            "contributions": [
                {"key": key, "k_per_sigma": part, "variance_share": share}
                for key, part, share in self.linear.contributions
            ],
        }
        if self.sampled is not None:
            doc["monte_carlo"] = self.sampled.summary()
        return doc

    def write(self, out_dir: Path, study: Any) -> list[Path]:
        """uncertainty.json, and uncertainty.png with samples; the files written."""
        from chiptherm.report.outputs import write_json
        from chiptherm.report.plots import plot_histogram

        written = [write_json(out_dir / "uncertainty.json", self.summary)]
        if self.sampled is None:
            return written
        values = self.sampled.values_k[~np.isnan(self.sampled.values_k)]
        if values.size:
            written.append(
                plot_histogram(
                    values,
                    out_dir / "uncertainty.png",
                    title=f"{study.stack_name}: {study.objective.label}, {values.size} sampled "
                    "stacks",
                    xlabel="temperature (K)",
                    mark=(study.value_k, "nominal"),
                    ylabel="samples",
                )
            )
        return written

    def table(self, study: Any) -> Table:
        """The uncertainty as a two-column table."""
        lin = self.linear
        table = Table(title="uncertainty from the tolerances", title_justify="left")
        table.add_column("quantity")
        table.add_column("K", justify="right")
        table.add_row("nominal", f"{lin.value_k:.3f}")
        table.add_row("σ, first order", f"{lin.sigma_k:.3f}")
        table.add_row("worst case, every parameter 1σ off", f"± {lin.worst_case_k:.3f}")
        for key, part, share in lin.contributions[:5]:
            table.add_row(f"  {key} ({share:.0%} of the variance)", f"{part:+.3f}")
        if self.sampled is not None:
            mc = self.sampled.summary()
            n = mc["samples"] - mc["failures"]
            if "mean_k" in mc:
                table.add_row(f"sampled mean ({n} solves)", f"{mc['mean_k']:.3f}")
                table.add_row("sampled σ", f"{mc['std_k']:.3f}")
                table.add_row("sampled 5 % / 95 %", f"{mc['p05_k']:.3f} / {mc['p95_k']:.3f}")
                if study.objective.spec == "peak":
                    table.add_row(
                        "hottest cell anywhere: 95 % / max",
                        f"{mc['peak_p95_k']:.3f} / {mc['peak_max_k']:.3f}",
                    )
            if mc["failures"]:
                table.add_row("[red]failed samples (thermal runaway)[/]", str(mc["failures"]))
        return table


def propagate(
    study: Any,
    tolerances: list[tuple[str, float]],
    samples: int,
    seed: int,
    solver: str,
    quiet: bool,
    cluster: Cluster | None = None,
) -> Propagation:
    """The linear uncertainty of ``study``'s objective and, with ``samples``, a Monte Carlo
    run under a progress bar (on ``cluster``, if given)."""
    from chiptherm.analysis.tolerance import assign_tolerances, linear_uncertainty, monte_carlo
    from chiptherm.report.progress import progress_bar

    sigmas = assign_tolerances(study, tolerances)
    sampled = None
    if samples:
        with progress_bar("sampling", "solves", err_console, quiet) as bar:
            task = bar.add_task("solves", total=samples)
            sampled = monte_carlo(
                study,
                sigmas,
                samples,
                seed,
                solver,
                on_sample=lambda done, _: bar.update(task, completed=done),
                cluster=cluster,
            )
    return Propagation(linear_uncertainty(study, sigmas), sampled, sigmas)
