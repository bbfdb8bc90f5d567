"""3D-ICE cavities (microchannel 4RM and 2RM, pin fins): 3D-ICE's published steady and
transient outputs, the coolant's energy balance and outlet temperature, symmetry across the
flow, and the errors of the new constructs."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from chiptherm.cli import app
from chiptherm.errors import ChipthermWarning, FormatError, SolverError, UnsupportedError
from chiptherm.formats.convert import stack_from_3dice
from chiptherm.formats.threedice import build_model
from chiptherm.formats.threedice_files import read_stk
from chiptherm.formats.threedice_solve import TRANSIENT_BLOCK_CELLS, solve_steady
from chiptherm.transient.threedice import run_transient

COOLANT = """   coolant volumetric heat capacity 4.172638e-12 ;
   coolant incoming temperature 300.0 ;
"""
CAVITIES = {
    "4rm": """microchannel 4rm :
   height 100 ;
   channel length 50 ;
   wall length 50 ;
   first wall length 25 ;
   last wall length 25 ;
   wall material silicon ;
   coolant flow rate 48.0 ;
   coolant heat transfer coefficient side 2.7132e-08 , top 4.7132e-08 , bottom 5.7132e-08 ;
"""
    + COOLANT,
    "2rm": """microchannel 2rm :
   height 100 ;
   channel length 50 ;
   wall length 50 ;
   wall material silicon ;
   coolant flow rate 48.0 ;
   coolant heat transfer coefficient top 4.7132e-8 , bottom 5.7132e-8 ;
"""
    + COOLANT,
    "pinfin": """pinfin :
   height 100 ;
   pin diameter 50 ;
   pin pitch 100 ;
   pin distribution inline ;
   pin material silicon ;
   darcy velocity 1.1066e+06 ;
"""
    + COOLANT,
}
# two dies, 1 cm², 48 + 2 µm of silicon each, on both sides of the cavity, no heat sink
STK = """material silicon :
   thermal conductivity 1.30e-04 ;
   volumetric heat capacity 1.63566e-12 ;
{cavity}
dimensions :
   chip length 10000 , width 10000 ;
   cell length {cell} , width 200 ;
die bottomdie :
   layer 48 silicon ;
   source 2 silicon ;
die topdie :
   source 2 silicon ;
   layer 48 silicon ;
stack:
   die die2 topdie floorplan "{flp}" ;
   channel channel1 ;
   die die1 bottomdie floorplan "{flp}" ;
solver:
   {solver}
   initial temperature 300.0 ;
output:
   T ( die1, {x}, 4800, "node1.txt", {when} ) ;
   T ( die2, 0, 0, "node2.txt", {when} ) ;
"""
SLOTS = "50.0, 50.0, 50.0, 50.0, 0.0, 0.0, 0.0, 0.0, 50.0, 50.0, 50.0, 50.0"
BACKGROUND = f"background:\n position 0, 0 ;\n dimension 10000, 10000 ;\n power values {SLOTS} ;\n"
QUARTERS = {  # 3D-ICE's four elements, first power values; the 4RM version on its columns
    "four_elements.flp": [
        ("background1", "position 0, 0 ; dimension 5000, 5000 ;", 12.5),
        ("background2", "position 5000, 0 ; dimension 5000, 5000 ;", 0.0),
        ("background3", "position 0, 5000 ; dimension 5000, 5000 ;", 0.0),
        ("background4", "position 5000, 5000 ; dimension 5000, 5000 ;", 12.5),
    ],
    "four_elements_4rm.flp": [
        (
            "background1",
            "rectangle (0, 0, 2000, 3000) ; rectangle (2000, 0, 2000, 3000) ; "
            "rectangle (4000, 0, 975, 3000) ; rectangle (0, 3000, 3000, 2000) ; "
            "rectangle (3000, 3000, 1975, 2000) ;",
            12.5,
        ),
        ("background2", "position 4975, 0 ; dimension 5025, 5000 ;", 0.0),
        ("background3", "rectangle (0, 5000, 4975, 5000) ;", 0.0),
        (
            "background4",
            "rectangle (4975, 5000, 2025, 2000) ; rectangle (7000, 5000, 1000, 2000) ; "
            "rectangle (8000, 5000, 2000, 2000) ; rectangle (4975, 7000, 3025, 3000) ; "
            "rectangle (8000, 7000, 2000, 1000) ; rectangle (8000, 8000, 2000, 2000) ;",
            12.5,
        ),
    ],
}
# 3D-ICE's published steady outputs (test/{mc4rm,mc2rm,pf2rm}/steady/output_*.txt):
# die1 at (x, 4800) and die2 at (0, 0), K
PUBLISHED_STEADY = [
    ("4rm", "background.flp", 5000, 324.541, 311.165),
    ("4rm", "four_elements_4rm.flp", 5000, 311.926, 311.224),
    ("2rm", "background.flp", 5000, 324.602, 311.251),
    ("2rm", "four_elements.flp", 4800, 313.629, 311.255),
    ("pinfin", "background.flp", 5000, 318.735, 308.826),
    ("pinfin", "four_elements.flp", 4800, 310.619, 308.833),
]
# test/mc2rm/transient/output_background.txt: (time s, die1, die2) K, steps of 2 ms
PUBLISHED_2RM_TRANSIENT = [
    (0.002, 305.725, 304.744),
    (0.004, 310.107, 307.391),
    (0.010, 318.655, 310.399),
    (0.040, 324.578, 311.251),
    (0.082, 318.877, 306.507),
    (0.100, 301.064, 300.077),
    (0.162, 305.725, 304.744),
    (0.240, 324.602, 311.251),
]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "background.flp").write_text(BACKGROUND)
    for name, elements in QUARTERS.items():
        text = "".join(f"{n} :\n {shape}\n power values {p} ;\n" for n, shape, p in elements)
        (tmp_path / name).write_text(text)
    return tmp_path


def write(
    path: Path,
    cavity: str,
    flp: str = "background.flp",
    x: float = 5000,
    solver: str = "steady ;",
    when: str = "final",
) -> Path:
    cell = 50 if cavity == "4rm" else 200
    path.write_text(
        STK.format(cavity=CAVITIES[cavity], cell=cell, flp=flp, x=x, solver=solver, when=when)
    )
    return path


def last_value(path: Path) -> float:
    return float(path.read_text().strip().splitlines()[-1].split()[-1])


@pytest.mark.parametrize(("cavity", "flp", "x", "node1", "node2"), PUBLISHED_STEADY)
def test_agrees_with_3dice_published_cavity_results(
    workdir: Path, cavity: str, flp: str, x: float, node1: float, node2: float
) -> None:
    result = CliRunner().invoke(app, ["3dice", str(write(workdir / "c.stk", cavity, flp, x))])
    assert result.exit_code == 0, result.output
    assert last_value(workdir / "node1.txt") == pytest.approx(node1, abs=5e-4)
    assert last_value(workdir / "node2.txt") == pytest.approx(node2, abs=5e-4)


def test_4rm_columns_are_its_walls_and_channels(workdir: Path) -> None:
    model = build_model(read_stk(write(workdir / "c.stk", "4rm")))
    widths = np.diff(model.x_edges)
    # first wall, then 100 channels of 50 µm between 99 walls of 50 µm, last wall: 201 columns
    assert model.system.shape == (5, 50, 201)
    assert widths[0] == widths[-1] == 25 and np.all(widths[1:-1] == 50)
    assert model.layer_of_element["channel1"] == 2


@pytest.mark.parametrize("cavity", ["4rm", "2rm", "pinfin"])
def test_the_coolant_carries_away_all_the_power(workdir: Path, cavity: str) -> None:
    model = build_model(read_stk(write(workdir / "c.stk", cavity)))
    field, info = solve_steady(model)
    power = float(model.system.q.sum())
    assert power == pytest.approx(100.0)  # 50 W per die, no heat sink
    assert model.cavity is not None
    assert model.cavity.heat_carried(field) == pytest.approx(power, rel=1e-9)
    assert info.relative_residual < 1e-10
    # no cell is colder than the incoming coolant (no negative power anywhere)
    assert field.min() >= 300.0 - 1e-9


@pytest.mark.parametrize("cavity", ["4rm", "2rm", "pinfin"])
def test_block_solve_equals_the_factorization(workdir: Path, cavity: str) -> None:
    """The block solve (solid by chiptherm's solvers, coolant by its channels, GMRES) and
    LU of the whole stack give the same field; 2RM and pin fins take the transform solver
    for their solid."""
    (workdir / "spots.flp").write_text(
        "hot :\n position 1000, 2000 ; dimension 2000, 3000 ; power values 30 ;\n"
        "warm :\n position 6000, 0 ; dimension 1000, 8000 ; power values 5 ;\n"
    )
    path = write(workdir / "c.stk", cavity, "spots.flp")
    path.write_text(path.read_text().replace("width 200 ;", "width 500 ;"))  # 20 rows
    model = build_model(read_stk(path))
    by_lu, lu = solve_steady(model, method="lu")
    by_blocks, blocks = solve_steady(model, method="block")
    assert lu.method == "lu" and blocks.method.startswith("gmres-block")
    assert ("transform" in blocks.method) == (cavity != "4rm")
    assert blocks.relative_residual < 1e-10
    assert np.abs(by_blocks - by_lu).max() < 1e-7
    assert solve_steady(model)[1].method == (lu.method if cavity == "4rm" else blocks.method)


@pytest.mark.parametrize("cavity", ["4rm", "2rm"])
def test_outlet_temperature_is_the_power_over_the_flows_heat_capacity_rate(
    workdir: Path, cavity: str
) -> None:
    """Every channel (4RM) or column of equal width (2RM) carries the same flow, so their
    mean rise at the outlet is P / (ρc·Q)."""
    model = build_model(read_stk(write(workdir / "c.stk", cavity)))
    field, _ = solve_steady(model)
    assert model.cavity is not None
    outlets = model.cavity.outlets(field)[0]
    rate = 4.172638e-12 * 48.0 * 1e12 / 60.0  # J/(µm³·K) · µm³/s = W/K
    assert len(outlets) == (100 if cavity == "4rm" else 50)  # channels / columns of 200 µm
    assert float(outlets.mean()) - 300.0 == pytest.approx(100.0 / rate, rel=1e-9)


@pytest.mark.parametrize("cavity", ["2rm", "pinfin"])
def test_a_floorplan_mirrored_across_the_flow_mirrors_the_field(workdir: Path, cavity: str) -> None:
    (workdir / "left.flp").write_text(
        "hot :\n position 1000, 2000 ; dimension 2000, 3000 ; power values 30 ;\n"
        "warm :\n position 6000, 0 ; dimension 1000, 8000 ; power values 5 ;\n"
    )
    (workdir / "right.flp").write_text(
        "hot :\n position 7000, 2000 ; dimension 2000, 3000 ; power values 30 ;\n"
        "warm :\n position 3000, 0 ; dimension 1000, 8000 ; power values 5 ;\n"
    )
    left, _ = solve_steady(build_model(read_stk(write(workdir / "l.stk", cavity, "left.flp"))))
    right, _ = solve_steady(build_model(read_stk(write(workdir / "r.stk", cavity, "right.flp"))))
    assert np.allclose(right, left[:, :, ::-1], rtol=0, atol=1e-9)
    # along the flow there is no such symmetry: the coolant warms towards the outlet
    assert not np.allclose(left, left[:, ::-1, :], atol=1e-3)


@pytest.mark.parametrize(
    ("method", "used"), [("auto", "lu"), ("block", "gmres-block (transform for the solid)")]
)
def test_2rm_transient_agrees_with_3dice_published_outputs(
    workdir: Path, method: str, used: str
) -> None:
    stk = write(workdir / "t.stk", "2rm", solver="transient step 0.002, slot 0.02 ;", when="step")
    model = build_model(read_stk(stk))
    assert model.system.size < TRANSIENT_BLOCK_CELLS  # auto: one factorization pays here
    run = run_transient(model, method=method)
    assert run.steps == 120 and run.method == used
    series = [
        {
            round(float(t), 3): float(v)
            for t, v in (
                line.split() for line in p.read_text().splitlines() if not line.startswith("%")
            )
        }
        for p in (workdir / "node1.txt", workdir / "node2.txt")
    ]
    for time, die1, die2 in PUBLISHED_2RM_TRANSIENT:
        assert series[0][time] == pytest.approx(die1, abs=5e-4)
        assert series[1][time] == pytest.approx(die2, abs=5e-4)
    # every joule put in left with the coolant or is still stored
    put_in = float(run.power_w.sum() * 0.002)
    left = float(run.heat_out_w.sum() * 0.002)
    assert put_in - left - run.stored_j == pytest.approx(0.0, abs=1e-9 * put_in)


def test_cli_json_reports_the_coolant_in_the_energy_balance(workdir: Path) -> None:
    result = CliRunner().invoke(app, ["3dice", str(write(workdir / "c.stk", "pinfin")), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["solver"]["method"] == "gmres-block (transform for the solid)"
    assert summary["solver"]["why"].startswith("2RM/pin-fin cavity: the solid by the exact")
    assert summary["energy"]["heat_out"] == pytest.approx(100.0, rel=1e-9)


def test_a_cavity_stack_is_not_converted(workdir: Path) -> None:
    doc = read_stk(write(workdir / "c.stk", "2rm"))
    with pytest.raises(UnsupportedError, match=r"c.stk:\d+: a 2rm cavity cannot be converted"):
        stack_from_3dice(doc)


@pytest.mark.parametrize(
    ("cavity", "change", "message"),
    [
        (
            "4rm",
            ("first wall length 25", "first wall length 30"),
            r"c.stk:5: microchannel 4rm:.*do not fill the chip length 10000",
        ),
        (
            "4rm",
            ("wall material silicon", "wall material copper"),
            r"c.stk:5: 4rm cavity: unknown wall material 'copper'",
        ),
        (
            "4rm",
            ("coolant flow rate 48.0", "coolant flow rate 0"),
            r"c.stk:11: coolant flow rate 0: must be > 0",
        ),
        (
            "4rm",
            ("side 2.7132e-08 ,", "side 2.7132e-08 "),
            r"c.stk:12: column \d+: syntax error at 'top'; expected ','",
        ),
        ("2rm", ("height 100", "height -1"), r"c.stk:5: cavity height -1: must be > 0"),
        (
            "pinfin",
            ("pin diameter 50", "pin diameter 120"),
            r"c.stk:6: pin diameter 120 must be smaller than the pin pitch 100",
        ),
        (
            "pinfin",
            ("pin distribution inline", "pin distribution diagonal"),
            r"c.stk:8: column \d+: syntax error at 'diagonal'; expected inline or staggered",
        ),
        (
            "2rm",
            ("channel channel1 ;", "channel channel1 ;\n   channel channel2 ;"),
            r"c.stk:\d+: channels channel1 and channel2 are adjacent",
        ),
        (
            "2rm",
            ('die die2 topdie floorplan "background.flp" ;\n', ""),
            r"c.stk:\d+: channel channel1 cannot be the top-most stack element",
        ),
    ],
)
def test_cavity_errors_name_file_and_line(
    workdir: Path, cavity: str, change: tuple[str, str], message: str
) -> None:
    path = write(workdir / "c.stk", cavity)
    text = path.read_text()
    assert change[0] in text
    path.write_text(text.replace(*change))
    with pytest.raises(FormatError, match=message):
        build_model(read_stk(path))


def test_tcoolant_reports_the_outlet(workdir: Path) -> None:
    path = write(workdir / "c.stk", "4rm", solver="transient step 0.002, slot 0.02 ;")
    path.write_text(
        path.read_text()
        + '   Tcoolant ( channel1, "avg.txt", average, slot ) ;\n'
        + '   Tcoolant ( channel1, "max.txt", maximum, final ) ;\n'
    )
    model = build_model(read_stk(path))
    run = run_transient(model)
    avg = (workdir / "avg.txt").read_text().splitlines()
    assert avg[0] == "% Average temperatures for the outlet of the channel channel1"
    assert len(avg) == 2 + run.slots
    # the fourth slot ends at 80 ms, after 4 time constants: the outlet's mean rise is P/(ρc·Q)
    rate = 4.172638e-12 * 48.0 * 1e12 / 60.0
    assert avg[2 + 3].split()[0] == "0.080"
    assert float(avg[2 + 3].split()[1]) == pytest.approx(300.0 + 100.0 / rate, abs=2e-3)
    # the coolant cells alone: their hottest, at the end of the run
    assert model.cavity is not None
    hottest = float(model.cavity.outlets(run.final)[0].max())
    assert last_value(workdir / "max.txt") == pytest.approx(hottest, abs=5e-4)


def test_tcoolant_needs_a_channel(workdir: Path) -> None:
    path = write(workdir / "c.stk", "2rm")
    path.write_text(path.read_text() + '   Tcoolant ( die1, "c.txt", maximum, final ) ;\n')
    with pytest.raises(FormatError, match="Tcoolant: 'die1' is not a channel"):
        read_stk(path)


LUMPED = """material hot :
   thermal conductivity 1.0e-1 ;
   volumetric heat capacity 1.63566e-12 ;
pinfin :
   height 100 ;
   pin diameter 50 ;
   pin pitch 100 ;
   pin distribution inline ;
   pin material hot ;
   darcy velocity 1e8 ;
   coolant volumetric heat capacity 4.172638e-14 ;
   coolant incoming temperature 300.0 ;
dimensions :
   chip length 200 , width 200 ;
   cell length 100 , width 100 ;
die d :
   layer 1000 hot ;
   source 2 hot ;
stack:
   die top d floorplan "blk.flp" ;
   channel c ;
   die bottom d floorplan "blk.flp" ;
solver:
   {solver}
   initial temperature 300.0 ;
"""


def test_transient_slots_follow_the_lumped_model(workdir: Path) -> None:
    """Dies of a very conductive material over a coolant of little heat capacity: one
    temperature T and one time constant. Its conductance to the coolant G = P/(T - T_in)
    comes from the steady solve, its capacity C from the cells; then every backward-Euler
    step must follow (C/Δt + G)·T' = C/Δt·T + P + G·T_in, and each slot the exponential."""
    slots = (0.4, 0.0, 0.2)  # W in the two dies together, slots of 20 ms
    values = ", ".join(str(p / 2) for p in slots)
    (workdir / "blk.flp").write_text(
        f"all :\n position 0, 0 ;\n dimension 200, 200 ;\n power values {values} ;\n"
    )
    (workdir / "s.stk").write_text(LUMPED.format(solver="steady ;"))
    model = build_model(read_stk(workdir / "s.stk"))
    field, _ = solve_steady(model)
    die = field[model.layer_of_element["top"]]
    assert np.ptp(die) < 0.01  # isothermal dies
    g = slots[0] / (float(die.mean()) - 300.0)
    (workdir / "t.stk").write_text(LUMPED.format(solver="transient step 0.001, slot 0.02 ;"))
    model = build_model(read_stk(workdir / "t.stk"))
    c = float(model.capacity.sum())
    run = run_transient(model)
    dt, t_prev, recurrence, exponential = 0.001, 300.0, [300.0], [300.0]
    for p in slots:
        t_end = 300.0 + p / g
        for k in range(1, 21):
            recurrence.append((recurrence[-1] * c / dt + p + g * 300.0) / (c / dt + g))
            exponential.append(t_end + (t_prev - t_end) * np.exp(-k * dt * g / c))
        t_prev = exponential[-1]
    rise = max(recurrence) - 300.0
    assert rise > 10.0 and c / g == pytest.approx(0.0056, rel=0.05)  # τ = 5.6 ms
    assert np.abs(run.peak_k - recurrence).max() < 5e-3 * rise
    assert np.abs(run.peak_k - exponential).max() < 0.04 * rise  # Euler's error at Δt = τ/5.6


@pytest.mark.parametrize("scheme", ["euler", "bdf2"])
def test_every_joule_is_accounted_for_by_either_scheme(workdir: Path, scheme: str) -> None:
    """Power in = heat carried away + heat stored, step by step, where the stored heat is
    the scheme's own storage term (BDF2's differs from C·ΔT by half its first and last
    steps' changes in each slot)."""
    (workdir / "blk.flp").write_text(
        "all :\n position 0, 0 ;\n dimension 200, 200 ;\n power values 0.2, 0, 0.1 ;\n"
    )
    (workdir / "t.stk").write_text(LUMPED.format(solver="transient step 0.001, slot 0.02 ;"))
    model = build_model(read_stk(workdir / "t.stk"))
    run = run_transient(model, scheme=scheme)  # type: ignore[arg-type]
    put_in = float(run.power_w.sum() * 0.001)
    left = float(run.heat_out_w.sum() * 0.001)
    assert put_in - left - run.stored_j == pytest.approx(0.0, abs=1e-8 * put_in)
    naive = float((model.capacity * (run.final - 300.0)).sum())
    if scheme == "euler":
        assert run.stored_j == pytest.approx(naive, rel=1e-9)
    else:  # close to C·ΔT, not equal
        assert run.stored_j == pytest.approx(naive, rel=0.2)
        assert run.stored_j != pytest.approx(naive, rel=1e-6)


def test_4rm_floorplans_fall_on_the_walls_and_channels_they_cover(workdir: Path) -> None:
    """On the 4RM grid's unequal columns each element's power is split by exact overlap (it
    sums to the element's power) and the cells its Tflp statistics read are the cells it
    covers."""
    model = build_model(read_stk(write(workdir / "c.stk", "4rm", "four_elements_4rm.flp")))
    assert len(model.sources) == 8  # four elements on each die
    for source in model.sources:
        assert source.share.sum() == pytest.approx(1.0, abs=1e-12)
        ranges = model.element_ranges(source.element)
        read = np.zeros(source.share.shape, dtype=bool)
        for r0, r1, c0, c1 in ranges:
            read[r0 : r1 + 1, c0 : c1 + 1] = True
        assert np.array_equal(read, source.share > 1e-12), source.element.name
    # the element boundary at x = 4975 µm is a column edge of this grid: background1 ends
    # in column 99 (a channel, [4925, 4975)), background2 starts at column 100 (a wall)
    background1 = next(s for s in model.sources if s.element.name == "background1")
    assert model.x_edges[100] == 4975.0
    assert background1.share[:, 99].sum() > 0 and background1.share[:, 100].sum() == 0


@pytest.mark.parametrize("cavity", ["4rm", "2rm"])
def test_a_heat_sink_and_a_cavity_share_the_heat(workdir: Path, cavity: str) -> None:
    """With a top heat sink as well, the power leaves through both, and a better sink takes
    a larger share; on 2RM the block solve (its solid's faces included) agrees with LU."""
    shares = []
    for htc in ("1e-08", "1e-07"):
        path = write(workdir / "c.stk", cavity)
        sink = f"top heat sink :\n   heat transfer coefficient {htc} ;\n   temperature 300.0 ;\n"
        text = path.read_text()  # 3D-ICE's order: materials, heat sinks, cavity, dimensions
        cut = text.index("microchannel") if cavity != "pinfin" else text.index("pinfin")
        path.write_text(text[:cut] + sink + text[cut:])
        model = build_model(read_stk(path))
        by_lu, _ = solve_steady(model, method="lu")
        if cavity == "2rm":
            by_blocks, _ = solve_steady(model, method="block")
            assert np.abs(by_blocks - by_lu).max() < 1e-7
        assert model.cavity is not None
        coolant = model.cavity.heat_carried(by_lu)
        through_sink = sum(model.system.heat_out(by_lu).values())
        assert coolant + through_sink == pytest.approx(100.0, rel=1e-9)
        assert 0 < through_sink < 100.0
        shares.append(through_sink / 100.0)
    assert shares[1] > shares[0]


@pytest.mark.filterwarnings("ignore::chiptherm.errors.ChipthermWarning")  # undershoots
@settings(max_examples=12, deadline=None)
@given(
    model=st.sampled_from(["4rm", "2rm", "pinfin"]),
    flow=st.floats(0.5, 100.0),
    htc=st.floats(1e-9, 1e-6),
    height=st.floats(20.0, 400.0),
    watts=st.floats(0.1, 20.0),
    rows=st.integers(2, 12),
)
def test_any_small_cavity_stack_balances_and_blocks_agree(
    tmp_path_factory, model: str, flow: float, htc: float, height: float, watts: float, rows: int
) -> None:
    """Random coolants, films, cavity heights and powers on a 2 mm chip: the coolant
    carries away exactly the power, and auto's solve (blocks, or LU where they stall)
    equals LU. (No cell colder than the inlet is not asked: 3D-ICE's central differences
    undershoot it on coarse rows, and chiptherm warns.)"""
    folder = tmp_path_factory.mktemp("cavity")
    (folder / "hot.flp").write_text(
        f"hot :\n position 300, 500 ; dimension 700, 900 ; power values {watts} ;\n"
    )
    cavity = {
        "4rm": "microchannel 4rm :\n height {h} ;\n channel length 100 ;\n wall length 100 ;\n"
        " first wall length 50 ;\n last wall length 50 ;\n wall material si ;\n"
        " coolant flow rate {q} ;\n"
        " coolant heat transfer coefficient {k} ;\n",
        "2rm": "microchannel 2rm :\n height {h} ;\n channel length 100 ;\n wall length 100 ;\n"
        " wall material si ;\n coolant flow rate {q} ;\n"
        " coolant heat transfer coefficient {k} ;\n",
        "pinfin": "pinfin :\n height {h} ;\n pin diameter 80 ;\n pin pitch 200 ;\n"
        " pin distribution staggered ;\n pin material si ;\n darcy velocity {u} ;\n",
    }[model].format(h=height, q=flow, k=htc, u=flow * 1e4)
    text = (
        "material si :\n thermal conductivity 1.3e-4 ;\n volumetric heat capacity 1.6e-12 ;\n"
        + cavity
        + COOLANT
        + "dimensions :\n chip length 2000, width 2000 ;\n"
        + f" cell length 100, width {2000 / rows} ;\n"
        + "die d :\n layer 50 si ;\n source 2 si ;\n"
        + 'stack:\n die top d floorplan "hot.flp" ;\n channel c ;\n'
        + ' die bottom d floorplan "hot.flp" ;\n'
        "solver:\n steady ;\n initial temperature 300.0 ;\n"
    )
    path = folder / "c.stk"
    path.write_text(text)
    built = build_model(read_stk(path))
    by_lu, _ = solve_steady(built, method="lu")
    assert built.cavity is not None
    assert built.cavity.heat_carried(by_lu) == pytest.approx(2 * watts, rel=1e-8)
    by_auto, _ = solve_steady(built)  # blocks for 2RM and pin fins, LU where they stall
    assert np.abs(by_auto - by_lu).max() < 1e-6 * max(1.0, by_lu.max() - 300.0)


def test_coarse_rows_undershoot_the_inlet_and_say_so(workdir: Path) -> None:
    """Three rows along the flow, a slow coolant and strong films: 3D-ICE's central
    differences put cells below the incoming temperature; the run warns, naming the cell
    width, and five times finer rows remove it."""
    text = (
        "material si :\n thermal conductivity 1.3e-4 ;\n volumetric heat capacity 1.6e-12 ;\n"
        "microchannel 2rm :\n height 20 ;\n channel length 100 ;\n wall length 100 ;\n"
        " wall material si ;\n coolant flow rate 2.0 ;\n"
        " coolant heat transfer coefficient 4.9e-7 ;\n" + COOLANT + "dimensions :\n"
        " chip length 2000, width 2000 ;\n cell length 100, width {width} ;\n"
        "die d :\n layer 50 si ;\n source 2 si ;\n"
        'stack:\n die top d floorplan "hot.flp" ;\n channel c ;\n'
        ' die bottom d floorplan "hot.flp" ;\n'
        "solver:\n steady ;\n initial temperature 300.0 ;\n"
    )
    (workdir / "hot.flp").write_text(
        "hot :\n position 300, 500 ; dimension 700, 900 ; power values 1.0 ;\n"
    )
    (workdir / "coarse.stk").write_text(text.replace("{width}", str(2000 / 3)))
    with pytest.warns(ChipthermWarning, match=r"coarse.stk: the coldest cell, 299\.\d+ K"):
        solve_steady(build_model(read_stk(workdir / "coarse.stk")))
    (workdir / "fine.stk").write_text(text.replace("{width}", str(2000 / 15)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChipthermWarning)
        field, _ = solve_steady(build_model(read_stk(workdir / "fine.stk")))
    assert field.min() >= 300.0


SLOW_PINS = (
    "material si :\n thermal conductivity 1.3e-4 ;\n volumetric heat capacity 1.6e-12 ;\n"
    "pinfin :\n height 20 ;\n pin diameter 80 ;\n pin pitch 200 ;\n"
    " pin distribution staggered ;\n pin material si ;\n darcy velocity 5000 ;\n"
    + COOLANT
    + "dimensions :\n chip length 2000, width 2000 ;\n cell length 100, width {width} ;\n"
    "die d :\n layer 50 si ;\n source 2 si ;\n"
    'stack:\n die top d floorplan "hot.flp" ;\n channel c ;\n'
    ' die bottom d floorplan "hot.flp" ;\n'
    "solver:\n steady ;\n initial temperature 300.0 ;\n"
)


def test_a_stalled_block_solve_is_an_error_when_asked_for_and_factorized_under_auto(
    workdir: Path,
) -> None:
    """A slow coolant through short, low pins on 2 rows: GMRES over the block sweeps stops
    short of the tolerance. Asked for, that is an error naming the residual; under auto the
    stack is factorized instead, and the summary says so."""
    (workdir / "hot.flp").write_text(
        "hot :\n position 300, 500 ; dimension 700, 900 ; power values 1.0 ;\n"
    )
    (workdir / "c.stk").write_text(SLOW_PINS.format(width=1000))
    model = build_model(read_stk(workdir / "c.stk"))
    with pytest.raises(SolverError, match=r"block solve stalled at a relative residual of"):
        solve_steady(model, method="block")
    field, info = solve_steady(model)
    assert info.method == "lu" and info.reason.startswith("blocks stalled (")
    assert info.relative_residual < 1e-9  # this system allows no better: LU reaches 1.3e-10
    assert model.cavity is not None
    assert model.cavity.heat_carried(field) == pytest.approx(2.0, rel=1e-9)


def test_a_cavity_needs_two_rows_along_the_flow(workdir: Path) -> None:
    (workdir / "hot.flp").write_text(
        "hot :\n position 300, 500 ; dimension 700, 900 ; power values 1.0 ;\n"
    )
    (workdir / "c.stk").write_text(SLOW_PINS.format(width=2000))
    with pytest.raises(FormatError, match=r"c.stk:5: a cavity needs at least 2 rows .* give 1"):
        build_model(read_stk(workdir / "c.stk"))


def test_cli_refuses_an_unknown_cavity_solver(workdir: Path) -> None:
    path = write(workdir / "c.stk", "2rm")
    result = CliRunner().invoke(app, ["3dice", str(path), "--solver", "cg"])
    assert result.exit_code != 0
    assert "--solver 'cg': expected auto, lu, block" in result.output
