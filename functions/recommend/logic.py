"""Recommendation logic: pick candidates, filter, and log the feed as impressions atomically."""

from __future__ import annotations

import itertools
import json
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace

from functions.common.clock import to_iso
from functions.common.db import Database, execute, fetch_all
from functions.common.model_runtime import get_serving_model
from functions.common.models import Reason, RecommendationResponse, RecommendedItem
from functions.common.ranking import ANY_PLATFORM, get_popularity
from functions.common.settings import Settings
from functions.recommend.model_ranking import rank_with_model

BASELINE_VERSION = "popularity-v1"


@dataclass(frozen=True)
class FeedRequest:
    user_id: str
    k: int = 10
    platform: str | None = None
    kind: str | None = None
    category: str | None = None
    exclude_seen: bool = True


@dataclass(frozen=True)
class Candidate:
    item_id: str
    score: float
    reason: Reason
    kind: str | None


def _popular_candidates(
    request: FeedRequest, db: Database, settings: Settings, now_ms: int, excluded: set[str]
) -> Iterable[Candidate]:
    for item in get_popularity(db, now_ms, settings).for_platform(request.platform):
        if item.item_id in excluded:
            continue
        if request.kind and item.kind != request.kind:
            continue
        if request.category and request.category not in item.categories:
            continue
        yield Candidate(item.item_id, round(item.score, 6), "popular", item.kind)


def _fresh_candidates(
    conn: sqlite3.Connection, request: FeedRequest, limit: int, excluded: set[str]
) -> list[Candidate]:
    rows = fetch_all(
        conn,
        "recommend",
        "fresh_items",
        {"kind": request.kind, "category": request.category, "limit": limit},
    )
    return [
        Candidate(r["item_id"], 0.0, "fresh", r["kind"])
        for r in rows
        if r["item_id"] not in excluded
    ]


def _seen_items(request: FeedRequest, db: Database) -> set[str]:
    if not request.exclude_seen:
        return set()
    rows = db.read(
        lambda c: fetch_all(c, "recommend", "user_seen_items", {"user_id": request.user_id})
    )
    return {r["item_id"] for r in rows}


def _visible(db: Database, chosen: list[Candidate]) -> set[str]:
    ids = [c.item_id for c in chosen]
    rows = db.read(lambda c: fetch_all(c, "recommend", "visible_among", {"item_ids": ids}))
    return {r["item_id"] for r in rows}


@dataclass(frozen=True)
class Feed:
    items: list[Candidate]
    model_version: str


def choose_items(request: FeedRequest, db: Database, settings: Settings, now_ms: int) -> Feed:
    """The trained model's ranking for users it knows; otherwise (or when no usable model is
    active) popular items, then the newest. Never seen (if asked) or hidden items."""
    seen = _seen_items(request, db)
    wanted = request.k * 2 + 10  # spare candidates in case some were hidden since caching
    state = get_serving_model(db, settings.model_check_seconds, settings.ort_threads)
    popular = _popular_candidates(request, db, settings, now_ms, seen)
    chosen: list[Candidate] = []
    version = BASELINE_VERSION
    model = state.model
    if model is not None and request.user_id in model.user_index:
        top_popular = [c.item_id for c in itertools.islice(popular, 100)]
        ranked = rank_with_model(
            model,
            db,
            settings,
            user_id=request.user_id,
            now_ms=now_ms,
            excluded=seen,
            extra_candidates=top_popular,
            kind=request.kind,
            category=request.category,
            limit=wanted,
        )
        chosen = [Candidate(item, round(score, 6), "model", kind) for item, score, kind in ranked]
        version = model.version
        popular = _popular_candidates(request, db, settings, now_ms, seen)
    fallback = state.status == "error"
    taken = {c.item_id for c in chosen}
    for candidate in popular:
        if len(chosen) >= wanted:
            break
        if candidate.item_id not in taken:
            chosen.append(replace(candidate, reason="fallback") if fallback else candidate)
    if len(chosen) < wanted:
        taken = seen | {c.item_id for c in chosen}
        chosen += db.read(lambda c: _fresh_candidates(c, request, wanted + len(taken), taken))
    if not chosen:
        return Feed([], version)
    visible = _visible(db, chosen)
    return Feed([c for c in chosen if c.item_id in visible][: request.k], version)


def recommend(
    request: FeedRequest, db: Database, settings: Settings, now_ms: int
) -> RecommendationResponse:
    feed = choose_items(request, db, settings, now_ms)
    candidates = feed.items
    response = RecommendationResponse(
        recommendation_id=uuid.uuid4().hex,
        user_id=request.user_id,
        model_version=feed.model_version,
        platform=request.platform or ANY_PLATFORM,
        k=request.k,
        served_at=to_iso(now_ms),
        items=[
            RecommendedItem(
                item_id=c.item_id, position=i, score=c.score, reason=c.reason, kind=c.kind
            )
            for i, c in enumerate(candidates, start=1)
        ],
    )
    db.write(lambda conn: record_impressions(conn, response, request, now_ms))
    return response


def record_impressions(
    conn: sqlite3.Connection, response: RecommendationResponse, request: FeedRequest, now_ms: int
) -> None:
    """The feed row and one impression per returned item, exactly as the response carries them."""
    filters = {
        "kind": request.kind,
        "category": request.category,
        "exclude_seen": request.exclude_seen,
    }
    execute(
        conn,
        "recommend",
        "insert_recommendation",
        {
            "recommendation_id": response.recommendation_id,
            "user_id": response.user_id,
            "platform": response.platform,
            "k": response.k,
            "model_version": response.model_version,
            "request": json.dumps(filters),
            "served_ms": now_ms,
        },
    )
    for item in response.items:
        execute(
            conn,
            "recommend",
            "insert_impression",
            {
                "recommendation_id": response.recommendation_id,
                "item_id": item.item_id,
                "user_id": response.user_id,
                "position": item.position,
                "score": item.score,
                "reason": item.reason,
                "model_version": response.model_version,
                "platform": response.platform,
                "served_ms": now_ms,
            },
        )
