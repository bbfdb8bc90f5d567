"""What a model resolves: the smallest hot spot it predicts within a tolerance.

A hot spot here is a square block at the strongest power density of the model's training
maps, on an otherwise unpowered source: the sharpest feature a map of that distribution
holds. Blocks of side 1/2, 1/4, ... 1/32 of the die's shorter side, each at two places (the
centre, and off-centre towards a corner), are predicted and solved on the case grid; a side is
resolved when the largest cell error of both places is within the tolerance. The model
resolves down to the smallest side at which it and every larger side are resolved (None:
not even the largest). ``chiptherm models NAME`` shows it; ``benchmarks/resolution.py``
measures the shipped models.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from chiptherm.operator.model import Operator
from chiptherm.operator.sampling import Distribution, rasterize_blocks
from chiptherm.solvers.result import solve
from chiptherm.trust.confidence import DEFAULT_TOLERANCE_K

SIDES = (1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32)
"""Hot-spot sides tried, as fractions of the die's shorter side (at least two sensor cells)."""
PLACES = ((0.5, 0.5), (0.3, 0.65))
"""Hot-spot centres, as fractions of the die's extent along x and y."""
TRAINING_MAPS = 16
"""Training maps drawn to find their strongest density."""


@dataclass(frozen=True)
class Resolution:
    """The hot spots a model predicts within ``tolerance_k``.

    Attributes:
        tolerance_k: the accuracy asked for, K (largest cell error against the case grid).
        density_w_m2: the hot spots' power density, W/m² (the median of the training maps'
            strongest densities).
        sides_mm: (k,) hot-spot sides tried, mm, largest first.
        errors_k: (k,) largest cell error over the places, K, per side.
        peak_errors_k: (k,) largest error of the peak over the places, K, per side.
        smallest_mm: the smallest side resolved together with every larger one, mm (None:
            not even the largest).
    """

    tolerance_k: float
    density_w_m2: float
    sides_mm: list[float]
    errors_k: list[float]
    peak_errors_k: list[float]
    smallest_mm: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def hot_spot(
    size: tuple[float, float], sensors: tuple[int, int], side: float, centre: tuple[float, float]
) -> np.ndarray:
    """(ny, nx) W/m² per W: a square block of side ``side`` m centred at ``centre``
    (fractions of the die ``size``, m), kept inside the die, carrying 1 W."""
    lx, ly = size
    w, h = side / lx, side / ly
    x0 = min(max(centre[0] - w / 2, 0.0), 1.0 - w)
    y0 = min(max(centre[1] - h / 2, 0.0), 1.0 - h)
    return rasterize_blocks(np.array([[[x0, y0, w, h, 1.0]]]), size, sensors)[0]


def training_peak_density(op: Operator, distribution: Distribution) -> float:
    """The median over :data:`TRAINING_MAPS` training maps of each map's strongest |density|,
    W/m²."""
    maps = distribution.sample(
        TRAINING_MAPS, op.case.size, op.case.sensors, np.random.default_rng(0)
    )
    return float(np.median(np.abs(maps).reshape(len(maps), -1).max(axis=1)))


def measure_resolution(
    op: Operator, distribution: Distribution, tolerance_k: float = DEFAULT_TOLERANCE_K
) -> Resolution:
    """Predict and solve the hot spots of :data:`SIDES` at :data:`PLACES` (see the module
    doc), the scalar inputs at their defaults."""
    density = training_peak_density(op, distribution)
    lx, ly = op.case.size
    ny, nx = op.case.sensors
    cell = max(lx / nx, ly / ny)
    sides = [f * min(lx, ly) for f in SIDES if f * min(lx, ly) >= 2 * cell]
    errors, peaks = [], []
    for side in sides:
        maps = np.stack([side * side * density * hot_spot(op.case.size, (ny, nx), side, c)
                         for c in PLACES])  # fmt: skip
        predicted = op.predict(maps)
        solved = [solve(op.stack_for(m)).temperature for m in maps]
        pairs = list(zip(predicted, solved, strict=True))
        errors.append(max(float(np.abs(p - s).max()) for p, s in pairs))
        peaks.append(max(abs(float(p.max() - s.max())) for p, s in pairs))
    smallest = None
    for side, error in zip(sides, errors, strict=True):
        if error > tolerance_k:
            break
        smallest = side
    return Resolution(
        tolerance_k,
        density,
        [1e3 * s for s in sides],
        errors,
        peaks,
        None if smallest is None else 1e3 * smallest,
    )
