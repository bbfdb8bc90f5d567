"""Training runs as a user meets them: step budgets, time limits, run folders, interrupts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from chiptherm.cli import app
from chiptherm.errors import InputError, Interrupted
from chiptherm.operator import checkpoint
from chiptherm.operator.checkpoint import load_operator, ship_model
from chiptherm.operator.train import Trainer, train
from chiptherm.operator.training_config import load_train_config

from .test_training import write_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
runner = CliRunner()


@pytest.mark.parametrize("config", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_configs_train_to_a_step_budget_into_a_run_folder(config: Path) -> None:
    cfg, _ = load_train_config(config)
    assert cfg.training.max_minutes is None  # the same model on a busy machine and a quiet one
    assert Path(cfg.output).parts[0] == "runs"  # never the installed models


def test_a_time_limit_is_an_early_stop_and_resume_continues_the_steps(tmp_path):
    config = write_config(tmp_path, steps=400, validation={"maps": 0})
    first = train(config, out=tmp_path / "run", quiet=True, overrides={"max_minutes": 1e-4})
    assert first.step < 400 and first.stopped_early is not None
    assert f"after {first.step} of 400 steps" in first.stopped_early
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert meta["step"] == first.step and meta["training"]["planned_steps"] == 400
    assert meta["training"]["stopped_early"] == first.stopped_early
    # each resumed run has a time limit of its own: it goes on from where the last one stopped
    again = train(
        config, out=tmp_path / "run", quiet=True, resume=True, overrides={"max_minutes": 1e-4}
    )
    assert first.step < again.step < 400
    done = train(config, out=tmp_path / "run", quiet=True, resume=True)
    assert done.step == 400 and done.stopped_early is None
    assert (
        json.loads((tmp_path / "run" / "model.json").read_text())["training"]["stopped_early"]
        is None
    )


def test_the_cli_reports_an_early_stop(tmp_path):
    config = write_config(tmp_path, steps=400, validation={"maps": 0})
    result = runner.invoke(
        app, ["train", str(config), "--out", str(tmp_path / "run"), "-q", "--max-minutes", "0.01"]
    )
    assert result.exit_code == 0, result.output
    assert "stopped early: time limit of 0.01 min reached after" in result.output


def test_resume_without_a_checkpoint_is_an_error(tmp_path):
    config = write_config(tmp_path, steps=2, validation={"maps": 0})
    with pytest.raises(InputError, match="holds no checkpoint"):
        train(config, out=tmp_path / "empty", quiet=True, resume=True)
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "e"), "--resume"])
    assert result.exit_code == 1 and "holds no checkpoint" in result.output
    assert not (tmp_path / "e").exists()


def signal_at_step(monkeypatch, step: int, signum: int) -> None:
    """Make the trainer send ``signum`` to its own process while it draws batch ``step``."""
    batch = Trainer.batch

    def sending(self):
        if self.step == step:
            os.kill(os.getpid(), signum)
        return batch(self)

    monkeypatch.setattr(Trainer, "batch", sending)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_saves_a_checkpoint_that_resumes_like_no_interrupt(
    tmp_path, monkeypatch, signum
):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    full = train(
        write_config(tmp_path / "a", steps=12, validation={"maps": 0}),
        quiet=True,
        out=tmp_path / "a" / "run",
    )
    config = write_config(tmp_path / "b", steps=12, validation={"maps": 0})
    # a process started in the background ignores SIGINT (and training keeps ignoring it then):
    # this test wants Python's own handler
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with monkeypatch.context() as patch:
            signal_at_step(patch, 5, signum)
            match = f"{signal.Signals(signum).name} at step 6 of 12"
            with pytest.raises(Interrupted, match=match):
                train(config, out=tmp_path / "b" / "run", quiet=True)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    finally:
        signal.signal(signal.SIGINT, before)
    assert json.loads((tmp_path / "b" / "run" / "state.json").read_text())["step"] == 6
    resumed = train(config, out=tmp_path / "b" / "run", quiet=True, resume=True)
    assert resumed.step == 12
    for a, b in zip(full.op.net.parameters(), resumed.op.net.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_the_cli_exits_130_on_an_interrupt_with_the_checkpoint_saved(tmp_path):
    config = write_config(tmp_path, steps=50, validation={"maps": 0})
    script = f"""
import os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background
from chiptherm.operator.train import Trainer
batch = Trainer.batch
def sending(self):
    if self.step == 3:
        os.kill(os.getpid(), signal.SIGINT)
    return batch(self)
Trainer.batch = sending
from chiptherm.cli import app
sys.argv = ["chiptherm", "train", {str(config)!r}, "--out", {str(tmp_path / "run")!r}, "-q"]
app()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 130, done.stderr
    assert "interrupted: training interrupted by SIGINT at step 4 of 50" in done.stderr
    assert "Traceback" not in done.stderr
    assert json.loads((tmp_path / "run" / "state.json").read_text())["step"] == 4


def test_a_run_becomes_a_shipped_model_only_when_shipped(tmp_path, monkeypatch):
    models = tmp_path / "models"
    monkeypatch.setattr(checkpoint, "SHIPPED", models)
    config = write_config(tmp_path, steps=3, validation={"maps": 0})
    trainer = train(config, out=tmp_path / "run", quiet=True)
    assert checkpoint.shipped_models() == []
    result = runner.invoke(app, ["ship-model", str(tmp_path / "run"), "tiny"])
    assert result.exit_code == 0, result.output
    assert checkpoint.shipped_models() == ["tiny"]
    assert sorted(p.name for p in (models / "tiny").iterdir()) == list(checkpoint.MODEL_FILES)
    op, meta = load_operator("tiny")
    assert meta["resolution"]["tolerance_k"] == 0.5  # measured when shipped
    assert len(meta["resolution"]["errors_k"]) == len(meta["resolution"]["sides_mm"]) > 0
    q = np.random.default_rng(0).normal(0, 2000, (2, 8, 8))
    np.testing.assert_allclose(op.predict(q), trainer.op.predict(q), atol=1e-10)
    again = runner.invoke(app, ["ship-model", str(tmp_path / "run"), "tiny"])
    assert (
        again.exit_code == 1 and "already installed" in again.output and "--force" in again.output
    )
    train(config, out=tmp_path / "run", quiet=True, resume=True, overrides={"steps": 6})
    assert (
        runner.invoke(app, ["ship-model", str(tmp_path / "run"), "tiny", "--force"]).exit_code == 0
    )
    assert load_operator("tiny")[1]["step"] == 6
    assert [p.name for p in models.iterdir()] == ["tiny"]  # nothing left over
    with pytest.raises(InputError, match="model name"):
        ship_model(tmp_path / "run", "../escape", models=models)
    with pytest.raises(InputError, match="no model at"):
        ship_model(tmp_path / "nothing", "other", models=models)
