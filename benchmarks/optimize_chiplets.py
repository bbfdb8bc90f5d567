"""Floorplan optimization on ``examples/chiplets.yaml`` (a million cells at its own grid),
two problems (``--problem``):

- ``blocks``: the blocks placed inside their dies (the dies fixed);
- ``dies``: the dies placed on the interposer (1 mm from its edges), each carrying its
  blocks; the interposer's TSV fields stay.

The same CMA-ES search, the same number of candidate evaluations, evaluated by

1. the solver only, chiptherm's fastest solver for this stack (``auto``: multigrid-CG,
   ``benchmarks/solver.py``), each solve warm-started from the previous field;
2. the solver only, pyamg smoothed-aggregation preconditioned CG (``cg-amg``), on the first
   problem, for ``--pyamg-steps`` evaluations, its time extrapolated linearly (marked);
3. the hybrid. Blocks: the package's response operator (``chiptherm response``, order 1,
   0.5 mm sensor cells over the dies) ranks every candidate. Dies: the same package on a
   ``--coarse`` times coarser lateral grid ranks every candidate (one multigrid-CG solve
   each). The solver checks the ``--verify`` best-ranked distinct placements at the end and
   verifies the answer.

Each problem (``--seeds``) draws its own power. Blocks: the shipped four (cores 60 W, cache
15 W, io 8 W in the compute die; hbm 12 W in the memory die), each side 0.5-1x the shipped
one, overlap forbidden, each block confined to its die. Dies: the shipped blocks, each
block's watts 0.5-1.5x the shipped ones. One thread; CPU seconds of the whole search (its
initial and final solves included). The response operator is built once per stack and
loaded from ``--operator`` (built there first if missing); its build is reported apart, with
the number of solver-only evaluations it is worth.

    python benchmarks/optimize_chiplets.py                      # blocks, 5 problems
    python benchmarks/optimize_chiplets.py --problem dies --seeds 0,1
    python benchmarks/optimize_chiplets.py --seeds 0 --steps 200 --pyamg-steps 0

Writes benchmarks/results/optimize_chiplets.json (optimize_chiplets_dies.json; after every
problem).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STACK = ROOT / "examples" / "chiplets.yaml"


def make_problem(stack, seed: int, steps: int, verify: int, operator: Path):
    """The shipped blocks resized at random (0.5-1x each side), each confined to its die."""
    from chiptherm.design import BlockSpec, Problem, Rectangle, Search

    rng = np.random.default_rng(seed)
    dies = next(layer for layer in stack.layers if layer.power == "chips").regions
    blocks = []
    for block in stack.power["chips"].blocks:
        die = next(d for d in dies if d.x <= block.x < d.x1 and d.y <= block.y < d.y1)
        blocks.append(
            BlockSpec(
                name=block.name,
                width=block.width * rng.uniform(0.5, 1.0),
                height=block.height * rng.uniform(0.5, 1.0),
                watts=block.watts,
                within=Rectangle(x=die.x, y=die.y, width=die.width, height=die.height),
            )
        )
    return Problem(
        name=f"chiplets {seed}",
        stack=str(STACK),
        power="chips",
        response=str(operator),
        blocks=blocks,
        search=Search(steps=steps, population=20, seed=seed, polish=0.0, verify=verify),
    )


def die_problem(stack, seed: int, steps: int, verify: int, coarse: int):
    """The package's two dies, each free on the interposer 1 mm from its edges; the stack's
    blocks with their watts scaled at random (0.5-1.5x each); returns the problem and the
    stack carrying those blocks."""
    from chiptherm.design import Problem, Rectangle, Search

    rng = np.random.default_rng(seed)
    source = stack.power["chips"]
    blocks = [
        b.model_copy(update={"watts": b.watts * rng.uniform(0.5, 1.5)}) for b in source.blocks
    ]
    stack = stack.with_power("chips", source.model_copy(update={"blocks": blocks}))
    dies = next(layer for layer in stack.layers if layer.power == "chips").regions
    lx, ly = stack.size
    within = Rectangle(x=1e-3, y=1e-3, width=lx - 2e-3, height=ly - 2e-3)
    problem = Problem(
        name=f"chiplets dies {seed}",
        stack=str(STACK),
        power="chips",
        dies=[
            {"name": f"die{i}", "x": d.x, "y": d.y, "width": d.width, "height": d.height,
             "within": within}
            for i, d in enumerate(dies)
        ],
        search=Search(
            steps=steps, population=20, seed=seed, polish=0.0, verify=verify, coarse=coarse
        ),
    )  # fmt: skip
    return problem, stack


def run(problem, op, site, mode: str, solver: str) -> dict:
    """One search; CPU seconds and what it found."""
    from chiptherm.design import optimize

    cpu = time.process_time()
    outcome = optimize(problem, op, mode, solver, site=site)  # type: ignore[arg-type]
    seconds = time.process_time() - cpu
    h = outcome.history
    return {
        "mode": mode,
        "solver": solver,
        "evaluations": h.evaluations[-1],
        "cpu_s": seconds,
        "solver_calls": h.solver_calls,
        "verified_peak_k": outcome.verified_peak_k,
        "initial_peak_k": outcome.initial_peak_k,
        "overlap_k": outcome.overlap_k,
    }


def operator_at(path: Path, stack):
    """The response operator at ``path``, built there first (one thread, cg-mg) if missing."""
    from chiptherm.operator.response import ResponseOperator, build_response

    if not path.exists():
        print(f"building the response operator into {path}", flush=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        build_response(stack, "chips", (32, 40), within="regions", order=1).save(path)
    return ResponseOperator.load(path)


def summarize(runs: dict, op, per_eval_s: float | None) -> dict:
    """The hybrid against the fastest solver over all problems: peak gap and speed-up."""
    gaps = [
        r["hybrid"]["verified_peak_k"] - r["fastest solver"]["verified_peak_k"]
        for r in runs.values()
    ]
    speed = [r["fastest solver"]["cpu_s"] / r["hybrid"]["cpu_s"] for r in runs.values()]
    out = {
        "problems": len(runs),
        "peak_gap_k": gaps,
        "worst_peak_gap_k": float(np.max(gaps)),
        "within_0.1_k": int(np.sum(np.asarray(gaps) <= 0.1)),
        "speedup_vs_fastest_solver": speed,
        "min_speedup_vs_fastest_solver": float(np.min(speed)),
    }
    if op is not None:
        out["operator_build_wall_s"] = op.seconds
        out["operator_basis_functions"] = len(op.response)
    if op is not None and per_eval_s:
        out["operator_build_in_solver_evaluations"] = op.seconds / per_eval_s
    amg = [r for r in runs.values() if "pyamg solver" in r]
    if amg:
        out["speedup_vs_pyamg"] = [r["pyamg solver"]["cpu_s"] / r["hybrid"]["cpu_s"] for r in amg]
    return out


def main() -> None:
    from chiptherm.atomic import atomic_write_text
    from chiptherm.design import Site, load_site
    from chiptherm.formats.loading import load_stack
    from chiptherm.operator.inference import machine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", choices=("blocks", "dies"), default="blocks")
    parser.add_argument("--coarse", type=int, default=8, help="dies: the ranking grid's factor")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seeds", default="0,1,2,3,4", help="problems (and search seeds)")
    parser.add_argument("--verify", type=int, default=8, help="hybrid: placements checked")
    parser.add_argument("--pyamg-steps", type=int, default=5, help="0: no pyamg run")
    parser.add_argument("--operator", type=Path, default=ROOT / "out" / "chiplets_response.npz")
    parser.add_argument("--out", default=None, help="file name in benchmarks/results")
    args = parser.parse_args()
    args.out = args.out or f"optimize_chiplets{'_dies' if args.problem == 'dies' else ''}.json"
    stack = load_stack(STACK)
    op = operator_at(args.operator, stack) if args.problem == "blocks" else None
    runs: dict[int, dict] = {}
    target = HERE / "results" / args.out
    for i, seed in enumerate(int(s) for s in args.seeds.split(",")):
        if args.problem == "dies":
            problem, placed = die_problem(stack, seed, args.steps, args.verify, args.coarse)
            site = Site.of_stack(placed, "chips")
        else:
            problem = make_problem(stack, seed, args.steps, args.verify, args.operator)
            site = load_site(problem, ROOT)
        rows = {
            "fastest solver": run(problem, None, site, "solver", "auto"),
            "hybrid": run(problem, op, site, "hybrid", "auto"),
        }
        if i == 0 and args.pyamg_steps:
            short = problem.model_copy(
                update={"search": problem.search.model_copy(update={"steps": args.pyamg_steps})}
            )
            amg = run(short, None, site, "solver", "cg-amg")
            amg.update(
                measured_evaluations=args.pyamg_steps,
                cpu_s=amg["cpu_s"] * args.steps / args.pyamg_steps,
                evaluations=args.steps,
                extrapolated=True,
            )
            rows = {"pyamg solver": amg, **rows}
        for r in rows.values():
            r["time_over_hybrid"] = r["cpu_s"] / rows["hybrid"]["cpu_s"]
        runs[seed] = rows
        what = f"{len(problem.dies)} dies" if problem.dies else f"{len(problem.blocks)} blocks"
        print(f"problem {seed}: {what}, {args.steps} evaluations")
        print(f"{'run':<16}{'CPU s':>10}{'x hybrid':>10}{'solver calls':>14}{'peak K':>10}")
        for name, r in rows.items():
            mark = " (extrapolated)" if r.get("extrapolated") else ""
            print(
                f"{name:<16}{r['cpu_s']:>10.1f}{r['time_over_hybrid']:>10.1f}"
                f"{r['solver_calls']:>14}{r['verified_peak_k']:>10.3f}{mark}",
                flush=True,
            )
        per_eval = runs[min(runs)]["fastest solver"]["cpu_s"] / (args.steps + 2)
        summary = summarize(runs, op, per_eval)
        report = {
            "settings": {k: str(v) for k, v in vars(args).items()},
            "machine": machine(),
            "cpu_time": True,
            "threads": 1,
            "stack": "examples/chiplets.yaml",
            "problem": args.problem,
            "runs": runs,
            "summary": summary,
        }
        atomic_write_text(target, json.dumps(report, indent=2) + "\n")
    print(
        f"hybrid vs fastest solver over {summary['problems']} problems: worst peak gap "
        f"{summary['worst_peak_gap_k']:+.3f} K, {summary['within_0.1_k']} within 0.1 K; "
        f"{summary['min_speedup_vs_fastest_solver']:.0f}x faster or more"
    )
    print(f"wrote {target.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
