"""Batch inference throughput of a shipped operator against the reference solver, same grid.

Predicts batches of maps from the model's training distribution on the case grid (the
`surface` case: 101×101×51 cells) and reports predictions per second twice: with every field
left on the device and reduced there to its peak temperature (what a search loop uses), and
with every field copied to the host as float64 kelvin (`Operator.predict`). The reference
solver (`auto`: the exact transform solver on this laterally uniform stack) solves the same maps
one by one. The time to draw the maps is not counted.

    python benchmarks/inference.py                      # CPU
    python benchmarks/inference.py --device cuda --batch 1024

Writes benchmarks/results/inference_<device>.json (inference_<device>_<model>.json for another
--model).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="surface")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--solves", type=int, default=8)
    parser.add_argument("--results", type=Path, default=HERE / "results", help="JSON folder")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    import torch

    from chiptherm.operator.checkpoint import load_operator
    from chiptherm.operator.inference import machine, training_distribution
    from chiptherm.solvers.result import solve

    op, meta = load_operator(args.model, device=args.device)
    case = op.case
    grid = case.grid()
    dist = training_distribution(meta)
    rng = np.random.default_rng(0)
    maps = dist.sample(args.batch, case.size, case.sensors, rng)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    def on_device() -> None:
        op.peaks(maps, grid=grid, chunk=args.batch)  # fields stay on the device

    def to_host() -> None:
        op.predict(maps, grid=grid, chunk=args.batch)

    timings = {}
    for name, work in (("device", on_device), ("host", to_host)):
        work()  # warm-up
        sync()
        start = time.perf_counter()
        for _ in range(args.batches):
            work()
        sync()
        timings[name] = (time.perf_counter() - start) / (args.batches * args.batch)
    per_map = timings["device"]
    start = time.perf_counter()
    for q in maps[: args.solves]:
        solve(case.stack_with(q))
    solve_per_map = (time.perf_counter() - start) / args.solves
    nz, ny, nx = grid.shape
    doc = {
        "model": args.model,
        "grid": [nz, ny, nx],
        "batch": args.batch,
        "predictions_per_s": 1.0 / per_map,
        "predict_s_per_map": per_map,
        "predictions_per_s_to_host": 1.0 / timings["host"],
        "solve_s_per_map": solve_per_map,
        "speedup": solve_per_map / per_map,
        "device": args.device,
        "machine": machine(),
    }
    print(f"{args.model} on {nx}x{ny}x{nz} cells, batch {args.batch}, device {args.device}")
    print(
        f"operator: {doc['predictions_per_s']:.0f} predictions/s on the device "
        f"({per_map * 1e3:.2f} ms each); {doc['predictions_per_s_to_host']:.0f}/s to the host"
    )
    print(f"solver:   {solve_per_map * 1e3:.1f} ms per map (auto)  -> {doc['speedup']:.0f}x")
    suffix = "" if args.model == "surface" else f"_{Path(args.model).name}"
    out = args.results / f"inference_{args.device.split(':')[0]}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
