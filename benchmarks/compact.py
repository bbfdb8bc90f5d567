"""Compact-model and nonlinear-solve benchmark.

Part 1, the block-to-block resistance matrix: for each example stack, the extraction time (one
solve per block), the time per power case through R (a batch of 10,000 random block power
assignments) against one full solve, and the largest gap between R and full solves on five of
those cases.

Part 2, temperature-dependent silicon and leakage on `two_die`: fixed-point steps, Krylov
iterations and wall time against the linear solve of the same stack, in the same run.

    python benchmarks/compact.py

Writes benchmarks/results/compact.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CASES = 10_000


def resistance_rows() -> list[dict]:
    from chiptherm import load_stack, solve
    from chiptherm.analysis.compact import resistance_matrix, with_block_powers

    rows = []
    for name in ("single_die", "two_die", "microbump", "tsv_array", "stacked_dies"):
        stack = load_stack(ROOT / "examples" / f"{name}.yaml")
        matrix = resistance_matrix(stack)
        rng = np.random.default_rng(0)
        watts = rng.uniform(0.0, 2.0, (CASES, len(matrix.blocks))) * matrix.nominal_w.max()
        start = time.perf_counter()
        temperatures = matrix.temperatures(watts)
        per_case_s = (time.perf_counter() - start) / CASES
        gaps, solve_s = [], []
        for i in range(5):
            pairs = {
                (b.source, b.block.name): float(w)
                for b, w in zip(matrix.blocks, watts[i], strict=True)
            }
            start = time.perf_counter()
            result = solve(with_block_powers(stack, pairs))
            solve_s.append(time.perf_counter() - start)
            means = np.array([b.stats.mean for b in result.block_stats])
            gaps.append(float(np.abs(temperatures[i] - means).max()))
        rows.append(
            {
                "stack": name,
                "cells": int(np.prod(result.grid.shape)),
                "blocks": len(matrix.blocks),
                "method": matrix.method,
                "extract_s": matrix.seconds,
                "per_case_s": per_case_s,
                "solve_s": float(np.median(solve_s)),
                "speedup": float(np.median(solve_s)) / per_case_s,
                "break_even_cases": matrix.seconds / float(np.median(solve_s)),
                "max_gap_k": max(gaps),
                "asymmetry": matrix.summary()["asymmetry"],
            }
        )
    return rows


def nonlinear_rows() -> list[dict]:
    from chiptherm import solve, stack_from_dict

    base = yaml.safe_load((ROOT / "examples" / "two_die.yaml").read_text())
    variants = {
        "linear (k = 148)": {"silicon": {"conductivity": 148.0}},
        "k(T) silicon": {"silicon": {"conductivity": 148.0, "temperature_exponent": -1.3}},
        "leakage 20 %, 0.01 /K": None,
        "leakage 20 %, 0.015 /K": None,
        "k(T) + leakage 0.01 /K": {
            "silicon": {"conductivity": 148.0, "temperature_exponent": -1.3}
        },
    }
    rows = []
    for label, materials in variants.items():
        data = json.loads(json.dumps(base))
        data["materials"] = materials or {"silicon": {"conductivity": 148.0}}
        if "leakage" in label:
            coefficient = 0.015 if "0.015" in label else 0.01
            data["power"]["die1"]["leakage"] = {"fraction": 0.2, "coefficient": coefficient}
        stack = stack_from_dict(data)
        start = time.perf_counter()
        result = solve(stack)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "variant": label,
                "cells": int(np.prod(result.grid.shape)),
                "method": result.info.method,
                "steps": result.info.nonlinear_steps,
                "iterations": result.info.iterations,
                "seconds": seconds,
                "peak_k": result.max_temperature,
                "leakage_w": result.leakage_w,
                "energy_error": result.balance.relative_error,
            }
        )
    linear = rows[0]["seconds"]
    for row in rows:
        row["time_vs_linear"] = row["seconds"] / linear
    return rows


def main() -> None:
    from chiptherm.operator.inference import machine

    rows = resistance_rows()
    print(f"resistance matrix: {CASES:,} random block power cases per stack")
    header = (
        f"{'stack':13} {'cells':>9} {'blocks':>6} {'extract s':>10} {'per case µs':>12} "
        f"{'solve s':>8} {'speed-up':>9} {'gap K':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['stack']:13} {r['cells']:>9,} {r['blocks']:>6} {r['extract_s']:>10.3f} "
            f"{1e6 * r['per_case_s']:>12.3f} {r['solve_s']:>8.3f} {r['speedup']:>9.2e} "
            f"{r['max_gap_k']:>8.1e}"
        )
    nonlinear = nonlinear_rows()
    print("\ntwo_die (180,000 cells): nonlinear solves against the linear one")
    header = (
        f"{'variant':24} {'method':>13} {'steps':>5} {'iters':>6} {'s':>7} {'x lin':>6} "
        f"{'peak K':>8} {'leak W':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in nonlinear:
        print(
            f"{r['variant']:24} {r['method']:>13} {r['steps']:>5} {r['iterations']:>6} "
            f"{r['seconds']:>7.2f} {r['time_vs_linear']:>6.1f} {r['peak_k']:>8.2f} "
            f"{r['leakage_w']:>7.2f}"
        )
    out = HERE / "results" / "compact.json"
    out.write_text(
        json.dumps({"machine": machine(), "resistance": rows, "nonlinear": nonlinear}, indent=2)
        + "\n"
    )
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
