"""Floorplan problems, penalties, and the hybrid and solver searches."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from chiptherm.cli import app
from chiptherm.design import (
    SCORE_TRIAL,
    Floorplan,
    History,
    Problem,
    load_problem,
    optimize,
)
from chiptherm.errors import InputError
from chiptherm.formats.loading import load_stack
from chiptherm.operator.checkpoint import load_operator
from chiptherm.solvers.result import solve
from tests.conftest import EXAMPLES

BLOCKS = [
    {"name": "a", "width": 2e-4, "height": 2e-4, "watts": 4e-4, "x": 4e-4, "y": 4e-4},
    {"name": "b", "width": 2e-4, "height": 2e-4, "watts": 4e-4, "x": 6.5e-4, "y": 4.5e-4},
    {"name": "io", "width": 1e-3, "height": 1e-4, "watts": 1e-4, "x": 0.0, "y": 0.0, "fixed": True},
]


@pytest.fixture(scope="module")
def surface():
    op, _ = load_operator("surface")
    return op


def problem(**changes) -> Problem:
    data = {"model": "surface", "blocks": BLOCKS, "search": {"steps": 36, "population": 12}}
    data.update(changes)
    return Problem.model_validate(data)


def test_problem_errors_name_file_line_and_key(tmp_path):
    bad = {
        "model": "surface",
        "blocks": [{"name": "a", "width": 1e-4, "height": 1e-4, "watts": 1e-3, "fixed": True}],
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(InputError, match=r"p\.yaml:\d+: blocks\[0\]: a fixed block needs x and y"):
        load_problem(path)
    bad["blocks"][0].update(x=0.0, y=0.0)
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(InputError, match="at least one block must be movable"):
        load_problem(path)


def test_overlap_and_keepout_penalties(surface):
    plan = Floorplan(
        problem(keepout=[{"x": 8e-4, "y": 8e-4, "width": 2e-4, "height": 2e-4}]), surface
    )
    apart = np.array([0.0, 0.5, 1.0, 0.5])  # a at the west edge, b at the east edge
    together = np.array([0.5, 0.5, 0.5, 0.5])
    in_keepout = np.array([0.0, 0.5, 1.0, 1.0])
    pen = plan.penalty(np.stack([apart, together, in_keepout]))
    assert pen[0] == 0.0 and pen[1] > 0 and pen[2] > 0
    rects = plan.rectangles(apart[None])[0]
    assert rects[:, 4].sum() == pytest.approx(9e-4)
    assert rects[0, 0] == 0.0 and rects[1, 0] + rects[1, 2] == pytest.approx(1.0)


def test_solver_objective_is_the_peak_of_a_full_solve(surface):
    plan = Floorplan(problem(), surface)
    u = plan.start()
    value, field = plan.solver_objective(u, "auto")
    reference = solve(plan.stack(u))
    assert value == pytest.approx(reference.temperature[-1].max(), abs=1e-6)
    assert np.allclose(field, reference.temperature, atol=1e-6)


@pytest.mark.parametrize("mode", ["hybrid", "solver"])
def test_search_lowers_the_verified_peak(surface, mode):
    outcome = optimize(problem(), surface, mode)
    assert outcome.verified_peak_k < outcome.initial_peak_k - 1.0
    # the reported answer is the solver's, for the returned placement
    check = solve(outcome.verified.stack)
    assert outcome.verified_peak_k == pytest.approx(check.temperature[-1].max(), abs=1e-6)
    assert outcome.history.evaluations[-1] == 36
    if mode == "solver":
        assert outcome.history.solver_calls == 37
    else:
        h = outcome.history
        assert h.solver_calls == h.refinements + h.polished + 1


def test_scoring_stops_when_solving_is_cheaper():
    h = History(scores=SCORE_TRIAL - 1, accepted=0, score_seconds=1.0, solve_seconds=0.01)
    h.timed_solves = 1
    assert h.scoring_pays()  # still on trial
    h.scores = SCORE_TRIAL
    assert not h.scoring_pays()  # never accepted: every score was wasted
    h.accepted, h.solve_seconds = SCORE_TRIAL, 10.0  # a slow solver, an operator that passes
    assert h.scoring_pays()
    h.solve_seconds = 0.05  # a solve costs less than a score: solve outright
    assert not h.scoring_pays()


def test_hybrid_times_a_solve_even_when_every_score_passes(surface):
    """Without one timed solve the hybrid could not tell that solving is cheaper than scoring,
    and would score forever."""
    loose = problem(search={"steps": 36, "population": 12, "screen": 12}, tolerance_k=100.0)
    h = optimize(loose, surface).history
    assert h.scores > SCORE_TRIAL
    assert h.timed_solves >= 1 and h.refinements >= 1
    assert h.accepted >= SCORE_TRIAL  # the predictions themselves all passed


def test_hybrid_checks_the_screened_candidates_of_every_generation(surface):
    screened = optimize(problem(search={"steps": 36, "population": 12, "screen": 3}), surface)
    h = screened.history
    # the start, then 3 candidates in each of the 3 generations (none reaches the polish share)
    assert h.accepted + h.refinements == 1 + 3 * 3


def test_hybrid_that_checks_everything_follows_the_solver(surface):
    """Every candidate screened against a tolerance no prediction meets: the hybrid ranks by
    solver values throughout and must take the solver-only search's path."""
    search = {"steps": 36, "population": 12, "screen": 12, "polish": 0.0}
    strict = problem(search=search, tolerance_k=1e-9)
    hybrid = optimize(strict, surface, "hybrid")
    solver = optimize(strict, surface, "solver")
    assert np.allclose(hybrid.placement, solver.placement, atol=1e-9)
    assert hybrid.verified_peak_k == pytest.approx(solver.verified_peak_k, abs=1e-9)


def test_optimize_command_writes_a_placement_and_maps(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        yaml.safe_dump(
            {"model": "surface", "blocks": BLOCKS, "search": {"steps": 24, "population": 12}}
        )
    )
    result = CliRunner().invoke(
        app, ["optimize", str(path), "--out", str(tmp_path / "o"), "--json", "-q"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    files = {p.name for p in (tmp_path / "o").iterdir()}
    assert {"placement.yaml", "before.png", "after.png", "history.png", "summary.json"} <= files
    placed = load_stack(tmp_path / "o" / "placement.yaml")
    assert placed.total_power == pytest.approx(9e-4)
    assert summary["verified_peak_k"] <= summary["initial_peak_k"]


def test_example_problem_is_valid():
    problem, _ = load_problem(EXAMPLES / "problems" / "floorplan.yaml")
    assert len(problem.blocks) == 6 and problem.model == "volumetric"


def test_bad_problems_and_options_are_one_line_errors(tmp_path):
    runner = CliRunner()
    big = {
        "model": "surface",
        "blocks": [{"name": "a", "width": 2e-3, "height": 1e-4, "watts": 1e-3}],
    }
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(big))
    result = runner.invoke(app, ["optimize", str(path), "--out", str(tmp_path / "o")])
    assert (
        result.exit_code == 1
        and "block 'a'" in result.output
        and "larger than the die" in result.output
    )
    result = runner.invoke(app, ["optimize", str(path), "--mode", "fast"])
    assert result.exit_code == 1 and "expected 'hybrid' or 'solver'" in result.output
    missing = {"model": "no-such-model", "blocks": BLOCKS}
    path.write_text(yaml.safe_dump(missing))
    result = runner.invoke(app, ["optimize", str(path)])
    assert result.exit_code == 1 and "no model at 'no-such-model'" in result.output
    assert not (tmp_path / "o").exists()


def test_blocks_that_cannot_fit_are_refused_or_reported(tmp_path):
    runner = CliRunner()
    crowded = {
        "model": "surface",
        "blocks": [
            {"name": n, "width": 7e-4, "height": 7e-4, "watts": 1e-4} for n in ("a", "b", "c")
        ],
    }
    path = tmp_path / "crowded.yaml"
    path.write_text(yaml.safe_dump(crowded))
    result = runner.invoke(app, ["optimize", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "crowded.yaml: the blocks (1.47 mm²)" in result.output
    assert "no placement without overlaps exists" in result.output
    assert not (tmp_path / "o").exists()

    # two blocks of 0.36 mm² each fit by area but not side by side on a 1 mm die
    wide = {
        "model": "surface",
        "blocks": [{"name": n, "width": 6e-4, "height": 6e-4, "watts": 1e-4} for n in "ab"],
        "search": {"steps": 24, "population": 12},
    }
    path.write_text(yaml.safe_dump(wide))
    args = ["optimize", str(path), "--out", str(tmp_path / "w"), "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "no placement without overlaps was found" in result.output
    summary = json.loads((tmp_path / "w" / "summary.json").read_text())
    assert summary["overlap_penalty_k"] > 0


def test_a_fixed_block_sticking_out_of_the_die_is_refused(surface):
    blocks = [*BLOCKS[:2], {**BLOCKS[2], "x": 2e-4}]  # 1 mm wide from x = 0.2 mm
    with pytest.raises(InputError, match="fixed block 'io' sticks out of the die"):
        Floorplan(problem(blocks=blocks), surface)


def test_blocks_are_placed_under_a_fixed_die(tmp_path):
    """stacked_dies: the blocks go into the logic die; the memory die keeps its fixed power,
    and the verified peak is the solver's in the logic die."""
    from chiptherm.design import write_report

    problem, _ = load_problem(EXAMPLES / "problems" / "stacked_floorplan.yaml")
    search = problem.search.model_copy(update={"steps": 40})
    problem = problem.model_copy(update={"search": search})
    op, _ = load_operator("stacked_dies")
    outcome = optimize(problem, op)
    assert outcome.power == "logic"
    placed = outcome.verified.stack.power["logic"].blocks
    assert [b.name for b in placed] == ["core0", "core1", "gpu", "npu", "io"]
    assert outcome.verified.stack.power["memory"] == op.case.stack.power["memory"]
    solved = solve(outcome.verified.stack).temperature
    assert outcome.verified_peak_k == pytest.approx(solved[outcome.cells].max(), abs=1e-6)
    assert outcome.verified_peak_k < outcome.initial_peak_k
    written = write_report(outcome, tmp_path)
    assert (tmp_path / "after.png") in written


def leaky_die(tmp_path) -> None:
    """A 4 mm die under a heat sink whose source leaks, on a coarse grid (stack.yaml)."""
    stack = {
        "name": "leaky-die",
        "size": [0.004, 0.004],
        "materials": {"hot_si": {"conductivity": 148.0, "temperature_exponent": -1.3}},
        "layers": [
            {"name": "sink", "thickness": 1e-3, "material": "copper"},
            {"name": "die", "thickness": 3e-4, "material": "hot_si", "cells": 2, "power": "p"},
        ],
        "power": {
            "p": {
                "blocks": [
                    {"name": "x", "x": 0, "y": 0, "width": 1e-3, "height": 1e-3, "watts": 1}
                ],
                "leakage": {"fraction": 0.2, "coefficient": 0.01},
            }
        },
        "boundaries": {"top": {"htc": 5000.0}},
        "grid": {"nx": 16, "ny": 16},
    }
    (tmp_path / "stack.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))


STACK_BLOCKS = [
    {"name": "core0", "width": 1e-3, "height": 1e-3, "watts": 2.0, "x": 1.0e-3, "y": 1.5e-3},
    {"name": "core1", "width": 1e-3, "height": 1e-3, "watts": 2.0, "x": 2.1e-3, "y": 1.5e-3},
    {"name": "io", "width": 4e-3, "height": 3e-4, "watts": 0.2, "x": 0.0, "y": 0.0, "fixed": True},
]


def test_descent_polishes_a_leaky_placement_by_the_full_adjoint(tmp_path):
    """On a die with k(T) and leakage, a short search and then the descent: the descent's
    gain is real (the verified peak is the full nonlinear solve of its placement)."""
    from chiptherm.design import load_site

    leaky_die(tmp_path)
    data = {
        "stack": "stack.yaml",
        "power": "p",
        "blocks": STACK_BLOCKS,
        "search": {"steps": 4, "population": 6, "descent": 20},
    }
    prob = Problem.model_validate(data)
    outcome = optimize(prob, None, "solver", site=load_site(prob, tmp_path))
    h = outcome.history
    assert h.descent_steps > 0 and h.descent_gain_k > 0.0
    independent = solve(outcome.verified.stack)
    assert outcome.verified_peak_k == pytest.approx(independent.max_temperature, abs=1e-5)
    assert outcome.objective_k == pytest.approx(independent.max_temperature, abs=1e-5)


def test_a_stack_problem_is_searched_by_the_solver_with_all_its_physics(tmp_path):
    from chiptherm.design import load_site

    leaky_die(tmp_path)
    data = {
        "stack": "stack.yaml",
        "power": "p",
        "blocks": STACK_BLOCKS,
        "search": {"steps": 24, "population": 8},
    }
    path = tmp_path / "problem.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    prob, base = load_problem(path)
    outcome = optimize(prob, None, "solver", site=load_site(prob, base))
    assert outcome.verified_peak_k < outcome.initial_peak_k  # the cores move apart
    # the verified answer is the full nonlinear solve of the placement, leakage included
    independent = solve(outcome.verified.stack)
    assert outcome.verified.max_temperature == pytest.approx(independent.max_temperature, abs=1e-5)
    assert outcome.verified.leakage_w > 0.2 * 4.2 and outcome.verified.balance.relative_error < 1e-7
    with pytest.raises(InputError, match="hybrid search needs a model"):
        optimize(prob, None, "hybrid", site=load_site(prob, base))
    res = CliRunner().invoke(
        app, ["optimize", str(path), "--steps", "8", "--out", str(tmp_path / "out")]
    )
    assert res.exit_code == 0, res.output
    assert "solver search" in res.output
    refused = CliRunner().invoke(app, ["optimize", str(path), "--mode", "hybrid", "--steps", "8"])
    assert refused.exit_code == 1 and "--mode hybrid needs a model" in refused.output


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model": "surface"}, "either 'model'"),
        ({"power": None}, "names the power source that takes the blocks"),
        ({"power": "q"}, "the stack has no power source 'q'; it has p"),
        ({"power": "spare"}, "source 'spare' must heat exactly one layer or face"),
    ],
)
def test_stack_problems_that_cannot_be_set_up_say_why(tmp_path, changes, message):
    from chiptherm.design import load_site

    leaky_die(tmp_path)
    stack = yaml.safe_load((tmp_path / "stack.yaml").read_text())
    stack["power"]["spare"] = {
        "blocks": [{"name": "s", "x": 0, "y": 0, "width": 1e-3, "height": 1e-3, "watts": 1}]
    }
    (tmp_path / "stack.yaml").write_text(yaml.safe_dump(stack))  # defined, heats nothing
    data = {"stack": "stack.yaml", "power": "p", "blocks": STACK_BLOCKS} | changes
    data = {k: v for k, v in data.items() if v is not None}
    path = tmp_path / "problem.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(InputError, match=message):
        prob, base = load_problem(path)
        load_site(prob, base)


def test_a_placement_in_thermal_runaway_scores_worse_than_any_steady_one(tmp_path):
    from chiptherm.design import load_site
    from chiptherm.solvers.terms import RUNAWAY_K

    leaky_die(tmp_path)
    hot = [dict(b, watts=b["watts"] * 200) for b in STACK_BLOCKS]  # far beyond the fold
    prob = Problem.model_validate({"stack": "stack.yaml", "power": "p", "blocks": hot})
    plan = Floorplan(prob, site=load_site(prob, tmp_path))
    value, field = plan.solver_objective(plan.start(), "auto")
    assert field is None and value >= RUNAWAY_K and plan.runaways == 1


def test_block_leakage_needs_the_source_s_coefficient(tmp_path):
    from chiptherm.design import load_site

    leaky_die(tmp_path)
    blocks = [dict(STACK_BLOCKS[0], leakage_w=0.5), *STACK_BLOCKS[1:]]
    prob = Problem.model_validate({"stack": "stack.yaml", "power": "p", "blocks": blocks})
    plan = Floorplan(prob, site=load_site(prob, tmp_path))
    assert plan.blocks(plan.start())[0].leakage_w == 0.5  # placed blocks keep their leakage
    data = yaml.safe_load((tmp_path / "stack.yaml").read_text())
    del data["power"]["p"]["leakage"]
    (tmp_path / "stack.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match="'leakage_w' but power source 'p' has no 'leakage'"):
        Floorplan(prob, site=load_site(prob, tmp_path))


def linear_site():
    """The single-die example with its cores as movable blocks: a linear stack."""
    from chiptherm.design import Site

    stack = load_stack(EXAMPLES / "single_die.yaml").with_grid(32, 32)
    blocks = [
        {"name": "core0", "width": 3e-3, "height": 3.5e-3, "watts": 18.0, "x": 1e-3, "y": 5.5e-3},
        {"name": "core1", "width": 3e-3, "height": 3.5e-3, "watts": 18.0, "x": 4.5e-3, "y": 5.5e-3},
        {"name": "core2", "width": 3e-3, "height": 3.5e-3, "watts": 21.0, "x": 4.5e-3, "y": 1e-3},
        {
            "name": "io",
            "width": 1.2e-2,
            "height": 5e-4,
            "watts": 2.0,
            "x": 0.0,
            "y": 0.0,
            "fixed": True,
        },
    ]
    prob = Problem.model_validate(
        {"stack": "x.yaml", "power": "die", "blocks": blocks, "search": {"steps": 1}}
    )
    return prob, Site.of_stack(stack, "die")


def hot_site():
    """The hot die (k(T) and leakage) with the cores of :func:`linear_site` movable."""
    from chiptherm.design import Site

    prob, _ = linear_site()
    stack = load_stack(EXAMPLES / "hot_die.yaml").with_grid(24, 20)
    return prob, Site.of_stack(stack, "die")


@pytest.mark.parametrize("make_site", [linear_site, hot_site], ids=["linear", "k(T)+leakage"])
def test_the_descent_gradient_is_the_derivative_of_its_smooth_objective(make_site):
    """The adjoint gradient (one solve and one adjoint solve; for the hot die the adjoint of
    its full equations) against central differences of the smooth objective itself, along
    every coordinate."""
    from chiptherm.design import SmoothObjective

    prob, site = make_site()
    plan = Floorplan(prob, site=site)
    objective = SmoothObjective(plan, beta=2.0)
    u = plan.start()
    value, gradient, true_value = objective(u)
    assert value >= true_value  # log-sum-exp lies above the maximum
    for k in range(len(u)):
        h = 1e-4  # the hot die is curved enough for 1e-3 to miss by 1 %
        up, down = u.copy(), u.copy()
        up[k] += h
        down[k] -= h
        numeric = (objective(up)[0] - objective(down)[0]) / (2 * h)
        # the rasterized power is piecewise linear: kinks between the two step sizes
        assert gradient[k] == pytest.approx(numeric, rel=1e-2, abs=1e-3 * np.abs(gradient).max())


def test_descent_lowers_the_solved_peak_and_refuses_what_it_cannot_do():
    prob, site = linear_site()
    polished = prob.model_copy(update={"search": prob.search.model_copy(update={"descent": 30})})
    outcome = optimize(polished, None, "solver", site=site)
    h = outcome.history
    assert 0 < h.descent_steps <= 32 and h.descent_gain_k > 0.2
    assert outcome.verified_peak_k < outcome.initial_peak_k - 0.2  # the solver's own peak
    assert outcome.objective_k == pytest.approx(outcome.initial_peak_k - h.descent_gain_k)
    assert outcome.overlap_k == 0.0

    graded = polished.model_dump() | {"objective": {"peak": 1.0, "gradient": 0.1}}
    with pytest.raises(InputError, match="without the gradient term"):
        optimize(Problem.model_validate(graded), None, "solver", site=site)
