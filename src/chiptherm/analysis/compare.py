"""Two designs side by side: what changed in the temperatures, layer by layer and block by
block.

Layers and blocks are matched by name (blocks by their label, see
:func:`chiptherm.analysis.compact.block_labels`); what one design has and the other lacks is listed
apart. Where both designs carry a layer's power on the same lateral grid, the difference of
their maps (B - A) shows where the change acts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from chiptherm.analysis.sweep import block_means
from chiptherm.description.stack import Stack
from chiptherm.solvers.result import Result, carrier_maps, solve


@dataclass(frozen=True)
class Change:
    """One quantity in both designs, K."""

    name: str
    a_k: float
    b_k: float

    @property
    def delta_k(self) -> float:
        return self.b_k - self.a_k


@dataclass(frozen=True)
class Comparison:
    """Design B against design A.

    Attributes:
        a, b: the two solutions.
        layers: the hottest cell of every layer both have, A then B.
        blocks: the mean temperature of every block both have.
        only_a, only_b: layers and blocks ('block NAME') only one design has.
        maps: per layer or face both heat on the same lateral grid: B's power source there
            and the (ny, nx) map of B minus A, K.
    """

    a: Result
    b: Result
    layers: list[Change]
    blocks: list[Change]
    only_a: list[str]
    only_b: list[str]
    maps: dict[str, tuple[str, np.ndarray]]

    @property
    def peak(self) -> Change:
        return Change("peak", self.a.max_temperature, self.b.max_temperature)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary."""

        def rows(changes: list[Change]) -> list[dict[str, Any]]:
            return [
                {"name": c.name, "a_k": c.a_k, "b_k": c.b_k, "delta_k": c.delta_k} for c in changes
            ]

        return {
            "a": self.a.stack.name,
            "b": self.b.stack.name,
            "peak": rows([self.peak])[0],
            "power_w": {"a": self.a.balance.power_in, "b": self.b.balance.power_in},
            "layers": rows(self.layers),
            "blocks": rows(self.blocks),
            "only_a": self.only_a,
            "only_b": self.only_b,
            "maps": sorted(self.maps),
        }


def compare_results(a: Result, b: Result) -> Comparison:
    """Compare two solutions (see the module doc)."""
    la, lb = a.layer_stats, b.layer_stats
    layers = [Change(name, la[name].max, lb[name].max) for name in la if name in lb]
    ba, bb = block_means(a), block_means(b)
    blocks = [Change(name, ba[name], bb[name]) for name in ba if name in bb]
    only_a = [n for n in la if n not in lb] + [f"block {n}" for n in ba if n not in bb]
    only_b = [n for n in lb if n not in la] + [f"block {n}" for n in bb if n not in ba]
    maps = {}
    if a.stack.size == b.stack.size and a.grid.shape[1:] == b.grid.shape[1:]:
        ma = carrier_maps(a.stack, a.grid, a.temperature)
        mb = carrier_maps(b.stack, b.grid, b.temperature)
        maps = {name: (mb[name][0], mb[name][1] - ma[name][1]) for name in ma if name in mb}
    return Comparison(a, b, layers, blocks, only_a, only_b, maps)


def compare_stacks(a: Stack, b: Stack, method: str = "auto") -> Comparison:
    """Solve both stacks and compare them."""
    return compare_results(solve(a, method=method), solve(b, method=method))
