"""What every command shares: the typer app, the consoles, one-line errors, ``--set``."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from chiptherm.errors import ChipthermError, ChipthermWarning, InputError, Interrupted

app = typer.Typer(
    help="Fast, trustworthy thermal simulation of chips and 3D-IC stacks: steady and transient.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


def _hide_flag_types() -> None:
    """Plain flags take no value, but recent typer labels them ``<bool>`` in the help as if
    they did: show no type for them (typer versions without the label are left alone)."""
    from typer.core import TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None or getattr(shown, "hides_flags", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag and not self.count else shown(self, ctx)

    display_type_rich.hides_flags = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_hide_flag_types()

F = TypeVar("F", bound=Callable[..., Any])

StackArgument = Annotated[
    Path, typer.Argument(help="Stack file: YAML, or a 3D-ICE .stk.", metavar="STACK.yaml")
]
SolverOption = Annotated[
    str,
    typer.Option(help="auto, transform, cg-mg, cg-amg, cg-transform, gmres-amg or direct."),
]
DeviceOption = Annotated[
    str,
    typer.Option(
        help="Where the solver runs: numpy (scipy on the host), cuda or cuda:N (torch on a "
        "GPU), or cpu (torch on the host: the GPU code path without a GPU).",
    ),
]


def solver_device(solver: str, device: str) -> str:
    """``device`` checked (a torch device torch can see, or numpy) against ``solver``: a
    method that runs on the host only is refused with a device, before any work."""
    from chiptherm.solvers.backend import DEVICE_METHODS, HOST, resolve

    if resolve(device) is not None and solver not in ("auto", *DEVICE_METHODS):
        raise InputError(
            f"--solver {solver} runs on the host only; with --device {device} use auto, "
            f"{', '.join(DEVICE_METHODS)}, or --device {HOST}"
        )
    return device


def refining_device(device: str) -> str:
    """The solver's device for refinements of predictions made on torch device ``device``:
    the same GPU for a CUDA device, the host's scipy path for the CPU (faster there than
    torch)."""
    return "numpy" if device.strip() == "cpu" else device


def out_option(default: str, what: str = "Output folder") -> Any:
    """The ``--out``/``-o`` option of a command that writes a folder, its default in the help
    (``out/STACK-sweep``: STACK the stack file's name)."""
    return Annotated[
        Path | None, typer.Option("--out", "-o", help=f"{what} \\[default: {default}].")
    ]


JsonOption = Annotated[bool, typer.Option("--json", help="Print the summary JSON only.")]
NoFilesOption = Annotated[bool, typer.Option("--no-files", help="Write no output files.")]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Change the stack file: KEY=VALUE with a dotted key, e.g. boundaries.top.htc=5e4 "
        "or layers.tim.thickness=3e-5; repeatable.",
        metavar="KEY=VALUE",
    ),
]


LimitOption = Annotated[
    list[str] | None,
    typer.Option(
        "--limit",
        help="A block's own temperature limit on the cells it heats, NAME=K, below the "
        "general one (a memory die's junction limit); repeatable.",
        metavar="NAME=K",
    ),
]
ToleranceOption = Annotated[
    list[str] | None,
    typer.Option(
        "--tolerance",
        help="A parameter's relative standard deviation: KEY=PERCENT, with KEY a parameter's "
        "key, a kind (thickness, conductivity, contact, htc, flow, channel, power, leakage) or "
        "all, e.g. materials.tim.conductivity=20% or power=5%; repeatable, later ones win. "
        "Gives the temperature's uncertainty.",
        metavar="KEY=PERCENT",
    ),
]
SamplesOption = Annotated[
    int,
    typer.Option(
        min=0,
        help="With --tolerance: also solve this many sampled stacks (Monte Carlo) for the real "
        "distribution.",
    ),
]
SeedOption = Annotated[int, typer.Option(help="Seed of the Monte Carlo samples.")]


def output_folder(out: Path | None, default: Path, no_files: bool = False) -> Any:
    """Claim the command's ``--out`` folder (``default`` when not given) before any work, or
    None with ``--no-files``; write into its ``.path``, name its ``.target``."""
    from chiptherm.report.run_folder import claim

    return None if no_files else claim(out or default)


def parse_tolerances(items: list[str] | None, samples: int) -> list[tuple[str, float]]:
    """--tolerance values as (pattern, relative σ); --samples needs at least one."""
    from chiptherm.analysis.tolerance import parse_tolerance

    tolerances = [parse_tolerance(item) for item in items or []]
    if samples and not tolerances:
        raise InputError("--samples needs --tolerance: the spread of the sampled parameters")
    return tolerances


def load_stack_with(stack_file: Path, sets: list[str] | None) -> Any:
    """The stack file with the ``--set`` assignments applied."""
    from chiptherm.description.overrides import parse_assignment
    from chiptherm.formats.loading import load_stack

    return load_stack(stack_file, [parse_assignment(item) for item in sets or []])


REJECTED_EXIT = 3
"""Exit status of a prediction the confidence score rejects and no solver refined."""


class OutputsKept(typer.Exit):
    """A non-zero exit status for a command that did its work and wrote its files (a rejected
    prediction): the output folder is still put in place."""


def show_warning(message: Warning | str, category: type[Warning], *args: Any, **kw: Any) -> None:
    """Print a chiptherm warning as one yellow line (others as Python does)."""
    if issubclass(category, ChipthermWarning):
        err_console.print(f"[bold yellow]warning:[/] {message}", highlight=False, soft_wrap=True)
    else:
        _show_python_warning(message, category, *args, **kw)


_show_python_warning = warnings.showwarning


def friendly_errors(func: F) -> F:
    """Turn chiptherm errors into one red line on stderr and exit code 1; an interrupt (Ctrl-C,
    or SIGTERM where a command saves on the way out) into one line and exit code 130. Output
    folders the command claimed (:mod:`chiptherm.report.run_folder`) are put in place when it
    succeeds and discarded when it does not."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from chiptherm.report import run_folder

        token = run_folder.start(func.__name__.replace("_", "-"), kwargs)
        succeeded = False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", ChipthermWarning)
                warnings.showwarning = show_warning
                value = func(*args, **kwargs)
            succeeded = True
            return value
        except OutputsKept:
            succeeded = True
            raise
        except Interrupted as exc:
            err_console.print(
                f"[bold yellow]interrupted:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(exc.exit_code) from None
        except ChipthermError as exc:
            # escaped: a message may hold brackets (an extra's name, a list, a path)
            message = escape(str(exc))
            err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print("[bold yellow]interrupted[/]: nothing was written", highlight=False)
            raise typer.Exit(Interrupted.exit_code) from None
        finally:
            run_folder.finish(token, succeeded)

    return wrapper  # type: ignore[return-value]


ThreadsOption = Annotated[
    int | None,
    typer.Option(
        "--threads",
        min=1,
        help="Threads for the numerical libraries (BLAS, FFTs, torch); default: the "
        "CHIPTHERM_THREADS environment variable, else 1 (the fastest on shared machines).",
        show_default=False,
    ),
]


WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="Run the solves on an embedded Dask cluster of this many worker processes "
        "(one thread each; needs pip install 'chiptherm\\[cluster]'). Default: one after "
        "another in this process.",
        show_default=False,
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Run the solves on the running Dask cluster at this address (e.g. "
        "tcp://10.0.0.5:8786); default: the CHIPTHERM_SCHEDULER environment variable.",
        show_default=False,
        metavar="ADDRESS",
    ),
]


def cluster_from(workers: int | None, scheduler: str | None) -> Any:
    """The :class:`~chiptherm.tasks.Cluster` that ``--workers`` / ``--scheduler`` ask for
    (tasks pinned to the command's thread count), or None to solve in this process."""
    from chiptherm.tasks import Cluster
    from chiptherm.threads import requested_threads

    return Cluster.from_options(workers, scheduler, requested_threads())


def threaded(func: F) -> F:
    """Give a command a ``--threads`` option (see :mod:`chiptherm.threads`), applied before the
    command runs."""
    from chiptherm.threads import set_threads

    @wraps(func)
    def wrapper(*args: Any, threads: int | None = None, **kwargs: Any) -> Any:
        set_threads(threads)
        return func(*args, **kwargs)

    signature = inspect.signature(func, eval_str=True)  # typer reads this signature as it is
    option = inspect.Parameter(
        "threads", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ThreadsOption
    )
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), option]
    )
    return wrapper  # type: ignore[return-value]


def _print_version(value: bool) -> None:
    if value:
        from chiptherm import __version__

        console.print(f"chiptherm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Fast, trustworthy steady thermal simulation of chips and 3D-IC stacks."""


def parse_params(
    items: list[str] | None, option: str = "--param", example: str = "top_htc=800"
) -> dict[str, float]:
    """['top_htc=800', ...] -> {'top_htc': 800.0}; errors name ``option``."""
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"{option} {item!r}: expected NAME=VALUE, e.g. {example}") from None
    return out


def reflow_help(doc: str) -> str:
    """A command docstring as help text: the lines of each paragraph joined into one (rich help
    keeps single line breaks, which leaves ragged lines at any terminal width), except before
    a line that starts with 'Example'."""
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    joined = []
    for paragraph in paragraphs:
        lines: list[str] = []
        for line in paragraph.splitlines():
            if lines and not line.startswith("Example"):
                lines[-1] += " " + line.strip()
            else:
                lines.append(line.strip())
        joined.append("\n".join(lines))
    return "\n\n".join(joined)
