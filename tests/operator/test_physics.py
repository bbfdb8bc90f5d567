"""The physics loss against exact solutions, and forward-mode derivatives against autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from chiptherm import Stack
from chiptherm.operator.case import Case
from chiptherm.operator.config import ModelConfig, TrunkConfig
from chiptherm.operator.deeponet import DeepONet
from chiptherm.operator.model import Operator
from chiptherm.operator.physics import PhysicsLoss, sample_collocation

SIZE = (1e-3, 1e-3)


def slab(power_on: str, layers: list[dict], **boundaries) -> Stack:
    """A stack whose power source 'p' feeds a layer or the top face."""
    data = {
        "size": list(SIZE),
        "ambient": 300.0,
        "materials": {"a": {"conductivity": 0.5}, "b": {"conductivity": 3.0}},
        "layers": layers,
        "power": {"p": {"map": [[1.0]]}},
        "boundaries": {"bottom": {"htc": 400.0}, **boundaries},
        "grid": {"nx": 8, "ny": 8},
    }
    if power_on == "top":
        data["boundaries"]["top"] = {**data["boundaries"].get("top", {}), "power": "p"}
    return Stack.model_validate(data)


class Profile(nn.Module):
    """A rank-1 'trunk' that is exactly X = Y = 1, Z = f(ŝ) for a given function of ŝ."""

    def __init__(self, f) -> None:
        super().__init__()
        self.f = f

    def derivatives(self, x, y, s):
        ones = [
            (torch.ones(len(t), 1), torch.zeros(len(t), 1), torch.zeros(len(t), 1)) for t in (x, y)
        ]
        s = s.detach().double().requires_grad_(True)
        z = self.f(s)
        (d1,) = torch.autograd.grad(z.sum(), s, create_graph=True)
        if d1.requires_grad:
            (d2,) = torch.autograd.grad(d1.sum(), s, allow_unused=True)
        d2 = torch.zeros_like(s) if not d1.requires_grad or d2 is None else d2
        return [
            *ones,
            (z.detach()[:, None].float(), d1.detach()[:, None].float(), d2[:, None].float()),
        ]


def residuals(case: Case, profile, density: float) -> dict[str, float]:
    op = Operator.create(case, ModelConfig(rank=1))
    op.net.trunk = Profile(profile)
    loss = PhysicsLoss(case, energy=True)
    inputs = op.inputs(np.full((2, *case.sensors), density))
    col = sample_collocation(case, (5, 5, 12), np.random.default_rng(0))
    b = torch.ones(2, 1)
    return {k: float(v) for k, v in loss.separable_terms(op.net, b, inputs, col).items()}


def test_surface_flux_slab_is_an_exact_zero_of_the_loss():
    # T(s) = Ta + q (1/h + s): in the resistance coordinate the field is linear
    q = 3000.0
    case = Case(slab("top", [{"name": "x", "thickness": 4e-4, "material": "a"}]), "p", (4, 4))
    theta, big_s = case.temperature_scale, case.s_total

    def exact(s):
        return q / theta * (1 / 400.0 + s * big_s)

    terms = residuals(case, exact, q)
    assert "energy" in terms and max(terms.values()) < 1e-10
    assert residuals(case, lambda s: 1.05 * exact(s), q)["top"] > 1e-6  # too much flux
    too_warm = residuals(case, lambda s: exact(s) + 0.01, q)
    assert too_warm["bottom"] > 1e-6 and too_warm["energy"] > 1e-6  # loses too much heat


def test_volumetric_source_in_a_two_material_stack_is_an_exact_zero_of_the_loss():
    # power q (W/m²) in the middle layer, bottom convective, top adiabatic. In s, T'' = -kz·q_vol
    # inside the source layer and T' = heat flowing up... all heat leaves through the bottom.
    layers = [
        {"name": "top", "thickness": 2e-4, "material": "a"},
        {"name": "src", "thickness": 5e-5, "material": "a", "power": "p"},
        {"name": "base", "thickness": 1e-4, "material": "b", "contact_resistance": 0.0},
    ]
    layers[1]["contact_resistance"] = 2e-4  # between src and base: tests the gap in s
    q = 2.0e4
    case = Case(slab("layer", layers), "p", (4, 4))
    spans = case.layers  # bottom first: base, src, top
    theta, big_s = case.temperature_scale, case.s_total
    src = spans[1]
    q_vol, kz = q / (src.z1 - src.z0), src.kz
    s_a, s_b = src.s0 * big_s, src.s1 * big_s

    def exact(s_hat):
        s = s_hat * big_s
        # flux downward through the bottom = q; T'(s) = -q below the source, 0 above it
        t0 = 300.0 + q / 400.0
        below = t0 + q * s
        inside = t0 + q * s - 0.5 * kz * q_vol * (s - s_a) ** 2
        top_value = t0 + q * s_b - 0.5 * kz * q_vol * (s_b - s_a) ** 2
        out = torch.where(s < s_a, below, torch.where(s <= s_b, inside, top_value + 0 * s))
        return (out - 300.0) / theta

    assert np.isclose(kz * q_vol * (s_b - s_a), q)  # heat made in the layer = q
    terms = residuals(case, exact, q)
    assert max(terms.values()) < 1e-9
    wrong = residuals(case, lambda s: exact(s) * (1 + 0.1 * s), q)
    assert wrong["pde"] > 1e-6


def forward_and_autograd_terms(case: Case, net: DeepONet, cfg: ModelConfig, samples: int):
    """The loss terms of a float64 ``net`` on random maps: forward-mode and per-point autograd."""
    loss = PhysicsLoss(case)
    op = Operator(case, net, cfg)
    inputs = op.inputs(np.random.default_rng(1).normal(0, 2000, (samples, 6, 6)))
    inputs.q = inputs.q.double()
    inputs.biot = {k: v.double() for k, v in inputs.biot.items()}
    col = sample_collocation(case, (5, 4, 6), np.random.default_rng(2))
    col.x, col.y, col.s = col.x.double(), col.y.double(), col.s.double()
    b = net.branch(inputs.q, inputs.p)
    return loss.separable_terms(net, b, inputs, col), loss.point_terms(net, b, inputs, col)


@pytest.mark.parametrize(
    ("kind", "combine"),
    [("separable-kan", "product"), ("separable-mlp", "product"), ("separable-kan", "tucker")],
)
def test_forward_mode_terms_equal_per_point_autograd_terms(kind, combine):
    stack = slab(
        "top",
        [
            {"name": "x", "thickness": 4e-4, "material": "a"},
            {"name": "y", "thickness": 1e-4, "material": "b"},
        ],
        east={"htc": 50.0},
    )
    case = Case(stack, "p", (6, 6))
    torch.manual_seed(0)
    cfg = ModelConfig(
        rank=6, combine=combine, trunk=TrunkConfig(kind=kind, width=8, depth=2, features=3)
    )
    net = DeepONet(cfg, case.sensors, 0, cosine_x=False, cosine_y=True, centres=(0.4,))
    for p in net.parameters():  # make the field far from zero so every term matters
        p.data.normal_(0.0, 0.3)
    net = net.double()
    fast, slow = forward_and_autograd_terms(case, net, cfg, samples=3)
    assert set(fast) == set(slow) == {"pde", "top", "bottom", "west", "east"}  # no energy term:
    # the east face is cooled
    for name in fast:
        assert float(fast[name].detach()) == pytest.approx(float(slow[name].detach()), rel=1e-9), (
            name
        )


def test_separable_derivatives_match_finite_differences_and_vanish_on_adiabatic_ends():
    torch.manual_seed(3)
    cfg = ModelConfig(rank=4, trunk=TrunkConfig(kind="separable-kan", width=6, depth=1, degree=4))
    net = DeepONet(cfg, (4, 4), 0, cosine_x=True, cosine_y=False).double()
    x = torch.linspace(0.0, 1.0, 9, dtype=torch.float64)
    (_, dx, dxx), (_, dy, dyy), _ = net.trunk.derivatives(x, x, x)
    h = 1e-4
    for i, (d1, d2) in enumerate(((dx, dxx), (dy, dyy))):
        inner = x[1:-1]
        plus = net.trunk.features(*[inner + h if j == i else inner for j in range(3)])[i]
        minus = net.trunk.features(*[inner - h if j == i else inner for j in range(3)])[i]
        mid = net.trunk.features(inner, inner, inner)[i]
        assert torch.allclose(d1[1:-1], (plus - minus) / (2 * h), atol=1e-6)
        assert torch.allclose(d2[1:-1], (plus - 2 * mid + minus) / h**2, atol=1e-3)
    assert torch.allclose(dx[[0, -1]], torch.zeros_like(dx[[0, -1]]), atol=1e-7)
    assert dy[[0, -1]].abs().max() > 1e-3  # y has a convective-capable (linear) embedding


def test_grid_evaluation_equals_point_evaluation():
    torch.manual_seed(4)
    for kind, combine in (
        ("separable-kan", "product"),
        ("separable-mlp", "tucker"),
        ("mlp", "product"),
        ("kan", "product"),
    ):
        trunk = TrunkConfig(kind=kind, width=8, depth=2, fourier=4, features=2)
        cfg = ModelConfig(rank=5, combine=combine, trunk=trunk)
        net = DeepONet(cfg, (3, 3), 0, cosine_x=True, cosine_y=False)
        b = net.branch(torch.randn(2, 3, 3))
        x, y, s = torch.rand(4), torch.rand(3), torch.rand(2)
        grid = net.grid(b, x, y, s)
        zz, yy, xx = torch.meshgrid(s, y, x, indexing="ij")
        pts = torch.stack([xx, yy, zz], -1).reshape(1, -1, 3).expand(2, -1, -1)
        assert torch.allclose(grid.reshape(2, -1), net.points(b, pts), atol=1e-5), kind


def test_cosine_lateral_trunk_terms_equal_autograd_and_use_exact_modes():
    """``lateral: cosine``: x and y trunk functions are cos(iπt) themselves; the depth network
    is differentiated forward-mode, and the terms still equal per-point autograd."""
    stack = slab(
        "top",
        [
            {"name": "x", "thickness": 4e-4, "material": "a"},
            {"name": "y", "thickness": 1e-4, "material": "b"},
        ],
    )
    case = Case(stack, "p", (6, 6))
    torch.manual_seed(0)
    trunk = TrunkConfig(kind="separable-kan", width=8, depth=2, features=3, lateral="cosine")
    cfg = ModelConfig(rank=5, combine="tucker", trunk=trunk)
    net = DeepONet(cfg, case.sensors, 0, cosine_x=True, cosine_y=True).double()
    for p in net.parameters():
        p.data.normal_(0.0, 0.3)
    t = torch.linspace(0.0, 1.0, 7, dtype=torch.float64)
    fx, fy, _ = net.trunk.features(t, t, t)
    modes = torch.cos(torch.pi * t[:, None] * torch.arange(5, dtype=torch.float64))
    assert torch.allclose(fx, modes, atol=1e-6) and torch.allclose(fy, modes, atol=1e-6)
    fast, slow = forward_and_autograd_terms(case, net, cfg, samples=2)
    assert set(fast) == set(slow) == {"pde", "top", "bottom"}  # adiabatic sides are exact
    for name in fast:
        assert float(fast[name].detach()) == pytest.approx(float(slow[name].detach()), rel=1e-6)


def test_cosine_lateral_trunk_needs_adiabatic_sides_and_a_separable_trunk():
    trunk = TrunkConfig(kind="separable-kan", lateral="cosine")
    with pytest.raises(ValueError, match="adiabatic"):
        DeepONet(ModelConfig(rank=4, combine="tucker", trunk=trunk), (4, 4), 0, True, False)
    with pytest.raises(ValueError, match="separable"):
        TrunkConfig(kind="kan", lateral="cosine")
