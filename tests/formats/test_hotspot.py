"""HotSpot readers, grid model and output files, checked against the format specification."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chiptherm.errors import FormatError, UnsupportedError
from chiptherm.formats.hotspot import build_model
from chiptherm.formats.hotspot_files import (
    FlpBlock,
    block_range,
    block_temperature,
    effective_config,
    read_flp,
    read_ptrace,
    tceil,
    tfloor,
)
from chiptherm.formats.hotspot_multigrid import (
    PACKAGE_ORDER,
    SweepPlan,
    heuristic_start,
    prolong_temperature,
    restrict_power,
)

FLP = """# name width height left bottom
L2_left\t0.004900\t0.006200\t0.010000\t0.019800
L2\t0.016000\t0.009800\t0.010000\t0.010000
core\t0.006200\t0.006200\t0.014900\t0.019800
L2_right\t0.004900\t0.006200\t0.021100\t0.019800
L2 core 0.5
"""
PTRACE = "l2_LEFT L2 core L2_right\n1.0\t5.0\t20.0\t1.0\n\n1.5  5.0 22.0\t1.5\n"


@pytest.fixture
def inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "chip.flp").write_text(FLP)
    (tmp_path / "chip.ptrace").write_text(PTRACE)
    (tmp_path / "hs.config").write_text(
        "# comment\n-k_chip 150.0\n-grid_layer_file (null)\n-steady_file (null)\n-k_chip 1.0\n"
        "-ambient 300.0\n"
    )
    return tmp_path


def run(*args: str):
    config = effective_config(
        ["-c", "hs.config", "-f", "chip.flp", "-p", "chip.ptrace", "-model_type", "grid", *args]
    )
    return config, build_model(config)


def test_config_precedence_and_null(inputs: Path) -> None:
    config, model = run("-ambient", "310.0")
    assert model.config["k_chip"] == 150.0  # first occurrence in the file wins
    assert model.config["ambient"] == 310.0  # command line beats the file
    assert "grid_layer_file" not in config and "steady_file" not in config  # (null) = absent
    assert model.prefixes == ["", "iface_", "hsp_", "hsink_"]
    assert model.rows == model.cols == 64 and model.map_mode == "center"


def test_floorplan_is_translated_and_sized(inputs: Path) -> None:
    flp = read_flp("chip.flp")
    assert [b.name for b in flp.blocks] == ["L2_left", "L2", "core", "L2_right"]
    assert min(b.x for b in flp.blocks) == 0 and min(b.y for b in flp.blocks) == 0
    assert math.isclose(flp.width, 0.016) and math.isclose(flp.height, 0.016)


def test_ptrace_is_the_mean_and_matches_names_case_insensitively(inputs: Path) -> None:
    names, power = read_ptrace("chip.ptrace")
    assert names == ["l2_LEFT", "L2", "core", "L2_right"]
    assert np.allclose(power, [1.25, 5.0, 21.0, 1.25])
    _, model = run()
    assert np.allclose(model.layers[0].power_w, [1.25, 5.0, 21.0, 1.25])


def test_total_power_read_equals_power_injected(inputs: Path) -> None:
    _, model = run("-grid_rows", "13", "-grid_cols", "7")
    assert math.isclose(model.cell_power().sum(), 28.5, rel_tol=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.floats(0.05, 0.95), st.floats(0.05, 0.95))
def test_block_power_is_conserved_on_any_grid(rows: int, cols: int, fx: float, fy: float) -> None:
    w, h = 0.01, 0.008
    # a floorplan that tiles the chip with four blocks split at (fx, fy)
    blocks = [
        FlpBlock("sw", fx * w, fy * h, 0, 0),
        FlpBlock("se", (1 - fx) * w, fy * h, fx * w, 0),
        FlpBlock("nw", fx * w, (1 - fy) * h, 0, fy * h),
        FlpBlock("ne", (1 - fx) * w, (1 - fy) * h, fx * w, fy * h),
    ]
    cw, ch = w / cols, h / rows
    total = 0.0
    for b in blocks:
        r = block_range(b, rows, cols, cw, ch, h)
        total += (r.occupancy * (1.0 / (b.width * b.height)) * cw * ch).sum()
    assert math.isclose(total, 4.0, rel_tol=1e-9)


def test_tolerant_rounding_and_center_rule() -> None:
    assert tceil(3.0000000001) == 3 and tceil(3.2) == 4
    assert tfloor(2.9999999999) == 3 and tfloor(2.7) == 2
    t = np.arange(36.0).reshape(6, 6)
    b = FlpBlock("b", 4.0, 3.0, 1.0, 1.0)  # columns 1..4, rows (north first) 2..4
    r = block_range(b, 6, 6, 1.0, 1.0, 6.0)
    assert (r.i1, r.i2, r.j1, r.j2) == (2, 5, 1, 5)
    # 3 rows (odd): ci = ci' = 3; 4 columns (even): cj = 3, cj' = 2
    assert block_temperature(t, r, "center") == (t[3, 3] + t[3, 3] + t[3, 2] + t[3, 2]) / 4
    assert block_temperature(t, r, "avg") == t[2:5, 1:5].mean()
    assert block_temperature(t, r, "max") == t[4, 4]


def test_lateral_links_use_hotspots_swapped_resistances(inputs: Path) -> None:
    _, model = run("-grid_rows", "4", "-grid_cols", "8")  # cw = 2 mm, ch = 4 mm
    a = model.network().matrix()
    chip = model.layers[0]
    cw, ch, t = model.cw, model.ch, chip.thickness
    east_west = -a[0, 1]  # cells (0,0) and (0,1)
    north_south = -a[0, 8]  # cells (0,0) and (1,0)
    assert math.isclose(east_west, chip.k * cw * t / ch, rel_tol=1e-12)  # 1 / ry
    assert math.isclose(north_south, chip.k * ch * t / cw, rel_tol=1e-12)  # 1 / rx
    # vertical: the full resistance of the upper layer
    assert math.isclose(-a[0, 32], chip.k * cw * ch / t, rel_tol=1e-12)


def test_energy_balance_and_symmetry(inputs: Path) -> None:
    _, model = run("-grid_rows", "16", "-grid_cols", "16")
    result = model.solve("direct")
    assert result.balance.relative_error < 1e-10
    assert math.isclose(result.balance.power_in, 28.5)
    names = dict(result.block_temperatures())
    # the floorplan is mirror-symmetric east-west except for power: L2_left = L2_right
    assert math.isclose(names["L2_left"], names["L2_right"], abs_tol=1e-9)
    assert math.isclose(names["inode_0"], names["inode_1"], abs_tol=1e-9)  # SP_W = SP_E
    assert names["core"] > names["iface_core"] > names["hsp_core"] > names["hsink_core"]
    assert min(t for _, t in result.block_temperatures()) > 300.0


def test_output_files_follow_hotspots_layout(inputs: Path) -> None:
    _, model = run("-grid_rows", "4", "-grid_cols", "4")
    result = model.solve()
    lines = result.steady_text().splitlines()
    assert len(lines) == 4 * 4 + 12
    assert lines[0].split("\t")[0] == "L2_left" and lines[4].startswith("iface_L2_left\t")
    assert lines[-1].startswith("inode_11\t")
    assert all(len(line.split("\t")[1].split(".")[1]) == 2 for line in lines)
    grid = result.grid_steady_text().splitlines()
    assert grid[0] == "Layer 0:" and grid[17] == "Layer 1:" and len(grid) == 4 * 17
    # row 0 is north: the core (north half) heats the first rows more than the last
    values = np.array([float(line.split("\t")[1]) for line in grid[1:17]]).reshape(4, 4)
    assert values[0].mean() > values[-1].mean()


def test_lcf_records_and_layer_grouped_ptrace(inputs: Path) -> None:
    (inputs / "m.materials").write_text(
        "#name\nsi\nsolid\n148.0\n1.75e6\nwater\nfluid\n0.6\n4.1e6\n0.001\n"
    )
    (inputs / "top.flp").write_text("a 0.01 0.01 0 0\n")
    (inputs / "stack.lcf").write_text(
        "# layer 1 first in the file\n1\nN\nN\n4e6\n0.25\n2e-5\ntop.flp\n\n"
        "0\nY\nY\nsi\n1.5e-4\ntop.flp\n"
    )
    (inputs / "p.ptrace").write_text("A\n10\n")
    config = effective_config(
        [
            "-f",
            "x.flp",
            "-p",
            "p.ptrace",
            "-model_type",
            "grid",
            "-grid_layer_file",
            "stack.lcf",
            "-materials_file",
            "m.materials",
            "-grid_rows",
            "8",
            "-grid_cols",
            "8",
        ]
    )
    model = build_model(config)
    assert [la.number for la in model.layers[:2]] == [0, 1]
    assert model.layers[0].k == 148.0 and model.layers[1].k == 4.0
    assert not model.layers[1].lateral
    assert model.prefixes[:2] == ["layer_0_", "layer_1_"]
    result = model.solve()
    assert result.steady_text().startswith("layer_0_a\t")
    assert math.isclose(result.balance.power_in, 10.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "x.ttrace"], "transient runs are not supported"),
        (["-leakage_used", "1"], "leakage modelling is not supported"),
        (["-package_model_used", "1"], "package model is not supported"),
    ],
)
def test_unsupported_flags_are_refused(inputs: Path, args: list[str], message: str) -> None:
    with pytest.raises(UnsupportedError, match=message):
        run(*args)


def test_block_model_is_refused(inputs: Path) -> None:
    config = effective_config(["-f", "chip.flp", "-p", "chip.ptrace"])
    with pytest.raises(UnsupportedError, match="only the grid model"):
        build_model(config)


def test_malformed_inputs_name_file_and_line(inputs: Path) -> None:
    (inputs / "bad.flp").write_text("a 1 2 3 4\nb 1 2 3 4 5 6 7 8\n")
    with pytest.raises(FormatError, match=r"bad.flp:2: .*got 9 fields"):
        read_flp("bad.flp")
    (inputs / "bad.flp").write_text("a 1 2 3 4 4e6 abc\n")
    with pytest.raises(FormatError, match=r"bad.flp:1: expected a resistivity in m·K/W"):
        read_flp("bad.flp")
    (inputs / "bad.flp").write_text("a 1 2 3 4\nb 1 2 3 4 4e6 0\n")
    with pytest.raises(FormatError, match=r"bad.flp:2: the resistivity must be > 0"):
        read_flp("bad.flp")
    (inputs / "bad.ptrace").write_text("a b\n1 2\n3\n")
    with pytest.raises(FormatError, match=r"bad.ptrace:3: 1 values for 2 names"):
        read_ptrace("bad.ptrace")
    (inputs / "nomatch.ptrace").write_text("L2_left L2 core other\n1 1 1 1\n")
    config = effective_config(["-f", "chip.flp", "-p", "nomatch.ptrace", "-model_type", "grid"])
    with pytest.raises(FormatError, match="'other' matches no block"):
        build_model(config)
    with pytest.raises(FormatError, match="odd number"):
        effective_config(["-f"])


def test_cli_is_a_drop_in_for_a_steady_run(inputs: Path) -> None:
    from typer.testing import CliRunner

    from chiptherm.cli import app

    runner = CliRunner()
    args = [
        "hotspot",
        "-c",
        "hs.config",
        "-f",
        "chip.flp",
        "-p",
        "chip.ptrace",
        "-model_type",
        "grid",
        "-grid_rows",
        "8",
        "-grid_cols",
        "8",
        "-steady_file",
        "o.steady",
        "-grid_steady_file",
        "o.grid.steady",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    steady = (inputs / "o.steady").read_text().splitlines()
    assert steady[2].startswith("core\t") and len(steady) == 28
    assert (inputs / "o.grid.steady").read_text().startswith("Layer 0:\n0\t")
    res = runner.invoke(app, [*args, "-d", "dump.config"])
    dump = (inputs / "dump.config").read_text().splitlines()
    assert "-k_chip\t150.0" in dump and "-grid_rows\t8" in dump
    res = runner.invoke(app, [*args[:-4], "-detailed_3D", "on"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "-detailed_3D on needs a layer configuration file" in res.output
    res = runner.invoke(app, [*args, "--json", "--solver", "direct"])
    assert res.exit_code == 0 and '"solver": "direct"' in res.output
    res = runner.invoke(app, [*args, "--solver", "fastest"])
    assert res.exit_code == 1 and "--solver expects auto, direct or multigrid" in res.output


@pytest.mark.parametrize(
    ("lcf", "message"),
    [
        ("x\nY\nY\n4e6\n0.01\n1e-4\ntop.flp\n", r"stack.lcf:1: expected a layer number"),
        ("0\nmaybe\nY\n4e6\n0.01\n1e-4\ntop.flp\n", r"stack.lcf:2: expected Y or N"),
        ("0\nY\nY\nunobtainium\n1e-4\ntop.flp\n", r"stack.lcf:4: material 'unobtainium'"),
        ("0\nY\nY\n4e6\nabc\n1e-4\ntop.flp\n", r"stack.lcf:5: expected a resistivity"),
        ("0\nY\nY\n4e6\n0.01\nthick\ntop.flp\n", r"stack.lcf:6: expected a thickness"),
        ("0\nY\nY\n4e6\n0.01\n", r"stack.lcf:5: incomplete layer record: missing thickness"),
        ("0\nY\nY\n4e6\n0.01\n1e-4\nchannels.csv\n", r"stack.lcf:7: microchannel layers"),
        ("1\nY\nY\n4e6\n0.01\n1e-4\ntop.flp\n", r"layer numbers must be 0..0"),
    ],
)
def test_malformed_lcf_lines(inputs: Path, lcf: str, message: str) -> None:
    from chiptherm.formats.hotspot_files import read_lcf

    (inputs / "top.flp").write_text("a 0.01 0.01 0 0\n")
    (inputs / "stack.lcf").write_text(lcf)
    with pytest.raises((FormatError, UnsupportedError), match=message):
        read_lcf("stack.lcf", {"si": 148.0})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("si\nliquid\n148\n1e6\n", r"m.materials:2: expected 'solid' or 'fluid'"),
        ("si\nsolid\nhigh\n1e6\n", r"m.materials:3: non-numeric property"),
        ("si\nsolid\n148\n", r"m.materials:1: incomplete material record 'si'"),
    ],
)
def test_malformed_materials_lines(inputs: Path, text: str, message: str) -> None:
    from chiptherm.formats.hotspot_files import read_materials

    (inputs / "m.materials").write_text(text)
    with pytest.raises(FormatError, match=message):
        read_materials("m.materials")


def test_malformed_config_line(inputs: Path) -> None:
    from chiptherm.formats.hotspot_files import parse_config_file

    (inputs / "bad.config").write_text("-k_chip 100\nk_sink 400\n")
    with pytest.raises(FormatError, match=r"bad.config:2: expected '-key value'"):
        parse_config_file("bad.config")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-grid_map_mode", "median"], "expected avg, min, max or center"),
        (["-grid_rows", "eight"], "must be whole numbers"),
        (["-grid_cols", "0"], "must be at least 1"),
        (["-material_chip", "unobtainium"], "-material_chip unobtainium: not in the materials"),
        (["-s_spreader", "0.001"], "spreader must be at least as large as the chip"),
        (["-k_sink", "nan"], "-k_sink: expected a finite number"),
        (["-r_convec", "low"], "-r_convec: expected a number"),
    ],
)
def test_bad_option_values_are_named(inputs: Path, args: list[str], message: str) -> None:
    with pytest.raises(FormatError, match=message):
        run(*args)


def test_missing_power_trace_is_named(inputs: Path) -> None:
    with pytest.raises(FormatError, match=r"-p file\.ptrace is required"):
        build_model(effective_config(["-f", "chip.flp", "-model_type", "grid"]))


def naive_gauss_seidel_sweep(matrix: np.ndarray, b: np.ndarray, x: np.ndarray, order) -> float:
    """One textbook Gauss–Seidel sweep over nodes in ``order``; the largest change."""
    largest = 0.0
    for k in order:
        new = (b[k] - matrix[k] @ x + matrix[k, k] * x[k]) / matrix[k, k]
        largest = max(largest, abs(new - x[k]))
        x[k] = new
    return largest


def test_wavefront_sweep_equals_a_lexicographic_sweep(inputs: Path) -> None:
    _, model = run("-grid_rows", "4", "-grid_cols", "8")
    net = model.network()
    g, b = net.matrix(), net.rhs()
    cells = len(model.layers) * 4 * 8
    order = [*range(cells), *(cells + k for k in PACKAGE_ORDER)]
    x_naive = np.full(g.shape[0], 310.0)
    x_naive[::7] += 3.0
    x_plan = x_naive.copy()
    plan = SweepPlan.build(g, len(model.layers), 4, 8)
    for _ in range(3):
        d_naive = naive_gauss_seidel_sweep(g.toarray(), b, x_naive, order)
        d_plan = plan.sweep(x_plan, b)
        assert np.allclose(x_plan, x_naive, rtol=0, atol=1e-10)
        assert math.isclose(d_plan, d_naive, rel_tol=1e-9)


def test_restriction_conserves_power_and_prolongation_is_bilinear() -> None:
    rng = np.random.default_rng(0)
    power = rng.random((2, 8, 4))
    assert math.isclose(restrict_power(power).sum(), power.sum(), rel_tol=1e-12)
    # a field linear in the cell centres is reproduced exactly inside the fine grid
    rows, cols = np.meshgrid(np.arange(4) * 2 + 0.5, np.arange(6) * 2 + 0.5, indexing="ij")
    coarse = np.stack([300 + 0.3 * rows - 0.7 * cols] * 2)
    fine = prolong_temperature(coarse)
    fr, fc = np.meshgrid(np.arange(8), np.arange(12), indexing="ij")
    exact = 300 + 0.3 * fr - 0.7 * fc
    assert np.allclose(fine[:, 1:-1, 1:-1], exact[1:-1, 1:-1], atol=1e-12)
    # edge cells copy their nearest coarse cell
    assert np.array_equal(fine[0, 0, 2:4], [coarse[0, 0, 1]] * 2)


def test_heuristic_start_is_one_dimensional_conduction() -> None:
    power = np.zeros((3, 1, 1))
    power[0] = 2.0  # all the power in the top layer
    x = heuristic_start(power, np.array([0.5, 0.25, 1.0]), 300.0, 12)
    # every layer carries 2 W down: 300 + 2·1.0, then + 2·0.25, then + 2·0.5
    assert np.allclose(x[:3], [303.5, 302.5, 302.0]) and np.all(x[3:] == 300.0)


def test_multigrid_reproduces_hotspots_iteration_error(inputs: Path) -> None:
    """HotSpot's default build stops 1e-3 to 2e-3 K short, slightly warm; so must we."""
    _, model = run("-grid_rows", "16", "-grid_cols", "32")
    direct = model.solve("direct")
    multigrid = model.solve("multigrid")
    assert model.solve().grid.tobytes() == multigrid.grid.tobytes()  # auto picks multigrid
    diff = multigrid.grid - direct.grid
    assert 0 < np.abs(diff).max() < 5e-3
    assert diff.mean() > 0


def test_non_power_of_two_grids_are_solved_directly(inputs: Path) -> None:
    _, model = run("-grid_rows", "12", "-grid_cols", "16")
    assert model.solve().grid.tobytes() == model.solve("direct").grid.tobytes()
    with pytest.raises(UnsupportedError, match="power-of-two"):
        model.solve("multigrid")


DETAILED_FLP = (
    "left\t0.004\t0.008\t0\t0\n"
    "tsv\t0.0002\t0.008\t0.004\t0\t4e6\t0.0025\n"  # 7 fields: k = 400 W/(m K)
    "right\t0.0038\t0.008\t0.0042\t0\n"
)


def detailed_model(inputs: Path, detailed: str = "on", rows: int = 8, cols: int = 16):
    (inputs / "d.flp").write_text(DETAILED_FLP)
    (inputs / "d.lcf").write_text(
        "0\nY\nY\n1.75e6\n0.01\n0.00015\nd.flp\n\n1\nN\nN\n4e6\n0.25\n2e-05\nd.flp\n"
    )
    (inputs / "d.ptrace").write_text("left tsv right\n3 0 1\n")
    config = effective_config(
        ["-p", "d.ptrace", "-grid_layer_file", "d.lcf", "-model_type", "grid", "-detailed_3D",
         detailed, "-grid_rows", str(rows), "-grid_cols", str(cols)]
    )  # fmt: skip
    return build_model(config)


def test_detailed_cells_take_block_materials(inputs: Path) -> None:
    model = detailed_model(inputs)  # cw = 0.5 mm: the 0.2 mm TSV shares column 8
    assert model.detailed and model.layers[0].floorplan.blocks[1].resistivity == 0.0025
    k = model.cell_conductivity(0)
    assert np.allclose(k[:, :8], 100.0) and np.allclose(k[:, 9:], 100.0)
    # column 8: 0.4 of the TSV (k = 400) and 0.6 of 'right' (k = 100), none above 95 %
    assert np.allclose(k[:, 8], 0.4 * 400.0 + 0.6 * 100.0)
    # lateral = N is ignored in detailed mode: layer 1 still conducts sideways
    net = model.network().matrix()
    assert -net[model.rows * model.cols, model.rows * model.cols + 1] > 0


def test_detailed_vertical_links_use_half_cells_but_the_full_top_layer(inputs: Path) -> None:
    model = detailed_model(inputs)
    g = model.network().matrix()
    cells = model.rows * model.cols
    cw, ch = model.cw, model.ch
    rz = [la.thickness / (la.k * cw * ch) for la in model.layers]
    rz[-1] = model.vertical_resistances()[-1]  # with the sink's share of convection
    assert math.isclose(-g[0, cells], 1 / (rz[0] + rz[1] / 2), rel_tol=1e-12)
    assert math.isclose(-g[cells, 2 * cells], 1 / (rz[1] / 2 + rz[2] / 2), rel_tol=1e-12)
    assert math.isclose(-g[2 * cells, 3 * cells], 1 / (rz[2] / 2 + rz[3] / 2), rel_tol=1e-12)


def test_detailed_mode_iterates_without_multigrid(inputs: Path) -> None:
    model = detailed_model(inputs)
    iterated, direct = model.solve(), model.solve("direct")
    assert iterated.method == "gauss-seidel" and direct.method == "direct"
    assert np.abs(iterated.grid - direct.grid).max() < 0.05
    off = detailed_model(inputs, detailed="off")  # any value but 'on' means off, as in HotSpot
    assert not off.detailed


def test_detailed_mode_needs_full_coverage(inputs: Path) -> None:
    (inputs / "gap.flp").write_text("a\t0.004\t0.008\t0\t0\nb\t0.003\t0.008\t0.005\t0\n")
    (inputs / "gap.lcf").write_text("0\nY\nY\n1.75e6\n0.01\n0.00015\ngap.flp\n")
    (inputs / "gap.ptrace").write_text("a b\n1 1\n")
    config = effective_config(
        ["-p", "gap.ptrace", "-grid_layer_file", "gap.lcf", "-model_type", "grid",
         "-detailed_3D", "on", "-grid_rows", "4", "-grid_cols", "8"]
    )  # fmt: skip
    with pytest.raises(FormatError, match="covered by no block"):
        build_model(config).network()


def test_a_misspelt_option_is_refused_as_hotspot_refuses_it(inputs: Path) -> None:
    from typer.testing import CliRunner

    from chiptherm.cli import app

    args = ["hotspot", "-c", "hs.config", "-f", "chip.flp", "-p", "chip.ptrace"]
    res = CliRunner().invoke(app, [*args, "-model_type", "grid", "-k_chp", "150"])
    assert res.exit_code == 1
    assert "unknown HotSpot option -k_chp on the command line; did you mean -k_chip" in res.output
    (inputs / "typo.config").write_text("-k_chip 100\n-t_sprader 1e-3\n")
    with pytest.raises(FormatError, match=r"typo.config:2: unknown HotSpot option -t_sprader"):
        effective_config(["-c", "typo.config", "-f", "chip.flp"])


def test_a_floorplan_with_gaps_is_accepted_with_a_warning(inputs: Path) -> None:
    from chiptherm.errors import ChipthermWarning

    (inputs / "gap.flp").write_text("a 0.004 0.008 0 0\nb 0.004 0.004 0.004 0\n")
    with pytest.warns(ChipthermWarning, match=r"cover 75.00 % of the 0.008 × 0.008 m chip"):
        flp = read_flp(inputs / "gap.flp")
    assert (flp.width, flp.height) == (0.008, 0.008)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_flp(inputs / "chip.flp")  # a full floorplan: no warning
