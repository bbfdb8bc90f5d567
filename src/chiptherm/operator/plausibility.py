"""Is a power map what the model was trained on? Warnings for maps a user may have got wrong.

An operator is linear in the power, so it predicts what a map a thousand times too strong
would do, correctly: a 244,543 K peak for 35 W on a 1 mm² die. Such a map is almost always a
unit mistake (W typed for mW, a density for watts per cell). :func:`check_power` compares each
map with the maps the model was trained on (drawn again from the training distribution in its
model.json) and says when its total power or its peak density lies more than
:data:`STRONGER` times above, or :data:`WEAKER` times below, anything the model saw; it also
says when maps were resampled from another grid (conservatively: the total is kept) and when
they remove heat (negative entries).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chiptherm.errors import InputError
from chiptherm.operator.model import Operator

STRONGER = 10.0
"""A map is far outside the training maps when its total power or peak density is this many
times the largest the model saw..."""

WEAKER = 1000.0
"""...or when its peak density is this many times smaller (a unit mistake the other way)."""


@dataclass(frozen=True)
class PowerRange:
    """The strongest training maps of a model.

    Attributes:
        total_w: the largest |total power| of a training map, W.
        peak_density: the largest |power density| in a sensor cell of a training map, W/m².
    """

    total_w: float
    peak_density: float


def training_power_range(
    op: Operator, meta: dict[str, Any], samples: int = 256, seed: int = 0
) -> PowerRange | None:
    """The power range of ``samples`` maps drawn from the model's training distribution (None
    when the model records none)."""
    from chiptherm.operator.inference import training_distribution

    try:
        dist = training_distribution(meta)
    except InputError:
        return None
    rng = np.random.default_rng(seed)
    density = dist.sample(samples, op.case.size, op.case.sensors, rng)
    totals = op.case.watts_from_density(density).sum(axis=(-2, -1))
    return PowerRange(float(np.abs(totals).max()), float(np.abs(density).max()))


@dataclass
class PowerCheck:
    """What :func:`check_power` found, map by map (indices into the checked maps).

    Attributes:
        maps: how many maps were checked.
        stronger: maps far above the training maps; weaker: far below them.
        resampled: maps on another grid than the model's sensors, as (index, (my, mx)).
        removing: maps with negative entries (heat removed there).
        ratio: for each map, the larger of its total power and its peak density over the
            training maps' largest (nan: unknown).
    """

    maps: int
    sensors: tuple[int, int]
    stronger: list[int] = field(default_factory=list)
    weaker: list[int] = field(default_factory=list)
    resampled: list[tuple[int, tuple[int, int]]] = field(default_factory=list)
    removing: list[int] = field(default_factory=list)
    ratio: list[float] = field(default_factory=list)

    def messages(self, names: Sequence[str] | None = None) -> list[tuple[str, str]]:
        """One (level, line) per finding, for the user: level 'warning' for maps far outside
        the training maps, 'note' for the rest."""
        names = list(names) if names is not None else [f"map {i}" for i in range(self.maps)]

        def which(idx: list[int]) -> str:
            if self.maps == 1:
                return "the map"
            shown = ", ".join(names[i] for i in idx[:3]) + (", ..." if len(idx) > 3 else "")
            return f"{len(idx)} of {self.maps} maps ({shown})"

        out: list[tuple[str, str]] = []
        if self.stronger:
            worst = max(self.ratio[i] for i in self.stronger)
            text = (
                f"far more power than the model was trained on in {which(self.stronger)} (up "
                f"to {worst:,.3g}× the strongest training map, in total or peak density): "
                "check the units, W per cell of the map; the prediction is what such power "
                "would do"
            )
            out.append(("warning", text))
        if self.weaker:
            text = (
                f"over {WEAKER:g}× less power density than any training map in "
                f"{which(self.weaker)}: check the units, W per cell of the map (not mW or W/m²)"
            )
            out.append(("warning", text))
        if self.resampled:
            shapes = sorted({shape for _, shape in self.resampled})
            shown = ", ".join(f"{my}×{mx}" for my, mx in shapes)
            text = (
                f"resampled conservatively from {shown} cells onto the model's "
                f"{self.sensors[0]}×{self.sensors[1]} sensor grid (the total power is kept): "
                f"{which([i for i, _ in self.resampled])}"
            )
            out.append(("note", text))
        if self.removing:
            text = (
                f"negative entries in {which(self.removing)}: heat is removed there (as by a "
                "cooler), as in the model's signed training maps"
            )
            out.append(("note", text))
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "stronger": self.stronger,
            "weaker": self.weaker,
            "resampled": [i for i, _ in self.resampled],
            "removing_heat": self.removing,
        }


def check_power(
    op: Operator, power_range: PowerRange | None, watts: Sequence[np.ndarray]
) -> PowerCheck:
    """Check maps in W per cell of their own grids (each (my, mx)) against ``power_range``."""
    sensors = tuple(op.case.sensors)
    check = PowerCheck(len(watts), sensors)  # type: ignore[arg-type]
    for i, raw in enumerate(watts):
        w = np.asarray(raw, dtype=float)
        if w.shape != sensors:
            check.resampled.append((i, w.shape))  # type: ignore[arg-type]
        if (w < 0).any():
            check.removing.append(i)
        if power_range is None:
            check.ratio.append(float("nan"))
            continue
        density = float(np.abs(op.case.density_from_watts(w)).max())
        total = abs(float(w.sum()))
        ratio = max(
            total / max(power_range.total_w, 1e-300),
            density / max(power_range.peak_density, 1e-300),
        )
        check.ratio.append(ratio)
        if ratio > STRONGER:
            check.stronger.append(i)
        elif 0 < density < power_range.peak_density / WEAKER:
            check.weaker.append(i)
    return check
