"""The operator commands: train, predict, evaluate, and their errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from chiptherm.cli import app
from chiptherm.operator.checkpoint import load_operator, shipped_models
from chiptherm.operator.inference import training_distribution
from chiptherm.report.run_folder import MARKER

from .test_training import write_config

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    result = run(
        "train",
        write_config(folder, steps=60, validation={"maps": 2, "every": 60}),
        "--out",
        folder / "model",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert "model written to" in result.output and "validation: MAE" in result.output
    return folder / "model"


def test_predict_writes_the_field_in_kelvin_and_maps(tiny_model, tmp_path):
    watts = np.random.default_rng(0).uniform(0, 2e-5, (16, 16))
    np.save(tmp_path / "p.npy", watts)
    result = run(
        "predict", tiny_model, "--power", tmp_path / "p.npy", "--out", tmp_path / "o", "--json"
    )
    summary = json.loads(result.output)
    rejected = not summary["confidence"]["accepted"]
    assert result.exit_code == (3 if rejected else 0), result.output  # 3: a rejected answer
    assert summary["solver"]["method"] == "operator"
    assert summary["total_power"] == pytest.approx(watts.sum())
    data = np.load(tmp_path / "o" / "temperature.npz")
    op, _ = load_operator(tiny_model)
    expected = op.predict_watts(watts)
    assert data["temperature"].shape == (8, 12, 12)
    assert np.allclose(data["temperature"], expected)
    assert (tmp_path / "o" / "map_top_face.png").exists()


def test_evaluate_prints_and_writes_metrics(tiny_model, tmp_path):
    result = run("evaluate", tiny_model, "--maps", 2, "--kind", "grf", "--out", tmp_path / "e.json")
    assert result.exit_code == 0, result.output
    assert "MAPE" in result.output
    doc = json.loads((tmp_path / "e.json").read_text())
    m = doc["results"]["grf"]["metrics"]
    assert m["maps"] == 2 and m["max_abs_k"] >= m["mae_k"] > 0
    assert doc["results"]["grf"]["machine"]["cpus"] >= 1
    # the peaks of every map, which the parity plot beside the JSON shows
    peaks = doc["results"]["grf"]["peaks_k"]
    gaps = np.abs(np.subtract(peaks["predicted"], peaks["reference"]))
    assert len(gaps) == 2 and gaps.mean() == pytest.approx(m["peak_error_k"])
    assert (tmp_path / "e.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "no-such-model"], "no model at 'no-such-model'"),
        (["predict", "{model}", "--param", "h800"], "expected NAME=VALUE"),
        (["predict", "{model}", "--param", "top_htc=800"], "unknown parameter"),
        (
            ["predict", "{model}", "--power", "missing.npy"],
            "missing.npy: power map file does not exist",
        ),
        (["evaluate", "{model}", "--kind", "stripes"], "unknown map kind 'stripes'"),
        (["evaluate", "{model}", "--maps", "0"], "at least 1"),
        (["evaluate", "{model}", "--param", "top_htc=800"], "unknown parameter"),
        (["predict", "{model}", "--tol-kelvin", "0"], "--tol-kelvin must be > 0 K"),
        (["train", "missing.yaml"], "cannot read file"),
    ],
)
def test_errors_are_one_line(tiny_model, tmp_path, args, message):
    result = (
        run(*[a.replace("{model}", str(tiny_model)) for a in args], "--out", tmp_path / "x")
        if args[0] != "train"
        else run(*args)
    )
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_shipped_models_are_found_by_name():
    assert {"surface", "surface_modal", "volumetric", "stacked_dies"} <= set(shipped_models())
    op, meta = load_operator("surface")
    assert op.case.sensors == (21, 21) and meta["name"] == "surface"


@pytest.mark.parametrize("name", ["surface", "surface_modal"])
def test_shipped_surface_models_meet_their_accuracy_targets(name):
    from chiptherm.operator.inference import distribution_for, evaluate_operator

    op, meta = load_operator(name)
    for kind in ("grf", "blocks"):
        m = evaluate_operator(op, distribution_for(meta, kind), maps=4, seed=99)["metrics"]
        assert m["mape_percent"] < 0.05, kind
        assert m["peak_error_k"] < 0.3, kind


def test_shipped_volumetric_model_meets_its_targets_for_any_cooling():
    from chiptherm.operator.inference import distribution_for, evaluate_operator

    op, meta = load_operator("volumetric")
    doc = evaluate_operator(op, distribution_for(meta, "blocks"), maps=3, seed=7, refine=2)
    top, bottom = (np.array(doc["parameters"][k]) for k in ("top_htc", "bottom_htc"))
    assert top.max() > 3 * top.min() and bottom.max() > 3 * bottom.min()
    assert doc["metrics"]["mape_percent"] < 0.035
    assert doc["metrics"]["peak_error_k"] < 0.5


def test_shipped_stacked_dies_model_adds_the_fixed_die_exactly():
    """The logic die's map is learned; the memory die's fixed 0.7 W and the warm board come
    from one exact solve per lid h: with the logic die off, the prediction is that solve."""
    from chiptherm.operator.inference import distribution_for, evaluate_operator
    from chiptherm.solvers.result import solve

    op, meta = load_operator("stacked_dies")
    assert op.case.fixed_sources == ["memory"] and not op.case.uniform_background
    off = np.zeros((1, *op.case.sensors))
    for h in (6000.0, 40000.0):
        expected = solve(op.stack_for(off[0], {"lid_htc": h})).temperature
        np.testing.assert_allclose(op.predict(off, {"lid_htc": h})[0], expected, atol=1e-8)
    coarse = op.case.grid(40, 40)  # any grid: the background is solved on the grid asked for
    expected = solve(op.stack_for(off[0]).with_grid(40, 40)).temperature
    np.testing.assert_allclose(op.predict(off, grid=coarse)[0], expected, atol=1e-8)
    doc = evaluate_operator(op, distribution_for(meta, "blocks"), maps=4, seed=5)
    assert doc["metrics"]["mae_k"] < 0.01
    assert doc["metrics"]["peak_error_k"] < 0.2


def test_batches_add_the_background_of_each_maps_inputs():
    """predict_batch adds the fixed die's field for each map's own lid h before taking the
    peaks and layer maxima on the device."""
    from chiptherm.operator.batch import NamedMaps, predict_batch

    op, _ = load_operator("stacked_dies")
    watts = np.random.default_rng(4).uniform(0, 2e-4, (3, 40, 40))
    lids = np.array([6e3, 2e4, 4.5e4])
    batch = predict_batch(op, NamedMaps(["a", "b", "c"], list(watts)), {"lid_htc": lids}, chunk=2)
    fields = op.predict(op.case.density_from_watts(watts), {"lid_htc": lids})
    np.testing.assert_allclose(batch.peak_k, fields.max(axis=(1, 2, 3)), atol=2e-4)
    grid = op.case.grid()
    memory = grid.cells_of_layer(op.case.stack.layer_index("memory_active"))
    np.testing.assert_allclose(
        batch.layer_max_k["memory_active"], fields[:, memory].max(axis=(1, 2, 3)), atol=2e-4
    )
    assert batch.peak_k[0] > batch.peak_k[2] + 1.0  # the weakest lid cooling is the hottest


def test_evaluate_fixes_or_draws_the_scalar_inputs(tmp_path):
    args = ("evaluate", "surface_modal", "--maps", 2, "--kind", "grf")
    fixed = run(*args, "--param", "bottom_htc=700", "--out", tmp_path / "f.json")
    assert fixed.exit_code == 0, fixed.output
    assert "bottom_htc: fixed at 700" in fixed.output
    doc = json.loads((tmp_path / "f.json").read_text())
    assert doc["results"]["grf"]["parameters"]["bottom_htc"] == [700.0, 700.0]
    drawn = run(*args, "--out", tmp_path / "d.json")
    assert "drawn log-uniformly from 50 to 50000" in drawn.output
    values = json.loads((tmp_path / "d.json").read_text())["results"]["grf"]["parameters"]
    assert len(set(values["bottom_htc"])) == 2
    assert all(50.0 <= h <= 5e4 for h in values["bottom_htc"])


def test_predict_reports_the_scalar_inputs_it_used(tmp_path):
    from tests.conftest import EXAMPLES

    args = ("predict", "volumetric", "--power", EXAMPLES / "volumetric_blocks.npy", "--no-files")
    result = run(*args, "--param", "top_htc=2e4", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["parameters"] == {"top_htc": 2e4, "bottom_htc": 500.0}
    cooler = summary["max_temperature"]
    default = json.loads(run(*args, "--json").output)
    assert default["parameters"] == {"top_htc": 500.0, "bottom_htc": 500.0}
    assert default["max_temperature"] > cooler + 1.0
    assert "bottom_htc = 500 (stack)" in run(*args, "--param", "top_htc=2e4").output


def test_peaks_reduced_on_the_device_equal_the_peaks_of_the_fields():
    from chiptherm.operator.inference import training_distribution

    op, meta = load_operator("surface")
    maps = training_distribution(meta).sample(
        5, op.case.size, op.case.sensors, np.random.default_rng(1)
    )
    fields = op.predict(maps, chunk=2)
    np.testing.assert_allclose(
        op.peaks(maps, chunk=2), fields.reshape(5, -1).max(axis=1), atol=1e-4
    )


def test_models_lists_every_shipped_model_with_its_inputs_and_ranges():
    result = run("models", "--json")
    assert result.exit_code == 0, result.output
    listed = {m["name"]: m for m in json.loads(result.output)}
    assert set(listed) == set(shipped_models())
    for name, summary in listed.items():
        _, meta = load_operator(name)
        ranges = {p["name"]: (p["low"], p["high"]) for p in meta["case"]["parameters"]}
        assert {i["name"]: (i["low"], i["high"]) for i in summary["inputs"]} == ranges
        assert summary["parameters"] == sum(
            p.numel() for p in load_operator(name)[0].net.parameters()
        )
    volumetric = listed["volumetric"]
    assert volumetric["layers"] == ["cap", "active", "base"] and volumetric["power_face"] is None
    assert {i["default"] for i in volumetric["inputs"]} == {500.0}  # the stack's own h
    assert listed["surface"]["power_face"] == "top"
    assert listed["surface"]["layers"] == ["body"]
    for name in listed:  # 'block' means a floorplan block on every page that shows one
        stack = load_operator(name)[1]["case"]["stack"]
        assert "block" not in {layer["name"] for layer in stack["layers"]} | set(stack["materials"])
    assert volumetric["thickness_mm"] == pytest.approx(0.55)


def test_models_table_gives_each_model_one_line_within_80_columns(monkeypatch):
    from chiptherm.cli.common import console

    monkeypatch.setattr(console, "_width", 80)
    result = run("models")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in result.output
    for name in shipped_models():
        _, meta = load_operator(name)
        peak = meta["metrics"]["peak_error_k"]
        (row,) = [line for line in lines if line.split() and line.split()[0] == name]
        assert row.split()[-1] == f"{peak:.3f}"  # name and its peak error on one line


def test_models_describes_a_trained_folder(tiny_model):
    result = run("models", tiny_model)
    assert result.exit_code == 0, result.output
    assert "tiny" in result.output and "separable-kan trunk" in result.output
    assert "60 steps" in result.output


def test_models_refuses_an_unknown_model_and_an_incomplete_description(tmp_path):
    result = run("models", "no-such-model")
    assert result.exit_code == 1 and "no model at 'no-such-model'" in result.output
    (tmp_path / "model.json").write_text(
        json.dumps({"format": "chiptherm-operator", "version": 1, "step": 3})
    )
    result = run("models", tmp_path)
    assert result.exit_code == 1
    assert "model.json" in result.output and "'case' is missing" in result.output


def test_predict_notes_inputs_outside_the_training_range(tmp_path):
    config = write_config(
        tmp_path,
        steps=5,
        validation={"maps": 0},
        case={"parameters": [{"name": "bottom_htc", "face": "bottom", "low": 200, "high": 2000}]},
    )
    assert run("train", config, "--out", tmp_path / "m", "--quiet").exit_code == 0
    args = ("predict", tmp_path / "m", "--no-files")
    inside = run(*args, "--param", "bottom_htc=800", "--tol-kelvin", "1e6")
    assert inside.exit_code == 0, inside.output
    assert "outside the training range" not in inside.output
    outside = run(*args, "--param", "bottom_htc=9000")
    assert "bottom_htc = 9000 lies outside the training range 200–2,000" in outside.output
    assert json.loads(run(*args, "--param", "bottom_htc=9000", "--json").output)[
        "extrapolated"
    ] == ["bottom_htc"]


def test_modal_models_take_any_heat_transfer_coefficient_exactly():
    from chiptherm.operator.inference import training_distribution
    from chiptherm.solvers.result import solve

    op, meta = load_operator("surface_modal")
    assert op.extrapolated({"bottom_htc": np.array([2e5])}) == []
    density = training_distribution(meta).sample(
        1, op.case.size, op.case.sensors, np.random.default_rng(3)
    )[0]

    def error(h: float) -> float:
        field = op.predict(density, {"bottom_htc": np.array([h])})[0]
        return np.abs(
            field - solve(op.case.stack_with(density, {"bottom_htc": h})).temperature
        ).max()

    inside = error(500.0)
    assert inside < 0.02
    # four times above the training range the error stays what it is inside it
    assert error(2e5) < 1.1 * inside


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not numpy at all", "not a NumPy .npy file"),
        ("npz", "an .npz archive"),
        (np.ones(5), "expected a numeric array (ny, nx)"),
        (np.array([["a", "b"]]), "expected a numeric array (ny, nx)"),
        (np.full((4, 4), np.nan), "power map contains NaN or infinite values"),
    ],
)
def test_bad_power_maps_are_refused_with_the_file_named(tiny_model, tmp_path, content, message):
    path = tmp_path / "map.npy"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        with path.open("wb") as f:
            np.savez(f, x=np.ones((4, 4)))
    else:
        np.save(path, content)
    result = run("predict", tiny_model, "--power", path, "--out", tmp_path / "x")
    assert result.exit_code == 1 and f"map.npy: {message}" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"case": {"power": "nope"}}, "train.yaml: the stack has no power source 'nope'"),
        ({"case": {"sensors": [0, 8]}}, "case.sensors[0]: Input should be greater than or equal"),
        ({"training": {"collocation": [8, 0, 6]}}, "training.collocation[1]: Input should be"),
    ],
)
def test_training_config_errors_name_the_config(tmp_path, change, message):
    config = write_config(tmp_path, steps=2, **change)
    result = run("train", config, "--out", tmp_path / "x", "--quiet")
    assert result.exit_code == 1 and message in result.output
    assert "Traceback" not in result.output and not (tmp_path / "x").exists()


def test_predict_batch_gives_the_statistics_of_every_field(tmp_path):
    op, _ = load_operator("volumetric")
    rng = np.random.default_rng(5)
    stack_of_maps = rng.uniform(0, 4e-6, (5, 20, 20))
    np.save(tmp_path / "many.npy", stack_of_maps)
    np.save(tmp_path / "one.npy", rng.uniform(0, 1e-6, (50, 50)))
    out = tmp_path / "o"
    args = ["predict-batch", "volumetric", tmp_path / "many.npy", tmp_path / "one.npy"]
    result = run(*args, "--param", "top_htc=3000", "--batch", 4, "--fields", "--out", out, "-q")
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir() if p.name != MARKER} == {
        "summary.csv",
        "summary.json",
        "peaks.png",
        "temperatures.npy",
    }
    summary = json.loads((out / "summary.json").read_text())
    rows = summary["results"]
    assert [r["map"] for r in rows] == [f"many[{i}]" for i in range(5)] + ["one"]
    assert summary["parameters"] == {"top_htc": 3000.0, "bottom_htc": 500.0}
    expected = op.predict(
        op.case.density_from_watts(stack_of_maps), {"top_htc": 3000.0}
    )  # (5, nz, ny, nx) K
    fields = np.load(out / "temperatures.npy", mmap_mode="r")
    assert fields.shape == (6, *op.case.grid().shape) and fields.dtype == np.float32
    np.testing.assert_allclose(fields[:5], expected, atol=1e-3)
    grid = op.case.grid()
    active = grid.cells_of_layer(op.case.stack.layer_index("active"))
    for i, row in enumerate(rows[:5]):
        assert row["peak_k"] == pytest.approx(expected[i].max(), abs=1e-3)
        volume_mean = expected[i].mean(axis=(1, 2)) @ (grid.dz / grid.dz.sum())
        assert row["mean_k"] == pytest.approx(volume_mean, abs=3e-4)
        assert abs(volume_mean - expected[i].mean()) > 1e-3  # thin active cells weigh less
        assert row["active_max_k"] == pytest.approx(expected[i][active].max(), abs=1e-3)
    csv_lines = (out / "summary.csv").read_text().splitlines()
    assert csv_lines[0] == "map,top_htc,bottom_htc,peak_k,mean_k,cap_max_k,active_max_k,base_max_k"
    assert len(csv_lines) == 7


def test_predict_batch_refuses_a_bad_file_before_writing(tmp_path):
    np.save(tmp_path / "good.npy", np.ones((4, 4)) * 1e-6)
    bad = np.ones((3, 4, 4))
    bad[2, 1, 1] = np.inf
    np.save(tmp_path / "bad.npy", bad)
    args = ["predict-batch", "surface", tmp_path / "good.npy", tmp_path / "bad.npy"]
    result = run(*args, "--out", tmp_path / "o")
    assert result.exit_code == 1
    assert "bad.npy: power map contains NaN or infinite values (map 2 of the stack)" in (
        result.output
    )
    assert not (tmp_path / "o").exists()


def batch_with_table(folder, *extra):
    """predict-batch of volumetric on folder/maps.npy with the inputs table folder/h.csv and a
    fixed bottom h, into folder/o."""
    args = ["predict-batch", "volumetric", folder / "maps.npy", "--params-file", folder / "h.csv"]
    return run(*args, "--param", "bottom_htc=800", "--out", folder / "o", *extra)


def test_predict_batch_takes_per_map_inputs_from_a_table(tmp_path):
    op, _ = load_operator("volumetric")
    watts = np.random.default_rng(8).uniform(0, 4e-6, (20, 20))
    np.save(tmp_path / "maps.npy", np.repeat(watts[None], 3, axis=0))
    (tmp_path / "h.csv").write_text("top_htc\n100\n\n1000\n10000\n")  # blank lines are fine
    result = batch_with_table(tmp_path, "-q")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["parameters"] == {"top_htc": {"min": 100.0, "max": 10000.0}, "bottom_htc": 800.0}
    rows = summary["results"]
    assert [r["top_htc"] for r in rows] == [100.0, 1000.0, 10000.0]
    peaks = [r["peak_k"] for r in rows]
    assert peaks[0] > peaks[1] > peaks[2]  # more cooling on top, cooler
    density = op.case.density_from_watts(np.repeat(watts[None], 3, axis=0))
    h = {"top_htc": np.array([100.0, 1000.0, 10000.0]), "bottom_htc": 800.0}
    expected = op.predict(density, h).max(axis=(1, 2, 3))
    np.testing.assert_allclose(peaks, expected, atol=1e-3)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("top_htc\n100\n", "1 rows for 3 maps"),
        ("top_h\n1\n2\n3\n", "h.csv:1: header ['top_h']: expected distinct names"),
        ("top_htc\n100\nfast\n300\n", "h.csv:3: expected 1 numbers (top_htc), got ['fast']"),
        ("bottom_htc\n1\n2\n3\n", "given both by --param and in"),
    ],
)
def test_predict_batch_refuses_bad_input_tables(tmp_path, table, message):
    np.save(tmp_path / "maps.npy", np.ones((3, 4, 4)) * 1e-6)
    (tmp_path / "h.csv").write_text(table)
    result = batch_with_table(tmp_path)
    assert result.exit_code == 1 and message in result.output, result.output
    assert not (tmp_path / "o").exists()


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(
        st.tuples(st.floats(1e-3, 1e7, allow_nan=False), st.floats(1e-3, 1e7, allow_nan=False)),
        min_size=1,
        max_size=12,
    ),
    blank_every=st.integers(0, 4),
)
def test_parameter_tables_read_back_what_was_written(tmp_path_factory, values, blank_every):
    from chiptherm.operator.batch import read_parameter_table

    lines = ["bottom_htc, top_htc"]
    for i, (bottom, top) in enumerate(values):
        lines.append(f"{bottom!r},{top!r}")
        if blank_every and i % blank_every == 0:
            lines.append("")
    path = tmp_path_factory.mktemp("t") / "h.csv"
    path.write_text("\n".join(lines) + "\n")
    table = read_parameter_table(path, len(values), ["top_htc", "bottom_htc"])
    assert list(table["bottom_htc"]) == [b for b, _ in values]
    assert list(table["top_htc"]) == [t for _, t in values]


def test_training_leaves_a_plot_of_its_history(tiny_model):
    state = json.loads((tiny_model / "state.json").read_text())
    assert any("validation" in r for r in state["history"])  # both panels have data
    assert (tiny_model / "history.png").stat().st_size > 5000


def test_stacks_of_maps_are_read_map_by_map_not_loaded(tmp_path):
    from chiptherm.operator.batch import read_power_maps

    np.save(tmp_path / "many.npy", np.random.default_rng(1).uniform(0, 1e-6, (50, 8, 8)))
    maps = read_power_maps([tmp_path / "many.npy"])
    assert len(maps) == 50 and maps.names[7] == "many[7]"
    assert all(isinstance(w, np.memmap) for w in maps.watts)  # views of the file on disk


@pytest.mark.parametrize(
    ("setup", "extra", "message"),
    [
        ("empty-stack", [], "empty.npy: expected a numeric array (ny, nx) or a stack"),
        ("ok", ["--batch", "0"], "--batch must be at least 1"),
        ("ok", ["--params-file", "{dir}/none.csv"], "none.csv: cannot read file"),
        ("blank-table", ["--params-file", "{dir}/h.csv"], "h.csv: empty parameter table"),
        ("ok", ["--check", "--tol-kelvin", "0"], "--tol-kelvin must be > 0 K"),
    ],
)
def test_predict_batch_bad_arguments_are_one_line_errors(tmp_path, setup, extra, message):
    maps = tmp_path / ("empty.npy" if setup == "empty-stack" else "maps.npy")
    np.save(maps, np.zeros((0, 4, 4)) if setup == "empty-stack" else np.ones((2, 4, 4)) * 1e-6)
    (tmp_path / "h.csv").write_text("\n\n")
    args = [a.replace("{dir}", str(tmp_path)) for a in extra]
    result = run("predict-batch", "volumetric", maps, *args, "--out", tmp_path / "o")
    assert result.exit_code == 1 and message in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "o").exists()


def test_predict_batch_library_refuses_no_maps_and_empty_batches():
    from chiptherm.errors import InputError
    from chiptherm.operator.batch import NamedMaps, predict_batch, read_power_maps

    with pytest.raises(InputError, match="no power map files given"):
        read_power_maps([])
    op, _ = load_operator("surface")
    with pytest.raises(InputError, match="the batch size must be at least 1"):
        predict_batch(op, NamedMaps(["a"], [np.ones((4, 4))]), chunk=0)
    from chiptherm.operator.batch import BatchChecker

    with pytest.raises(InputError, match="the tolerance must be > 0 K"):
        BatchChecker(op, tolerance_k=0.0)


def test_checked_batches_score_every_map_exactly_and_refine_the_rejected(tmp_path):
    """volumetric with per-map top h: the score of each map is its true largest error against
    the solver at its own h; with --refine the rejected maps carry the solver's statistics."""
    from chiptherm.solvers.result import solve

    op, _ = load_operator("volumetric")
    rng = np.random.default_rng(11)
    watts = rng.uniform(0, 6e-6, (4, 20, 20))
    watts[2, 8:10, 8:10] = 2e-4  # a sharp 2 mW hot spot: the case grid's error shows there
    np.save(tmp_path / "maps.npy", watts)
    (tmp_path / "h.csv").write_text("top_htc\n300\n3000\n300\n30000\n")
    density = op.case.density_from_watts(watts)
    tops = [300.0, 3000.0, 300.0, 30000.0]
    solved = [
        solve(op.stack_for(density[i], {"top_htc": tops[i], "bottom_htc": 800.0})).temperature
        for i in range(4)
    ]
    predicted = op.predict(density, {"top_htc": np.array(tops), "bottom_htc": 800.0})
    true_error = [float(np.abs(s - p).max()) for s, p in zip(solved, predicted, strict=True)]
    tol = float(np.median(true_error))  # half the maps fail

    result = batch_with_table(tmp_path, "--check", "--tol-kelvin", tol, "-q")
    assert result.exit_code == 3, result.output  # rejected maps left unrefined
    assert "REJECTED: the confidence score rejects 2 of 4 predictions" in result.output
    rows = json.loads((tmp_path / "o" / "summary.json").read_text())["results"]
    for row, error, p in zip(rows, true_error, predicted, strict=True):
        assert row["score_error_k"] == pytest.approx(error, abs=2e-4)  # exact, rounded to 0.1 mK
        assert row["answer"] == ("operator" if error <= tol else "operator (above tolerance)")
        assert row["peak_k"] == pytest.approx(p.max(), abs=1e-3)

    result = batch_with_table(tmp_path, "--check", "--tol-kelvin", tol, "--refine", "--fields")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    rejected = sum(e > tol for e in true_error)
    assert summary["check"]["refined"] == rejected == 4 - summary["check"]["accepted"] == 2
    assert f"{rejected} refined by the solver" in " ".join(result.output.split())
    assert (tmp_path / "o" / "errors.png").stat().st_size > 5000  # the scores, with the tolerance
    fields = np.load(tmp_path / "o" / "temperatures.npy")
    for i, row in enumerate(summary["results"]):
        field = solved[i] if true_error[i] > tol else predicted[i]
        assert row["answer"] == ("refined" if true_error[i] > tol else "operator")
        assert row["peak_k"] == pytest.approx(field.max(), abs=1e-3)
        np.testing.assert_allclose(fields[i], field, atol=2e-3)


def test_refine_without_check_is_refused(tmp_path):
    np.save(tmp_path / "maps.npy", np.ones((2, 4, 4)) * 1e-6)
    out = tmp_path / "o"
    result = run("predict-batch", "surface", tmp_path / "maps.npy", "--refine", "--out", out)
    assert result.exit_code == 1 and "--refine refines the maps that --check rejects" in (
        result.output
    )
    assert not out.exists()


def test_held_out_fields_of_a_blocks_model_are_as_strong_as_its_training_maps():
    """A model trained on blocks alone is checked on random fields of its own power scale, not
    on a preset 200 times weaker that would make any model look exact."""
    from chiptherm.operator.inference import distribution_for

    op, meta = load_operator("stacked_dies")
    grf = distribution_for(meta, "grf")
    assert grf.amplitude == pytest.approx(op.case.power_scale)
    maps = grf.sample(64, op.case.size, op.case.sensors, np.random.default_rng(0))
    assert np.sqrt(np.mean(maps**2)) == pytest.approx(op.case.power_scale, rel=0.2)


def test_absurd_power_is_named_and_a_rejected_prediction_exits_3(tmp_path):
    np.save(tmp_path / "watts.npy", np.ones((5, 7)))  # 35 W on 1 mm²: W typed for mW
    result = run("predict", "surface", "--power", tmp_path / "watts.npy", "--out", tmp_path / "o")
    assert result.exit_code == 3, result.output
    text = " ".join(result.output.split())
    assert "warning: far more power than the model was trained on in the map" in text
    assert "resampled conservatively from 5×7 cells onto the model's 21×21 sensor grid" in text
    assert "REJECTED: the confidence score puts this prediction's largest error at" in text
    assert (tmp_path / "o" / "summary.json").exists()  # the answer is written all the same
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["power_check"]["stronger"] == [0] and summary["power_check"]["resampled"] == [0]


def test_a_plausible_map_gets_no_warning(tmp_path):
    op, meta = load_operator("surface")
    density = training_distribution(meta).sample(
        1, op.case.size, op.case.sensors, np.random.default_rng(3)
    )
    np.save(tmp_path / "ok.npy", op.case.watts_from_density(np.abs(density))[0])
    result = run("predict", "surface", "--power", tmp_path / "ok.npy", "--no-files", "--refine")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output and "resampled" not in result.output


def test_batches_name_absurd_and_tiny_maps_without_check(tmp_path):
    maps = np.ones((4, 20, 21))
    maps[1] = 1e-12  # mW typed for W, and then some
    maps[3, 0, 0] = -1.0
    np.save(tmp_path / "maps.npy", maps)
    result = run("predict-batch", "surface", tmp_path / "maps.npy", "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output  # nothing was scored: warnings, no verdict
    text = " ".join(result.output.split())
    assert "far more power than the model was trained on in 3 of 4 maps (maps[0], maps[2]" in text
    assert "less power density than any training map in 1 of 4 maps (maps[1])" in text
    assert "negative entries in 1 of 4 maps (maps[3])" in text
    check = json.loads((tmp_path / "o" / "summary.json").read_text())["power_check"]
    assert check["stronger"] == [0, 2, 3] and check["weaker"] == [1]
