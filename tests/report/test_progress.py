"""Progress where the output is a log: plain lines while work goes on, none on a terminal."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from chiptherm.report import progress


def run_bar(console: Console, disable: bool = False) -> None:
    with progress.progress_bar("solving", "blocks", console, disable) as bar:
        task = bar.add_task("blocks", total=None)
        for done in range(1, 4):
            bar.update(task, completed=done, total=3)


@pytest.mark.parametrize(("terminal", "disable"), [(False, False), (True, False), (False, True)])
def test_a_log_gets_plain_lines_and_a_terminal_the_bar_only(
    monkeypatch: pytest.MonkeyPatch, terminal: bool, disable: bool
) -> None:
    monkeypatch.setattr(progress, "LOG_SECONDS", 0.0)
    out = io.StringIO()
    run_bar(Console(file=out, force_terminal=terminal, width=120), disable)
    lines = [line for line in out.getvalue().splitlines() if line.startswith("solving: ")]
    if terminal or disable:
        assert lines == []
    else:
        assert [line.split(",")[0] for line in lines] == [
            "solving: 1/3 blocks",
            "solving: 2/3 blocks",
            "solving: 3/3 blocks",
        ]
        assert all("elapsed" in line for line in lines)


def test_lines_come_at_most_every_log_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "LOG_SECONDS", 3600.0)
    out = io.StringIO()
    run_bar(Console(file=out, force_terminal=False, width=120))
    lines = [line for line in out.getvalue().splitlines() if line.startswith("solving: ")]
    assert lines == []  # a run shorter than LOG_SECONDS prints none
