"""The scalar design parameters of a stack, each able to scale itself.

A :class:`Parameter` names one number of a stack by its dotted key as written in the stack
file (see :mod:`chiptherm.description.overrides`) and returns the stack with that number
multiplied by a factor, without touching the file: layer thicknesses, material conductivities
(every component alike), contact resistances, film coefficients and coefficient maps, coolant
flows, cavity channels, block powers and map totals, leakage fractions and coefficients.
Sensitivities (:mod:`chiptherm.analysis.sensitivity`) and tolerances
(:mod:`chiptherm.analysis.tolerance`) work on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chiptherm.analysis.compact import block_inputs
from chiptherm.description.stack import Stack

Scale = Callable[[Stack, float], Stack]


@dataclass(frozen=True)
class Parameter:
    """One scalar design parameter of a stack.

    Attributes:
        key: its dotted key as in the stack file (see :mod:`chiptherm.description.overrides`).
        label: a short human name, e.g. 'thickness of tim'.
        kind: thickness, conductivity, contact, htc, flow, channel, power or leakage.
        value: its nominal value in SI units (for a conductivity, kz; for a map, its sum).
        unit: the unit of ``value``.
        scaled: the stack with this parameter multiplied by a factor.
    """

    key: str
    label: str
    kind: str
    value: float
    unit: str
    scaled: Scale


def replace_item(items: list[Any], index: int, item: Any) -> list[Any]:
    """``items`` with the one at ``index`` replaced by ``item``."""
    return [item if i == index else old for i, old in enumerate(items)]


def _layer_parameter(stack: Stack, index: int, field: str, kind: str, label: str) -> Parameter:
    layer = stack.layers[index]

    def scaled(s: Stack, factor: float) -> Stack:
        old = s.layers[index]
        new = old.model_copy(update={field: getattr(old, field) * factor})
        return s.model_copy(update={"layers": replace_item(s.layers, index, new)})

    unit = {"thickness": "m", "contact_resistance": "m²·K/W", "htc": "W/(m²·K)"}[field]
    return Parameter(
        f"layers.{layer.name}.{field}", label, kind, getattr(layer, field), unit, scaled
    )


def _cavity_flow_parameter(stack: Stack, index: int) -> Parameter:
    """The coolant flow through the cavity layer ``index``, kg/s."""
    layer = stack.layers[index]
    assert layer.coolant is not None

    def scaled(s: Stack, factor: float) -> Stack:
        old = s.layers[index]
        assert old.coolant is not None
        coolant = old.coolant.model_copy(update={"flow_rate": old.coolant.flow_rate * factor})
        new = old.model_copy(update={"coolant": coolant})
        return s.model_copy(update={"layers": replace_item(s.layers, index, new)})

    return Parameter(
        f"layers.{layer.name}.coolant.flow_rate",
        f"{layer.name} coolant flow",
        "flow",
        layer.coolant.flow_rate,
        "kg/s",
        scaled,
    )


def _channel_parameter(stack: Stack, index: int, field: str) -> Parameter:
    """The width or the pitch of the channels of cavity layer ``index``, m."""
    layer = stack.layers[index]
    assert layer.channels is not None

    def scaled(s: Stack, factor: float) -> Stack:
        old = s.layers[index]
        assert old.channels is not None
        value = getattr(old.channels, field) * factor
        new = old.model_copy(update={"channels": old.channels.model_copy(update={field: value})})
        return s.model_copy(update={"layers": replace_item(s.layers, index, new)})

    return Parameter(
        f"layers.{layer.name}.channels.{field}",
        f"{layer.name} channel {field}",
        "channel",
        getattr(layer.channels, field),
        "m",
        scaled,
    )


def _material_parameter(name: str, stack: Stack) -> Parameter:
    def scaled(s: Stack, factor: float) -> Stack:
        material = s.material(name)
        k = tuple(c * factor for c in material.conductivity)
        materials = dict(s.materials) | {name: material.model_copy(update={"conductivity": k})}
        return s.model_copy(update={"materials": materials})

    kz = stack.material(name).conductivity[2]
    return Parameter(
        f"materials.{name}.conductivity",
        f"conductivity of {name}",
        "conductivity",
        kz,
        "W/(m·K)",
        scaled,
    )


def _boundary_parameter(
    stack: Stack, face: str, field: str, label: str, kind: str, unit: str
) -> Parameter:
    """A face's film coefficient (``htc``), the scale of its map (``htc_map``, valued at
    its mean) or its coolant flow (``flow_rate``)."""

    def scaled(s: Stack, factor: float) -> Stack:
        bc = s.boundary(face)
        if field == "flow_rate":
            assert bc.coolant is not None
            coolant = bc.coolant.model_copy(update={"flow_rate": bc.coolant.flow_rate * factor})
            new = bc.model_copy(update={"coolant": coolant})
        else:
            new = bc.model_copy(update={field: getattr(bc, field) * factor})
        return s.model_copy(update={"boundaries": dict(s.boundaries) | {face: new}})

    bc = stack.boundary(face)
    if field == "flow_rate":
        assert bc.coolant is not None
        key, value = f"boundaries.{face}.coolant.flow_rate", bc.coolant.flow_rate
    else:
        key, value = f"boundaries.{face}.{field}", float(np.mean(getattr(bc, field)))
    return Parameter(key, label, kind, value, unit, scaled)


def _block_parameter(source: str, index: int, label: str, watts: float) -> Parameter:
    def scaled(s: Stack, factor: float) -> Stack:
        power = s.power[source]
        block = power.blocks[index]
        new = block.model_copy(update={"watts": block.watts * factor})
        return s.with_power(
            source, power.model_copy(update={"blocks": replace_item(power.blocks, index, new)})
        )

    name = f"power.{source}.blocks.{label.removeprefix(f'{source}/')}.watts"
    return Parameter(name, f"power of {label}", "power", watts, "W", scaled)


def _map_parameter(source: str, watts: float) -> Parameter:
    def scaled(s: Stack, factor: float) -> Stack:
        power = s.power[source]
        assert power.map is not None
        return s.with_power(source, power.model_copy(update={"map": power.map * factor}))

    return Parameter(f"power.{source}.map", f"power map {source}", "power", watts, "W", scaled)


def _leakage_parameter(source: str, field: str, value: float) -> Parameter:
    def scaled(s: Stack, factor: float) -> Stack:
        power = s.power[source]
        assert power.leakage is not None
        leakage = power.leakage.model_copy(update={field: getattr(power.leakage, field) * factor})
        return s.with_power(source, power.model_copy(update={"leakage": leakage}))

    unit = "1" if field == "fraction" else "1/K"
    return Parameter(
        f"power.{source}.leakage.{field}",
        f"leakage {field} of {source}",
        "leakage",
        value,
        unit,
        scaled,
    )


def stack_parameters(stack: Stack) -> list[Parameter]:
    """Every non-zero scalar parameter of ``stack`` that sets its temperatures: layer
    thicknesses, the conductivity of every material in use, contact resistances, film
    coefficients (uniform or the scale of a map; a cavity's too), coolant flows (over faces
    and through cavities), block powers (or a map's
    total) and leakage fractions and coefficients. Blocks at 0 W are left out (their K/W is a
    column of the resistance matrix)."""
    out = [
        _layer_parameter(stack, i, "thickness", "thickness", f"thickness of {layer.name}")
        for i, layer in enumerate(stack.layers)
    ]
    used = dict.fromkeys(
        [layer.material for layer in stack.layers]
        + [region.material for layer in stack.layers for region in layer.regions]
    )
    out += [_material_parameter(name, stack) for name in used]
    out += [
        _layer_parameter(stack, i, "contact_resistance", "contact", f"contact below {layer.name}")
        for i, layer in enumerate(stack.layers)
        if layer.contact_resistance > 0
    ]
    for i, layer in enumerate(stack.layers):
        if layer.htc is not None:
            out.append(_layer_parameter(stack, i, "htc", "htc", f"{layer.name} htc"))
        if layer.channels is not None:
            out += [_channel_parameter(stack, i, field) for field in ("width", "pitch")]
        if layer.coolant is not None:
            out.append(_cavity_flow_parameter(stack, i))
    for face, bc in stack.boundaries.items():
        specs = []
        if bc.htc is not None:
            specs.append(("htc", f"{face} htc", "htc", "W/(m²·K)"))
        if bc.htc_map is not None:
            specs.append(("htc_map", f"{face} htc map", "htc", "W/(m²·K)"))
        if bc.coolant is not None:
            specs.append(("flow_rate", f"{face} coolant flow", "flow", "kg/s"))
        out += [_boundary_parameter(stack, face, *spec) for spec in specs]
    labels = {(b.source, b.block.name): b.label for b in block_inputs(stack)}
    for source in stack.used_power:
        power = stack.power[source]
        if power.map is not None and power.total_watts != 0:
            out.append(_map_parameter(source, power.total_watts))
        out += [
            _block_parameter(source, i, labels[(source, block.name)], block.watts)
            for i, block in enumerate(power.blocks)
            if block.watts > 0
        ]
        if power.leakage is not None:
            out += [
                _leakage_parameter(source, field, getattr(power.leakage, field))
                for field in ("fraction", "coefficient")
                if getattr(power.leakage, field) > 0
            ]
    return out
