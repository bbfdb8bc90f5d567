"""Reference pages of the input documents, written from their pydantic models at build time.

The stack file, the training config and the optimization problem are pydantic models; this
extension walks each of them and writes a section per model (its docstring, then a table of its
keys: type, default, constraints and the field's own docstring), following every nested model
once. Written from the models at build time, the reference cannot drift from what chiptherm
accepts.

``conf.py`` names them (``chiptherm_references = {"stack-file": "chiptherm...Stack"}``); a
page includes ``_generated/fragments/stack-file.md``.
"""

from __future__ import annotations

import importlib
import inspect
import re
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from sphinx.application import Sphinx

CONSTRAINTS = {
    annotated_types.Gt: ("gt", "> {}"),
    annotated_types.Ge: ("ge", "≥ {}"),
    annotated_types.Lt: ("lt", "< {}"),
    annotated_types.Le: ("le", "≤ {}"),
    annotated_types.MinLen: ("min_length", "at least {} entries"),
    annotated_types.MaxLen: ("max_length", "at most {} entries"),
}


ATTRIBUTE = re.compile(r"^    ([\w, ]+):\s*(.*)$")
"""One entry of an ``Attributes:`` section: ``    name: text`` or ``    a, b: text``."""


def import_object(dotted: str) -> Any:
    """The object at ``package.module.Name``."""
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation refers to (through unions, lists, dicts, Annotated)."""
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        for model in models_in(arg):
            if model not in found:
                found.append(model)
    return found


def type_name(annotation: Any) -> str:
    """A short readable name of a field's type: ``float``, ``list[Layer]``, ``'top' | 'bottom'``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        inner = ", ".join("..." if a is Ellipsis else type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    if annotation is type(None):
        return "none"
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))


def constraints(field: FieldInfo) -> str:
    """The numeric and length bounds pydantic checks, as text (``> 0``, ``≥ 1``)."""
    parts = []
    for item in field.metadata:
        for kind, (attribute, text) in CONSTRAINTS.items():
            if isinstance(item, kind):
                parts.append(text.format(getattr(item, attribute)))
    return ", ".join(parts)


def default_text(field: FieldInfo) -> str:
    """The default as a user would write it, or *required*."""
    if field.is_required():
        return "*required*"
    factory = field.default_factory
    value = factory() if factory is not None else field.default  # type: ignore[call-arg]
    if value is PydanticUndefined:
        return "*required*"
    if isinstance(value, BaseModel):
        return "*see below*"
    if value in ({}, [], ()):
        return "empty"
    return f"`{value!r}`" if value is not None else "none"


def cell(text: str) -> str:
    """Text safe inside one cell of a Markdown table."""
    return " ".join(text.split()).replace("|", "\\|")


def attribute_docs(model: type[BaseModel]) -> dict[str, str]:
    """The entries of a Google-style ``Attributes:`` section of the model's docstring, by name
    (``width, depth: ...`` gives both names the text)."""
    entries: dict[str, str] = {}
    names: list[str] = []
    inside = False
    for line in (inspect.getdoc(model) or "").splitlines():
        if line.strip() == "Attributes:":
            inside = True
            continue
        if not inside:
            continue
        if line and not line.startswith(" "):
            break
        match = ATTRIBUTE.match(line)
        if match:
            names = [n.strip() for n in match.group(1).split(",")]
            for name in names:
                entries[name] = match.group(2)
        elif line.strip():
            for name in names:
                entries[name] += " " + line.strip()
    return entries


def model_section(model: type[BaseModel], level: int) -> list[str]:
    """Markdown for one model: a heading, its docstring and the table of its keys."""
    lines = [f"{'#' * level} `{model.__name__}`", ""]
    doc = inspect.getdoc(model) or ""
    if doc and model.__doc__ is not None:
        lines += [doc, ""]
    lines += ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    attributes = attribute_docs(model)
    for name, field in model.model_fields.items():
        key = field.alias or name
        nested = ", ".join(
            f"[{m.__name__}](#{m.__name__.lower()})" for m in models_in(field.annotation)
        )
        meaning = field.description or attributes.get(name, "")
        if nested:
            meaning = f"{meaning} see {nested}".strip()
        lines.append(
            f"| `{key}` | {cell(type_name(field.annotation))} | {cell(default_text(field))} | "
            f"{cell(constraints(field))} | {cell(meaning)} |"
        )
    return [*lines, ""]


def reference(root: type[BaseModel], level: int) -> list[str]:
    """Sections for ``root`` and every model reachable from it, each once, breadth first."""
    order, queue = [], [root]
    while queue:
        model = queue.pop(0)
        if model in order:
            continue
        order.append(model)
        for field in model.model_fields.values():
            queue += [m for m in models_in(field.annotation) if m not in order]
    return [line for model in order for line in model_section(model, level)]


def write_references(app: Sphinx) -> None:
    """Write ``_generated/fragments/PAGE.md`` for each ``PAGE: model`` of the config's
    ``chiptherm_references``."""
    out = Path(app.srcdir) / "_generated" / "fragments"
    out.mkdir(parents=True, exist_ok=True)
    for page, dotted in app.config.chiptherm_references.items():
        text = "\n".join(reference(import_object(dotted), level=2))
        write_if_changed(out / f"{page}.md", text)


def write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` unless ``path`` holds it already (so Sphinx rebuilds only what changed)."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("chiptherm_references", {}, "env")
    app.connect("builder-inited", write_references)
    return {"parallel_read_safe": True, "version": "1"}
