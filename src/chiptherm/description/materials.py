"""Built-in material library.

Conductivities in W/(m·K) at about 300-350 K, as (kx, ky, kz), and volumetric heat capacities
ρ·c_p in J/(m³·K) (used only by transient runs). Values are typical engineering numbers;
override them in a stack file's ``materials:`` section.
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

BUILTIN_HEAT_CAPACITY: dict[str, float] = {
    "silicon": 1.63e6,  # 2330 kg/m³ x 700 J/(kg·K)
    "copper": 3.45e6,  # 8960 x 385
    "aluminum": 2.42e6,  # 2700 x 897
    "tim": 2.0e6,
    "beol": 2.0e6,  # copper lines in a low-k dielectric
    "sio2": 1.64e6,  # 2200 x 745
    "epoxy": 1.9e6,  # 1200 x 1600
}
