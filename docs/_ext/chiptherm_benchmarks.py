"""A table of every recorded benchmark result, read from ``benchmarks/results/`` at build time.

Each JSON file there was written by one script of ``benchmarks/`` (its name starts with the
script's) and records the machine it ran on. The table lists, per file, the script, the
arguments where the file keeps them, and the machine, so no figure on the benchmarks page stands
without the machine that made it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx


def script_of(result: Path, scripts: list[str]) -> str:
    """The benchmark script whose name the result file's name starts with (longest match), or
    ``chiptherm evaluate`` for the accuracy records it writes."""
    name = result.stem
    matches = [s for s in scripts if name.startswith(s)]
    if matches:
        return f"benchmarks/{max(matches, key=len)}.py"
    return "chiptherm evaluate" if "accuracy" in name else "benchmarks/gpu_checks.sh"


def machine_text(data: dict[str, Any], folder: str) -> str:
    """One line for the ``machine`` record of a result: CPU count, processor, GPU, Python; for a
    file without one, the machine its folder is named after (``h200/``) or *not recorded*."""
    machine = data.get("machine")
    if not isinstance(machine, dict):
        if folder == "h200":
            return "NVIDIA H200 (the run of `h200/gpu_checks.log`)"
        return "not recorded (an accuracy record: the machine does not change it)"
    parts = []
    for key in ("gpu", "device_name", "cuda_device"):
        if machine.get(key):
            parts.append(str(machine[key]))
    if machine.get("cpus"):
        parts.append(f"{machine['cpus']} CPUs")
    if machine.get("processor"):
        parts.append(str(machine["processor"]))
    if machine.get("torch"):
        parts.append(f"torch {machine['torch']}")
    if machine.get("python"):
        parts.append(f"Python {machine['python']}")
    return ", ".join(parts) or "recorded without details"


def argv_text(data: dict[str, Any]) -> str:
    """The arguments a result was made with, where it keeps them."""
    for key in ("argv", "settings"):
        value = data.get(key)
        if isinstance(value, list) and value:
            return " ".join(str(v) for v in value)
        if isinstance(value, dict) and value:
            return ", ".join(f"{k}={v}" for k, v in value.items())
    return ""


def results_table(root: Path) -> list[str]:
    """Markdown rows for every ``benchmarks/results/**/*.json``."""
    scripts = sorted(p.stem for p in (root / "benchmarks").glob("*.py"))
    rows = ["| result | script | arguments | machine |", "|---|---|---|---|"]
    for path in sorted((root / "benchmarks" / "results").rglob("*.json")):
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or path.stem.endswith("_model"):
            continue  # a trained model's own metadata, not a measurement
        relative = path.relative_to(root).as_posix()
        arguments = argv_text(data).replace("|", "\\|")
        rows.append(
            f"| `{relative}` | `{script_of(path, scripts)}` | {arguments} | "
            f"{machine_text(data, path.parent.name)} |"
        )
    return rows


def write_results(app: Sphinx) -> None:
    """Write ``_generated/fragments/benchmark-results.md``."""
    root = Path(app.srcdir).parent
    out = Path(app.srcdir) / "_generated" / "fragments"
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmark-results.md").write_text("\n".join([*results_table(root), ""]))


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", write_results)
    return {"parallel_read_safe": True, "version": "1"}
