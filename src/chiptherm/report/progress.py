"""Progress bars of the command line: what is done, the rate, the time spent and left."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Items per second, e.g. '523 maps/s' (blank until the rate is known)."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("")
        digits = 0 if speed >= 10 else 1
        return Text(f"{speed:.{digits}f} {self.unit}/s", style="progress.data.speed")


def progress_bar(
    label: str, unit: str, console: Console, disable: bool = False, *extra: ProgressColumn
) -> Progress:
    """A bar of ``label``: done/total, the rate in ``unit``/s, ``extra`` columns, the time
    elapsed and the time left."""
    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        *extra,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=disable,
    )
