"""Die placement on a 2.5D package: a die carries its regions and blocks and nothing else,
overlapping dies are penalized, the solver search and the coarse-grid hybrid both cool the
package, and problems that cannot be placed are refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from chiptherm import load_stack
from chiptherm.cli import app
from chiptherm.design import Problem, load_site, optimize
from chiptherm.design.dies import DiePlan
from chiptherm.errors import InputError
from chiptherm.solvers.result import solve

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
COMPUTE = {"name": "compute", "x": 0.002, "y": 0.003, "width": 0.010, "height": 0.010}
MEMORY = {"name": "memory", "x": 0.0135, "y": 0.005, "width": 0.005, "height": 0.006}
INTERPOSER = {"x": 0.001, "y": 0.001, "width": 0.018, "height": 0.014}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """``examples/chiplets.yaml`` on a 40 x 32 grid (stack.yaml)."""
    base = tmp_path_factory.mktemp("dies")
    data = load_stack(EXAMPLES / "chiplets.yaml").model_dump(mode="json")
    data["grid"] = {"nx": 40, "ny": 32}
    (base / "stack.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return base


def problem(folder: Path, **search) -> Problem:
    dies = [{**COMPUTE, "within": INTERPOSER}, {**MEMORY, "within": INTERPOSER}]
    return Problem.model_validate(
        {
            "stack": "stack.yaml",
            "power": "chips",
            "dies": dies,
            "search": {"steps": 60, "population": 10, "sigma": 0.2, "verify": 4, **search},
        }
    )


def test_a_die_carries_its_regions_and_blocks_and_nothing_else(folder):
    prob = problem(folder)
    plan = DiePlan(prob, load_site(prob, folder))
    base = plan.site.stack
    np.testing.assert_allclose(plan.corners(plan.start())[0], [[0.002, 0.003], [0.0135, 0.005]])
    u = plan.start().copy()
    u[2:] = [0.0, 0.0]  # the memory die to the interposer's south-west corner
    dx, dy = 0.001 - MEMORY["x"], 0.001 - MEMORY["y"]
    placed = plan.stack(u)
    for before, after in zip(base.layers, placed.layers, strict=True):
        for r0, r1 in zip(before.regions, after.regions, strict=True):
            on_memory = (r0.x, r0.y, r0.width, r0.height) == pytest.approx(
                (MEMORY["x"], MEMORY["y"], MEMORY["width"], MEMORY["height"])
            )
            shift = (dx, dy) if on_memory else (0.0, 0.0)
            assert (r1.x - r0.x, r1.y - r0.y) == pytest.approx(shift, abs=1e-12)
    moved = {b.name: b for b in placed.power["chips"].blocks}
    for b in base.power["chips"].blocks:
        shift = (dx, dy) if b.name == "hbm" else (0.0, 0.0)
        assert (moved[b.name].x - b.x, moved[b.name].y - b.y) == pytest.approx(shift, abs=1e-12)
    # the solve of the placed stack is the plan's field, and energy is conserved
    field, _ = plan.solve(u, "auto")
    reference = solve(placed)
    np.testing.assert_allclose(field, reference.temperature, atol=1e-6)
    assert reference.balance.relative_error < 1e-8


def test_a_die_carries_the_tsv_fields_under_it_where_asked(folder):
    """With ``carries: [interposer]`` the compute die's two TSV fields move with it; the
    memory die's field stays; without it all three stay."""
    prob = problem(folder)
    compute = prob.dies[0].model_copy(update={"carries": ["interposer"]})
    carrying = prob.model_copy(update={"dies": [compute, prob.dies[1]]})
    u = np.array([0.0, 0.0, 1.0, 1.0])
    for plan, moving in (
        (DiePlan(carrying, load_site(carrying, folder)), 2),
        (DiePlan(prob, load_site(prob, folder)), 0),
    ):
        before = plan.site.stack.layers[plan.site.stack.layer_index("interposer")].regions
        after = plan.stack(u).layers[plan.site.stack.layer_index("interposer")].regions
        shifts = [(b.x - a.x, b.y - a.y) for a, b in zip(before, after, strict=True)]
        dx, dy = 0.001 - COMPUTE["x"], 0.001 - COMPUTE["y"]
        assert sum(s == pytest.approx((dx, dy)) for s in shifts) == moving
        assert sum(s == (0.0, 0.0) for s in shifts) == 3 - moving
    wrong = prob.dies[0].model_copy(update={"carries": ["interposr"]})
    bad = prob.model_copy(update={"dies": [wrong]})
    with pytest.raises(InputError, match=r"carries 'interposr', but stack .* has layers lid"):
        DiePlan(bad, load_site(bad, folder))


def test_overlapping_dies_are_penalized(folder):
    prob = problem(folder)
    plan = DiePlan(prob, load_site(prob, folder))
    assert plan.penalty(plan.start()[None])[0] == 0.0
    u = plan.start().copy()
    u[2:] = u[:2]  # the memory die onto the compute die's corner
    assert plan.penalty(u[None])[0] > 1000.0


def test_solver_and_coarse_hybrid_searches_cool_the_package(folder):
    """Both searches lower the peak from the stack file's placement; the hybrid ranks on a
    4x coarser grid and solves the package's own grid only for its checks and the answer,
    which it verifies (its objective is the verified peak)."""
    prob = problem(folder)
    site = load_site(prob, folder)
    solver = optimize(prob, None, "solver", site=site)
    hybrid = optimize(prob, None, "hybrid", site=site)
    assert solver.history.solver_calls == 61
    assert hybrid.history.solver_calls == 4 + 1  # the checks and the final verification
    for outcome in (solver, hybrid):
        assert outcome.verified_peak_k < outcome.initial_peak_k - 0.5
        assert outcome.overlap_k == 0.0
        assert outcome.objective_k == pytest.approx(outcome.verified_peak_k, abs=1e-6)
    gain = hybrid.initial_peak_k - hybrid.verified_peak_k
    assert gain >= 0.8 * (solver.initial_peak_k - solver.verified_peak_k)


def test_die_problems_that_cannot_be_placed_are_refused(folder):
    shifted = problem(folder).model_copy(
        update={"dies": [problem(folder).dies[0].model_copy(update={"x": 0.0025})]}
    )
    with pytest.raises(InputError, match=r"die 'compute': no region of stack .* footprint"):
        DiePlan(shifted, load_site(shifted, folder))
    with pytest.raises(ValueError, match="'dies' go with 'stack'"):
        Problem.model_validate({"model": "surface", "dies": [COMPUTE]})
    with pytest.raises(ValueError, match=r"places 'dies' .* or 'blocks', not both"):
        Problem.model_validate(
            {
                "stack": "s.yaml",
                "power": "p",
                "dies": [COMPUTE],
                "blocks": [{"name": "a", "width": 1e-3, "height": 1e-3, "watts": 1.0}],
            }
        )
    descending = problem(folder, descent=5)
    with pytest.raises(InputError, match="it does not move dies"):
        optimize(descending, None, "solver", site=load_site(descending, folder))
    off_chip = {**INTERPOSER, "x": 0.005}
    outside = Problem.model_validate(
        {"stack": "stack.yaml", "power": "chips", "dies": [{**COMPUTE, "within": off_chip}]}
    )
    with pytest.raises(
        InputError, match=r"die 'compute': its 'within' area .* sticks out of the chip"
    ):
        DiePlan(outside, load_site(outside, folder))
    with pytest.raises(ValueError, match="at least one die must be movable"):
        Problem.model_validate(
            {"stack": "s.yaml", "power": "p", "dies": [{**COMPUTE, "fixed": True}]}
        )
    with pytest.raises(ValueError, match="die names must be unique"):
        Problem.model_validate({"stack": "s.yaml", "power": "p", "dies": [COMPUTE, COMPUTE]})
    small = {**INTERPOSER, "width": 0.004}
    tight = Problem.model_validate(
        {"stack": "stack.yaml", "power": "chips", "dies": [{**COMPUTE, "within": small}]}
    )
    with pytest.raises(InputError, match="die 'compute' is larger than its 'within' area"):
        DiePlan(tight, load_site(tight, folder))


def test_optimize_command_places_dies(folder):
    path = folder / "dies.yaml"
    data = problem(folder, steps=20).model_dump(mode="json", exclude_defaults=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    res = CliRunner().invoke(app, ["optimize", str(path), "--out", str(folder / "out")])
    assert res.exit_code == 0, res.output
    assert "hybrid search" in res.output and "coarser grid" in res.output
    summary = json.loads((folder / "out" / "summary.json").read_text())
    dies = {d["name"]: (d["x"], d["y"]) for d in summary["dies"]}
    assert set(dies) == {"compute", "memory"}
    placed = load_stack(folder / "out" / "placement.yaml")
    layer = next(layer for layer in placed.layers if layer.power == "chips")
    corners = sorted((r.x, r.y) for r in layer.regions)
    assert corners != sorted([(COMPUTE["x"], COMPUTE["y"]), (MEMORY["x"], MEMORY["y"])])
    np.testing.assert_allclose(corners, sorted(dies.values()), atol=1e-12)  # as the summary says
