"""A HotSpot grid model converted to a native stack solves to HotSpot's temperatures."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from chiptherm import solvers
from chiptherm.cli import app
from chiptherm.discretize.system import System
from chiptherm.errors import UnsupportedError
from chiptherm.formats.hotspot import HotSpotModel, build_model
from chiptherm.formats.hotspot_files import effective_config
from chiptherm.formats.hotspot_stack import RING, stack_from_hotspot
from chiptherm.formats.loading import load_stack
from chiptherm.solvers.result import solve

# an 8 mm x 5 mm die: on a 10 x 12 grid the cells are not square (HotSpot swaps rx and ry)
FLP = "a\t0.004\t0.003\t0\t0\nb\t0.004\t0.003\t0.004\t0\nc\t0.008\t0.002\t0\t0.003\n"
FLP2 = "x\t0.008\t0.002\t0\t0\ny\t0.008\t0.003\t0\t0.002\n"
LCF = (
    "0\nY\nY\n1.75e6\n0.01\n0.00015\nf1.flp\n\n1\nY\nN\n4e6\n0.25\n2e-05\nf1.flp\n\n"
    "2\nY\nY\nsilicon\n0.0001\nf2.flp\n\n3\nN\nN\n4e6\n0.5\n1e-05\nf2.flp\n"
)


@pytest.fixture
def inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f1.flp").write_text(FLP)
    (tmp_path / "f2.flp").write_text(FLP2)
    (tmp_path / "s.lcf").write_text(LCF)
    (tmp_path / "m.materials").write_text("silicon\nsolid\n130\n1.6e6\n")
    (tmp_path / "chip.ptrace").write_text("a b c\n3 1 2\n5 1 2\n")
    (tmp_path / "stack.ptrace").write_text("a b c x y\n3 1 2 4 0.5\n")
    (tmp_path / "hs.config").write_text("-ambient 300.0\n-k_chip 120.0\n-s_spreader 0.02\n")
    return tmp_path


def model_of(*args: str) -> HotSpotModel:
    return build_model(effective_config(["-model_type", "grid", *args]))


def native_die_layers(model: HotSpotModel, temperature: np.ndarray) -> np.ndarray:
    """(L, rows, cols) native temperatures of the HotSpot layers' die cells, row 0 north."""
    n_layers = len(model.layers)
    out = [
        temperature[2 * (n_layers - 1 - n) + 1, RING : RING + model.rows, RING : RING + model.cols]
        for n in range(n_layers)
    ]
    return np.stack(out)[:, ::-1, :]


def assert_same_temperatures(model: HotSpotModel) -> None:
    stack = stack_from_hotspot(model)
    expected = model.solve("direct")
    result = solve(stack, method="direct")
    assert math.isclose(stack.total_power, expected.balance.power_in, rel_tol=1e-12)
    got = native_die_layers(model, result.temperature)
    assert np.abs(got - expected.grid).max() < 1e-4
    assert result.balance.relative_error < 1e-5


def test_default_layers_on_non_square_cells(inputs: Path) -> None:
    model = model_of(
        "-c", "hs.config", "-f", "f1.flp", "-p", "chip.ptrace", "-grid_rows", "10",
        "-grid_cols", "12",
    )  # fmt: skip
    assert not math.isclose(model.cw, model.ch)
    assert_same_temperatures(model)


def test_layer_file_with_materials_and_a_layer_without_lateral_flow(inputs: Path) -> None:
    model = model_of(
        "-p", "stack.ptrace", "-grid_layer_file", "s.lcf", "-materials_file", "m.materials",
        "-grid_rows", "8", "-grid_cols", "20",
    )  # fmt: skip
    assert not model.layers[3].lateral
    assert_same_temperatures(model)


def test_converted_stacks_get_the_direct_solver(
    inputs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = stack_from_hotspot(model_of("-f", "f1.flp", "-p", "chip.ptrace", "-grid_rows", "8"))
    system = System.from_stack(stack)
    assert solvers.conductance_contrast(system) > solvers.HIGH_CONTRAST
    monkeypatch.setattr(solvers, "DIRECT_LIMIT", 0)  # as if the stack were large
    assert solvers.choose_method(system) == "direct"


def test_cli_converts_files_and_flags(inputs: Path) -> None:
    runner = CliRunner()
    args = ["convert", "hs.config", "f1.flp", "chip.ptrace", "-grid_rows", "16", "--to", "c.yaml"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    stack = load_stack("c.yaml")
    model = model_of("-c", "hs.config", "-f", "f1.flp", "-p", "chip.ptrace", "-grid_rows", "16")
    assert stack.grid.ny == model.rows + 2 * RING and stack.grid.nx == 64 + 2 * RING
    assert math.isclose(
        solve(stack).temperature.max(), model.solve("direct").grid.max(), abs_tol=1e-4
    )


def test_cli_names_a_file_it_cannot_place(inputs: Path) -> None:
    done = CliRunner().invoke(app, ["convert", "notes.txt", "--to", "c.yaml"])
    assert done.exit_code != 0
    assert "notes.txt" in done.output and "HotSpot flag" in done.output
    assert not (inputs / "c.yaml").exists()


def test_cli_without_inputs_says_what_it_needs(inputs: Path) -> None:
    done = CliRunner().invoke(app, ["convert", "--to", "c.yaml"])
    assert done.exit_code != 0 and "a 3D-ICE .stk file or HotSpot inputs" in done.output


def test_a_network_the_native_format_cannot_hold_is_refused(inputs: Path) -> None:
    # layer 1 is 10^6 times more resistive than layer 0: the link layer would need a negative
    # resistance to cancel layer 1's own (stiff but finite) vertical half-cell
    lcf = "0\nY\nY\n1e6\n1e-6\n1e-6\nf1.flp\n\n1\nY\nN\n1e6\n1e3\n1e-3\nf1.flp\n"
    (inputs / "bad.lcf").write_text(lcf)
    (inputs / "one.ptrace").write_text("a b c\n1 1 1\n")
    model = model_of("-p", "one.ptrace", "-grid_layer_file", "bad.lcf", "-grid_rows", "4")
    with pytest.raises(UnsupportedError, match="cannot express HotSpot's vertical link"):
        stack_from_hotspot(model)


def test_detailed_models_are_not_converted(inputs: Path) -> None:
    model = model_of(
        "-p", "stack.ptrace", "-grid_layer_file", "s.lcf", "-materials_file", "m.materials",
        "-detailed_3D", "on", "-grid_rows", "4", "-grid_cols", "8",
    )  # fmt: skip
    with pytest.raises(UnsupportedError, match="standard grid mode only"):
        stack_from_hotspot(model)
