"""The command line: outputs, JSON, and one-line errors that write nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import typer
import yaml
from typer.testing import CliRunner

from chiptherm.cli import app, reflow_help
from chiptherm.report.run_folder import MARKER
from chiptherm.report.vtk import read_vtr_cell_data
from tests.conftest import EXAMPLES

runner = CliRunner()


def small_copy(tmp_path: Path, name: str = "two_die", **changes: object) -> Path:
    data = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    data["grid"] = {"nx": 20, "ny": 20}
    data.update(changes)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    for npy in EXAMPLES.glob("*.npy"):  # power maps the examples refer to
        shutil.copy(npy, tmp_path / npy.name)
    return path


def test_solve_writes_every_output(tmp_path: Path) -> None:
    stack = small_copy(tmp_path)
    out = tmp_path / "out"
    res = runner.invoke(
        app, ["solve", str(stack), "--out", str(out), "--probe", "0.003,0.003,die1_active"]
    )
    assert res.exit_code == 0, res.output
    assert "die1_active" in res.output and "energy balance" in res.output
    files = sorted(p.name for p in out.iterdir() if p.name != MARKER)
    assert files == [
        "cross_section.png",
        "index.html",
        "map_die1_active.png",
        "map_die2_active.png",
        "summary.json",
        "temperature.npz",
        "temperature.vtr",
    ]
    assert json.loads((out / MARKER).read_text())["files"] == files  # what the run wrote
    page = (out / "index.html").read_text()
    for image in ("cross_section.png", "map_die1_active.png", "map_die2_active.png"):
        assert f'src="{image}"' in page
    assert "hotspot (die1_active)" in page and "energy balance error" in page
    summary = json.loads((out / "summary.json").read_text())
    data = np.load(out / "temperature.npz")
    t = data["temperature"]
    assert t.shape == (summary["grid"]["nz"], 20, 20)
    assert summary["max_temperature"] == float(t.max())
    assert summary["energy"]["relative_error"] < 1e-9
    assert {b["name"] for b in summary["blocks"]} >= {"hotspot", "bank0"}
    hot = next(b for b in summary["blocks"] if b["name"] == "hotspot")
    assert hot["min"] <= hot["mean"] <= hot["max"] <= t.max()
    assert np.allclose(read_vtr_cell_data(out / "temperature.vtr", "temperature_K"), t.ravel())
    assert (out / "map_die1_active.png").read_bytes()[:4] == b"\x89PNG"


def test_json_prints_machine_readable_summary(tmp_path: Path) -> None:
    stack = small_copy(tmp_path)
    res = runner.invoke(
        app, ["solve", str(stack), "--json", "--no-files", "--probe", "0.003,0.003,die1_active"]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["probes"][0]["layer"] == "die1_active"
    assert summary["solver"]["method"] == "transform"
    assert not (tmp_path / "out").exists()


def test_invalid_stack_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    data = yaml.safe_load((EXAMPLES / "two_die.yaml").read_text())
    data["layers"][3]["thickness"] = -2e-6
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "out"
    res = runner.invoke(app, ["solve", str(path), "--out", str(out)])
    assert res.exit_code == 1
    assert "bad.yaml:" in res.output and "layers[3].thickness" in res.output
    assert "Traceback" not in res.output
    assert not out.exists()


def test_bad_probe_is_rejected_before_solving(tmp_path: Path) -> None:
    stack = small_copy(tmp_path)
    res = runner.invoke(app, ["solve", str(stack), "--no-files", "--probe", "1,2"])
    assert res.exit_code == 1 and "expected 'x,y,layer'" in res.output
    res = runner.invoke(app, ["solve", str(stack), "--no-files", "--probe", "0.001,0.001,nope"])
    assert res.exit_code == 1 and "no layer named 'nope'" in res.output


def test_every_example_solves(tmp_path: Path) -> None:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        res = runner.invoke(
            app, ["solve", str(small_copy(tmp_path, path.stem)), "--json", "--no-files"]
        )
        assert res.exit_code == 0, (path, res.output)
        summary = json.loads(res.stdout)
        # a nonlinear stack balances to its fixed-point tolerance (1e-6 K), a linear one to
        # the linear solver's
        nonlinear = summary["solver"]["nonlinear_steps"] > 0
        assert summary["energy"]["relative_error"] < (1e-7 if nonlinear else 1e-9)
        assert summary["max_temperature"] > summary["layers"][0]["min"]


def test_version_prints_without_a_command() -> None:
    import subprocess
    import sys

    from chiptherm import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"chiptherm {__version__}"
    module = subprocess.run(
        [sys.executable, "-m", "chiptherm", "--version"], capture_output=True, text=True
    )
    assert module.returncode == 0 and __version__ in module.stdout


@pytest.mark.parametrize(
    ("command", "text"),
    [
        ("solve", "Output folder [default: out/STACK]"),
        ("train", "Model folder [default: config 'output']"),
        ("predict-batch", "[default: out/MODEL-batch]"),
    ],
)
def test_help_shows_the_defaults_written_in_option_help(command, text):
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert text in " ".join(result.output.replace("│", " ").split())  # unwrapped


def test_command_help_joins_the_lines_of_each_paragraph():
    doc = """Do a thing.

    The first paragraph runs
    over two lines.

    Writes out.json.
    Example: chiptherm thing --out x
    """
    assert reflow_help(doc) == (
        "Do a thing.\n\nThe first paragraph runs over two lines.\n\n"
        "Writes out.json.\nExample: chiptherm thing --out x"
    )
    predict = typer.main.get_command(app).commands["predict"]
    assert "--refine runs the solver from the prediction when it exceeds --tol-kelvin." in (
        predict.help
    )


@pytest.mark.parametrize(
    ("speed", "finished", "text"),
    [
        (523.4, None, "523 maps/s"),
        (2.5, None, "2.5 maps/s"),
        (None, 40.0, "40 maps/s"),
        (None, None, ""),
    ],
)
def test_progress_bars_show_the_rate(speed, finished, text):
    from types import SimpleNamespace

    from chiptherm.report.progress import RateColumn

    task = SimpleNamespace(speed=speed, finished_speed=finished)
    assert RateColumn("maps").render(task).plain == text


def test_negative_map_entries_are_heat_removal_and_said_so(tmp_path: Path) -> None:
    import numpy as np

    watts = np.full((4, 4), 1e-2)
    watts[0, 0] = -5e-3
    np.save(tmp_path / "signed.npy", watts)
    data = {
        "name": "signed",
        "size": [1e-3, 1e-3],
        "layers": [{"name": "die", "thickness": 1e-4, "material": "silicon", "power": "p"}],
        "power": {"p": {"map": "signed.npy"}},
        "boundaries": {"bottom": {"htc": 1e4}},
        "grid": {"nx": 8, "ny": 8},
    }
    (tmp_path / "signed.yaml").write_text(yaml.safe_dump(data))
    res = runner.invoke(app, ["solve", str(tmp_path / "signed.yaml"), "--no-files"])
    assert res.exit_code == 0, res.output
    assert "power map 'p' removes 0.005 W in 1 of 16 cells" in " ".join(res.output.split())
    data["power"] = {
        "p": {
            "blocks": [{"name": "b", "x": 0, "y": 0, "width": 1e-4, "height": 1e-4, "watts": -1.0}]
        }
    }
    (tmp_path / "signed.yaml").write_text(yaml.safe_dump(data))
    res = runner.invoke(app, ["solve", str(tmp_path / "signed.yaml"), "--no-files"])
    assert res.exit_code == 1 and "watts" in res.output
