"""Tables for the terminal (rich) that more than one command could print."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def metrics_table(title: str, rows: list[tuple[str, dict[str, Any]]]) -> Table:
    """A table of evaluation metrics, one row per named result."""
    # no vertical rules, numbers never wrapped: the table fits 80 columns
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    cols = ("maps", "MAE K", "max K", "peak K", "worst K", "rel L2", "MAPE %", "speed")
    table.add_column("kind", justify="left", no_wrap=True)
    for col in cols:
        table.add_column(col, justify="right", no_wrap=True)
    for name, r in rows:
        entries = [(name, r["metrics"], f"{r['speedup']:.0f}x")]
        if "grid_solve_error" in r:  # the refined reference: also show the plain solve's error
            entries.append((f"{name} solver", r["grid_solve_error"], "1x"))
        for label, m, speed in entries:
            table.add_row(
                label,
                str(m["maps"]),
                f"{m['mae_k']:.4f}",
                f"{m['max_abs_k']:.3f}",
                f"{m['peak_error_k']:.3f}",
                f"{m['peak_error_max_k']:.3f}",
                f"{m['rel_l2']:.2e}",
                f"{m['mape_percent']:.4f}",
                speed,
            )
    return table
