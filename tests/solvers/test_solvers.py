"""Solvers agree with each other, balance energy, warm-start, and fail loudly."""

from __future__ import annotations

import numpy as np
import pytest

from chiptherm import SolverError, Stack, System, solve
from chiptherm.solvers import choose_method, make_solver, solve_system
from tests.conftest import EXAMPLES, example

UNIFORM = ["single_die", "two_die", "microbump"]


def rise_error(a: np.ndarray, b: np.ndarray, ambient: float) -> float:
    """Max difference relative to the max temperature rise of b."""
    return float(np.abs(a - b).max() / np.abs(b - ambient).max())


@pytest.mark.parametrize("name", UNIFORM)
def test_uniform_examples_agree_across_solvers(name: str) -> None:
    stack = example(name, 20, 16)
    system = System.from_stack(stack)
    assert system.lateral_structure is not None
    reference, _ = solve_system(system, "direct")
    for method in ("transform", "cg-amg", "cg-transform", "gmres-amg"):
        field, info = solve_system(system, method, tol=1e-12)
        assert rise_error(field, reference, stack.ambient) < 1e-8, method
        assert system.energy_balance(field).relative_error < 1e-9, method
        assert info.relative_residual < 1e-11, method


def test_fixed_temperature_sides_use_the_sine_transform() -> None:
    base = example("two_die", 18, 14)
    sides = {face: {"temperature": 310.0} for face in ("north", "south", "east", "west")}
    stack = Stack.model_validate({**base.model_dump(), "boundaries": {**sides}})
    system = System.from_stack(stack)
    structure = system.lateral_structure
    assert structure is not None and structure.kind_x == structure.kind_y == "dirichlet"
    fast, _ = solve_system(system, "transform")
    reference, _ = solve_system(system, "direct")
    assert rise_error(fast, reference, 310.0) < 1e-8
    assert system.energy_balance(fast).relative_error < 1e-9


def test_non_uniform_stack_is_not_given_to_the_transform_solver() -> None:
    stack = example("tsv_array", 20, 20)
    system = System.from_stack(stack)
    assert system.lateral_structure is None
    assert choose_method(system) == "direct"
    with pytest.raises(SolverError, match="laterally uniform"):
        make_solver(system, "transform")
    reference, _ = solve_system(system, "direct")
    for method in ("cg-amg", "cg-transform", "gmres-amg"):
        field, _ = solve_system(system, method, tol=1e-12)
        assert rise_error(field, reference, stack.ambient) < 1e-8, method
        assert system.energy_balance(field).relative_error < 1e-9


def test_energy_balance_counts_every_face() -> None:
    result = solve(example("tsv_array", 16, 16))
    by_face = result.balance.by_face
    assert set(by_face) == {"top", "east"}
    assert by_face["east"] > 0 and by_face["top"] > 0
    assert abs(sum(by_face.values()) - result.stack.total_power) < 1e-9 * result.stack.total_power


def test_warm_start_from_the_answer_needs_no_iterations() -> None:
    stack = example("tsv_array", 16, 16)
    cold = solve(stack, method="cg-amg", tol=1e-10)
    assert cold.info.iterations > 3
    warm = solve(stack, method="cg-amg", tol=1e-10, x0=cold.temperature)
    assert warm.info.iterations == 0 and warm.info.warm_start
    nearby = solve(stack, method="cg-amg", tol=1e-10, x0=cold.temperature + 0.01)
    assert nearby.info.iterations < cold.info.iterations


def test_non_convergence_is_an_error() -> None:
    stack = example("tsv_array", 16, 16)
    with pytest.raises(SolverError, match="did not converge"):
        solve(stack, method="cg-transform", tol=1e-12, maxiter=1)


def test_unknown_method_is_an_error(two_die: Stack) -> None:
    with pytest.raises(SolverError, match="unknown solver 'magic'"):
        solve(two_die, method="magic")


def test_symmetric_input_gives_symmetric_field() -> None:
    data = example("two_die").model_dump()
    data["power"] = {
        "p": {
            "blocks": [
                {
                    "name": "c",
                    "x": 0.003,
                    "y": 0.003,
                    "width": 0.004,
                    "height": 0.004,
                    "watts": 10.0,
                }
            ]
        }
    }
    data["layers"] = [{**layer, "power": None} for layer in data["layers"]]
    data["layers"][6]["power"] = "p"
    data["grid"] = {"nx": 30, "ny": 30}
    t = solve(Stack.model_validate(data)).temperature
    scale = float(t.max() - 300.0)
    assert np.abs(t - t[:, :, ::-1]).max() < 1e-10 * scale  # east-west mirror
    assert np.abs(t - t[:, ::-1, :]).max() < 1e-10 * scale  # north-south mirror
    assert np.abs(t - t.transpose(0, 2, 1)).max() < 1e-10 * scale  # diagonal


def test_matrix_and_matrix_free_product_agree() -> None:
    system = System.from_stack(example("tsv_array", 9, 7))
    rng = np.random.default_rng(0)
    t = rng.normal(300, 5, system.shape)
    dense = (system.matrix @ t.ravel()).reshape(system.shape)
    assert np.allclose(dense, system.apply(t), rtol=1e-13, atol=1e-13 * np.abs(dense).max())
    a = system.matrix
    assert abs(a - a.T).max() == 0.0


def test_fft_and_matrix_lateral_transforms_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    from chiptherm.solvers import transform

    stack = example("microbump", 21, 13)
    system = System.from_stack(stack)
    mixed = transform.LateralBasis(13, 21, "neumann", "neumann")
    assert mixed.my is not None and mixed.mx is None  # 13 is prime: a product; 21 = 3·7: FFT
    by_default, _ = solve_system(system, "transform")
    monkeypatch.setattr(transform, "fast_fft_size", lambda n: False)
    by_matmul, _ = solve_system(system, "transform")
    monkeypatch.setattr(transform, "MATMUL_LIMIT", 0)
    by_fft, _ = solve_system(system, "transform")
    assert rise_error(by_fft, by_matmul, stack.ambient) < 1e-10
    assert rise_error(by_default, by_matmul, stack.ambient) < 1e-10


def test_the_lateral_transform_takes_the_fft_where_it_is_fast_and_products_for_primes():
    from chiptherm.solvers.transform import LateralBasis

    assert LateralBasis(64, 100, "neumann", "dirichlet").mx is None  # both FFT
    mixed = LateralBasis(64, 101, "neumann", "neumann")  # x prime: a product; y: FFT
    assert mixed.mx is not None and mixed.my is None and not mixed.matmul
    assert LateralBasis(509, 509, "neumann", "neumann").mx is None  # past MATMUL_LIMIT
    assert LateralBasis(64, 64, "neumann", "neumann", device="cpu").matmul  # torch: products
    a = np.random.default_rng(0).standard_normal((2, 3, 64, 101))
    assert np.allclose(mixed.inverse(mixed.forward(a)), a, atol=1e-12)


def test_progress_messages_follow_the_solve_to_its_last_iteration():
    from chiptherm.formats.loading import load_stack

    messages: list[str] = []
    stack = load_stack(EXAMPLES / "tsv_array.yaml")
    result = solve(stack, method="cg-amg", progress=messages.append)
    assert messages[0] == "assembling tsv-array"
    assert messages[1].startswith("cg-amg: setting up for")
    assert messages[-1] == f"cg-amg: iteration {result.info.iterations}"
    direct: list[str] = []
    solve(stack, method="direct", progress=direct.append)
    assert direct[-1].startswith("direct: solving")
