"""What each shipped model resolves: the smallest hot spot it predicts within the default
tolerance (see chiptherm.operator.resolution), recorded in the model's model.json so that
``chiptherm models NAME`` shows it.

Every shipped model's hot spots (squares at the strongest density of its training maps, sides
1/2 to 1/32 of the die, two places each) are predicted and solved on the case grid; the table
gives the largest cell error per side. Solves are exact (hardware-independent numbers); only
the wall time depends on the machine.

    python benchmarks/resolution.py            # every shipped model, records them
    python benchmarks/resolution.py surface    # one model

Writes benchmarks/results/resolution.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    from chiptherm.atomic import atomic_write_text
    from chiptherm.operator.checkpoint import SHIPPED, record_resolution, shipped_models
    from chiptherm.operator.inference import machine
    from chiptherm.threads import set_threads

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="shipped model names [default: all]")
    args = parser.parse_args()
    set_threads(1)
    names = args.models or shipped_models()
    rows = {}
    print(f"{'model':<15} {'resolves':>10}  largest cell error per side (mm: K)     wall s")
    for name in names:
        started = time.perf_counter()
        record = record_resolution(SHIPPED / name)
        seconds = time.perf_counter() - started
        rows[name] = record | {"seconds": seconds}
        smallest = record["smallest_mm"]
        errors = ", ".join(
            f"{s:g}: {e:.2f}" for s, e in zip(record["sides_mm"], record["errors_k"], strict=True)
        )
        resolves = "none" if smallest is None else f"{smallest:g} mm"
        print(f"{name:<15} {resolves:>10}  {errors:<40} {seconds:6.1f}")
    out = HERE / "results" / "resolution.json"
    atomic_write_text(out, json.dumps({"machine": machine(), "models": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
