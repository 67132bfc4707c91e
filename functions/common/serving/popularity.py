"""The popularity baseline: time-decayed positive engagements per platform, from a snapshot.

score(item, platform) = sum over positive events e of item on that platform inside the window of
0.5 ** (age(e) / half_life), plus 0.1 x the same sum over all platforms, so that items popular
elsewhere fill in behind the platform's own favourites. Ages are measured at the middle of the
event's one-hour bucket (SQL groups by hour; the decay is applied here).

The ranking over every event is computed by the snapshot refresh (:func:`build_popularity`,
the scheduled job, ``mediarec refresh``, or a request that finds it missing or stale) and stored
in ``popularity_snapshot``; a request reads only the first rows it needs (:func:`popular_items`).
Scores read later are decayed to the time of the request, which leaves the order unchanged.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from functions.common import caches
from functions.common.clock import HOUR_MS
from functions.common.settings import Settings
from functions.common.store.db import Database, fetch_all, fetch_tuples
from functions.common.store.snapshots import Built, Snapshot

ANY_PLATFORM = "any"
CROSS_PLATFORM_WEIGHT = 0.1
SNAPSHOT = "popularity"


@dataclass(frozen=True)
class PopularItem:
    item_id: str
    score: float
    kind: str


def popularity_info(settings: Settings) -> dict[str, Any]:
    return {
        "window_days": settings.popularity_window_days,
        "half_life_hours": settings.popularity_half_life_hours,
        "positive_types": list(settings.positive_event_types),
    }


def build_popularity(conn: sqlite3.Connection, now_ms: int, settings: Settings) -> Built:
    """Ranked rows (platform, rank, item_id, score) for 'any' and each platform with positive
    engagement in the window, visible catalog items only."""
    params = {
        "since_ms": now_ms - int(settings.popularity_window_days * 86_400_000),
        "now_ms": now_ms,
        "bucket_ms": HOUR_MS,
        "positive_types": settings.positive_event_types,
    }
    buckets = fetch_all(conn, "serving/popularity", "popularity_buckets", params)
    if not buckets:
        return Built([], {"platforms": []})
    items, item_index = np.unique(np.array([r["item_id"] for r in buckets]), return_inverse=True)
    platforms = np.array([r["platform"] for r in buckets])
    hours = np.array([r["bucket"] for r in buckets], dtype=np.float64)
    counts = np.array([r["engagements"] for r in buckets], dtype=np.float64)
    half_life_ms = settings.popularity_half_life_hours * HOUR_MS
    weights = counts * np.power(0.5, (now_ms - (hours + 0.5) * HOUR_MS) / half_life_ms)
    overall = np.bincount(item_index, weights=weights, minlength=len(items))
    rows = _ranked(ANY_PLATFORM, items, overall)
    seen_platforms = sorted(set(platforms.tolist()))
    for platform in seen_platforms:
        mask = platforms == platform
        own = np.bincount(item_index[mask], weights=weights[mask], minlength=len(items))
        rows += _ranked(platform, items, own + CROSS_PLATFORM_WEIGHT * overall)
    return Built(rows, {"platforms": seen_platforms})


def _ranked(platform: str, items: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
    """Best first; ties by item id (``items`` is sorted, and the sort is stable)."""
    order = np.argsort(-scores, kind="stable")
    order = order[scores[order] > 0]
    return [
        {"platform": platform, "rank": rank, "item_id": str(items[i]), "score": float(scores[i])}
        for rank, i in enumerate(order.tolist(), start=1)
    ]


def served_platform(snapshot: Snapshot, platform: str | None) -> str:
    """The platform's own ranking; a platform with no engagement yet gets the overall one."""
    if platform is not None and platform in snapshot.info.get("platforms", []):
        return platform
    return ANY_PLATFORM


def popular_items(
    db: Database,
    snapshot: Snapshot,
    now_ms: int,
    *,
    platform: str | None,
    kind: str | None,
    category: str | None,
    exclude_user: str | None,
    limit: int,
) -> list[PopularItem]:
    """The first ``limit`` popular visible items for the platform and filters, best first,
    without those ``exclude_user`` has events on; empty before the first snapshot."""
    if not snapshot.ready or limit <= 0:
        return []
    params = {
        "generation": snapshot.generation,
        "platform": served_platform(snapshot, platform),
        "kind": kind,
        "category": category,
        "exclude_user": exclude_user,
        "limit": limit,
    }
    rows = db.read(lambda c: fetch_all(c, "serving/popularity", "popular_items", params))
    decay = decay_since(snapshot, now_ms)
    return [PopularItem(r["item_id"], r["score"] * decay, r["kind"]) for r in rows]


@dataclass
class _TopIdsCache:
    generation: int | None = None
    ids: dict[tuple[str, int], list[str]] = field(default_factory=dict)


_top_ids = _TopIdsCache()
_top_ids_lock = threading.Lock()


def top_popular_ids(
    db: Database, snapshot: Snapshot, platform: str | None, count: int
) -> list[str]:
    """The platform's ``count`` most popular item ids, unfiltered (the caller checks visibility
    and filters), cached per container for the snapshot generation, which never changes."""
    if not snapshot.ready or count <= 0:
        return []
    key = (served_platform(snapshot, platform), count)
    with _top_ids_lock:
        if _top_ids.generation != snapshot.generation:
            _top_ids.generation, _top_ids.ids = snapshot.generation, {}
        cached = _top_ids.ids.get(key)
    if cached is not None:
        return cached
    params = {"generation": snapshot.generation, "platform": key[0], "limit": count}
    rows = db.read(lambda c: fetch_tuples(c, "serving/popularity", "top_popular_ids", params))
    ids = [row[0] for row in rows]
    with _top_ids_lock:
        if _top_ids.generation == snapshot.generation:
            _top_ids.ids[key] = ids
    return ids


@caches.register
def clear_popularity_cache() -> None:
    with _top_ids_lock:
        _top_ids.generation, _top_ids.ids = None, {}


def decay_since(snapshot: Snapshot, now_ms: int) -> float:
    """How much every score has decayed between the snapshot and ``now_ms``."""
    half_life_hours = float(snapshot.info.get("half_life_hours", 0) or 0)
    if snapshot.as_of_ms is None or half_life_hours <= 0:
        return 1.0
    elapsed = max(0, now_ms - snapshot.as_of_ms)
    return float(0.5 ** (elapsed / (half_life_hours * HOUR_MS)))
