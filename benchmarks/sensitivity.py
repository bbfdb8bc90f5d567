"""Sensitivity benchmark: the adjoint method against central differences of full solves.

For each stack the sensitivities of the hottest cell to every parameter are computed twice in
the same run: by the adjoint (one extra solve, two assemblies per parameter) and by two full
solves per parameter, warm-started from the nominal field. The stacks solved by fixed-point
iteration (k(T) and leakage in `hot_die`, a warming coolant in `cold_plate` and
`microchannel`) take the adjoint of the full equations' Jacobian, whose build costs fourteen
assemblies; their solves are fixed-point iterations. The table gives both times, their
ratio, the largest disagreement relative to the largest sensitivity, and how far the power
sensitivities miss the rise (they sum to it exactly for a linear stack). A third adjoint run
adds the derivatives with respect to every block's position (one more adjoint solve for the
smooth maximum, four assemblies per block): its extra time is the moves' cost.

    python benchmarks/sensitivity.py

Writes benchmarks/results/sensitivity.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
EXAMPLES = ["single_die", "two_die", "microbump", "tsv_array"]
NONLINEAR = ["hot_die", "cold_plate", "microchannel"]


def stacks():
    """(name, stack) pairs: the linear examples, a 262k-cell TSV stack and the examples solved
    by fixed-point iteration."""
    from solver import tsv_stack

    from chiptherm import load_stack

    for name in EXAMPLES:
        yield name, load_stack(ROOT / "examples" / f"{name}.yaml")
    yield "tsv_bench_128", tsv_stack(128, 3)
    for name in NONLINEAR:
        yield name, load_stack(ROOT / "examples" / f"{name}.yaml")


def main() -> None:
    from chiptherm import Grid, sensitivity
    from chiptherm.operator.inference import machine
    from chiptherm.solvers.nonlinear import iterated_terms

    rows = []
    for name, stack in stacks():
        adjoint = sensitivity(stack, "peak", method="adjoint", moves=False)
        solves = sensitivity(stack, "peak", method="solves", moves=False)
        with_moves = sensitivity(stack, "peak", method="adjoint")
        scale = max(abs(e.per_log) for e in adjoint.entries)
        gap = max(abs(e.per_log - solves.of(e.parameter.key).per_log) for e in adjoint.entries)
        top = adjoint.entries[0]
        rise = adjoint.value_k - stack.ambient
        linear = not stack.needs_iteration  # the power sensitivities sum to the rise
        rows.append(
            {
                "stack": name,
                "cells": Grid.from_stack(stack).size,
                "parameters": len(adjoint.entries),
                "adjoint_s": adjoint.seconds,
                "solves_s": solves.seconds,
                "speedup": solves.seconds / adjoint.seconds,
                "solves": solves.solves,
                "largest_gap_relative": gap / scale,
                "iterated": iterated_terms(stack),
                "power_sum_gap_k": abs(adjoint.total("power") - rise) if linear else None,
                "blocks": len(with_moves.moves),
                "moves_extra_s": with_moves.seconds - adjoint.seconds,
                "top_parameter": top.parameter.key,
                "top_k_per_10_percent": top.per_change,
            }
        )
        r = rows[-1]
        print(
            f"{name:>14} {r['cells']:>8,} cells {r['parameters']:>3} parameters: adjoint "
            f"{r['adjoint_s']:6.2f} s, solves {r['solves_s']:7.2f} s ({r['speedup']:5.1f}x); "
            f"gap {r['largest_gap_relative']:.1e}; moves of {r['blocks']} blocks "
            f"+{r['moves_extra_s']:.2f} s; top {r['top_parameter']} "
            f"{r['top_k_per_10_percent']:+.3f} K per +10 %"
        )
    out = HERE / "results" / "sensitivity.json"
    out.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
