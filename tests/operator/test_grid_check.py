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
