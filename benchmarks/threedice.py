"""What a 3D-ICE cavity stack costs chiptherm to solve, at the published tests' size and at
10x their cells.

The stacks are 3D-ICE's 4RM and 2RM tests (two 1 cm² dies of 48 + 2 µm silicon around a
100 µm cavity, 50 W per die, all heat to the water), on 50 rows of cells (the tests: 50,250
and 20,000 cells) and on 500 rows (502,500 and 200,000 cells). A cavity stack's matrix is
not symmetric. Timed, each on the same system:

- LU as 3D-ICE factorizes (SuperLU, minimum degree on A'+A, symmetric mode, pivot threshold
  0.001: the same library and options, so the closest stand-in for 3D-ICE's own solve on
  this machine, where 3D-ICE is not installed);
- SuperLU with its defaults (COLAMD, partial pivoting);
- restarted GMRES preconditioned by pyamg's AIR multigrid (built for advection; 4RM only);
- chiptherm's block solve (``chiptherm.formats.threedice_block``): the solid by chiptherm's
  solvers (transform for 2RM, multigrid CG for 4RM), the coolant by its channels, GMRES.

CPU time, one thread, one run each; every solve is checked against the energy balance (all
power leaves with the coolant).

    python benchmarks/threedice.py [--quick]

Writes benchmarks/results/threedice.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
STACK = """material silicon :
   thermal conductivity 1.30e-04 ;
   volumetric heat capacity 1.63566e-12 ;
{cavity}   coolant volumetric heat capacity 4.172638e-12 ;
   coolant incoming temperature 300.0 ;
dimensions :
   chip length 10000 , width 10000 ;
   cell length {length} , width {width} ;
die bottomdie :
   layer 48 silicon ;
   source 2 silicon ;
die topdie :
   source 2 silicon ;
   layer 48 silicon ;
stack:
   die die2 topdie floorplan "background.flp" ;
   channel channel1 ;
   die die1 bottomdie floorplan "background.flp" ;
solver:
   {solver}
   initial temperature 300.0 ;
"""
CAVITIES = {
    "4rm": """microchannel 4rm :
   height 100 ;
   channel length 50 ;
   wall length 50 ;
   first wall length 25 ;
   last wall length 25 ;
   wall material silicon ;
   coolant flow rate 48.0 ;
   coolant heat transfer coefficient side 2.7132e-08 , top 4.7132e-08 , bottom 5.7132e-08 ;
""",
    "2rm": """microchannel 2rm :
   height 100 ;
   channel length 50 ;
   wall length 50 ;
   wall material silicon ;
   coolant flow rate 48.0 ;
   coolant heat transfer coefficient top 4.7132e-8 , bottom 5.7132e-8 ;
""",
}
FLOORPLAN = "background :\n position 0, 0 ;\n dimension 10000, 10000 ;\n power values {watts} ;\n"
SLOTS = "50, 50, 50, 50, 0, 0, 0, 0, 50, 50, 50, 50"
"""3D-ICE's transient tests' power slots: on, off, on (12 slots of 20 ms, 10 steps each)."""


def build(folder: Path, cavity: str, rows: int, transient: bool = False):
    """The model of 3D-ICE's test stack with a ``cavity`` ('4rm' or '2rm') and ``rows`` rows
    of cells along the flow (its cells are 50 µm across the flow for 4RM, 200 µm for 2RM,
    as in 3D-ICE's tests); ``transient``: 3D-ICE's transient run of its tests instead of a
    steady one."""
    from chiptherm.formats.threedice import build_model
    from chiptherm.formats.threedice_files import read_stk

    (folder / "background.flp").write_text(FLOORPLAN.format(watts=SLOTS if transient else 50))
    path = folder / f"{cavity}_rows{rows}.stk"
    length = 50 if cavity == "4rm" else 200
    solver = "transient step 0.002, slot 0.02 ;" if transient else "steady ;"
    text = STACK.format(cavity=CAVITIES[cavity], length=length, width=10000 / rows, solver=solver)
    path.write_text(text)
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        return build_model(read_stk(path))
    finally:
        os.chdir(cwd)


def lu_solve(a, defaults: bool, b: np.ndarray) -> tuple[np.ndarray, dict]:
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    from chiptherm.formats.threedice_solve import factorize

    t0 = time.process_time()
    lu = spla.splu(sp.csc_matrix(a)) if defaults else factorize(a)
    t1 = time.process_time()
    x = lu.solve(b)
    t2 = time.process_time()
    return x, {"setup_s": t1 - t0, "solve_s": t2 - t1, "lu_nonzeros": int(lu.L.nnz + lu.U.nnz)}


def air_gmres(a, b: np.ndarray) -> tuple[np.ndarray, dict]:
    import pyamg
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    t0 = time.process_time()
    preconditioner = pyamg.air_solver(sp.csr_matrix(a)).aspreconditioner()
    t1 = time.process_time()
    residuals: list[float] = []
    x, _ = spla.gmres(
        a, b, M=preconditioner, rtol=1e-10, restart=60, maxiter=20,
        callback=residuals.append, callback_type="pr_norm",
    )  # fmt: skip
    t2 = time.process_time()
    return x, {"setup_s": t1 - t0, "solve_s": t2 - t1, "iterations": len(residuals)}


def block_solve(model, b: np.ndarray) -> tuple[np.ndarray, dict]:
    from chiptherm.formats.threedice_block import BlockSolver

    t0 = time.process_time()
    solver = BlockSolver(model.matrix(), model.cavity.mask(model.system.shape))
    t1 = time.process_time()
    x, info = solver.solve(b, tol=1e-11)
    t2 = time.process_time()
    return x, {
        "setup_s": t1 - t0,
        "solve_s": t2 - t1,
        "iterations": info.iterations,
        "solid_solver": solver.solid.name,
    }


def transient_rows(folder: Path, rows: int) -> list[dict]:
    """3D-ICE's transient run (120 Euler steps) of the 2RM stack on ``rows`` rows, by
    blocks and by one factorization as 3D-ICE does, CPU time."""
    from chiptherm.transient.threedice import run_transient

    model = build(folder, "2rm", rows, transient=True)
    out = []
    for method in ("block", "lu"):
        t0 = time.process_time()
        run = run_transient(model, workdir=folder, method=method)
        seconds = time.process_time() - t0
        out.append(
            {
                "cavity": "2rm",
                "cells": model.system.size,
                "rows": rows,
                "method": f"transient, {run.steps} steps: {run.method}",
                "total_s": seconds,
                "peak_k": float(run.peak_k.max()),
            }
        )
        print(f"2rm {model.system.size:>8} cells  {out[-1]['method']:<50} {seconds:7.2f} s")
    return out


def main() -> None:
    from chiptherm.operator.inference import machine

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the tests' size only")
    parser.add_argument(
        "--transient", action="store_true", help="only the transient run, blocks against LU"
    )
    parser.add_argument(
        "--rows",
        default="50,75,100,150,250,500",
        help="rows of cells along the flow of the transient runs, comma-separated "
        "(2RM: 400 cells per row; --quick: 50 only)",
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    cases = [("4rm", 50), ("2rm", 50)]
    if not args.quick:
        cases += [("4rm", 500), ("2rm", 500)]
    rows_out = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.transient:
            cases = []
            for rows in [50] if args.quick else [int(r) for r in args.rows.split(",")]:
                rows_out += transient_rows(Path(tmp), rows)
        for cavity, rows in cases:
            t0 = time.process_time()
            model = build(Path(tmp), cavity, rows)
            build_s = time.process_time() - t0
            a = model.matrix()
            b = model.rhs_for(model.system.q).ravel()
            power = float(model.system.q.sum())
            for name, run, extra in (
                ("LU as 3D-ICE", lu_solve, (a, False)),
                ("LU, SuperLU's defaults", lu_solve, (a, True)),
                ("GMRES + AIR multigrid", air_gmres, (a,)),
                ("blocks: solid + channels, GMRES", block_solve, (model,)),
            ):
                if cavity == "2rm" and run is air_gmres:
                    continue
                x, info = run(*extra, b)
                field = x.reshape(model.system.shape)
                row = {
                    "cavity": cavity,
                    "cells": model.system.size,
                    "rows": rows,
                    "method": name,
                    "build_s": build_s,
                    **info,
                    "total_s": info["setup_s"] + info["solve_s"],
                    "relative_residual": float(np.linalg.norm(a @ x - b) / np.linalg.norm(b)),
                    "energy_error": abs(model.heat_out(field) - power) / power,
                }
                rows_out.append(row)
                print(
                    f"{cavity} {row['cells']:>8} cells  {name:<33} setup {row['setup_s']:7.2f} s  "
                    f"solve {row['solve_s']:6.2f} s  residual {row['relative_residual']:.1e}  "
                    f"energy {row['energy_error']:.1e}",
                    flush=True,
                )
    out = {
        "machine": machine(),
        "cpu_time": True,
        "threads": 1,
        "rows": rows_out,
        "argv": sys.argv[1:],
    }
    name = "threedice_transient" if args.transient else "threedice"
    target = HERE / "results" / (f"{name}_quick.json" if args.quick else f"{name}.json")
    target.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {target.relative_to(HERE.parent)}", file=sys.stderr)


if __name__ == "__main__":
    main()
