"""The scheduled evaluation (EventBridge, hourly): every complete hour and day window since the
last one stored as final, oldest first and at most ``max_windows`` of each granularity per run
(a long outage is caught up over several runs, never skipped), upserted so that running twice
changes nothing. A window is final once its attribution period has closed; until then it is
provisional and recomputed by every run."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from functions.common.clock import DAY_MS, HOUR_MS, floor_ms
from functions.common.settings import Settings
from functions.common.store.db import Database, execute, fetch_all, fetch_one
from functions.metrics.logic import NO_ARM, Window, window_metrics
from functions.metrics.maths import proportion

ALL = "all"
GRANULARITIES = {"hour": HOUR_MS, "day": DAY_MS}
MAX_WINDOWS = {"hour": 72, "day": 7}  # per run; a longer gap takes several runs
STORED = "metrics/stored_metrics"
MEANS = ("online_auc", "novelty", "diversity")


def scheduled_windows(
    now_ms: int,
    attribution_ms: int,
    resume_ms: Mapping[str, int | None],
    first_ms: int | None,
    max_windows: Mapping[str, int] = MAX_WINDOWS,
) -> list[Window]:
    """Per granularity: the complete windows from ``resume_ms`` (the end of the newest final
    window stored; without one, the window holding ``first_ms``, the first impression) up to
    now: the oldest ``max_windows`` of those whose attribution has closed (final), and, once
    that backlog is caught up, every window still open (provisional). Nothing before the first
    impression."""
    windows: list[Window] = []
    for granularity, size in GRANULARITIES.items():
        latest_end = floor_ms(now_ms, size)
        resume = resume_ms.get(granularity)
        if resume is None:
            if first_ms is None:
                continue
            resume = first_ms
        start = floor_ms(resume, size)  # a window boundary (first_ms is any time)
        ends = list(range(start + size, latest_end + 1, size))
        closed = [end for end in ends if end + attribution_ms <= now_ms]
        still_open = [end for end in ends if end + attribution_ms > now_ms]
        # the backlog of final windows is capped; the open ones are recomputed every run
        for end in closed[: max(0, max_windows.get(granularity, 0))]:
            windows.append(Window(end - size, end, granularity, True))
        if len(closed) <= max_windows.get(granularity, 0):
            windows += [Window(end - size, end, granularity, False) for end in still_open]
    return windows


def _stat_row(name: str, platform: str, model: str, arm: str, position: int, stat: dict) -> dict:
    """One stored row from a proportion (value, numerator, denominator, ci95) or a mean
    (value, count: stored as its sum and its count)."""
    if "count" in stat:
        value, count = stat["value"], stat["count"]
        numerator, denominator, ci = (value or 0.0) * count, count, (None, None)
    else:
        value, numerator, denominator = stat["value"], stat["numerator"], stat["denominator"]
        ci = stat.get("ci95") or (None, None)
    return {
        "name": name, "platform": platform, "model_version": model, "arm": arm,
        "position": position, "value": value, "numerator": numerator,
        "denominator": denominator, "ci_low": ci[0], "ci_high": ci[1],
    }  # fmt: skip


def _pooled(parts: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """One metric of several slices pooled: counts for a proportion, sums for a mean."""
    if name in MEANS:
        count = sum(p[name]["count"] for p in parts)
        total = sum((p[name]["value"] or 0.0) * p[name]["count"] for p in parts)
        return {"value": total / count if count else None, "count": count}
    hits = sum(p[name]["numerator"] for p in parts)
    return proportion(hits, sum(p[name]["denominator"] for p in parts)).as_dict()


def metric_rows(window: Window, report: dict[str, Any], computed_ms: int) -> list[dict[str, Any]]:
    """The stored rows of one window's report: every metric pooled, per platform, per model
    version and per platform x version x arm; PaC and CTR per position."""
    rows = [_stat_row(name, ALL, ALL, ALL, 0, report[name]) for name in ("pac", "ctr", *MEANS)]
    coverage = report["coverage"]
    stat = {"value": coverage["value"], "numerator": coverage["items_shown"],
            "denominator": coverage["catalog_items"]}  # fmt: skip
    rows.append(_stat_row("coverage", ALL, ALL, ALL, 0, stat))
    for part in report["by_position"]:
        for name in ("pac", "ctr"):
            rows.append(_stat_row(name, ALL, ALL, ALL, part["position"], part[name]))
    by_platform: dict[str, list[dict]] = defaultdict(list)
    by_model: dict[str, list[dict]] = defaultdict(list)
    for part in report["breakdown"]:
        by_platform[part["platform"]].append(part)
        by_model[part["model_version"]].append(part)
        arm = part["arm"] or NO_ARM
        for name in ("pac", "ctr", *MEANS):
            rows.append(
                _stat_row(name, part["platform"], part["model_version"], arm, 0, part[name])
            )
    for groups, as_platform in ((by_platform, True), (by_model, False)):
        for key, parts in groups.items():
            platform, model = (key, ALL) if as_platform else (ALL, key)
            for name in ("pac", "ctr", *MEANS):
                rows.append(_stat_row(name, platform, model, ALL, 0, _pooled(parts, name)))
    base = {
        "granularity": window.granularity, "window_start_ms": window.start_ms,
        "window_end_ms": window.end_ms, "k": report["k"], "final": int(window.final),
        "computed_ms": computed_ms,
    }  # fmt: skip
    return [{**base, **row} for row in rows]


def composed_day_rows(
    conn: sqlite3.Connection, window: Window, k: int, computed_ms: int
) -> list[dict[str, Any]] | None:
    """A day window's rows from its 24 stored hours (summed counts, sums and counts; Wilson
    intervals recomputed; coverage counted afresh), or None when not all 24 are stored. Exact:
    an impression's outcome does not depend on the window it is counted in, a feed lies in one
    hour, and a day and its hours share novelty's ranks (functions/metrics/logic.py)."""
    span = {"from_ms": window.start_ms, "to_ms": window.end_ms, "k": k}
    stored = fetch_one(conn, STORED, "hours_stored", {**span, "final": int(window.final)})
    if (
        stored is None
        or int(stored["hours"]) < window.end_ms // HOUR_MS - window.start_ms // HOUR_MS
    ):
        return None
    rows = []
    for row in fetch_all(conn, STORED, "hour_sums", span):
        numerator, denominator = float(row["numerator"]), float(row["denominator"])
        stat: dict[str, Any]
        if row["name"] in MEANS:
            stat = {"value": numerator / denominator if denominator else None,
                    "count": int(denominator)}  # fmt: skip
        else:
            stat = proportion(int(numerator), int(denominator)).as_dict()
        rows.append(_stat_row(row["name"], row["platform"], row["model_version"], row["arm"],
                              int(row["position"]), stat))  # fmt: skip
    shown = fetch_one(conn, STORED, "items_shown_between", span)
    catalog = fetch_one(conn, "metrics/precision_at_curation", "catalog_size")
    items, catalog_items = (
        int(shown["items"]) if shown else 0,
        int(catalog["items"]) if catalog else 0,
    )
    coverage = {"value": items / catalog_items if catalog_items else None, "numerator": items,
                "denominator": catalog_items}  # fmt: skip
    rows.append(_stat_row("coverage", ALL, ALL, ALL, 0, coverage))
    base = {
        "granularity": window.granularity, "window_start_ms": window.start_ms,
        "window_end_ms": window.end_ms, "k": k, "final": int(window.final),
        "computed_ms": computed_ms,
    }  # fmt: skip
    return [{**base, **row} for row in rows]


def run_scheduled(
    db: Database,
    now_ms: int,
    settings: Settings,
    k: int = 10,
    max_windows: Mapping[str, int] = MAX_WINDOWS,
) -> list[dict[str, Any]]:
    """Compute and store (idempotently) every window that :func:`scheduled_windows` names;
    returns the stored rows. Each window is read in one transaction and written in another."""

    def resume(conn: sqlite3.Connection) -> tuple[dict[str, int | None], int | None]:
        ends = {}
        for granularity in GRANULARITIES:
            row = fetch_one(
                conn, STORED, "last_final_window_end", {"granularity": granularity, "k": k}
            )
            ends[granularity] = None if row is None or row["end_ms"] is None else int(row["end_ms"])
        first = fetch_one(conn, STORED, "first_impression")
        return ends, (
            None if first is None or first["served_ms"] is None else int(first["served_ms"])
        )

    resume_ms, first_ms = db.read(resume)
    attribution_ms = int(settings.attribution_window_hours * HOUR_MS)
    stored: list[dict[str, Any]] = []
    for window in scheduled_windows(now_ms, attribution_ms, resume_ms, first_ms, max_windows):

        def compute(conn: sqlite3.Connection, window: Window = window) -> list[dict[str, Any]]:
            if window.granularity == "day":  # hours first (GRANULARITIES): compose the day
                composed = composed_day_rows(conn, window, k, now_ms)
                if composed is not None:
                    return composed
            return metric_rows(window, window_metrics(conn, window, k, None, settings), now_ms)

        rows = db.read(compute)

        def save(
            conn: sqlite3.Connection, rows: list[dict[str, Any]] = rows, window: Window = window
        ) -> None:
            where = {"granularity": window.granularity, "window_start_ms": window.start_ms, "k": k}
            execute(conn, STORED, "delete_window", where)
            for row in rows:
                execute(conn, STORED, "upsert_metric", row)

        db.write(save)
        stored.extend(rows)
    return stored
