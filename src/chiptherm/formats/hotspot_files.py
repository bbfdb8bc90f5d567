"""HotSpot's input files, read as HotSpot reads them: config files and command-line options
(with HotSpot's defaults and its rule that the command line wins), floorplans (.flp), power
traces (.ptrace), layer configuration files (.lcf, 7-line and 6-line material records) and
materials files; and where a floorplan block lands on HotSpot's grid (its cell range, the
occupancy of its edge cells, and its temperature by the grid map mode). Lengths in m, powers
in W, K.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from chiptherm.errors import ChipthermWarning, FormatError, UnsupportedError
from chiptherm.formats import read_text

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


def config_number(config: dict[str, str], key: str) -> float:
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
