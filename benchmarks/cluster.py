"""Cluster benchmark: what a task costs on a Dask cluster, and what workers gain here.

Measured on this machine, in one run:

- per-task overhead: an empty task through ``run_tasks`` on a local cluster of 1 and 2
  worker processes, ms per task (and in this process, for reference);
- bytes a task ships: the pickled task of a sweep point (its validated stack) and of a
  resistance-matrix chunk;
- a 64-point sweep of ``examples/chiplets.yaml`` (the top film coefficient; the package on a
  120 x 100 grid, 252,000 cells, multigrid CG) in this process and on 1 and 2 workers; the
  cluster's start-up is timed apart;
- a resistance matrix of a 64-block floorplan, then 1,000 power cases evaluated from it, in
  this process and on 1 and 2 workers;
- on paper, from those numbers: the wall time of 10,000 design points on 100 workers.

Machines here have 2 cores: 2 workers is what they allow. Threads are pinned to one per
process.

    python benchmarks/cluster.py            # full run
    python benchmarks/cluster.py --quick    # smaller grids, fewer points

Writes benchmarks/results/cluster.json.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def nothing(item: int) -> int:
    """An empty task."""
    return item


def import_chiptherm() -> None:
    """What a worker imports before its first solve (timed with the cluster's start)."""
    import chiptherm.analysis.compact
    import chiptherm.analysis.sweep  # noqa: F401


def floorplan_stack(blocks_per_side: int, nx: int):
    """``two_die`` with its blocks replaced by a blocks_per_side² grid of blocks on die 1."""
    from chiptherm import load_stack, stack_from_dict

    data = load_stack(ROOT / "examples" / "two_die.yaml").model_dump(exclude_none=True)
    sx, sy = data["size"]
    w, h = sx / blocks_per_side, sy / blocks_per_side
    source = next(iter(data["power"]))
    data["power"] = {
        source: {
            "blocks": [
                {
                    "name": f"b{i}_{j}",
                    "x": i * w,
                    "y": j * h,
                    "width": w,
                    "height": h,
                    "watts": 0.5 + 0.1 * ((i + j) % 5),
                }
                for i in range(blocks_per_side)
                for j in range(blocks_per_side)
            ]
        }
    }
    for layer in data["layers"]:
        if layer.get("power") and layer["power"] != source:
            layer.pop("power")
    data["grid"] = {"nx": nx, "ny": nx}
    return stack_from_dict(data)


def timed(function, *args, **kwargs) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = function(*args, **kwargs)
    return out, time.perf_counter() - t0


def main() -> None:
    from chiptherm.analysis.compact import resistance_matrix
    from chiptherm.analysis.sweep import sweep_stack
    from chiptherm.formats.loading import load_stack
    from chiptherm.operator.inference import machine
    from chiptherm.tasks import Cluster, connect, run_tasks
    from chiptherm.threads import set_threads

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller grids, fewer points")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "cluster.json")
    args = parser.parse_args()
    set_threads(1)
    points, nx, side = (16, 48, 4) if args.quick else (64, 120, 8)
    sweep_path = ROOT / "examples" / "chiplets.yaml"
    sweep_axes = [("boundaries.top.htc", list(np.geomspace(1e3, 1e5, points)))]
    sweep_overrides = [("grid.nx", nx), ("grid.ny", nx * 5 // 6)]
    floorplan = floorplan_stack(side, nx)
    cases = np.random.default_rng(0).uniform(0.0, 1.0, size=(1000, side * side))

    rows: dict[str, dict] = {}
    serial_sweep, rows_t = timed(sweep_stack, sweep_path, sweep_axes, sweep_overrides)
    serial_matrix, matrix_t = timed(resistance_matrix, floorplan)
    _, cases_t = timed(serial_matrix.temperatures, cases)
    _, empty_t = timed(run_tasks, nothing, list(range(200)))
    rows["serial"] = {
        "sweep_s": rows_t,
        "matrix_s": matrix_t,
        "cases_s": cases_t,
        "task_overhead_ms": empty_t / 200 * 1e3,
    }
    print(f"{'where':>10} {'start s':>8} {'task ms':>8} {'sweep s':>8} {'matrix s':>9}")
    print(f"{'serial':>10} {0.0:>8.2f} {rows['serial']['task_overhead_ms']:>8.3f} "
          f"{rows_t:>8.2f} {matrix_t:>9.2f}", flush=True)  # fmt: skip
    for workers in (1, 2):
        t0 = time.perf_counter()
        session = connect(Cluster(workers=workers))  # as --workers N starts it
        client = session.__enter__()
        client.run(import_chiptherm)
        start_s = time.perf_counter() - t0
        where = Cluster(scheduler=client.scheduler.address)
        run_tasks(nothing, list(range(20)), where)  # warm
        _, empty = timed(run_tasks, nothing, list(range(200)), where)
        study, sweep_t = timed(sweep_stack, sweep_path, sweep_axes, sweep_overrides, cluster=where)
        matrix, matrix_c = timed(resistance_matrix, floorplan, cluster=where)
        peaks = [p.peak_k for p in study.points]
        expected = [p.peak_k for p in serial_sweep.points]
        agree = max(abs(a - b) for a, b in zip(peaks, expected, strict=True))
        same_matrix = bool(np.array_equal(matrix.resistance, serial_matrix.resistance))
        rows[f"{workers} workers"] = {
            "start_s": start_s,
            "task_overhead_ms": empty / 200 * 1e3,
            "sweep_s": sweep_t,
            "matrix_s": matrix_c,
            "sweep_speedup": rows_t / sweep_t,
            "matrix_speedup": matrix_t / matrix_c,
            "sweep_peak_difference_k": agree,
            "matrix_equal_to_serial": same_matrix,
        }
        print(f"{workers:>2} workers {start_s:>8.2f} {empty / 200 * 1e3:>8.3f} "
              f"{sweep_t:>8.2f} {matrix_c:>9.2f}", flush=True)  # fmt: skip
        session.__exit__(None, None, None)

    stack = load_stack(sweep_path, sweep_overrides)
    sweep_task = ({"boundaries.top.htc": 1e3}, stack, "auto")
    matrix_task = (floorplan, "auto", 1e-10, range(4))
    sizes = {
        "sweep_task_bytes": len(pickle.dumps(sweep_task)),
        "matrix_task_bytes": len(pickle.dumps(matrix_task)),
        "matrix_result_bytes_per_block": serial_matrix.heated.response.shape[0] * 8
        + serial_matrix.resistance.shape[0] * 8,
    }
    per_point = rows_t / points  # serial, warm-started from the previous point
    per_task = rows["1 workers"]["sweep_s"] / points  # one worker: cold start and overhead
    projected = 10_000 / 100 * per_task + rows["2 workers"]["start_s"]
    paper = {
        "points": 10_000,
        "workers": 100,
        "seconds_per_point_serial": per_point,
        "seconds_per_task_on_a_worker": per_task,
        "serial_hours": 10_000 * per_point / 3600,
        "projected_minutes": projected / 60,
        "assumes": "each worker one core as fast as this machine's, running tasks as fast as "
        "the one local worker measured here (cold starts and task overhead included); the "
        "scheduler keeps up (a few ms a task against 100 tasks finishing a second here); "
        "start-up as measured for 2 local workers",
    }
    print(
        f"task sizes: sweep point {sizes['sweep_task_bytes']:,} B, matrix chunk "
        f"{sizes['matrix_task_bytes']:,} B; 1,000 cases from the matrix in {cases_t * 1e3:.1f} ms"
    )
    print(
        f"10,000 points: {paper['serial_hours']:.1f} h serial ({per_point:.2f} s a point); on "
        f"100 workers at {per_task:.2f} s a task about {paper['projected_minutes']:.1f} min "
        "(on paper)"
    )
    out = {
        "machine": machine(),
        "quick": args.quick,
        "sweep_points": points,
        "sweep_grid": [nx, nx * 5 // 6],
        "floorplan_blocks": side * side,
        "rows": rows,
        "sizes": sizes,
        "on_paper": paper,
        "argv": sys.argv[1:],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, default=float) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
