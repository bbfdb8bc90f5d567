"""Confidence scores of candidate fields and warm-started refinement."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import example

from chiptherm.result import solve
from chiptherm.system import System
from chiptherm.trust import ErrorEstimator, coarse_stack, refine


@pytest.fixture(scope="module")
def solved():
    stack = example("volumetric", 40, 40)
    return stack, solve(stack)


def test_coarse_stack_divides_every_direction(solved):
    stack, _ = solved
    coarse = coarse_stack(stack, 4)
    assert (coarse.grid.nx, coarse.grid.ny) == (10, 10)
    assert [la.cells for la in coarse.layers] == [11, 2, 3]  # ceil(41/4), ceil(5/4), ceil(10/4)


def test_exact_field_scores_zero_and_is_accepted(solved):
    stack, result = solved
    conf = ErrorEstimator.for_stack(stack).score(result.temperature, tolerance_k=0.01)
    assert conf.relative_residual < 1e-9
    assert conf.error_k < 1e-6 and conf.accepted


@pytest.mark.parametrize("shape", ["smooth", "local"])
def test_error_estimate_tracks_the_true_error(solved, shape):
    stack, result = solved
    g = result.grid
    if shape == "smooth":  # a broad bump, as a slightly wrong operator makes
        bump = np.exp(
            -(((g.x[None, None] - 4e-4) / 2e-4) ** 2 + ((g.y[None, :, None] - 5e-4) / 3e-4) ** 2)
        )
        bump = bump * (g.z[:, None, None] / g.z[-1])
    else:  # a hot spot in a few cells
        bump = np.zeros(g.shape)
        bump[30:33, 10:12, 20:22] = 1.0
    est = ErrorEstimator.for_stack(stack, safety=1.0)
    estimates = []
    for amplitude in (0.1, 0.5, 2.0):
        conf = est.score(result.temperature + amplitude * bump, tolerance_k=1.0)
        assert 0.5 * amplitude < conf.error_k < 2.0 * amplitude
        assert conf.accepted == (conf.error_k <= 1.0)
        estimates.append(conf.error_k)
    assert estimates == sorted(estimates)


def test_refinement_from_a_good_guess_needs_fewer_iterations(solved):
    stack, result = solved
    system = System.from_stack(stack)
    guess = result.temperature + 0.05 * np.sin(np.arange(result.temperature.size)).reshape(
        result.temperature.shape
    )
    out = refine(system, guess, method="cg-amg", tol=1e-9, compare_cold=True)
    assert out.warm.warm_start and not out.cold.warm_start
    assert out.warm.iterations < out.cold.iterations
    assert np.abs(out.temperature - result.temperature).max() < 1e-5
    assert out.warm.relative_residual < 1e-9
