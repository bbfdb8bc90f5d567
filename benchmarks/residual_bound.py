"""How tight is the M-matrix bound on a prediction's error, as a cheap screen?

The finite-volume matrix A of a stack is an M-matrix (A⁻¹ ≥ 0 entry by entry), so the error
e = A⁻¹r of a prediction with residual r = b - A·T obeys |e| ≤ A⁻¹|r| ≤ s·A⁻¹w for any
positive weight field w with s = max |r|/w. With z = A⁻¹w solved once per stack, the bound
s·max(z) costs one matrix-vector product per prediction and never accepts a prediction whose
true error exceeds the tolerance. It is useful as a screen only where it is close to the true
largest error. This script measures bound / true error on held-out training maps of each
shipped model for two weights: w = 1, and w = the mean |r| of six other predictions (the
typical residual pattern).

    python benchmarks/residual_bound.py

Writes benchmarks/results/residual_bound.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MODELS = ("surface", "volumetric", "stacked_dies")


def ratios(name: str, maps: int = 12) -> dict[str, list[float]]:
    """Bound / true largest error of the last half of ``maps`` predictions, per weight."""
    from chiptherm.operator.checkpoint import load_operator
    from chiptherm.operator.inference import prediction_and_system, training_distribution
    from chiptherm.solvers import make_solver

    op, meta = load_operator(name)
    dens = training_distribution(meta).sample(
        maps, op.case.size, op.case.sensors, np.random.default_rng(1)
    )
    solver, residuals, errors = None, [], []
    for d in dens:
        pred, system = prediction_and_system(op, d)
        solver = solver or make_solver(system, "auto")
        r = system.rhs - system.apply(pred.temperature).reshape(system.shape)
        e, _ = solver.solve(r, tol=1e-10)
        residuals.append(np.abs(r))
        errors.append(float(np.abs(np.asarray(e)).max()))
    half = maps // 2
    weights = {"ones": np.ones_like(residuals[0]), "typical": np.mean(residuals[:half], axis=0)}
    out: dict[str, list[float]] = {"true_error_k": errors[half:]}
    for label, w in weights.items():
        w = np.maximum(w, 1e-300)
        z, _ = solver.solve(w, tol=1e-10)  # type: ignore[union-attr]
        top = float(np.asarray(z).max())
        bounds = [float((r / w).max()) * top for r in residuals[half:]]
        out[label] = [b / t for b, t in zip(bounds, errors[half:], strict=True)]
    return out


def main() -> None:
    from chiptherm.atomic import atomic_write_text
    from chiptherm.operator.inference import machine
    from chiptherm.threads import set_threads

    set_threads(1)
    results = {}
    print(f"{'model':<14} {'true error, K':>16} {'bound/true, w=1':>18} {'w=typical |r|':>16}")
    for name in MODELS:
        found = ratios(name)
        results[name] = found
        true = found["true_error_k"]
        print(
            f"{name:<14} {min(true):7.3f}–{max(true):<7.3f} "
            f"{min(found['ones']):8.0f}–{max(found['ones']):<8.0f} "
            f"{min(found['typical']):7.0f}–{max(found['typical']):<7.0f}"
        )
    out = HERE / "results" / "residual_bound.json"
    atomic_write_text(out, json.dumps({"machine": machine(), "models": results}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
