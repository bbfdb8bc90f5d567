"""The solver against analytic solutions, and second-order grid convergence."""

from __future__ import annotations

import numpy as np
import pytest

from chiptherm import Block, Layer, PowerSource, Stack, solve
from chiptherm.discretize.grid import Grid


def slab(layers: list[Layer], materials: dict[str, float], flux_w_m2: float, htc: float) -> Stack:
    """A laterally uniform slab: uniform flux into the bottom face, convection to 300 K on top."""
    size = (2e-3, 1e-3)
    full = Block(name="all", x=0, y=0, width=size[0], height=size[1], watts=flux_w_m2 * 2e-6)
    return Stack(
        size=size,
        ambient=300.0,
        materials={name: {"conductivity": k} for name, k in materials.items()},
        layers=layers,
        power={"flux": PowerSource(blocks=[full])},
        boundaries={"top": {"htc": htc}, "bottom": {"power": "flux"}},
        grid={"nx": 4, "ny": 3},
    )


@pytest.mark.parametrize("method", ["transform", "direct", "cg-amg"])
def test_one_layer_slab_is_exact(method: str) -> None:
    q, h, k, thickness = 5e4, 2e3, 20.0, 1e-3
    stack = slab([Layer(name="s", thickness=thickness, material="m", cells=25)], {"m": k}, q, h)
    result = solve(stack, method=method, tol=1e-12)
    z = result.grid.z
    exact = 300.0 + q / h + q * (thickness - z) / k
    rise = exact.max() - 300.0
    assert np.abs(result.temperature - exact[:, None, None]).max() < 1e-9 * rise
    assert result.balance.relative_error < 1e-9


def test_two_layer_slab_with_contact_resistance_is_exact() -> None:
    q, h = 1e5, 5e3
    k_top, k_bot, t_top, t_bot, rc = 150.0, 2.0, 4e-4, 1e-4, 2e-5
    layers = [
        # the contact resistance belongs to the interface below 'top'
        Layer(name="top", thickness=t_top, material="a", cells=8, contact_resistance=rc),
        Layer(name="bot", thickness=t_bot, material="b", cells=5),
    ]
    stack = slab(layers, {"a": k_top, "b": k_bot}, q, h)
    result = solve(stack, method="transform")
    z = result.grid.z
    t_surface = 300.0 + q / h
    t_iface_top = t_surface + q * t_top / k_top
    t_iface_bot = t_iface_top + q * rc
    exact = np.where(
        z >= t_bot,
        t_surface + q * (t_bot + t_top - z) / k_top,
        t_iface_bot + q * (t_bot - z) / k_bot,
    )
    assert np.abs(result.temperature - exact[:, None, None]).max() < 1e-9 * (exact.max() - 300.0)


def cosine_mode_stack(n: int) -> tuple[Stack, np.ndarray]:
    """Sides adiabatic, top and bottom fixed at 300 K, q = Q cos(pi x/Lx) cos(pi y/Ly) sin(pi z/Lz).

    Returns the stack (one z-cell per layer, so each layer carries its own power map) and the
    exact temperature at the cell centres.
    """
    lx, ly, lz, k, big_q = 2e-3, 1e-3, 0.5e-3, 10.0, 5e9
    nz = n
    dz = lz / nz
    x_e = np.linspace(0, lx, n + 1)
    y_e = np.linspace(0, ly, n + 1)
    z_e = np.linspace(0, lz, nz + 1)
    # exact cell integrals of the source, W
    ix = (np.sin(np.pi * x_e[1:] / lx) - np.sin(np.pi * x_e[:-1] / lx)) * lx / np.pi
    iy = (np.sin(np.pi * y_e[1:] / ly) - np.sin(np.pi * y_e[:-1] / ly)) * ly / np.pi
    iz = (np.cos(np.pi * z_e[:-1] / lz) - np.cos(np.pi * z_e[1:] / lz)) * lz / np.pi
    layers, power = [], {}
    for kz in reversed(range(nz)):  # top first
        name = f"l{kz}"
        layers.append(Layer(name=name, thickness=dz, material="m", power=name))
        power[name] = PowerSource(map=big_q * iz[kz] * np.outer(iy, ix))
    stack = Stack(
        size=(lx, ly),
        materials={"m": {"conductivity": k}},
        layers=layers,
        power=power,
        boundaries={"top": {"temperature": 300.0}, "bottom": {"temperature": 300.0}},
        grid={"nx": n, "ny": n},
    )
    g = Grid.from_stack(stack)
    kappa2 = (np.pi / lx) ** 2 + (np.pi / ly) ** 2 + (np.pi / lz) ** 2
    exact = 300.0 + big_q / (k * kappa2) * (
        np.sin(np.pi * g.z / lz)[:, None, None]
        * np.cos(np.pi * g.y / ly)[None, :, None]
        * np.cos(np.pi * g.x / lx)[None, None, :]
    )
    return stack, exact


def test_cosine_mode_converges_at_second_order() -> None:
    errors = []
    for n in (8, 16, 32):
        stack, exact = cosine_mode_stack(n)
        result = solve(stack, method="transform")
        amplitude = np.abs(exact - 300.0).max()
        errors.append(np.abs(result.temperature - exact).max() / amplitude)
        assert result.balance.relative_error < 1e-9
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert errors[-1] < 5e-3
    assert np.all(orders > 1.85), orders


def test_cosine_mode_agrees_between_solvers() -> None:
    stack, _ = cosine_mode_stack(12)
    methods = ("transform", "direct", "cg-amg")
    fields = {m: solve(stack, method=m, tol=1e-12).temperature for m in methods}
    rise = fields["direct"] - 300.0
    scale = np.abs(rise).max()
    for m in ("transform", "cg-amg"):
        assert np.abs(fields[m] - fields["direct"]).max() < 1e-8 * scale
