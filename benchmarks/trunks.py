"""KAN against MLP trunks at equal parameter count, on the `surface` case.

Trains configs/surface.yaml twice — as shipped (separable KAN trunk) and with a separable MLP
trunk whose width gives the same number of trunk parameters — with the same schedule, seed and
steps, then evaluates both against the reference solver on the same held-out maps (Gaussian
random fields and sharp blocks).

    python benchmarks/trunks.py            # 2000 steps each
    python benchmarks/trunks.py --steps 300

Writes benchmarks/results/trunks.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from itertools import pairwise
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def trunk_parameters(
    kind: str, width: int, depth: int, degree: int, features: int, rank: int
) -> int:
    """Trainable scalars of one separable trunk (three axes)."""
    sizes = [features] + [width] * depth + [rank]
    per_axis = 0
    for a, b in pairwise(sizes):
        per_axis += a * (degree + 1) * b if kind == "kan" else a * b + b
    return 3 * per_axis


def matching_mlp_width(target: int, depth: int, features: int, rank: int) -> int:
    """The MLP width whose trunk has the parameter count closest to ``target``."""
    return min(
        range(4, 512),
        key=lambda w: abs(trunk_parameters("mlp", w, depth, 0, features, rank) - target),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--maps", type=int, default=16)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from chiptherm.operator.checkpoint import load_operator
    from chiptherm.operator.inference import distribution_for, evaluate_operator, machine
    from chiptherm.operator.train import train

    base = yaml.safe_load((ROOT / "configs" / "surface.yaml").read_text())
    trunk = base["model"]["trunk"]
    rank = base["model"]["rank"]
    kan_count = trunk_parameters(
        "kan", trunk["width"], trunk["depth"], trunk["degree"], trunk["features"], rank
    )
    width = matching_mlp_width(kan_count, trunk["depth"], trunk["features"], rank)
    variants = {
        "separable-kan": dict(trunk),
        "separable-mlp": {
            "kind": "separable-mlp",
            "width": width,
            "depth": trunk["depth"],
            "features": trunk["features"],
            "activation": "tanh",
        },
    }
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, trunk_cfg in variants.items():
            cfg = json.loads(json.dumps(base))
            cfg["model"]["trunk"] = trunk_cfg
            cfg["case"]["stack"] = str(ROOT / "examples" / "surface.yaml")
            cfg["training"].pop("max_minutes", None)
            path = Path(tmp) / f"{name}.yaml"
            path.write_text(yaml.safe_dump(cfg))
            trainer = train(path, out=Path(tmp) / name, quiet=True, overrides={"steps": args.steps})
            op, meta = load_operator(Path(tmp) / name)
            trunk_count = sum(p.numel() for p in op.net.trunk.parameters())
            results = {
                kind: evaluate_operator(op, distribution_for(meta, kind), args.maps, seed=2026)[
                    "metrics"
                ]
                for kind in ("grf", "blocks")
            }
            rows[name] = {
                "trunk_parameters": trunk_count,
                "train_s": trainer.elapsed,
                "metrics": results,
            }
    print(f"surface case, {args.steps} steps each, {args.maps} held-out maps per kind")
    print(
        f"{'trunk':<16}{'params':>8}{'train s':>9}{'kind':>8}{'MAE K':>9}{'peak K':>8}{'MAPE %':>9}"
    )
    for name, r in rows.items():
        for kind, m in r["metrics"].items():
            print(
                f"{name:<16}{r['trunk_parameters']:>8}{r['train_s']:>9.1f}{kind:>8}"
                f"{m['mae_k']:>9.4f}{m['peak_error_k']:>8.3f}{m['mape_percent']:>9.4f}"
            )
    out = HERE / "results" / "trunks.json"
    out.write_text(
        json.dumps({"steps": args.steps, "machine": machine(), "results": rows}, indent=2) + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
