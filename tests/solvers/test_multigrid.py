"""Geometric multigrid (cg-mg): agreement with the direct solver on every kind of stack, a
Galerkin coarse operator, a symmetric cycle, and iteration counts that do not grow with the
grid or the lateral contrast."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import yaml

from chiptherm import stack_from_dict
from chiptherm.discretize.system import System
from chiptherm.formats.loading import load_stack
from chiptherm.solvers import choose_method, make_solver, solve_many, solve_system
from chiptherm.solvers.multigrid import Level, Multigrid, prolong, restrict
from chiptherm.solvers.nonlinear import solve_nonlinear
from tests.conftest import EXAMPLES


def example(name: str, nx: int, ny: int, **changes):
    data = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    data["grid"] = {"nx": nx, "ny": ny}
    data.update(changes)
    return stack_from_dict(data, base_dir=EXAMPLES)


def tsv_field(nx: int, mold_k: float = 0.8, columns: int = 4):
    """A heterogeneous layer in a thin stack: copper pillars in mold compound (conductivity
    ``mold_k``) under a heated die, cooled on top and on the east side."""
    pitch = 1e-3 / columns
    pillars = [
        {
            "material": "copper",
            "x": (i + 0.3) * pitch,
            "y": (j + 0.3) * pitch,
            "width": 0.4 * pitch,
            "height": 0.4 * pitch,
        }
        for i in range(columns)
        for j in range(columns)
    ]
    return stack_from_dict(
        {
            "name": "pillars",
            "size": [1e-3, 1e-3],
            "materials": {"mold": {"conductivity": mold_k}},
            "layers": [
                {"name": "tim", "thickness": 20e-6, "material": "tim", "cells": 2},
                {
                    "name": "die",
                    "thickness": 50e-6,
                    "material": "silicon",
                    "cells": 3,
                    "power": "p",
                },
                {
                    "name": "pillars",
                    "thickness": 30e-6,
                    "material": "mold",
                    "cells": 3,
                    "regions": pillars,
                },
                {"name": "substrate", "thickness": 200e-6, "material": "silicon", "cells": 3},
            ],
            "power": {
                "p": {
                    "blocks": [
                        {
                            "name": "hot",
                            "x": 1e-4,
                            "y": 2e-4,
                            "width": 3e-4,
                            "height": 3e-4,
                            "watts": 0.5,
                        }
                    ]
                }
            },
            "boundaries": {"top": {"htc": 2e4}, "bottom": {"htc": 500.0}, "east": {"htc": 1e3}},
            "grid": {"nx": nx, "ny": nx},
        }
    )


STACKS = {
    "regions (TSVs), convective side": lambda: tsv_field(24),
    "µbumps in underfill": lambda: example("microbump", 24, 18),
    "TSV array, example": lambda: example("tsv_array", 20, 20),
    "microchannel cavity": lambda: example("microchannel", 16, 16),
    "2.5D package of chiplets": lambda: example("chiplets", 30, 24),
    "odd sizes, anisotropic, contact resistance": lambda: stack_from_dict(
        {
            "name": "odd",
            "size": [1.3e-3, 0.7e-3],
            "materials": {"aniso": {"conductivity": [30.0, 3.0, 0.5]}},
            "layers": [
                {
                    "name": "a",
                    "thickness": 1e-4,
                    "material": "aniso",
                    "cells": 2,
                    "power": "p",
                    "contact_resistance": 2e-5,
                },
                {
                    "name": "b",
                    "thickness": 4e-5,
                    "material": "silicon",
                    "cells": 1,
                    "regions": [
                        {"material": "sio2", "x": 0, "y": 0, "width": 5e-4, "height": 7e-4}
                    ],
                },
            ],
            "power": {"p": {"map": [[1e-3, 0.0, 2e-3], [0.0, 3e-3, 0.0]]}},
            "boundaries": {"bottom": {"htc": 1e4}, "west": {"temperature": 310.0}},
            "grid": {"nx": 23, "ny": 13},
        }
    ),
}


@pytest.mark.parametrize("name", list(STACKS))
def test_cg_mg_agrees_with_the_direct_solver_and_balances_energy(name):
    system = System.from_stack(STACKS[name]())
    exact, _ = solve_system(system, "direct", tol=1e-12)
    field, info = solve_system(system, "cg-mg", tol=1e-11)
    rise = float(exact.max() - exact.min()) or 1.0
    assert np.abs(field - exact).max() <= 1e-8 * max(rise, float(np.abs(exact).max()))
    assert info.relative_residual <= 1e-11
    assert abs(system.energy_balance(field).relative_error) < 1e-9
    assert info.iterations < 40  # cg-transform takes 100-170 on such stacks


def test_a_nonlinear_stack_through_the_fixed_point_iteration():
    stack = example("hot_die", 24, 20)
    by_mg = solve_nonlinear(stack, method="cg-mg", kelvin_tol=1e-9)
    by_lu = solve_nonlinear(stack, method="direct", kelvin_tol=1e-9)
    assert np.abs(by_mg.temperature - by_lu.temperature).max() < 1e-7


def sparse_galerkin(level: Level) -> sp.csr_array:
    """PᵀAP with P the piecewise-constant 2 x 2 aggregation, as sparse matrices."""
    nz, ny, nx = level.shape
    cy, cx = (ny + 1) // 2, (nx + 1) // 2
    k, i, j = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    rows = (k * ny + i) * nx + j
    cols = (k * cy + i // 2) * cx + j // 2
    p = sp.csr_array(
        (np.ones(rows.size), (rows.ravel(), cols.ravel())), shape=(rows.size, nz * cy * cx)
    )
    a = sp.csr_array(level.matrix().astype(float))
    return (p.T @ a @ p).tocsr()


def test_the_coarse_operator_is_p_transpose_a_p_and_transfers_are_adjoint():
    system = System.from_stack(STACKS["odd sizes, anisotropic, contact resistance"]())
    fine = Level.of_system(system, single=False)
    coarse = fine.coarsened()
    assert coarse.shape == (fine.shape[0], 7, 12)
    expected = sparse_galerkin(fine).toarray()
    assert np.allclose(coarse.matrix().toarray(), expected, rtol=1e-12, atol=1e-15)
    rng = np.random.default_rng(1)
    u, v = rng.random(fine.shape), rng.random(coarse.shape)
    assert np.isclose(np.vdot(restrict(u), v), np.vdot(u, prolong(v, fine.shape)))


def test_the_cycle_is_symmetric_and_positive_so_cg_applies():
    system = System.from_stack(tsv_field(20))
    cycle = Multigrid(system)
    rng = np.random.default_rng(2)
    u, v = rng.standard_normal(system.size), rng.standard_normal(system.size)
    mu, mv = cycle.apply_inverse(u), cycle.apply_inverse(v)
    assert abs(np.vdot(mu, v) - np.vdot(u, mv)) < 1e-4 * np.sqrt(np.vdot(mu, u) * np.vdot(mv, v))
    assert np.vdot(mu, u) > 0 and np.vdot(mv, v) > 0


def iterations(stack) -> int:
    system = System.from_stack(stack)
    _, info = make_solver(system, "cg-mg").solve(system.rhs, tol=1e-8)
    return info.iterations


def test_iterations_do_not_grow_with_the_grid():
    counts = [iterations(tsv_field(nx)) for nx in (16, 32, 64)]
    assert max(counts) <= 1.25 * min(counts) + 1, counts


def test_iterations_do_not_grow_with_the_lateral_contrast():
    # copper pillars (400 W/(m·K)) in a medium of 400 down to 0.4: contrast 1 to 1000
    counts = [iterations(tsv_field(32, mold_k=k)) for k in (400.0, 4.0, 0.4)]
    assert max(counts) <= 1.25 * min(counts) + 1, counts


def test_auto_takes_multigrid_for_a_large_heterogeneous_stack():
    system = System.from_stack(tsv_field(48))
    assert system.size > 20_000 and system.lateral_structure is None
    assert choose_method(system) == "cg-mg"


def test_a_warm_start_at_the_answer_needs_no_iteration():
    system = System.from_stack(load_stack(EXAMPLES / "microbump.yaml").with_grid(24, 18))
    solver = make_solver(system, "cg-mg")
    field, _ = solver.solve(system.rhs, tol=1e-10)
    _, again = solver.solve(system.rhs, x0=field, tol=1e-9)
    assert again.iterations <= 1


def test_a_batch_solved_together_equals_each_solved_alone():
    stack = tsv_field(32)
    system = System.from_stack(stack)
    rng = np.random.default_rng(3)
    powers = 1e-3 * rng.random((5, *system.shape)) * (system.q > 0)  # five maps, same cells
    powers[2] = 0.0  # a map without power: the faces' ambient is the answer
    rhs = np.stack([system.rhs_for(q) for q in powers])
    solver = make_solver(system, "cg-mg")
    together, infos = solve_many(solver, rhs, tol=1e-10)
    for i in range(len(rhs)):
        alone, info = solver.solve(rhs[i], tol=1e-10)
        assert np.abs(together[i] - alone.reshape(system.shape)).max() < 1e-9 * together.max()
        assert infos[i].relative_residual <= 1e-10
        assert abs(infos[i].iterations - info.iterations) <= 2  # same CG, step for step
    # and the direct solver, which has no batched path, gives the same batch one by one
    exact, _ = solve_many(make_solver(system, "direct"), rhs)
    assert np.abs(exact - together).max() < 1e-9 * together.max()


def test_auto_says_why_it_chose_its_method():
    from chiptherm import solve

    reasons = {
        "large, heterogeneous": solve(tsv_field(48)).info.reason,
        "small": solve(tsv_field(8)).info.reason,
        "uniform": solve(load_stack(EXAMPLES / "two_die.yaml").with_grid(16, 16)).info.reason,
    }
    assert "multigrid" in reasons["large, heterogeneous"]
    assert "sparse LU" in reasons["small"]
    assert "uniform" in reasons["uniform"]


def test_the_chiplets_example_is_a_heterogeneous_package_of_a_million_cells():
    stack = load_stack(EXAMPLES / "chiplets.yaml")
    system_cells = stack.grid.nx * stack.grid.ny * sum(layer.cells for layer in stack.layers)
    assert 0.9e6 <= system_cells <= 1.2e6
    dies = {(r.width, r.height) for r in stack.layers[stack.layer_index("dies")].regions}
    assert len(dies) == 2  # two dies of different footprints in the mold
    mixed = [layer.name for layer in stack.layers if layer.regions]
    assert {"dies", "ubumps", "interposer"} <= set(mixed)
    assert stack.boundary("top").htc and stack.boundary("bottom").htc
