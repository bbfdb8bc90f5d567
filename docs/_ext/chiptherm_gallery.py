"""The gallery: a page per example stack in ``examples/``, solved when the docs are built.

Each page carries the stack file's own header comment, its layers, the solve's peak and method,
the map of the hottest layer that carries power, the x-z section through the hottest cell, and
the file itself. The solves are the examples' own grids (0.01-0.3 s each), so a page shows what
``chiptherm solve`` gives for that file today.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sphinx.application import Sphinx

import chiptherm as ct
from chiptherm.report.maps import plot_cross_section, plot_heat_map
from chiptherm.solvers.result import carrier_maps
from chiptherm.threads import set_threads


def header_comment(path: Path) -> str:
    """The ``#`` lines at the top of a YAML file, as one paragraph."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(lines)


def pictures(result: ct.Result, out: Path, stem: str) -> list[str]:
    """Save the hottest power layer's map and the section through the hottest cell; their names."""
    stack, grid, field = result.stack, result.grid, result.temperature
    names = []
    maps = carrier_maps(stack, grid, field)
    if maps:
        label, (source, tmap) = max(maps.items(), key=lambda item: item[1][1].max())
        plot_heat_map(
            tmap,
            stack.size,
            out / f"{stem}_map.png",
            title=f"{stack.name}: {label} (max {tmap.max():.2f} K)",
            blocks=stack.power[source].blocks,
        )
        names.append(f"{stem}_map.png")
    _, y, _ = np.unravel_index(int(np.argmax(field)), field.shape)
    plot_cross_section(
        field[:, y, :],
        grid.x_edges,
        [stack.layers[int(i)].name for i in grid.layer_of_cell],
        out / f"{stem}_section.png",
        title=f"{stack.name}: x–z section through the hottest cell",
    )
    names.append(f"{stem}_section.png")
    return names


def layer_table(stack: ct.Stack) -> list[str]:
    """A Markdown table of the layers, top to bottom."""
    rows = ["| layer | thickness | material | z-cells |", "|---|---|---|---|"]
    for layer in stack.layers:
        extra = f" + {len(layer.regions)} regions" if layer.regions else ""
        rows.append(
            f"| `{layer.name}` | {layer.thickness * 1e6:.4g} µm | {layer.material}{extra} | "
            f"{layer.cells} |"
        )
    return rows


def example_page(path: Path, out: Path, root: Path) -> str:
    """Solve one example and write its pictures; the page's Markdown."""
    stack = ct.load_stack(path)
    result = ct.solve(stack)
    images = pictures(result, out, path.stem)
    relative = path.relative_to(root).as_posix()
    lines = [
        f"# {path.stem}",
        "",
        header_comment(path),
        "",
        "```bash",
        f"chiptherm solve {relative} --out out/{path.stem}",
        "```",
        "",
        f"Peak **{result.temperature.max():.2f} K**, {result.temperature.size:,} cells, "
        f"solved by `{result.info.method}` (relative residual {result.info.relative_residual:.1e}, "
        f"energy balance error {abs(result.balance.relative_error):.1e}).",
        "",
        *layer_table(stack),
        "",
        *[f"![{name}]({name})\n" for name in images],
        "```{literalinclude} " + f"../../../{relative}",
        ":language: yaml",
        "```",
        "",
    ]
    return "\n".join(lines)


def write_gallery(app: Sphinx) -> None:
    """Write ``_generated/gallery/``: a page per ``examples/*.yaml`` and an index of them."""
    set_threads(1)
    root = Path(app.srcdir).parent
    out = Path(app.srcdir) / "_generated" / "gallery"
    out.mkdir(parents=True, exist_ok=True)
    examples = sorted((root / "examples").glob("*.yaml"))
    entries = []
    for path in examples:
        (out / f"{path.stem}.md").write_text(example_page(path, out, root))
        entries.append(f"- [{path.stem}]({path.stem}.md): {header_comment(path).split('. ')[0]}.")
    index = [
        "# Gallery",
        "",
        "Every stack file in `examples/`, solved on its own grid when this site was built.",
        "",
        *entries,
        "",
        "```{toctree}",
        ":hidden:",
        "",
        *[path.stem for path in examples],
        "```",
        "",
    ]
    (out / "index.md").write_text("\n".join(index))


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", write_gallery)
    return {"parallel_read_safe": True, "version": "1"}
