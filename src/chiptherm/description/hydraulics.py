"""The hydraulics of a cavity's microchannels: velocity, Reynolds number, pressure drop and
pumping power of the coolant flow through a stack's cavity layer (correlations in
:mod:`chiptherm.description.channels`)."""

from __future__ import annotations

from dataclasses import dataclass

from chiptherm.description.channels import (
    LAMINAR_LIMIT,
    aspect_ratio,
    film_htc,
    hydraulic_diameter,
    laminar_friction,
)
from chiptherm.description.stack import Layer, Stack


@dataclass(frozen=True)
class ChannelFlow:
    """The hydraulics of a cavity's channels.

    Attributes:
        channels: how many channels run across the flow.
        velocity: mean velocity in each, m/s.
        reynolds: Reynolds number (laminar below :data:`LAMINAR_LIMIT`).
        pressure_drop: from inlet to outlet, Pa.
        pumping_power: pressure drop times volume flow, W.
        film_htc: the channel walls' film coefficient, W/(m²·K).
    """

    channels: float
    velocity: float
    reynolds: float
    pressure_drop: float
    pumping_power: float
    film_htc: float

    @property
    def laminar(self) -> bool:
        return self.reynolds < LAMINAR_LIMIT


def channel_flow(stack: Stack, layer: Layer) -> ChannelFlow:
    """The flow through the channels of cavity ``layer`` of ``stack``: the flow rate shared
    by channels one pitch apart across the chip, each as long as the chip along the flow."""
    assert layer.channels is not None and layer.coolant is not None
    coolant = layer.coolant
    width, height, pitch = layer.channels.width, layer.thickness, layer.channels.pitch
    along_x = coolant.direction.endswith("x")
    length, across = stack.size if along_x else stack.size[::-1]
    channels = across / pitch
    volume_flow = coolant.flow_rate / coolant.density
    velocity = volume_flow / (channels * width * height)
    diameter = hydraulic_diameter(width, height)
    reynolds = coolant.density * velocity * diameter / coolant.viscosity
    friction = laminar_friction(aspect_ratio(width, height))
    drop = 2.0 * friction * coolant.viscosity * velocity * length / diameter**2
    return ChannelFlow(
        channels,
        velocity,
        reynolds,
        drop,
        drop * volume_flow,
        film_htc(width, height, coolant.conductivity),
    )
