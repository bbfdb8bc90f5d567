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
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chiptherm.description.channels import footprint_htc
from chiptherm.description.materials import BUILTIN_CONDUCTIVITY, BUILTIN_HEAT_CAPACITY

FACES: tuple[str, ...] = ("top", "bottom", "north", "south", "east", "west")
Face = Literal["top", "bottom", "north", "south", "east", "west"]
LATERAL_TOLERANCE_M = 1e-12


class ReferenceError_(ValueError):
    """A cross-reference or geometric check failed at a known key path."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


LENGTH_UNITS = {"m": 1.0, "cm": 1e-2, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "nm": 1e-9}
POWER_UNITS = {"W": 1.0, "kW": 1e3, "mW": 1e-3, "uW": 1e-6, "µW": 1e-6}


def _quantity(value: Any, units: dict[str, float], what: str, example: str) -> Any:
    """A number as it is (SI), or a string '<number> <unit>' converted to SI."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            number = text[: -len(unit)].strip()
            try:
                return float(number) * units[unit]
            except ValueError:
                break
    raise ValueError(
        f"expected {what} as a number in SI units or a string like {example!r} "
        f"(units: {', '.join(units)}), got {value!r}"
    )


def _length(value: Any) -> Any:
    return _quantity(value, LENGTH_UNITS, "a length", "50 um")


def _watts(value: Any) -> Any:
    return _quantity(value, POWER_UNITS, "a power", "500 mW")


Length = Annotated[float, BeforeValidator(_length)]
"""A length in m; YAML may also give '50 um', '2.5 mm', ..."""
Watts = Annotated[float, BeforeValidator(_watts)]
"""A power in W; YAML may also give '500 mW', '1.2 kW', ..."""


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        arbitrary_types_allowed=True,
        allow_inf_nan=False,
        use_attribute_docstrings=True,  # the docstring under a field is its description
    )


def _conductivity(value: Any) -> tuple[float, float, float]:
    if isinstance(value, bool):
        raise ValueError("expected a number or a list [kx, ky, kz] in W/(m·K)")
    if isinstance(value, int | float):
        value = [value] * 3
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise ValueError("expected a number or a list [kx, ky, kz] in W/(m·K)")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"conductivity entries must be numbers, got {v!r}")
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"conductivity must be finite and > 0 W/(m·K), got {v}")
        out.append(float(v))
    return (out[0], out[1], out[2])


Conductivity = Annotated[tuple[float, float, float], BeforeValidator(_conductivity)]


class Material(_Model):
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


class Rect(_Model):
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


def read_csv_map(path: Path, what: str) -> np.ndarray:
    """A 2-D array from a text file: one row of numbers per line, separated by commas or
    white space, the first line the south row (y index 0), as ``numpy.savetxt`` writes an
    (ny, nx) array; blank lines and lines starting with '#' are skipped.

    Raises:
        ValueError: naming the file, the line and the column of a bad entry, or a line whose
            length differs from the first.
    """
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {what} {str(path)!r}: {exc}") from None
    rows: list[list[float]] = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        row = []
        for column, cell in enumerate(text.replace(",", " ").split(), start=1):
            try:
                row.append(float(cell))
            except ValueError:
                raise ValueError(
                    f"{what} {str(path)!r} line {number}, column {column}: {cell!r} is not a number"
                ) from None
        if rows and len(row) != len(rows[0]):
            raise ValueError(
                f"{what} {str(path)!r} line {number} has {len(row)} values, the first row "
                f"{len(rows[0])}"
            )
        rows.append(row)
    if not rows:
        raise ValueError(f"{what} {str(path)!r} holds no numbers")
    return np.array(rows)


def _load_map(value: Any, info: ValidationInfo, what: str, unit: str) -> np.ndarray:
    """A finite 2-D (ny, nx) array from a list, or from a .npy or .csv (.txt) path relative to
    the stack file's folder (validation context); ``what`` and ``unit`` name it in errors."""
    if isinstance(value, str | Path):
        base = Path((info.context or {}).get("base_dir", "."))
        path = Path(value)
        if not path.is_absolute():
            path = base / path
        if not path.exists():
            raise ValueError(f"{what} file {str(path)!r} does not exist")
        if path.suffix.lower() in (".csv", ".txt"):
            value = read_csv_map(path, what)
        else:
            try:
                value = np.load(path, allow_pickle=False)
            except Exception as exc:  # numpy raises many kinds for a bad file
                raise ValueError(f"cannot read {what} {str(path)!r} as .npy: {exc}") from None
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a 2-D array of numbers (ny, nx) in {unit}") from None
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{what} must be a 2-D array (ny, nx), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or infinite values")
    arr = arr.copy()
    arr.setflags(write=False)
    return arr


def _as_map(value: Any, info: ValidationInfo) -> Any:
    """A power map: W per cell of its own uniform grid over the chip."""
    return _load_map(value, info, "power map", "W")


def _as_htc_map(value: Any, info: ValidationInfo) -> Any:
    """A heat-transfer-coefficient map: W/(m²·K) over its own uniform grid on the face."""
    arr = _load_map(value, info, "htc map", "W/(m²·K)")
    if arr.min() < 0 or arr.max() <= 0:
        raise ValueError(
            "htc map values must be at least 0 W/(m²·K), and some above 0 "
            f"(got {arr.min():g} to {arr.max():g})"
        )
    return arr


PowerMap = Annotated[
    np.ndarray,
    BeforeValidator(_as_map),
    PlainSerializer(lambda a: a.tolist(), return_type=list),
]
HtcMap = Annotated[
    np.ndarray,
    BeforeValidator(_as_htc_map),
    PlainSerializer(lambda a: a.tolist(), return_type=list),
]


class Leakage(_Model):
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


class PowerSource(_Model):
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


class Coolant(_Model):
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


class Channels(_Model):
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


class Layer(_Model):
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


class Boundary(_Model):
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


BoundaryField = Annotated[Boundary, BeforeValidator(_boundary)]


class GridSpec(_Model):
    """Lateral discretization: nx cells along x (east-west), ny along y (north-south)."""

    nx: int = Field(default=64, ge=1, le=20_000)
    """Cells along x; faces are added on every block and region edge."""
    ny: int = Field(default=64, ge=1, le=20_000)
    """Cells along y."""


def _size(value: Any) -> Any:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError("expected [width_x, height_y] in m")
    return [_length(v) for v in value]


class Stack(_Model):
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
