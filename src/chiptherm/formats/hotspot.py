"""HotSpot's steady grid model, built exactly as HotSpot builds it.

From the inputs of :mod:`~chiptherm.formats.hotspot_files`: its layers, its (swapped) lateral
resistances, full-layer vertical resistances, the spreader and sink and the 12 peripheral
package nodes; with ``-detailed_3D on``, per-cell materials from the floorplan blocks and
half-cell vertical links. Solved exactly (sparse direct) or by HotSpot's own multigrid
iteration; outputs are written in HotSpot's `.steady` and `.grid.steady` layouts. Lengths in m,
powers in W, K.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from chiptherm.discretize.system import EnergyBalance
from chiptherm.errors import FormatError, UnsupportedError
from chiptherm.formats.hotspot_files import (
    CellRange,
    Floorplan,
    HsLayer,
    block_range,
    block_temperature,
    config_number,
    read_flp,
    read_lcf,
    read_materials,
    read_ptrace,
)
from chiptherm.formats.hotspot_multigrid import (
    PACKAGE_NODES,
    is_power_of_two,
    nested_gauss_seidel,
    plain_gauss_seidel,
)
from chiptherm.solvers.network import Network

# -- the grid model ---------------------------------------------------------------
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
            t, used = plain_gauss_seidel(self, net), "gauss-seidel"
        else:
            t, used = nested_gauss_seidel(self, net), "multigrid"
        n_layers = len(self.layers)
        grid = t[: n_layers * self.rows * self.cols].reshape(n_layers, self.rows, self.cols)
        return HotSpotResult(self, grid, t[-PACKAGE_NODES:], net.energy_balance(t), used)

    def coarsened(self) -> HotSpotModel:
        """The same model on a grid with half the rows and columns."""
        return replace(self, rows=self.rows // 2, cols=self.cols // 2)


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
        k: config_number(config, k)
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
