"""A one-page HTML report: tables and images of a run, no external assets."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

from chiptherm.atomic import atomic_write_text


@dataclass
class Section:
    """A heading, an optional paragraph, table rows (label, value) and image file names."""

    title: str
    text: str = ""
    rows: list[tuple[str, str]] = field(default_factory=list)
    images: list[str] = field(default_factory=list)


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6em 0; }
td { padding: 0.2em 1em 0.2em 0; } td.v { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 32em; margin: 0.4em 0.8em 0.4em 0; vertical-align: top; }
"""


def write_index(path: str | Path, title: str, sections: list[Section]) -> Path:
    """Write ``index.html`` (atomically) with one block per section; images are relative paths."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for sec in sections:
        parts.append(f"<h2>{html.escape(sec.title)}</h2>")
        if sec.text:
            parts.append(f"<p>{html.escape(sec.text)}</p>")
        if sec.rows:
            parts.append("<table>")
            for label, value in sec.rows:
                parts.append(
                    f'<tr><td>{html.escape(label)}</td><td class="v">{html.escape(value)}</td></tr>'
                )
            parts.append("</table>")
        for image in sec.images:
            parts.append(f'<img src="{html.escape(image)}" alt="{html.escape(image)}">')
    parts.append("</body></html>")
    atomic_write_text(path, "\n".join(parts) + "\n")
    return Path(path)
