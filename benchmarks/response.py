"""The response operator of ``examples/chiplets.yaml`` against chiptherm's best solver for it.

The 2.5D package (two dies in mold, bumps, an interposer with TSV fields; a million cells at
its own grid) is the stack where no learned operator can yet be trained. Its response
operator (``chiptherm.operator.response``) is built on a sensor grid over the dies with each
basis (order 0: a constant per sensor cell; order 1: also its first moments), then measured
on held-out block floorplans, in one run, one thread, CPU time:

- **build**: one solve per basis function, and the operator's size;
- **exactness**: predictions against multigrid-CG solves of the power the basis keeps (cg-mg,
  chiptherm's fastest solver for this stack, ``benchmarks/solver.py``);
- **accuracy**: against the blocks solved as blocks on the solver grid (peak error, largest
  cell error in the dies and in the mold): what the basis loses. Where a die's edge falls
  inside a row or column of solver cells whose centre lies in the mold, the solver spreads
  the share of a block that overlaps that cell into the mold (a hot mold cell); the operator
  moves it into the die, so those mold cells are reported apart;
- **speed**: a batch of predictions per floorplan against one cg-mg solve per floorplan.

The held-out floorplans are the shipped one's four blocks (60, 15, 8 and 12 W), each placed
at random inside its own die, with sizes drawn between half and all of the shipped ones.

    python benchmarks/response.py            # the stack's own grid, 0.5 mm sensors
    python benchmarks/response.py --quick    # a 120 x 100 grid, 1 mm sensors

Writes benchmarks/results/response.json (response_quick.json).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TOL = 1e-8
"""Relative residual of every solve (the operator's and the references')."""


def floorplans(stack, count: int, seed: int = 0):
    """``count`` floorplans: the shipped four blocks, each resized (0.5-1x its sides) and
    placed at random inside the die that holds it."""
    rng = np.random.default_rng(seed)
    layer = next(layer for layer in stack.layers if layer.power == "chips")
    dies = layer.regions
    shipped = stack.power["chips"].blocks
    out = []
    for _ in range(count):
        blocks = []
        for block in shipped:
            die = next(d for d in dies if d.x <= block.x < d.x1 and d.y <= block.y < d.y1)
            w, h = block.width * rng.uniform(0.5, 1.0), block.height * rng.uniform(0.5, 1.0)
            x = rng.uniform(die.x, die.x1 - w)
            y = rng.uniform(die.y, die.y1 - h)
            blocks.append(block.model_copy(update={"x": x, "y": y, "width": w, "height": h}))
        out.append(blocks)
    return out


def main() -> None:
    from chiptherm import System, load_stack
    from chiptherm.description.parts import PowerSource
    from chiptherm.discretize.system import power_field
    from chiptherm.operator.inference import machine
    from chiptherm.operator.response import build_response
    from chiptherm.solvers import make_solver

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 120 x 100 grid, 1 mm sensors")
    parser.add_argument("--maps", type=int, default=40, help="held-out floorplans")
    parser.add_argument("--orders", default="0,1", help="bases to build, comma-separated")
    args = parser.parse_args()
    stack = load_stack(ROOT / "examples" / "chiplets.yaml")
    sensors = (32, 40)  # 0.5 mm over the 16 x 20 mm package
    if args.quick:
        stack, sensors = stack.with_grid(120, 100), (16, 20)
    plans = floorplans(stack, args.maps)
    system = System.from_stack(stack)
    solver = make_solver(system, "cg-mg")

    def solve(columns_or_blocks) -> tuple[np.ndarray, float]:
        """The field (nz, ny, nx) K of a floorplan's blocks or of column watts, CPU s."""
        source = (
            PowerSource(map=columns_or_blocks)
            if isinstance(columns_or_blocks, np.ndarray)
            else PowerSource(blocks=columns_or_blocks)
        )
        q = power_field(stack.with_power("chips", source), system.grid)
        cpu = time.process_time()
        x, _ = solver.solve(system.rhs_for(q).ravel(), tol=TOL)
        return x.reshape(system.shape), time.process_time() - cpu

    references = [solve(blocks) for blocks in plans]
    per_solve = float(np.median([seconds for _, seconds in references]))
    rows = []
    for order in (int(o) for o in args.orders.split(",")):
        print(f"order {order}: building on {sensors[0]} x {sensors[1]} sensors", flush=True)
        cpu = time.process_time()
        op = build_response(
            stack, "chips", sensors, within="regions", order=order, method="cg-mg", tol=TOL,
            on_sensor=lambda done, total: done % max(total // 10, 1) or print(
                f"  {done}/{total} basis functions", flush=True
            ),
        )  # fmt: skip
        build_cpu = time.process_time() - cpu
        op.predict_blocks(plans[:1])  # first call: the projection's lookups are built once
        cpu = time.process_time()
        predicted = op.predict_blocks(plans)
        predict_cpu = (time.process_time() - cpu) / len(plans)
        columns = np.stack([system.grid.power_map(PowerSource(blocks=b)) for b in plans])
        projected = op.basis.projected(columns[:3])
        exact = max(
            float(np.abs(field - solve(kept)[0][op.levels]).max())
            for field, kept in zip(predicted[:3], projected, strict=True)
        )
        peak = [float(f.max() - r.max()) for f, (r, _) in zip(predicted, references, strict=True)]
        dies = op.basis.owner >= 0  # the columns the basis covers (the dies' silicon)
        largest = [
            float(np.abs(f - r[op.levels])[:, dies].max())
            for f, (r, _) in zip(predicted, references, strict=True)
        ]
        beside = [  # mold columns that a block's edge heats in the reference (see above)
            float(np.abs(f - r[op.levels])[:, ~dies].max())
            for f, (r, _) in zip(predicted, references, strict=True)
        ]
        rows.append(
            {
                "order": order,
                "sensor_cells": int(op.active.sum()),
                "basis_functions": len(op.response),
                "operator_mb": op.nbytes / 2**20,
                "build_cpu_s": build_cpu,
                "predict_cpu_s_per_map": predict_cpu,
                "speedup_vs_cg_mg_solve": per_solve / predict_cpu,
                "projected_power_max_error_k": exact,
                "peak_error_k": [min(peak), max(peak)],
                "largest_cell_error_in_dies_k": [min(largest), max(largest)],
                "largest_cell_error_in_mold_k": [min(beside), max(beside)],
            }
        )
    out = {
        "machine": machine(),
        "cpu_time": True,
        "threads": 1,
        "stack": "examples/chiplets.yaml",
        "cells": int(system.size),
        "grid": list(system.shape),
        "sensors": list(sensors),
        "maps": len(plans),
        "cg_mg_solve_cpu_s_median": per_solve,
        "peak_rise_k": [
            float(min(r.max() for r, _ in references) - stack.ambient),
            float(max(r.max() for r, _ in references) - stack.ambient),
        ],
        "rows": rows,
    }
    print(f"{system.size:,} cells, {sensors[0]} x {sensors[1]} sensors, {len(plans)} floorplans; "
          f"a cg-mg solve {1e3 * per_solve:.0f} ms (median)")  # fmt: skip
    head = ("order", "functions", "MB", "build s", "ms/map", "x cg-mg", "exact K", "peak K",
            "dies K", "mold K")  # fmt: skip
    print(" ".join(f"{h:>10}" for h in head))
    for r in rows:
        print(
            f"{r['order']:>10} {r['basis_functions']:>10} {r['operator_mb']:>10.0f} "
            f"{r['build_cpu_s']:>10.0f} {1e3 * r['predict_cpu_s_per_map']:>10.2f} "
            f"{r['speedup_vs_cg_mg_solve']:>10.0f} {r['projected_power_max_error_k']:>10.1e} "
            f"{r['peak_error_k'][0]:>+5.2f}..{r['peak_error_k'][1]:<+5.2f}"
            f"{r['largest_cell_error_in_dies_k'][0]:>5.2f}..{r['largest_cell_error_in_dies_k'][1]:.2f}"
            f"{r['largest_cell_error_in_mold_k'][1]:>8.2f}"
        )
    target = HERE / "results" / ("response_quick.json" if args.quick else "response.json")
    target.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {target.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
