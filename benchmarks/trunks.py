"""KAN against MLP trunks at equal parameter count, on the `surface` or `volumetric` case.

`surface`: trains configs/surface.yaml twice — as shipped (separable KAN trunk) and with a
separable MLP trunk whose width gives the same number of trunk parameters — with the same
schedule, seed and steps, then evaluates both against the reference solver on the same held-out
maps (Gaussian random fields and sharp blocks).

`volumetric` (modal): the coefficient network of the depth profiles as shipped (KAN) and as an
MLP of the same depth and parameter count, each with the shipped fixed Chebyshev features and
without them (then the network alone supplies the features of the least-squares heads);
evaluated on held-out block maps and cooling conditions against solves on a 2x finer grid.

    python benchmarks/trunks.py                      # surface, 2000 steps each
    python benchmarks/trunks.py --steps 300
    python benchmarks/trunks.py --case volumetric    # 600 steps each, as shipped

Writes benchmarks/results/trunks.json (surface) or trunks_volumetric.json, prints a table.
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


def body_parameters(kind: str, width: int, depth: int, degree: int) -> int:
    """Trainable scalars of the modal coefficient network (log w -> width features)."""
    from chiptherm.operator.nets import KAN, MLP

    net = (
        KAN(1, width, width, depth, degree, False) if kind == "kan" else MLP(1, width, width, depth)
    )
    return sum(p.numel() for p in net.parameters())


def volumetric_variants(base: dict) -> dict[str, dict]:
    """Model settings: KAN as shipped and the MLP of equal parameter count, with and without
    the fixed Chebyshev features."""
    trunk = base["model"]["trunk"]
    target = body_parameters("kan", trunk["width"], trunk["depth"], trunk["degree"])
    width = min(
        range(4, 512), key=lambda w: abs(body_parameters("mlp", w, trunk["depth"], 0) - target)
    )
    mlp = {"kind": "separable-mlp", "width": width, "depth": trunk["depth"], "activation": "tanh"}
    out = {}
    for chebyshev in (base["model"].get("chebyshev", 24), 0):
        for name, trunk_cfg in (("kan", dict(trunk)), ("mlp", mlp)):
            out[f"{name}, chebyshev {chebyshev}"] = {
                **base["model"],
                "trunk": trunk_cfg,
                "chebyshev": chebyshev,
            }
    return out


def surface_variants(base: dict) -> dict[str, dict]:
    """Model settings: the shipped separable KAN and the separable MLP of equal parameters."""
    trunk = base["model"]["trunk"]
    rank = base["model"]["rank"]
    kan_count = trunk_parameters(
        "kan", trunk["width"], trunk["depth"], trunk["degree"], trunk["features"], rank
    )
    width = matching_mlp_width(kan_count, trunk["depth"], trunk["features"], rank)
    mlp = {
        "kind": "separable-mlp",
        "width": width,
        "depth": trunk["depth"],
        "features": trunk["features"],
        "activation": "tanh",
    }
    return {
        "separable-kan": dict(base["model"]),
        "separable-mlp": {**base["model"], "trunk": mlp},
    }


def network_parameters(op) -> int:
    """Trained scalars of the trunk network (for modal models: the coefficient network)."""
    net = op.net.trunk.depth.body if op.net.modal else op.net.trunk
    return sum(p.numel() for p in net.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=("surface", "volumetric"), default="surface")
    parser.add_argument("--steps", type=int, default=0, help="0: 2000 (surface), as shipped")
    parser.add_argument("--maps", type=int, default=16)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from chiptherm.operator.checkpoint import load_operator
    from chiptherm.operator.inference import distribution_for, evaluate_operator, machine
    from chiptherm.operator.train import train

    base = yaml.safe_load((ROOT / "configs" / f"{args.case}.yaml").read_text())
    surface = args.case == "surface"
    steps = args.steps or (2000 if surface else base["training"]["steps"])
    variants = surface_variants(base) if surface else volumetric_variants(base)
    kinds, refine = (("grf", "blocks"), 1) if surface else (("blocks",), 2)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, model_cfg) in enumerate(variants.items()):
            cfg = json.loads(json.dumps(base))
            cfg["model"] = model_cfg
            cfg["case"]["stack"] = str((ROOT / "configs" / base["case"]["stack"]).resolve())
            cfg["training"].pop("max_minutes", None)
            path = Path(tmp) / f"{i}.yaml"
            path.write_text(yaml.safe_dump(cfg))
            trainer = train(path, out=Path(tmp) / str(i), quiet=True, overrides={"steps": steps})
            op, meta = load_operator(Path(tmp) / str(i))
            results = {
                kind: evaluate_operator(
                    op, distribution_for(meta, kind), args.maps, seed=2026, refine=refine
                )["metrics"]
                for kind in kinds
            }
            rows[name] = {
                "trunk_parameters": network_parameters(op),
                "train_s": trainer.elapsed,
                "metrics": results,
            }
    print(f"{args.case} case, {steps} steps each, {args.maps} held-out maps per kind")
    print(
        f"{'trunk':<22}{'params':>8}{'train s':>9}{'kind':>8}{'MAE K':>9}{'peak K':>8}{'MAPE %':>9}"
    )
    for name, r in rows.items():
        for kind, m in r["metrics"].items():
            print(
                f"{name:<22}{r['trunk_parameters']:>8}{r['train_s']:>9.1f}{kind:>8}"
                f"{m['mae_k']:>9.4f}{m['peak_error_k']:>8.3f}{m['mape_percent']:>9.4f}"
            )
    out = HERE / "results" / ("trunks.json" if surface else f"trunks_{args.case}.json")
    doc = {"case": args.case, "steps": steps, "reference_refine": refine, "machine": machine()}
    out.write_text(json.dumps({**doc, "results": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
