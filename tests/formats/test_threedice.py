"""3D-ICE stack and floorplan files: parser, discretization and output files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chiptherm.errors import ChipthermWarning, FormatError
from chiptherm.formats.threedice import build_model
from chiptherm.formats.threedice_files import read_stk
from chiptherm.formats.threedice_outputs import write_outputs
from chiptherm.solvers import solve_system

STK = """// two dies and a layer
material SILICON :
   thermal conductivity     1.30e-4 ;
   volumetric heat capacity 1.628e-12 ;
material BEOL :
   thermal conductivity     2.25e-6, 3.0e-6, 1.0e-6 ;
   volumetric heat capacity 2.175e-12 ;
{sinks}
dimensions :
   chip length 1000, width 800 ;
   cell length 100, width 100 ;
layer PCB :
   height 10 ;
   material BEOL ;
die TOPDIE :
   layer  10 BEOL ;
   source  2 SILICON ;
   layer  50 SILICON ;
stack:
   die DIE2 TOPDIE floorplan "./die.flp" ;
   layer BOT PCB ;
solver:
   steady ;
   initial temperature 300.0 ;
output:
   T     (  DIE2, 450, 350, "t.txt" , final ) ;
   Tflp  (  DIE2, "flp.txt", average , final ) ;
   Tflpel ( DIE2.cache, "el.txt", maximum ) ;
   Tmap  (  DIE2, "map.txt", final ) ;
   Pmap  (  DIE2, "pmap.txt", final ) ;
   T     (  BOT, 5000, 5000, "t_out.txt" ) ;
"""
TFLPEL = '   Tflpel ( DIE2.cache, "el.txt", maximum ) ;\n'
TOP = "top heat sink :\n heat transfer coefficient 1.0e-8 ;\n temperature 300 ;\n"
BOTTOM = "bottom heat sink :\n heat transfer coefficient 2.0e-9 ;\n temperature 310 ;\n"
FLP = """core :
  position 100, 100 ;
  dimension 400, 300 ;
  power values 1.0, 2.0 ;
cache :
  rectangle (550, 100, 300, 250) ;
  rectangle (550, 450, 300, 200) ;
  power values 0.5 ;
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "die.flp").write_text(FLP)
    return tmp_path


def write_stk(path: Path, sinks: str = TOP) -> Path:
    path.write_text(STK.replace("{sinks}", sinks))
    return path


def test_layers_are_numbered_from_the_bottom(workdir: Path) -> None:
    model = build_model(read_stk(write_stk(workdir / "a.stk")))
    assert model.system.shape == (4, 8, 10)
    # bottom: PCB (0), then TOPDIE from its last-listed layer: 50 um Si (1), source (2), BEOL (3)
    assert model.layer_of_element == {"BOT": 0, "DIE2": 2}
    assert (
        math.isclose(model.system.q.sum(), 1.5) and model.system.q[2].sum() == model.system.q.sum()
    )


def test_half_cells_follow_3dice_including_full_height_edges(workdir: Path) -> None:
    model = build_model(read_stk(write_stk(workdir / "a.stk")))  # top sink only
    s = model.system
    area = 100.0 * 100.0
    k_beol, k_si = 1.0e-6, 1.30e-4
    # no bottom sink: the bottom layer's upward half-cell is its full height
    g01 = 1 / (1 / (k_beol * area / 10) + 1 / (k_si * area / 25))
    assert math.isclose(s.gz[0, 0, 0], g01, rel_tol=1e-12)
    # anisotropic lateral links of the BEOL layer: kx along x (length), ky along y
    assert math.isclose(s.gx[0, 0, 0], 2.25e-6 * 100 * 10 / 100, rel_tol=1e-12)
    assert math.isclose(s.gy[0, 0, 0], 3.0e-6 * 100 * 10 / 100, rel_tol=1e-12)
    g_s = 2 * k_beol * 1e-8 * area / (1e-8 * 10 + 2 * k_beol)
    assert math.isclose(s.faces["top"].conductance[0, 0], g_s, rel_tol=1e-12)


def test_uniform_power_matches_the_resistance_chain(workdir: Path) -> None:
    (workdir / "die.flp").write_text(
        "all : position 0, 0 ; dimension 1000, 800 ; power values 2.0 ;\n"
    )
    # the one-element floorplan has no 'cache' for the Tflpel output to read
    (workdir / "a.stk").write_text(STK.replace("{sinks}", TOP).replace(TFLPEL, ""))
    model = build_model(read_stk(workdir / "a.stk"))
    t, _ = solve_system(model.system, "direct")
    s = model.system
    cells = 80
    # all heat leaves upward through the top sink: T drops link by link from the source
    t_top = 300.0 + 2.0 / (s.faces["top"].conductance[0, 0] * cells)
    t_source = t_top + 2.0 / (s.gz[2, 0, 0] * cells)
    assert np.allclose(t[3], t_top, atol=1e-9)
    assert np.allclose(t[2], t_source, atol=1e-9)
    assert np.allclose(t[0], t_source, atol=1e-9)  # unpowered, no sink: same as the source


def test_both_sinks_and_energy_balance(workdir: Path) -> None:
    model = build_model(read_stk(write_stk(workdir / "a.stk", TOP + BOTTOM)))
    t, _ = solve_system(model.system, "auto", tol=1e-12)
    balance = model.system.energy_balance(t)
    assert balance.relative_error < 1e-9 and math.isclose(balance.power_in, 1.5)
    assert set(balance.by_face) == {"top", "bottom"}
    reference, _ = solve_system(model.system, "direct")
    assert np.abs(t - reference).max() < 1e-9


def test_outputs_follow_3dice_formats(workdir: Path) -> None:
    model = build_model(read_stk(write_stk(workdir / "a.stk")))
    t, _ = solve_system(model.system, "direct")
    written = write_outputs(model, t, workdir)
    assert written == ["t.txt", "flp.txt", "el.txt", "map.txt", "pmap.txt", "t_out.txt"]
    lines = (workdir / "t.txt").read_text().splitlines()
    assert len(lines) == 4 and all(line.startswith("% ") for line in lines[:3])
    assert "[4,3]" in lines[1]
    assert math.isclose(float(lines[3].split("\t")[1]), t[2, 3, 4], abs_tol=1e-11)
    last = (workdir / "t_out.txt").read_text().splitlines()[-1]
    assert math.isclose(float(last.split("\t")[1]), t[0, 7, 9], abs_tol=1e-11)  # clamped
    flp = (workdir / "flp.txt").read_text().splitlines()
    assert flp[1].split(" \t ")[1:3] == ["core(K)", "cache(K)"]
    values = [float(v) for v in flp[2].split(" \t ")[1:3]]
    src = t[2]
    assert math.isclose(values[0], src[1:4, 1:5].mean(), abs_tol=6e-4)
    cache_avg = (src[1:4, 5:9].mean() + src[4:7, 5:9].mean()) / 2  # mean of rectangle means
    assert math.isclose(values[1], cache_avg, abs_tol=6e-4)
    el = (workdir / "el.txt").read_text().splitlines()[-1]
    assert math.isclose(
        float(el.split("\t")[1]), max(src[1:4, 5:9].max(), src[4:7, 5:9].max()), abs_tol=6e-4
    )
    tmap = (workdir / "map.txt").read_text().split("\n")
    rows = [r for r in tmap[1:] if r.strip()]
    assert len(rows) == 8 and tmap[-2] == "" and rows[0].endswith("  ")
    assert np.allclose([float(v) for v in rows[0].split()], src[0], atol=6e-4)  # south first
    pmap = (workdir / "pmap.txt").read_text().split("\n")
    assert math.isclose(sum(float(v) for r in pmap[1:] for v in r.split()), 1.5, abs_tol=1e-2)
    assert len((workdir / "xaxis.txt").read_text().split()) == 10


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 0.9),
            st.floats(0, 0.9),
            st.floats(0.01, 1),
            st.floats(0.01, 1),
            st.floats(0, 5),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_total_power_read_equals_power_injected(tmp_path_factory, rects) -> None:
    d = tmp_path_factory.mktemp("p")
    text = ""
    for i, (fx, fy, fw, fh, p) in enumerate(rects):
        x, y = fx * 1000, fy * 800
        w, h = max(1e-3, min(fw * 1000, 1000 - x)), max(1e-3, min(fh * 800, 800 - y))
        text += (
            f"e{i} : position {x:.6f}, {y:.6f} ; dimension {w:.6f}, {h:.6f} ; "
            f"power values {p:.6f} ;\n"
        )
    (d / "die.flp").write_text(text)
    stk = d / "a.stk"
    text = STK.replace("{sinks}", TOP).replace(TFLPEL, "")
    stk.write_text(text.replace("./die.flp", str(d / "die.flp")))
    model = build_model(read_stk(stk))
    expected = sum(float(f"{p:.6f}") for *_, p in rects)
    assert math.isclose(model.system.q.sum(), expected, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (("chip length 1000,", "chip length 1000"), FormatError, r"a.stk:\d+: column \d+: syntax"),
        (("height 10 ;", "height .5 ;"), FormatError, r"a.stk:\d+: column \d+: syntax"),
        (
            ("steady ;", "transient step 0.01, slot 0.025 ;"),
            FormatError,
            r"a.stk:\d+: transient step 0.01, slot 0.025: the slot must be a whole number",
        ),
        (
            ("steady ;", "transient step 0, slot 0.1 ;"),
            FormatError,
            r"a.stk:\d+: .*both must be > 0",
        ),
        (
            ("layer BOT PCB ;", "layer BOT PCB ;\n   channel CAV ;"),
            FormatError,
            r"a.stk:25: channel CAV: the file declares no cavity",
        ),
        (("material BEOL ;", "material COPPER ;"), FormatError, "unknown material 'COPPER'"),
        (('"t.txt" , final', '"t.txt" , slot'), None, None),
        (("Tmap  (  DIE2", "Tmap  (  NOPE"), FormatError, "unknown stack element 'NOPE'"),
    ],
)
def test_stk_errors(workdir: Path, change: tuple[str, str], error, message) -> None:
    path = workdir / "a.stk"
    path.write_text(STK.replace("{sinks}", TOP).replace(*change))
    if error is None:
        read_stk(path)  # a 'slot' output is valid; it only gets a header in a steady run
        return
    with pytest.raises(error, match=message):
        read_stk(path)


def test_no_sink_is_refused(workdir: Path) -> None:
    with pytest.raises(FormatError, match="no heat sink"):
        read_stk(write_stk(workdir / "a.stk", ""))


def test_floorplan_errors(workdir: Path) -> None:
    (workdir / "die.flp").write_text("core : position 900, 100 ; dimension 400, 300 ;\n")
    with pytest.raises(FormatError, match="leaves the chip"):
        build_model(read_stk(write_stk(workdir / "a.stk")))
    (workdir / "die.flp").write_text("core : position 100 100 ;\n")
    with pytest.raises(FormatError, match=r"die.flp:1: column \d+: syntax error"):
        build_model(read_stk(write_stk(workdir / "a.stk")))


@pytest.mark.parametrize("sinks", [TOP, BOTTOM, TOP + BOTTOM])
def test_converted_stack_has_the_same_temperatures(workdir: Path, sinks: str) -> None:
    from chiptherm import load_stack, save_stack, solve
    from chiptherm.formats.convert import stack_from_3dice

    doc = read_stk(write_stk(workdir / "a.stk", sinks))
    model = build_model(doc)
    reference, _ = solve_system(model.system, "direct")
    path = save_stack(stack_from_3dice(doc), workdir / "converted.yaml")
    result = solve(load_stack(path), method="direct")
    assert result.temperature.shape == reference.shape
    assert np.abs(result.temperature - reference).max() < 1e-8
    assert math.isclose(result.stack.total_power, 1.5)


def test_cli_runs_3dice_and_convert(workdir: Path) -> None:
    import json

    from typer.testing import CliRunner

    from chiptherm.cli import app

    runner = CliRunner()
    write_stk(workdir / "a.stk", TOP + BOTTOM)
    res = runner.invoke(app, ["3dice", "a.stk", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["outputs"][0] == "t.txt" and (workdir / "map.txt").exists()
    assert summary["energy"]["relative_error"] < 1e-9
    res = runner.invoke(app, ["convert", "a.stk", "--to", "a.yaml"])
    assert res.exit_code == 0 and (workdir / "a.yaml").exists()
    (workdir / "bad.stk").write_text("material X : thermal conductivity 1 ;\n")
    res = runner.invoke(app, ["3dice", "bad.stk"])
    assert res.exit_code == 1 and "bad.stk:1: column" in res.output
    assert "Traceback" not in res.output


def test_every_stack_command_reads_a_3dice_file(workdir: Path) -> None:
    """A .stk file loads as its converted stack (with --set on the converted keys), so solve,
    sensitivity and the rest take 3D-ICE inputs unchanged, with the same temperatures."""
    from typer.testing import CliRunner

    from chiptherm import load_stack, solve
    from chiptherm.analysis.sensitivity import sensitivity
    from chiptherm.cli import app
    from chiptherm.solvers.nonlinear import scaled_power

    doc = read_stk(write_stk(workdir / "a.stk", TOP + BOTTOM))
    reference, _ = solve_system(build_model(doc).system, "direct")
    stack = load_stack(workdir / "a.stk")
    assert np.abs(solve(stack, method="direct").temperature - reference).max() < 1e-8
    study = sensitivity(stack, moves=False)  # the sinks' ambients differ: J0 from a solve
    unpowered = solve(scaled_power(stack, 0.0))
    j0 = float((study.objective.weights(stack, unpowered.grid) * unpowered.temperature).sum())
    assert study.total("power") == pytest.approx(study.value_k - j0, rel=1e-6)
    hotter = load_stack(workdir / "a.stk", [("boundaries.top.htc", 1.0)])
    assert solve(hotter).max_temperature > solve(stack).max_temperature
    runner = CliRunner()
    res = runner.invoke(app, ["sensitivity", "a.stk", "--no-files", "--top", "3"])
    assert res.exit_code == 0, res.output
    peak = solve(stack).max_temperature  # 3D-ICE's heat capacities come along
    res = runner.invoke(app, ["transient", "a.stk", "--no-files", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["steady_peak_k"] == pytest.approx(peak, abs=1e-6)
    res = runner.invoke(app, ["impedance", "a.stk", "--no-files", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["blocks"] == ["core", "cache.0", "cache.1"]  # one per rectangle
    assert summary["fit_error"] < 1e-3
    res = runner.invoke(app, ["solve", "a.stk", "--set", "layers.nowhere.thickness=1", "--json"])
    assert res.exit_code == 1 and "layers has no item 'nowhere'; expected one of" in res.output


def test_unknown_floorplan_element_in_tflpel(workdir: Path) -> None:
    path = workdir / "a.stk"
    path.write_text(STK.replace("{sinks}", TOP).replace("DIE2.cache", "DIE2.gpu"))
    with pytest.raises(FormatError, match="Tflpel: no element 'gpu'"):
        build_model(read_stk(path))
    assert not (workdir / "t.txt").exists()  # rejected before any output was written


# Two silicon dies (48 µm bulk + 2 µm source each, sources facing each other) on a 10 mm chip
# with 50 x 200 µm cells: 3D-ICE's own solid steady test set. The lower die dissipates 50 W
# uniformly, the upper one 12.5 W in two opposite quadrants. 3D-ICE reports (printed to 3
# decimals) T at (5000, 4800) in the lower die and at (0, 0) in the upper one.
PUBLISHED_DIES = """material silicon :
   thermal conductivity 1.30e-04 ;
   volumetric heat capacity 1.63566e-12 ;
{sinks}
dimensions :
  chip length 10000 , width 10000 ;
  cell length 50 , width 200 ;
die bottomdie :
   layer 48 silicon ;
   source 2 silicon ;
die topdie :
   source 2 silicon ;
   layer 48 silicon ;
stack:
   die die2 topdie floorplan "quadrants.flp" ;
   die die1 bottomdie floorplan "uniform.flp" ;
solver:
  steady ;
  initial temperature 300.0 ;
output:
  T ( die1, 5000, 4800, "node1.txt", final ) ;
  T ( die2, 0, 0, "node2.txt", final ) ;
"""
QUADRANTS = "".join(
    f"q{i} :\n position {x}, {y} ;\n dimension 5000, 5000 ;\n power values {p} ;\n"
    for i, (x, y, p) in enumerate([(0, 0, 12.5), (5000, 0, 0), (0, 5000, 0), (5000, 5000, 12.5)])
)
SINK = " heat sink :\n heat transfer coefficient 1e-07 ;\n temperature 300.0 ;\n"


@pytest.mark.parametrize(
    ("sinks", "node1", "node2"),
    [
        ("top" + SINK, 307.821, 310.008),
        ("bottom" + SINK, 307.441, 310.388),
        ("top" + SINK + "bottom" + SINK, 303.745, 305.004),
    ],
)
def test_agrees_with_3dice_published_solid_results(
    workdir: Path, sinks: str, node1: float, node2: float
) -> None:
    (workdir / "uniform.flp").write_text(
        "all :\n position 0, 0 ;\n dimension 10000, 10000 ;\n power values 50.0 ;\n"
    )
    (workdir / "quadrants.flp").write_text(QUADRANTS)
    (workdir / "dies.stk").write_text(PUBLISHED_DIES.format(sinks=sinks))
    model = build_model(read_stk(workdir / "dies.stk"))
    t, _ = solve_system(model.system, "direct")
    write_outputs(model, t, workdir)
    for name, expected in (("node1.txt", node1), ("node2.txt", node2)):
        value = float((workdir / name).read_text().splitlines()[-1].split()[-1])
        assert abs(value - expected) <= 0.0005 + 1e-9


def test_a_converted_stack_keeps_the_heat_capacities_for_transient_runs(workdir: Path) -> None:
    """3D-ICE's volumetric heat capacities, J/(µm³·K), become J/(m³·K) (x 1e18), so the
    converted stack runs transiently and rises to its steady state."""
    from chiptherm import load_stack, save_stack
    from chiptherm.formats.convert import stack_from_3dice
    from chiptherm.transient import simulate

    doc = read_stk(write_stk(workdir / "a.stk"))
    stack = load_stack(save_stack(stack_from_3dice(doc), workdir / "converted.yaml"))
    assert stack.material("SILICON").heat_capacity == pytest.approx(1.628e6)
    assert stack.material("BEOL").heat_capacity == pytest.approx(2.175e6)
    result = simulate(stack, frames=0)
    rise = result.steady_peak_k - result.peak_k[0]
    assert rise > 1.0
    assert result.peak_k[-1] == pytest.approx(result.steady_peak_k, abs=0.01 * rise)


def test_a_floorplan_beside_the_stk_is_found_from_another_folder(workdir: Path) -> None:
    from typer.testing import CliRunner

    from chiptherm.cli import app

    other = workdir / "other" / "dir"
    other.mkdir(parents=True)
    (workdir / "die.flp").rename(other / "die.flp")
    stk = write_stk(other / "stack.stk")
    line = next(i for i, t in enumerate(stk.read_text().splitlines(), 1) if "die.flp" in t)
    res = CliRunner().invoke(app, ["convert", str(stk), "--to", str(workdir / "s.yaml")])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert f"warning: {stk}:{line}: floorplan die.flp is not in the working directory" in text
    assert (workdir / "s.yaml").exists()
    (other / "die.flp").unlink()
    res = CliRunner().invoke(app, ["convert", str(stk), "--to", str(workdir / "t.yaml")])
    assert res.exit_code == 1
    assert f"{stk}:{line}: floorplan die.flp is neither in the working directory" in " ".join(
        res.output.split()
    )


def test_power_slots_beyond_the_first_are_named_not_dropped_silently(workdir: Path) -> None:
    """A steady run takes each element's first power value, as 3D-ICE does, and says where the
    floorplan holds more (the time slots of a transient run)."""
    with pytest.warns(ChipthermWarning, match=r"die.flp:1: element core has 2 power values"):
        model = build_model(read_stk(write_stk(workdir / "a.stk")))
    assert math.isclose(float(model.system.q.sum()), 1.5)  # core 1.0 W (first slot), cache 0.5
