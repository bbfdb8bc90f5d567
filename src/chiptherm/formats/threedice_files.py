"""3D-ICE's input files, read with their grammar (lark): stack files (.stk) and floorplans
(.flp), into the parsed document (:class:`StkFile`) with errors that name the file and line.
Solid stacks only (no microchannel or pin-fin cavities, no pluggable heat sinks, uniform
grids), steady or transient; what is refused is refused with its line. Lengths in the files are in
µm, conductivities in W/(µm·K), heat-transfer coefficients in W/(µm²·K). Paths inside a .stk
file are relative to the working directory, as in 3D-ICE.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from lark import v_args

from chiptherm.errors import ChipthermWarning, FormatError, UnsupportedError
from chiptherm.formats import read_text
from chiptherm.formats.threedice_cavity import CavityBuilder, IceCavity
from chiptherm.formats.threedice_grammar import (
    STK_GRAMMAR,
    build_tree,
    number,
    parse_text,
    parser_of,
    quoted_path,
)


# -- the parsed document ---------------------------------------------------------------
@dataclass
class IceMaterial:
    conductivity: tuple[float, float, float]  # W/(µm·K), (kx, ky, kz)
    heat_capacity: float | None = None  # J/(µm³·K), volumetric


@dataclass
class IceSink:
    htc: float  # W/(µm²·K)
    temperature: float  # K


@dataclass
class IceLayer:
    height: float  # µm
    material: str


@dataclass
class IceDie:
    name: str
    layers: list[IceLayer]  # top first
    source_index: int  # index into layers


@dataclass
class IceElement:
    """A stack element (top first): a die with its floorplan, a single layer, or a cavity
    (``channel``, whose section is the file's cavity)."""

    name: str
    kind: str  # 'die', 'layer' or 'channel'
    ref: str
    floorplan: Path | None = None
    line: int | None = None


@dataclass
class Output:
    kind: str  # T, Tflp, Tflpel, Tmap, Pmap, Tcoolant, T3d
    element: str
    path: str
    when: str = "final"
    quantity: str = ""
    x: float = 0.0
    y: float = 0.0
    floorplan_element: str = ""


@dataclass(frozen=True)
class IceTransient:
    """A transient run's timing: backward-Euler steps of ``step`` s, power changing every
    ``slot`` s (``steps_per_slot`` steps); ``line`` is where the file says so."""

    step: float
    slot: float
    steps_per_slot: int
    line: int | None = None


@dataclass
class StkFile:
    materials: dict[str, IceMaterial]
    top_sink: IceSink | None
    bottom_sink: IceSink | None
    chip: tuple[float, float]  # length (x), width (y), µm
    cell: tuple[float, float]
    layers: dict[str, IceLayer]
    dies: dict[str, IceDie]
    stack: list[IceElement]
    outputs: list[Output] = field(default_factory=list)
    source: str = ""
    transient: IceTransient | None = None  # None: a steady run
    initial_temperature: float = 300.0  # K, every cell at the start of a transient run
    cavity: IceCavity | None = None  # the section every 'channel' stack element is


@v_args(inline=True)
class _StkBuilder(CavityBuilder):
    def __init__(self, filename: str) -> None:
        super().__init__()
        self.filename = filename

    def material(self, name, *numbers):
        values = [number(n) for n in numbers]
        k = (values[0],) * 3 if len(values) == 2 else tuple(values[:3])
        if any(v <= 0 for v in k):
            raise FormatError(
                f"material {name}: conductivity must be > 0", source=self.filename, line=name.line
            )
        capacity = values[-1] if values[-1] > 0 else None  # 0 is common where unused (steady)
        return ("material", str(name), IceMaterial(k, capacity))  # type: ignore[arg-type]

    def sink_body(self, h, t):
        return IceSink(number(h), number(t))

    def top_sink(self, body):
        return ("top_sink", body)

    def bottom_sink(self, body):
        return ("bottom_sink", body)

    def nonuniform(self, value):
        if str(value) == "true":
            raise UnsupportedError(
                "non-uniform grids are not supported", source=self.filename, line=value.line
            )
        return None

    def dimensions(self, lx, wy, cl, cw, *_):
        return ("dimensions", (number(lx), number(wy)), (number(cl), number(cw)))

    def layerdef(self, name, height, material):
        return ("layerdef", str(name), IceLayer(number(height), str(material)))

    def inline_layer(self, height, material):
        return IceLayer(number(height), str(material))

    def ref_layer(self, name):
        return str(name)

    def dielayer(self, content):
        return ("layer", content)

    def source(self, content):
        return ("source", content)

    def die(self, name, *items):
        return ("die", str(name), list(items))

    def stack_die(self, eid, die, path):
        floorplan = floorplan_path(
            Path(quoted_path(path)), self.filename, getattr(path, "line", None)
        )
        return IceElement(str(eid), "die", str(die), floorplan)

    def stack_layer(self, eid, layer):
        return IceElement(str(eid), "layer", str(layer))

    def stack_channel(self, eid):
        return IceElement(str(eid), "channel", "", line=eid.line)

    def stack(self, *elements):
        return ("stack", list(elements))

    def steady(self):
        return None

    def transient(self, step, slot):
        line = step.line
        step_s, slot_s = number(step), number(slot)
        if not (step_s > 0 and slot_s > 0):
            raise FormatError(
                f"transient step {step_s:g}, slot {slot_s:g}: both must be > 0 s",
                source=self.filename,
                line=line,
            )
        steps = round(slot_s / step_s)
        if steps < 1 or abs(slot_s / step_s - steps) > 1e-9 * steps:
            raise FormatError(
                f"transient step {step_s:g}, slot {slot_s:g}: the slot must be a whole "
                "number of steps",
                source=self.filename,
                line=line,
            )
        return IceTransient(step_s, slot_s, steps, line)

    def solver(self, kind, initial, *_):
        return ("solver", kind, number(initial))

    def when(self, token):
        return str(token)

    def out_t(self, eid, x, y, path, when="final"):
        return Output("T", str(eid), quoted_path(path), when, x=number(x), y=number(y))

    def out_tflp(self, eid, path, quant, when="final"):
        return Output("Tflp", str(eid), quoted_path(path), when, quantity=str(quant))

    def out_tflpel(self, eid, elem, path, quant, when="final"):
        return Output(
            "Tflpel",
            str(eid),
            quoted_path(path),
            when,
            quantity=str(quant),
            floorplan_element=str(elem),
        )

    def out_tmap(self, eid, path, when="final"):
        return Output("Tmap", str(eid), quoted_path(path), when)

    def out_pmap(self, eid, path, when="final"):
        return Output("Pmap", str(eid), quoted_path(path), when)

    def out_tcoolant(self, eid, path, quant, when="final"):
        return Output("Tcoolant", str(eid), quoted_path(path), when, quantity=str(quant))

    def out_t3d(self, path, when="final"):
        return Output("T3d", "", quoted_path(path), when)

    def output(self, *instrs):
        return ("output", list(instrs))


def floorplan_path(path: Path, stk: str, line: int | None) -> Path:
    """Where a die's floorplan is: relative to the working directory, as 3D-ICE reads it, or,
    when it is not there, beside the .stk file (with a warning that says so).

    Raises:
        FormatError: in neither place, naming the .stk file and line.
    """
    if path.is_absolute() or path.exists():
        if not path.exists():
            raise FormatError(f"floorplan {path} does not exist", source=stk, line=line)
        return path
    beside = Path(stk).parent / path
    if beside.exists():
        if Path(stk).parent.resolve() != Path.cwd().resolve():
            warnings.warn(
                f"{stk}:{line}: floorplan {path} is not in the working directory, where 3D-ICE "
                f"looks for it; using {beside}, beside the .stk file",
                ChipthermWarning,
                stacklevel=2,
            )
        return beside
    raise FormatError(
        f"floorplan {path} is neither in the working directory (where 3D-ICE looks) nor beside "
        "the .stk file",
        source=stk,
        line=line,
    )


def read_stk(path: str | Path) -> StkFile:
    """Parse and check a 3D-ICE .stk file (floorplans are read by :func:`build_model`)."""
    source = str(path)
    text = read_text(path)
    tree = parse_text(parser_of(STK_GRAMMAR), text, source)
    items = build_tree(_StkBuilder(source), tree).children
    materials: dict[str, IceMaterial] = {}
    layers: dict[str, IceLayer] = {}
    dies: dict[str, IceDie] = {}
    top = bottom = None
    chip = cell = (0.0, 0.0)
    stack: list[IceElement] = []
    outputs: list[Output] = []
    transient, initial = None, 300.0
    cavity = None
    for item in items:
        tag = item[0]
        if tag == "material":
            materials[item[1]] = item[2]
        elif tag == "top_sink":
            top = item[1]
        elif tag == "bottom_sink":
            bottom = item[1]
        elif tag == "cavity":
            cavity = item[1]
        elif tag == "dimensions":
            chip, cell = item[1], item[2]
        elif tag == "layerdef":
            layers[item[1]] = item[2]
        elif tag == "die":
            die_layers: list[IceLayer] = []
            source_index = -1
            for kind, content in item[2]:
                layer = content if isinstance(content, IceLayer) else layers.get(content)
                if layer is None:
                    raise FormatError(f"die {item[1]}: unknown layer {content!r}", source=source)
                if kind == "source":
                    source_index = len(die_layers)
                die_layers.append(layer)
            dies[item[1]] = IceDie(item[1], die_layers, source_index)
        elif tag == "stack":
            stack = item[1]
        elif tag == "output":
            outputs = item[1]
        elif tag == "solver":
            transient, initial = item[1], item[2]
    doc = StkFile(
        materials,
        top,
        bottom,
        chip,
        cell,
        layers,
        dies,
        stack,
        outputs,
        source,
        transient,
        initial,
        cavity,
    )
    _check(doc)
    return doc


def used_materials(doc: StkFile) -> list[str]:
    """The materials of the layers the stack uses, each once, top first."""
    names: list[str] = []
    for el in doc.stack:
        if el.kind == "channel":
            wanted = [doc.cavity.wall_material] if doc.cavity else []
        else:
            pool = doc.dies[el.ref].layers if el.kind == "die" else [doc.layers[el.ref]]
            wanted = [la.material for la in pool]
        names += [m for m in wanted if m not in names]
    return names


def _check(doc: StkFile) -> None:
    src = doc.source
    for die in doc.dies.values():
        for layer in die.layers:
            if layer.material not in doc.materials:
                raise FormatError(
                    f"die {die.name}: unknown material {layer.material!r}", source=src
                )
    for name, layer in doc.layers.items():
        if layer.material not in doc.materials:
            raise FormatError(f"layer {name}: unknown material {layer.material!r}", source=src)
        if layer.height <= 0:
            raise FormatError(f"layer {name}: height must be > 0", source=src)
    names = set()
    for el in doc.stack:
        if el.name in names:
            raise FormatError(f"stack element {el.name!r} is defined twice", source=src)
        names.add(el.name)
        if el.kind == "channel":
            continue
        pool = doc.dies if el.kind == "die" else doc.layers
        if el.ref not in pool:
            raise FormatError(f"stack element {el.name}: unknown {el.kind} {el.ref!r}", source=src)
    if min(doc.chip + doc.cell) <= 0:
        raise FormatError("dimensions must be > 0", source=src)
    if doc.cell[0] > doc.chip[0] or doc.cell[1] > doc.chip[1]:
        raise FormatError("the cell is larger than the chip", source=src)
    _check_cavity(doc)
    if doc.top_sink is None and doc.bottom_sink is None and doc.cavity is None:
        if doc.transient is None:
            raise FormatError(
                "no heat sink: the steady system is singular (add 'top heat sink' or "
                "'bottom heat sink')",
                source=src,
            )
        stored = [m for m in used_materials(doc) if doc.materials[m].heat_capacity is None]
        if stored:
            raise FormatError(
                f"no heat sink and material {stored[0]!r} has no volumetric heat capacity: "
                "the transient system is singular (give it one, or add a heat sink)",
                source=src,
            )
    for out in doc.outputs:
        if out.kind == "T3d":
            raise UnsupportedError("T3d (VTK) output is not supported", source=src)
        if out.element not in names:
            raise FormatError(f"{out.kind}: unknown stack element {out.element!r}", source=src)
        if (
            out.kind in ("Tflp", "Tflpel")
            and next(e for e in doc.stack if e.name == out.element).kind != "die"
        ):
            raise FormatError(f"{out.kind}: {out.element!r} is not a die", source=src)
        if (
            out.kind == "Tcoolant"
            and next(e for e in doc.stack if e.name == out.element).kind != "channel"
        ):
            raise FormatError(f"Tcoolant: {out.element!r} is not a channel", source=src)


def _check_cavity(doc: StkFile) -> None:
    """A cavity's wall material exists; a ``channel`` element has a cavity section, is
    neither the top- nor the bottom-most element, and has no channel beside it (3D-ICE's
    rules)."""
    src, cavity = doc.source, doc.cavity
    if cavity is not None and cavity.wall_material not in doc.materials:
        raise FormatError(
            f"{cavity.model} cavity: unknown wall material {cavity.wall_material!r}",
            source=src,
            line=cavity.line,
        )
    for i, el in enumerate(doc.stack):
        if el.kind != "channel":
            continue
        where = {"source": src, "line": el.line}
        if cavity is None:
            raise FormatError(
                f"channel {el.name}: the file declares no cavity ('microchannel 4rm', "
                "'microchannel 2rm' or 'pinfin' section before 'dimensions')",
                **where,
            )
        if i in (0, len(doc.stack) - 1):
            end = "top" if i == 0 else "bottom"
            raise FormatError(f"channel {el.name} cannot be the {end}-most stack element", **where)
        if doc.stack[i + 1].kind == "channel":
            raise FormatError(
                f"channels {el.name} and {doc.stack[i + 1].name} are adjacent: put a die or "
                "a layer between them",
                **where,
            )
