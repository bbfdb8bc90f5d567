"""Floorplan descent benchmark: CMA-ES alone against a short CMA-ES run polished by gradient
descent (adjoint gradients of the block positions, L-BFGS-B on a smooth maximum).

The problem places three cores of the single-die example (a fixed I/O strip stays) to
minimize the solver's peak temperature, for five seeds, in the same run:

- ``cma``: CMA-ES with 400 solver evaluations;
- ``cma+descent``: CMA-ES with 60 evaluations, then at most 100 descent steps (each a solve
  and an adjoint solve).

The table gives the verified peaks, the solves each took and the wall time.

    python benchmarks/descent.py

Writes benchmarks/results/descent.json.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEEDS = [0, 1, 2, 3, 4]
BLOCKS = [
    {"name": "core0", "width": 3e-3, "height": 3.5e-3, "watts": 18.0, "x": 1e-3, "y": 5.5e-3},
    {"name": "core1", "width": 3e-3, "height": 3.5e-3, "watts": 18.0, "x": 4.5e-3, "y": 5.5e-3},
    {"name": "core2", "width": 3e-3, "height": 3.5e-3, "watts": 21.0, "x": 4.5e-3, "y": 1e-3},
    {
        "name": "io",
        "width": 1.2e-2,
        "height": 5e-4,
        "watts": 2.0,
        "x": 0.0,
        "y": 0.0,
        "fixed": True,
    },
]
RUNS = {"cma": (400, 0), "cma+descent": (60, 100)}


def main() -> None:
    from chiptherm import load_stack
    from chiptherm.operator.inference import machine
    from chiptherm.optimize import Problem, Site, optimize

    stack = load_stack(ROOT / "examples" / "single_die.yaml")
    site = Site.of_stack(stack, "die")
    rows = []
    for seed in SEEDS:
        row: dict = {"seed": seed, "cells": site.grid.size}
        for name, (steps, descent) in RUNS.items():
            problem = Problem.model_validate(
                {
                    "stack": "single_die.yaml",
                    "power": "die",
                    "blocks": BLOCKS,
                    "search": {
                        "steps": steps,
                        "population": 12,
                        "sigma": 0.15,
                        "seed": seed,
                        "descent": descent,
                    },
                }
            )
            outcome = optimize(problem, None, "solver", site=site)
            row[name] = {
                "initial_peak_k": outcome.initial_peak_k,
                "peak_k": outcome.verified_peak_k,
                "solves": outcome.history.solver_calls,
                "descent_steps": outcome.history.descent_steps,
                "seconds": outcome.seconds,
            }
        rows.append(row)
        a, b = row["cma"], row["cma+descent"]
        print(
            f"seed {seed}: start {a['initial_peak_k']:.3f} K; cma {a['peak_k']:.3f} K "
            f"({a['solves']} solves, {a['seconds']:.1f} s); cma+descent {b['peak_k']:.3f} K "
            f"({b['solves']} solves, {b['descent_steps']} descent steps, {b['seconds']:.1f} s)"
        )
    gaps = [r["cma+descent"]["peak_k"] - r["cma"]["peak_k"] for r in rows]
    print(f"cma+descent minus cma: mean {sum(gaps) / len(gaps):+.3f} K, worst {max(gaps):+.3f} K")
    out = HERE / "results" / "descent.json"
    out.write_text(json.dumps({"machine": machine(), "runs": RUNS, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
