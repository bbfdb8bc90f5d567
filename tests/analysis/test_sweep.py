"""Stack-file overrides (--set) and solver sweeps (--vary)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from chiptherm.analysis.sweep import sweep_stack
from chiptherm.cli import app
from chiptherm.description.overrides import (
    apply_override,
    parse_assignment,
    parse_value,
    sweep_values,
)
from chiptherm.errors import InputError, StackError
from chiptherm.formats.loading import load_stack

K, L, SIDE, WATTS, AMBIENT = 2.0, 1e-3, 2e-3, 0.5, 300.0


@pytest.fixture
def slab_file(tmp_path: Path) -> Path:
    """A slab heated evenly through its volume, cooled from below, adiabatic above."""
    data = {
        "name": "slab",
        "size": [SIDE, SIDE],
        "ambient": AMBIENT,
        "materials": {"m": {"conductivity": K}},
        "layers": [{"name": "body", "thickness": L, "material": "m", "cells": 200, "power": "p"}],
        "power": {
            "p": {
                "blocks": [
                    {"name": "all", "x": 0, "y": 0, "width": SIDE, "height": SIDE, "watts": WATTS}
                ]
            }
        },
        "boundaries": {"bottom": {"htc": 1000.0}},
        "grid": {"nx": 2, "ny": 2},
    }
    path = tmp_path / "slab.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_values_parse_as_numbers_first_then_yaml():
    assert parse_value("5e4") == 50000.0 and isinstance(parse_value("3"), int)
    assert parse_value("[5.5, 5.5, 113]") == [5.5, 5.5, 113]
    assert parse_value("adiabatic") == "adiabatic"
    assert parse_assignment(" boundaries.top.htc = 1e3 ") == ("boundaries.top.htc", 1000.0)
    with pytest.raises(InputError, match="expected KEY=VALUE"):
        parse_assignment("boundaries.top.htc")


def test_keys_reach_named_list_items_and_create_faces_but_not_typos():
    data = {
        "layers": [{"name": "a", "thickness": 1.0}, {"name": "b", "thickness": 2.0}],
        "boundaries": {"bottom": "adiabatic"},
        "power": {"p": {"blocks": [{"name": "x", "watts": 1.0}]}},
    }
    apply_override(data, "layers.b.thickness", 5.0)
    apply_override(data, "layers.0.cells", 4)
    apply_override(data, "boundaries.top.htc", 100.0)
    apply_override(data, "boundaries.bottom.htc", 10.0)  # 'adiabatic' becomes a mapping
    apply_override(data, "power.p.blocks.x.watts", 2.0)
    assert data["layers"] == [
        {"name": "a", "thickness": 1.0, "cells": 4},
        {"name": "b", "thickness": 5.0},
    ]
    assert data["boundaries"] == {"bottom": {"htc": 10.0}, "top": {"htc": 100.0}}
    assert data["power"]["p"]["blocks"][0]["watts"] == 2.0
    with pytest.raises(InputError, match="layers has no item 'c'; expected one of a, b"):
        apply_override(data, "layers.c.thickness", 1.0)
    with pytest.raises(InputError, match="power has no key 'q'; it has p"):
        apply_override(data, "power.q.blocks.0.watts", 1.0)
    with pytest.raises(InputError, match=r"layers\.a\.thickness is the value 1\.0"):
        apply_override(data, "layers.a.thickness.x", 1.0)


def test_a_bad_override_is_named_with_the_file(slab_file: Path):
    with pytest.raises(StackError, match=r"with layers\.body\.thickness=-1\).*greater than 0"):
        load_stack(slab_file, [("layers.body.thickness", -1)])


def test_sweep_values_lists_ranges_and_log_ranges():
    assert sweep_values("1,2,4") == [1.0, 2.0, 4.0]
    assert sweep_values("0:1:3") == [0.0, 0.5, 1.0]
    assert sweep_values("10:1000:3:log") == pytest.approx([10.0, 100.0, 1000.0])
    for bad in ("1:2", "0:10:3:log", "1:2:1", "a,b", "1:2:3:lin"):
        with pytest.raises(InputError, match="expected values"):
            sweep_values(bad)


def test_a_cooling_sweep_follows_the_analytic_slab(slab_file: Path):
    # mean of the slab: ambient + P/(h A) through the film + P L/(3 k A) through the slab
    values = [100.0, 1000.0, 10000.0]
    study = sweep_stack(slab_file, [("boundaries.bottom.htc", values)])
    for h, point in zip(values, study.points, strict=True):
        film = WATTS / (h * SIDE**2)
        slab = WATTS * L / (3 * K * SIDE**2)
        assert point.block_mean_k["all"] - AMBIENT == pytest.approx(film + slab, rel=1e-4)
        assert point.peak_k > point.mean_k
    assert [p.warm_start for p in study.points] == [False, True, True]
    # changing the number of cells changes the grid: no warm start from the previous field
    cells = sweep_stack(slab_file, [("layers.body.cells", [50, 100])])
    assert [p.warm_start for p in cells.points] == [False, False]
    exact = AMBIENT + WATTS / (1000.0 * SIDE**2) + WATTS * L / (3 * K * SIDE**2)
    coarse, fine = (abs(p.mean_k - exact) for p in cells.points)
    assert coarse / fine == pytest.approx(4.0, abs=0.1)  # second order in the cell height


def test_sweep_command_writes_table_files_and_plot(slab_file: Path, tmp_path: Path):
    out = tmp_path / "out"
    args = ["sweep", str(slab_file), "--vary", "boundaries.bottom.htc=100:10000:3:log"]
    res = CliRunner().invoke(app, [*args, "--set", "layers.body.cells=100", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "sweep of boundaries.bottom.htc" in res.output
    doc = json.loads((out / "sweep.json").read_text())
    peaks = [p["peak_k"] for p in doc["points"]]
    assert peaks == sorted(peaks, reverse=True)  # more cooling, cooler
    header = (out / "sweep.csv").read_text().splitlines()[0]
    assert header == "boundaries.bottom.htc,peak_k,mean_k,max body,mean all,error"
    assert (out / "sweep.png").stat().st_size > 5000
    assert np.isclose(doc["points"][0]["values"]["boundaries.bottom.htc"], 100.0)
    bad = CliRunner().invoke(app, ["sweep", str(slab_file), "--vary", "layers.nope.cells=1,2"])
    assert bad.exit_code == 1 and "layers has no item 'nope'" in bad.output
    assert "Traceback" not in bad.output
    solved = CliRunner().invoke(
        app, ["solve", str(slab_file), "--set", "boundaries.bottom.htc=5e4", "--json", "--no-files"]
    )
    cooler = json.loads(solved.stdout)["max_temperature"]
    assert cooler < peaks[-1]


def test_two_keys_sweep_every_combination(slab_file: Path, tmp_path: Path):
    axes = [
        ("boundaries.bottom.htc", [500.0, 5000.0]),
        ("power.p.blocks.all.watts", [0.1, 0.2, 0.4]),
    ]
    study = sweep_stack(slab_file, axes)
    assert [tuple(p.values.values()) for p in study.points][:4] == [
        (500.0, 0.1),
        (500.0, 0.2),
        (500.0, 0.4),
        (5000.0, 0.1),
    ]
    peaks = study.peak_grid()
    assert peaks.shape == (2, 3)
    # linear in the power: the rise doubles with the power at either film coefficient
    rise = peaks - AMBIENT
    assert rise[:, 1] == pytest.approx(2 * rise[:, 0]) and rise[:, 2] == pytest.approx(
        4 * rise[:, 0]
    )
    assert (peaks[0] > peaks[1]).all()  # more cooling, cooler
    out = tmp_path / "two"
    args = ["sweep", str(slab_file), "--out", str(out), "--vary", "boundaries.bottom.htc=500,5000"]
    res = CliRunner().invoke(app, [*args, "--vary", "power.p.blocks.all.watts=0.1:0.4:3"])
    assert res.exit_code == 0, res.output
    assert (out / "sweep.png").stat().st_size > 5000
    assert len(json.loads((out / "sweep.json").read_text())["points"]) == 6
    again = CliRunner().invoke(app, [*args, "--vary", "boundaries.bottom.htc=1,2"])
    assert again.exit_code == 1 and "each key may be swept once" in again.output


LEAKY = {
    "name": "leaky",
    "size": [0.01, 0.01],
    "ambient": 300.0,
    "layers": [{"name": "die", "thickness": 1e-4, "material": "copper", "power": "p"}],
    "power": {
        "p": {
            "blocks": [
                {"name": "all", "x": 0, "y": 0, "width": 0.01, "height": 0.01, "watts": 10.0}
            ],
            "leakage": {"fraction": 0.2, "coefficient": 0.02},
        }
    },
    "boundaries": {"bottom": {"htc": 5000.0}},
    "grid": {"nx": 1, "ny": 1},
}
"""A copper plate whose leakage runs away when its fraction is large."""


def test_a_point_that_runs_away_is_recorded_and_the_sweep_goes_on(tmp_path: Path):
    path = tmp_path / "leaky.yaml"
    path.write_text(yaml.safe_dump(LEAKY, sort_keys=False))
    study = sweep_stack(path, [("power.p.leakage.fraction", [0.2, 3.0, 0.1])])
    ok, runaway, after = study.points
    assert ok.error is None and after.error is None and after.peak_k < ok.peak_k
    assert runaway.error is not None and "thermal runaway" in runaway.error
    assert np.isnan(runaway.peak_k) and not after.warm_start  # no start from a failed point
    doc = study.summary()["points"][1]
    assert doc["peak_k"] is None and "runaway" in doc["error"]
    rows = study.rows()
    assert rows[1]["error"] and rows[0]["error"] == "" and np.isnan(rows[1]["mean all"])


def test_swept_keys_are_labelled_with_their_unit() -> None:
    from chiptherm.report.figures import key_label

    assert key_label("boundaries.top.htc") == "boundaries.top.htc (W/(m²·K))"
    assert key_label("layers.tim.thickness") == "layers.tim.thickness (m)"
    assert key_label("power.die.blocks.core3.watts") == "power.die.blocks.core3.watts (W)"
    assert key_label("grid.nx") == "grid.nx"  # a count has no unit
