"""Solvers on a torch device: the targets of the GPU path, timed against the host in one run.

Cases (the stacks of ``benchmarks/solver.py``):

- the TSV stack of 4.32 M cells (400 x 400 x 27) by multigrid CG, as a V-cycle and as a
  W-cycle (a device pays per kernel launch, the host per byte: which cycle wins differs);
- the uniform `volumetric` geometry at 8.96 M cells (400 x 400 x 56) by the transform solver;
- 1,000 right-hand sides of the `volumetric` example at its own grid, solved in batches by the
  transform solver (solves per second);

each on the device and, unless ``--no-host``, by the host's numpy/scipy path on one thread.
Times include moving the right-hand side to the device and the answer back; each case is
solved once first, to warm the device up, and the best of ``--repeats`` is reported. Peak
device memory is torch's ``max_memory_allocated`` per cell.

    python benchmarks/solver_device.py                    # on cuda
    python benchmarks/solver_device.py --device cpu --quick   # rehearses it without a GPU

Writes benchmarks/results/solver_<device>.json (``--out`` to change).
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
import torch  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from solver import TOL, tsv_stack, uniform_stack  # noqa: E402


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(solve, device: torch.device, repeats: int) -> float:
    """Seconds of the fastest of ``repeats`` calls of ``solve`` (after one to warm up)."""
    solve()
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        t0 = time.perf_counter()
        solve()
        synchronize(device)
        best = min(best, time.perf_counter() - t0)
    return best


def peak_bytes_per_cell(device: torch.device, cells: int) -> float:
    if device.type != "cuda":
        return float("nan")
    return torch.cuda.max_memory_allocated(device) / cells


def single_case(name: str, stack, method: str, where: str, repeats: int, visits=None) -> dict:
    """One system solved by ``method`` on ``where`` ('numpy' or a torch device)."""
    from chiptherm import System
    from chiptherm.solvers import make_solver
    from chiptherm.solvers.device import DeviceSolver

    system = System.from_stack(stack)
    device = torch.device("cpu" if where == "numpy" else where)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    solver = make_solver(system, method, device=where)
    if visits is not None and isinstance(solver, DeviceSolver):
        solver.precondition.__self__.visits = visits  # the Multigrid behind apply_many
    setup_s = time.perf_counter() - t0
    answer = {}

    def solve() -> None:
        answer["x"], answer["info"] = solver.solve(system.rhs, tol=TOL)

    seconds = best_time(solve, device, repeats)
    info = answer["info"]
    return {
        "case": name,
        "cells": system.size,
        "shape": list(system.shape),
        "solver": method + ("" if visits is None else f" ({'V' if visits == 1 else 'W'})"),
        "device": where,
        "setup_s": setup_s,
        "solve_s": seconds,
        "iterations": info.iterations,
        "relative_residual": float(system.relative_residual(answer["x"])),
        "device_bytes_per_cell": peak_bytes_per_cell(device, system.size)
        if where != "numpy"
        else float("nan"),
    }


def batch_case(stack, where: str, count: int, batch: int, repeats: int) -> dict:
    """``count`` power maps of one stack solved ``batch`` at a time by the transform solver."""
    from chiptherm import System
    from chiptherm.solvers import make_solver, solve_many

    system = System.from_stack(stack)
    device = torch.device("cpu" if where == "numpy" else where)
    solver = make_solver(system, "transform", device=where)
    scale = np.random.default_rng(0).uniform(0.5, 1.5, size=(count, 1, 1, 1))
    rhs = np.stack([system.rhs_for(system.q * s) for s in scale])

    def solve() -> None:
        for start in range(0, count, batch):
            solve_many(solver, rhs[start : start + batch])

    seconds = best_time(solve, device, repeats)
    return {
        "case": f"volumetric x{count}",
        "cells": system.size,
        "shape": list(system.shape),
        "solver": f"transform, batches of {batch}",
        "device": where,
        "solve_s": seconds,
        "solves_per_s": count / seconds,
    }


def main() -> None:
    from chiptherm import load_stack
    from chiptherm.operator.inference import machine
    from chiptherm.solvers.backend import resolve

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="small grids (a rehearsal)")
    parser.add_argument("--no-host", action="store_true", help="skip the host's baselines")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    resolve(args.device)  # a clear error when the device is not there
    torch.set_num_threads(1)
    tsv_size, uniform_size = ((64, 2), (64, 1)) if args.quick else ((400, 5), (400, 1))
    count = 50 if args.quick else 1000
    places = [args.device] + ([] if args.no_host else ["numpy"])
    rows = []
    for where in places:
        for visits in (1, 2) if where != "numpy" else (None,):
            rows.append(
                single_case("tsv", tsv_stack(*tsv_size), "cg-mg", where, args.repeats, visits)
            )
        rows.append(
            single_case("uniform", uniform_stack(*uniform_size), "transform", where, args.repeats)
        )
        volumetric = load_stack(HERE.parent / "examples" / "volumetric.yaml")
        rows.append(batch_case(volumetric, where, count, 100, args.repeats))
    header = (
        f"{'case':16} {'cells':>10} {'solver':>26} {'device':>7} {'solve s':>9} {'iters':>6} "
        f"{'B/cell':>7} {'solves/s':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['case']:16} {r['cells']:>10,} {r['solver']:>26} {r['device']:>7} "
            f"{r['solve_s']:>9.4f} {r.get('iterations', ''):>6} "
            f"{r.get('device_bytes_per_cell', float('nan')):>7.0f} "
            f"{r.get('solves_per_s', float('nan')):>9.1f}"
        )
    info = machine()
    if torch.cuda.is_available() and args.device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(args.device))
    out = args.out or HERE / "results" / f"solver_{args.device.replace(':', '')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"machine": info, "tolerance": TOL, "rows": rows, "argv": sys.argv[1:]}
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
