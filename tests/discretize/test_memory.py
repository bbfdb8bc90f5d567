"""A grid too large for the machine is refused before any work, with the numbers."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from chiptherm.cli import app
from chiptherm.discretize import memory
from chiptherm.discretize.system import System
from chiptherm.errors import InputError
from chiptherm.formats.loading import load_stack
from tests.conftest import EXAMPLES


def test_a_grid_beyond_the_available_memory_is_refused_with_both_numbers(monkeypatch):
    stack = load_stack(EXAMPLES / "two_die.yaml").with_grid(40, 40)
    monkeypatch.setattr(memory, "available_bytes", lambda: 2**20)  # 1 MiB left
    with pytest.raises(InputError, match=r"needs at least .* GiB .* 0\.0 GiB available"):
        System.from_stack(stack)
    monkeypatch.setattr(memory, "available_bytes", lambda: 2**40)
    assert System.from_stack(stack).size == 40 * 40 * System.from_stack(stack).shape[0]


def test_the_solve_command_refuses_a_huge_grid_without_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 64 * 2**30)  # any machine's share
    result = CliRunner().invoke(
        app,
        [
            "solve",
            str(EXAMPLES / "two_die.yaml"),
            "--set",
            "grid.nx=20000",
            "--set",
            "grid.ny=5000",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code != 0
    assert "GiB" in result.output and "available" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
