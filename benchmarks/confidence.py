"""Calibration and cost of the confidence score on held-out maps.

Part 1, shipped models: every map of each family — in the training distribution (random
fields, sharp blocks) and out of it (five times the power, shorter correlation length) — is
predicted, scored by both error estimates (``exact``: one transform solve, what laterally uniform
stacks get; ``coarse``: the coarse-grid estimate every other stack gets) and solved. The table
reports, per method, the Spearman rank correlation between estimated and true max errors, the
false accepts (estimate within the tolerance although the true max error exceeds it), the false
rejects, the range of estimate / true error, and the cost of scoring against a full solve by
the fastest solver and by pyamg-preconditioned CG.

Part 2, a laterally non-uniform stack (4 x 4 copper TSV bundles, the geometry of
benchmarks/solver.py), where only the coarse estimate applies. Candidate fields: the solution
of the laterally averaged stack (what a model blind to the TSVs would give), the conjugate-
gradient iterates that start from it, and the true field plus broad or local error bumps.

    python benchmarks/confidence.py                 # 24 maps per family
    python benchmarks/confidence.py --maps 6 --quick

Writes benchmarks/results/confidence.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
METHODS = ("exact", "coarse")


def families(meta: dict):
    """(name, distribution) pairs: in-distribution and out-of-distribution map families."""
    from chiptherm.operator.inference import distribution_for
    from chiptherm.operator.sampling import GaussianField, RandomBlocks

    grf, blocks = distribution_for(meta, "grf"), distribution_for(meta, "blocks")
    out = [("grf", grf), ("blocks", blocks)]
    if isinstance(grf, GaussianField):
        out.append(("grf x5 power (OOD)", grf.model_copy(update={"amplitude": 5 * grf.amplitude})))
        out.append(("grf length 0.1 (OOD)", grf.model_copy(update={"length_scale": 0.1})))
    if isinstance(blocks, RandomBlocks):
        watts = [5 * w for w in blocks.watts]
        out.append(("blocks x5 power (OOD)", blocks.model_copy(update={"watts": watts})))
    return out


def verdicts(est: np.ndarray, true: np.ndarray, tol: float) -> dict:
    """Calibration of estimated against true max errors (K) at tolerance ``tol``."""
    from scipy.stats import spearmanr

    ratio = est / np.maximum(true, 1e-300)
    return {
        "spearman": float(spearmanr(est, true).statistic) if len(est) > 1 else float("nan"),
        "false_accepts": int(np.sum((est <= tol) & (true > tol))),
        "false_rejects": int(np.sum((est > tol) & (true <= tol))),
        "accepted": int(np.sum(est <= tol)),
        "ratio_min": float(ratio.min()),
        "ratio_max": float(ratio.max()),
        "estimated_max_error_k": [float(v) for v in est],
    }


def timings(system, quick: bool) -> dict[str, float]:
    """Seconds of one full solve (set-up included) by the fastest solver and by AMG-CG."""
    from chiptherm.solvers import make_solver

    out = {}
    for method in ("auto",) + (() if quick else ("cg-amg",)):
        start = time.perf_counter()
        make_solver(system, method).solve(system.rhs, tol=1e-10)
        out[method] = time.perf_counter() - start
    return out


def shipped_model(name: str, maps: int, tol: float, quick: bool) -> dict:
    """Part 1 for one shipped model."""
    from chiptherm.discretize.system import System
    from chiptherm.operator.checkpoint import load_operator
    from chiptherm.solvers.result import solve
    from chiptherm.trust.confidence import ErrorEstimator

    op, meta = load_operator(name)
    case = op.case
    zero = case.stack_with(np.zeros(case.sensors))
    system = System.from_stack(zero)
    estimators = {m: ErrorEstimator(system, zero, method=m) for m in METHODS}
    rows: dict[str, dict] = {}
    seconds: dict[str, list[float]] = {m: [] for m in METHODS}
    everything: dict[str, list[float]] = {m: [] for m in (*METHODS, "true")}
    for fam, dist in families(meta):
        dens = dist.sample(maps, case.size, case.sensors, np.random.default_rng(7))
        pred = op.predict(dens)
        est: dict[str, list[float]] = {m: [] for m in METHODS}
        true = []
        for q, field in zip(dens, pred, strict=True):
            stack = case.stack_with(q)
            rhs = System.from_stack(stack).rhs
            for m, estimator in estimators.items():
                conf = estimator.score(field, tol, rhs=rhs)
                seconds[m].append(conf.seconds)
                est[m].append(conf.error_k)
            true.append(float(np.abs(solve(stack).temperature - field).max()))
        true_a = np.array(true)
        rows[fam] = {"true_max_error_k": true}
        for m in METHODS:
            rows[fam][m] = verdicts(np.array(est[m]), true_a, tol)
            everything[m] += est[m]
        everything["true"] += true
    timing = timings(system, quick)
    from scipy.stats import spearmanr

    score_s = {m: float(np.median(v)) for m, v in seconds.items()}
    return {
        "families": rows,
        "spearman_all": {
            m: float(spearmanr(everything[m], everything["true"]).statistic) for m in METHODS
        },
        "score_s": score_s,
        "solve_s": timing,
        "score_over_solve": {m: {k: score_s[m] / v for k, v in timing.items()} for m in METHODS},
    }


def candidates(system, truth: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Approximate fields of ``system``: the laterally averaged stack's solution, the CG
    iterates from it, and the true field with broad and local error bumps."""
    import scipy.sparse.linalg as spla

    from chiptherm.solvers.krylov import averaged_structure
    from chiptherm.solvers.transform import TransformSolver

    average = TransformSolver(averaged_structure(system), system.shape)
    start = average.apply_inverse(system.rhs)
    out = [("averaged stack", start)]
    precondition = spla.LinearOperator(
        (system.size, system.size), matvec=average.apply_inverse, dtype=float
    )
    iterates: list[np.ndarray] = []
    spla.cg(
        system.matrix,
        system.b,
        x0=start.ravel(),
        rtol=1e-12,
        maxiter=6,
        M=precondition,
        callback=lambda xk: iterates.append(xk.reshape(system.shape).copy()),
    )
    out += [(f"CG iterate {k + 1}", x) for k, x in enumerate(iterates)]
    g = system.grid
    nz, ny, nx = system.shape
    broad = np.exp(
        -(((g.x[None, None] - 0.3 * g.x[-1]) / (0.25 * g.x[-1])) ** 2)
        - ((g.y[None, :, None] - 0.6 * g.y[-1]) / (0.25 * g.y[-1])) ** 2
    ) * np.ones((nz, 1, 1))
    local = np.zeros(system.shape)
    local[nz // 2, ny // 3 : ny // 3 + 2, nx // 3 : nx // 3 + 2] = 1.0
    for amplitude in (0.2, 0.6, 2.0):
        out.append((f"true + {amplitude} K broad bump", truth + amplitude * broad))
        out.append((f"true + {amplitude} K local bump", truth + amplitude * local))
    return out


def non_uniform(nx: int, cells: int, tol: float, quick: bool) -> dict:
    """Part 2: the coarse estimate on the TSV stack."""
    sys.path.insert(0, str(HERE))
    from solver import tsv_stack

    from chiptherm.discretize.system import System
    from chiptherm.solvers import make_solver
    from chiptherm.trust.confidence import ErrorEstimator

    stack = tsv_stack(nx, cells)
    system = System.from_stack(stack)
    truth, _ = make_solver(system).solve(system.rhs, tol=1e-12)
    estimator = ErrorEstimator(system, stack)
    names, est, true, seconds = [], [], [], []
    for name, field in candidates(system, truth):
        conf = estimator.score(field, tol)
        names.append(name)
        est.append(conf.error_k)
        true.append(float(np.abs(truth - field).max()))
        seconds.append(conf.seconds)
    timing = timings(system, quick)
    score_s = float(np.median(seconds))
    return {
        "stack": f"tsv_stack({nx}, {cells}) of benchmarks/solver.py",
        "cells": system.size,
        "method": estimator.method,
        "candidates": names,
        "true_max_error_k": true,
        **verdicts(np.array(est), np.array(true), tol),
        "score_s": score_s,
        "solve_s": timing,
        "score_over_solve": {k: score_s / v for k, v in timing.items()},
    }


def print_model(name: str, r: dict, tol: float) -> None:
    print(f"\n{name}: tolerance {tol} K")
    print(
        f"{'family':<22}{'estimate':>9}{'accepted':>9}{'false acc':>10}{'false rej':>10}"
        f"{'est/true':>12}"
    )
    for fam, row in r["families"].items():
        for m in METHODS:
            v = row[m]
            ratio = f"{v['ratio_min']:.2f}-{v['ratio_max']:.2f}"
            print(
                f"{fam:<22}{m:>9}{v['accepted']:>9}{v['false_accepts']:>10}"
                f"{v['false_rejects']:>10}{ratio:>12}"
            )
    for m in METHODS:
        costs = ", ".join(
            f"{frac:.1%} of a {k} solve" for k, frac in r["score_over_solve"][m].items()
        )
        print(
            f"{m}: Spearman {r['spearman_all'][m]:.3f}, scoring {r['score_s'][m]:.4f} s = {costs}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", type=int, default=24)
    parser.add_argument("--tol", type=float, default=0.5, help="acceptance tolerance, K")
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--quick", action="store_true", help="skip the pyamg timing")
    parser.add_argument("--tsv-grid", type=int, default=200, help="lateral cells of the TSV stack")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from chiptherm.operator.checkpoint import shipped_models
    from chiptherm.operator.inference import machine

    report = {"tolerance_k": args.tol, "machine": machine(), "models": {}}
    for name in args.models or shipped_models():
        report["models"][name] = shipped_model(name, args.maps, args.tol, args.quick)
        print_model(name, report["models"][name], args.tol)
    tsv = non_uniform(args.tsv_grid, 4, args.tol, args.quick)
    report["non_uniform"] = tsv
    print(f"\nnon-uniform: {tsv['stack']}, {tsv['cells']:,} cells, {tsv['method']} estimate")
    print(f"{'candidate':<28}{'true K':>10}{'estimate K':>12}")
    rows = zip(
        tsv["candidates"], tsv["true_max_error_k"], tsv["estimated_max_error_k"], strict=True
    )
    for n, t, e in rows:
        print(f"{n:<28}{t:>10.3f}{e:>12.3f}")
    costs = ", ".join(f"{frac:.1%} of a {k} solve" for k, frac in tsv["score_over_solve"].items())
    print(
        f"Spearman {tsv['spearman']:.3f}, estimate/true {tsv['ratio_min']:.2f}-"
        f"{tsv['ratio_max']:.2f}, false accepts {tsv['false_accepts']}, false rejects "
        f"{tsv['false_rejects']}; scoring {tsv['score_s']:.3f} s = {costs}"
    )
    out = HERE / "results" / "confidence.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
