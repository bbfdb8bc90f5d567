"""Training-step benchmark: separable trunks (forward-mode, per-axis derivatives) against
point trunks (per-point reverse-mode derivatives) on the same case, grid, batch and width.

Each configuration runs in a fresh process: a few warm-up steps, then timed steps of the full
physics loss (forward, backward, optimizer step). Peak memory is the CUDA allocator's peak on a
GPU and the growth of the peak resident set over the warm-up state on a CPU.

Modes (``--modes``): ``eager`` (one kernel launch at a time from Python), ``graph`` (the step
recorded once as a CUDA graph and replayed; ``training.cuda_graph``), ``compile`` (the loss
compiled with torch.compile; ``training.compile``) and ``compile+graph``; see
chiptherm.operator.step. Rows compare separable and point trunks in the same mode; the
``best`` rows compare each trunk in its fastest mode (a mode a trunk cannot run in is reported
as failed).

    python benchmarks/training.py                    # CPU, 21x21x11, batch 8: eager, compile
    python benchmarks/training.py --device cuda --batch 32      # eager, graph, compile+graph
    python benchmarks/training.py --device cuda --modes eager,graph --name training_cuda_fast
    python benchmarks/training.py --quick

Writes benchmarks/results/<name>.json (default training_<device>) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# (separable trunk, how it combines, the point trunk it is compared with)
PAIRS = [
    ("separable-kan", "product", "kan"),
    ("separable-mlp", "product", "mlp"),
    ("separable-kan", "tucker", "kan"),
]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


MODES = ("eager", "graph", "compile", "compile+graph")


def run_case(kind: str, combine: str, mode: str, args: argparse.Namespace, queue: mp.Queue) -> None:
    """Time ``args.steps`` training steps of one trunk kind; put the result (or the error) on
    ``queue``."""
    try:
        queue.put(time_case(kind, combine, mode, args))
    except Exception as exc:  # a failed configuration is reported in the table, not fatal
        queue.put({"kind": label(kind, combine), "error": f"{type(exc).__name__}: {exc}"})


def label(kind: str, combine: str) -> str:
    return kind if combine == "product" else f"{kind} ({combine})"


def time_case(kind: str, combine: str, mode: str, args: argparse.Namespace) -> dict:
    import numpy as np
    import torch

    from chiptherm.formats.loading import load_stack
    from chiptherm.operator.case import Case
    from chiptherm.operator.config import ModelConfig, TrunkConfig
    from chiptherm.operator.model import Operator
    from chiptherm.operator.physics import PhysicsLoss, sample_collocation
    from chiptherm.operator.step import TrainingStep

    torch.set_num_threads(args.threads) if args.threads else None
    device = torch.device(args.device)
    stack = load_stack(ROOT / "examples" / "surface.yaml")
    case = Case(stack, "flux", (21, 21), power_scale=2000.0)
    rank = args.tucker_rank if combine == "tucker" else args.rank
    trunk = TrunkConfig(kind=kind, width=args.width, depth=2, layer_norm=False)
    cfg = ModelConfig(rank=rank, combine=combine, trunk=trunk)
    op = Operator.create(case, cfg)
    op.net.to(device)
    loss = PhysicsLoss(case, device)
    opt = torch.optim.Adam(op.net.parameters(), lr=1e-3)
    params = list(op.net.parameters())
    runner = TrainingStep(
        lambda i, c: loss(op.net, i, c),
        lambda t: sum(t.values()),
        opt,
        params,
        graph="graph" in mode,
        compile="compile" in mode,
    )
    rng = np.random.default_rng(0)
    n = args.collocation

    def step() -> None:
        inputs = op.inputs(rng.normal(0, 2000, (args.batch, 21, 21)))
        runner(inputs, sample_collocation(case, (n, n, args.nz), rng, device))

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    base_rss = peak_rss_mib()  # before the first step: the growth is the training footprint
    if device.type == "cuda":
        sync()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for _ in range(2):  # the first of these compiles and records, where asked
        step()
    sync()
    first_s = time.perf_counter() - started
    sync()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync()
    elapsed = (time.perf_counter() - start) / args.steps
    memory = (
        torch.cuda.max_memory_allocated() / 2**20
        if device.type == "cuda"
        else max(peak_rss_mib() - base_rss, 0.0)
    )
    return {
        "kind": label(kind, combine),
        "step_s": elapsed,
        "peak_mib": memory,
        "parameters": sum(p.numel() for p in params),
        "warmup_s": first_s,
    }


def measure(kind: str, combine: str, mode: str, args: argparse.Namespace) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=run_case, args=(kind, combine, mode, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def modes(args: argparse.Namespace) -> list[str]:
    """The timing modes asked for (graphs only on a GPU)."""
    cuda = args.device.startswith("cuda")
    names = args.modes.split(",") if args.modes else None
    names = names or (["eager", "graph", "compile+graph"] if cuda else ["eager", "compile"])
    unknown = [m for m in names if m not in MODES]
    if unknown:
        raise SystemExit(f"unknown mode(s) {unknown}; expected some of {list(MODES)}")
    if not cuda and any("graph" in m for m in names):
        raise SystemExit("graph modes need --device cuda")
    return names


def point_mode(mode: str) -> str:
    """The mode a point trunk runs in for ``mode``: the same without compiling. torch.compile
    cannot trace its per-point second derivatives (autograd.grad with create_graph inside the
    compiled loss fails: measured on torch 2.13), so it is compared as it can run."""
    if "compile" not in mode:
        return mode
    return "graph" if "graph" in mode else "eager"


def compare(fast: dict, slow: dict, mode: str) -> dict:
    """One table row: a separable trunk against its point trunk in the same mode."""
    row = {"mode": mode, "separable": fast, "point": slow}
    if "error" not in fast and "error" not in slow:
        row["speedup"] = slow["step_s"] / fast["step_s"]
        row["memory_ratio"] = slow["peak_mib"] / max(fast["peak_mib"], 1e-3)
    return row


def best_rows(rows: list[dict]) -> list[dict]:
    """Per pair of trunks: the time ratio of each trunk's fastest mode and the memory ratio of
    each trunk's leanest mode (over the modes it ran in)."""
    out = []
    for separable, combine, _ in PAIRS:
        mine = [r for r in rows if r["separable"]["kind"] == label(separable, combine)]

        def pick(side: str, key: str, rs: list[dict] = mine) -> tuple[str, dict] | None:
            ran = [(r[side]["mode"], r[side]) for r in rs if "error" not in r[side]]
            return min(ran, key=lambda m: m[1][key]) if ran else None

        fast, slow = pick("separable", "step_s"), pick("point", "step_s")
        lean, heavy = pick("separable", "peak_mib"), pick("point", "peak_mib")
        if fast and slow and lean and heavy:
            row = compare(fast[1], slow[1], f"fastest: {fast[0]} vs {slow[0]}")
            row["memory_ratio"] = heavy[1]["peak_mib"] / max(lean[1]["peak_mib"], 1e-3)
            row["memory_modes"] = [lean[0], heavy[0]]
            out.append(row)
    return out


def print_row(r: dict) -> None:
    f, s = r["separable"], r["point"]
    name = f"{f['kind']} vs {s['kind']} ({r['mode']})"
    if "memory_modes" in r:
        name = name[:-1] + "; memory: {} vs {})".format(*r["memory_modes"])
    if "speedup" not in r:
        errors = "; ".join(f"{d['kind']}: {d['error'][:160]}" for d in (f, s) if "error" in d)
        print(f"{name:<64}failed: {errors}")
        return
    print(
        f"{name:<64}{f['step_s']:>8.4f} /{s['step_s']:>8.3f}"
        f"{f['peak_mib']:>9.1f} /{s['peak_mib']:>9.1f}"
        f"{r['speedup']:>9.1f}x{r['memory_ratio']:>8.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--collocation", type=int, default=21, help="points along x and y")
    parser.add_argument("--nz", type=int, default=11)
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--tucker-rank", type=int, default=24)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument(
        "--modes",
        default="",
        help="comma-separated, of " + ", ".join(MODES) + " [default: eager,compile on a CPU; "
        "eager,graph,compile+graph on a GPU]",
    )
    parser.add_argument("--name", default="", help="JSON file name [default: training_<device>]")
    parser.add_argument("--quick", action="store_true", help="batch 2, 3 steps")
    parser.add_argument("--results", type=Path, default=HERE / "results", help="JSON folder")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.steps = 2, 3

    sys.path.insert(0, str(ROOT / "src"))
    from chiptherm.operator.inference import machine

    rows = []
    chosen = modes(args)
    for mode in chosen:
        for separable, combine, point in PAIRS:
            fast = measure(separable, combine, mode, args)
            fast["mode"] = mode
            slow_mode = point_mode(mode)
            slow = measure(point, "product", slow_mode, args)
            slow["mode"] = slow_mode
            label_mode = mode if slow_mode == mode else f"{mode}; point: {slow_mode}"
            rows.append(compare(fast, slow, label_mode))
    best = best_rows(rows) if len(chosen) > 1 else []
    header = f"{'trunks (mode)':<64}{'step s':>18}{'peak MiB':>20}{'speed-up':>10}{'memory':>9}"
    print(
        f"collocation {args.collocation}x{args.collocation}x{args.nz}, batch {args.batch}, "
        f"rank {args.rank}, width {args.width}, device {args.device}"
    )
    print(header)
    for r in rows + best:
        print_row(r)
    out = args.results / f"{args.name or 'training_' + args.device}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    doc = {"settings": settings, "machine": machine(), "results": rows, "best": best}
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
