"""Derivatives with respect to the power map: the adjoint's and the operator's, each
consistent with its own temperature, and close to each other for a model with enough modes."""

from __future__ import annotations

import numpy as np
import pytest

from chiptherm.operator.checkpoint import load_operator
from chiptherm.operator.gradients import adjoint_gradient, operator_gradient
from chiptherm.operator.inference import distribution_for
from chiptherm.operator.model import Operator


@pytest.fixture(scope="module")
def modal() -> tuple[Operator, np.ndarray]:
    op, meta = load_operator("surface_modal")
    density = distribution_for(meta, "grf").sample(
        1, op.case.size, op.case.sensors, np.random.default_rng(7)
    )[0]
    return op, density


def test_both_gradients_sum_to_their_own_rise(modal: tuple[Operator, np.ndarray]) -> None:
    """Temperature is linear in the power: the gradient times the map is the rise above the
    ambient, for the solver exactly and for the operator (its branch is linear too)."""
    op, density = modal
    exact, cell, temperature = adjoint_gradient(op, density)
    assert float((exact * density).sum()) == pytest.approx(temperature - op.case.ambient, rel=1e-8)
    learned, predicted = operator_gradient(op, density, cell)
    assert float((learned * density).sum()) == pytest.approx(predicted - op.case.ambient, rel=1e-4)


def test_a_model_with_more_modes_than_sensors_has_the_solvers_gradient(
    modal: tuple[Operator, np.ndarray],
) -> None:
    op, density = modal
    exact, cell, _ = adjoint_gradient(op, density)
    learned, _ = operator_gradient(op, density, cell)
    assert np.linalg.norm(learned - exact) / np.linalg.norm(exact) < 0.05
