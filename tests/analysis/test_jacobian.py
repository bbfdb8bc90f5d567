"""The Jacobian of the full nonlinear equations (k(T), leakage, coolants on faces and in
cavities) and the adjoint sensitivities it gives."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from chiptherm import stack_from_dict
from chiptherm.analysis.jacobian import Jacobian, coolant_blocks, residual
from chiptherm.analysis.parameters import stack_parameters
from chiptherm.analysis.sensitivity import sensitivity
from chiptherm.description.stack import Stack
from chiptherm.discretize.grid import Grid
from chiptherm.discretize.system import System
from chiptherm.solvers.nonlinear import solve_nonlinear
from chiptherm.solvers.terms import coolants_of


def everything(nx: int = 10, ny: int = 6, flow: float = 0.002) -> dict:
    """A die that leaks, under a cavity of channels and over a temperature-dependent lid
    cooled by water warming westwards along its top face: every nonlinearity and both kinds
    of coolant at once, on a small grid."""
    blocks = [
        {"name": "core", "x": 0.001, "y": 0.001, "width": 0.003, "height": 0.002, "watts": 30},
        {"name": "cache", "x": 0.006, "y": 0.002, "width": 0.003, "height": 0.003, "watts": 8},
    ]
    return {
        "name": "everything",
        "size": [0.01, 0.006],
        "ambient": 310.0,
        "materials": {
            "hot_si": {"conductivity": 148, "temperature_exponent": -1.3},
            "lid_cu": {"conductivity": [380, 380, 300], "temperature_exponent": -0.4},
        },
        "layers": [
            {"name": "lid", "thickness": 5e-4, "material": "lid_cu", "cells": 2},
            {"name": "tim", "thickness": 3e-5, "material": "tim"},
            {"name": "die", "thickness": 2e-4, "material": "hot_si", "cells": 2, "power": "p"},
            {
                "name": "cavity",
                "thickness": 2e-4,
                "material": "silicon",
                "cells": 3,
                "htc": 4e4,
                "porosity": 0.5,
                "coolant": {"inlet_temperature": 305, "flow_rate": flow, "direction": "+y"},
            },
            {"name": "base", "thickness": 3e-4, "material": "hot_si"},
        ],
        "power": {"p": {"blocks": blocks, "leakage": {"fraction": 0.3, "coefficient": 0.01}}},
        "boundaries": {
            "top": {
                "htc": 2e4,
                "coolant": {"inlet_temperature": 300, "flow_rate": 0.003, "direction": "-x"},
            },
            "bottom": {"htc": 200},
        },
        "grid": {"nx": nx, "ny": ny},
    }


def converged(stack: Stack) -> tuple[Grid, np.ndarray, dict]:
    grid = Grid.from_stack(stack)
    solution = solve_nonlinear(stack, grid, kelvin_tol=1e-11)
    return grid, solution.temperature, coolants_of(stack, solution.system)


def unknowns(stack: Stack, grid: Grid, field: np.ndarray, coolants: dict) -> np.ndarray:
    blocks = coolant_blocks(stack, System.from_stack(stack, grid))
    return np.concatenate([field.ravel()] + [coolants[b.key].ravel() for b in blocks])


def split(stack: Stack, grid: Grid, u: np.ndarray) -> tuple[np.ndarray, dict]:
    n = int(np.prod(grid.shape))
    blocks = coolant_blocks(stack, System.from_stack(stack, grid))
    plane = grid.shape[1] * grid.shape[2]
    coolants = {b.key: u[b.offset : b.offset + plane].reshape(grid.shape[1:]) for b in blocks}
    return u[:n].reshape(grid.shape), coolants


def test_the_converged_state_satisfies_every_equation() -> None:
    stack = stack_from_dict(everything())
    grid, field, coolants = converged(stack)
    r = residual(stack, grid, field, coolants)
    n = field.size
    assert r.size == n + 2 * grid.shape[1] * grid.shape[2]
    assert np.abs(r[:n]).max() < 1e-8 * 38.0  # W, against 38 W of power
    assert np.abs(r[n:]).max() < 1e-9  # K


def test_jacobian_times_a_vector_is_the_derivative_of_the_residual() -> None:
    """J·v against central differences of R along a random direction v of the field and
    both coolants' temperatures."""
    stack = stack_from_dict(everything())
    grid, field, coolants = converged(stack)
    jacobian = Jacobian.at(stack, grid, field, coolants)
    u = unknowns(stack, grid, field, coolants)
    v = np.random.default_rng(3).standard_normal(u.size)
    step = 1e-3

    def r(x: np.ndarray) -> np.ndarray:
        return residual(stack, grid, *split(stack, grid, x))

    expected = -(r(u + step * v) - r(u - step * v)) / (2 * step)
    got = jacobian.matrix @ v
    n = field.size
    for part in (slice(0, n), slice(n, None)):  # cell rows (W/K), coolant rows (1)
        error = np.linalg.norm(got[part] - expected[part]) / np.linalg.norm(expected[part])
        assert error < 1e-7


def test_for_a_linear_stack_the_jacobian_is_the_conduction_matrix() -> None:
    data = everything()
    data["materials"] = {}
    for layer in data["layers"]:
        layer.pop("coolant", None)
        if layer["name"] == "cavity":
            layer.pop("htc"), layer.pop("porosity")
        layer["material"] = "silicon" if layer["material"] != "tim" else "tim"
    del data["power"]["p"]["leakage"]
    del data["boundaries"]["top"]["coolant"]
    stack = stack_from_dict(data)
    system = System.from_stack(stack)
    field = np.full(system.shape, 340.0)
    jacobian = Jacobian.at(stack, system.grid, field, {})  # type: ignore[arg-type]
    difference = abs(jacobian.matrix - system.matrix).max()
    assert difference < 1e-7 * abs(system.matrix).max()


@pytest.mark.parametrize("objective", ["peak", "mean:die", "block:cache"])
def test_adjoint_sensitivities_agree_with_full_solves(objective: str) -> None:
    """Every parameter, and every block move, by the adjoint of the full equations (two
    solves) against central differences of full solves (two per parameter)."""
    stack = stack_from_dict(everything())
    adjoint = sensitivity(stack, objective, method="adjoint")
    solves = sensitivity(stack, objective, method="solves")
    assert adjoint.method == "adjoint" and adjoint.solves <= 3
    assert solves.solves > 2 * len(stack_parameters(stack))
    assert adjoint.value_k == pytest.approx(solves.value_k, abs=1e-7)
    scale = max(abs(e.per_log) for e in adjoint.entries)
    for entry in adjoint.entries:  # central differences of solves at 1 %: O(1e-4)
        other = solves.of(entry.parameter.key).per_log
        assert entry.per_log == pytest.approx(other, abs=5e-4 * scale), entry.parameter.key
    moves = {m.label: m for m in solves.moves}
    fastest = max(m.k_per_mm for m in adjoint.moves)
    for move in adjoint.moves:
        assert move.dx == pytest.approx(moves[move.label].dx, abs=2e-3 * fastest * 1e3)
        assert move.dy == pytest.approx(moves[move.label].dy, abs=2e-3 * fastest * 1e3)


def test_krylov_adjoint_solve_matches_the_direct_one() -> None:
    """Above the direct limit the adjoint is GMRES with the assembled system's transform
    and the coolant block as preconditioner; it meets the direct solution."""
    stack = stack_from_dict(everything(nx=48, ny=48))
    grid, field, coolants = converged(stack)
    jacobian = Jacobian.at(stack, grid, field, coolants)
    assert jacobian.size > 20_000
    weights = np.zeros(grid.shape)
    weights[4:6] = 1.0 / weights[4:6].size  # the die's mean
    got = jacobian.solve_transpose(weights, tol=1e-11)
    rhs = np.concatenate([weights.ravel(), np.zeros(jacobian.size - weights.size)])
    exact = spla.spsolve(jacobian.matrix.T.tocsc(), rhs)
    assert np.abs(got - exact).max() < 1e-8 * np.abs(exact).max()
