"""Confidence scores of candidate fields and warm-started refinement."""

from __future__ import annotations

import numpy as np
import pytest

from chiptherm.discretize.system import System
from chiptherm.errors import InputError, SolverError
from chiptherm.solvers.result import solve
from chiptherm.trust.confidence import (
    EXACT_CORRECTION,
    MIN_COARSENED_CELLS,
    ErrorEstimator,
    coarse_stack,
    refine,
)
from tests.conftest import example


@pytest.fixture(scope="module")
def solved():
    stack = example("volumetric", 40, 40)
    return stack, solve(stack)


@pytest.fixture(scope="module")
def solved_tsv():
    """A laterally non-uniform stack (copper TSV bundles, a convective side face)."""
    stack = example("tsv_array", 30, 30)
    return stack, solve(stack)


def bump_of(grid, shape: str) -> np.ndarray:
    """A unit error pattern (nz, ny, nx): a broad bump, as a slightly wrong operator makes, or
    a hot spot in a few cells."""
    if shape == "smooth":
        bump = np.exp(
            -(((grid.x[None, None] - 0.4 * grid.x[-1]) / (0.2 * grid.x[-1])) ** 2)
            - ((grid.y[None, :, None] - 0.5 * grid.y[-1]) / (0.3 * grid.y[-1])) ** 2
        )
        return bump * (grid.z[:, None, None] / grid.z[-1])
    bump = np.zeros(grid.shape)
    nz, ny, nx = grid.shape
    bump[nz // 2 : nz // 2 + 3, ny // 4 : ny // 4 + 2, nx // 2 : nx // 2 + 2] = 1.0
    return bump


def test_coarse_stack_halves_the_lateral_grid_and_thick_layers_only(solved):
    stack, _ = solved
    coarse = coarse_stack(stack, 4)
    assert (coarse.grid.nx, coarse.grid.ny) == (10, 10)
    cells = [la.cells for la in stack.layers]
    assert cells == [41, 5, 10] and MIN_COARSENED_CELLS == 8
    assert [la.cells for la in coarse.layers] == [11, 5, 3]  # ceil(41/4), kept, ceil(10/4)


@pytest.mark.parametrize("method", ["exact", "coarse"])
def test_exact_field_scores_zero_and_is_accepted(solved, method):
    stack, result = solved
    conf = ErrorEstimator.for_stack(stack, method=method).score(result.temperature, 0.01)
    assert conf.method == method
    assert conf.relative_residual < 1e-9
    assert conf.error_k < 1e-6 and conf.accepted


def test_auto_scores_uniform_stacks_exactly_and_others_coarsely(solved, solved_tsv):
    assert ErrorEstimator.for_stack(solved[0]).method == "exact"
    assert ErrorEstimator.for_stack(solved_tsv[0]).method == "coarse"
    with pytest.raises(SolverError, match="laterally uniform"):
        ErrorEstimator.for_stack(solved_tsv[0], method="exact")
    with pytest.raises(InputError, match="expected auto, exact or coarse"):
        ErrorEstimator.for_stack(solved[0], method="fast")


@pytest.mark.parametrize("shape", ["smooth", "local"])
def test_exact_error_is_the_true_error(solved, shape):
    stack, result = solved
    bump = bump_of(result.grid, shape)
    est = ErrorEstimator.for_stack(stack, method="exact", safety=3.0)  # no safety on exact
    for amplitude in (0.1, 0.5, 2.0):
        conf = est.score(result.temperature + amplitude * bump, tolerance_k=1.0)
        true = amplitude * float(np.abs(bump).max())
        assert conf.error_k == pytest.approx(true, rel=1e-7)
        assert conf.accepted == (true <= 1.0)


@pytest.mark.parametrize("case", ["uniform", "tsv"])
@pytest.mark.parametrize("shape", ["smooth", "local"])
def test_coarse_estimate_tracks_the_true_error(solved, solved_tsv, case, shape):
    stack, result = solved if case == "uniform" else solved_tsv
    bump = bump_of(result.grid, shape)
    est = ErrorEstimator.for_stack(stack, method="coarse", safety=1.0)
    estimates = []
    for amplitude in (0.1, 0.5, 2.0):
        conf = est.score(result.temperature + amplitude * bump, tolerance_k=1.0)
        assert conf.method == "coarse"
        assert 0.7 * amplitude < conf.error_k < 1.6 * amplitude
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


def test_an_exact_score_refines_by_adding_the_error(solved):
    stack, result = solved
    system = System.from_stack(stack)
    guess = result.temperature + 0.3 * bump_of(result.grid, "smooth")
    estimator = ErrorEstimator(system, stack)
    out = refine(system, guess, estimator=estimator)
    assert out.warm.method == EXACT_CORRECTION and out.warm.iterations == 0
    assert np.abs(out.temperature - result.temperature).max() < 1e-9
    assert out.warm.relative_residual < 1e-11
    # an explicit solver, or a coarse estimator, keeps the Krylov path
    assert refine(system, guess, "cg-amg", estimator=estimator).warm.method == "cg-amg"
    coarse = ErrorEstimator(system, stack, method="coarse")
    assert refine(system, guess, estimator=coarse).warm.method == "cg-transform"
