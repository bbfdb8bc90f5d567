"""The demo's own stacks, written as a user would write them: a die with temperature-dependent
silicon, leakage and a warming coolant (:func:`hot_die`), and a logic and a memory die cooled
between them by water in a microchannel cavity (:func:`interlayer_cooling`)."""

from __future__ import annotations

from typing import Any

from chiptherm.description.stack import Stack
from chiptherm.description.stack_io import stack_from_dict


def hot_die(nonlinear: bool) -> Stack:
    """A 4 mm die on a copper cold plate, two 6 W cores and an idle cache: with ``nonlinear``
    its silicon conducts as 148·(T/300)^-1.3 W/(m·K), the blocks leak (idle ones too) and the
    water under the plate warms along its flow; without, constant silicon, no leakage and the
    water at its inlet temperature everywhere."""
    silicon: dict[str, Any] = {"conductivity": 148.0, "heat_capacity": 1.63e6}
    bottom: dict[str, Any] = {"htc": 5.0e4, "ambient": 300.0}
    source: dict[str, Any] = {
        "blocks": [
            {
                "name": "core0",
                "x": 4e-4,
                "y": 4e-4,
                "width": 1.4e-3,
                "height": 1.4e-3,
                "watts": 6.0,
            },
            {
                "name": "core1",
                "x": 2.2e-3,
                "y": 4e-4,
                "width": 1.4e-3,
                "height": 1.4e-3,
                "watts": 6.0,
            },
            {
                "name": "cache",
                "x": 4e-4,
                "y": 2.2e-3,
                "width": 3.2e-3,
                "height": 1.4e-3,
                "watts": 0.0,
            },
        ]
    }
    if nonlinear:
        silicon["temperature_exponent"] = -1.3
        source["leakage"] = {"fraction": 0.25, "coefficient": 0.012}
        source["blocks"][2]["leakage_w"] = 0.8
        bottom = {
            "htc": 5.0e4,
            "coolant": {"inlet_temperature": 300.0, "flow_rate": 5e-4, "direction": "+x"},
        }
    return stack_from_dict(
        {
            "name": "hot die on a cold plate",
            "size": [4e-3, 4e-3],
            "materials": {"die_si": silicon},
            "layers": [
                {"name": "die", "thickness": 5e-4, "material": "die_si", "cells": 3, "power": "p"},
                {"name": "tim", "thickness": 5e-5, "material": "tim"},
                {"name": "plate", "thickness": 1.5e-3, "material": "copper", "cells": 2},
            ],
            "power": {"p": source},
            "boundaries": {"bottom": bottom},
            "grid": {"nx": 40, "ny": 40},
        }
    )


def interlayer_cooling() -> Stack:
    """A logic die (two 20 W cores) under a memory die (8 W), cooled between them by water
    in a 200 µm cavity of 50 µm channels at a 100 µm pitch (1 g/s); still air above, the
    board below."""

    def block(name: str, x: float, y: float, w: float, h: float, watts: float) -> dict:
        return {"name": name, "x": x, "y": y, "width": w, "height": h, "watts": watts}

    coolant = {"inlet_temperature": 300.0, "flow_rate": 1e-3, "direction": "+x"}
    return stack_from_dict(
        {
            "name": "microchannel cavity between two dies",
            "size": [5e-3, 5e-3],
            "layers": [
                {"name": "memory", "thickness": 1e-4, "material": "silicon", "power": "mem"},
                {
                    "name": "channels",
                    "thickness": 2e-4,
                    "material": "silicon",
                    "cells": 2,
                    "channels": {"width": 5e-5, "pitch": 1e-4},
                    "coolant": coolant,
                },
                {"name": "logic", "thickness": 1e-4, "material": "silicon", "power": "logic"},
            ],
            "power": {
                "mem": {"blocks": [block("banks", 2.5e-4, 2.5e-4, 4.5e-3, 4.5e-3, 8.0)]},
                "logic": {
                    "blocks": [
                        block("core_in", 5e-4, 1.75e-3, 1.5e-3, 1.5e-3, 20.0),
                        block("core_out", 3e-3, 1.75e-3, 1.5e-3, 1.5e-3, 20.0),
                    ]
                },
            },
            "boundaries": {"top": {"htc": 1e3}, "bottom": {"htc": 500.0}},
            "grid": {"nx": 40, "ny": 40},
        }
    )
