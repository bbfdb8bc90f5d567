"""Calibration and cost of the confidence score on held-out maps.

For each shipped model and each map family — in the training distribution (random fields, sharp
blocks) and out of it (five times the power, shorter correlation length) — every map is predicted,
scored (estimated max error, K) and solved; the table reports the Spearman rank correlation
between estimated and true max errors, the false accepts (estimate within the tolerance although
the true max error exceeds it), the false rejects, and the cost of scoring against a full solve
by the fastest solver and by pyamg-preconditioned CG.

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", type=int, default=24)
    parser.add_argument("--tol", type=float, default=0.5, help="acceptance tolerance, K")
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--quick", action="store_true", help="skip the pyamg timing")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from scipy.stats import spearmanr

    from chiptherm.operator.checkpoint import load_operator, shipped_models
    from chiptherm.operator.inference import machine
    from chiptherm.result import solve
    from chiptherm.solvers import make_solver
    from chiptherm.system import System
    from chiptherm.trust import ErrorEstimator

    report = {"tolerance_k": args.tol, "machine": machine(), "models": {}}
    for name in args.models or shipped_models():
        op, meta = load_operator(name)
        case = op.case
        zero = case.stack_with(np.zeros(case.sensors))
        system = System.from_stack(zero)
        estimator = ErrorEstimator(system, zero)
        timing = {}
        b = system.rhs
        for method in ("auto",) + (() if args.quick else ("cg-amg",)):
            start = time.perf_counter()
            make_solver(system, method).solve(b, tol=1e-10)
            timing[method] = time.perf_counter() - start
        rows = {}
        all_est, all_true = [], []
        score_s = []
        for fam, dist in families(meta):
            dens = dist.sample(args.maps, case.size, case.sensors, np.random.default_rng(7))
            pred = op.predict(dens)
            est, true = [], []
            for q, field in zip(dens, pred, strict=True):
                stack = case.stack_with(q)
                rhs = System.from_stack(stack).rhs
                conf = estimator.score(field, args.tol, rhs=rhs)
                score_s.append(conf.seconds)
                est.append(conf.error_k)
                true.append(float(np.abs(solve(stack).temperature - field).max()))
            est, true = np.array(est), np.array(true)
            all_est += list(est)
            all_true += list(true)
            rows[fam] = {
                "spearman": float(spearmanr(est, true).statistic),
                "false_accepts": int(np.sum((est <= args.tol) & (true > args.tol))),
                "false_rejects": int(np.sum((est > args.tol) & (true <= args.tol))),
                "accepted": int(np.sum(est <= args.tol)),
                "true_max_error_k": [float(v) for v in true],
                "estimated_max_error_k": [float(v) for v in est],
            }
        overall = float(spearmanr(all_est, all_true).statistic)
        mean_score = float(np.median(score_s))
        report["models"][name] = {
            "families": rows,
            "spearman_all": overall,
            "score_s": mean_score,
            "solve_s": timing,
            "score_over_solve": {k: mean_score / v for k, v in timing.items()},
        }
        print(
            f"\n{name}: {len(all_est)} maps, tolerance {args.tol} K, overall Spearman {overall:.3f}"
        )
        print(f"{'family':<24}{'spearman':>9}{'accepted':>9}{'false acc':>10}{'false rej':>10}")
        for fam, r in rows.items():
            print(
                f"{fam:<24}{r['spearman']:>9.3f}{r['accepted']:>9}"
                f"{r['false_accepts']:>10}{r['false_rejects']:>10}"
            )
        costs = ", ".join(
            f"{mean_score / v:.1%} of a {k} solve ({v:.3f} s)" for k, v in timing.items()
        )
        print(f"scoring: {mean_score:.4f} s = {costs}")
    out = HERE / "results" / "confidence.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
