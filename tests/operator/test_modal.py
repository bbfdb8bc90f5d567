"""The modal operator: its basis, its mode profiles against converged 1-D solutions, and the
whole operator against the finite-volume solver."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import yaml
from pydantic import ValidationError
from scipy.linalg import solve_banded

from chiptherm import Stack
from chiptherm.errors import UnsupportedError
from chiptherm.operator.case import Case, Parameter
from chiptherm.operator.checkpoint import load_operator
from chiptherm.operator.config import ModelConfig
from chiptherm.operator.evaluate import coarsened, error_metrics, reference_fields, refined
from chiptherm.operator.modal import ModalGeometry, cosine_coefficients
from chiptherm.operator.modal_physics import ModalLoss
from chiptherm.operator.model import Operator
from chiptherm.operator.sampling import GaussianField
from chiptherm.operator.train import train

MODAL = {
    "rank": 12,
    "combine": "modal",
    "trunk": {"kind": "separable-kan", "width": 16, "depth": 1, "degree": 5, "layer_norm": False},
}


def three_layers(**changes) -> Stack:
    """A base of 2 W/(m·K), a powered active layer and a cap of 0.1 W/(m·K) (1 mm square)."""
    data = {
        "size": [1e-3, 1e-3],
        "ambient": 300.0,
        "materials": {"base": {"conductivity": 2.0}, "cap": {"conductivity": 0.1}},
        "layers": [
            {"name": "cap", "thickness": 3e-4, "material": "cap", "cells": 12},
            {"name": "active", "thickness": 5e-5, "material": "cap", "cells": 3, "power": "p"},
            {"name": "base", "thickness": 1e-4, "material": "base", "cells": 4},
        ],
        "power": {"p": {"map": [[1e-3]]}},
        "boundaries": {"top": {"htc": 800.0}, "bottom": {"htc": 300.0}},
        "grid": {"nx": 16, "ny": 16},
    }
    data.update(changes)
    return Stack.model_validate(data)


def modal_operator(stack: Stack, sensors=(16, 16), parameters=()) -> Operator:
    """A modal operator of ``stack`` whose heads are fitted to the physics (no training)."""
    case = Case(stack, "p", sensors, list(parameters), power_scale=2e3)
    op = Operator.create(case, ModelConfig.model_validate(MODAL), seed=0)
    depth = op.net.trunk.depth
    loss = ModalLoss(case, depth)
    sample = loss.sample(depth, 256, 40, np.random.default_rng(0))
    residual = loss.refit(depth, sample, {"pde": 1.0, "top": 3.0, "bottom": 3.0, "interface": 3.0})
    assert residual < 1e-3
    return op


def exact_profiles(geo: ModalGeometry, w: np.ndarray, s: np.ndarray, n: int = 40001) -> np.ndarray:
    """G (len(w), len(s)) from a converged finite-volume solve of every mode's 1-D problem
    G'' - π²w²·a_x·G + Q = 0 with Robin faces (second order on n nodes)."""
    nodes = np.linspace(0.0, 1.0, n)
    h = nodes[1] - nodes[0]
    mid = 0.5 * (nodes[1:] + nodes[:-1])
    layer = geo.layer_of(mid)
    ax, q = np.asarray(geo.ax)[layer], np.asarray(geo.source)[layer]
    cv_ax, cv_q = np.zeros(n), np.zeros(n)
    for cv, v in ((cv_ax, ax), (cv_q, q)):
        cv[:-1] += 0.5 * h * v
        cv[1:] += 0.5 * h * v
    out = []
    for wv in w:
        lam = (math.pi * wv) ** 2
        band = np.zeros((3, n))
        band[0, 1:] = band[2, :-1] = -1.0 / h
        band[1] = 2.0 / h + cv_ax * lam
        band[1, 0] += geo.biot["bottom"] - 1.0 / h
        band[1, -1] += geo.biot["top"] - 1.0 / h
        out.append(np.interp(s, nodes, solve_banded((1, 1), band, cv_q)))
    return np.array(out)


def test_basis_derivatives_are_the_derivatives_of_the_basis():
    geo = ModalGeometry.from_case(Case(three_layers(), "p", (8, 8)))
    basis = modal_operator(three_layers()).net.trunk.depth.basis
    rng = np.random.default_rng(1)
    for w in (0.0, 0.7, 3.0, 25.0):
        for layer in range(3):
            s = torch.tensor(rng.uniform(geo.s0[layer], geo.s1[layer], 5), dtype=torch.float64)
            lay = torch.full((5,), layer)
            ww = torch.full((5,), w, dtype=torch.float64)
            _phi, d1, d2 = basis(ww, s, lay)
            for k in range(basis.size):
                sk = s.clone().requires_grad_(True)
                (g1,) = torch.autograd.grad(
                    basis(ww, sk, lay)[0][:, k].sum(), sk, create_graph=True
                )
                (g2,) = torch.autograd.grad(g1.sum(), sk, allow_unused=True)
                g2 = torch.zeros_like(s) if g2 is None else g2
                scale = 1.0 + d2[:, k].abs().max()
                assert torch.allclose(g1, d1[:, k].to(g1), atol=1e-4 * scale, rtol=1e-4)
                assert torch.allclose(g2, d2[:, k].to(g2), atol=1e-4 * scale, rtol=1e-4)


def test_mode_profiles_match_converged_one_dimensional_solutions():
    op = modal_operator(three_layers())
    geo = op.net.trunk.depth.geo
    s = np.linspace(0.0, 1.0, 401)
    g = op.net.trunk.profiles(torch.tensor(s, dtype=torch.float32)).detach().numpy()
    w = geo.wavenumbers(12)
    for j, i in [(0, 0), (0, 1), (1, 1), (3, 4), (11, 11)]:
        exact = exact_profiles(geo, np.array([w[j, i]]), s)[0]
        assert np.abs(g[j, i] - exact).max() < 2e-3 * np.abs(exact).max(), (j, i)


def test_uniform_mode_balances_power_and_heat_out_of_the_faces():
    op = modal_operator(three_layers())
    geo = op.net.trunk.depth.geo
    g = op.net.trunk.profiles(torch.tensor([0.0, 1.0])).detach().numpy()[0, 0]
    power = sum(q * (b - a) for q, a, b in zip(geo.source, geo.s0, geo.s1, strict=True))
    heat_out = geo.biot["bottom"] * g[0] + geo.biot["top"] * g[1]
    assert heat_out == pytest.approx(power, rel=1e-3)


def test_modal_operator_agrees_with_the_solver_on_a_refined_grid():
    stack = three_layers()
    op = modal_operator(stack)
    density = GaussianField(length_scale=0.25, amplitude=2e3, mean=4e3).sample(
        2, op.case.size, op.case.sensors, np.random.default_rng(3)
    )
    reference = reference_fields(op.case, density, refine=2)
    m = error_metrics(op.predict(density), reference, op.case.ambient)
    rise = (reference - op.case.ambient).max()
    assert m.mape_percent < 0.01
    assert m.max_abs_k < 0.01 * rise


def test_one_modal_operator_covers_every_heat_transfer_coefficient_exactly():
    cooling = [Parameter("top_htc", "top", 50.0, 5e4), Parameter("bottom_htc", "bottom", 50.0, 5e4)]
    op = modal_operator(three_layers(), parameters=cooling)
    density = GaussianField(length_scale=0.25, amplitude=2e3, mean=4e3).sample(
        1, op.case.size, op.case.sensors, np.random.default_rng(4)
    )
    rises = []
    for top, bottom in ((50.0, 50.0), (5e4, 50.0), (50.0, 5e4), (3e3, 200.0)):
        values = {"top_htc": top, "bottom_htc": bottom}
        reference = reference_fields(op.case, density, [values], refine=2)
        m = error_metrics(op.predict(density, values), reference, op.case.ambient)
        rise = (reference - op.case.ambient).max()
        rises.append(rise)
        assert m.mape_percent < 0.01, (top, bottom)
        assert m.max_abs_k < 0.01 * rise, (top, bottom)
    assert max(rises) > 4 * min(rises)  # the coolings differ, and every one is exact


@pytest.mark.parametrize(
    "boundaries",
    [
        {"top": {"htc": 800.0}, "bottom": {"temperature": 300.0}},
        {"top": {"temperature": 300.0}, "bottom": {"htc": 50.0}},
        {"bottom": {"htc": 300.0}},  # adiabatic top
        {"top": {"htc": 300.0}},  # adiabatic bottom
    ],
)
def test_modal_operator_holds_fixed_and_adiabatic_faces(boundaries):
    op = modal_operator(three_layers(boundaries=boundaries))
    density = GaussianField(length_scale=0.25, amplitude=2e3, mean=4e3).sample(
        1, op.case.size, op.case.sensors, np.random.default_rng(5)
    )
    reference = reference_fields(op.case, density, refine=2)
    m = error_metrics(op.predict(density), reference, op.case.ambient)
    assert m.max_abs_k < 0.01 * (reference - op.case.ambient).max()
    for face, level in (("bottom", 0.0), ("top", 1.0)):
        if "temperature" in boundaries.get(face, {}):
            at_face = op.net.trunk.profiles(torch.tensor([level])).detach().numpy()
            inside = op.net.trunk.profiles(torch.tensor([0.5])).detach().numpy()
            assert np.abs(at_face).max() < 1e-4 * np.abs(inside).max()


def test_evaluation_draws_parameters_from_their_range_unless_fixed():
    from chiptherm.errors import InputError
    from chiptherm.operator.inference import held_out_parameters

    cooling = [
        Parameter("top_htc", "top", 50.0, 5e4),
        Parameter("bottom_htc", "bottom", 80.0, 90.0),
    ]
    op = modal_operator(three_layers(), parameters=cooling)
    values = held_out_parameters(op, 200, np.random.default_rng(0), {"top_htc": 700.0})
    assert np.all(values["top_htc"] == 700.0)
    assert values["bottom_htc"].min() >= 80.0 and values["bottom_htc"].max() <= 90.0
    assert np.ptp(values["bottom_htc"]) > 5.0
    with pytest.raises(InputError, match="unknown parameter"):
        held_out_parameters(op, 2, np.random.default_rng(0), {"side_htc": 1.0})


def test_cosine_coefficients_integrate_cell_maps_exactly():
    p = cosine_coefficients(5, 4).double().numpy()
    q = np.array([1.0, 0.0, 2.0, 0.0, -1.0])
    c = q @ p
    assert c[0] == pytest.approx(q.mean())
    # (2 - δ)∫ q cos(iπt) dt by fine quadrature of the cell-constant function
    t = (np.arange(200000) + 0.5) / 200000
    qt = q[(t * 5).astype(int)]
    for i in range(1, 4):
        assert c[i] == pytest.approx(2 * np.mean(qt * np.cos(i * np.pi * t)), abs=1e-6)


def test_modal_refuses_what_it_cannot_represent():
    side = three_layers(boundaries={"bottom": {"htc": 300.0}, "west": {"htc": 50.0}})
    with pytest.raises(UnsupportedError, match="adiabatic side"):
        ModalGeometry.from_case(Case(side, "p", (8, 8)))
    data = three_layers().model_dump()
    data["layers"][1]["contact_resistance"] = 1e-5
    with pytest.raises(UnsupportedError, match="contact resistance"):
        ModalGeometry.from_case(Case(Stack.model_validate(data), "p", (8, 8)))
    with pytest.raises(ValidationError, match="separable"):
        ModelConfig.model_validate({**MODAL, "trunk": {"kind": "kan"}})


def test_refined_reference_splits_every_cell_and_averages_back():
    stack = refined(three_layers(), 2)
    assert (stack.grid.nx, stack.grid.ny) == (32, 32)
    assert [la.cells for la in stack.layers] == [24, 6, 8]
    coarse = np.random.default_rng(0).normal(size=(3, 4, 5))
    fine = np.kron(coarse, np.ones((2, 2, 2)))
    np.testing.assert_allclose(coarsened(fine, 2), coarse)


def write_modal_config(folder, **changes) -> None:
    """folder/train.yaml: a short modal training run on the three-layer stack (folder/stack.yaml);
    ``changes`` update the config's sections (case, training, validation)."""
    (folder / "stack.yaml").write_text(yaml.safe_dump(three_layers().model_dump(mode="json")))
    config = {
        "name": "three",
        "case": {"stack": "stack.yaml", "power": "p", "sensors": [16, 16]},
        "distribution": {"kind": "blocks", "count": 3, "watts": [1e-4], "size": [0.2, 0.4]},
        "model": MODAL,
        "training": {"steps": 20, "batch": 32, "collocation": [1, 1, 32], "refit_every": 10},
        "validation": {"every": 20, "maps": 2},
    }
    for section, values in changes.items():
        config[section] = {**config[section], **values}
    (folder / "train.yaml").write_text(yaml.safe_dump(config))


def test_modal_training_run_refits_saves_and_reloads(tmp_path):
    write_modal_config(tmp_path)
    trainer = train(tmp_path / "train.yaml", out=tmp_path / "run", quiet=True)
    assert trainer.metrics is not None and trainer.metrics.mape_percent < 0.01
    assert all(p.requires_grad for p in trainer.trained_parameters())
    assert not any(p is trainer.op.net.trunk.depth.head for p in trainer.trained_parameters())
    loaded, _ = load_operator(tmp_path / "run")
    density = trainer.cfg.distribution.sample(
        1, loaded.case.size, (16, 16), np.random.default_rng(5)
    )
    np.testing.assert_allclose(loaded.predict(density), trainer.op.predict(density), atol=1e-6)


def test_evaluate_refuses_a_refinement_below_one():
    from chiptherm.errors import InputError
    from chiptherm.operator.inference import evaluate_operator

    op = modal_operator(three_layers())
    with pytest.raises(InputError, match="--refine must be at least 1"):
        evaluate_operator(op, GaussianField(), maps=1, refine=0)


def test_cached_profiles_follow_every_change_of_the_weights():
    op = modal_operator(three_layers())
    density = np.full((1, 16, 16), 3e3)
    before = op.predict(density)
    np.testing.assert_array_equal(op.predict(density), before)  # from the cache
    with torch.no_grad():
        op.net.trunk.depth.head0.mul_(0.5)  # the uniform map lives in the w = 0 mode
    after = op.predict(density)
    assert np.abs(after - before).max() > 1e-3
    fresh = Operator.create(op.case, op.net.cfg, seed=0)
    fresh.net.load_state_dict(op.net.state_dict())
    np.testing.assert_allclose(fresh.predict(density), after, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_modal_training_on_the_gpu_predicts_like_the_cpu(tmp_path):
    top = {"name": "top_htc", "face": "top", "low": 50.0, "high": 5e4}
    write_modal_config(tmp_path, case={"parameters": [top]})
    trainer = train(
        tmp_path / "train.yaml", out=tmp_path / "run", quiet=True, overrides={"device": "cuda"}
    )
    assert trainer.metrics is not None and trainer.metrics.mape_percent < 0.01
    density = trainer.cfg.distribution.sample(2, (1e-3, 1e-3), (16, 16), np.random.default_rng(5))
    values = {"top_htc": np.array([60.0, 3e4])}
    on_gpu = trainer.op.predict(density, values)
    op, _ = load_operator(tmp_path / "run", device="cpu")
    np.testing.assert_allclose(op.predict(density, values), on_gpu, atol=1e-3)


def test_modal_training_says_it_ignores_compile_and_graph(tmp_path, capsys):
    write_modal_config(
        tmp_path,
        training={"steps": 2, "batch": 8, "collocation": [1, 1, 16]},
        validation={"maps": 0},
    )
    trainer = train(
        tmp_path / "train.yaml",
        out=tmp_path / "run",
        quiet=True,
        overrides={"compile": True, "cuda_graph": True},
    )
    err = capsys.readouterr().err
    assert "training.compile: not used, modal models train eagerly" in err
    assert "training.cuda_graph: not used, the device is not a CUDA GPU" in err
    assert not trainer.runner.compiled and not trainer.runner.graph
