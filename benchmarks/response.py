"""The response operator of ``examples/chiplets.yaml`` against chiptherm's best solver for it.

The 2.5D package (two dies in mold, bumps, an interposer with TSV fields; a million cells at
its own grid) is the stack where no learned operator can yet be trained. Its response
operator (``chiptherm.operator.response``) is built for the power layer's map on a sensor grid
over the dies, then measured, in one run, one thread, CPU time:

- **build**: one solve per sensor cell in the dies, and the operator's size;
- **exactness**: predictions of held-out sensor maps against multigrid-CG solves of the same
  maps (cg-mg, chiptherm's fastest solver for this stack, ``benchmarks/solver.py``);
- **the sensor grid's own error**: the same floorplans' blocks solved as blocks on the solver
  grid, against the prediction of their sensor-grid map (peak and largest cell error);
- **speed**: a batch of predictions per map against one cg-mg solve per map.

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
    """``count`` power sources: the shipped four blocks, each resized (0.5-1x its sides) and
    placed at random inside the die that holds it."""
    from chiptherm.description.parts import PowerSource

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
        out.append(PowerSource(blocks=blocks))
    return out


def sensor_map(stack, source, sensors: tuple[int, int]) -> np.ndarray:
    """(my, mx) W per sensor cell of a block source, by area overlap (conservative)."""
    from chiptherm.discretize.grid import Grid

    my, mx = sensors
    return Grid.from_stack(stack.with_grid(mx, my)).power_map(source)


def main() -> None:
    from chiptherm import System, load_stack
    from chiptherm.description.parts import PowerSource
    from chiptherm.discretize.system import power_field
    from chiptherm.operator.inference import machine
    from chiptherm.operator.response import allowed_rects, build_response, map_power
    from chiptherm.solvers import make_solver

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 120 x 100 grid, 1 mm sensors")
    parser.add_argument("--maps", type=int, default=40, help="held-out floorplans")
    args = parser.parse_args()
    stack = load_stack(ROOT / "examples" / "chiplets.yaml")
    sensors = (32, 40)  # 0.5 mm over the 16 x 20 mm package
    if args.quick:
        stack, sensors = stack.with_grid(120, 100), (16, 20)
    print(f"building the response operator, {sensors[0]} x {sensors[1]} sensors", flush=True)
    cpu = time.process_time()
    op = build_response(
        stack, "chips", sensors, within="regions", method="cg-mg", tol=TOL,
        on_sensor=lambda done, total: done % max(total // 10, 1) or print(
            f"  {done}/{total} sensor cells", flush=True
        ),
    )  # fmt: skip
    build_cpu = time.process_time() - cpu
    print(f"  {op.response.shape[0]} sensor cells, {build_cpu:.1f} s CPU", flush=True)

    plans = floorplans(stack, args.maps)
    maps = np.stack([sensor_map(stack, plan, sensors) for plan in plans])
    cpu = time.process_time()
    predicted = op.predict(maps)
    predict_cpu = (time.process_time() - cpu) / len(maps)

    system = System.from_stack(stack)
    cpu = time.process_time()
    solver = make_solver(system, "cg-mg")
    setup_cpu = time.process_time() - cpu
    grid = system.grid
    exact_errors, grid_peak, grid_max, solve_cpu = [], [], [], []
    off = stack.with_power("chips", PowerSource(map=np.zeros(sensors)))
    rects = allowed_rects(stack, "chips", "regions")
    for n, (plan, watts, field) in enumerate(zip(plans, maps, predicted, strict=True)):
        cases = [("blocks", power_field(stack.with_power("chips", plan), grid))]
        if n < 5:  # the operator's own meaning of the map: the same map, solved
            cases.append(
                ("map", power_field(off, grid) + map_power(off, grid, "chips", rects, watts))
            )
        for kind, q in cases:
            cpu = time.process_time()
            x, _ = solver.solve(system.rhs_for(q).ravel(), tol=TOL)
            solve_cpu.append(time.process_time() - cpu)
            x = x.reshape(system.shape)
            if kind == "map":
                exact_errors.append(float(np.abs(field - x[op.levels]).max()))
            else:
                grid_peak.append(float(field.max() - x.max()))
                grid_max.append(float(np.abs(field - x[op.levels]).max()))
    per_solve = float(np.median(solve_cpu))
    out = {
        "machine": machine(),
        "cpu_time": True,
        "threads": 1,
        "stack": "examples/chiplets.yaml",
        "cells": int(system.size),
        "grid": list(system.shape),
        "sensors": list(sensors),
        "sensor_cells_in_dies": int(op.response.shape[0]),
        "output_cells": int(op.response.shape[1]),
        "operator_mb": op.nbytes / 2**20,
        "build_cpu_s": build_cpu,
        "maps": len(maps),
        "predict_cpu_s_per_map": predict_cpu,
        "cg_mg_setup_cpu_s": setup_cpu,
        "cg_mg_solve_cpu_s_median": per_solve,
        "speedup_vs_cg_mg_solve": per_solve / predict_cpu,
        "exact_map_max_error_k": max(exact_errors),
        "sensor_grid_peak_error_k": [min(grid_peak), max(grid_peak)],
        "sensor_grid_largest_cell_error_k": [min(grid_max), max(grid_max)],
        "peak_rise_k": [
            float(predicted.max(axis=(1, 2, 3)).min() - stack.ambient),
            float(predicted.max(axis=(1, 2, 3)).max() - stack.ambient),
        ],
    }
    rows = [
        ("cells", f"{out['cells']:,}"),
        ("sensor cells in the dies", f"{out['sensor_cells_in_dies']}"),
        ("operator size", f"{out['operator_mb']:.0f} MB"),
        ("build (one cg-mg solve per sensor cell)", f"{build_cpu:.0f} s"),
        (f"prediction, per map (batch of {len(maps)})", f"{1e3 * predict_cpu:.1f} ms"),
        ("cg-mg solve, per map (median)", f"{1e3 * per_solve:.0f} ms"),
        ("speed-up against cg-mg", f"{out['speedup_vs_cg_mg_solve']:.0f}x"),
        ("largest error, same map (5 maps)", f"{max(exact_errors):.1e} K"),
        ("peak error, blocks vs sensor map", f"{min(grid_peak):+.3f} .. {max(grid_peak):+.3f} K"),
        ("largest cell error, blocks vs map", f"{min(grid_max):.2f} .. {max(grid_max):.2f} K"),
    ]
    for name, value in rows:
        print(f"{name:<44} {value}")
    target = HERE / "results" / ("response_quick.json" if args.quick else "response.json")
    target.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {target.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
