"""The nondimensional geometry of a learning case, and the stacks a case refuses."""

from __future__ import annotations

import numpy as np
import pytest

from chiptherm import Stack
from chiptherm.errors import UnsupportedError
from chiptherm.operator.case import Case

from .test_physics import slab


def layered() -> Stack:
    return slab(
        "layer",
        [
            {"name": "top", "thickness": 2e-4, "material": "a"},
            {
                "name": "src",
                "thickness": 5e-5,
                "material": "a",
                "power": "p",
                "contact_resistance": 2e-4,
            },
            {"name": "base", "thickness": 1e-4, "material": "b"},
        ],
    )


def test_resistance_coordinate_spans_layers_and_contact_gaps():
    case = Case(layered(), "p", (4, 4))
    spans = case.layers  # bottom first
    assert [sp.name for sp in spans] == ["base", "src", "top"]
    expected_total = 1e-4 / 3.0 + 5e-5 / 0.5 + 2e-4 / 0.5 + 2e-4
    assert case.s_total == pytest.approx(expected_total)
    assert spans[0].s0 == 0.0 and spans[-1].s1 == pytest.approx(1.0)
    gap = spans[1].s0 - spans[0].s1  # the contact resistance below 'src'
    assert gap * case.s_total == pytest.approx(2e-4)
    z = np.linspace(0.0, 3.5e-4, 50)
    s = case.s_hat(z)
    assert np.all(np.diff(s) > 0) and s[0] == 0.0 and s[-1] == pytest.approx(1.0)


def test_density_conversions_conserve_power():
    case = Case(layered(), "p", (5, 7))
    watts = np.random.default_rng(0).uniform(0, 1e-3, (9, 4))
    density = case.density_from_watts(watts)
    assert density.shape == (5, 7)
    assert case.watts_from_density(density).sum() == pytest.approx(watts.sum())
    assert case.stack_with(density).total_power == pytest.approx(watts.sum())


def test_cases_that_cannot_be_learned_are_refused_with_the_reason():
    stack = layered()
    with pytest.raises(UnsupportedError, match="no power source 'q'"):
        Case(stack, "q", (4, 4))
    insulated = stack.model_copy(update={"boundaries": {}})
    with pytest.raises(UnsupportedError, match="at least one convective or fixed face"):
        Case(insulated, "p", (4, 4))
    materials = dict(stack.materials)
    materials["a"] = materials["a"].model_copy(update={"temperature_exponent": -1.3})
    nonlinear = stack.model_copy(update={"materials": materials})
    with pytest.raises(
        UnsupportedError, match=r"linear in the power, and the conductivity of 'a' depend"
    ):
        Case(nonlinear, "p", (4, 4))


def with_fixed_source(watts: float = 2e-3) -> Stack:
    """The layered stack with a second, fixed source 'r' in its top layer."""
    stack = layered()
    fixed = {
        "blocks": [{"name": "f", "x": 0, "y": 0, "width": 2e-4, "height": 5e-4, "watts": watts}]
    }
    data = stack.model_dump()
    data["power"]["r"] = fixed
    data["layers"][0]["power"] = "r"
    return Stack.model_validate(data)


def test_fixed_sources_and_other_ambients_make_a_background_field():
    plain = Case(layered(), "p", (4, 4))
    assert plain.uniform_background and plain.fixed_sources == []
    case = Case(with_fixed_source(), "p", (4, 4))
    assert case.fixed_sources == ["r"] and not case.uniform_background
    grid = case.grid()
    background = case.background(grid)
    assert background.shape == grid.shape and background.max() > case.ambient + 0.1
    assert case.background(grid) is background  # solved once per grid and inputs


def test_background_between_two_ambients_is_the_1d_conduction_profile():
    """Top face at 350 K, bottom at 300 K, no power: heat flows down through the stack and T
    is linear in each layer, which the finite-volume scheme reproduces exactly."""
    stack = layered()
    top = stack.boundary("bottom").model_copy(update={"ambient": 350.0, "htc": 800.0})
    hot = stack.model_copy(update={"boundaries": {**stack.boundaries, "top": top}})
    case = Case(hot, "p", (4, 4))
    assert not case.uniform_background and case.ambient == 300.0
    grid = case.grid()
    t = case.background(grid)[:, 0, 0]  # bottom first
    resistance = 1 / 800.0 + case.s_total + 1 / 400.0  # top film, stack, bottom film
    flux = (350.0 - 300.0) / resistance
    s = case.s_hat(grid.z) * case.s_total  # thermal-resistance coordinate of each cell centre
    exact = 300.0 + flux * (1 / 400.0 + s)
    np.testing.assert_allclose(t, exact, rtol=0, atol=1e-9)
    assert np.ptp(case.background(grid), axis=(1, 2)).max() < 1e-9  # laterally uniform
