"""The solvers on a torch device: run here through torch on the CPU (and on CUDA, marked gpu,
where a GPU is present). They must agree with the host path and the direct solver, balance
energy, batch exactly, warm-start, and refuse what they cannot do."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chiptherm.discretize.system import System
from chiptherm.errors import InputError, SolverError
from chiptherm.solvers import make_solver, solve_many, solve_system, using_device
from chiptherm.solvers.backend import default_device, resolve
from chiptherm.solvers.device import DeviceSolver
from chiptherm.solvers.multigrid import Multigrid
from tests.solvers.test_multigrid import STACKS, example, tsv_field

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.gpu,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
        ],
    ),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(STACKS))
def test_cg_mg_on_a_device_agrees_with_the_direct_solver(name, device):
    system = System.from_stack(STACKS[name]())
    exact, _ = solve_system(system, "direct", tol=1e-12)
    field, info = solve_system(system, "cg-mg", tol=1e-11, device=device)
    scale = max(float(exact.max() - exact.min()), float(np.abs(exact).max()))
    assert np.abs(field - exact).max() <= 1e-8 * scale
    assert info.relative_residual <= 1e-11
    assert info.device.startswith(device)
    assert abs(system.energy_balance(field).relative_error) < 1e-9


@pytest.mark.parametrize("device", DEVICES)
def test_the_transform_solver_on_a_device_equals_the_host_one(device):
    system = System.from_stack(example("two_die", 40, 30))
    host, host_info = solve_system(system, "auto")
    field, info = solve_system(system, "auto", device=device)
    assert host_info.method == info.method == "transform"
    assert "transform solver on" in info.reason
    assert np.abs(field - host).max() <= 1e-11 * float(np.abs(host).max())


def test_the_cycle_is_the_same_on_numpy_and_on_torch_to_round_off():
    """The multigrid code is written once: the same W-cycle on both gives the same numbers
    (float32 cycle, so to single-precision round-off)."""
    system = System.from_stack(tsv_field(20))
    r = np.random.default_rng(3).standard_normal((2, *system.shape))
    on_host = Multigrid(system).apply_many(r)
    on_torch = Multigrid(system, device=torch.device("cpu"), visits=2).apply_many(
        torch.as_tensor(r)
    )
    assert np.abs(on_torch.numpy() - on_host).max() <= 1e-5 * np.abs(on_host).max()


def test_a_batch_on_a_device_equals_one_by_one():
    system = System.from_stack(example("chiplets", 30, 24))
    solver = make_solver(system, "cg-mg", device="cpu")
    rng = np.random.default_rng(4)
    powers = rng.uniform(0.0, 1e-3, (3, *system.shape))
    rhs = np.stack([system.rhs_for(q) for q in powers])
    together, infos = solve_many(solver, rhs, tol=1e-10)
    for i in range(3):
        alone, _ = solver.solve(rhs[i], tol=1e-10)
        assert np.abs(together[i] - alone).max() <= 1e-8 * np.abs(alone).max()
        assert infos[i].relative_residual <= 1e-10


def test_a_warm_start_on_a_device_saves_iterations():
    system = System.from_stack(example("chiplets", 30, 24))
    solver = make_solver(system, "cg-mg", device="cpu")
    exact, cold = solver.solve(system.rhs, tol=1e-10)
    near = exact + 1e-3 * np.random.default_rng(5).standard_normal(exact.shape)
    _, warm = solver.solve(system.rhs, x0=near, tol=1e-10)
    assert warm.warm_start and warm.iterations < cold.iterations


def test_a_device_solve_that_does_not_converge_is_an_error():
    system = System.from_stack(example("chiplets", 30, 24))
    solver = make_solver(system, "cg-mg", maxiter=2, device="cpu")
    with pytest.raises(SolverError, match="did not converge"):
        solver.solve(system.rhs, tol=1e-12)


def test_host_only_methods_are_refused_when_a_device_is_named_and_kept_inside_a_block():
    system = System.from_stack(example("tsv_array", 12, 12))
    with pytest.raises(SolverError, match="runs on the host only"):
        make_solver(system, "direct", device="cpu")
    with using_device("cpu"):
        assert default_device() == "cpu"
        assert isinstance(make_solver(system, "cg-mg"), DeviceSolver)
        assert not isinstance(make_solver(system, "direct"), DeviceSolver)
        _, info = solve_system(system)
        assert info.device == "cpu" and info.method == "cg-mg"
    assert default_device() == "numpy"
    assert not isinstance(make_solver(system, "cg-mg"), DeviceSolver)


def test_bad_device_names_are_refused_with_what_is_expected():
    with pytest.raises(InputError, match="expected numpy"):
        resolve("gpu0")
    with pytest.raises(InputError, match="chiptherm's solvers run on"):
        resolve("meta")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="sees no CUDA device"):
            resolve("cuda")
        with pytest.raises(InputError, match="sees no CUDA device"), using_device("cuda"):
            pass
    assert resolve("numpy") is None
