"""--device on the commands that solve: the torch path gives the host's answer, says where it
ran, and bad combinations are refused before any work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from chiptherm.cli import app
from chiptherm.cli.common import refining_device
from chiptherm.operator.checkpoint import load_operator
from chiptherm.operator.inference import predict_checked, training_distribution
from chiptherm.solvers import using_device
from tests.cli.test_cli import small_copy

runner = CliRunner()


def test_solve_on_the_torch_path_gives_the_host_answer_and_says_where(tmp_path: Path) -> None:
    stack = small_copy(tmp_path, "tsv_array")
    fields = {}
    for device in ("numpy", "cpu"):
        out = tmp_path / device
        res = runner.invoke(app, ["solve", str(stack), "--out", str(out), "--device", device])
        assert res.exit_code == 0, res.output
        summary = json.loads((out / "summary.json").read_text())
        assert summary["solver"]["device"] == device
        fields[device] = np.load(out / "temperature.npz")["temperature"]
    assert "device" in res.output and "multigrid CG on cpu" in res.output
    assert np.abs(fields["cpu"] - fields["numpy"]).max() < 1e-7


def test_a_host_only_solver_with_a_device_is_refused_before_any_work(tmp_path: Path) -> None:
    stack = small_copy(tmp_path, "tsv_array")
    out = tmp_path / "out"
    res = runner.invoke(
        app, ["solve", str(stack), "--solver", "direct", "--device", "cpu", "--out", str(out)]
    )
    assert res.exit_code == 1
    assert "--solver direct runs on the host only" in res.output
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_cuda_without_a_gpu_is_a_one_line_error(tmp_path: Path) -> None:
    stack = small_copy(tmp_path, "tsv_array")
    for args in (
        ["solve", str(stack), "--device", "cuda", "--no-files"],
        ["predict", "surface", "--device", "cuda", "--no-files"],
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 1 and "CUDA" in res.output and "Traceback" not in res.output


def test_refinements_follow_a_cuda_device_and_keep_scipy_on_the_cpu() -> None:
    assert refining_device("cuda:1") == "cuda:1"
    assert refining_device("cpu") == "numpy"


def test_a_refinement_inside_a_device_block_runs_there() -> None:
    """What --device cuda does for predict --refine, run through torch on the CPU: the
    warm-started multigrid CG refines on the device and reaches the host's answer."""
    op, meta = load_operator("volumetric")
    density = training_distribution(meta).sample(
        1, op.case.size, op.case.sensors, np.random.default_rng(0)
    )[0]
    on_host = predict_checked(op, density, None, 1e-6, "cg-mg", compare_cold=False)
    with using_device("cpu"):
        on_torch = predict_checked(op, density, None, 1e-6, "cg-mg", compare_cold=False)
    assert on_host.refinement is not None and on_torch.refinement is not None
    assert on_host.refinement.warm.device == "numpy"
    assert on_torch.refinement.warm.device == "cpu"
    assert on_torch.refinement.warm.iterations > 0
    host, torch_path = on_host.result.temperature, on_torch.result.temperature
    rise = float(host.max() - host.min())
    assert np.abs(torch_path - host).max() < 1e-6 * rise
