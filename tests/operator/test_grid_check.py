"""The grid check of a prediction: the operator's error beside the case grid's own, against
the solution on a grid twice finer, and what refining did to the answer."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from chiptherm.cli import app
from chiptherm.operator.checkpoint import load_operator
from chiptherm.operator.inference import predict_checked
from chiptherm.solvers.result import solve


def sharp_density(op) -> np.ndarray:
    """A hot spot of a few cells on a weak background: the case grid's error shows there."""
    ny, nx = op.case.sensors
    density = np.random.default_rng(4).uniform(0, op.case.power_scale, (ny, nx))
    density[ny // 2 : ny // 2 + 3, nx // 2 : nx // 2 + 3] = 30 * op.case.power_scale
    return density


@pytest.mark.parametrize("refine", [False, True])
def test_the_errors_of_a_checked_prediction_fit_together(refine: bool) -> None:
    """The refined answer is the case-grid solution, so it is exactly the grid's error away
    from the finer solution; the prediction's distance to the finer solution is bounded by the
    operator's error plus the grid's (triangle inequality); the verdict names the larger."""
    op, _ = load_operator("stacked_dies")
    density = sharp_density(op)
    checked = predict_checked(
        op, density, None, 1e-3, "krylov" if refine else None, check_grid=True
    )
    grid = checked.grid
    assert grid is not None and grid.refined == refine
    case = solve(checked.result.stack).temperature
    assert grid.operator_error_k == pytest.approx(np.abs(checked.predicted - case).max())
    assert grid.grid_error_k > 1e-3  # a 2-cell hot spot is not resolved on the case grid
    assert grid.prediction_error_k <= grid.operator_error_k + grid.grid_error_k + 1e-9
    if refine:
        assert grid.answer_error_k == pytest.approx(grid.grid_error_k, abs=1e-6)
        assert grid.refinement_improves == (grid.answer_error_k < grid.prediction_error_k)
    else:
        assert grid.answer_error_k == grid.prediction_error_k
        assert grid.refinement_improves is None
    larger = "grid" if grid.grid_error_k > grid.operator_error_k else "operator"
    assert grid.limited_by == larger


def test_predict_states_the_grid_check(tmp_path) -> None:
    op, _ = load_operator("stacked_dies")
    watts = op.case.watts_from_density(sharp_density(op))
    np.save(tmp_path / "w.npy", watts)
    args = ["predict", "stacked_dies", "--power", str(tmp_path / "w.npy"), "--refine"]
    args += ["--tol-kelvin", "0.001", "--grid-check", "--no-files"]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    check = json.loads(result.stdout)["grid_check"]
    assert check["refined"] and check["limited_by"] in ("grid", "operator")
    text = CliRunner().invoke(app, args)
    said = " ".join(text.output.split())
    moved = "closer to" if check["refinement_improves"] else "away from"
    assert f"so the {check['limited_by']} limits this answer" in said
    assert f"refining moved the answer {moved} the finer solution" in said


def test_predict_batch_checks_every_map_against_a_finer_grid(tmp_path) -> None:
    """Each row's grid error and its answer's distance to the finer solution: a refined answer
    is the case-grid solution, so the two agree; the summary counts the maps each error
    limits."""
    op, _ = load_operator("stacked_dies")
    density = sharp_density(op)
    maps = np.stack([density, np.roll(density, 20, axis=1), 0.2 * density])
    np.save(tmp_path / "maps.npy", op.case.watts_from_density(maps))
    args = ["predict-batch", "stacked_dies", str(tmp_path / "maps.npy"), "--check", "--refine"]
    args += ["--tol-kelvin", "0.3", "--grid-check", "-q", "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    rows = summary["results"]
    assert 0 < summary["check"]["refined"] < 3
    for row in rows:
        assert row["limited_by"] in ("grid", "operator")
        if row["answer"] == "refined":
            assert row["answer_vs_finer_k"] == pytest.approx(row["grid_error_k"], abs=2e-4)
    limited = sum(row["limited_by"] == "grid" for row in rows)
    assert summary["check"]["limited_by_grid"] == limited
    assert f"the larger for {limited} of 3 maps" in " ".join(result.output.split())
    refused = CliRunner().invoke(app, [*args[:3], "--grid-check", "--out", str(tmp_path / "r")])
    assert refused.exit_code == 1 and "--grid-check compares what --check scores" in refused.output
    assert not (tmp_path / "r").exists()
