"""Progress bars of the command line: what is done, the rate, the time spent and left.

On a terminal the bar redraws in place. Where the output is a log (a file, a pipe, a batch
job's output) nothing can redraw, so the bar also prints one plain line every
:data:`LOG_SECONDS` while work goes on, e.g. ``solving: 52/520 basis functions, 2.0/s,
0:00:26 elapsed, about 0:03:54 left``.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
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


LOG_SECONDS = 30.0
"""Seconds between the plain progress lines printed where the output is not a terminal."""


class LoggedProgress(Progress):
    """A rich progress bar that, where its console is not a terminal, also prints a plain
    line of each task's state at most every :data:`LOG_SECONDS` (and none when disabled)."""

    def __init__(self, *columns: Any, label: str, unit: str, **options: Any) -> None:
        super().__init__(*columns, **options)
        self.label, self.unit = label, unit
        self.logged = not options.get("disable", False) and not self.console.is_terminal
        self.last_line = time.monotonic()  # the first line after LOG_SECONDS of work

    def update(self, task_id: TaskID, **changes: Any) -> None:  # type: ignore[override]
        super().update(task_id, **changes)
        now = time.monotonic()
        if self.logged and now - self.last_line >= LOG_SECONDS:
            self.last_line = now
            task = next(t for t in self.tasks if t.id == task_id)
            self.console.print(self.line(task), highlight=False)

    def line(self, task: Task) -> str:
        """The task's state in words: done/total, rate, time spent and left."""
        total = "?" if task.total is None else f"{task.total:g}"
        parts = [f"{self.label}: {task.completed:g}/{total} {self.unit}"]
        if task.speed:
            parts.append(f"{task.speed:.3g}/s")
        parts.append(f"{timedelta(seconds=int(task.elapsed or 0))} elapsed")
        if task.time_remaining is not None and not task.finished:
            parts.append(f"about {timedelta(seconds=int(task.time_remaining))} left")
        return ", ".join(parts)


def progress_bar(
    label: str, unit: str, console: Console, disable: bool = False, *extra: ProgressColumn
) -> Progress:
    """A bar of ``label``: done/total, the rate in ``unit``/s, ``extra`` columns, the time
    elapsed and the time left; plain lines instead where the output is a log."""
    return LoggedProgress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        *extra,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=disable,
        label=label,
        unit=unit,
    )
