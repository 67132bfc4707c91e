"""The popularity baseline: time-decayed positive engagements per platform, cached per container.

score(item, platform) = sum over positive events e of item on that platform inside the window of
0.5 ** (age(e) / half_life), plus 0.1 x the same sum over all platforms, so that items popular
elsewhere fill in behind the platform's own favourites. Ages are measured at the middle of the
event's one-hour bucket (SQL groups by hour; the decay is applied here).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field

import numpy as np

from functions.common.clock import HOUR_MS
from functions.common.db import Database, fetch_all
from functions.common.settings import Settings

ANY_PLATFORM = "any"
CROSS_PLATFORM_WEIGHT = 0.1


@dataclass(frozen=True)
class RankedItem:
    item_id: str
    score: float
    kind: str
    categories: frozenset[str]


@dataclass
class PopularityRanking:
    built_ms: int
    by_platform: dict[str, list[RankedItem]] = field(default_factory=dict)

    def for_platform(self, platform: str | None) -> list[RankedItem]:
        """The platform's ranking; a platform with no engagement yet gets the overall one."""
        overall = self.by_platform.get(ANY_PLATFORM, [])
        return self.by_platform.get(platform or ANY_PLATFORM, overall)


def build_popularity(
    conn: sqlite3.Connection, now_ms: int, settings: Settings
) -> PopularityRanking:
    since_ms = now_ms - int(settings.popularity_window_days * 86_400_000)
    params = {
        "since_ms": since_ms,
        "now_ms": now_ms,
        "bucket_ms": HOUR_MS,
        "positive_types": settings.positive_event_types,
    }
    rows = fetch_all(conn, "recommend", "popularity_buckets", params)
    ranking = PopularityRanking(built_ms=now_ms)
    if not rows:
        return ranking
    facets = {
        r["item_id"]: (r["kind"], frozenset(json.loads(r["categories"] or "[]")))
        for r in fetch_all(
            conn, "recommend", "item_facets", {"since_ms": since_ms, "now_ms": now_ms}
        )
    }
    item_ids = [r["item_id"] for r in rows]
    platforms = [r["platform"] for r in rows]
    buckets = np.array([r["bucket"] for r in rows], dtype=np.float64)
    counts = np.array([r["engagements"] for r in rows], dtype=np.float64)
    half_life_ms = settings.popularity_half_life_hours * HOUR_MS
    weights = counts * np.power(0.5, (now_ms - (buckets + 0.5) * HOUR_MS) / half_life_ms)

    unique_items, item_index = np.unique(np.array(item_ids, dtype=object), return_inverse=True)
    overall = np.zeros(len(unique_items))
    np.add.at(overall, item_index, weights)
    platform_array = np.array(platforms, dtype=object)

    def ranked(scores: np.ndarray) -> list[RankedItem]:
        order = np.lexsort((unique_items.astype(str), -scores))
        out = []
        for i in order:
            item_id = str(unique_items[i])
            if item_id in facets and scores[i] > 0:
                kind, categories = facets[item_id]
                out.append(RankedItem(item_id, float(scores[i]), kind, categories))
        return out

    ranking.by_platform[ANY_PLATFORM] = ranked(overall)
    for platform in sorted(set(platforms)):
        mask = platform_array == platform
        own = np.zeros(len(unique_items))
        np.add.at(own, item_index[mask], weights[mask])
        ranking.by_platform[platform] = ranked(own + CROSS_PLATFORM_WEIGHT * overall)
    return ranking


_cache: dict[str, PopularityRanking] = {}
_cache_lock = threading.Lock()


def get_popularity(db: Database, now_ms: int, settings: Settings) -> PopularityRanking:
    """The container's ranking, rebuilt when older than ``popularity_cache_seconds``."""
    with _cache_lock:
        cached = _cache.get("ranking")
        if (
            cached is not None
            and 0 <= now_ms - cached.built_ms < settings.popularity_cache_seconds * 1000
        ):
            return cached
    ranking = db.read(lambda conn: build_popularity(conn, now_ms, settings))
    with _cache_lock:
        _cache["ranking"] = ranking
    return ranking


def clear_popularity_cache() -> None:
    with _cache_lock:
        _cache.clear()
