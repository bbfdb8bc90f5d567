"""HotSpot's grid model written as a native stack with the same conductance network.

A native stack cannot hold HotSpot's model literally: HotSpot links a cell to the next layer
through the *whole* resistance of the upper layer, swaps its lateral resistances on
non-square cells, and lumps the spreader and sink beyond the die into 12 nodes. The native
stack built here has, node for node, the same network:

- the native grid is HotSpot's die grid plus a ring of two cells on every side
  (``cols + 4`` by ``rows + 4`` cells of HotSpot's size);
- each HotSpot layer becomes one native layer whose die region carries HotSpot's lateral
  conductances (an anisotropic material reproduces the swap) and a very high vertical
  conductivity;
- below each layer a thin *link* layer without lateral conduction carries, per region, the
  vertical resistance HotSpot puts between that layer and the next (or ambient): a series
  chain cell–link–cell is exactly one resistor;
- each of the 12 package nodes becomes a strip of ring cells that conducts almost perfectly
  along its length (one isothermal node); across, its conductivity gives HotSpot's edge
  resistances. The inner ring of the spreader and sink layers holds the SP and SINK_C nodes,
  the outer ring of the sink layer the SINK nodes; ring corners and the ring beside the die
  layers are empty (near-zero conductivity).

Solving the converted stack therefore gives HotSpot's grid temperatures (see
tests/formats/test_hotspot_stack.py); its high conductivity contrasts need the direct solver,
which ``auto`` picks for such stacks. Lengths in m, conductivities in W/(m·K).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chiptherm.description.stack import Stack
from chiptherm.description.stack_io import stack_from_dict
from chiptherm.errors import UnsupportedError
from chiptherm.formats.hotspot import HotSpotModel
from chiptherm.formats.hotspot_files import HsLayer

EMPTY = 1e-12
"""Conductivity of empty ring cells and of link layers across, W/(m·K)."""
STIFF = 1e4
"""A layer's vertical conductivity as a multiple of its own k: its half-cells add 5e-5 of
its thickness resistance, which the link layers subtract again."""
ALONG = 1e6
"""A package strip's conductivity along its length as a multiple of the layer's k."""
LINK_THICKNESS = 1e-6
"""Thickness of each link layer, m (only its resistance matters)."""
SINK_HTC = 1e12
"""Heat-transfer coefficient of the bottom face, W/(m²·K): the last link layer carries the
convection resistance instead."""
RING = 4
"""Cells added on every side of the die: gap, inner strip, gap, outer strip."""
SIDES = ("west", "east", "south", "north")


@dataclass(frozen=True)
class Region:
    """A named rectangle of the native grid, in cells: x from i0 (west), y from j0 (south).

    ``axis`` is the axis across a ring region ("x" west/east, "y" south/north; "" the die).
    """

    name: str
    i0: int
    j0: int
    ni: int
    nj: int
    axis: str

    def rect(self, cw: float, ch: float, material: str) -> dict:
        return {
            "x": self.i0 * cw,
            "y": self.j0 * ch,
            "width": self.ni * cw,
            "height": self.nj * ch,
            "material": material,
        }


def regions(rows: int, cols: int) -> dict[str, Region]:
    """The die and, on each side, the rings at distance 1 to 4 from it: ``side.gap``, the
    inner strip ``side``, ``side.gap-outer`` and the outer strip ``side-outer``."""
    r = RING
    out = {"die": Region("die", r, r, cols, rows, "")}
    for d, suffix in ((1, ".gap"), (2, ""), (3, ".gap-outer"), (4, "-outer")):
        out[f"west{suffix}"] = Region(f"west{suffix}", r - d, r, 1, rows, "x")
        out[f"east{suffix}"] = Region(f"east{suffix}", r + cols + d - 1, r, 1, rows, "x")
        out[f"south{suffix}"] = Region(f"south{suffix}", r, r - d, cols, 1, "y")
        out[f"north{suffix}"] = Region(f"north{suffix}", r, r + rows + d - 1, cols, 1, "y")
    return out


def _positive(value: float, what: str) -> float:
    if not value > 0:
        raise UnsupportedError(f"cannot express HotSpot's {what} as a native stack")
    return value


class _Builder:
    """Collects materials and layers of the converted stack."""

    def __init__(self, model: HotSpotModel) -> None:
        self.m = model
        self.cw, self.ch = model.cw, model.ch
        self.area = model.cw * model.ch
        self.regions = regions(model.rows, model.cols)
        self.links = model.package_links()
        self.materials: dict[str, dict] = {"empty": {"conductivity": EMPTY}}

    def material(self, name: str, kx: float, ky: float, kz: float) -> str:
        self.materials[name] = {"conductivity": [kx, ky, kz]}
        return name

    def half_z(self, layer: HsLayer) -> float:
        """Resistance of a layer cell's vertical half, K/W."""
        return layer.thickness / (2 * STIFF * layer.k * self.area)

    def die_conductivity(self, layer: HsLayer) -> tuple[float, float]:
        """(kx, ky) giving HotSpot's swapped lateral links: east-west 1/ry, north-south 1/rx."""
        if not layer.lateral:
            return EMPTY, EMPTY
        ratio = (self.cw / self.ch) ** 2
        return layer.k * ratio, layer.k / ratio

    def half_across(self, axis: str, k: float, layer: HsLayer) -> float:
        """Resistance of half a cell across ``axis`` with conductivity ``k`` there, K/W."""
        t = layer.thickness
        if axis == "x":
            return self.cw / (2 * k * self.ch * t)
        return self.ch / (2 * k * self.cw * t)

    def strip(self, layer: HsLayer, name: str) -> str:
        """A package node: a strip conducting almost perfectly across and along."""
        return self.material(name, ALONG * layer.k, ALONG * layer.k, STIFF * layer.k)

    def gap(self, layer: HsLayer, name: str, axis: str, resistance: float, a: float, b: float):
        """A ring cell conducting only across ``axis``: with the halves ``a`` and ``b`` of
        its neighbours (K/W) the chain is ``resistance`` (K/W)."""
        own = _positive((resistance - a - b) / 2, f"{name} link")
        k = self.half_across(axis, 1.0, layer) / own
        if axis == "x":
            return self.material(name, k, EMPTY, EMPTY)
        return self.material(name, EMPTY, k, EMPTY)

    def link(self, name: str, resistance: float, above: float, below: float) -> str:
        """A link-layer material whose cell, between halves ``above`` and ``below`` (K/W),
        makes the series chain equal ``resistance`` (K/W)."""
        own = _positive((resistance - above - below) / 2, f"vertical link {name}")
        kz = LINK_THICKNESS / (2 * self.area * own)
        return self.material(name, EMPTY, EMPTY, kz)


def layer_name(prefix: str) -> str:
    return prefix.rstrip("_") or "chip"


def stack_from_hotspot(model: HotSpotModel, name: str = "hotspot") -> Stack:
    """A native :class:`Stack` whose discretized network is HotSpot's grid model ``model``."""
    if model.detailed:
        raise UnsupportedError(
            "convert expresses HotSpot's standard grid mode only; drop -detailed_3D on, or "
            "run the model with 'chiptherm hotspot'"
        )
    b = _Builder(model)
    reg, links = b.regions, b.links
    cw, ch, rz = b.cw, b.ch, model.vertical_resistances()
    n_layers = len(model.layers)
    spreader, sink = n_layers - 2, n_layers - 1
    sink_film = 1.0 / (SINK_HTC * b.area)
    layers: list[dict] = []
    power: dict[str, dict] = {}
    for n, layer in enumerate(model.layers):
        lname = layer_name(model.prefixes[n])
        kx, ky = b.die_conductivity(layer)
        die = b.material(lname, kx, ky, STIFF * layer.k)
        entry: dict = {
            "name": lname,
            "thickness": layer.thickness,
            "material": "empty",
            "regions": [reg["die"].rect(cw, ch, die)],
        }
        if n in (spreader, sink):
            edge = links.spreader_edge if n == spreader else links.sink_edge
            strip = b.strip(layer, f"{lname}.strip")
            strip_half = {a: b.half_across(a, ALONG * layer.k, layer) for a in "xy"}
            die_half = {"x": b.half_across("x", kx, layer), "y": b.half_across("y", ky, layer)}
            for side in SIDES:
                a = reg[side].axis
                cells = model.rows if a == "x" else model.cols
                gap = b.gap(layer, f"{lname}.{side}.gap", a, edge[a], die_half[a], strip_half[a])
                entry["regions"] += [
                    reg[f"{side}.gap"].rect(cw, ch, gap),
                    reg[side].rect(cw, ch, strip),
                ]
                if n == sink:
                    r_out = cells * links.inner_to_outer_sink[a]
                    name_out = f"{lname}.{side}.gap-outer"
                    gap_out = b.gap(layer, name_out, a, r_out, strip_half[a], strip_half[a])
                    entry["regions"] += [
                        reg[f"{side}.gap-outer"].rect(cw, ch, gap_out),
                        reg[f"{side}-outer"].rect(cw, ch, strip),
                    ]
        if layer.power and layer.power_w.size:
            blocks = [
                {
                    "name": blk.name,
                    "x": RING * cw + blk.x,
                    "y": RING * ch + blk.y,
                    "width": blk.width,
                    "height": blk.height,
                    "watts": float(p),
                }
                for blk, p in zip(layer.floorplan.blocks, layer.power_w, strict=True)
                if p > 0
            ]
            if blocks:
                power[lname] = {"blocks": blocks}
                entry["power"] = lname
        layers.append(entry)
        layers.append(_link_layer(b, model, n, lname, rz, sink_film))
    data = {
        "name": name,
        "size": [(model.cols + 2 * RING) * cw, (model.rows + 2 * RING) * ch],
        "ambient": model.config["ambient"],
        "materials": b.materials,
        "layers": layers,
        "power": power,
        "boundaries": {"bottom": {"htc": SINK_HTC}},
        "grid": {"nx": model.cols + 2 * RING, "ny": model.rows + 2 * RING},
    }
    return stack_from_dict(data, source=name)


def _link_layer(
    b: _Builder, model: HotSpotModel, n: int, lname: str, rz: np.ndarray, sink_film: float
) -> dict:
    """The link layer below HotSpot layer ``n``: to layer n+1, or to ambient under the sink."""
    layers, reg, links, cw, ch = model.layers, b.regions, b.links, b.cw, b.ch
    last = n == len(layers) - 1
    own = b.half_z(layers[n])
    below = sink_film if last else b.half_z(layers[n + 1])
    name = f"{lname}.link"
    die = b.link(f"{name}.die", rz[n], own, below)
    entry = {
        "name": name,
        "thickness": LINK_THICKNESS,
        "material": "empty",
        "regions": [reg["die"].rect(cw, ch, die)],
    }
    if n == len(layers) - 2:  # spreader strips (SP) down to the inner sink strips (SINK_C)
        sink_half = b.half_z(layers[n + 1])
        for side in SIDES:
            region = reg[side]
            cells = model.rows if region.axis == "x" else model.cols
            r = cells * links.spreader_to_sink[region.axis]
            material = b.link(f"{name}.{side}", r, own, sink_half)
            entry["regions"].append(region.rect(cw, ch, material))
    if last:  # inner (SINK_C) and outer (SINK) sink strips down to ambient
        for side in SIDES:
            axis = reg[side].axis
            cells = model.rows if axis == "x" else model.cols
            for ring, total in (
                (side, links.inner_sink_to_ambient[axis]),
                (f"{side}-outer", links.outer_sink_to_ambient),
            ):
                material = b.link(f"{name}.{ring}", cells * total, own, sink_film)
                entry["regions"].append(reg[ring].rect(cw, ch, material))
    return entry
