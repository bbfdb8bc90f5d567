"""Faces whose heat-transfer coefficient varies over the face (htc_map)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chiptherm import solve, stack_from_dict
from chiptherm.description.stack_io import save_stack
from chiptherm.discretize.system import System
from chiptherm.errors import StackError, UnsupportedError
from chiptherm.formats.loading import load_stack

K, L, SIDE, WATTS, AMBIENT = 2.0, 1e-3, 2e-3, 0.5, 300.0


def halves(bottom: dict, lateral_k: float = 1e-6) -> dict:
    """A slab heated evenly through its volume by two blocks (west and east halves), top
    adiabatic, the lateral conductivity ``lateral_k`` (tiny: the halves do not talk)."""
    half = {"y": 0.0, "width": SIDE / 2, "height": SIDE, "watts": WATTS / 2}
    return {
        "name": "halves",
        "size": [SIDE, SIDE],
        "ambient": AMBIENT,
        "materials": {"m": {"conductivity": [lateral_k, lateral_k, K]}},
        "layers": [{"name": "body", "thickness": L, "material": "m", "cells": 100, "power": "p"}],
        "power": {
            "p": {
                "blocks": [
                    {"name": "west", "x": 0.0, **half},
                    {"name": "east", "x": SIDE / 2, **half},
                ]
            }
        },
        "boundaries": {"bottom": bottom},
        "grid": {"nx": 8, "ny": 4},
    }


def test_a_uniform_map_is_the_uniform_coefficient():
    plain = solve(stack_from_dict(halves({"htc": 800.0}, lateral_k=K)))
    mapped = solve(stack_from_dict(halves({"htc_map": [[800.0, 800.0, 800.0]]}, lateral_k=K)))
    assert np.abs(mapped.temperature - plain.temperature).max() < 1e-10


def test_each_half_follows_its_own_film_coefficient():
    h_west, h_east = 500.0, 4000.0
    result = solve(stack_from_dict(halves({"htc_map": [[h_west, h_east]]})))
    area = SIDE * SIDE / 2
    for block, h in zip(result.block_stats, (h_west, h_east), strict=True):
        # mean of a half: ambient + P/(h A) through its film + P L/(3 k A) through the slab
        expected = AMBIENT + (WATTS / 2) / (h * area) + (WATTS / 2) * L / (3 * K * area)
        assert block.stats.mean == pytest.approx(expected, rel=1e-4)
    assert result.balance.relative_error < 1e-9


def test_zero_coefficients_make_parts_of_the_face_adiabatic_and_maps_are_averaged():
    stack = stack_from_dict(halves({"htc_map": [[0.0, 1000.0, 3000.0, 0.0]]}, lateral_k=K))
    link = System.from_stack(stack).faces["bottom"]
    columns = link.conductance[0]  # 8 cells across x: two per map column
    assert (columns[:2] == 0).all() and (columns[-2:] == 0).all()
    assert columns[3] == pytest.approx(columns[2]) and columns[4] > columns[3]
    result = solve(stack)
    assert result.balance.by_face["bottom"] == pytest.approx(WATTS, rel=1e-9)


@pytest.mark.parametrize(
    ("bottom", "message"),
    [
        ({"htc": 10.0, "htc_map": [[1.0]]}, "either 'htc' .* or 'htc_map'"),
        ({"htc_map": [[1.0, -1.0]]}, "at least 0"),
        ({"htc_map": [[0.0, 0.0]]}, "some above 0"),
        ({"htc_map": [1.0, 2.0]}, r"2-D array \(ny, nx\)"),
        ({"htc_map": "missing.npy"}, "htc map file .*missing.npy.* does not exist"),
        ({"htc_map": [[5.0]], "temperature": 300.0}, "not both"),
    ],
)
def test_bad_maps_are_refused_with_the_reason(bottom, message):
    with pytest.raises(StackError, match=message):
        stack_from_dict(halves(bottom))


def test_maps_belong_on_the_top_and_bottom_faces_and_survive_a_save(tmp_path: Path):
    data = halves({"htc_map": [[500.0, 4000.0]]})
    data["boundaries"]["east"] = {"htc_map": [[1.0]]}
    with pytest.raises(StackError, match=r"boundaries.east.htc_map: 'htc_map' is supported on"):
        stack_from_dict(data)
    stack = stack_from_dict(halves({"htc_map": [[500.0, 4000.0]]}))
    path = save_stack(stack, tmp_path / "halves.yaml")
    assert (tmp_path / "halves_bottom_htc.npy").exists()
    again = load_stack(path)
    assert np.array_equal(again.boundary("bottom").htc_map, [[500.0, 4000.0]])
    assert solve(again).max_temperature == pytest.approx(solve(stack).max_temperature)


def test_operator_cases_refuse_maps():
    from chiptherm.operator.case import Case

    with pytest.raises(UnsupportedError, match=r"uniform face coefficients.*bottom"):
        Case(stack_from_dict(halves({"htc_map": [[500.0, 4000.0]]})), "p", (4, 4))
