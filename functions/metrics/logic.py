"""Metrics logic: PaC (DESIGN.md section 3), CTR and catalog coverage over impression windows."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from functions.common.clock import DAY_MS, HOUR_MS, floor_ms, to_iso
from functions.common.settings import Settings
from functions.common.store.db import Database, execute, fetch_all, fetch_one
from functions.metrics.maths import proportion

ALL = "all"
GRANULARITIES = {"hour": HOUR_MS, "day": DAY_MS}


@dataclass(frozen=True)
class Window:
    start_ms: int
    end_ms: int
    granularity: str = "custom"
    final: bool = False


def window_metrics(
    conn: sqlite3.Connection, window: Window, k: int, platform: str | None, settings: Settings
) -> dict[str, Any]:
    """PaC@k, CTR@k and coverage over impressions served inside ``window``."""
    params = {
        "from_ms": window.start_ms,
        "to_ms": window.end_ms,
        "k": k,
        "platform": platform,
        "positive_types": settings.positive_event_types,
        "click_types": settings.click_event_types,
        "window_ms": int(settings.attribution_window_hours * HOUR_MS),
        "skew_ms": int(settings.attribution_clock_skew_s * 1000),
    }
    slices = fetch_all(conn, "metrics/precision_at_curation", "pac_by_slice", params)
    shown = fetch_one(conn, "metrics/precision_at_curation", "items_shown", params)
    catalog = fetch_one(conn, "metrics/precision_at_curation", "catalog_size")
    impressions = sum(int(r["impressions"]) for r in slices)
    engaged = sum(int(r["engaged"]) for r in slices)
    clicked = sum(int(r["clicked"]) for r in slices)
    items_shown = int(shown["items"]) if shown else 0
    catalog_items = int(catalog["items"]) if catalog else 0
    return {
        "from": to_iso(window.start_ms),
        "to": to_iso(window.end_ms),
        "k": k,
        "platform": platform,
        "attribution_window_hours": settings.attribution_window_hours,
        "final": window.final,
        "pac": proportion(engaged, impressions).as_dict(),
        "ctr": proportion(clicked, impressions).as_dict(),
        "coverage": {
            "value": items_shown / catalog_items if catalog_items else None,
            "items_shown": items_shown,
            "catalog_items": catalog_items,
        },
        "breakdown": [
            {
                "platform": r["platform"],
                "model_version": r["model_version"],
                "pac": proportion(int(r["engaged"]), int(r["impressions"])).as_dict(),
                "ctr": proportion(int(r["clicked"]), int(r["impressions"])).as_dict(),
            }
            for r in slices
        ],
    }


def scheduled_windows(now_ms: int, attribution_ms: int) -> list[Window]:
    """For hour and day: the last complete window (provisional: its impressions can still earn
    engagement) and the window whose attribution period has just closed (final)."""
    windows = []
    for granularity, size in GRANULARITIES.items():
        latest_end = floor_ms(now_ms, size)
        final_end = floor_ms(now_ms - attribution_ms, size)
        ends = {latest_end: latest_end + attribution_ms <= now_ms, final_end: True}
        for end, final in sorted(ends.items()):
            windows.append(Window(end - size, end, granularity, final))
    return windows


def metric_rows(window: Window, report: dict[str, Any], computed_ms: int) -> list[dict[str, Any]]:
    """The stored rows of one window's report: pooled and per slice for PaC and CTR."""
    base = {
        "granularity": window.granularity,
        "window_start_ms": window.start_ms,
        "window_end_ms": window.end_ms,
        "k": report["k"],
        "final": int(window.final),
        "computed_ms": computed_ms,
    }

    def row(name: str, platform: str, model: str, stat: dict[str, Any]) -> dict[str, Any]:
        ci = stat.get("ci95") or (None, None)
        return {
            **base,
            "name": name,
            "platform": platform,
            "model_version": model,
            "value": stat["value"],
            "numerator": stat.get("numerator", 0),
            "denominator": stat.get("denominator", 0),
            "ci_low": ci[0],
            "ci_high": ci[1],
        }

    rows = [row("pac", ALL, ALL, report["pac"]), row("ctr", ALL, ALL, report["ctr"])]
    coverage = report["coverage"]
    rows.append(
        row(
            "coverage",
            ALL,
            ALL,
            {
                "value": coverage["value"],
                "numerator": coverage["items_shown"],
                "denominator": coverage["catalog_items"],
            },
        )
    )
    for part in report["breakdown"]:
        rows.append(row("pac", part["platform"], part["model_version"], part["pac"]))
        rows.append(row("ctr", part["platform"], part["model_version"], part["ctr"]))
    return rows


def run_scheduled(
    db: Database, now_ms: int, settings: Settings, k: int = 10
) -> list[dict[str, Any]]:
    """Compute and store (idempotently) every scheduled window; returns the stored rows."""
    attribution_ms = int(settings.attribution_window_hours * HOUR_MS)
    stored: list[dict[str, Any]] = []
    for window in scheduled_windows(now_ms, attribution_ms):

        def compute(conn: sqlite3.Connection, window: Window = window) -> dict[str, Any]:
            return window_metrics(conn, window, k, None, settings)

        report = db.read(compute)
        rows = metric_rows(window, report, now_ms)

        def save(conn: sqlite3.Connection, rows: list[dict[str, Any]] = rows) -> None:
            for row in rows:
                execute(conn, "metrics/precision_at_curation", "upsert_metric", row)

        db.write(save)
        stored.extend(rows)
    return stored
