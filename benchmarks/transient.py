"""Transient benchmark: step responses of example stacks.

For each stack, the step response (its powers switched on at t = 0 from the idle steady
state, six time constants E/P) is run in several ways, and every run's peak curve is compared
with a reference of steps four times shorter (doubling every 100 steps):

- ``doubling``: the default, steps from duration/10⁵ doubling every 25 steps (325 steps);
- ``uniform``: 400 steps of duration/400;
- ``uniform x4``: 1600 steps of duration/1600 (linear stacks only).

Stacks: `two_die` (transform solver), `tsv_array` (sparse LU, laterally non-uniform) and
`hot_die` (k(T) silicon and leakage: a fixed-point iteration per step).

Each row gives the steps, the wall time, the time per step against one steady solve of the
same stack in the same run, and the largest error of the peak against the reference, K.

    python benchmarks/transient.py

Writes benchmarks/results/transient.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STACKS = ("two_die", "tsv_array", "hot_die")
RUNS = {
    "doubling": {},
    "uniform": {"double_every": 0},
    "uniform x4": {"double_every": 0, "steps": 1600},
}


def stack_rows(name: str) -> list[dict]:
    from chiptherm import load_stack, solve
    from chiptherm.transient import simulate

    stack = load_stack(ROOT / "examples" / f"{name}.yaml")
    start = time.perf_counter()
    steady = solve(stack)
    steady_s = time.perf_counter() - start
    reference = simulate(stack, double_every=100, dt=None, frames=0)
    duration = float(reference.times[-1])
    rows = []
    for label, options in RUNS.items():
        if "x4" in label and stack.needs_iteration:
            continue
        options = dict(options)
        steps = options.pop("steps", None)
        dt = duration / steps if steps else None
        result = simulate(stack, dt=dt, duration=duration, frames=0, **options)
        curve = np.interp(reference.times, result.times, result.peak_k)
        rows.append(
            {
                "stack": name,
                "cells": result.grid.size,
                "run": label,
                "method": result.method,
                "steps": len(result.times) - 1,
                "seconds": result.seconds,
                "step_vs_steady_solve": result.seconds / (len(result.times) - 1) / steady_s,
                "peak_error_k": float(np.abs(curve - reference.peak_k).max()),
                "rise_k": float(steady.max_temperature - reference.peak_k[0]),
                "time_to_63_s": result.time_to(1 - np.exp(-1)),
                "time_to_99_s": result.time_to(0.99),
                "duration_s": duration,
                "balance_error": result.balance_error,
            }
        )
    return rows


def main() -> None:
    from chiptherm.operator.inference import machine

    header = (
        f"{'stack':10} {'cells':>8} {'run':11} {'method':>26} {'steps':>6} {'s':>7} "
        f"{'step/solve':>10} {'peak err K':>10} {'t63 s':>9} {'t99 s':>9}"
    )
    print(header, flush=True)
    print("-" * len(header))
    rows = []
    for name in STACKS:
        rows += (new := stack_rows(name))
        print_rows(new)
    out = HERE / "results" / "transient.json"
    out.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


def print_rows(rows: list[dict]) -> None:
    for r in rows:
        print(
            f"{r['stack']:10} {r['cells']:>8,} {r['run']:11} {r['method']:>26} {r['steps']:>6} "
            f"{r['seconds']:>7.2f} {r['step_vs_steady_solve']:>10.2f} "
            f"{r['peak_error_k']:>10.1e} {r['time_to_63_s']:>9.3g} {r['time_to_99_s']:>9.3g}",
            flush=True,
        )


if __name__ == "__main__":
    main()
