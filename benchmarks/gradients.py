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


def main() -> None:
    from chiptherm.operator.checkpoint import load_operator, shipped_models
    from chiptherm.operator.gradients import adjoint_gradient, operator_gradient
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
                exact, cell, temperature = adjoint_gradient(op, density)
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
