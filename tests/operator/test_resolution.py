"""What a model resolves: hot spots of the training maps' strongest density, shrinking, each
predicted and solved on the case grid; the smallest side resolved together with every larger
one."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from chiptherm.cli import app
from chiptherm.operator.checkpoint import load_operator
from chiptherm.operator.inference import training_distribution
from chiptherm.operator.resolution import PLACES, hot_spot, measure_resolution
from chiptherm.solvers.result import solve


@pytest.mark.parametrize(
    ("centre", "expected"), [((0.5, 0.5), (1.0e-3, 0.5e-3)), ((0.02, 0.97), (0.15e-3, 0.85e-3))]
)
def test_a_hot_spot_carries_one_watt_inside_the_die(centre, expected) -> None:
    """One watt in all; centred where asked, or pushed inside the die at its edge."""
    size, sensors = (2e-3, 1e-3), (40, 80)
    density = hot_spot(size, sensors, 0.3e-3, centre)
    dx, dy = size[0] / sensors[1], size[1] / sensors[0]
    assert density.sum() * dx * dy == pytest.approx(1.0)
    x = (np.arange(sensors[1]) + 0.5) * dx
    y = (np.arange(sensors[0]) + 0.5) * dy
    weights = density / density.sum()
    assert (weights.sum(axis=0) @ x, weights.sum(axis=1) @ y) == pytest.approx(expected, abs=dx)


def test_the_smallest_side_resolved_follows_the_errors_measured() -> None:
    op, meta = load_operator("stacked_dies")
    found = measure_resolution(op, training_distribution(meta))
    assert found.sides_mm == sorted(found.sides_mm, reverse=True)
    # the second side again, independently: both places predicted and solved
    side = found.sides_mm[1] * 1e-3
    errors = []
    for centre in PLACES:
        q = side * side * found.density_w_m2 * hot_spot(op.case.size, op.case.sensors, side, centre)
        errors.append(np.abs(op.predict(q[None])[0] - solve(op.stack_for(q)).temperature).max())
    assert found.errors_k[1] == pytest.approx(max(errors), rel=1e-9)
    # a tolerance between the errors: the cut is at the first side that fails
    tol = sorted(found.errors_k)[2]
    cut = measure_resolution(op, training_distribution(meta), tolerance_k=tol)
    passing = [e <= tol for e in cut.errors_k]
    first_fail = passing.index(False) if False in passing else len(passing)
    expected = cut.sides_mm[first_fail - 1] if first_fail else None
    assert cut.smallest_mm == expected


def test_models_shows_what_a_shipped_model_resolves() -> None:
    _, meta = load_operator("stacked_dies")
    record = meta["resolution"]
    result = CliRunner().invoke(app, ["models", "stacked_dies"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    if record["smallest_mm"] is None:
        assert "no hot spot tried" in said
    else:
        assert f"hot spots down to {record['smallest_mm']:g} mm within 0.5 K" in said
