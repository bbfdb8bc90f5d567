"""The package's shape: subpackages in layers, no import cycles, modules of readable size, and
the flat layout's module names still importable for one release."""

from __future__ import annotations

import ast
import importlib
import warnings
from pathlib import Path

import pytest

import chiptherm
from chiptherm.moved import MOVED

PACKAGE = Path(chiptherm.__file__).parent

LAYERS = [
    {"errors"},
    {"atomic", "threads", "moved"},
    {"tasks"},
    {"description"},
    {"discretize"},
    {"solvers"},
    {"formats", "trust"},
    {"analysis", "report"},
    {"transient"},
    {"operator"},
    {"design"},
    {"demo"},
    {"__init__"},
    {"cli"},
    {"__main__"},
]
"""Each part of chiptherm imports only from the parts in the layers below its own."""

MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = ("chiptherm", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(path: Path, known: set[str]) -> set[str]:
    """The chiptherm modules ``path`` imports anywhere in it (in functions, under
    TYPE_CHECKING): ``from a.b import c`` counts as ``a.b.c`` when that is a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found & known


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, set(known)) - {name} for name, path in known.items()}


def part(module: str) -> str:
    """The top-level part of chiptherm that holds ``module``: a subpackage or a module."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "__init__"


def test_no_two_modules_import_each_other_even_through_others():
    graph = import_graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, " ; ".join(" -> ".join(c) for c in cycles)


def test_each_part_imports_only_from_the_layers_below_it():
    layer_of = {name: i for i, layer in enumerate(LAYERS) for name in layer}
    parts = {part(m) for m in modules()}
    assert parts <= set(layer_of), f"parts without a layer: {parts - set(layer_of)}"
    upward = [
        f"{m} imports {dep}"
        for m, deps in import_graph().items()
        for dep in deps
        if part(dep) != part(m) and layer_of[part(dep)] >= layer_of[part(m)]
    ]
    assert not upward, "\n".join(sorted(upward))


def test_every_subpackage_says_what_it_holds():
    folders = {py.parent for py in PACKAGE.rglob("*.py")} - {PACKAGE}
    assert len(folders) >= 9
    for folder in folders:
        init = folder / "__init__.py"
        assert init.exists(), f"{folder.name}/ has no __init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 80, f"{folder.name}/__init__.py has no docstring"


@pytest.mark.parametrize("old", sorted(MOVED))
def test_a_flat_layout_name_still_imports_and_names_its_new_home(old):
    new = importlib.import_module(MOVED[old])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import sys

        sys.modules.pop(old, None)
        module = importlib.import_module(old)
    public = {k: v for k, v in vars(new).items() if not k.startswith("__")}
    assert module is new or all(getattr(module, k) is v for k, v in public.items())
    assert any(MOVED[old] in str(w.message) for w in caught if w.category is DeprecationWarning)


def test_load_stack_keeps_its_old_address_beside_the_rest_of_stack_io():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from chiptherm.stack_io import load_stack, save_stack  # the flat layout's names

    assert load_stack is chiptherm.load_stack and save_stack is chiptherm.save_stack


@pytest.mark.parametrize("name", sorted(n for n in chiptherm.__all__ if f"chiptherm.{n}" in MOVED))
def test_importing_an_old_module_keeps_the_public_function_of_its_name(name):
    public = getattr(chiptherm, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import sys

        sys.modules.pop(f"chiptherm.{name}", None)
        importlib.import_module(f"chiptherm.{name}")
    assert getattr(chiptherm, name) is public and callable(public)


def test_no_module_is_longer_than_a_reader_holds_in_mind():
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (split them by concern): {long}"
