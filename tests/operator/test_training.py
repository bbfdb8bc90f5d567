"""Training from the physics, checkpoints, resume, and the structure of the operator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from chiptherm.errors import InputError
from chiptherm.operator.checkpoint import load_operator
from chiptherm.operator.evaluate import reference_fields
from chiptherm.operator.train import train
from chiptherm.operator.training_config import load_train_config

STACK = {
    "name": "tiny",
    "size": [1e-3, 1e-3],
    "ambient": 298.15,
    "materials": {"m": {"conductivity": 0.1}},
    "layers": [{"name": "block", "thickness": 5e-4, "material": "m", "cells": 8}],
    "power": {"flux": {"map": "flux.npy"}},
    "boundaries": {"top": {"power": "flux"}, "bottom": {"htc": 500}},
    "grid": {"nx": 12, "ny": 12},
}


def write_config(folder: Path, steps: int = 300, **changes) -> Path:
    """A small physics-only training config (and its stack) in ``folder``."""
    np.save(folder / "flux.npy", np.full((4, 4), 1e-4))
    (folder / "tiny.yaml").write_text(yaml.safe_dump(STACK))
    cfg = {
        "name": "tiny",
        "case": {"stack": "tiny.yaml", "power": "flux", "sensors": [8, 8]},
        "distribution": {"kind": "grf", "length_scale": 0.4, "amplitude": 2000},
        "model": {
            "rank": 16,
            "trunk": {
                "kind": "separable-kan",
                "width": 8,
                "depth": 2,
                "degree": 4,
                "layer_norm": False,
            },
        },
        "training": {
            "steps": steps,
            "batch": 8,
            "collocation": [8, 8, 6],
            "lr": 5e-3,
            "warmup": 20,
            "checkpoint_every": 50,
        },
        "validation": {"every": 100, "maps": 3},
        "output": "run",
    }
    for key, value in changes.items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    path = folder / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_physics_only_training_converges_to_the_solver(tmp_path):
    trainer = train(write_config(tmp_path), out=tmp_path / "run", quiet=True)
    history = [r["validation"] for r in trainer.history.records if "validation" in r]
    assert len(history) == 3
    assert history[-1]["rel_l2"] < 0.15
    assert history[-1]["mae_k"] < 0.5 * history[0]["mae_k"]
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert meta["step"] == 300 and meta["metrics"]["rel_l2"] == history[-1]["rel_l2"]


def test_resumed_training_reproduces_the_uninterrupted_run(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    full = train(
        write_config(tmp_path / "a", steps=40, validation={"maps": 0}),
        quiet=True,
        out=tmp_path / "a" / "run",
    )
    cfg_b = write_config(tmp_path / "b", steps=40, validation={"maps": 0})
    train(cfg_b, out=tmp_path / "b" / "run", quiet=True, overrides={"steps": 20})
    with pytest.raises(InputError, match="--resume"):
        train(cfg_b, out=tmp_path / "b" / "run", quiet=True)
    resumed = train(cfg_b, out=tmp_path / "b" / "run", quiet=True, resume=True)
    assert resumed.step == 40
    for (name, a), b in zip(
        full.op.net.state_dict().items(), resumed.op.net.state_dict().values(), strict=True
    ):
        assert torch.allclose(a, b, atol=1e-6), name


def test_checkpoint_round_trip_and_damaged_files(tmp_path):
    trainer = train(
        write_config(tmp_path, steps=10, validation={"maps": 0}), out=tmp_path / "run", quiet=True
    )
    op, meta = load_operator(tmp_path / "run")
    dens = np.random.default_rng(0).normal(0, 2000, (2, 8, 8))
    assert np.allclose(op.predict(dens), trainer.op.predict(dens), atol=1e-10)
    assert meta["name"] == "tiny"
    weights = tmp_path / "run" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(InputError, match="cannot read weights"):
        load_operator(tmp_path / "run")
    (tmp_path / "run" / "model.json").write_text("{")
    with pytest.raises(InputError, match=r"model\.json"):
        load_operator(tmp_path / "run")
    with pytest.raises(InputError, match="no model at"):
        load_operator(tmp_path / "nowhere")


def test_operator_is_linear_in_power_with_ambient_at_zero_power(tmp_path):
    trainer = train(
        write_config(tmp_path, steps=5, validation={"maps": 0}), out=tmp_path / "run", quiet=True
    )
    op = trainer.op
    q = np.random.default_rng(0).normal(0, 2000, (2, 8, 8))
    rise = op.predict(q) - 298.15
    assert np.allclose(op.predict(2.5 * q) - 298.15, 2.5 * rise, rtol=1e-5, atol=1e-9)
    assert np.allclose(
        op.predict(q[:1] + q[1:]) - 298.15, rise[:1] + rise[1:], rtol=1e-4, atol=1e-7
    )
    assert np.allclose(op.predict(np.zeros((1, 8, 8))), 298.15)


def test_heat_transfer_coefficient_as_a_branch_input(tmp_path):
    params = [{"name": "bottom_htc", "face": "bottom", "low": 200.0, "high": 2000.0}]
    # 1000 steps: the largest error is 0.7-2.1 % of the rise over seeds 0-3 at one and two
    # threads (at 300 steps it was 5-11 %, too close to the bound for another CPU's rounding)
    path = write_config(
        tmp_path,
        steps=1000,
        case={"parameters": params},
        distribution={"kind": "grf", "length_scale": 0.4, "amplitude": 1000, "mean": 2000},
    )
    trainer = train(path, out=tmp_path / "run", quiet=True)
    op = trainer.op
    q = np.full((2, 8, 8), 3000.0)
    hs = [{"bottom_htc": 2000.0}, {"bottom_htc": 500.0}]
    pred = op.predict(q, {"bottom_htc": np.array([2000.0, 500.0])})
    ref = reference_fields(op.case, q, hs)
    rise = ref.reshape(2, -1).max(1) - 298.15
    assert rise[1] - rise[0] > 4.0  # the two coolings differ a lot...
    for i in range(2):  # ...and both are learned
        assert np.abs(pred[i] - ref[i]).max() < 0.1 * rise[i]
    with pytest.raises(InputError, match="unknown parameter"):
        op.predict(q, {"top_htc": 3.0})


def test_config_errors_name_file_line_and_key(tmp_path):
    path = write_config(tmp_path, training={"batch": 0})
    with pytest.raises(
        InputError, match=r"train\.yaml:\d+: training\.batch: .*greater than or equal to 1"
    ):
        load_train_config(path)
    path.write_text("case: [unclosed")
    with pytest.raises(InputError, match="invalid YAML"):
        load_train_config(path)


@pytest.mark.parametrize(
    ("device", "message"), [("cuda", "no CUDA GPU"), ("gpu0", "unknown device")]
)
def test_unavailable_device_is_a_clear_error(tmp_path, device, message):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(InputError, match=message):
        train(
            write_config(tmp_path, steps=1),
            out=tmp_path / "run",
            quiet=True,
            overrides={"device": device},
        )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_training_predicts_like_the_same_weights_on_the_cpu(tmp_path):
    trainer = train(
        write_config(tmp_path, steps=20, validation={"maps": 0}),
        out=tmp_path / "run",
        quiet=True,
        overrides={"device": "cuda"},
    )
    q = np.random.default_rng(0).normal(0, 2000, (3, 8, 8))
    on_gpu = trainer.op.predict(q)
    op, _ = load_operator(tmp_path / "run", device="cpu")
    assert np.allclose(op.predict(q), on_gpu, atol=1e-4)


def hot_spot_stack() -> dict:
    """STACK with a buried die carrying a fixed 2 mW hot spot ('hot') under the top flux."""
    return {
        **STACK,
        "layers": [
            {"name": "block", "thickness": 4e-4, "material": "m", "cells": 6},
            {"name": "die", "thickness": 1e-4, "material": "m", "cells": 2, "power": "hot"},
        ],
        "power": {
            "flux": {"map": "flux.npy"},
            "hot": {
                "blocks": [
                    {
                        "name": "h",
                        "x": 2e-4,
                        "y": 3e-4,
                        "width": 3e-4,
                        "height": 3e-4,
                        "watts": 2e-3,
                    }
                ]
            },
        },
    }


def test_a_fixed_source_is_added_exactly_and_the_rise_is_learned(tmp_path):
    """A 2 mW hot spot fixed in a buried die under the varying top-face flux: the network
    learns only the flux's rise; the hot spot's field is solved once and added."""
    stack = hot_spot_stack()
    config = write_config(tmp_path)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(stack))
    trainer = train(config, out=tmp_path / "run", quiet=True)
    op, _ = load_operator(tmp_path / "run")
    assert op.case.fixed_sources == ["hot"]
    from chiptherm.operator.catalog import describe

    assert describe(tmp_path / "run").fixed_power == ["hot"]
    grid = op.case.grid()
    zero = np.zeros((1, 8, 8))
    solved = reference_fields(op.case, zero)[0]  # the hot spot alone, by the solver
    assert solved.max() - op.case.ambient > 2.0  # a rise the network never saw
    np.testing.assert_allclose(op.predict(zero)[0], solved, atol=1e-9)
    assert np.allclose(op.background(1, None, grid), solved)
    last = [r["validation"] for r in trainer.history.records if "validation" in r][-1]
    assert last["mae_k"] < 0.05 * (solved.max() - op.case.ambient)


def test_data_targets_are_the_rise_of_the_varying_source_alone(tmp_path):
    """With a fixed source, the data term compares the network with the solver's field less
    the background: by superposition, the field of the varying source alone."""
    from chiptherm.solvers.result import solve

    config = write_config(tmp_path, steps=1, data={"samples": 3, "weight": 1.0})
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(hot_spot_stack()))
    trainer = train(config, out=tmp_path / "run", quiet=True)
    rise = trainer.data_rise(np.arange(3))
    case = trainer.case
    for density, target in zip(trainer.data[0], rise, strict=True):
        alone = case.stack_with(density)
        layers = [la.model_copy(update={"power": None}) for la in alone.layers]
        alone = alone.model_copy(update={"layers": layers})  # the hot spot switched off
        expected = solve(alone).temperature - case.ambient
        np.testing.assert_allclose(target, expected, atol=1e-8)
    assert np.abs(rise).max() > 0.1


TSV_STACK = {
    "name": "tsv-case",
    "size": [1e-3, 1e-3],
    "ambient": 300.0,
    "layers": [
        {"name": "die", "thickness": 1e-4, "material": "silicon", "cells": 3, "power": "p"},
        {
            "name": "bond",
            "thickness": 2e-5,
            "material": "sio2",
            "cells": 2,
            "regions": [
                {"material": "copper", "x": 2e-4, "y": 2e-4, "width": 2e-4, "height": 2e-4},
                {"material": "copper", "x": 6e-4, "y": 5e-4, "width": 2.5e-4, "height": 2.5e-4},
            ],
        },
        {"name": "base", "thickness": 2e-4, "material": "silicon", "cells": 3},
    ],
    "power": {"p": {"map": [[0.01]]}},
    "boundaries": {"top": {"htc": 2e4}, "bottom": {"htc": 2e3}},
    "grid": {"nx": 24, "ny": 24},
}


def test_a_tsv_stack_is_learned_homogenized_and_judged_against_the_true_stack(tmp_path):
    """Copper TSV bundles in an oxide bond layer: the network learns the effective-medium
    stack; the coarse confidence score, computed on the true stack, bounds the real error, and
    the refinement lands on the true solution."""
    from chiptherm.description.stack_io import stack_from_dict
    from chiptherm.errors import UnsupportedError
    from chiptherm.operator.case import Case
    from chiptherm.operator.inference import predict_checked, training_distribution
    from chiptherm.solvers.result import solve
    from chiptherm.trust.confidence import ErrorEstimator

    with pytest.raises(UnsupportedError, match="set 'homogenize: true'"):
        Case(stack_from_dict(TSV_STACK), "p", (24, 24))
    (tmp_path / "stack.yaml").write_text(yaml.safe_dump(TSV_STACK))
    config = {
        "name": "tsv",
        "case": {"stack": "stack.yaml", "power": "p", "sensors": [24, 24], "homogenize": True},
        "distribution": {"kind": "blocks", "count": 4, "watts": [0.01, 0.02], "size": [0.1, 0.4]},
        "model": {
            "rank": 24,
            "combine": "modal",
            "trunk": {"kind": "separable-kan", "width": 16, "depth": 1, "degree": 4},
        },
        "training": {"steps": 200, "batch": 32, "collocation": [1, 1, 32], "refit_every": 100},
        "validation": {"every": 200, "maps": 2},
    }
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    train(tmp_path / "train.yaml", out=tmp_path / "run", quiet=True)
    op, meta = load_operator(tmp_path / "run")
    assert op.case.homogenize and op.case.stack.layers[1].regions  # the true stack is kept
    assert not op.case.physics_stack.layers[1].regions
    from chiptherm.operator.catalog import describe

    assert describe(tmp_path / "run").homogenized == ["bond"]
    maps = training_distribution(meta).sample(
        3, op.case.size, op.case.sensors, np.random.default_rng(1)
    )
    for density in maps:
        stack = op.stack_for(density)
        true = solve(stack).temperature
        predicted = op.predict(density[None])[0]
        error = np.abs(true - predicted).max()
        assert 0.01 < error < 0.1 * (true.max() - 300.0)  # the effective medium is close, not exact
        verdict = ErrorEstimator.for_stack(stack).score(predicted, 0.01)
        assert verdict.method == "coarse" and error <= verdict.error_k <= 2.5 * error
        checked = predict_checked(op, density, None, 0.01, "krylov", compare_cold=False)
        assert checked.path == "refined"
        np.testing.assert_allclose(checked.result.temperature, true, atol=1e-5)
