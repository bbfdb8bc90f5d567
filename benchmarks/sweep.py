"""Sweep benchmark: what warm starts save when one stack is solved over many values.

A laterally non-uniform stack (copper TSV bundles, solved by CG preconditioned with the
averaged-stack transform) is swept over the top heat-transfer coefficient, once with every
solve starting from the previous field (as ``chiptherm sweep`` does) and once from scratch,
in the same run.

    python benchmarks/sweep.py

Writes benchmarks/results/sweep.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
VALUES = [float(v) for v in np.geomspace(2e3, 2e5, 7)]
KEY = "boundaries.top.htc"


def main() -> None:
    from solver import tsv_stack

    from chiptherm import solve
    from chiptherm.analysis.sweep import sweep_stack
    from chiptherm.description.stack_io import save_stack
    from chiptherm.formats.loading import load_stack
    from chiptherm.operator.inference import machine

    with tempfile.TemporaryDirectory() as folder:
        path = save_stack(tsv_stack(128, 3), Path(folder) / "tsv.yaml")
        start = time.perf_counter()
        warm = sweep_stack(path, [(KEY, VALUES)])
        warm_s = time.perf_counter() - start
        cold, cold_s = [], 0.0
        for value in VALUES:
            start = time.perf_counter()
            cold.append(solve(load_stack(path, [(KEY, value)])))
            cold_s += time.perf_counter() - start
    rows = [
        {
            "top_htc": value,
            "cells": int(np.prod(c.temperature.shape)),
            "method": c.info.method,
            "iterations_warm": w.iterations,
            "iterations_cold": c.info.iterations,
            "peak_gap_k": abs(w.peak_k - c.max_temperature),
        }
        for value, w, c in zip(VALUES, warm.points, cold, strict=True)
    ]
    print(f"{'top h':>10} {'warm its':>9} {'cold its':>9} {'peak gap K':>11}")
    for r in rows:
        print(
            f"{r['top_htc']:>10.4g} {r['iterations_warm']:>9} {r['iterations_cold']:>9} "
            f"{r['peak_gap_k']:>11.1e}"
        )
    total_warm = sum(r["iterations_warm"] for r in rows)
    total_cold = sum(r["iterations_cold"] for r in rows)
    print(
        f"{rows[0]['cells']:,} cells, {rows[0]['method']}: {total_warm} iterations warm against "
        f"{total_cold} cold; {warm_s:.1f} s against {cold_s:.1f} s"
    )
    out = HERE / "results" / "sweep.json"
    out.write_text(
        json.dumps(
            {
                "machine": machine(),
                "rows": rows,
                "warm_s": warm_s,
                "cold_s": cold_s,
                "iterations_warm": total_warm,
                "iterations_cold": total_cold,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
