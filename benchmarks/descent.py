"""Floorplan descent benchmark: CMA-ES alone against a short CMA-ES run polished by gradient
descent (adjoint gradients of the block positions, L-BFGS-B on a smooth maximum).

Two problems, each for several seeds, in the same run:

- ``single_die`` (default): three cores of the single-die example (a fixed I/O strip stays),
  76,800 cells solved by the transform solver; CMA-ES with 400 evaluations against 60
  evaluations plus at most 100 descent steps (each a solve and an adjoint solve);
- ``tsv_array``: the hot and the warm block of the TSV example on a 100 × 100 grid (80,000
  cells, CG preconditioned by the averaged-stack transform: solves cost about half a second);
  CMA-ES with 120 evaluations against 30 evaluations plus at most 30 descent steps;
- ``hot_die``: the four cores of the hot-die example (k(T) silicon and leakage, 76,800
  cells): every evaluation is a fixed-point solve, and the descent's adjoint comes from the
  Jacobian of the full equations; CMA-ES with 120 evaluations against 30 plus at most 30
  descent steps.

The table gives the verified peaks, the solves each took and the wall time.

    python benchmarks/descent.py [--problem tsv_array|hot_die] [--seeds 0,1,2]

Writes benchmarks/results/descent.json (descent_tsv_array.json, descent_hot_die.json).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORES = [
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
TSV_BLOCKS = [
    {"name": "hot", "width": 1e-3, "height": 1e-3, "watts": 3.0, "x": 1e-3, "y": 1e-3},
    {"name": "warm", "width": 1e-3, "height": 1e-3, "watts": 1.0, "x": 3e-3, "y": 3e-3},
]
HOT_FLOORPLAN = ROOT / "examples" / "problems" / "hot_floorplan.yaml"
HOT_CORES = yaml.safe_load(HOT_FLOORPLAN.read_text())["blocks"]  # four cores; l2, io fixed
PROBLEMS = {
    # name: (stack file, grid or None, power source, blocks, population, runs, default seeds)
    "single_die": (
        "single_die.yaml",
        None,
        "die",
        CORES,
        12,
        {"cma": (400, 0), "cma+descent": (60, 100)},
        "0,1,2,3,4",
    ),
    "tsv_array": (
        "tsv_array.yaml",
        100,
        "bottom",
        TSV_BLOCKS,
        10,
        {"cma": (120, 0), "cma+descent": (30, 30)},
        "0,1,2",
    ),
    "hot_die": (
        "hot_die.yaml",
        None,
        "die",
        HOT_CORES,
        10,
        {"cma": (120, 0), "cma+descent": (30, 30)},
        "0,1,2",
    ),
}


def main() -> None:
    import argparse

    from chiptherm import load_stack
    from chiptherm.design import Problem, Site, optimize
    from chiptherm.operator.inference import machine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", choices=sorted(PROBLEMS), default="single_die")
    parser.add_argument("--seeds", default=None, help="comma-separated seeds")
    args = parser.parse_args()
    file, cells, source, blocks, population, runs, seeds = PROBLEMS[args.problem]
    stack = load_stack(ROOT / "examples" / file)
    if cells is not None:
        stack = stack.with_grid(cells, cells)
    site = Site.of_stack(stack, source)
    rows = []
    for seed in (int(s) for s in (args.seeds or seeds).split(",")):
        row: dict = {"seed": seed, "cells": site.grid.size}
        for name, (steps, descent) in runs.items():
            search = {"steps": steps, "population": population, "sigma": 0.15, "seed": seed}
            problem = Problem.model_validate(
                {
                    "stack": file,
                    "power": source,
                    "blocks": blocks,
                    "search": search | {"descent": descent},
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
            f"({b['solves']} solves, {b['descent_steps']} descent steps, {b['seconds']:.1f} s)",
            flush=True,
        )
    gaps = [r["cma+descent"]["peak_k"] - r["cma"]["peak_k"] for r in rows]
    print(f"cma+descent minus cma: mean {sum(gaps) / len(gaps):+.3f} K, worst {max(gaps):+.3f} K")
    suffix = "" if args.problem == "single_die" else f"_{args.problem}"
    out = HERE / "results" / f"descent{suffix}.json"
    doc = {"machine": machine(), "problem": args.problem, "runs": runs, "rows": rows}
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
