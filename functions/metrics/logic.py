"""The metrics of one window of impressions (DESIGN.md section 3): PaC@k and CTR@k with Wilson
intervals, PaC by position, online AUC, catalog coverage, novelty and intra-list diversity,
pooled and per platform x model version x A/B arm (sql/metrics/precision_at_curation.sql)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from functions.common import clock
from functions.common.clock import DAY_MS, HOUR_MS, floor_ms, to_iso
from functions.common.settings import Settings
from functions.common.store.db import execute, fetch_all, fetch_one, holds_temporary_tables
from functions.metrics.maths import proportion

QUERIES = "metrics/precision_at_curation"
NOVELTY_MS = 7 * DAY_MS  # novelty ranks items by the positive events of the 7 days before
NO_ARM = "none"  # the stored arm of impressions served while no A/B test ran


@dataclass(frozen=True)
class Window:
    start_ms: int
    end_ms: int
    granularity: str = "custom"
    final: bool = False


def _mean(total: float | None, count: int) -> dict[str, Any]:
    return {"value": (float(total or 0.0) / count) if count else None, "count": count}


def _slice_key(row: sqlite3.Row) -> tuple[str, str, str]:
    return (row["platform"], row["model_version"], row["arm"])


def _means(rows: Iterable[sqlite3.Row], total: str, count: str) -> dict[tuple, dict[str, Any]]:
    """Per slice and pooled (key ``()``): the mean of ``total`` over ``count``."""
    out: dict[tuple, dict[str, Any]] = {}
    pooled_total, pooled_count = 0.0, 0
    for row in rows:
        out[_slice_key(row)] = _mean(row[total], int(row[count]))
        pooled_total += float(row[total] or 0.0)
        pooled_count += int(row[count])
    out[()] = _mean(pooled_total, pooled_count)
    return out


def outcome_params(window: Window, k: int, platform: str | None, settings: Settings) -> dict:
    """The parameters of the window's attribution (sql/metrics/precision_at_curation.sql)."""
    return {
        "from_ms": window.start_ms,
        "to_ms": window.end_ms,
        "k": k,
        "platform": platform,
        "positive_types": settings.positive_event_types,
        "click_types": settings.click_event_types,
        "window_ms": int(settings.attribution_window_hours * HOUR_MS),
        "skew_ms": int(settings.attribution_clock_skew_s * 1000),
    }


def fill_outcomes(
    conn: sqlite3.Connection, window: Window, k: int, platform: str | None, settings: Settings
) -> dict[str, Any]:
    """Settle every impression of ``window`` up to ``k`` as engaged and clicked or not (the
    attribution rules of the SQL file); the parameters every query over the outcomes takes.
    SQLite stores them once in temp.window_outcomes; PostgreSQL has no temporary tables (not on
    Aurora DSQL) and computes them inside each of those queries (their .postgresql.sql text)."""
    params = outcome_params(window, k, platform, settings)
    if holds_temporary_tables(conn):
        execute(conn, QUERIES, "create_window_outcomes")
        execute(conn, QUERIES, "clear_window_outcomes")
        execute(conn, QUERIES, "fill_window_outcomes", params)
    return params


def popularity_ranks(conn: sqlite3.Connection, end_ms: int, settings: Settings) -> dict[str, Any]:
    """temp.popularity_ranks as of the end of the day ``end_ms`` falls in (an end on a day
    boundary belongs to the day before), so that a day and each of its hours rank items alike:
    filled once per ended day and connection (the table holds one day's ranks), afresh on
    every call for a day still running (PostgreSQL: computed inside novelty). Returns the
    parameters novelty takes."""
    as_of_ms = floor_ms(end_ms - 1, DAY_MS) + DAY_MS
    params = {
        "as_of_ms": as_of_ms,
        "novelty_ms": NOVELTY_MS,
        "positive_types": settings.positive_event_types,
    }
    if not holds_temporary_tables(conn):
        return params
    execute(conn, QUERIES, "create_popularity_ranks")
    ranked = fetch_one(conn, QUERIES, "popularity_ranked", {"as_of_ms": as_of_ms})
    # a day that has not ended yet gains events: its ranks are never reused
    if not ranked or not ranked["items"] or as_of_ms > clock.now_ms():
        execute(conn, QUERIES, "clear_popularity_ranks")  # one day's ranks at a time
        execute(conn, QUERIES, "fill_popularity_ranks", params)
    return params


def window_metrics(
    conn: sqlite3.Connection, window: Window, k: int, platform: str | None, settings: Settings
) -> dict[str, Any]:
    """Every metric over the impressions served inside ``window`` (position <= ``k``)."""
    outcomes = fill_outcomes(conn, window, k, platform, settings)
    slices = fetch_all(conn, QUERIES, "outcomes_by_slice", outcomes)
    positions = fetch_all(conn, QUERIES, "outcomes_by_position", outcomes)
    shown = fetch_one(conn, QUERIES, "items_shown", outcomes)
    catalog = fetch_one(conn, QUERIES, "catalog_size")
    auc = _means(fetch_all(conn, QUERIES, "feed_auc", outcomes), "auc_sum", "feeds")
    ranks = popularity_ranks(conn, window.end_ms, settings)
    novelty = _means(
        fetch_all(conn, QUERIES, "novelty", {**outcomes, **ranks}), "rank_sum", "impressions"
    )
    diversity = _means(fetch_all(conn, QUERIES, "diversity", outcomes), "share_sum", "feeds")
    impressions = sum(int(r["impressions"]) for r in slices)
    engaged = sum(int(r["engaged"]) for r in slices)
    clicked = sum(int(r["clicked"]) for r in slices)
    items_shown = int(shown["items"]) if shown else 0
    catalog_items = int(catalog["items"]) if catalog else 0
    empty = _mean(0.0, 0)
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
        "online_auc": auc[()],
        "novelty": novelty[()],
        "diversity": diversity[()],
        "by_position": [
            {
                "position": int(r["position"]),
                "pac": proportion(int(r["engaged"]), int(r["impressions"])).as_dict(),
                "ctr": proportion(int(r["clicked"]), int(r["impressions"])).as_dict(),
            }
            for r in positions
        ],
        "breakdown": [
            {
                "platform": r["platform"],
                "model_version": r["model_version"],
                "arm": None if r["arm"] == NO_ARM else r["arm"],
                "pac": proportion(int(r["engaged"]), int(r["impressions"])).as_dict(),
                "ctr": proportion(int(r["clicked"]), int(r["impressions"])).as_dict(),
                "online_auc": auc.get(_slice_key(r), empty),
                "novelty": novelty.get(_slice_key(r), empty),
                "diversity": diversity.get(_slice_key(r), empty),
            }
            for r in slices
        ],
    }
