"""The training step: recorded-graph plumbing that can be checked on the CPU, and the recorded
step itself on a GPU."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from chiptherm.operator.checkpoint import load_training_state
from chiptherm.operator.physics import Collocation, Inputs, PhysicsLoss, sample_collocation
from chiptherm.operator.step import StaticBatch, TrainingStep
from chiptherm.operator.train import train

from .test_training import write_config


def make_step(tmp_path, device: str = "cpu", graph: bool = False):
    """A trainer of the tiny case (no steps run) and a TrainingStep over its loss."""
    from chiptherm.operator.train import Trainer
    from chiptherm.operator.training_config import load_train_config

    cfg, base = load_train_config(write_config(tmp_path, steps=5, validation={"maps": 0}))
    cfg = cfg.model_copy(
        update={"training": cfg.training.model_copy(update={"device": device, "clip": 1.0})}
    )
    trainer = Trainer(cfg, base, tmp_path / "run", quiet=True)
    params = list(trainer.op.net.parameters())
    step = TrainingStep(
        trainer.loss_terms, trainer.total, trainer.optimizer, params, clip=1.0, graph=graph
    )
    return trainer, step


def test_restore_undoes_warm_up_steps_exactly(tmp_path):
    trainer, step = make_step(tmp_path)
    twin = copy.deepcopy((trainer.op.net, trainer.optimizer.state_dict()))
    batch = trainer.batch()

    saved = step._snapshot()  # fresh optimizer: no state yet
    for _ in range(3):
        step(*batch)
    assert not torch.equal(next(trainer.op.net.parameters()), next(twin[0].parameters()))
    step._restore(saved)
    for p, q in zip(trainer.op.net.parameters(), twin[0].parameters(), strict=True):
        assert torch.equal(p, q)
    for state in trainer.optimizer.state.values():  # as a fresh Adam: zero moments, step 0
        assert all(float(v.abs().max()) == 0.0 for v in state.values())

    # the next step is the first step of a fresh run
    loss, _ = step(*batch)
    fresh_opt = torch.optim.Adam(twin[0].parameters(), lr=trainer.cfg.training.lr)
    terms = trainer.loss.__call__(twin[0], *batch)
    fresh_loss = trainer.total(terms)
    fresh_loss.backward()
    torch.nn.utils.clip_grad_norm_(list(twin[0].parameters()), 1.0)
    fresh_opt.step()
    assert float(loss.detach()) == pytest.approx(float(fresh_loss.detach()), rel=1e-6)
    for p, q in zip(trainer.op.net.parameters(), twin[0].parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_restore_keeps_existing_optimizer_state(tmp_path):
    trainer, step = make_step(tmp_path)
    batch = trainer.batch()
    step(*batch)  # Adam now has moments
    before = {k: v.clone() for k, v in trainer.optimizer.state[step.parameters[0]].items()}
    saved = step._snapshot()
    step(*batch)
    step._restore(saved)
    for name, value in trainer.optimizer.state[step.parameters[0]].items():
        torch.testing.assert_close(value, before[name], rtol=0, atol=0)


def test_static_batch_copies_values_and_refuses_other_shapes(tmp_path):
    trainer, _ = make_step(tmp_path)
    inputs, col = trainer.batch()
    static = StaticBatch.like(inputs, col)
    new_inputs, new_col = trainer.batch()
    static.load(new_inputs, new_col)
    assert torch.equal(static.inputs.q, new_inputs.q)
    assert torch.equal(static.col.s, new_col.s)
    assert static.inputs.q.data_ptr() != new_inputs.q.data_ptr()  # copied, not rebound

    bigger = trainer.op.inputs(np.zeros((9, 8, 8)))
    with pytest.raises(ValueError, match="fixed shapes"):
        static.load(bigger, new_col)
    other = sample_collocation(trainer.case, (8, 8, 7), trainer.rng)
    with pytest.raises(ValueError, match="fixed shapes"):
        static.load(new_inputs, other)


def test_learning_rate_tensor_is_filled_in_place(tmp_path):
    trainer, step = make_step(tmp_path)
    group = trainer.optimizer.param_groups[0]
    step.set_learning_rate(3e-4)
    assert group["lr"] == 3e-4
    group["lr"] = lr = torch.tensor(1e-3)
    step.set_learning_rate(2e-4)
    assert group["lr"] is lr and float(lr) == pytest.approx(2e-4)


def test_state_of_a_recordable_optimizer_resumes_into_a_plain_one(tmp_path):
    trainer, step = make_step(tmp_path)
    step(*trainer.batch())
    for group in trainer.optimizer.param_groups:  # as a recorded step leaves them
        group["lr"], group["capturable"] = torch.tensor(1e-3), True
    trainer.step = 1
    trainer.save()  # weights and state, as at a checkpoint
    json.loads((trainer.out / "state.json").read_text())  # plain JSON
    fresh = torch.optim.Adam(step.parameters, lr=5.0)
    load_training_state(trainer.out, fresh)
    group = fresh.param_groups[0]
    assert group["lr"] == pytest.approx(1e-3) and group["capturable"] is False


def test_per_layer_constants_are_looked_up_per_depth_point():
    from chiptherm.formats.loading import load_stack
    from chiptherm.operator.case import Case

    case = Case(load_stack("examples/volumetric.yaml"), "blocks", (11, 11), power_scale=1.0)
    loss = PhysicsLoss(case)
    layer = sample_collocation(case, (4, 4, 9), None).layer
    expected = np.array([case.layers[i].ax for i in layer.tolist()])
    np.testing.assert_allclose(loss._per_z("ax", layer).numpy(), expected, rtol=1e-6)
    assert loss._per_z("source", layer).shape == (9,)


def test_cuda_graph_option_on_the_cpu_trains_eagerly(tmp_path, capsys):
    config = write_config(tmp_path, steps=4, validation={"maps": 0})
    plain = train(config, out=tmp_path / "a", quiet=True)
    asked = train(config, out=tmp_path / "b", quiet=True, overrides={"cuda_graph": True})
    assert not asked.runner.graph
    # said even when quiet, and recorded with the model
    assert "training.cuda_graph: not used, the device is not a CUDA GPU" in capsys.readouterr().err
    recorded = json.loads((tmp_path / "b" / "model.json").read_text())["training"]
    assert recorded["cuda_graph"] is False and recorded["compiled"] is False
    for p, q in zip(plain.op.net.parameters(), asked.op.net.parameters(), strict=True):
        assert torch.equal(p, q)


def eager_and_fast(tmp_path, steps: int, **fast: bool):
    """Two cuda runs of the tiny config, eager and with ``fast`` (cuda_graph, compile), whose
    logged losses agree; returns (config, eager trainer, fast trainer)."""
    config = write_config(tmp_path, steps=steps, validation={"maps": 0})
    eager = train(config, out=tmp_path / "eager", quiet=True, overrides={"device": "cuda"})
    other = train(config, out=tmp_path / "fast", quiet=True, overrides={"device": "cuda", **fast})
    assert other.runner.failures == []
    losses = [[r["loss"] for r in t.history.records if "loss" in r] for t in (eager, other)]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-3)
    return config, eager, other


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_recorded_training_follows_the_eager_run_on_the_gpu(tmp_path):
    config, eager, graphed = eager_and_fast(tmp_path, 60, cuda_graph=True)
    assert graphed.runner.graph and graphed.runner._recorded is not None
    q = np.random.default_rng(0).normal(0, 2000, (3, 8, 8))
    np.testing.assert_allclose(eager.op.predict(q), graphed.op.predict(q), atol=1e-3)
    # the recorded run resumes and saves like any other
    more = train(
        config,
        out=tmp_path / "fast",
        resume=True,
        quiet=True,
        overrides={"device": "cuda", "cuda_graph": True, "steps": 70},
    )
    assert more.step == 70


def test_a_failed_recording_falls_back_to_eager_steps_or_raises(tmp_path, monkeypatch):
    trainer, step = make_step(tmp_path)

    def broken(*_):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(step, "_record", broken)
    step.graph = True  # as on a GPU
    with pytest.raises(RuntimeError, match="capturing"):
        step(*trainer.batch())
    step.fallback = True
    before = next(trainer.op.net.parameters()).clone()
    loss, _ = step(*trainer.batch())
    assert not step.graph and "capturing" in step.failures[0]
    assert torch.isfinite(loss) and not torch.equal(before, next(trainer.op.net.parameters()))


def test_compiled_loss_trains_like_the_eager_one(tmp_path):
    config = write_config(tmp_path, steps=6, validation={"maps": 0})
    plain = train(config, out=tmp_path / "a", quiet=True)
    fast = train(config, out=tmp_path / "b", quiet=True, overrides={"compile": True})
    assert json.loads((tmp_path / "b" / "model.json").read_text())["training"]["compiled"]
    losses = [[r["loss"] for r in t.history.records if "loss" in r] for t in (plain, fast)]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)
    for p, q in zip(plain.op.net.parameters(), fast.op.net.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-5)
    # the compiled terms are traced as one graph: nothing in the loss drops back to Python
    inputs, col = fast.batch()
    explained = torch._dynamo.explain(fast.loss_terms)(inputs, col)
    assert explained.graph_break_count == 0


def test_a_failed_compile_falls_back_to_the_plain_loss(tmp_path, monkeypatch):
    trainer, _ = make_step(tmp_path)

    def broken(fn):
        def run(*batch):
            raise RuntimeError("backend compiler failed")

        return run

    monkeypatch.setattr("chiptherm.operator.step.compiled", broken)
    params = list(trainer.op.net.parameters())
    args = (trainer.loss_terms, trainer.total, trainer.optimizer, params)
    strict = TrainingStep(*args, compile=True)
    assert strict.pending() == ["compiling the loss"]
    with pytest.raises(RuntimeError, match="backend compiler"):
        strict(*trainer.batch())
    forgiving = TrainingStep(*args, compile=True, fallback=True)
    loss, _ = forgiving(*trainer.batch())
    assert torch.isfinite(loss) and forgiving.terms == trainer.loss_terms
    assert "torch.compile failed" in forgiving.failures[0] and not forgiving.compiled
    assert forgiving.pending() == []


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_compiled_and_recorded_training_follows_the_eager_run_on_the_gpu(tmp_path):
    _, _, fast = eager_and_fast(tmp_path, 30, cuda_graph=True, compile=True)
    assert fast.runner.compiled and fast.runner.graph


def test_static_batch_refuses_other_inputs_or_depth_layers(tmp_path):
    trainer, _ = make_step(tmp_path)
    inputs, col = trainer.batch()
    static = StaticBatch.like(inputs, col)
    other = Collocation(col.x, col.y, col.s, col.layer.flip(0) + 1)
    with pytest.raises(ValueError, match="same depth points per layer"):
        static.load(inputs, other)
    no_cooling = Inputs(inputs.q, inputs.p, {})
    with pytest.raises(ValueError, match="same inputs every step"):
        static.load(no_cooling, col)
