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
    two = stack.model_copy(update={"power": {**stack.power, "r": stack.power["p"]}})
    layers = [la.model_copy(update={"power": "r"}) if la.name == "top" else la for la in two.layers]
    with pytest.raises(UnsupportedError, match="also uses"):
        Case(two.model_copy(update={"layers": layers}), "p", (4, 4))
    hot = stack.model_copy(
        update={
            "boundaries": {
                **stack.boundaries,
                "top": stack.boundary("bottom").model_copy(update={"ambient": 350.0}),
            }
        }
    )
    with pytest.raises(UnsupportedError, match="one ambient temperature"):
        Case(hot, "p", (4, 4))
    insulated = stack.model_copy(update={"boundaries": {}})
    with pytest.raises(UnsupportedError, match="at least one convective or fixed face"):
        Case(insulated, "p", (4, 4))
