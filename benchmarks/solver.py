"""Solver benchmark: cells, solver, setup and solve seconds, peak memory, iterations.

Laterally uniform stacks (the `volumetric` case geometry) are solved by the exact transform
solver and by plain pyamg smoothed-aggregation CG on the same system, in the same run;
laterally non-uniform stacks (copper TSV bundles in an oxide bond layer, a convective side
face; and ``examples/chiplets.yaml``, a 2.5D package of a million cells) by geometric-
multigrid-, AMG- and transform-preconditioned CG, and by multigrid CG on a batch of 16 power
maps solved together ("cg-mg x16": times per map). Each case runs in a fresh process (one
thread) so its peak resident memory can be measured.

cg-mg's compiled kernels are loaded before the timed solve (once per process, from numba's
cache: reported as ``kernel_load_s``, like an import). Hardware-independent units, measured
in the same process: the cost of a solve (setup + solve)
in CSR 7-point matrix-vector products of the same system, and the memory it adds per cell.
The machine's streaming-copy bandwidth is timed at the start, and each case's matrix-vector
product is reported as a fraction of it.

    python benchmarks/solver.py            # full run (up to ~4 million cells)
    python benchmarks/solver.py --quick    # small grids only

Writes benchmarks/results/solver.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread, also in the child processes

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TOL = 1e-8
"""Relative residual every solve reaches (the targets of the heterogeneous solver)."""


def uniform_stack(nx: int, nz_scale: int):
    """The `volumetric` example on an nx x nx grid with nz_scale x 56 z-cells."""
    from chiptherm import load_stack, stack_from_dict

    base = load_stack(ROOT / "examples" / "volumetric.yaml").model_dump()
    for layer in base["layers"]:
        layer["cells"] *= nz_scale
    base["grid"] = {"nx": nx, "ny": nx}
    return stack_from_dict(base)


def tsv_stack(nx: int, cells_per_layer: int, bond_k: float | None = None):
    """A non-uniform 3D stack: 4 x 4 copper TSV bundles in a bond layer, east face cooled;
    the bond layer is SiO2 (1.4 W/(m·K)), or a material of conductivity ``bond_k``."""
    from chiptherm import stack_from_dict

    pitch = 0.010 / 4
    regions = [
        {
            "material": "copper",
            "x": (i + 0.3) * pitch,
            "y": (j + 0.3) * pitch,
            "width": 0.4 * pitch,
            "height": 0.4 * pitch,
        }
        for i in range(4)
        for j in range(4)
    ]
    blocks = [
        {
            "name": f"c{i}{j}",
            "x": (i + 0.2) * pitch,
            "y": (j + 0.2) * pitch,
            "width": 0.6 * pitch,
            "height": 0.6 * pitch,
            "watts": 1.0 + 0.5 * ((i + 2 * j) % 3),
        }
        for i in range(4)
        for j in range(4)
    ]
    c = cells_per_layer
    data = {
        "name": "tsv-bench",
        "size": [0.01, 0.01],
        "layers": [
            {"name": "lid", "thickness": 1e-3, "material": "copper", "cells": c},
            {"name": "tim", "thickness": 50e-6, "material": "tim", "cells": c},
            {"name": "die2", "thickness": 100e-6, "material": "silicon", "cells": c, "power": "p"},
            {
                "name": "bond",
                "thickness": 20e-6,
                "material": "sio2" if bond_k is None else "bond",
                "cells": c,
                "regions": regions,
            },
            {"name": "die1", "thickness": 100e-6, "material": "silicon", "cells": c, "power": "p"},
            {"name": "beol", "thickness": 12e-6, "material": "beol", "cells": max(1, c // 2)},
        ],
        "power": {"p": {"blocks": blocks}},
        "boundaries": {"top": {"htc": 5e4}, "bottom": {"htc": 1e3}, "east": {"htc": 2e3}},
        "grid": {"nx": nx, "ny": nx},
    }
    if bond_k is not None:
        data["materials"] = {"bond": {"conductivity": bond_k}}
    return stack_from_dict(data)


def copy_bandwidth(megabytes: int = 400, repeats: int = 5) -> float:
    """The machine's streaming-copy bandwidth, GB/s (read + write), best of ``repeats``."""
    src = np.ones(megabytes * 2**20 // 8)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best / 1e9


def matvec_seconds(matrix, repeats: int = 10) -> float:
    """Seconds of one CSR matrix-vector product (best of ``repeats``)."""
    x = np.ones(matrix.shape[0])
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        matrix @ x
        best = min(best, time.perf_counter() - t0)
    return best


def rss_mb() -> float:
    """Peak resident memory of this process, MB (it includes the parent's at the spawn)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def status_mb(field: str) -> float:
    """A memory line of /proc/self/status (VmRSS: now, VmHWM: peak since the last reset), MB;
    NaN where it cannot be read."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def reset_peak() -> None:
    """Start VmHWM again from the current resident memory (Linux)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def load_kernels() -> float:
    """Seconds to load cg-mg's compiled kernels into this process (from numba's cache, or
    compiling them on a machine's first run): paid once per process, like an import, so it
    is measured apart from the solves, on a small stack."""
    from chiptherm import System
    from chiptherm.solvers import solve_system

    t0 = time.perf_counter()
    solve_system(System.from_stack(tsv_stack(16, 1)), method="cg-mg", tol=TOL)
    return time.perf_counter() - t0


def run_case(kind: str, size: tuple[int, int], method: str) -> dict:
    """Build the system and solve it; runs in a child process."""
    import pyamg
    import scipy.sparse as sp

    from chiptherm import System
    from chiptherm.solvers import solve_system

    load_s = load_kernels() if method.startswith("cg-mg") else 0.0
    if kind == "chiplets":  # the shipped 2.5D package at its own grid
        from chiptherm import load_stack

        stack = load_stack(ROOT / "examples" / "chiplets.yaml")
    elif kind.startswith("contrast"):  # copper TSVs in a bond of 400 / contrast W/(m·K)
        stack = tsv_stack(*size, bond_k=400.0 / float(kind.split()[1]))
    else:
        stack = uniform_stack(*size) if kind == "uniform" else tsv_stack(*size)
    t0 = time.perf_counter()
    system = System.from_stack(stack)
    build_s = time.perf_counter() - t0
    reset_peak()  # what the solver adds to the system's arrays, peak
    before_mb = status_mb("VmRSS")
    if method == "pyamg-sa-cg":
        t0 = time.perf_counter()
        matrix = sp.csr_matrix(system.matrix)
        ml = pyamg.smoothed_aggregation_solver(matrix, symmetry="symmetric")
        setup_s = time.perf_counter() - t0
        residuals: list[float] = []
        t0 = time.perf_counter()
        x = ml.solve(system.b, tol=TOL, accel="cg", maxiter=1000, residuals=residuals)
        solve_s = time.perf_counter() - t0
        iterations = len(residuals) - 1
        rel = system.relative_residual(x)
    elif method.startswith("cg-mg x"):  # a batch of power maps solved together
        from chiptherm.solvers import make_solver, solve_many

        count = int(method.split("x")[1])
        rng = np.random.default_rng(0)
        scale = rng.uniform(0.5, 1.5, size=(count, 1, 1, 1))
        rhs = np.stack([system.rhs_for(system.q * s) for s in scale])
        t0 = time.perf_counter()
        solver = make_solver(system, "cg-mg")
        setup_s = time.perf_counter() - t0
        fields, infos = solve_many(solver, rhs, tol=TOL)
        solve_s = (time.perf_counter() - t0 - setup_s) / count  # per right-hand side
        iterations = max(info.iterations for info in infos)
        rel = max(info.relative_residual for info in infos)
        x = fields[0]
    else:
        t0 = time.perf_counter()
        x, info = solve_system(system, method=method, tol=TOL)
        total = time.perf_counter() - t0
        setup_s, iterations, rel = info.setup_s, info.iterations, info.relative_residual
        solve_s = total - setup_s
    peak_mb = rss_mb()
    solver_mb = status_mb("VmHWM") - before_mb
    matvec_s = matvec_seconds(sp.csr_matrix(system.matrix))
    csr_bytes = system.matrix.data.nbytes + system.matrix.indices.nbytes + 3 * 8 * system.size
    return {
        "kind": kind,
        "cells": system.size,
        "shape": list(system.shape),
        "solver": method,
        "build_s": build_s,
        "setup_s": setup_s,
        "solve_s": solve_s,
        "total_s": setup_s + solve_s,  # batches: the setup plus one right-hand side's share
        "iterations": int(iterations),
        "relative_residual": float(rel),
        "peak_rss_mb": peak_mb,
        "solver_bytes_per_cell": solver_mb * 2**20 / system.size,
        "matvec_s": matvec_s,
        "matvec_gb_s": csr_bytes / matvec_s / 1e9,
        "cost_in_matvecs": (setup_s + solve_s) / matvec_s,
        "max_temperature": float(np.max(x)),
        "kernel_load_s": load_s,
    }


def in_child(args: tuple[str, tuple[int, int], str]) -> dict:
    return run_case(*args)


def main() -> None:
    from chiptherm.operator.inference import machine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grids only")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "solver.json")
    args = parser.parse_args()

    cases: list[tuple[str, tuple[int, int], str]] = []
    uniform_sizes = [(64, 1), (101, 1)] + ([] if args.quick else [(200, 2), (400, 1)])
    for size in uniform_sizes:
        cases.append(("uniform", size, "transform"))
        if size[0] * size[0] * 56 * size[1] <= 2_500_000:
            cases.append(("uniform", size, "pyamg-sa-cg"))
    tsv_sizes = [(64, 2), (128, 2)] + ([] if args.quick else [(256, 4), (400, 5)])
    for size in tsv_sizes:
        cases.append(("tsv", size, "cg-mg"))
        if size[0] <= 256:
            cases.append(("tsv", size, "cg-mg x16"))
        cases.append(("tsv", size, "cg-amg"))
        cases.append(("tsv", size, "cg-transform"))

    if not args.quick:
        cases.append(("tsv", (560, 5), "cg-mg"))  # 8.5 M cells: cg-mg alone
    for method in ("cg-mg", "cg-transform", "cg-amg"):
        cases.append(("chiplets", (0, 0), method))
    contrasts = (1, 10, 100, 1000)
    for contrast in contrasts:  # copper beside a bond layer 1 to 1000 times less conducting
        cases.append((f"contrast {contrast}", (128, 2) if args.quick else (256, 4), "cg-mg"))

    ctx = mp.get_context("spawn")
    rows = []
    with ctx.Pool(1, maxtasksperchild=1) as pool:  # the parent stays small: children
        bandwidth = pool.apply(copy_bandwidth)  # inherit its peak memory at the spawn
    print(f"streaming copy: {bandwidth:.1f} GB/s; every case on one thread")
    header = (
        f"{'case':8} {'cells':>10} {'solver':>13} {'setup s':>9} {'solve s':>9} "
        f"{'total s':>9} {'iters':>6} {'rel.res':>9} {'peak MB':>8} {'B/cell':>7} "
        f"{'matvecs':>8} {'mv/copy':>8}"
    )
    print(header)
    print("-" * len(header))
    for case in cases:
        with ctx.Pool(1, maxtasksperchild=1) as pool:
            row = pool.apply(in_child, (case,))
        rows.append(row)
        print(
            f"{row['kind']:8} {row['cells']:>10,} {row['solver']:>13} {row['setup_s']:>9.3f} "
            f"{row['solve_s']:>9.3f} {row['total_s']:>9.3f} {row['iterations']:>6} "
            f"{row['relative_residual']:>9.1e} {row['peak_rss_mb']:>8.0f} "
            f"{row['solver_bytes_per_cell']:>7.0f} {row['cost_in_matvecs']:>8.0f} "
            f"{row['matvec_gb_s'] / bandwidth:>8.2f}",
            flush=True,
        )
    ratios = {}
    for size in uniform_sizes:
        by = {
            r["solver"]: r
            for r in rows
            if r["kind"] == "uniform" and r["shape"][2] == size[0] and r["shape"][0] == 56 * size[1]
        }
        if "pyamg-sa-cg" in by:
            ratio = by["pyamg-sa-cg"]["total_s"] / by["transform"]["total_s"]
            ratios[f"{by['transform']['cells']}"] = ratio
            print(
                f"uniform {by['transform']['cells']:,} cells: transform is {ratio:.0f}x faster "
                "than pyamg SA-CG (setup + solve)"
            )
    mg = [r for r in rows if r["solver"] == "cg-mg" and r["cells"] >= 200_000]
    spread = {}
    for label, group in (
        ("cells", [r for r in mg if r["kind"] == "tsv"]),
        ("contrast", [r for r in mg if r["kind"].startswith("contrast")]),
    ):
        counts = [r["iterations"] for r in group]
        if counts:
            spread[label] = {"min": min(counts), "max": max(counts)}
            cases_text = ", ".join(f"{r['kind']} {r['cells']:,}" for r in group)
            print(
                f"cg-mg iterations across {label} ({cases_text}): {min(counts)}-{max(counts)}, "
                f"the most {max(counts) / min(counts) - 1:+.0%} over the fewest"
            )
    for size in tsv_sizes:
        by = {r["solver"]: r for r in rows if r["kind"] == "tsv" and r["shape"][2] == size[0]}
        best_other = min(by["cg-transform"]["total_s"], by["cg-amg"]["total_s"])
        print(
            f"tsv {by['cg-mg']['cells']:,} cells: cg-mg {best_other / by['cg-mg']['total_s']:.1f}x "
            "faster than the best of cg-transform and cg-amg"
        )
    out = {
        "machine": machine(),
        "copy_bandwidth_gb_s": bandwidth,
        "tolerance": TOL,
        "rows": rows,
        "speedup_transform_vs_pyamg": ratios,
        "cg_mg_iteration_spread": spread,
        "argv": sys.argv[1:],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
