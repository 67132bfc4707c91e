"""Shared output of the benchmarks and the model commands: plain-text tables (the evaluation
metrics among them) and a JSON file with the machine noted."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

METRIC_COLUMNS = ("hr@10", "ndcg@10", "recall@20", "ndcg@20", "auc", "grouped_auc")
"""The offline metrics every evaluation table shows, in this order."""


def machine() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    return str(value)


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def metric_cell(value: Any, sd: Any = None) -> str:
    """``0.7712``, or ``0.7712 ± 0.0041`` with a standard deviation; ``-`` for no value."""
    if not isinstance(value, float):
        return "-"
    if isinstance(sd, float):
        return f"{value:.4f} ± {sd:.4f}"
    return f"{value:.4f}"


def metrics_rows(reports: dict[str, dict[str, Any]]) -> list[list[object]]:
    """One row per model: each metric of :data:`METRIC_COLUMNS` (with its ``<metric>_sd`` where
    the report has one, e.g. over several seeds) and the training time."""
    rows: list[list[object]] = []
    for name, metrics in reports.items():
        rows.append(
            [
                name,
                *[metric_cell(metrics.get(c), metrics.get(f"{c}_sd")) for c in METRIC_COLUMNS],
                f"{metrics.get('train_seconds', float('nan')):.1f}",
            ]
        )
    return rows


def print_metrics(reports: dict[str, dict[str, Any]]) -> None:
    """One row per model: the offline metrics and the training time."""
    print(table(["model", *METRIC_COLUMNS, "train s"], metrics_rows(reports)))
