"""GET /metrics from the metrics table: an hour or day window that the scheduled run has
computed is answered from its stored rows (a few ms) instead of settling every impression again
(seconds on a large log). The answer is the one the run computed, at ``computed_at``: exact for
a final window, at most one scheduled run old for a provisional one; ``fresh=true`` recomputes.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from functions.common.clock import to_iso
from functions.common.settings import Settings
from functions.common.store.db import fetch_all
from functions.metrics.logic import NO_ARM, Window
from functions.metrics.schedule import ALL, GRANULARITIES, MEANS


def stored_granularity(window: Window) -> str | None:
    """``hour`` or ``day`` when ``window`` is exactly one window of that granularity."""
    for granularity, size in GRANULARITIES.items():
        if window.end_ms - window.start_ms == size and window.start_ms % size == 0:
            return granularity
    return None


def _stat(row: sqlite3.Row, name: str) -> dict[str, Any]:
    if name in MEANS:
        return {"value": row["value"], "count": int(row["denominator"])}
    ci = None if row["ci_low"] is None else [row["ci_low"], row["ci_high"]]
    return {"value": row["value"], "numerator": int(row["numerator"]),
            "denominator": int(row["denominator"]), "ci95": ci}  # fmt: skip


def stored_metrics(
    conn: sqlite3.Connection, window: Window, k: int, settings: Settings
) -> dict[str, Any] | None:
    """The report of ``window`` from its stored rows, or None when none are stored (or the
    window is not one hour or one day)."""
    granularity = stored_granularity(window)
    if granularity is None:
        return None
    params = {"granularity": granularity, "window_start_ms": window.start_ms, "k": k}
    rows = fetch_all(conn, "metrics/stored_metrics", "stored_window", params)
    pooled = {r["name"]: r for r in rows if r["arm"] == ALL and r["platform"] == ALL
              and r["model_version"] == ALL and r["position"] == 0}  # fmt: skip
    if not {"pac", "ctr", "coverage", *MEANS} <= set(pooled):
        return None  # not stored, or not every metric stored: compute it
    coverage = pooled["coverage"]
    slices: dict[tuple[str, str, str], dict[str, Any]] = {}
    positions: dict[int, dict[str, Any]] = {}
    for row in rows:
        if row["position"]:
            positions.setdefault(int(row["position"]), {"position": int(row["position"])})[
                row["name"]
            ] = _stat(row, row["name"])
        elif row["arm"] != ALL:
            part = slices.setdefault(
                (row["platform"], row["model_version"], row["arm"]),
                {"platform": row["platform"], "model_version": row["model_version"],
                 "arm": None if row["arm"] == NO_ARM else row["arm"]},
            )  # fmt: skip
            part[row["name"]] = _stat(row, row["name"])
    return {
        "from": to_iso(window.start_ms),
        "to": to_iso(window.end_ms),
        "k": k,
        "platform": None,
        "attribution_window_hours": settings.attribution_window_hours,
        "final": bool(pooled["pac"]["final"]),
        "pac": _stat(pooled["pac"], "pac"),
        "ctr": _stat(pooled["ctr"], "ctr"),
        "coverage": {
            "value": coverage["value"],
            "items_shown": int(coverage["numerator"]),
            "catalog_items": int(coverage["denominator"]),
        },
        **{name: _stat(pooled[name], name) for name in MEANS},
        "by_position": [positions[p] for p in sorted(positions)],
        "breakdown": [slices[key] for key in sorted(slices)],
        "source": "stored",
        "computed_at": to_iso(int(pooled["pac"]["computed_ms"])),
    }
