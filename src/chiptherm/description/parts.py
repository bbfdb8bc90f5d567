"""The parts of a stack: materials, rectangles (blocks and material regions), power sources
with their leakage, layers (solid, or cavities with a coolant and channels), boundaries and the
grid settings. Each is a frozen pydantic model validated on construction; the
:class:`~chiptherm.description.stack.Stack` checks how they refer to one another. SI units:
lengths in m, power in W, conductivity in W/(m·K), heat-transfer coefficient in W/(m²·K),
temperature in K.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    model_validator,
)

from chiptherm.description.channels import footprint_htc
from chiptherm.description.values import Conductivity, HtcMap, Length, PowerMap, StackModel, Watts


class Material(StackModel):
    """A solid material with (possibly anisotropic) conductivity (kx, ky, kz) in W/(m·K).

    With a ``temperature_exponent`` n the conductivity follows the power law
    k(T) = k · (T / reference_temperature)^n (every component alike): n ≈ -1.3 for silicon
    near 300-400 K, whose k then drops by a quarter between 300 and 375 K. Stacks with such a
    material are solved by fixed-point (Picard) iteration. ``heat_capacity`` is the volumetric
    heat capacity ρ·c_p, J/(m³·K); only transient runs need it (the built-in materials carry
    typical values, also where a stack file redefines their conductivity).
    """

    conductivity: Conductivity
    """W/(m·K): one number, or [kx, ky, kz]."""
    temperature_exponent: float = Field(0.0, ge=-4.0, le=4.0)
    """n of k(T) = k·(T/T_ref)^n; 0 keeps k constant."""
    reference_temperature: float = Field(300.0, gt=0.0)
    """T_ref of k(T), K."""
    heat_capacity: float | None = Field(None, gt=0.0)
    """Volumetric heat capacity ρ·c_p, J/(m³·K); transient runs only."""

    @property
    def is_isotropic(self) -> bool:
        kx, ky, kz = self.conductivity
        return kx == ky == kz

    @property
    def is_temperature_dependent(self) -> bool:
        return self.temperature_exponent != 0.0


class Rect(StackModel):
    """An axis-aligned rectangle in the chip plane; (x, y) is the south-west corner, m."""

    x: Length = Field(ge=0)
    """West edge, from the chip's west side, m (or a length with a unit)."""
    y: Length = Field(ge=0)
    """South edge, from the chip's south side, m."""
    width: Length = Field(gt=0)
    """Extent along x (east-west), m."""
    height: Length = Field(gt=0)
    """Extent along y (north-south), m."""

    @property
    def x1(self) -> float:
        return self.x + self.width

    @property
    def y1(self) -> float:
        return self.y + self.height


class Block(Rect):
    """A power block: ``watts`` spread uniformly over the rectangle's area, and
    ``leakage_w``, its leakage at the source's leakage reference temperature (W; grows with
    temperature as the source's ``leakage`` says, also for a block that is idle)."""

    name: str
    """The block's name, unique in its source (tables, --set keys, problem files)."""
    watts: Watts = Field(ge=0)
    """Dynamic power spread uniformly over the block, W (or "500 mW")."""
    leakage_w: Watts = Field(default=0.0, ge=0)
    """Leakage at the source's leakage reference temperature, W (needs the source's
    ``leakage``)."""


class Region(Rect):
    """A rectangle of a layer made of another material (TSVs, pillars, underfill gaps)."""

    material: str
    """A built-in material or one of the stack's ``materials``."""


class Leakage(StackModel):
    """Temperature-dependent leakage of a power source.

    At ``reference_temperature`` each cell of the source leaks ``fraction`` times its own
    (non-negative) power plus its share of its blocks' ``leakage_w``; the leakage grows as
    exp(coefficient · (T - reference_temperature)) with the cell's temperature T: a
    coefficient of 0.0173 /K doubles it every 40 K.
    """

    fraction: float = Field(default=0.0, ge=0.0, le=100.0)
    """Leakage at the reference temperature as a fraction of the source's own power."""
    coefficient: float = Field(gt=0.0, le=0.5)
    """Growth rate of the leakage with temperature, 1/K."""
    reference_temperature: float = Field(300.0, gt=0.0)
    """Temperature at which the leakage is ``fraction`` of the power, K."""


class PowerSource(StackModel):
    """Named power: a list of blocks, or a map, with optional temperature-dependent leakage.

    ``map`` is an (ny, nx) array of W per cell of the map's own uniform grid over the chip; it
    is resampled conservatively onto the solver grid. Map entries may be negative (local heat
    removal); block powers may not. The watts given are the dynamic power; ``leakage`` adds
    power that grows with the local temperature (see :class:`Leakage`).
    """

    blocks: list[Block] = Field(default_factory=list)
    """Rectangles with their watts (or give a ``map``)."""
    map: PowerMap | None = None
    """(ny, nx) W per cell over the chip: a nested list, a .npy file or a .csv/.txt file (the
    south row first), resampled conservatively onto the solver grid."""
    leakage: Leakage | None = None
    """Leakage growing with the local temperature."""

    @model_validator(mode="after")
    def _one_kind(self) -> PowerSource:
        if self.map is not None and self.blocks:
            raise ValueError("give either 'blocks' or 'map', not both")
        if self.leakage is None and any(b.leakage_w for b in self.blocks):
            raise ValueError(
                "blocks give 'leakage_w' but the source has no 'leakage' (its coefficient)"
            )
        if self.map is None and not self.blocks:
            raise ValueError("a power source needs 'blocks' (a list) or 'map' (a .npy file)")
        return self

    @property
    def total_watts(self) -> float:
        if self.map is not None:
            return float(self.map.sum())
        return float(sum(b.watts for b in self.blocks))


class Coolant(StackModel):
    """Coolant flowing over a convective top or bottom face, or through the channels of a
    cavity layer, and warming as it goes.

    The face (or cavity) is a set of parallel channels along ``direction``, one per row of
    cells across it, sharing ``flow_rate`` in proportion to their width. Each cell's ambient
    is the coolant temperature there: ``inlet_temperature`` plus the heat the channel picked
    up upstream (and half its own cell's) over flow_rate · heat_capacity. The face's (or
    layer's) ``htc`` is the coefficient between the wall and the coolant.
    """

    inlet_temperature: float = Field(gt=0)
    """Coolant temperature where it enters, K."""
    flow_rate: float = Field(gt=0)
    """Mass flow over the whole face or through the whole cavity, kg/s."""
    heat_capacity: float = Field(4180.0, gt=0)
    """Specific heat of the coolant, J/(kg·K) (water by default)."""
    direction: Literal["+x", "-x", "+y", "-y"] = "+x"
    """The direction of flow."""
    conductivity: float = Field(0.6, gt=0)
    """Thermal conductivity of the coolant, W/(m·K) (water); for cavity channels."""
    viscosity: float = Field(8.9e-4, gt=0)
    """Dynamic viscosity, Pa·s (water at 25 °C); for the channels' pressure drop."""
    density: float = Field(997.0, gt=0)
    """kg/m³ (water); for the channels' velocity and pumping power."""


class Channels(StackModel):
    """Rectangular microchannels of a cavity, as high as the layer: ``width`` wide, one every
    ``pitch`` across the flow (m); see :mod:`chiptherm.description.channels`."""

    width: Length = Field(gt=0)
    """Channel width across the flow, m."""
    pitch: Length = Field(gt=0)
    """Distance from one channel to the next, m."""

    @model_validator(mode="after")
    def _fits(self) -> Channels:
        if self.width >= self.pitch:
            raise ValueError(
                f"a channel {self.width:g} m wide leaves no wall at a pitch of {self.pitch:g} m"
            )
        return self


class Layer(StackModel):
    """One layer of the stack: thickness in m, a material name, optional volumetric power.

    A layer with a ``coolant`` is a cavity of parallel microchannels along the coolant's
    direction, between the layers above and below it (interlayer liquid cooling): a porous
    solid whose walls (the layer's material, the fraction 1 - ``porosity`` of its volume)
    conduct, and whose every cell passes heat to the coolant there through ``htc``, the
    wall-to-coolant coefficient per unit of footprint area (the channel's own coefficient times
    its wetted area per footprint area), W/(m²·K). A cavity carries no power and no regions.
    """

    name: str
    """The layer's name, unique in the stack (tables, probes, --set keys)."""
    thickness: Length = Field(gt=0)
    """m, or a length with a unit ("50 um")."""
    material: str
    """A built-in material (silicon, copper, aluminum, tim, beol, sio2, epoxy) or one of the
    stack's ``materials``."""
    power: str | None = None
    """The power source (a key of ``power``) spread through this layer's volume."""
    cells: int = Field(default=1, ge=1, le=10_000)
    """Cells through the thickness."""
    regions: list[Region] = Field(default_factory=list)
    """Rectangles of other materials inside the layer."""
    contact_resistance: float = Field(default=0.0, ge=0)
    """Thermal resistance of the interface below this layer, m²·K/W."""
    coolant: Coolant | None = None
    """Makes the layer a microchannel cavity with this coolant."""
    htc: float | None = Field(default=None, gt=0)
    """Cavity only: wall-to-coolant heat-transfer coefficient per footprint area, W/(m²·K)."""
    porosity: float | None = Field(default=None, gt=0, lt=1)
    """Cavity only: the volume fraction of the channels (0.5 by default)."""
    channels: Channels | None = None
    """Cavity only: the channels' geometry, from which the coefficient and the porosity follow
    (instead of ``htc`` and ``porosity``)."""

    @model_validator(mode="after")
    def _cavity(self) -> Layer:
        if self.coolant is None:
            for key in ("htc", "porosity", "channels"):
                if getattr(self, key) is not None:
                    raise ValueError(f"'{key}' belongs to a cavity layer, which needs a 'coolant'")
            return self
        if self.channels is not None and (self.htc is not None or self.porosity is not None):
            raise ValueError(
                "give the cavity either 'channels' (geometry) or 'htc' and 'porosity', not both"
            )
        if self.htc is None and self.channels is None:
            raise ValueError(
                "a cavity layer (with 'coolant') needs 'htc', W/(m²·K), or 'channels' "
                "(width and pitch)"
            )
        if self.power is not None:
            raise ValueError("a cavity layer (with 'coolant') carries no power")
        if self.regions:
            raise ValueError("a cavity layer (with 'coolant') has no regions")
        return self

    @property
    def is_cavity(self) -> bool:
        return self.coolant is not None

    @property
    def solid_fraction(self) -> float:
        """The fraction of the layer's volume that conducts: 1, or 1 - porosity in a cavity
        (1 - width/pitch with channels)."""
        if self.coolant is None:
            return 1.0
        if self.channels is not None:
            return 1.0 - self.channels.width / self.channels.pitch
        return 1.0 - (0.5 if self.porosity is None else self.porosity)

    @property
    def wall_htc(self) -> float | None:
        """A cavity's wall-to-coolant coefficient per footprint area, W/(m²·K): ``htc``, or
        from the channels' geometry (:func:`chiptherm.description.channels.footprint_htc`)."""
        if self.coolant is None:
            return None
        if self.channels is not None:
            return footprint_htc(
                self.channels.width,
                self.thickness,
                self.channels.pitch,
                self.coolant.conductivity,
            )
        return self.htc


def _boundary(value: Any) -> Any:
    if value is None or value == "adiabatic":
        return {}
    if isinstance(value, str):
        raise ValueError(f"expected 'adiabatic' or a mapping like {{htc: 1e4}}, got {value!r}")
    return value


class Boundary(StackModel):
    """A face condition: adiabatic (default), convective (``htc``, or ``htc_map`` varying over
    the face) or fixed ``temperature``.

    ``htc_map`` (top and bottom faces) is an (ny, nx) array of W/(m²·K) over the map's own
    uniform grid on the face (a .npy path or a nested list), area-averaged onto the solver's
    cells; zeros make parts of the face adiabatic. ``power`` names a power source applied as
    an inward surface heat flux (top and bottom faces).
    """

    htc: float | None = Field(default=None, gt=0)
    """Uniform heat-transfer coefficient to the ambient, W/(m²·K)."""
    htc_map: HtcMap | None = None
    """(ny, nx) coefficient over the face, W/(m²·K) (top and bottom faces)."""
    temperature: float | None = Field(default=None, gt=0)
    """Fixed face temperature, K."""
    ambient: float | None = Field(default=None, gt=0)
    """This face's ambient, K (the stack's ``ambient`` otherwise)."""
    coolant: Coolant | None = None
    """A coolant warming along the face (top and bottom faces)."""
    power: str | None = None
    """A power source entering through the face as heat flux (top and bottom faces)."""

    @model_validator(mode="after")
    def _consistent(self) -> Boundary:
        if self.htc is not None and self.htc_map is not None:
            raise ValueError("give either 'htc' (uniform) or 'htc_map' (varying), not both")
        convective = self.htc is not None or self.htc_map is not None
        if convective and self.temperature is not None:
            raise ValueError("give either 'htc' (convective) or 'temperature' (fixed), not both")
        if self.ambient is not None and not convective:
            raise ValueError("'ambient' only applies to a convective face (with 'htc')")
        if self.coolant is not None and not convective:
            raise ValueError("'coolant' needs a convective face ('htc' or 'htc_map')")
        if self.coolant is not None and self.ambient is not None:
            raise ValueError("give either 'ambient' or 'coolant' (whose inlet sets it), not both")
        return self

    @property
    def kind(self) -> str:
        if self.htc is not None or self.htc_map is not None:
            return "convective"
        if self.temperature is not None:
            return "temperature"
        return "adiabatic"

    @property
    def removes_heat(self) -> bool:
        return self.kind != "adiabatic"


class GridSpec(StackModel):
    """Lateral discretization: nx cells along x (east-west), ny along y (north-south)."""

    nx: int = Field(default=64, ge=1, le=20_000)
    """Cells along x; faces are added on every block and region edge."""
    ny: int = Field(default=64, ge=1, le=20_000)
    """Cells along y."""


BoundaryField = Annotated[Boundary, BeforeValidator(_boundary)]
