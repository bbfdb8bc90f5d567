"""Floorplan optimization three ways on the `volumetric` case: the same CMA-ES search, the same
number of candidate evaluations, evaluated by

1. the solver only, pyamg smoothed-aggregation preconditioned CG (`cg-amg`);
2. the solver only, chiptherm's fastest solver for the stack (`auto`: the exact transform solver);
3. the hybrid: operator for every candidate; the `--screen` best-predicted candidates of each
   generation checked (confidence score while it pays, solver refinement of doubtful ones), the
   others shifted by the checked ones' mean correction; solver verification of the final
   placement.

The search itself is noisy (different paths end in different local optima), so quality is
judged over several problems (`--seeds`): each seed draws its own blocks and search seed.

Ten blocks (sizes and powers drawn once from the model's training distribution) are placed on
the active layer with overlap forbidden. Both solver-only runs solve the same systems to a
relative residual of 1e-9, so their searches follow the same path; when `--pyamg-steps` is below
`--steps`, the pyamg run stops early and its wall time is extrapolated linearly (marked in the
output), its final peak taken from the transform run.

    python benchmarks/optimize.py                      # 1000 evaluations each
    python benchmarks/optimize.py --pyamg-steps 10 --seeds 0,1,2,3,4
    python benchmarks/optimize.py --steps 200 --model surface --quick

Writes benchmarks/results/optimize.json (or --out NAME).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def make_problem(
    model: str,
    meta: dict,
    op,
    steps: int,
    seed: int,
    screen: int | None = None,
    polish: float = 0.1,
):
    from chiptherm.design import BlockSpec, Problem, Search
    from chiptherm.operator.inference import distribution_for

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
        search=Search(steps=steps, population=20, seed=seed, screen=screen, polish=polish),
    )


def run(problem, op, mode: str, solver: str) -> dict:
    from chiptherm.design import optimize

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


def compare(problem, op, args, quick: bool) -> dict:
    """The runs of one problem: fastest solver, hybrid and (unless ``quick``) pyamg."""
    rows = {} if args.hybrid_only else {"fastest solver": run(problem, op, "solver", "auto")}
    rows["hybrid"] = run(problem, op, "hybrid", "auto")
    if not quick:
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
    for r in rows.values():
        r["time_over_hybrid"] = r["wall_s"] / rows["hybrid"]["wall_s"]
    return rows


def print_rows(title: str, rows: dict) -> None:
    print(title)
    print(
        f"{'run':<16}{'wall s':>10}{'x hybrid':>10}{'solver calls':>14}{'refined':>9}{'peak K':>10}"
    )
    for name, r in rows.items():
        mark = " (extrapolated)" if r.get("extrapolated") else ""
        print(
            f"{name:<16}{r['wall_s']:>10.1f}{r['time_over_hybrid']:>10.1f}{r['solver_calls']:>14}"
            f"{r['refinements']:>9}{r['verified_peak_k']:>10.3f}{mark}"
        )


def summarize(runs: dict) -> dict:
    """Hybrid against the fastest solver over all problems: peak gap and speed."""
    pairs = [r for r in runs.values() if "fastest solver" in r]
    if not pairs:
        return {}
    gaps = [r["hybrid"]["verified_peak_k"] - r["fastest solver"]["verified_peak_k"] for r in pairs]
    speed = [r["fastest solver"]["wall_s"] / r["hybrid"]["wall_s"] for r in pairs]
    out = {
        "problems": len(pairs),
        "peak_gap_k": gaps,
        "mean_peak_gap_k": float(np.mean(gaps)),
        "worst_peak_gap_k": float(np.max(gaps)),
        "within_0.1_k": int(np.sum(np.asarray(gaps) <= 0.1)),
        "mean_speedup_vs_fastest_solver": float(np.mean(speed)),
    }
    amg = [r for r in runs.values() if "pyamg solver" in r]
    if amg:
        out["speedup_vs_pyamg"] = [r["pyamg solver"]["wall_s"] / r["hybrid"]["wall_s"] for r in amg]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="volumetric")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--pyamg-steps", type=int, default=None)
    parser.add_argument("--seeds", default="0", help="problems (and search seeds), e.g. 0,1,2")
    parser.add_argument("--quick", action="store_true", help="skip the pyamg run")
    parser.add_argument("--screen", type=int, default=None, help="hybrid: candidates checked")
    parser.add_argument("--polish", type=float, default=0.1, help="hybrid: solver share")
    parser.add_argument("--hybrid-only", action="store_true", help="run only the hybrid")
    parser.add_argument("--out", default="optimize.json", help="file name in benchmarks/results")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from chiptherm.operator.checkpoint import load_operator
    from chiptherm.operator.inference import machine

    op, meta = load_operator(args.model)
    runs = {}
    for i, seed in enumerate(int(s) for s in args.seeds.split(",")):
        problem = make_problem(args.model, meta, op, args.steps, seed, args.screen, args.polish)
        # pyamg takes an hour per problem; it is timed on the first problem only
        quick = args.quick or i > 0
        runs[seed] = compare(problem, op, args, quick)
        print_rows(
            f"{args.model} problem {seed}: {len(problem.blocks)} blocks, {args.steps} "
            "evaluations, CMA-ES population 20",
            runs[seed],
        )
    summary = summarize(runs)
    if summary:
        print(
            f"hybrid vs fastest solver over {summary['problems']} problems: peak gap mean "
            f"{summary['mean_peak_gap_k']:+.3f} K, worst {summary['worst_peak_gap_k']:+.3f} K, "
            f"{summary['within_0.1_k']} within 0.1 K; "
            f"{summary['mean_speedup_vs_fastest_solver']:.2f}x faster"
        )
    out = HERE / "results" / args.out
    out.write_text(
        json.dumps(
            {"settings": vars(args), "machine": machine(), "runs": runs, "summary": summary},
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
