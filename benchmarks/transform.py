"""Where the transform solver should switch from dense lateral products to FFTs.

The transform solver (``chiptherm.solvers.transform``) applies its lateral DCT/DST either as
two dense matrix products (cost ~ n per cell per axis) or as scipy's FFT-based transforms
(cost ~ log n per cell, with a larger constant, worse for sizes with large prime factors).
This times one solve both ways on the `two_die` stack (18 z-cells) at n x n lateral cells,
one thread, best of several, and reports nanoseconds per cell and the size where FFTs win.

    python benchmarks/transform.py [--quick]

Writes benchmarks/results/transform.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SIZES = (64, 96, 101, 105, 121, 127, 128, 200, 210, 251, 256, 320, 400, 509, 512, 640)
"""Lateral cells per axis: 2-, 3- and 5-smooth sizes, 7- and 11-smooth ones (105, 121, 210),
and primes (101, 127, 251, 509), which scipy's FFT transforms by Bluestein's algorithm."""


def stack_at(n: int):
    """`two_die` on an n x n lateral grid."""
    import yaml

    from chiptherm import stack_from_dict

    data = yaml.safe_load((ROOT / "examples" / "two_die.yaml").read_text())
    data["grid"] = {"nx": n, "ny": n}
    return stack_from_dict(data, base_dir=ROOT / "examples")


def seconds_per_solve(solver, b: np.ndarray, repeats: int) -> float:
    solver.apply_inverse(b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        solver.apply_inverse(b)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    import chiptherm.solvers.transform as transform
    from chiptherm import System
    from chiptherm.operator.inference import machine
    from chiptherm.threads import set_threads

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes up to 200")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "transform.json")
    args = parser.parse_args()
    set_threads(1)
    chosen = transform.dense_axis  # chiptherm's own rule, replaced while each path is timed
    rows = []
    print(f"{'n':>5} {'cells':>10} {'dense ns/cell':>14} {'fft ns/cell':>12} {'faster':>7}")
    for n in [s for s in SIZES if not args.quick or s <= 200]:
        system = System.from_stack(stack_at(n))
        structure = system.lateral_structure
        b = system.rhs
        row = {"n": n, "cells": system.size}
        for path in ("dense", "fft"):
            transform.dense_axis = lambda n, device=None, dense=path == "dense": dense
            solver = transform.TransformSolver(structure, system.shape)
            row[f"{path}_ns_per_cell"] = seconds_per_solve(solver, b, args.repeats) / b.size * 1e9
        row["faster"] = "dense" if row["dense_ns_per_cell"] < row["fft_ns_per_cell"] else "fft"
        rows.append(row)
        print(
            f"{n:>5} {row['cells']:>10,} {row['dense_ns_per_cell']:>14.1f} "
            f"{row['fft_ns_per_cell']:>12.1f} {row['faster']:>7}",
            flush=True,
        )
    transform.dense_axis = chosen
    from chiptherm.solvers.transform import fast_fft_size

    smooth = [r for r in rows if fast_fft_size(r["n"])]
    slow = [r for r in rows if not fast_fft_size(r["n"])]
    fft_wins = sum(r["faster"] == "fft" for r in smooth)
    dense_wins = [r["n"] for r in slow if r["faster"] == "dense"]
    crossover = max(dense_wins) if dense_wins else 0
    print(
        f"sizes with a fast FFT: FFT faster at {fft_wins} of {len(smooth)}; "
        f"sizes with a slow FFT (large prime factors): dense faster up to n = {crossover}"
    )
    doc = {
        "machine": machine(),
        "rows": rows,
        "fft_faster_at_fast_sizes": f"{fft_wins}/{len(smooth)}",
        "dense_faster_up_to_at_slow_sizes": crossover,
        "argv": sys.argv[1:],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
