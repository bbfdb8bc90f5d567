"""Conversion of other tools' inputs into native stacks (where the native format can say it).

A 3D-ICE solid stack converts exactly: each 3D-ICE layer becomes one single-cell layer (µm to
m, W/(µm·K) to W/(m·K)), floorplan rectangles become power blocks, heat sinks become
convective faces, and 3D-ICE's full-height half-cell on an edge layer without a sink becomes a
contact resistance at that layer's inner interface, so the converted stack has the same
discretized system. The power values of a transient stack's time slots become a power trace
(:func:`chiptherm.transient.threedice.trace_from_3dice`) for ``chiptherm transient``.
"""

from __future__ import annotations

from chiptherm.description.stack import Stack
from chiptherm.description.stack_io import stack_from_dict
from chiptherm.errors import UnsupportedError
from chiptherm.formats.threedice import warn_unused_slots
from chiptherm.formats.threedice_files import StkFile
from chiptherm.formats.threedice_floorplan import IceFlpElement, read_ice_flp

UM = 1e-6


def stack_from_3dice(doc: StkFile, name: str = "3d-ice") -> Stack:
    """A native :class:`Stack` with the same discretized system as 3D-ICE's model of ``doc``.

    Raises:
        UnsupportedError: ``doc`` has a cavity (3D-ICE's cavity models are not chiptherm's
            ``channels:``; such a stack runs with ``chiptherm 3dice``).
    """
    if doc.cavity is not None:
        raise UnsupportedError(
            f"a {doc.cavity.model} cavity cannot be converted: 3D-ICE's cavity models differ "
            "from chiptherm's channels (see docs/tutorials/moving-over.md); run the file with "
            "'chiptherm 3dice'",
            source=doc.source,
            line=doc.cavity.line,
        )
    cl, cw = doc.cell
    n_cols, n_rows = int(doc.chip[0] / cl), int(doc.chip[1] / cw)
    materials = {
        mname: {"conductivity": [k * 1e6 for k in m.conductivity]}
        | ({} if m.heat_capacity is None else {"heat_capacity": m.heat_capacity * 1e18})
        for mname, m in doc.materials.items()
    }
    layers: list[dict] = []  # top first
    power: dict[str, dict] = {}
    read: list[IceFlpElement] = []
    for el in doc.stack:
        if el.kind == "layer":
            la = doc.layers[el.ref]
            layers.append({"name": el.name, "thickness": la.height * UM, "material": la.material})
            continue
        die = doc.dies[el.ref]
        blocks = []
        elements = read_ice_flp(el.floorplan, doc.chip)  # type: ignore[arg-type]
        read += elements
        for fe in elements:
            for i, (x, y, lx, wy) in enumerate(fe.rects):
                watts = (fe.power or 0.0) * lx * wy / fe.area
                blocks.append(
                    {
                        "name": fe.name if len(fe.rects) == 1 else f"{fe.name}.{i}",
                        "x": x * UM,
                        "y": y * UM,
                        "width": lx * UM,
                        "height": wy * UM,
                        "watts": watts,
                    }
                )
        if blocks:
            power[el.name] = {"blocks": blocks}
        for i, la in enumerate(die.layers):
            entry = {"name": f"{el.name}.{i}", "thickness": la.height * UM, "material": la.material}
            if i == die.source_index and blocks:
                entry["power"] = el.name
                entry["name"] = el.name
            layers.append(entry)
    if doc.transient is None:
        warn_unused_slots(read)
    kz = {mname: m.conductivity[2] * 1e6 for mname, m in doc.materials.items()}
    if doc.bottom_sink is None and len(layers) > 1:
        bottom = layers[-1]
        layers[-2]["contact_resistance"] = bottom["thickness"] / (2 * kz[bottom["material"]])
    if doc.top_sink is None and len(layers) > 1:
        top = layers[0]
        layers[0]["contact_resistance"] = layers[0].get("contact_resistance", 0.0) + top[
            "thickness"
        ] / (2 * kz[top["material"]])
    boundaries = {}
    for face, sink in (("top", doc.top_sink), ("bottom", doc.bottom_sink)):
        if sink is not None:
            boundaries[face] = {"htc": sink.htc * 1e12, "ambient": sink.temperature}
    data = {
        "name": name,
        # 3D-ICE truncates the grid to whole cells; so does the converted chip
        "size": [n_cols * cl * UM, n_rows * cw * UM],
        "ambient": (doc.top_sink or doc.bottom_sink).temperature,  # type: ignore[union-attr]
        "materials": materials,
        "layers": layers,
        "power": power,
        "boundaries": boundaries,
        "grid": {"nx": n_cols, "ny": n_rows},
    }
    return stack_from_dict(data, source=doc.source)
