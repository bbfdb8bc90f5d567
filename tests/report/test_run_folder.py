"""Output folders: checked before any work, one run per folder, never half written."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import chiptherm.solvers.result
from chiptherm.cli import app
from chiptherm.report.run_folder import MARKER
from tests.cli.test_cli import small_copy

runner = CliRunner()


def no_solve(*args, **kwargs):
    raise AssertionError("the solve ran before the output folder was checked")


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("file", "is a file, expected a folder"),
        ("file/below", "cannot write there"),
        ("/sys/chiptherm-out", "cannot write there"),
    ],
)
def test_a_bad_out_is_one_line_before_any_work(tmp_path, monkeypatch, where, message):
    stack = small_copy(tmp_path)
    (tmp_path / "file").write_text("mine")
    monkeypatch.setattr(chiptherm.solvers.result, "solve", no_solve)
    out = where if where.startswith("/") else str(tmp_path / where)
    res = runner.invoke(app, ["solve", str(stack), "--out", out])
    assert res.exit_code == 1, res.output
    assert res.output.startswith(f"error: --out {out}: {message}")
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) <= 2
    assert (tmp_path / "file").read_text() == "mine"


def test_a_folder_of_other_files_is_refused_and_left_alone(tmp_path, monkeypatch):
    stack = small_copy(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    monkeypatch.setattr(chiptherm.solvers.result, "solve", no_solve)
    res = runner.invoke(app, ["solve", str(stack), "--out", str(mine)])
    assert (
        res.exit_code == 1 and "holds files that no chiptherm run wrote (notes.txt)" in res.output
    )
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_a_second_run_replaces_the_first_as_a_whole(tmp_path):
    two = small_copy(tmp_path)  # two powered layers: two maps
    one = small_copy(tmp_path, "single_die")
    out = tmp_path / "out"
    assert runner.invoke(app, ["solve", str(two), "--out", str(out)]).exit_code == 0
    assert (out / "map_die2_active.png").exists()
    res = runner.invoke(app, ["solve", str(one), "--out", str(out)])
    assert res.exit_code == 0, res.output
    files = sorted(p.name for p in out.iterdir() if p.name != MARKER)
    assert "map_die2_active.png" not in files  # the first design's plots are gone
    assert json.loads((out / "summary.json").read_text())["stack"] != "two-die"
    manifest = json.loads((out / MARKER).read_text())
    assert manifest["files"] == files and manifest["command"] == "solve"
    assert manifest["arguments"]["stack_file"] == str(one)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_failed_run_leaves_the_previous_folder_as_it_was(tmp_path):
    stack = small_copy(tmp_path)
    out = tmp_path / "out"
    assert runner.invoke(app, ["solve", str(stack), "--out", str(out)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    res = runner.invoke(app, ["solve", str(stack), "--out", str(out), "--runaway-margin"])
    assert res.exit_code == 1 and "has no power source with 'leakage'" in res.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_no_files_claims_no_folder(tmp_path):
    stack = small_copy(tmp_path)
    res = runner.invoke(app, ["solve", str(stack), "--out", str(tmp_path / "o"), "--no-files"])
    assert res.exit_code == 0 and not (tmp_path / "o").exists()
