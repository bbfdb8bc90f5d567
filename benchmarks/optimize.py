"""Floorplan optimization three ways on the `volumetric` case: the same CMA-ES search, the same
number of candidate evaluations, evaluated by

1. the solver only, pyamg smoothed-aggregation preconditioned CG (`cg-amg`);
2. the solver only, chiptherm's fastest solver for the stack (`auto`: the exact transform solver);
3. the hybrid: operator for every candidate, confidence score on each new best, solver refinement
   of doubtful ones, solver verification of the final placement.

Ten blocks (sizes and powers drawn once from the model's training distribution) are placed on
the active layer with overlap forbidden. Both solver-only runs solve the same systems to a
relative residual of 1e-9, so their searches follow the same path; when `--pyamg-steps` is below
`--steps`, the pyamg run stops early and its wall time is extrapolated linearly (marked in the
output), its final peak taken from the transform run.

    python benchmarks/optimize.py                      # 1000 evaluations each
    python benchmarks/optimize.py --pyamg-steps 60     # pyamg timed on 60, extrapolated
    python benchmarks/optimize.py --steps 200 --model surface --quick

Writes benchmarks/results/optimize.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def make_problem(model: str, meta: dict, op, steps: int, seed: int):
    from chiptherm.operator.inference import distribution_for
    from chiptherm.optimize import BlockSpec, Problem, Search

    dist = distribution_for(meta, "blocks")
    rects = dist.rectangles(1, np.random.default_rng(seed))[0]
    lx, ly = op.case.size
    blocks = [
        BlockSpec(name=f"b{i}", width=w * lx, height=h * ly, watts=p)
        for i, (_, _, w, h, p) in enumerate(rects)
    ]
    return Problem(
        name="benchmark",
        model=model,
        blocks=blocks,
        search=Search(steps=steps, population=20, seed=seed),
    )


def run(problem, op, mode: str, solver: str) -> dict:
    from chiptherm.optimize import optimize

    outcome = optimize(problem, op, mode, solver)
    h = outcome.history
    return {
        "mode": mode,
        "solver": solver,
        "evaluations": h.evaluations[-1],
        "wall_s": outcome.seconds,
        "solver_calls": h.solver_calls,
        "confidence_checks": h.scores,
        "refinements": h.refinements,
        "verified_peak_k": outcome.verified_peak_k,
        "initial_peak_k": outcome.initial_peak_k,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="volumetric")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--pyamg-steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="skip the pyamg run")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from chiptherm.operator.checkpoint import load_operator
    from chiptherm.operator.inference import machine

    op, meta = load_operator(args.model)
    problem = make_problem(args.model, meta, op, args.steps, args.seed)
    rows = {
        "fastest solver": run(problem, op, "solver", "auto"),
        "hybrid": run(problem, op, "hybrid", "auto"),
    }
    if not args.quick:
        n = min(args.pyamg_steps or args.steps, args.steps)
        short = problem.model_copy(
            update={"search": problem.search.model_copy(update={"steps": n})}
        )
        amg = run(short, op, "solver", "cg-amg")
        if n < args.steps:
            amg["measured_evaluations"] = n
            amg["wall_s"] = amg["wall_s"] * args.steps / n
            amg["solver_calls"] = args.steps + 1
            amg["evaluations"] = args.steps
            amg["extrapolated"] = True
            amg["verified_peak_k"] = rows["fastest solver"]["verified_peak_k"]
        rows = {"pyamg solver": amg, **rows}
    hybrid = rows["hybrid"]
    for r in rows.values():
        r["time_over_hybrid"] = r["wall_s"] / hybrid["wall_s"]
    print(
        f"{args.model}: {len(problem.blocks)} blocks, {args.steps} evaluations, "
        "CMA-ES population 20"
    )
    print(
        f"{'run':<16}{'wall s':>10}{'x hybrid':>10}{'solver calls':>14}{'refined':>9}{'peak K':>10}"
    )
    for name, r in rows.items():
        mark = " (extrapolated)" if r.get("extrapolated") else ""
        print(
            f"{name:<16}{r['wall_s']:>10.1f}{r['time_over_hybrid']:>10.1f}{r['solver_calls']:>14}"
            f"{r['refinements']:>9}{r['verified_peak_k']:>10.3f}{mark}"
        )
    out = HERE / "results" / "optimize.json"
    out.write_text(
        json.dumps({"settings": vars(args), "machine": machine(), "results": rows}, indent=2) + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
