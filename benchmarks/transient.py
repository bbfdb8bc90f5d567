"""Transient benchmark: step responses of example stacks.

For each stack, the step response (its powers switched on at t = 0 from the idle steady
state, six time constants E/P) is run in several ways, and every run's peak curve is compared
with a reference of steps four times shorter (doubling every 100 steps):

- ``doubling``: the default, steps from duration/10⁵ doubling every 25 steps (325 steps);
- ``uniform``: 400 steps of duration/400;
- ``uniform x4``: 1600 steps of duration/1600 (linear stacks only).

Stacks: `two_die` (transform solver), `tsv_array` (sparse LU, laterally non-uniform) and
`hot_die` (k(T) silicon and leakage: a fixed-point iteration per step).

Part 2, the thermal impedance (Foster networks) of the linear stacks: the extraction time,
then the example power trace (`examples/two_die_trace.csv` on `two_die`; a trace of the same
shape on the others) evaluated by the networks and by a transient run at the same times
(doubling steps every 100), with the largest gap of any block mean beyond the first 10 µs
after each change of power.

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
IMPEDANCE_STACKS = ("two_die", "tsv_array")
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


def impedance_row(name: str) -> dict:
    from chiptherm import load_stack
    from chiptherm.analysis.compact import block_inputs
    from chiptherm.transient import PowerTrace, simulate, thermal_impedance

    stack = load_stack(ROOT / "examples" / f"{name}.yaml")
    model = thermal_impedance(stack)
    blocks = block_inputs(stack)
    nominal = np.array([b.block.watts for b in blocks])
    scale = np.array([[0.5], [1.5], [0.3], [1.2], [0.2]])  # the example trace's rhythm
    span = model.times[-1] / 10
    trace = PowerTrace(np.arange(5) * span, scale * nominal, blocks)
    run = simulate(stack, trace, duration=5 * span, double_every=100, frames=0)
    start = time.perf_counter()
    predicted = model.temperatures(trace, run.times)
    evaluate_s = time.perf_counter() - start
    settled = np.ones(run.times.size, dtype=bool)
    for change in trace.times:
        settled &= ~((run.times > change) & (run.times < change + 1e-5))
    gap = np.abs(predicted - run.block_mean_k)[settled].max()
    return {
        "stack": name,
        "blocks": len(blocks),
        "extract_s": model.seconds,
        "fit_error": model.fit_error,
        "times": int(run.times.size),
        "evaluate_s": evaluate_s,
        "transient_s": run.seconds,
        "speedup": run.seconds / evaluate_s,
        "gap_k": float(gap),
        "rise_k": float(run.block_mean_k.max() - run.block_mean_k[0].min()),
    }


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
    print("\nthermal impedance: Foster networks against a transient run of a 5-row trace")
    head = (
        f"{'stack':10} {'blocks':>6} {'extract s':>9} {'fit':>8} {'times':>6} {'model s':>8} "
        f"{'run s':>7} {'speed-up':>9} {'gap K':>8} {'rise K':>7}"
    )
    print(head, flush=True)
    print("-" * len(head))
    impedance = []
    for name in IMPEDANCE_STACKS:
        r = impedance_row(name)
        impedance.append(r)
        print(
            f"{r['stack']:10} {r['blocks']:>6} {r['extract_s']:>9.2f} {r['fit_error']:>8.1e} "
            f"{r['times']:>6} {r['evaluate_s']:>8.4f} {r['transient_s']:>7.2f} "
            f"{r['speedup']:>9.0f} {r['gap_k']:>8.1e} {r['rise_k']:>7.2f}",
            flush=True,
        )
    out = HERE / "results" / "transient.json"
    data = {"machine": machine(), "rows": rows, "impedance": impedance}
    out.write_text(json.dumps(data, indent=2) + "\n")
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
