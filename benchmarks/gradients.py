"""Operator gradients against the solver's adjoint: are the shipped models good for design?

Gradient-based design (a floorplan descent, an inverse power-map problem) needs the derivative
of a temperature with respect to the power map, not only the temperature. For each shipped
model and held-out maps of both kinds (random fields and block maps) this script compares, at
the solver's hottest cell:

- the operator's derivative of that cell's temperature with respect to the power density on
  its sensor grid, by automatic differentiation through the branch and trunk networks;
- the exact derivative of the finite-volume solution: the adjoint field λ = A⁻¹ e (one more
  solve) on the layer or face the map heats, carried back to the sensor grid by the transpose
  of the map's conservative resampling.

Both are K per W/m² of sensor density. It reports their relative L2 difference and, for
scale, the operator's error in the temperature of that cell.

    python benchmarks/gradients.py [--maps 8]

Writes benchmarks/results/gradients.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def solver_gradient(op, density: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int], float]:
    """(sensor-grid gradient K/(W/m²), the hottest cell, its temperature K) by the adjoint."""
    from chiptherm.grid import resample_matrix
    from chiptherm.result import carrier_maps
    from chiptherm.solvers import make_solver
    from chiptherm.system import System

    case = op.case
    system = System.from_stack(case.stack_with(density))
    grid = system.grid
    solver = make_solver(system)
    field, _ = solver.solve(system.rhs)
    field = field.reshape(grid.shape)
    cell = np.unravel_index(int(np.argmax(field)), grid.shape)
    weights = np.zeros(grid.shape)
    weights[cell] = 1.0
    adjoint, _ = solver.solve(weights)
    maps = carrier_maps(case.stack_with(density), grid, adjoint.reshape(grid.shape))
    influence = next(m for source, m in maps.values() if source == case.power)
    sy, sx = case.sensors
    lx, ly = case.size
    rx = resample_matrix(np.linspace(0.0, lx, sx + 1), grid.x_edges)
    ry = resample_matrix(np.linspace(0.0, ly, sy + 1), grid.y_edges)
    area = (lx / sx) * (ly / sy)
    return area * (ry.T @ influence @ rx), cell, float(field[cell])


def operator_gradient(
    op, density: np.ndarray, cell: tuple[int, int, int]
) -> tuple[np.ndarray, float]:
    """(sensor-grid gradient K/(W/m²), the predicted temperature K) at ``cell``."""

    from chiptherm.operator.model import to_tensor

    case = op.case
    xs, ys, ss = case.grid_coordinates(case.grid())
    x, y, s = (
        to_tensor(a[[i]], op.device) for a, i in ((xs, cell[2]), (ys, cell[1]), (ss, cell[0]))
    )
    inputs = op.inputs(density[None])
    q = inputs.q.detach().clone().requires_grad_(True)
    op.net.eval()
    rise = op.net.grid(op.net.branch(q, inputs.p), x, y, s).sum() * case.temperature_scale
    rise.backward()
    gradient = q.grad[0].cpu().numpy().astype(float) / case.power_scale
    background = op.background(1, None, case.grid())
    offset = background if np.isscalar(background) else float(background[0][cell])
    return gradient, float(rise.detach()) + offset


def main() -> None:
    from chiptherm.operator.checkpoint import load_operator, shipped_models
    from chiptherm.operator.inference import distribution_for, machine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", type=int, default=8, help="maps per model and kind")
    args = parser.parse_args()
    rows = []
    print(f"{'model':>14} {'kind':>6} {'grad rel L2 mean':>17} {'worst':>7} {'|T err| K':>10}")
    for name in shipped_models():
        op, meta = load_operator(name)
        for kind in ("grf", "blocks"):
            maps = distribution_for(meta, kind).sample(
                args.maps, op.case.size, op.case.sensors, np.random.default_rng(12345)
            )
            errors, misses = [], []
            for density in maps:
                exact, cell, temperature = solver_gradient(op, density)
                learned, predicted = operator_gradient(op, density, cell)
                errors.append(float(np.linalg.norm(learned - exact) / np.linalg.norm(exact)))
                misses.append(abs(predicted - temperature))
            rows.append(
                {
                    "model": name,
                    "kind": kind,
                    "maps": len(maps),
                    "gradient_rel_l2_mean": float(np.mean(errors)),
                    "gradient_rel_l2_worst": float(np.max(errors)),
                    "temperature_error_mean_k": float(np.mean(misses)),
                }
            )
            r = rows[-1]
            print(
                f"{name:>14} {kind:>6} {r['gradient_rel_l2_mean']:>17.3f} "
                f"{r['gradient_rel_l2_worst']:>7.3f} {r['temperature_error_mean_k']:>10.4f}"
            )
    out = HERE / "results" / "gradients.json"
    out.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
