"""The compiled kernels of the 7-point network against their definitions: the operator against
the assembled matrix, the z-line sweep against the same sweep written as array operations
(the torch path), the transfers against P and Pᵀ, on shapes with odd sizes and single cells
along an axis."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from chiptherm.discretize import kernels
from chiptherm.discretize.layout import from_rows, to_rows
from chiptherm.discretize.stencil import seven_point_matrix
from chiptherm.solvers.multigrid import Level, prolong, restrict

SHAPES = [(5, 7, 9), (1, 4, 6), (3, 1, 5), (4, 6, 1), (2, 2, 2), (6, 11, 8)]


def random_network(shape: tuple[int, int, int], seed: int = 0) -> tuple[np.ndarray, ...]:
    """(diag, gx, gy, gz): links spanning three decades, a diagonal with a sink on top."""
    nz, ny, nx = shape
    rng = np.random.default_rng(seed)

    def links(*s: int) -> np.ndarray:
        return 10.0 ** rng.uniform(-2, 1, size=s)

    gx, gy, gz = links(nz, ny, nx - 1), links(nz, ny - 1, nx), links(nz - 1, ny, nx)
    diag = np.zeros(shape)
    diag[:, :, :-1] += gx
    diag[:, :, 1:] += gx
    diag[:, :-1] += gy
    diag[:, 1:] += gy
    diag[:-1] += gz
    diag[1:] += gz
    diag += rng.uniform(0.01, 0.1, size=shape)
    return diag, gx, gy, gz


@pytest.mark.parametrize("shape", SHAPES)
def test_the_compiled_operator_is_the_assembled_matrix_in_either_layout(shape):
    diag, gx, gy, gz = random_network(shape)
    x = np.random.default_rng(1).standard_normal((3, *shape))
    matrix = seven_point_matrix(diag, gx, gy, gz)
    expected = np.stack([(matrix @ field.ravel()).reshape(shape) for field in x])
    atol = 1e-13 * np.abs(expected).max()
    out = np.empty_like(x)
    kernels.apply_stencil(x, diag, gz, gy, gx, out)  # (nz, ny, nx)
    assert np.allclose(out, expected, rtol=1e-13, atol=atol)
    rows = [to_rows(a) for a in (x, diag, gy, gz, gx)]
    out = np.empty_like(rows[0])
    kernels.apply_stencil(*rows, out)  # (ny, nz, nx)
    assert np.allclose(from_rows(out), expected, rtol=1e-13, atol=atol)


def levels(shape: tuple[int, int, int]) -> tuple[Level, Level]:
    """The same float32 network as a host level (compiled kernels) and a torch one."""
    diag, gx, gy, gz = random_network(shape)
    host = Level(*(a.astype(np.float32) for a in (gx, gy, gz, diag)))
    on_torch = Level(*(torch.tensor(a, dtype=torch.float32) for a in (gx, gy, gz, diag)))
    return host, on_torch


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("red_first", [True, False])
def test_the_compiled_sweep_equals_the_array_sweep(shape, red_first):
    host, on_torch = levels(shape)
    rng = np.random.default_rng(2)
    b = rng.standard_normal((2, *shape)).astype(np.float32)
    x = rng.standard_normal((2, *shape)).astype(np.float32)
    xt, start = torch.tensor(x), x.copy()
    order = (red_first, not red_first)
    rows = host.native(x)  # a copy, or (for a single z-cell) the same memory
    host.sweep(rows, host.native(b), order)
    on_torch.sweep(xt, torch.tensor(b), order)
    swept = host.standard(rows)
    assert np.abs(swept - xt.numpy()).max() <= 1e-5 * np.abs(swept).max()
    assert np.abs(swept - start).max() > 1e-3  # it did move


@pytest.mark.parametrize("shape", SHAPES)
def test_after_a_sweep_the_last_colour_balances_exactly(shape):
    """The columns of the colour swept last were solved exactly along z with their final
    neighbours, so the residual vanishes on them (to float32 round-off)."""
    host, _ = levels(shape)
    b = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    rows = host.native(np.zeros_like(b))
    host.sweep(rows, host.native(b), (True, False))
    residual = (b - host.apply(host.standard(rows))).astype(float)
    _, ny, nx = shape
    black = (np.add.outer(np.arange(ny), np.arange(nx)) % 2 == 1)[None].repeat(shape[0], 0)
    if black.any():
        assert np.abs(residual[black]).max() <= 1e-5 * np.abs(b).max()
    assert np.abs(residual).max() > 1e-3  # the red columns are not yet in balance


@pytest.mark.parametrize("shape", SHAPES)
def test_the_compiled_transfers_are_p_transpose_and_p(shape):
    host, _ = levels(shape)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, *shape)).astype(np.float32)
    b = rng.standard_normal((2, *shape)).astype(np.float32)
    coarse = host.standard(host.restricted_residual(host.native(x), host.native(b)))
    expected = restrict((b - host.apply(x)).astype(float))
    assert np.allclose(coarse, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    e = rng.standard_normal(coarse.shape).astype(np.float32)
    rows = host.native(x.copy())
    host.add_prolonged(rows, host.native(e), 1.5)
    assert np.allclose(host.standard(rows) - x, 1.5 * prolong(e, shape), rtol=1e-6, atol=1e-6)


def test_importing_chiptherm_does_not_load_the_compiler():
    """numba takes about half a second to import: only a multigrid solve on the host pays."""
    code = "import sys, chiptherm, chiptherm.solvers; print('numba' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
