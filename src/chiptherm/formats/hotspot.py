"""HotSpot inputs (steady state, grid model) and output files.

Reads floorplans (.flp), power traces (.ptrace), config files, layer configuration files
(.lcf, 7-line and 6-line material records) and materials files, and builds HotSpot's grid
model exactly: its layers, its (swapped) lateral resistances, full-layer vertical
resistances, the spreader and sink and the 12 peripheral package nodes; with
``-detailed_3D on``, per-cell materials from the floorplan blocks and half-cell vertical
links. Outputs are written in HotSpot's `.steady` and `.grid.steady` layouts. Lengths in m,
powers in W, K.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from chiptherm.discretize.system import EnergyBalance
from chiptherm.errors import ChipthermWarning, FormatError, UnsupportedError
from chiptherm.formats import read_text
from chiptherm.formats.hotspot_multigrid import (
    SweepPlan,
    heuristic_start,
    is_power_of_two,
    prolong_temperature,
    restrict_power,
)
from chiptherm.solvers.network import Network

T = TypeVar("T")

# -- configuration ---------------------------------------------------------------
DEFAULTS: dict[str, str] = {
    "t_chip": "0.15e-3",
    "k_chip": "100.0",
    "t_interface": "20e-6",
    "k_interface": "4.0",
    "s_spreader": "0.03",
    "t_spreader": "1e-3",
    "k_spreader": "400.0",
    "s_sink": "0.06",
    "t_sink": "6.9e-3",
    "k_sink": "400.0",
    "r_convec": "0.1",
    "ambient": "318.15",
    "model_type": "block",
    "grid_rows": "64",
    "grid_cols": "64",
    "grid_map_mode": "center",
    "grid_layer_file": "(null)",
    "steady_file": "(null)",
    "grid_steady_file": "(null)",
    "detailed_3D": "off",
    "use_microchannels": "0",
    "model_secondary": "0",
    "leakage_used": "0",
    "package_model_used": "0",
}
CMDLINE_ONLY = {"f", "p", "o", "materials_file", "detailed_3D", "use_microchannels", "c", "d"}
"""Options HotSpot reads from its command line only; a config file cannot set them."""
FILE_KEYS = {
    "grid_layer_file",
    "steady_file",
    "grid_steady_file",
    "init_file",
    "grid_transient_file",
    "materials_file",
    "f",
    "p",
    "o",
}


HOTSPOT_OPTIONS = frozenset(
    {
        *DEFAULTS,
        *CMDLINE_ONLY,
        *FILE_KEYS,
        # thermal and package parameters HotSpot knows (most act on transients or on models
        # chiptherm refuses when they are switched on)
        *("p_chip", "thermal_threshold", "c_convec", "p_sink", "p_spreader", "p_interface"),
        *("r_convec_sec", "c_convec_sec", "n_metal", "t_metal", "t_c4", "s_c4", "n_c4"),
        *("s_sub", "t_sub", "s_solder", "t_solder", "s_pcb", "t_pcb"),
        *("init_temp", "sampling_intvl", "base_proc_freq", "dtm_used", "block_omit_lateral"),
        *("leakage_mode", "package_config_file"),
        *("material_chip", "material_interface", "material_spreader", "material_sink"),
    }
)
"""Every option HotSpot 6 reads; another is a misspelling, which HotSpot refuses too."""


def check_option(key: str, where: str) -> None:
    """Refuse an option HotSpot does not know, naming the nearest ones (``where`` says where it
    was given)."""
    if key in HOTSPOT_OPTIONS:
        return
    import difflib

    near = difflib.get_close_matches(key, sorted(HOTSPOT_OPTIONS), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join('-' + n for n in near)}?" if near else ""
    raise FormatError(f"unknown HotSpot option -{key} {where}{hint}")


def parse_config_file(path: str | Path) -> dict[str, str]:
    """``-key value`` lines; the first occurrence of a key wins; '#' lines are skipped."""
    out: dict[str, str] = {}
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        tokens = line.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        if len(tokens) < 2 or not tokens[0].startswith("-"):
            raise FormatError(
                f"expected '-key value', got {line.strip()!r}", source=str(path), line=lineno
            )
        key = tokens[0][1:]
        try:
            check_option(key, "in the config file")
        except FormatError as exc:
            raise FormatError(exc.detail, source=str(path), line=lineno) from None
        out.setdefault(key, tokens[1])
    return out


def parse_command_line(args: list[str]) -> dict[str, str]:
    """HotSpot's ``-key value`` pairs (the first occurrence wins)."""
    if len(args) % 2:
        raise FormatError(
            "HotSpot options come in '-key value' pairs; got an odd number of arguments"
        )
    out: dict[str, str] = {}
    for key, value in zip(args[::2], args[1::2], strict=True):
        if not key.startswith("-") or len(key) < 2:
            raise FormatError(f"expected an option like '-key', got {key!r}")
        check_option(key[1:], "on the command line")
        out.setdefault(key[1:], value)
    return out


def effective_config(args: list[str]) -> dict[str, str]:
    """Defaults, then the config file (``-c``), then command-line pairs."""
    cmd = parse_command_line(args)
    config = dict(DEFAULTS)
    if "c" in cmd:
        from_file = parse_config_file(cmd["c"])
        config.update({k: v for k, v in from_file.items() if k not in CMDLINE_ONLY})
    config.update(cmd)
    for key in FILE_KEYS:
        if config.get(key) == "(null)":
            config.pop(key)
    return config


def config_dump(config: dict[str, str]) -> str:
    """The effective configuration as ``-key<TAB>value`` lines (HotSpot's ``-d`` file)."""
    skip = {"c", "d"}
    return "".join(f"-{k}\t{v}\n" for k, v in sorted(config.items()) if k not in skip)


def _number(config: dict[str, str], key: str) -> float:
    try:
        value = float(config[key])
    except ValueError:
        raise FormatError(f"-{key}: expected a number, got {config[key]!r}") from None
    if not math.isfinite(value):
        raise FormatError(f"-{key}: expected a finite number, got {config[key]!r}")
    return value


# -- floorplans and power traces ---------------------------------------------------------------
@dataclass(frozen=True)
class FlpBlock:
    """A floorplan unit: name, width, height, left x, bottom y (m), and the resistivity (m·K/W)
    of a 7-field line, used only by ``-detailed_3D on``."""

    name: str
    width: float
    height: float
    x: float
    y: float
    resistivity: float | None = None


@dataclass
class Floorplan:
    """Blocks in file order, translated so that min(x) = min(y) = 0; chip W x H in m."""

    blocks: list[FlpBlock]
    width: float
    height: float
    source: str = ""

    def index(self, name: str) -> int | None:
        lower = name.lower()
        for i, b in enumerate(self.blocks):
            if b.name.lower() == lower:
                return i
        return None


def read_flp(path: str | Path) -> Floorplan:
    """Read a HotSpot floorplan (5- or 7-field lines; 3-field connectivity lines skipped)."""
    blocks: list[FlpBlock] = []
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        tokens = line.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        if len(tokens) == 3:
            continue  # wire-density connectivity
        if len(tokens) not in (5, 7):
            raise FormatError(
                f"expected 'name width height left_x bottom_y [heat_cap resistivity]', got "
                f"{len(tokens)} fields",
                source=str(path),
                line=lineno,
            )
        try:
            w, h, x, y = (float(t) for t in tokens[1:5])
        except ValueError:
            raise FormatError(
                f"non-numeric geometry in {line.strip()!r}", source=str(path), line=lineno
            ) from None
        if not all(math.isfinite(v) for v in (w, h, x, y)) or w <= 0 or h <= 0:
            raise FormatError(
                "width and height must be finite and > 0", source=str(path), line=lineno
            )
        resistivity = None
        if len(tokens) == 7:
            resistivity = _convert(lineno, tokens[6], float, "a resistivity in m·K/W", path)
            if not resistivity > 0:
                raise FormatError("the resistivity must be > 0", source=str(path), line=lineno)
        blocks.append(FlpBlock(tokens[0], w, h, x, y, resistivity))
    if not blocks:
        raise FormatError("the floorplan has no blocks", source=str(path))
    x0 = min(b.x for b in blocks)
    y0 = min(b.y for b in blocks)
    blocks = [replace(b, x=b.x - x0, y=b.y - y0) for b in blocks]
    width = max(b.x + b.width for b in blocks)
    height = max(b.y + b.height for b in blocks)
    covered = sum(b.width * b.height for b in blocks)
    if covered < (1.0 - 1e-6) * width * height:
        warnings.warn(
            f"floorplan {path}: its blocks cover {100 * covered / (width * height):.2f} % of the "
            f"{width:g} × {height:g} m chip; the gaps get no power (HotSpot warns of them too)",
            ChipthermWarning,
            stacklevel=2,
        )
    return Floorplan(blocks, width, height, str(path))


def read_ptrace(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Names and the steady power per column (mean of all rows), W."""
    rows = [line.split() for line in read_text(path).splitlines() if line.strip()]
    if not rows:
        raise FormatError("the power trace is empty", source=str(path))
    names, values = rows[0], []
    for lineno, row in enumerate(rows[1:], 2):
        if len(row) != len(names):
            raise FormatError(
                f"{len(row)} values for {len(names)} names", source=str(path), line=lineno
            )
        try:
            values.append([float(v) for v in row])
        except ValueError:
            raise FormatError(
                f"non-numeric power in row {lineno}", source=str(path), line=lineno
            ) from None
    if not values:
        raise FormatError("the power trace has names but no power rows", source=str(path))
    power = np.asarray(values).mean(axis=0)
    if not np.all(np.isfinite(power)):
        raise FormatError("the power trace contains NaN or infinite values", source=str(path))
    return names, power


# -- layer configuration ---------------------------------------------------------------
@dataclass
class HsLayer:
    """One grid-model layer: conductivity W/(m·K), thickness m, flags and floorplan."""

    number: int
    lateral: bool
    power: bool
    k: float
    thickness: float
    floorplan: Floorplan
    power_w: np.ndarray = field(default_factory=lambda: np.zeros(0))


def read_materials(path: str | Path) -> dict[str, float]:
    """Materials file records (name, solid|fluid, k, heat capacity[, viscosity]) -> k."""
    tokens = [
        (ln, t.split()[0])
        for ln, t in enumerate(read_text(path).splitlines(), 1)
        if t.split() and not t.split()[0].startswith("#")
    ]
    out: dict[str, float] = {}
    i = 0
    while i < len(tokens):
        lineno, name = tokens[i]
        if i + 3 >= len(tokens):
            raise FormatError(f"incomplete material record {name!r}", source=str(path), line=lineno)
        kind = tokens[i + 1][1]
        if kind not in ("solid", "fluid"):
            raise FormatError(
                f"expected 'solid' or 'fluid' for material {name!r}, got {kind!r}",
                source=str(path),
                line=tokens[i + 1][0],
            )
        try:
            out[name] = float(tokens[i + 2][1])
            float(tokens[i + 3][1])
        except ValueError:
            raise FormatError(
                f"non-numeric property of material {name!r}",
                source=str(path),
                line=tokens[i + 2][0],
            ) from None
        i += 5 if kind == "fluid" else 4
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _convert(
    line: int, text: str, convert: Callable[[str], T], expected: str, path: str | Path
) -> T:
    """``convert(text)``, or a FormatError naming the file, line and what was expected."""
    try:
        return convert(text)
    except (ValueError, ZeroDivisionError):
        raise FormatError(
            f"expected {expected}, got {text!r}", source=str(path), line=line
        ) from None


def read_lcf(path: str | Path, materials: dict[str, float] | None) -> list[HsLayer]:
    """Read an LCF (7-line or 6-line material records), ordered by layer number."""
    lines = [
        (ln, t.split()[0])
        for ln, t in enumerate(read_text(path).splitlines(), 1)
        if t.split() and not t.split()[0].startswith("#")
    ]
    layers: list[HsLayer] = []
    i = 0
    while i < len(lines):

        def field_at(offset: int, what: str, start: int = i) -> tuple[int, str]:
            if start + offset >= len(lines):
                raise FormatError(
                    f"incomplete layer record: missing {what}", source=str(path), line=lines[-1][0]
                )
            return lines[start + offset]

        num = _convert(*field_at(0, "layer number"), int, "a layer number", path)
        flags = []
        for off, what in ((1, "lateral heat flow Y/N"), (2, "dissipates power Y/N")):
            fl, flag = field_at(off, what)
            if flag.upper() not in ("Y", "N"):
                raise FormatError(
                    f"expected Y or N ({what}), got {flag!r}", source=str(path), line=fl
                )
            flags.append(flag.upper() == "Y")
        cl, cap = field_at(3, "heat capacity or material")
        if _is_number(cap):  # 7-line record: capacity, then resistivity
            rho = field_at(4, "resistivity")
            k = _convert(*rho, lambda v: 1.0 / float(v), "a resistivity in m·K/W", path)
            rest = 5
        else:  # 6-line record: a material name
            if materials is None or cap not in materials:
                raise FormatError(
                    f"material {cap!r} is not in the materials file (give -materials_file)",
                    source=str(path),
                    line=cl,
                )
            k = materials[cap]
            rest = 4
        thickness = _convert(*field_at(rest, "thickness"), float, "a thickness in m", path)
        fl, flp = field_at(rest + 1, "floorplan file")
        if flp.endswith(".csv"):
            raise UnsupportedError(
                "microchannel layers (.csv floorplans) are not supported", source=str(path), line=fl
            )
        layers.append(HsLayer(num, flags[0], flags[1], k, thickness, read_flp(flp)))
        i += rest + 2
    numbers = sorted(layer.number for layer in layers)
    if numbers != list(range(len(layers))):
        raise FormatError(
            f"layer numbers must be 0..{len(layers) - 1} and unique, got {numbers}",
            source=str(path),
        )
    layers.sort(key=lambda la: la.number)
    w0, h0 = layers[0].floorplan.width, layers[0].floorplan.height
    for layer in layers[1:]:
        if abs(layer.floorplan.width - w0) > 1e-6 or abs(layer.floorplan.height - h0) > 1e-6:
            raise FormatError(
                f"layer {layer.number}'s floorplan is not {w0} x {h0} m", source=str(path)
            )
    return layers


# -- block <-> cell mapping ------------------------------------------------------------------------
def _eq(a: float, b: float) -> bool:
    return abs(a - b) < 1e-6


def tceil(v: float) -> int:
    return round(v) if _eq(v, round(v)) else math.ceil(v)


def tfloor(v: float) -> int:
    return round(v) if _eq(v, round(v)) else math.floor(v)


@dataclass(frozen=True)
class CellRange:
    """Rows [i1, i2) (row 0 north) and columns [j1, j2) of a block, with occupancies."""

    i1: int
    i2: int
    j1: int
    j2: int
    occupancy: np.ndarray  # (i2-i1, j2-j1)


def block_range(b: FlpBlock, rows: int, cols: int, cw: float, ch: float, H: float) -> CellRange:
    """HotSpot's cell range and boundary occupancy of block ``b``."""
    left, right, bottom, top = b.x, b.x + b.width, b.y, b.y + b.height
    i1 = rows - tceil(top / ch)
    i2 = rows - tfloor(bottom / ch)
    j1 = tfloor(left / cw)
    j2 = tceil(right / cw)
    i1, j1 = max(i1, 0), max(j1, 0)
    i2, j2 = min(i2, rows), min(j2, cols)
    occ = np.ones((i2 - i1, j2 - j1))

    def snap(v: float) -> float:
        if abs(v) < 1e-6:
            return 0.0
        if abs(v - 1) < 1e-6:
            return 1.0
        return v

    for a in range(i2 - i1):
        for c in range(j2 - j1):
            i, j = i1 + a, j1 + c
            if 0 < a < i2 - i1 - 1 and 0 < c < j2 - j1 - 1:
                continue
            ow = max(0.0, min(right, (j + 1) * cw) - max(left, j * cw))
            oh = max(0.0, min(top, H - i * ch) - max(bottom, H - (i + 1) * ch))
            occ[a, c] = snap(ow / cw) * snap(oh / ch)
    return CellRange(i1, i2, j1, j2, occ)


def block_temperature(t: np.ndarray, r: CellRange, mode: str) -> float:
    """Block temperature from a layer's (rows, cols) field by HotSpot's map mode."""
    cells = t[r.i1 : r.i2, r.j1 : r.j2]
    if mode == "avg":
        return float(cells.mean())
    if mode == "min":
        return float(cells.min())
    if mode == "max":
        return float(cells.max())
    ci, cj = (r.i1 + r.i2) // 2, (r.j1 + r.j2) // 2
    ci2 = ci - 1 if (r.i2 - r.i1) % 2 == 0 else ci
    cj2 = cj - 1 if (r.j2 - r.j1) % 2 == 0 else cj
    return float((t[ci, cj] + t[ci2, cj] + t[ci, cj2] + t[ci2, cj2]) / 4)


# -- the grid model ---------------------------------------------------------------
PACKAGE_NODES = 12
OCCUPANCY_LOCK = 0.95
"""In -detailed_3D mode, a block covering this share of a cell sets the cell's material."""
SP_W, SP_E, SP_N, SP_S, SINK_C_W, SINK_C_E, SINK_C_N, SINK_C_S, SINK_W, SINK_E, SINK_N, SINK_S = (
    range(12)
)


def getr(k: float, length: float, area: float) -> float:
    """Conduction resistance L / (k A), K/W."""
    return length / (k * area)


@dataclass(frozen=True)
class PackageLinks:
    """Resistances (K/W) around HotSpot's 12 package nodes, by axis: "x" for the west and
    east nodes, "y" for the north and south ones.

    Attributes:
        spreader_edge: from one spreader edge cell to its SP node (rx/2 or ry/2 of the cell
            plus the edge's share of the lateral resistance to the periphery).
        sink_edge: from one sink edge cell to its inner sink node SINK_C.
        spreader_to_sink: SP node to SINK_C node.
        inner_sink_to_ambient: SINK_C node to ambient (conduction plus convection).
        inner_to_outer_sink: SINK_C node to the outer sink node SINK.
        outer_sink_to_ambient: SINK node to ambient.
    """

    spreader_edge: dict[str, float]
    sink_edge: dict[str, float]
    spreader_to_sink: dict[str, float]
    inner_sink_to_ambient: dict[str, float]
    inner_to_outer_sink: dict[str, float]
    outer_sink_to_ambient: float


@dataclass
class HotSpotModel:
    """HotSpot's steady grid model: layers (die layers, then spreader and sink), package.

    ``layers[n]`` is layer n (0 = farthest from the sink); the last two are the spreader and
    the sink. ``prefixes[n]`` is the `.steady` name prefix of layer n's blocks.
    """

    layers: list[HsLayer]
    prefixes: list[str]
    rows: int
    cols: int
    width: float
    height: float
    config: dict[str, float]
    map_mode: str
    detailed: bool = False
    """``-detailed_3D on``: per-cell conductivities from the floorplan blocks (spec §A10)."""

    @property
    def cw(self) -> float:
        return self.width / self.cols

    @property
    def ch(self) -> float:
        return self.height / self.rows

    def ranges(self, floorplan: Floorplan) -> list[CellRange]:
        return [
            block_range(b, self.rows, self.cols, self.cw, self.ch, self.height)
            for b in floorplan.blocks
        ]

    def cell_power(self) -> np.ndarray:
        """(L, rows, cols) cell power, W: density x overlap area in power layers."""
        out = np.zeros((len(self.layers), self.rows, self.cols))
        cell_area = self.width * self.height / (self.rows * self.cols)
        for n, layer in enumerate(self.layers):
            if not layer.power or layer.power_w.size == 0:
                continue
            for b, r, p in zip(
                layer.floorplan.blocks, self.ranges(layer.floorplan), layer.power_w, strict=True
            ):
                out[n, r.i1 : r.i2, r.j1 : r.j2] += (
                    r.occupancy * p / (b.width * b.height) * (cell_area)
                )
        return out

    def cell_conductivity(self, n: int) -> np.ndarray:
        """(rows, cols) conductivity, W/(m·K), of layer n's cells in ``-detailed_3D`` mode.

        Blocks are visited in file order. A block covering at least 95 % of a cell sets the
        cell alone (the first such block wins); otherwise the cell sums occupancy × k over its
        blocks. A block's k is 1/resistivity from a 7-field floorplan line, else the layer's.
        """
        layer = self.layers[n]
        k = np.zeros((self.rows, self.cols))
        locked = np.zeros((self.rows, self.cols), dtype=bool)
        seen = np.zeros((self.rows, self.cols), dtype=bool)
        for block, r in zip(layer.floorplan.blocks, self.ranges(layer.floorplan), strict=True):
            kb = layer.k if block.resistivity is None else 1.0 / block.resistivity
            cells = (slice(r.i1, r.i2), slice(r.j1, r.j2))
            occ = r.occupancy
            full = occ >= OCCUPANCY_LOCK
            first, free = ~seen[cells], ~locked[cells]
            k[cells] = np.where(
                first,
                np.where(full, kb, occ * kb),
                np.where(free & full, kb, k[cells] + np.where(free, occ * kb, 0.0)),
            )
            locked[cells] |= (first | free) & full
            seen[cells] = True
        if not seen.all():
            i, j = np.argwhere(~seen)[0]
            raise FormatError(
                f"-detailed_3D on: cell (row {i}, col {j}) of layer {layer.number} is covered "
                f"by no block of {layer.floorplan.source!r}; HotSpot needs full coverage"
            )
        return k

    def vertical_resistances(self) -> np.ndarray:
        """(L,) cell resistance t/(k·cw·ch) per layer, K/W; the sink's includes its share
        r_convec·s_sink²/(cw·ch) of the convection to ambient."""
        rz = np.array([la.thickness / (la.k * self.cw * self.ch) for la in self.layers])
        c = self.config
        rz[-1] += c["r_convec"] * c["s_sink"] ** 2 / (self.cw * self.ch)
        return rz

    def package_links(self) -> PackageLinks:
        """The resistances of HotSpot's 12 peripheral package nodes (spec §A8), K/W."""
        c = self.config
        spreader, sink = self.layers[-2], self.layers[-1]
        s_p, s_h, r_c = c["s_spreader"], c["s_sink"], c["r_convec"]
        k_p, t_p, k_h, t_h = spreader.k, spreader.thickness, sink.k, sink.thickness
        w, h = self.width, self.height
        # lateral: from the die edge to the centre of each periphery trapezoid
        r_sp1 = {
            "x": getr(k_p, (s_p - w) / 4, (s_p + 3 * h) / 4 * t_p),
            "y": getr(k_p, (s_p - h) / 4, (s_p + 3 * w) / 4 * t_p),
        }
        r_hs1 = {
            "x": getr(k_h, (s_p - w) / 4, (s_p + 3 * h) / 4 * t_h),
            "y": getr(k_h, (s_p - h) / 4, (s_p + 3 * w) / 4 * t_h),
        }
        r_hs2 = {
            "x": getr(k_h, (s_p - w) / 4, (3 * s_p + h) / 4 * t_h),
            "y": getr(k_h, (s_p - h) / 4, (3 * s_p + w) / 4 * t_h),
        }
        r_hs = getr(k_h, (s_h - s_p) / 4, (s_h + 3 * s_p) / 4 * t_h)
        # vertical, through the periphery areas, and convection shares of r_convec
        area = {"x": (s_p + h) * (s_p - w) / 4, "y": (s_p + w) * (s_p - h) / 4}
        outer_area = (s_h**2 - s_p**2) / 4
        cells = {"x": self.rows, "y": self.cols}  # edge cells on a west/east or north/south edge

        def half(layer: HsLayer, axis: str) -> float:  # rx/2 (x) or ry/2 (y), not swapped
            if axis == "x":
                return self.cw / (layer.k * self.ch * layer.thickness) / 2
            return self.ch / (layer.k * self.cw * layer.thickness) / 2

        return PackageLinks(
            spreader_edge={a: half(spreader, a) + cells[a] * r_sp1[a] for a in "xy"},
            sink_edge={a: half(sink, a) + cells[a] * r_hs1[a] for a in "xy"},
            spreader_to_sink={a: getr(k_p, t_p, area[a]) for a in "xy"},
            inner_sink_to_ambient={
                a: getr(k_h, t_h, area[a]) + r_c * s_h**2 / area[a] for a in "xy"
            },
            inner_to_outer_sink={a: r_hs2[a] + r_hs for a in "xy"},
            outer_sink_to_ambient=getr(k_h, t_h, outer_area) + r_c * s_h**2 / outer_area,
        )

    def network(self) -> Network:
        """The conductance network of HotSpot's standard grid mode (§A7-A8 of the spec)."""
        rows, cols, cw, ch = self.rows, self.cols, self.cw, self.ch
        n_layers = len(self.layers)
        cells = rows * cols
        net = Network(n_layers * cells + PACKAGE_NODES)
        net.power[: n_layers * cells] = self.cell_power().ravel()
        idx = np.arange(n_layers * cells).reshape(n_layers, rows, cols)
        big = 1e100

        def rx(layer: HsLayer) -> float:
            return cw / (layer.k * ch * layer.thickness) if layer.lateral else big

        def ry(layer: HsLayer) -> float:
            return ch / (layer.k * cw * layer.thickness) if layer.lateral else big

        rz = self.vertical_resistances()
        if self.detailed:
            self._detailed_links(net, idx, rz)
        else:
            for n, layer in enumerate(self.layers):
                if layer.lateral:
                    # HotSpot's labels are swapped: east-west links use ry, north-south use rx
                    net.link(idx[n, :, :-1], idx[n, :, 1:], ry(layer))
                    net.link(idx[n, :-1, :], idx[n, 1:, :], rx(layer))
            for n in range(n_layers - 1):
                net.link(idx[n], idx[n + 1], rz[n])
        net.to_ambient(idx[-1], rz[-1], self.config["ambient"])
        pkg = n_layers * cells
        links = self.package_links()
        for layer_idx, edge, (west, east, north, south) in (
            (-2, links.spreader_edge, (SP_W, SP_E, SP_N, SP_S)),
            (-1, links.sink_edge, (SINK_C_W, SINK_C_E, SINK_C_N, SINK_C_S)),
        ):
            grid = idx[layer_idx]
            net.link(grid[:, 0], pkg + west, edge["x"])
            net.link(grid[:, -1], pkg + east, edge["x"])
            net.link(grid[0, :], pkg + north, edge["y"])
            net.link(grid[-1, :], pkg + south, edge["y"])
        amb = self.config["ambient"]
        for sp_node, c_node, s_node, axis in (
            (SP_W, SINK_C_W, SINK_W, "x"),
            (SP_E, SINK_C_E, SINK_E, "x"),
            (SP_N, SINK_C_N, SINK_N, "y"),
            (SP_S, SINK_C_S, SINK_S, "y"),
        ):
            net.link(pkg + sp_node, pkg + c_node, links.spreader_to_sink[axis])
            net.to_ambient(pkg + c_node, links.inner_sink_to_ambient[axis], amb)
            net.link(pkg + c_node, pkg + s_node, links.inner_to_outer_sink[axis])
            net.to_ambient(pkg + s_node, links.outer_sink_to_ambient, amb)
        return net

    def _detailed_links(self, net: Network, idx: np.ndarray, rz_layer: np.ndarray) -> None:
        """Lateral and vertical links of ``-detailed_3D on`` (spec §A10): per-cell values in
        the layer-file layers (lateral = N ignored), layer values in the spreader and sink;
        half of each cell's resistance per side, except the full rz of layer 0 toward layer 1
        (and the sink's rz, convection share included, toward the spreader)."""
        cw, ch = self.cw, self.ch
        n_die = len(self.layers) - 2
        rz_cells = []
        for n, layer in enumerate(self.layers):
            t = layer.thickness
            uniform = np.full((self.rows, self.cols), layer.k)
            k = self.cell_conductivity(n) if n < n_die else uniform
            rx, ry = cw / (k * ch * t), ch / (k * cw * t)
            # HotSpot's labels are swapped: east-west links use ry, north-south use rx
            net.link(idx[n, :, :-1], idx[n, :, 1:], (ry[:, :-1] + ry[:, 1:]) / 2)
            net.link(idx[n, :-1, :], idx[n, 1:, :], (rx[:-1, :] + rx[1:, :]) / 2)
            rz_cells.append(t / (k * cw * ch) if n < n_die else np.full_like(k, rz_layer[n]))
        for n in range(len(self.layers) - 1):
            upper = rz_cells[n] if n == 0 else rz_cells[n] / 2
            net.link(idx[n], idx[n + 1], upper + rz_cells[n + 1] / 2)

    def solve(self, method: str = "auto") -> HotSpotResult:
        """Solve the grid model.

        ``method``: ``"direct"`` (sparse LU, exact; what HotSpot's SuperLU build computes),
        ``"multigrid"`` (HotSpot's default build: nested Gauss–Seidel to 1e-6 K per sweep,
        power-of-two grids only), or ``"auto"``: multigrid where HotSpot's default build
        runs, direct otherwise.
        """
        if method not in ("auto", "direct", "multigrid"):
            raise ValueError(f"unknown HotSpot solve method {method!r}")
        power_of_two = is_power_of_two(self.rows) and is_power_of_two(self.cols)
        if method == "multigrid" and not power_of_two:
            raise UnsupportedError(
                f"HotSpot's multigrid solver needs power-of-two grid rows and cols, got "
                f"{self.rows} x {self.cols}; use the direct solver"
            )
        net = self.network()
        if method == "direct" or not power_of_two:
            t, used = net.solve(), "direct"
        elif self.detailed:  # HotSpot iterates detailed models without multigrid
            t, used = self.plain_gauss_seidel(net), "gauss-seidel"
        else:
            t, used = self.nested_gauss_seidel(net), "multigrid"
        n_layers = len(self.layers)
        grid = t[: n_layers * self.rows * self.cols].reshape(n_layers, self.rows, self.cols)
        return HotSpotResult(self, grid, t[-PACKAGE_NODES:], net.energy_balance(t), used)

    def plain_gauss_seidel(self, net: Network) -> np.ndarray:
        """HotSpot's iteration of a ``-detailed_3D`` model: Gauss–Seidel sweeps from the
        heuristic start, on the full grid only, until no node moves by 1e-6 K."""
        x = heuristic_start(
            self.cell_power(), self.vertical_resistances(), self.config["ambient"], PACKAGE_NODES
        )
        SweepPlan.build(net.matrix(), len(self.layers), self.rows, self.cols).converge(x, net.rhs())
        return x

    def coarsened(self) -> HotSpotModel:
        """The same model on a grid with half the rows and columns."""
        return replace(self, rows=self.rows // 2, cols=self.cols // 2)

    def nested_gauss_seidel(self, net: Network) -> np.ndarray:
        """Node temperatures (L·R·C + 12,), K, exactly as HotSpot's default build iterates;
        ``net`` is this model's network (the finest level).

        See :mod:`chiptherm.formats.hotspot_multigrid`.
        """
        levels = [self]
        while levels[-1].rows > 1 and levels[-1].cols > 1:
            levels.append(levels[-1].coarsened())
        powers = [self.cell_power()]
        for _ in levels[1:]:
            powers.append(restrict_power(powers[-1]))
        x = None
        for model, power in zip(reversed(levels), reversed(powers), strict=True):
            level = net
            if model is not self:  # coarse levels: the same model, restricted power
                level = model.network()
                level.power[: power.size] = power.ravel()
            b = level.rhs()
            if x is None:
                x = heuristic_start(
                    power, model.vertical_resistances(), model.config["ambient"], PACKAGE_NODES
                )
            else:
                shape = (len(model.layers), model.rows // 2, model.cols // 2)
                coarse = x[:-PACKAGE_NODES].reshape(shape)
                x = np.concatenate([prolong_temperature(coarse).ravel(), x[-PACKAGE_NODES:]])
            SweepPlan.build(level.matrix(), len(model.layers), model.rows, model.cols).converge(
                x, b
            )
        return x


@dataclass
class HotSpotResult:
    """Temperatures of HotSpot's grid model, K: (L, rows, cols) (row 0 north) and 12 nodes."""

    model: HotSpotModel
    grid: np.ndarray
    package: np.ndarray
    balance: EnergyBalance
    method: str = "direct"
    """'direct' (exact) or 'multigrid' (HotSpot's default-build iteration, 1e-3 K short)."""

    def block_temperatures(self) -> list[tuple[str, float]]:
        """The `.steady` entries in HotSpot's order: layers, then inode_0..11."""
        m = self.model
        out: list[tuple[str, float]] = []
        for n, layer in enumerate(m.layers):
            for b, r in zip(layer.floorplan.blocks, m.ranges(layer.floorplan), strict=True):
                out.append(
                    (f"{m.prefixes[n]}{b.name}", block_temperature(self.grid[n], r, m.map_mode))
                )
        out += [(f"inode_{k}", float(v)) for k, v in enumerate(self.package)]
        return out

    def steady_text(self) -> str:
        return "".join(f"{name}\t{t:.2f}\n" for name, t in self.block_temperatures())

    def grid_steady_text(self) -> str:
        lines = []
        for n in range(self.grid.shape[0]):
            lines.append(f"Layer {n}:")
            flat = self.grid[n].ravel()
            lines += [f"{i}\t{v:.2f}" for i, v in enumerate(flat)]
        return "\n".join(lines) + "\n"


def _assign_power(layer: HsLayer, names: list[str], power: np.ndarray, source: str) -> None:
    watts = np.zeros(len(layer.floorplan.blocks))
    for name, p in zip(names, power, strict=True):
        i = layer.floorplan.index(name)
        if i is None:
            raise FormatError(
                f"power trace column {name!r} matches no block of floorplan "
                f"{layer.floorplan.source!r}",
                source=source,
            )
        watts[i] = p
    layer.power_w = watts


def build_model(config: dict[str, str]) -> HotSpotModel:
    """HotSpot's steady grid model from an effective configuration (see effective_config)."""
    if config.get("model_type", "").lower() != "grid":
        raise UnsupportedError(
            f"-model_type {config.get('model_type')}: only the grid model is supported; "
            "add '-model_type grid'"
        )
    detailed = config.get("detailed_3D", "off") == "on"  # HotSpot reads other values as off
    if detailed and "grid_layer_file" not in config:
        raise FormatError("-detailed_3D on needs a layer configuration file (-grid_layer_file)")
    for key, what in (
        ("model_secondary", "the secondary heat path"),
        ("leakage_used", "leakage modelling"),
        ("package_model_used", "the package model"),
        ("use_microchannels", "microchannels"),
    ):
        if config.get(key, "0") not in ("0", "off"):
            raise UnsupportedError(f"-{key} {config[key]}: {what} is not supported")
    for key in ("o", "grid_transient_file"):
        if key in config:
            raise UnsupportedError(f"-{key}: transient runs are not supported (steady only)")
    if "p" not in config:
        raise FormatError("-p file.ptrace is required")
    numbers = {
        k: _number(config, k)
        for k in (
            "t_chip",
            "k_chip",
            "t_interface",
            "k_interface",
            "s_spreader",
            "t_spreader",
            "k_spreader",
            "s_sink",
            "t_sink",
            "k_sink",
            "r_convec",
            "ambient",
        )
    }
    materials = read_materials(config["materials_file"]) if "materials_file" in config else None
    for part in ("chip", "interface", "spreader", "sink"):
        name = config.get(f"material_{part}")
        if name is not None:
            if materials is None or name not in materials:
                raise FormatError(f"-material_{part} {name}: not in the materials file")
            numbers[f"k_{part}"] = materials[name]
    try:
        rows, cols = int(config["grid_rows"]), int(config["grid_cols"])
    except ValueError:
        raise FormatError("-grid_rows and -grid_cols must be whole numbers") from None
    if rows < 1 or cols < 1:
        raise FormatError("-grid_rows and -grid_cols must be at least 1")
    mode = config.get("grid_map_mode", "center").lower()
    if mode not in ("avg", "min", "max", "center"):
        raise FormatError(f"-grid_map_mode {mode}: expected avg, min, max or center")
    names, power = read_ptrace(config["p"])
    if "grid_layer_file" in config:
        die_layers = read_lcf(config["grid_layer_file"], materials)
        prefixes = [f"layer_{la.number}_" for la in die_layers]
        power_layers = [la for la in die_layers if la.power]
        expected = sum(len(la.floorplan.blocks) for la in power_layers)
        if len(names) != expected:
            raise FormatError(
                f"the power trace has {len(names)} columns; the power layers "
                f"of the LCF have {expected} blocks",
                source=config["p"],
            )
        start = 0
        for la in power_layers:
            count = len(la.floorplan.blocks)
            _assign_power(
                la, names[start : start + count], power[start : start + count], config["p"]
            )
            start += count
    else:
        if "f" not in config:
            raise FormatError("-f file.flp is required without -grid_layer_file")
        flp = read_flp(config["f"])
        if len(names) != len(flp.blocks):
            raise FormatError(
                f"the power trace has {len(names)} columns; the floorplan has "
                f"{len(flp.blocks)} blocks",
                source=config["p"],
            )
        chip = HsLayer(0, True, True, numbers["k_chip"], numbers["t_chip"], flp)
        _assign_power(chip, names, power, config["p"])
        tim = HsLayer(1, True, False, numbers["k_interface"], numbers["t_interface"], flp)
        die_layers = [chip, tim]
        prefixes = ["", "iface_"]
    top_flp = die_layers[-1].floorplan
    n = len(die_layers)
    spreader = HsLayer(n, True, False, numbers["k_spreader"], numbers["t_spreader"], top_flp)
    sink = HsLayer(n + 1, True, False, numbers["k_sink"], numbers["t_sink"], top_flp)
    width, height = die_layers[0].floorplan.width, die_layers[0].floorplan.height
    if numbers["s_spreader"] < max(width, height) or numbers["s_sink"] < numbers["s_spreader"]:
        raise FormatError(
            "the spreader must be at least as large as the chip, and the sink at "
            "least as large as the spreader"
        )
    return HotSpotModel(
        [*die_layers, spreader, sink],
        [*prefixes, "hsp_", "hsink_"],
        rows,
        cols,
        width,
        height,
        numbers,
        mode,
        detailed,
    )
