"""Built-in material library.

Conductivities in W/(m·K) at about 300-350 K, as (kx, ky, kz). Values are typical
engineering numbers; override them in a stack file's ``materials:`` section.
"""

from __future__ import annotations

BUILTIN_CONDUCTIVITY: dict[str, tuple[float, float, float]] = {
    "silicon": (130.0, 130.0, 130.0),
    "copper": (400.0, 400.0, 400.0),
    "aluminum": (237.0, 237.0, 237.0),
    # thermal interface material (grease / phase-change)
    "tim": (4.0, 4.0, 4.0),
    # back-end-of-line metal/dielectric stack: good lateral, poor vertical conduction
    "beol": (12.0, 12.0, 2.25),
    "sio2": (1.4, 1.4, 1.4),
    # underfill / mould epoxy
    "epoxy": (0.6, 0.6, 0.6),
}
