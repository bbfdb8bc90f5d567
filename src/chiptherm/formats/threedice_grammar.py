"""The grammars (lark) of 3D-ICE's stack (.stk) and floorplan (.flp) files, and parsing with
errors that name the file, line and column.

The stack grammar covers solid stacks and the three cavity models (``microchannel 4rm``,
``microchannel 2rm``, ``pinfin``) with their ``channel`` stack elements; constructs outside it
(pluggable heat sinks) are refused with their line before parsing.
"""

from __future__ import annotations

import functools
import re

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedInput
from lark.exceptions import VisitError

from chiptherm.errors import FormatError, UnsupportedError

_COMMON = r"""
NUMBER: /[+-]?\d+(\.\d+)?([eE][+-]?\d+)?/
ID: /[A-Za-z][A-Za-z0-9_]*/
PATH: /"[^"\n]*"/
COMMENT: /\/\/[^\n]*/ | /\/\*(.|\n)*?\*\//
%import common.WS
%ignore WS
%ignore COMMENT
"""

STK_GRAMMAR = (
    r"""
start: material+ top_sink? bottom_sink? cavity? dimensions layerdef* die+ stack solver output?
material: "material" ID ":" "thermal" "conductivity" NUMBER ("," NUMBER "," NUMBER)? ";" \
          "volumetric" "heat" "capacity" NUMBER ";"
top_sink: "top" "heat" "sink" ":" sink_body
bottom_sink: "bottom" "heat" "sink" ":" sink_body
sink_body: "heat" "transfer" "coefficient" NUMBER ";" "temperature" NUMBER ";"
cavity: "microchannel" MC4 ":" height channel_length wall_length first_wall? last_wall? \
        wall_material flow htc4 coolant                                           -> mc4rm
      | "microchannel" MC2 ":" height channel_length wall_length wall_material \
        flow htc2 coolant                                                         -> mc2rm
      | "pinfin" ":" height "pin" "diameter" NUMBER ";" "pin" "pitch" NUMBER ";" \
        "pin" "distribution" PINS ";" "pin" "material" ID ";" \
        "darcy" "velocity" NUMBER ";" coolant                                     -> pinfin
MC4: "4rm"
MC2: "2rm"
PINS: "inline" | "staggered"
height: "height" NUMBER ";"
channel_length: "channel" "length" NUMBER ";"
wall_length: "wall" "length" NUMBER ";"
first_wall: "first" "wall" "length" NUMBER ";"
last_wall: "last" "wall" "length" NUMBER ";"
wall_material: "wall" "material" ID ";"
flow: "coolant" "flow" "rate" NUMBER ";"
htc4: "coolant" "heat" "transfer" "coefficient" NUMBER ";"                    -> htc4_one
    | "coolant" "heat" "transfer" "coefficient" "side" NUMBER "," "top" NUMBER "," \
      "bottom" NUMBER ";"                                                         -> htc4_three
htc2: "coolant" "heat" "transfer" "coefficient" NUMBER ";"                    -> htc2_one
    | "coolant" "heat" "transfer" "coefficient" "top" NUMBER "," "bottom" NUMBER ";" -> htc2_two
coolant: "coolant" "volumetric" "heat" "capacity" NUMBER ";" \
         "coolant" "incoming" "temperature" NUMBER ";"
dimensions: "dimensions" ":" "chip" "length" NUMBER "," "width" NUMBER ";" \
            "cell" "length" NUMBER "," "width" NUMBER ";" nonuniform?
nonuniform: "non-uniform" BOOL ";"
BOOL: "true" | "false"
layerdef: "layer" ID ":" "height" NUMBER ";" "material" ID ";"
die: "die" ID ":" dielayer* source dielayer*
source: "source" content
dielayer: "layer" content
content: NUMBER ID ";" -> inline_layer
       | ID ";"        -> ref_layer
stack: "stack" ":" stack_elem+
stack_elem: "die" ID ID "floorplan" PATH ";" -> stack_die
          | "layer" ID ID ";"               -> stack_layer
          | "channel" ID ";"                -> stack_channel
solver: "solver" ":" solver_kind "initial" "temperature" NUMBER ";" ("numofcores" NUMBER ";")?
solver_kind: "steady" ";"                                   -> steady
           | "transient" "step" NUMBER "," "slot" NUMBER ";" -> transient
output: "output" ":" instr+
instr: "T" "(" ID "," NUMBER "," NUMBER "," PATH when? ")" ";"   -> out_t
     | "Tflp" "(" ID "," PATH "," QUANT when? ")" ";"            -> out_tflp
     | "Tflpel" "(" ID "." ID "," PATH "," QUANT when? ")" ";"   -> out_tflpel
     | "Tmap" "(" ID "," PATH when? ")" ";"                      -> out_tmap
     | "Pmap" "(" ID "," PATH when? ")" ";"                      -> out_pmap
     | "T3d" "(" PATH when? ")" ";"                              -> out_t3d
     | "Tcoolant" "(" ID "," PATH "," QUANT when? ")" ";"        -> out_tcoolant
when: "," WHEN
QUANT: "maximum" | "minimum" | "average" | "gradient"
WHEN: "step" | "slot" | "final"
"""
    + _COMMON
)

FLP_GRAMMAR = (
    r"""
start: element+
element: ID ":" shape power?
shape: "position" NUMBER "," NUMBER ";" "dimension" NUMBER "," NUMBER ";" extra* -> posdim
     | rect+                                                                     -> rects
extra: "material" ID ";" | "discretization" NUMBER "," NUMBER ";"
rect: "rectangle" "(" NUMBER "," NUMBER "," NUMBER "," NUMBER ")" ";"
power: "power" "values" NUMBER ("," NUMBER)* ";"
"""
    + _COMMON
)

# constructs outside the solid steady subset, reported with their line
UNSUPPORTED = {
    "plugin": "pluggable heat sinks",
}


@functools.cache
def parser_of(grammar: str) -> Lark:
    """The LALR parser of ``grammar``, built on first use (building one takes 0.1 s, which
    every command would pay at start-up)."""
    return Lark(grammar, parser="lalr", propagate_positions=True)


def _strip_comments(text: str) -> str:
    """Blank out comments (keeping line numbers) so keyword scans ignore them."""
    return re.sub(r"//[^\n]*|/\*(.|\n)*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def parse_text(parser: Lark, text: str, source: str):
    clean = _strip_comments(text)
    for word, what in UNSUPPORTED.items():
        match = re.search(rf"\b{word}\b", clean)
        if match:
            line = clean.count("\n", 0, match.start()) + 1
            raise UnsupportedError(f"{what} are not supported", source=source, line=line)
    try:
        return parser.parse(text)
    except UnexpectedInput as exc:
        column = getattr(exc, "column", None)
        where = f"column {column}: " if column else ""
        if isinstance(exc, UnexpectedCharacters):
            got = repr(text[exc.pos_in_stream : exc.pos_in_stream + 12].split()[0])
        else:
            token = getattr(exc, "token", None)
            got = "end of file" if token is None or token.type == "$END" else repr(str(token))
        expected = sorted(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or [])
        hint = f"; expected {', '.join(_pretty(e) for e in expected[:8])}" if expected else ""
        raise FormatError(
            f"{where}syntax error at {got}{hint}", source=source, line=getattr(exc, "line", None)
        ) from None


def build_tree(builder: Transformer, tree):
    """Run a transformer, re-raising our own errors rather than lark's wrapper."""
    try:
        return builder.transform(tree)
    except VisitError as exc:
        raise exc.orig_exc from None


def _pretty(terminal: str) -> str:
    names = {
        "SEMICOLON": "';'",
        "COLON": "':'",
        "COMMA": "','",
        "LPAR": "'('",
        "RPAR": "')'",
        "DOT": "'.'",
        "NUMBER": "a number",
        "ID": "a name",
        "PATH": 'a "path"',
        "PINS": "inline or staggered",
        "MC4": "4rm",
        "MC2": "2rm",
    }
    if terminal in names:
        return names[terminal]
    if terminal.startswith("__ANON") or terminal.isupper():
        return terminal.lower()
    return terminal


def number(token: Token) -> float:
    return float(token)


def quoted_path(token: Token) -> str:
    return str(token)[1:-1]
