"""The nonlinear terms behind one interface: which a stack has, what freezing them changes,
and that a converged solve is their fixed point."""

from __future__ import annotations

import numpy as np

from chiptherm import stack_from_dict
from chiptherm.discretize.grid import Grid
from chiptherm.discretize.system import System
from chiptherm.solvers.nonlinear import solve_nonlinear
from chiptherm.solvers.terms import (
    ConductivityAtTemperature,
    CoolantWarming,
    LeakagePower,
    changes_matrix,
    coolants_of,
    freeze,
    nonlinear_terms,
)


def die(exponent: float = 0.0, leakage: bool = False, coolant: bool = False):
    """A 2 x 1 mm die on a cooled face: optionally k(T) silicon, a leaky source, a coolant."""
    source: dict = {
        "blocks": [{"name": "hot", "x": 2e-4, "y": 2e-4, "width": 6e-4, "height": 4e-4, "watts": 1}]
    }
    if leakage:
        source["leakage"] = {"fraction": 0.2, "coefficient": 0.02}
    bottom: dict = {"htc": 1e5}
    if coolant:
        bottom["coolant"] = {"inlet_temperature": 300.0, "flow_rate": 2e-5, "direction": "+x"}
    return stack_from_dict(
        {
            "name": "die",
            "size": [2e-3, 1e-3],
            "materials": {"si": {"conductivity": 148.0, "temperature_exponent": exponent}},
            "layers": [
                {"name": "top", "thickness": 2e-4, "material": "si", "cells": 2, "power": "p"},
                {"name": "base", "thickness": 3e-4, "material": "copper", "cells": 2},
            ],
            "power": {"p": source},
            "boundaries": {"bottom": bottom},
            "grid": {"nx": 10, "ny": 6},
        }
    )


def test_a_linear_stack_has_no_terms_and_freezing_changes_nothing():
    stack = die()
    grid = Grid.from_stack(stack)
    assert nonlinear_terms(stack, grid) == []
    system = System.from_stack(stack, grid)
    assert freeze(system, [], np.full(grid.shape, 350.0)) is system


def test_each_physics_is_one_term_in_order_and_only_k_of_t_changes_the_matrix():
    stack = die(exponent=-1.3, leakage=True, coolant=True)
    grid = Grid.from_stack(stack)
    terms = nonlinear_terms(stack, grid)
    kinds = [type(t) for t in terms]
    assert kinds == [ConductivityAtTemperature, CoolantWarming, LeakagePower]
    assert changes_matrix(terms)
    assert not changes_matrix(terms[1:])
    system = System.from_stack(stack, grid)
    hot = np.full(grid.shape, 380.0)
    frozen = terms[0].freeze(system, hot)  # silicon at 380 K conducts less (n < 0)
    assert frozen.gz.sum() < system.gz.sum()
    leaked = terms[2].freeze(system, hot)
    assert np.allclose(leaked.gx, system.gx)  # leakage leaves the matrix alone
    assert leaked.q.sum() > system.q.sum()
    # freezing twice at one field is freezing once: the leakage replaces, never accumulates
    assert np.array_equal(terms[2].freeze(leaked, hot).q, leaked.q)


def test_a_converged_solve_is_the_fixed_point_of_its_frozen_terms():
    stack = die(exponent=-1.3, leakage=True, coolant=True)
    grid = Grid.from_stack(stack)
    solution = solve_nonlinear(stack, grid, kelvin_tol=1e-9)
    # the coolant term starts from the coolant temperatures the solve ended with
    terms = nonlinear_terms(stack, grid, coolants_of(stack, solution.system))
    frozen = freeze(System.from_stack(stack, grid), terms, solution.temperature)
    assert frozen.relative_residual(solution.temperature) < 1e-8
    # and off the fixed point the frozen system is not satisfied
    assert frozen.relative_residual(solution.temperature + 1.0) > 1e-4
    balance = frozen.energy_balance(solution.temperature)
    assert abs(balance.relative_error) < 1e-8
