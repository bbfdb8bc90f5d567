"""Floorplan search on a heterogeneous package with a response operator: blocks stay inside
their dies, the hybrid's unchecked predictions are checked by the solver at the end and land
where the solver-only search lands, and an operator of another stack or grid is refused."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from chiptherm import load_stack, stack_from_dict
from chiptherm.cli import app
from chiptherm.design import Floorplan, Problem, load_problem, load_response, load_site, optimize
from chiptherm.errors import InputError
from chiptherm.operator.response import build_response

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
COMPUTE = {"x": 0.002, "y": 0.003, "width": 0.010, "height": 0.010}  # the dies of chiplets.yaml
MEMORY = {"x": 0.0135, "y": 0.005, "width": 0.005, "height": 0.006}
BLOCKS = [
    {"name": "cores", "width": 0.004, "height": 0.003, "watts": 40.0, "within": COMPUTE},
    {"name": "gpu", "width": 0.003, "height": 0.003, "watts": 25.0, "within": COMPUTE},
    {"name": "hbm", "width": 0.003, "height": 0.003, "watts": 10.0, "within": MEMORY},
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """``examples/chiplets.yaml`` on a 40 x 32 grid (stack.yaml) and its order-1 response
    operator on 2 mm sensor cells over the dies (op.npz)."""
    base = tmp_path_factory.mktemp("package")
    data = load_stack(EXAMPLES / "chiplets.yaml").model_dump(mode="json")
    data["grid"] = {"nx": 40, "ny": 32}
    stack = stack_from_dict(data)
    (base / "stack.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    build_response(stack, "chips", (8, 10), within="regions", method="direct").save(base / "op.npz")
    return base


def problem(folder: Path, **search) -> tuple[Problem, Path]:
    data = {
        "stack": "stack.yaml",
        "power": "chips",
        "response": "op.npz",
        "blocks": BLOCKS,
        "search": {"steps": 120, "population": 10, "sigma": 0.2, "polish": 0.0, **search},
    }
    path = folder / "problem.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_problem(path)


def inside(corner: np.ndarray, block: dict, area: dict) -> bool:
    x, y = corner
    return (
        area["x"] - 1e-12 <= x <= area["x"] + area["width"] - block["width"] + 1e-12
        and area["y"] - 1e-12 <= y <= area["y"] + area["height"] - block["height"] + 1e-12
    )


def test_blocks_stay_inside_their_areas_and_start_apart(folder):
    prob, base = problem(folder)
    plan = Floorplan(prob, None, load_site(prob, base))
    u = np.vstack([np.zeros(6), np.ones(6), np.random.default_rng(0).uniform(-0.5, 1.5, (50, 6))])
    for row in plan.corners(u):
        for corner, block in zip(row, BLOCKS, strict=True):
            assert inside(corner, block, block["within"])
    start = plan.start()
    for corner, block in zip(plan.corners(start)[0], BLOCKS, strict=True):
        assert inside(corner, block, block["within"])
    assert plan.penalty(start[None])[0] == 0.0  # packed in shelves inside their dies


def test_the_hybrid_checks_its_best_predictions_and_matches_the_solver_search(folder):
    """The hybrid ranks every candidate by the response operator and checks ``verify``
    distinct placements by the solver; its answer is the solver's value of its placement,
    its prediction is within the basis's error of its check, and it gains at least 90 % of
    what the solver-only search gains over the start (the operator's 2 mm basis smears the
    blocks' edges, so its optimum is not quite the solver's)."""
    prob, base = problem(folder, verify=4)
    op, site = load_response(prob, base), load_site(prob, base)
    hybrid = optimize(prob, op, "hybrid", site=site)
    h = hybrid.history
    assert h.timed_solves == 4 and h.solver_calls == 5  # the checks, and the final verification
    assert hybrid.objective_k == pytest.approx(hybrid.verified_peak_k, abs=1e-6)
    assert hybrid.verified_peak_k < hybrid.initial_peak_k - 1.0  # the blocks move apart
    plan = Floorplan(prob, op, site)
    predicted = plan.operator_objective(hybrid.placement[None])[0]
    assert predicted == pytest.approx(hybrid.verified_peak_k, abs=1.0)
    solver = optimize(prob, None, "solver", site=site)
    assert solver.history.solver_calls > 100
    gain = hybrid.initial_peak_k - hybrid.verified_peak_k
    assert gain >= 0.9 * (solver.initial_peak_k - solver.verified_peak_k)
    for block in hybrid.blocks:
        spec = next(b for b in BLOCKS if b["name"] == block.name)
        assert inside(np.array([block.x, block.y]), spec, spec["within"])


def test_an_operator_of_another_grid_is_refused(folder, tmp_path):
    data = yaml.safe_load((folder / "stack.yaml").read_text())
    data["grid"] = {"nx": 20, "ny": 16}
    build_response(stack_from_dict(data), "chips", (8, 10), within="regions").save(
        tmp_path / "coarse.npz"
    )
    prob, base = problem(folder)
    other_source = replace(load_response(prob, base), source="lid")  # type: ignore[type-var]
    with pytest.raises(InputError, match="built for source 'lid', not 'chips'"):
        Floorplan(prob, other_source, load_site(prob, base))
    prob = prob.model_copy(update={"response": str(tmp_path / "coarse.npz")})
    with pytest.raises(InputError, match=r"x16x20 grid") as err:
        Floorplan(prob, load_response(prob, base), load_site(prob, base))
    assert "rebuild it with 'chiptherm response'" in str(err.value)


def test_an_operator_of_an_edited_stack_is_refused(folder, tmp_path):
    """Same name and grid, another mold: the operator's fingerprint tells them apart, in
    the search and in response-predict; other blocks of the varying source do not count."""
    data = yaml.safe_load((folder / "stack.yaml").read_text())
    data["materials"]["mold"]["conductivity"] = 3.0
    (tmp_path / "stack.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (tmp_path / "op.npz").write_bytes((folder / "op.npz").read_bytes())
    prob, base = problem(tmp_path)
    with pytest.raises(InputError, match="another version of stack 'chiplets'"):
        Floorplan(prob, load_response(prob, base), load_site(prob, base))
    edited = str(tmp_path / "stack.yaml")
    args = ["response-predict", str(folder / "op.npz"), "--floorplan", edited, "--no-files"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code != 0 and "another version of stack 'chiplets'" in res.output
    data = yaml.safe_load((folder / "stack.yaml").read_text())
    data["power"]["chips"]["blocks"][0]["watts"] = 1.0  # the varying source: still the same
    (tmp_path / "stack.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    prob, base = problem(tmp_path)
    Floorplan(prob, load_response(prob, base), load_site(prob, base))


def test_problem_errors_for_areas_and_operators(folder):
    with pytest.raises(ValueError, match="larger than its 'within' area"):
        Problem.model_validate(
            {"stack": "s.yaml", "power": "p", "blocks": [{**BLOCKS[2], "width": 0.006}]}
        )
    with pytest.raises(ValueError, match="'response' goes with 'stack'"):
        Problem.model_validate({"model": "surface", "response": "op.npz", "blocks": BLOCKS})
    prob, base = problem(folder)
    outside = {**BLOCKS[2], "within": {**MEMORY, "x": 0.018}}
    prob = prob.model_copy(update={"blocks": [*prob.blocks[:2], type(prob.blocks[0])(**outside)]})
    with pytest.raises(InputError, match=r"'hbm': its 'within' area .* sticks out of the die"):
        Floorplan(prob, None, load_site(prob, base))


def test_optimize_command_runs_the_response_hybrid(folder):
    path = problem(folder, steps=40, verify=2)[1] / "problem.yaml"
    res = CliRunner().invoke(app, ["optimize", str(path), "--out", str(folder / "out")])
    assert res.exit_code == 0, res.output
    assert "hybrid search" in res.output
    summary = json.loads((folder / "out" / "summary.json").read_text())
    assert summary["solver_calls"] == 3  # two checks and the final verification
    placed = load_stack(folder / "out" / "placement.yaml").power["chips"].blocks
    for block in placed:
        spec = next(b for b in BLOCKS if b["name"] == block.name)
        assert inside(np.array([block.x, block.y]), spec, spec["within"])


def test_the_shipped_chiplets_problem_keeps_each_block_in_a_die_and_says_how_to_build(tmp_path):
    """examples/problems/chiplets_floorplan.yaml: every 'within' is a silicon region of the
    package's power layer, the start is the package's own floorplan (no overlap), and without
    its operator the command names the command that builds it."""
    prob, base = load_problem(EXAMPLES / "problems" / "chiplets_floorplan.yaml")
    site = load_site(prob, base)
    layer = next(layer for layer in site.stack.layers if layer.power == prob.power)
    dies = {(r.x, r.y, r.width, r.height) for r in layer.regions if r.material == "silicon"}
    for block in prob.blocks:
        assert block.within is not None
        assert (block.within.x, block.within.y, block.within.width, block.within.height) in dies
    plan = Floorplan(prob, None, site)
    assert plan.penalty(plan.start()[None])[0] == 0.0
    shipped = {b.name: (b.x, b.y) for b in site.stack.power[prob.power].blocks}
    for block in plan.blocks(plan.start()):
        assert (block.x, block.y) == pytest.approx(shipped[block.name])
    moved = prob.model_copy(update={"response": str(tmp_path / "missing.npz")})
    with pytest.raises(InputError, match=r"chiptherm response .*chiplets.yaml --source chips"):
        load_response(moved, base)


def test_the_checks_cover_distinct_placements_in_order_of_prediction():
    """verify_best takes the best-predicted placements, skipping near-copies of one already
    taken, and answers the best checked one by the solver, not by the prediction."""
    from chiptherm.design import History
    from chiptherm.design.search import verify_best

    class Solved:  # a stand-in plan whose solver objective is the placement's first entry
        def solver_objective(self, u, method, x0=None):
            return float(u[0]), None

    u = np.array([[0.50, 0.5], [0.505, 0.5], [0.30, 0.5], [0.70, 0.5], [0.10, 0.5]])
    predicted = np.array([1.0, 1.1, 2.0, 3.0, 9.0])
    history = History()
    best, value = verify_best(
        Solved(), [(u[:2], predicted[:2]), (u[2:], predicted[2:])], 3, "auto", history
    )  # type: ignore[arg-type]
    assert history.timed_solves == 3  # 0.50, 0.30 and 0.70; 0.505 is a near-copy of 0.50
    assert value == 0.30 and best.tolist() == [0.30, 0.5]  # not 0.10: predicted worst, unchecked
