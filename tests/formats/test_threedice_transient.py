"""3D-ICE transient runs: 3D-ICE's published transient outputs, a lumped cell against its
exact backward-Euler recurrence and its exponential, the energy balance, the output instants,
and the errors of the new constructs."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from chiptherm.cli import app
from chiptherm.errors import ChipthermWarning, FormatError
from chiptherm.formats.threedice import build_model
from chiptherm.formats.threedice_files import read_stk
from chiptherm.transient.threedice import run_transient

from .test_threedice import PUBLISHED_DIES, QUADRANTS, SINK

# one silicon cell on a sink: C = c·V, G = the half-cell in series with the film, τ = C/G
# (82 ms; slots of 10 ms)
CELL = """material silicon :
   thermal conductivity 1.30e-04 ;
   volumetric heat capacity 1.63566e-12 ;
top heat sink :
   heat transfer coefficient 1e-09 ;
   temperature 300.0 ;
dimensions :
   chip length 100, width 100 ;
   cell length 100, width 100 ;
die chip :
   source 50 silicon ;
stack:
   die DIE chip floorplan "cell.flp" ;
solver:
   transient step {step}, slot 0.01 ;
   initial temperature 300.0 ;
output:
   T ( DIE, 50, 50, "t.txt", step ) ;
   Tflpel ( DIE.core, "slot.txt", average, slot ) ;
   Pmap ( DIE, "pmap.txt", slot ) ;
   Tmap ( DIE, "final.txt", final ) ;
"""
SLOT_POWERS = (2e-4, 0.0, 1e-4)  # W


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    powers = ", ".join(str(p) for p in SLOT_POWERS)
    (tmp_path / "cell.flp").write_text(
        f"core :\n position 0, 0 ;\n dimension 100, 100 ;\n power values {powers} ;\n"
    )
    return tmp_path


def cell_constants() -> tuple[float, float]:
    """(C J/K, G W/K) of the lumped cell: 100 x 100 x 50 µm of silicon under the sink."""
    k, c, h, area, height = 1.30e-4, 1.63566e-12, 1e-9, 100.0 * 100.0, 50.0
    return c * area * height, 2 * k * h * area / (h * height + 2 * k)


def cell_run(workdir: Path, step: float, scheme: str = "euler"):
    path = workdir / "cell.stk"
    path.write_text(CELL.format(step=step))
    return run_transient(build_model(read_stk(path)), workdir, scheme=scheme)  # type: ignore[arg-type]


def data_lines(path: Path) -> list[list[float]]:
    """The numbers of each data line of an output file (headers left out)."""
    lines = path.read_text().splitlines()
    return [[float(v) for v in line.split()] for line in lines if line and line[0] != "%"]


def test_the_lumped_cell_follows_backward_euler_exactly(workdir: Path) -> None:
    """T_n = T∞ + (T_{n-1} - T∞)/(1 + Δt/τ) in every step, the power switching per slot."""
    capacity, conductance = cell_constants()
    run = cell_run(workdir, 0.001)
    expected, t = [300.0], 300.0
    for watts in SLOT_POWERS:
        for _ in range(10):
            t = (
                300.0
                + watts / conductance
                + (t - 300.0 - watts / conductance) / (1 + 0.001 * conductance / capacity)
            )
            expected.append(t)
    assert run.slots == 3 and run.steps == 30
    np.testing.assert_allclose(run.peak_k, expected, rtol=0, atol=1e-9)
    printed = data_lines(workdir / "t.txt")
    assert [row[0] for row in printed] == pytest.approx([0.001 * n for n in range(1, 31)])
    assert [row[1] for row in printed] == pytest.approx(expected[1:], abs=1e-11)


def test_steps_converge_to_the_piecewise_exponential_at_their_order(workdir: Path) -> None:
    """Against the exact solution of C·dT/dt = P(t) - G·(T - T_s): Euler's error halves with
    the step, restarted BDF2's falls about fourfold."""
    capacity, conductance = cell_constants()
    tau = capacity / conductance

    def exact(n_steps: int, step: float) -> np.ndarray:
        t, out = 300.0, [300.0]
        for watts in SLOT_POWERS:
            target = 300.0 + watts / conductance
            for _ in range(n_steps):
                t = target + (t - target) * math.exp(-step / tau)
                out.append(t)
        return np.array(out)

    errors = {}
    for scheme in ("euler", "bdf2"):
        for step in (0.002, 0.001):
            run = cell_run(workdir, step, scheme)
            errors[scheme, step] = np.abs(run.peak_k - exact(round(0.01 / step), step)).max()
    assert 1.8 < errors["euler", 0.002] / errors["euler", 0.001] < 2.2
    assert errors["bdf2", 0.002] / errors["bdf2", 0.001] > 3.0
    assert errors["bdf2", 0.001] < errors["euler", 0.001] / 4


def test_outputs_come_at_their_instants_and_the_energy_balances(workdir: Path) -> None:
    run = cell_run(workdir, 0.001)
    slots = data_lines(workdir / "slot.txt")
    assert [row[0] for row in slots] == pytest.approx([0.01, 0.02, 0.03])
    assert [row[1] for row in slots] == pytest.approx(run.peak_k[[10, 20, 30]], abs=6e-4)
    pmaps = (workdir / "pmap.txt").read_text().split("\n\n")[:-1]  # one map per slot
    heat_in = [float(m.split()[-1]) for m in pmaps]
    _, conductance = cell_constants()
    assert heat_in == pytest.approx([p + conductance * 300.0 for p in SLOT_POWERS], abs=1e-3)
    final = data_lines(workdir / "final.txt")
    assert final == [[pytest.approx(run.peak_k[-1], abs=6e-4)]]
    put_in = run.power_w.sum() * 0.001
    assert put_in == pytest.approx(sum(SLOT_POWERS) * 0.01)
    assert put_in - run.heat_out_w.sum() * 0.001 == pytest.approx(run.stored_j, rel=1e-9)


def test_bdf2_restarts_at_a_switch_so_nothing_dips_below_the_sink(workdir: Path) -> None:
    """Power off after a slot at full power: restarted BDF2 stays above the sink, as the
    maximum principle asks, and only cools while the power is off."""
    run = cell_run(workdir, 0.005, "bdf2")
    assert run.peak_k.min() >= 300.0 - 1e-12
    assert np.all(np.diff(run.peak_k[2:5]) <= 1e-12)  # the off slot only cools


@pytest.mark.parametrize(
    ("sinks", "published"),
    [
        ("top" + SINK, [(304.281, 305.475), (306.202, 307.937), (307.667, 309.810)]),
        ("bottom" + SINK, [(304.072, 305.684), (305.900, 308.239), (307.294, 310.183)]),
        ("top" + SINK + "bottom" + SINK, [(302.666, 303.558), (303.427, 304.579)]),
    ],
)
def test_agrees_with_3dice_published_transient_results(
    workdir: Path, sinks: str, published: list[tuple[float, float]]
) -> None:
    """3D-ICE's solid transient tests (two dies, steps of 2 ms, slots of 20 ms) while both
    dies are powered, from 300 K: the published node temperatures of steps 1, 2 and 5."""
    (workdir / "uniform.flp").write_text(
        "all :\n position 0, 0 ;\n dimension 10000, 10000 ;\n power values 50.0, 50.0 ;\n"
    )
    (workdir / "quadrants.flp").write_text(re.sub(r"values (\S+) ;", r"values \1, \1 ;", QUADRANTS))
    text = PUBLISHED_DIES.format(sinks=sinks).replace(
        "steady ;", "transient step 0.002, slot 0.02 ;"
    )
    (workdir / "dies.stk").write_text(text.replace(", final )", ", step )"))
    run_transient(build_model(read_stk(workdir / "dies.stk")), workdir)
    node1, node2 = data_lines(workdir / "node1.txt"), data_lines(workdir / "node2.txt")
    for step, (t1, t2) in zip((1, 2, 5), published, strict=False):
        assert node1[step - 1][0] == pytest.approx(0.002 * step)
        assert abs(node1[step - 1][1] - t1) <= 0.0005 + 1e-9
        assert abs(node2[step - 1][1] - t2) <= 0.0005 + 1e-9


def test_new_constructs_fail_with_file_and_line(workdir: Path) -> None:
    path = workdir / "cell.stk"
    (workdir / "cell.flp").write_text("core :\n position 0, 0 ;\n dimension 100, 100 ;\n")
    path.write_text(CELL.format(step=0.001))
    with pytest.raises(FormatError, match=r"cell.flp:1: element core has no power values"):
        run_transient(build_model(read_stk(path)), workdir)
    assert not (workdir / "t.txt").exists()
    nosink = CELL.format(step=0.001).replace("top heat sink", "// top heat sink")
    nosink = nosink.replace("   heat transfer coefficient 1e-09 ;\n   temperature 300.0 ;\n", "")
    path.write_text(nosink.replace("capacity 1.63566e-12", "capacity 0"))
    with pytest.raises(FormatError, match="no heat sink and material 'silicon' has no volumetric"):
        read_stk(path)


def test_without_a_sink_the_heat_stays_in(workdir: Path) -> None:
    """No sink at all: a transient run is well posed, and every joule put in is stored."""
    capacity, _ = cell_constants()
    nosink = CELL.format(step=0.001).replace("top heat sink :\n", "")
    nosink = nosink.replace("   heat transfer coefficient 1e-09 ;\n   temperature 300.0 ;\n", "")
    (workdir / "cell.stk").write_text(nosink)
    run = run_transient(build_model(read_stk(workdir / "cell.stk")), workdir)
    put_in = sum(SLOT_POWERS) * 0.01
    assert run.stored_j == pytest.approx(put_in, rel=1e-9)
    assert run.peak_k[-1] == pytest.approx(300.0 + put_in / capacity, rel=1e-12)


def test_the_command_runs_a_transient_stack(workdir: Path) -> None:
    (workdir / "cell.stk").write_text(CELL.format(step=0.001))
    result = CliRunner().invoke(app, ["3dice", "cell.stk", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["analysis"], summary["slots"], summary["steps"]) == ("transient", 3, 30)
    assert summary["end_s"] == pytest.approx(0.03)
    assert summary["energy_relative_error"] < 1e-9
    assert summary["outputs"] == ["t.txt", "slot.txt", "pmap.txt", "final.txt"]
    bad = CliRunner().invoke(app, ["3dice", "cell.stk", "--scheme", "rk4"])
    assert bad.exit_code == 1 and "--scheme 'rk4': expected euler or bdf2" in bad.output


def test_the_run_ends_when_the_first_element_runs_out_of_values(workdir: Path) -> None:
    (workdir / "cell.flp").write_text(
        "core :\n rectangle (0, 0, 50, 100) ;\n power values 1e-4, 2e-4, 3e-4 ;\n"
        "edge :\n rectangle (50, 0, 50, 100) ;\n power values 1e-4, 0 ;\n"
    )
    (workdir / "cell.stk").write_text(CELL.format(step=0.001))
    match = "cell.flp:1: element core has 3 power values, but the run ends after 2 slots, when"
    with pytest.warns(ChipthermWarning, match=match):
        run = run_transient(build_model(read_stk(workdir / "cell.stk")), workdir)
    assert (run.slots, run.steps) == (2, 20)
    assert run.power_w[:10] == pytest.approx([2e-4] * 10) and run.power_w[10:] == pytest.approx(
        [2e-4] * 10
    )


def test_convert_writes_the_slots_as_a_trace_that_reproduces_the_run(workdir: Path) -> None:
    """The converted stack and its trace, run by chiptherm's own transient command with the
    options convert prints, give 3D-ICE's steps: the same backward-Euler formula."""
    from chiptherm import load_stack
    from chiptherm.transient import read_power_trace, simulate

    (workdir / "cell.flp").write_text(
        "core :\n rectangle (0, 0, 50, 100) ;\n rectangle (50, 0, 50, 50) ;\n"
        " power values 2e-4, 0, 1e-4 ;\n"
        "edge :\n rectangle (50, 50, 50, 50) ;\n power values 0, 5e-5, 0 ;\n"
    )
    (workdir / "cell.stk").write_text(CELL.format(step=0.001))
    run = run_transient(build_model(read_stk(workdir / "cell.stk")), workdir)
    result = CliRunner().invoke(app, ["convert", "cell.stk", "--to", "cell.yaml"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "wrote cell.trace.csv: 3 time slots of 0.01 s" in said
    assert "--scheme euler --dt 0.001 --double-every 0 --duration 0.03" in said
    header = (workdir / "cell.trace.csv").read_text().splitlines()[0]
    assert header == "time,core.0,core.1,edge"
    stack = load_stack(workdir / "cell.yaml")
    trace = read_power_trace(workdir / "cell.trace.csv", stack)
    own = simulate(stack, trace, 0.03, 0.001, "euler", double_every=0, frames=0)
    assert own.times == pytest.approx(run.times, abs=1e-12)
    np.testing.assert_allclose(own.peak_k, run.peak_k, rtol=0, atol=1e-9)


def test_the_transient_command_takes_a_transient_stk_with_its_slots(workdir: Path) -> None:
    """`chiptherm transient FILE.stk`: the file's slots are the trace, and with 3D-ICE's
    steps the run is 3D-ICE's."""
    (workdir / "cell.stk").write_text(CELL.format(step=0.001))
    run = run_transient(build_model(read_stk(workdir / "cell.stk")), workdir)
    args = ["transient", "cell.stk", "--scheme", "euler", "--dt", "0.001", "--double-every", "0"]
    result = CliRunner().invoke(app, [*args, "--no-files"])
    assert result.exit_code == 0, result.output
    assert "the power trace is the file's 3 time slots of 0.01 s" in " ".join(result.output.split())
    summary = json.loads(CliRunner().invoke(app, [*args, "--no-files", "--json"]).stdout)
    assert summary["duration_s"] == pytest.approx(0.03)
    assert summary["max_peak_k"] == pytest.approx(run.peak_k.max(), abs=1e-9)


def test_a_steady_file_is_not_run_as_a_transient(workdir: Path) -> None:
    steady = CELL.format(step=0.001).replace("transient step 0.001, slot 0.01 ;", "steady ;")
    (workdir / "cell.stk").write_text(steady)
    with pytest.raises(FormatError, match=r"cell\.stk: the stack file asks for a steady run"):
        run_transient(build_model(read_stk(workdir / "cell.stk")), workdir)


def exact_cell(times: np.ndarray) -> np.ndarray:
    """The lumped cell's exact temperature (K) at ``times`` (s, ascending, from 0): the
    piecewise exponential of C·dT/dt = P(slot) - G·(T - T_s), slots of 10 ms."""
    capacity, conductance = cell_constants()
    out, t, before = [], 300.0, 0.0
    for now in times:
        slot = min(int(before / 0.01 + 1e-9), len(SLOT_POWERS) - 1)
        target = 300.0 + SLOT_POWERS[slot] / conductance
        t = target + (t - target) * math.exp(-(now - before) * conductance / capacity)
        out.append(t)
        before = now
    return np.array(out)


def test_doubling_steps_follow_the_exponential_closer_than_3dice_steps(workdir: Path) -> None:
    """chiptherm's doubling BDF2 steps, starting small at every switch of power, against
    3D-ICE's uniform Euler steps of the file: far closer to the exact solution at every
    step end, the step outputs at those ends, and the energy balance closed over steps of
    several lengths."""
    (workdir / "cell.stk").write_text(CELL.format(step=0.002))
    model = build_model(read_stk(workdir / "cell.stk"))
    uniform = run_transient(model, workdir)
    uniform_error = np.abs(uniform.peak_k - exact_cell(uniform.times)).max()
    run = run_transient(model, workdir, scheme="bdf2", double_every=3)
    lengths = np.diff(run.times)
    assert lengths.min() == pytest.approx(0.0002, rel=1e-9)
    assert lengths.max() == pytest.approx(0.0016)  # 0.2, 0.4, 0.8, 1.6 ms, three each, then 1
    assert run.times[[run.steps // 3, 2 * run.steps // 3, -1]] == pytest.approx([0.01, 0.02, 0.03])
    doubling_error = np.abs(run.peak_k - exact_cell(run.times)).max()
    assert doubling_error < uniform_error / 20
    printed = data_lines(workdir / "t.txt")
    assert [row[0] for row in printed] == pytest.approx(list(run.times[1:]), abs=1e-12)
    assert [row[1] for row in printed] == pytest.approx(list(run.peak_k[1:]), abs=1e-11)
    put_in, left = run.power_w @ lengths, run.heat_out_w @ lengths
    assert put_in == pytest.approx(sum(SLOT_POWERS) * 0.01, rel=1e-12)
    assert put_in - left - run.stored_j == pytest.approx(0.0, abs=1e-9 * put_in)


def test_the_command_takes_doubling_steps_and_refuses_them_where_they_mean_nothing(
    workdir: Path,
) -> None:
    (workdir / "cell.stk").write_text(CELL.format(step=0.002))
    args = ["3dice", "cell.stk", "--scheme", "bdf2", "--double-every", "3"]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["step_s"] == pytest.approx(0.0002, rel=1e-9)
    assert summary["longest_step_s"] == pytest.approx(0.0016)
    assert summary["energy_relative_error"] < 1e-9
    too_long = CliRunner().invoke(app, [*args, "--first-step", "0.5"])
    assert too_long.exit_code == 1 and "transient" not in too_long.output  # no bar begun
    assert "first step: expected a time in (0, 0.01] s" in too_long.output
    alone = CliRunner().invoke(app, ["3dice", "cell.stk", "--first-step", "0.001"])
    assert alone.exit_code == 1 and "give --double-every N too" in alone.output
    (workdir / "steady.stk").write_text(
        CELL.format(step=0.002).replace("transient step 0.002, slot 0.01 ;", "steady ;")
    )
    steady = CliRunner().invoke(app, ["3dice", "steady.stk", "--double-every", "3"])
    assert steady.exit_code == 1 and "asks for a steady run" in steady.output
