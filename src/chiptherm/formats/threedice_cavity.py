"""3D-ICE's interlayer cavities: the parsed ``microchannel 4rm``, ``microchannel 2rm`` and
``pinfin`` sections, and their terms in 3D-ICE's system of equations.

The models follow 3D-ICE (Sridhar et al., "3D-ICE: Fast compact transient thermal modeling
for 3D ICs with inter-tier liquid cooling", ICCAD 2010, and its 2RM paper, 2012); this module
is written from those models and 3D-ICE's file format, checked against 3D-ICE's published
outputs. Lengths are in µm, W/(µm·K) and W/(µm²·K) as in the files, flow rates in µm³/s.

**4RM** (four-resistor model). The cavity is one layer of the cavity's height whose columns
are alternately silicon walls and channels: a first wall, then (channel, wall) pairs, a last
channel and a last wall, so the grid's columns are as wide as these (the file's cell length
is not used). A channel cell exchanges heat with the wall cells east and west through the
side coefficient (h_side·w·H) in series with the wall's half-cell, and with the cells above
and below through the top and bottom coefficients (h·l·w) in series with theirs.

**2RM** (two-resistor model, microchannels and pin fins). The cavity is a porous medium of
porosity p (channel width over pitch; for pins 1 - πd²/(4·pitch²)) resolved in four layers of
the cavity's height: a bottom and a top wall node without heat capacity that only join the
neighbouring layers, a "virtual wall" holding the solid fraction (conduction (1 - p)·k, along
the flow only for microchannels, vertically through its half-cells), and the coolant. The
coolant cells touch the wall nodes through h_bottom·l·w and h_top·l·w; for pin fins both are
3D-ICE's correlation of the Darcy velocity u (m/s):

    h_eff = 1e-12 / (2.527e-5 / (u + 1.35)^n + 1.533e-6)  W/(µm²·K), n = 0.64 in line,
                                                                       1.52 staggered.

**The coolant** flows along the rows (y), from row 0, at the incoming temperature. Each
channel cell carries C = (heat capacity rate of its column)/2 between its faces, with face
temperatures the mean of the two cells (the outlet face takes the last cell's): the cell's
equation holds C·(T_next - T_previous), and C·T at the first and last row, and the first
row's source 2·C·T_in. The heat carried away is Σ 2·C·(T_last - T_in), exactly what the
sources put in at steady state. C is ρc·Q/(2·N) per channel for 4RM (N channels), ρc·Q·p·l
/(2·N·l_channel) per cell of length l for 2RM, and ρc·u·l·H/2 for pin fins.

Central differences along the flow are not monotone: where the rows are coarse for the
flow and the films (cell Péclet number above 2), cells fall below the incoming temperature.
3D-ICE computes the same numbers; chiptherm warns (``warn_undershoot``) and names the cell
width to lower.

The system is not symmetric (the flow): a cavity stack is solved by LU factorization with
3D-ICE's options, or by blocks (:mod:`~chiptherm.formats.threedice_block`), not by conjugate
gradients alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from lark import Transformer, v_args

from chiptherm.errors import FormatError

ML_PER_MIN = 1e12 / 60.0
"""One ml/min in µm³/s (the files give coolant flow rates in ml/min)."""


@dataclass(frozen=True)
class IceCavity:
    """A cavity section of a .stk file; every ``channel`` stack element is one of these.

    Attributes:
        model: '4rm', '2rm' or 'pinfin'.
        height: the cavity's height H, µm.
        wall_material: the walls' (or pins') material.
        coolant_vhc: the coolant's volumetric heat capacity, J/(µm³·K).
        inlet_temperature: the coolant's incoming temperature, K.
        flow_rate: microchannels: the total flow rate, µm³/s.
        channel_length, wall_length: microchannels: channel and wall widths across the flow, µm.
        first_wall, last_wall: 4RM: the widths of the outermost walls, µm.
        htc: (side, top, bottom) coolant heat-transfer coefficients, W/(µm²·K).
        pin_diameter, pin_pitch: pin fins, µm.
        staggered: pin fins: staggered rather than in line.
        darcy_velocity: pin fins: the coolant's Darcy velocity, µm/s.
        line: where the section starts in the file.
    """

    model: str
    height: float
    wall_material: str
    coolant_vhc: float
    inlet_temperature: float
    flow_rate: float = 0.0
    channel_length: float = 0.0
    wall_length: float = 0.0
    first_wall: float = 0.0
    last_wall: float = 0.0
    htc: tuple[float, float, float] = (0.0, 0.0, 0.0)
    pin_diameter: float = 0.0
    pin_pitch: float = 0.0
    staggered: bool = False
    darcy_velocity: float = 0.0
    line: int | None = None

    @property
    def layer_kinds(self) -> tuple[str, ...]:
        """The cavity's layers of cells, bottom first: one for 4RM, four for the 2RM
        models."""
        if self.model == "4rm":
            return ("4rm",)
        return ("bottom wall", "virtual wall", "coolant", "top wall")

    @property
    def coolant_layer(self) -> int:
        """Index of the coolant's layer within the cavity's layers (bottom = 0)."""
        return 0 if self.model == "4rm" else 2

    @property
    def porosity(self) -> float:
        """Coolant volume fraction of a 2RM cavity."""
        if self.model == "pinfin":
            return 1.0 - math.pi * self.pin_diameter**2 / 4.0 / self.pin_pitch**2
        return self.channel_length / (self.channel_length + self.wall_length)

    def coolant_htc(self) -> tuple[float, float, float]:
        """(side, top, bottom) W/(µm²·K): as given, or 3D-ICE's pin-fin correlation."""
        if self.model != "pinfin":
            return self.htc
        exponent = 1.52 if self.staggered else 0.64
        u = self.darcy_velocity / 1e6  # m/s
        h = 1e-12 / (2.527e-5 / (u + 1.35) ** exponent + 1.533e-6)
        return (0.0, h, h)


@v_args(inline=True)
class CavityBuilder(Transformer):
    """Parser actions of the cavity sections (mixed into the .stk transformer, which has
    ``filename``)."""

    filename: str

    def _positive(self, what: str, token) -> float:
        value = float(token)
        if not value > 0:
            raise FormatError(
                f"{what} {value:g}: must be > 0", source=self.filename, line=token.line
            )
        return value

    def height(self, v):
        return ("height", self._positive("cavity height", v), v.line)

    def channel_length(self, v):
        return ("channel_length", self._positive("channel length", v))

    def wall_length(self, v):
        return ("wall_length", self._positive("wall length", v))

    def first_wall(self, v):
        return ("first_wall", self._positive("first wall length", v))

    def last_wall(self, v):
        return ("last_wall", self._positive("last wall length", v))

    def wall_material(self, name):
        return ("wall_material", str(name))

    def flow(self, v):
        return ("flow_rate", self._positive("coolant flow rate", v) * ML_PER_MIN)

    def htc4_one(self, h):
        value = self._positive("coolant heat transfer coefficient", h)
        return ("htc", (value, value, value))

    def htc4_three(self, side, top, bottom):
        what = "coolant heat transfer coefficient"
        return ("htc", tuple(self._positive(what, t) for t in (side, top, bottom)))

    def htc2_one(self, h):
        value = self._positive("coolant heat transfer coefficient", h)
        return ("htc", (0.0, value, value))

    def htc2_two(self, top, bottom):
        what = "coolant heat transfer coefficient"
        return ("htc", (0.0, *(self._positive(what, t) for t in (top, bottom))))

    def coolant(self, vhc, t_in):
        return ("coolant", self._positive("coolant volumetric heat capacity", vhc), float(t_in))

    def _cavity(self, model: str, parts: tuple, **extra) -> tuple[str, IceCavity]:
        values: dict = dict(extra)
        line = None
        for part in parts:
            if part[0] == "height":
                values["height"], line = part[1], part[2]
            elif part[0] == "coolant":
                values["coolant_vhc"], values["inlet_temperature"] = part[1], part[2]
            else:
                values[part[0]] = part[1]
        if model == "4rm":
            values.setdefault("first_wall", values["wall_length"])
            values.setdefault("last_wall", values["wall_length"])
        return ("cavity", IceCavity(model=model, line=line, **values))

    def mc4rm(self, _kind, *parts):
        return self._cavity("4rm", parts)

    def mc2rm(self, _kind, *parts):
        return self._cavity("2rm", parts)

    def pinfin(self, height, diameter, pitch, pins, material, velocity, coolant):
        d = self._positive("pin diameter", diameter)
        p = self._positive("pin pitch", pitch)
        if d >= p:
            raise FormatError(
                f"pin diameter {d:g} must be smaller than the pin pitch {p:g}",
                source=self.filename,
                line=diameter.line,
            )
        return self._cavity(
            "pinfin",
            (height, coolant),
            wall_material=str(material),
            pin_diameter=d,
            pin_pitch=p,
            staggered=str(pins) == "staggered",
            darcy_velocity=self._positive("darcy velocity", velocity),
        )


# -- the grid across the flow -----------------------------------------------------------
def column_lengths(
    cavity: IceCavity | None, chip_length: float, cell_length: float, source: str
) -> np.ndarray:
    """(n_cols,) widths of the grid's columns, µm: uniform cells, or for a 4RM cavity its
    walls and channels (first wall, channel, wall, ..., channel, last wall).

    Raises:
        FormatError: the 4RM walls and channels do not fill the chip's length exactly.
    """
    if cavity is None or cavity.model != "4rm":
        return np.full(int(chip_length / cell_length), cell_length)
    ch, wall = cavity.channel_length, cavity.wall_length
    inner = chip_length - cavity.first_wall - cavity.last_wall - ch
    pairs = inner / (ch + wall)
    if inner < 0 or abs(pairs - round(pairs)) > 1e-9 * max(1.0, pairs):
        raise FormatError(
            f"microchannel 4rm: the first wall ({cavity.first_wall:g}), the last wall "
            f"({cavity.last_wall:g}) and channels of {ch:g} separated by walls of {wall:g} "
            f"do not fill the chip length {chip_length:g} (expected first + last + channel + "
            f"n·(channel + wall) = {chip_length:g})",
            source=source,
            line=cavity.line,
        )
    middle = np.tile([ch, wall], round(pairs))
    return np.concatenate([[cavity.first_wall], middle, [ch, cavity.last_wall]])


def channel_columns(cavity: IceCavity, n_cols: int) -> np.ndarray:
    """(n_cols,) True where a column of the cavity's coolant layer carries coolant: every
    odd column for 4RM, all of them for the 2RM models."""
    if cavity.model == "4rm":
        return np.arange(n_cols) % 2 == 1
    return np.ones(n_cols, dtype=bool)


def convective_term(cavity: IceCavity, lengths: np.ndarray, chip_length: float) -> np.ndarray:
    """(n_cols,) C of each column of the coolant layer, W/K (zero where no coolant): half
    the heat capacity rate of the coolant flowing through the column."""
    c = np.zeros(len(lengths))
    channels = channel_columns(cavity, len(lengths))
    if cavity.model == "4rm":
        c[channels] = cavity.coolant_vhc * cavity.flow_rate / (2.0 * channels.sum())
    elif cavity.model == "2rm":
        pitch = cavity.channel_length + cavity.wall_length
        n_channels = math.floor(chip_length / pitch + 0.5)
        c[:] = (
            cavity.coolant_vhc
            * cavity.flow_rate
            * cavity.porosity
            * lengths
            / (2.0 * n_channels * cavity.channel_length)
        )
    else:
        c[:] = cavity.coolant_vhc * cavity.darcy_velocity * lengths * cavity.height / 2.0
    return c


# -- the cavity's terms in the system -------------------------------------------------------
@dataclass(frozen=True)
class CavityTerms:
    """What the cavities add to the conduction network.

    Attributes:
        matrix: (N, N) the coolant's transport and the 2RM links that skip a layer, W/K.
        inlet: (nz, n_rows, n_cols) the incoming coolant's source 2·C·T_in, W.
        coolant: per cavity, (layer index, C (n_cols,), T_in): where the coolant is.
    """

    matrix: sp.csr_array
    inlet: np.ndarray
    coolant: list[tuple[int, np.ndarray, float]]

    def heat_carried(self, temperature: np.ndarray) -> float:
        """Heat the coolant carries away, Σ 2·C·(T_outlet - T_in), W."""
        return float(
            sum(np.sum(2.0 * c * (temperature[m, -1] - t_in)) for m, c, t_in in self.coolant)
        )

    def mask(self, shape: tuple[int, int, int]) -> np.ndarray:
        """(nz, n_rows, n_cols) True at the coolant's cells."""
        mask = np.zeros(shape, dtype=bool)
        for layer, c, _ in self.coolant:
            mask[layer][:, c > 0] = True
        return mask

    def outlets(self, temperature: np.ndarray) -> list[np.ndarray]:
        """Each cavity's outlet temperatures, one per coolant column, K."""
        return [temperature[m, -1][c > 0] for m, c, _ in self.coolant]


def advection(shape: tuple[int, int, int], layer: int, c: np.ndarray) -> sp.coo_array:
    """The coolant's transport in ``layer`` along the rows: row i of a channel column holds
    +C at its next cell, -C at its previous one, and +C on the diagonal at the first and
    last rows."""
    nz, ny, nx = shape
    index = np.arange(nz * ny * nx).reshape(shape)[layer]
    cols = np.nonzero(c)[0]
    rows_i, rows_j, values = [], [], []
    here, ahead = index[:-1][:, cols].ravel(), index[1:][:, cols].ravel()
    cc = np.broadcast_to(c[cols], (ny - 1, len(cols))).ravel()
    rows_i += [here, ahead]
    rows_j += [ahead, here]
    values += [cc, -cc]
    ends = np.concatenate([index[0, cols], index[-1, cols]])  # ny >= 2 (build_model checks)
    rows_i.append(ends)
    rows_j.append(ends)
    values.append(np.tile(c[cols], 2))
    n = nz * ny * nx
    return sp.coo_array(
        (np.concatenate(values), (np.concatenate(rows_i), np.concatenate(rows_j))), shape=(n, n)
    )


def skip_links(
    shape: tuple[int, int, int], pairs: list[tuple[int, int, np.ndarray]]
) -> sp.coo_array:
    """Symmetric links between layers that are not neighbours: (lower, upper, g (n_cols,))
    W/K, the same in every row."""
    nz, ny, nx = shape
    n = nz * ny * nx
    index = np.arange(n).reshape(shape)
    rows, cols, values = [], [], []
    for lo, hi, g in pairs:
        a, b = index[lo].ravel(), index[hi].ravel()
        gg = np.broadcast_to(g, (ny, nx)).ravel()
        rows += [a, b, a, b]
        cols += [a, b, b, a]
        values += [gg, gg, -gg, -gg]
    return sp.coo_array(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
