"""A learning case: a stack, the power input that varies, and its nondimensional geometry.

The operator learns the map from a power-density map q(x, y) (W/m²) and optional scalar design
parameters (heat-transfer coefficients) to the temperature field of one :class:`Stack`.

Coordinates are nondimensional: x̂ = x / Lx and ŷ = y / Ly in [0, 1], and ŝ in [0, 1] is the
*thermal-resistance coordinate* through the stack,

    s(z) = ∫₀^z dz' / k_z(z')  (+ the contact resistances of the interfaces below z),   ŝ = s / S,

with S = s(top) in m²K/W. In s the vertical heat flux is -dT/ds, so a field that is smooth in ŝ
has continuous temperature *and* continuous flux across every layer interface, and a contact
resistance R is a gap of length R in s across which T drops by R times the flux. The interface
conditions are therefore built into the coordinate instead of being penalized.

The temperature is T = T_b + θ·u, with the scale θ (K) chosen from the 1-D thermal
resistance of the stack and the typical power density, so u is O(1). Conduction is linear, so
the network learns only the rise u caused by the varying power, with every other source off and
every face at 0; T_b, the *background*, is the stack's temperature with the varying power off:
the uniform ambient in the simplest case, else (fixed power sources in other layers, faces at
different ambients or fixed temperatures) one exact solve per grid and set of scalar inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from chiptherm.description.stack import FACES, Boundary, PowerSource, Stack
from chiptherm.discretize.grid import Grid, resample_matrix
from chiptherm.discretize.homogenize import homogenized
from chiptherm.discretize.system import System
from chiptherm.errors import UnsupportedError
from chiptherm.solvers import solve_system

SIDE_FACES = ("west", "east", "south", "north")


@dataclass(frozen=True)
class LayerSpan:
    """One layer in nondimensional coordinates, listed bottom first.

    Attributes:
        name: layer name.
        s0, s1: its extent in ŝ (s0 < s1).
        z0, z1: its extent in z, m.
        ax, ay: lateral coefficients k_x k_z S² / Lx² and k_y k_z S² / Ly² of the
            nondimensional equation  ax·u_x̂x̂ + ay·u_ŷŷ + u_ŝŝ + Q = 0  (dimensionless).
        kx, ky, kz: conductivities, W/(m·K).
        source: True for the layer that carries the varying power.
    """

    name: str
    s0: float
    s1: float
    z0: float
    z1: float
    ax: float
    ay: float
    kx: float
    ky: float
    kz: float
    source: bool


@dataclass(frozen=True)
class Parameter:
    """A scalar design input of the branch network: the heat-transfer coefficient of a face.

    Values are drawn log-uniformly from [low, high] W/(m²·K) during training.
    """

    name: str
    face: str
    low: float
    high: float

    def normalize(self, value: np.ndarray | float) -> np.ndarray:
        """Map [low, high] to [-1, 1] on a log scale."""
        lo, hi = math.log(self.low), math.log(self.high)
        if hi == lo:
            return np.zeros_like(np.asarray(value, dtype=float))
        return 2.0 * (np.log(value) - lo) / (hi - lo) - 1.0


@dataclass
class Case:
    """A stack prepared for operator learning.

    Attributes:
        stack: the stack (its grid is the evaluation grid).
        power: name of the power source that varies (a layer's or the top/bottom face's).
        sensors: (ny, nx) cells of the uniform grid on which the branch reads the map.
        parameters: scalar inputs (heat-transfer coefficients) besides the map.
        power_scale: typical power density, W/m², used to normalize the branch input.
        homogenize: learn layers that hold material regions (TSVs) as effective media (see
            :mod:`chiptherm.discretize.homogenize`); everything judged by the solver (references,
            background, confidence, refinement) still uses the true stack.
    """

    stack: Stack
    power: str
    sensors: tuple[int, int]
    parameters: list[Parameter] = field(default_factory=list)
    power_scale: float = 1.0e3
    homogenize: bool = False
    _backgrounds: dict[tuple, np.ndarray] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._check()

    # -- validation ----------------------------------------------------------------------------
    def _check(self) -> None:
        stack = self.stack
        if self.power not in stack.power:
            raise UnsupportedError(
                f"the stack has no power source {self.power!r}; sources: {sorted(stack.power)}"
            )
        users = [la.name for la in stack.layers if la.power == self.power]
        faces = [f for f, bc in stack.boundaries.items() if bc.power == self.power]
        if len(users) + len(faces) != 1:
            raise UnsupportedError(
                f"power source {self.power!r} must feed exactly one layer or face "
                f"(layers {users}, faces {faces})"
            )
        if not any(stack.boundary(f).removes_heat for f in stack.boundaries):
            raise UnsupportedError("an operator case needs at least one convective or fixed face")
        for p in self.parameters:
            if stack.boundary(p.face).htc is None:
                raise UnsupportedError(f"parameter {p.name!r}: face {p.face!r} is not convective")
            if not 0 < p.low <= p.high:
                raise UnsupportedError(f"parameter {p.name!r}: need 0 < low <= high")
        varying = [f for f in FACES if stack.boundary(f).htc_map is not None]
        if varying:
            raise UnsupportedError(
                f"the physics loss needs uniform face coefficients, and face(s) "
                f"{', '.join(varying)} have an htc map; the solver handles them"
            )
        if stack.coolants:
            raise UnsupportedError(
                "the physics loss needs faces at fixed ambients, and "
                f"{' and '.join(stack.coolants)} warms along its flow; the solver handles it"
            )
        if stack.nonlinearities:
            raise UnsupportedError(
                "an operator learns a response linear in the power, and "
                f"{' and '.join(stack.nonlinearities)} depend(s) on the temperature; train on "
                "the stack without them (the solver handles them)"
            )
        if any(la.regions for la in stack.layers) and not self.homogenize:
            raise UnsupportedError(
                "the physics loss needs laterally uniform layers, and this stack has material "
                "regions inside layers; set 'homogenize: true' in the case to learn it with "
                "each such layer as an effective medium (the confidence score and refinement "
                "still judge predictions against the true stack)"
            )

    # -- geometry ------------------------------------------------------------------------------
    @cached_property
    def physics_stack(self) -> Stack:
        """The stack the physics loss describes: the stack itself, or with ``homogenize`` its
        layers with regions replaced by effective media."""
        return homogenized(self.stack) if self.homogenize else self.stack

    @property
    def ambient(self) -> float:
        """The reference temperature, K: the lowest ambient (or fixed temperature) of the faces
        that remove heat; with a uniform background, the background itself."""
        return min(self.face_ambients)

    @property
    def face_ambients(self) -> set[float]:
        """The ambient (or fixed) temperatures, K, of the faces that remove heat."""
        stack = self.stack
        return {stack.face_ambient(f) for f in stack.boundaries if stack.boundary(f).removes_heat}

    @cached_property
    def fixed_sources(self) -> list[str]:
        """Names of the power sources the stack uses besides the varying one, sorted."""
        used = [la.power for la in self.stack.layers if la.power]
        used += [bc.power for bc in self.stack.boundaries.values() if bc.power]
        return sorted({name for name in used if name != self.power})

    @property
    def uniform_background(self) -> bool:
        """True when the stack with the varying power off sits at one temperature: no other
        source, and every face that removes heat at the same ambient or fixed temperature."""
        return not self.fixed_sources and len(self.face_ambients) == 1

    def background(self, grid: Grid, params: dict[str, float] | None = None) -> np.ndarray:
        """(nz, ny, nx) temperatures, K, at the cell centres of ``grid`` with the varying power
        off and scalar inputs ``params``: the part of every prediction the network does not
        learn. One exact solve; the last few are kept."""
        key = (
            grid.shape,
            grid.x_edges[-1],
            grid.y_edges[-1],
            grid.z_edges.tobytes(),
            tuple(sorted((params or {}).items())),
        )
        cached = self._backgrounds.get(key)
        if cached is None:
            stack = self.stack_with(np.zeros(self.sensors), params)
            cached, _ = solve_system(System.from_stack(stack, grid))
            if len(self._backgrounds) >= 8:
                self._backgrounds.pop(next(iter(self._backgrounds)))
            self._backgrounds[key] = cached
        return cached

    @property
    def size(self) -> tuple[float, float]:
        """(Lx, Ly) in m."""
        return self.stack.size

    @property
    def source_face(self) -> str | None:
        """'top' or 'bottom' when the power enters as surface flux, else None."""
        for face, bc in self.stack.boundaries.items():
            if bc.power == self.power:
                return face
        return None

    @property
    def power_layer(self) -> str | None:
        """Name of the layer carrying the varying power (None for surface power)."""
        for layer in self.stack.layers:
            if layer.power == self.power:
                return layer.name
        return None

    @cached_property
    def s_total(self) -> float:
        """S: the vertical thermal resistance of the whole stack per unit area, m²K/W."""
        stack = self.physics_stack
        total = sum(
            la.thickness / stack.material(la.material).conductivity[2] for la in stack.layers
        )
        total += sum(la.contact_resistance for la in stack.layers[:-1])
        return total

    @cached_property
    def layers(self) -> list[LayerSpan]:
        """The layers bottom first with their ŝ extents and coefficients."""
        stack, big_s = self.physics_stack, self.s_total
        lx, ly = self.size
        spans: list[LayerSpan] = []
        s = z = 0.0
        layers = list(reversed(stack.layers))
        for i, layer in enumerate(layers):
            if i > 0:  # the interface below this layer
                s += layer.contact_resistance
            kx, ky, kz = stack.material(layer.material).conductivity
            ds = layer.thickness / kz
            spans.append(
                LayerSpan(
                    name=layer.name,
                    s0=s / big_s,
                    s1=(s + ds) / big_s,
                    z0=z,
                    z1=z + layer.thickness,
                    ax=kx * kz * big_s**2 / lx**2,
                    ay=ky * kz * big_s**2 / ly**2,
                    kx=kx,
                    ky=ky,
                    kz=kz,
                    source=layer.power == self.power,
                )
            )
            s += ds
            z += layer.thickness
        return spans

    def s_hat(self, z: np.ndarray) -> np.ndarray:
        """ŝ of heights ``z`` (m, measured from the bottom face); same shape."""
        z = np.asarray(z, dtype=float)
        out = np.empty_like(z)
        for span in self.layers:
            inside = (z >= span.z0) & (z <= span.z1)
            out[inside] = span.s0 + (z[inside] - span.z0) / (span.z1 - span.z0) * (
                span.s1 - span.s0
            )
        return out

    def boundary(self, face: str) -> Boundary:
        return self.stack.boundary(face)

    def side_biot(self, face: str, span: LayerSpan) -> float:
        """h·L/k of a convective side face in one layer (L the chip side normal to it)."""
        bc = self.boundary(face)
        lx, ly = self.size
        length, k = (lx, span.kx) if face in ("west", "east") else (ly, span.ky)
        return float(bc.htc) * length / k  # type: ignore[arg-type]

    def adiabatic_axis(self, axis: str) -> bool:
        """True when both side faces normal to ``axis`` ('x' or 'y') are adiabatic."""
        lo, hi = ("west", "east") if axis == "x" else ("south", "north")
        return not (self.boundary(lo).removes_heat or self.boundary(hi).removes_heat)

    # -- scales --------------------------------------------------------------------------------
    @cached_property
    def source_s(self) -> float:
        """ŝ at the middle of the power input (its layer or its face)."""
        face = self.source_face
        if face is not None:
            return 1.0 if face == "top" else 0.0
        span = next(sp for sp in self.layers if sp.source)
        return 0.5 * (span.s0 + span.s1)

    @cached_property
    def temperature_scale(self) -> float:
        """θ, K: power_scale times the 1-D resistance from the source to the cooled faces."""
        paths = []
        for face, s_face in (("top", 1.0), ("bottom", 0.0)):
            bc = self.boundary(face)
            if bc.removes_heat:
                film = 0.0 if bc.htc is None else 1.0 / bc.htc
                paths.append(abs(s_face - self.source_s) * self.s_total + film)
        resistance = 1.0 / sum(1.0 / max(r, 1e-30) for r in paths) if paths else self.s_total
        return self.power_scale * resistance

    @cached_property
    def source_coefficients(self) -> tuple[float, ...]:
        """Q of each layer (bottom first) per unit normalized density: q·k_z·S²/θ with the
        volumetric density q = power_scale / thickness in the source layer, else 0."""
        big_s, theta = self.s_total, self.temperature_scale
        return tuple(
            self.power_scale / (sp.z1 - sp.z0) * sp.kz * big_s**2 / theta if sp.source else 0.0
            for sp in self.layers
        )

    @property
    def surface_coefficient(self) -> float:
        """Qs = power_scale·S/θ: the surface source per unit normalized density."""
        return self.power_scale * self.s_total / self.temperature_scale

    # -- power maps ----------------------------------------------------------------------------
    @cached_property
    def sensor_edges(self) -> tuple[np.ndarray, np.ndarray]:
        """(x_edges (nx+1,), y_edges (ny+1,)) of the sensor grid, m."""
        ny, nx = self.sensors
        lx, ly = self.size
        return np.linspace(0.0, lx, nx + 1), np.linspace(0.0, ly, ny + 1)

    @property
    def sensor_cell_area(self) -> float:
        ny, nx = self.sensors
        lx, ly = self.size
        return lx * ly / (nx * ny)

    def density_from_watts(self, watts: np.ndarray) -> np.ndarray:
        """Power density (..., ny, nx) in W/m² on the sensor grid from a map in W per cell.

        ``watts`` may have any (my, mx) uniform grid over the chip; it is resampled conservatively.
        """
        watts = np.asarray(watts, dtype=float)
        my, mx = watts.shape[-2:]
        lx, ly = self.size
        xe, ye = self.sensor_edges
        rx = resample_matrix(np.linspace(0.0, lx, mx + 1), xe)
        ry = resample_matrix(np.linspace(0.0, ly, my + 1), ye)
        return (ry @ watts @ rx.T) / self.sensor_cell_area

    def watts_from_density(self, density: np.ndarray) -> np.ndarray:
        """Map in W per sensor cell from a (..., ny, nx) power density in W/m²."""
        return np.asarray(density, dtype=float) * self.sensor_cell_area

    def stack_with(self, density: np.ndarray, params: dict[str, float] | None = None) -> Stack:
        """The stack with one (ny, nx) sensor-grid density map and parameter values applied."""
        stack = self.stack.with_power(self.power, PowerSource(map=self.watts_from_density(density)))
        if params:
            boundaries = dict(stack.boundaries)
            for p in self.parameters:
                if p.name in params:
                    bc = boundaries[p.face]
                    boundaries[p.face] = bc.model_copy(update={"htc": float(params[p.name])})
            stack = stack.model_copy(update={"boundaries": boundaries})
        return stack

    # -- evaluation grid -----------------------------------------------------------------------
    def grid(self, nx: int | None = None, ny: int | None = None) -> Grid:
        """The solver grid of the stack (optionally with another lateral resolution)."""
        stack = self.stack if nx is None else self.stack.with_grid(nx, ny or nx)
        return Grid.from_stack(stack)

    def grid_coordinates(self, grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nondimensional (x̂ (nx,), ŷ (ny,), ŝ (nz,)) of the cell centres of ``grid``."""
        lx, ly = self.size
        return grid.x / lx, grid.y / ly, self.s_hat(grid.z)
