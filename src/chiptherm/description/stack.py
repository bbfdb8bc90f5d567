"""Stack description: materials, layers, power sources, boundaries and grid.

A :class:`Stack` is the meeting point of every input format. It is validated on
construction (pydantic), so a Stack that exists is one the solver can solve. All values are
SI: lengths in m, power in W, conductivity in W/(m·K), heat-transfer coefficient in
W/(m²·K), temperature in K.

Layers are listed **top to bottom**, as in the YAML file. The discretization
(:mod:`chiptherm.discretize.grid`) numbers z-cells from the bottom.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from chiptherm.description.materials import BUILTIN_CONDUCTIVITY, BUILTIN_HEAT_CAPACITY
from chiptherm.description.parts import (
    Block,
    Boundary,
    BoundaryField,
    Channels,
    Coolant,
    GridSpec,
    Layer,
    Leakage,
    Material,
    PowerSource,
    Rect,
    Region,
)
from chiptherm.description.values import StackModel, parse_length

FACES: tuple[str, ...] = ("top", "bottom", "north", "south", "east", "west")
Face = Literal["top", "bottom", "north", "south", "east", "west"]
LATERAL_TOLERANCE_M = 1e-12


class ReferenceError_(ValueError):
    """A cross-reference or geometric check failed at a known key path."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _size(value: Any) -> Any:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError("expected [width_x, height_y] in m")
    return [parse_length(v) for v in value]


class Stack(StackModel):
    """A rectangular die stack, validated on construction."""

    name: str = "stack"
    """Shown in reports."""
    size: Annotated[tuple[float, float], BeforeValidator(_size)]
    """Chip extent [x, y], m (or lengths with a unit)."""
    ambient: float = Field(default=300.0, gt=0)
    """Ambient of every convective face without its own, K."""
    materials: dict[str, Material] = Field(default_factory=dict)
    """Materials by name, beside (or redefining) the built-in ones."""
    layers: list[Layer] = Field(min_length=1)
    """The layers, top to bottom."""
    power: dict[str, PowerSource] = Field(default_factory=dict)
    """Power sources by name, used by layers (``power:``) and faces."""
    boundaries: dict[Face, BoundaryField] = Field(default_factory=dict)
    """Conditions of the faces top, bottom, north, south, east, west; adiabatic if absent."""
    grid: GridSpec = Field(default_factory=GridSpec)
    """Lateral cells."""

    @field_validator("size")
    @classmethod
    def _check_size(cls, v: tuple[float, float]) -> tuple[float, float]:
        for s in v:
            if not math.isfinite(s) or s <= 0:
                raise ValueError(f"chip size must be finite and > 0 m, got {s}")
        return v

    @model_validator(mode="after")
    def _check_references(self) -> Stack:
        for path, message in self._reference_problems():
            raise ReferenceError_(path, message)
        return self

    # -- cross-field checks ------------------------------------------------------------
    def _reference_problems(self) -> Iterator[tuple[tuple[str | int, ...], str]]:
        known_materials = set(BUILTIN_CONDUCTIVITY) | set(self.materials)
        seen: set[str] = set()
        for i, layer in enumerate(self.layers):
            if layer.name in seen:
                yield ("layers", i, "name"), f"duplicate layer name {layer.name!r}"
            seen.add(layer.name)
            if layer.material not in known_materials:
                yield (
                    ("layers", i, "material"),
                    f"unknown material {layer.material!r}; expected one of "
                    f"{sorted(known_materials)}",
                )
            if layer.power is not None and layer.power not in self.power:
                yield (
                    ("layers", i, "power"),
                    f"unknown power source {layer.power!r}; defined: {sorted(self.power)}",
                )
            for j, region in enumerate(layer.regions):
                if region.material not in known_materials:
                    yield (
                        ("layers", i, "regions", j, "material"),
                        f"unknown material {region.material!r}",
                    )
                yield from self._outside(region, ("layers", i, "regions", j), "region")
        bottom = self.layers[-1]
        if bottom.contact_resistance > 0:
            yield (
                ("layers", len(self.layers) - 1, "contact_resistance"),
                f"the bottom layer {bottom.name!r} has no interface below it, so its contact "
                "resistance would be ignored; give it to the layer just above the interface",
            )
        for name, source in self.power.items():
            for j, block in enumerate(source.blocks):
                yield from self._outside(
                    block, ("power", name, "blocks", j), f"block {block.name!r}"
                )
        for face, bc in self.boundaries.items():
            if bc.power is not None:
                if bc.power not in self.power:
                    yield (
                        ("boundaries", face, "power"),
                        f"unknown power source {bc.power!r}; defined: {sorted(self.power)}",
                    )
                if face not in ("top", "bottom"):
                    yield (
                        ("boundaries", face, "power"),
                        "surface power is supported on the top and bottom faces only",
                    )
            for key in ("htc_map", "coolant"):
                if getattr(bc, key) is not None and face not in ("top", "bottom"):
                    yield (
                        ("boundaries", face, key),
                        f"'{key}' is supported on the top and bottom faces only",
                    )
        if not any(bc.removes_heat for bc in self.boundaries.values()) and not self.cavities:
            yield (
                ("boundaries",),
                "no face removes heat: at least one face needs 'htc' or 'temperature', or a "
                "layer a 'coolant' (otherwise there is no steady state)",
            )

    def _outside(
        self, rect: Rect, path: tuple[str | int, ...], what: str
    ) -> Iterator[tuple[tuple[str | int, ...], str]]:
        lx, ly = self.size
        tol = LATERAL_TOLERANCE_M + 1e-9 * max(lx, ly)
        if rect.x1 > lx + tol or rect.y1 > ly + tol:
            yield (
                path,
                f"{what} [{rect.x:g}, {rect.x1:g}] x [{rect.y:g}, {rect.y1:g}] m leaves the chip "
                f"[0, {lx:g}] x [0, {ly:g}] m",
            )

    # -- queries -------------------------------------------------------------------------
    def material(self, name: str) -> Material:
        """The material called ``name``: user-defined first, then the built-in library."""
        if name in self.materials:
            material = self.materials[name]
            if material.heat_capacity is None and name in BUILTIN_HEAT_CAPACITY:
                return material.model_copy(update={"heat_capacity": BUILTIN_HEAT_CAPACITY[name]})
            return material
        return Material(
            conductivity=BUILTIN_CONDUCTIVITY[name], heat_capacity=BUILTIN_HEAT_CAPACITY.get(name)
        )

    def boundary(self, face: str) -> Boundary:
        """The condition on ``face`` (adiabatic when not given)."""
        return self.boundaries.get(face, Boundary())  # type: ignore[call-overload]

    def face_ambient(self, face: str) -> float:
        """The reference temperature of a face, K: its own ambient, fixed value, coolant inlet
        or the stack's ambient."""
        bc = self.boundary(face)
        if bc.temperature is not None:
            return bc.temperature
        if bc.coolant is not None:
            return bc.coolant.inlet_temperature
        return bc.ambient if bc.ambient is not None else self.ambient

    @property
    def total_power(self) -> float:
        """Total injected power in W (volumetric and surface)."""
        used = [layer.power for layer in self.layers if layer.power] + [
            bc.power for bc in self.boundaries.values() if bc.power
        ]
        return float(sum(self.power[name].total_watts for name in used))

    @property
    def used_power(self) -> list[str]:
        """Names of the power sources that heat a layer or a face, in file order."""
        used = {layer.power for layer in self.layers} | {
            bc.power for bc in self.boundaries.values()
        }
        return [name for name in self.power if name in used]

    @property
    def leaky_sources(self) -> list[str]:
        """Names of the power sources in use with temperature-dependent leakage."""
        return [name for name in self.used_power if self.power[name].leakage is not None]

    @property
    def coolant_faces(self) -> list[str]:
        """Faces cooled by a coolant that warms along its flow."""
        return [face for face, bc in self.boundaries.items() if bc.coolant is not None]

    @property
    def cavities(self) -> list[str]:
        """Names of the cavity layers (with a coolant flowing through them)."""
        return [layer.name for layer in self.layers if layer.coolant is not None]

    @property
    def coolants(self) -> list[str]:
        """Every coolant that warms along its flow, in words: "the coolant on the top face",
        "the coolant in cavity 'mc'"."""
        return [f"the coolant on the {face} face" for face in self.coolant_faces] + [
            f"the coolant in cavity {name!r}" for name in self.cavities
        ]

    @property
    def needs_iteration(self) -> bool:
        """Whether the solve is a fixed-point iteration: temperature-dependent terms, or a
        coolant whose temperature depends on the heat it picks up."""
        return bool(self.nonlinearities or self.coolants)

    @property
    def nonlinearities(self) -> list[str]:
        """What makes the temperature nonlinear in the power, e.g. ["the conductivity of
        'silicon'", "the leakage of 'die1'"]; empty for a linear stack."""
        return [f"the conductivity of {m!r}" for m in self.temperature_dependent_materials] + [
            f"the leakage of {s!r}" for s in self.leaky_sources
        ]

    @property
    def temperature_dependent_materials(self) -> list[str]:
        """Names of the materials in use (layers and regions) whose conductivity depends on
        the temperature; empty for a linear stack."""
        used = dict.fromkeys(
            [layer.material for layer in self.layers]
            + [region.material for layer in self.layers for region in layer.regions]
        )
        return [name for name in used if self.material(name).is_temperature_dependent]

    @property
    def thickness(self) -> float:
        """Total stack thickness in m."""
        return float(sum(layer.thickness for layer in self.layers))

    def layer_index(self, name: str) -> int:
        """Position of the layer called ``name`` in :attr:`layers` (top first)."""
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise KeyError(f"no layer named {name!r}; layers: {[la.name for la in self.layers]}")

    def with_power(self, name: str, source: PowerSource) -> Stack:
        """A copy of this stack with power source ``name`` replaced."""
        power = dict(self.power)
        power[name] = source
        return self.model_copy(update={"power": power})

    def with_grid(self, nx: int, ny: int) -> Stack:
        """A copy of this stack with another lateral grid."""
        return self.model_copy(update={"grid": GridSpec(nx=nx, ny=ny)})


__all__ = [
    "FACES",
    "Block",
    "Boundary",
    "Channels",
    "Coolant",
    "Face",
    "GridSpec",
    "Layer",
    "Leakage",
    "Material",
    "PowerSource",
    "Rect",
    "ReferenceError_",
    "Region",
    "Stack",
]
"""The stack and its parts (defined in :mod:`~chiptherm.description.parts`), importable from
here, where a stack's user looks for them."""
