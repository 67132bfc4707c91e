"""Recommendation logic: pick candidates, filter, and log the feed as impressions atomically."""

from __future__ import annotations

import itertools
import json
import random
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace

from functions.common.clock import to_iso
from functions.common.db import Database, execute, fetch_all
from functions.common.model_runtime import ServingModel, serving_models
from functions.common.models import Reason, RecommendationResponse, RecommendedItem
from functions.common.ranking import ANY_PLATFORM, get_popularity
from functions.common.settings import Settings
from functions.recommend.model_ranking import rank_by_session, rank_with_model

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


def _model_candidates(
    model: ServingModel,
    request: FeedRequest,
    db: Database,
    settings: Settings,
    now_ms: int,
    seen: set[str],
    wanted: int,
) -> list[Candidate]:
    """The model's ranking for a user it knows; for one it does not, up to half the feed from
    what follows their own recent engagement (in-session); else nothing."""
    if request.user_id in model.user_index:
        popular = _popular_candidates(request, db, settings, now_ms, seen)
        ranked = rank_with_model(
            model, db, settings, user_id=request.user_id, now_ms=now_ms, excluded=seen,
            extra_candidates=[c.item_id for c in itertools.islice(popular, 100)],
            kind=request.kind, category=request.category, limit=wanted,
        )  # fmt: skip
    else:
        ranked = rank_by_session(
            model, db, settings, user_id=request.user_id, now_ms=now_ms, excluded=seen,
            kind=request.kind, category=request.category, limit=(request.k + 1) // 2,
        )  # fmt: skip
    return [Candidate(item, round(score, 6), "model", kind) for item, score, kind in ranked]


def _exploration(
    model: ServingModel,
    request: FeedRequest,
    db: Database,
    settings: Settings,
    taken: set[str],
) -> list[Candidate]:
    """Up to int(k x exploration_share) of the newest visible items the model has never seen,
    drawn at random from the 50 newest so that new items share the exposure."""
    slots = int(request.k * settings.exploration_share)
    if slots == 0:
        return []
    rows = db.read(lambda c: fetch_all(c, "recommend", "fresh_items", {
        "kind": request.kind, "category": request.category, "limit": 50 + len(taken)}))  # fmt: skip
    new = [r for r in rows if r["item_id"] not in model.item_index and r["item_id"] not in taken]
    picked = random.sample(new[:50], min(slots, len(new[:50])))
    return [Candidate(r["item_id"], 0.0, "exploration", r["kind"]) for r in picked]


def _interleave(items: list[Candidate], extra: list[Candidate], k: int) -> list[Candidate]:
    """``extra`` at evenly spaced positions of a feed of ``k`` (e.g. 1 of 10 at position 5)."""
    if not extra:
        return items[:k]
    out = list(items[: k - len(extra)])
    for n, candidate in enumerate(extra, start=1):
        out.insert(min(len(out), round(n * k / (len(extra) + 1)) - 1), candidate)
    return out[:k]


def choose_items(request: FeedRequest, db: Database, settings: Settings, now_ms: int) -> Feed:
    """The trained model's ranking (or in-session picks for users it does not know), then
    popular items, then the newest; exploration slots for items newer than the model. Never
    seen (if asked) or hidden items."""
    seen = _seen_items(request, db)
    wanted = request.k * 2 + 10  # spare candidates in case some were hidden since caching
    slot = serving_models(db, settings).for_user(request.user_id, settings)
    model = slot.model
    chosen: list[Candidate] = []
    if model is not None:
        chosen = _model_candidates(model, request, db, settings, now_ms, seen, wanted)
    version = model.version if chosen and model is not None else BASELINE_VERSION
    taken = seen | {c.item_id for c in chosen}
    for candidate in _popular_candidates(request, db, settings, now_ms, taken):
        if len(chosen) >= wanted:
            break
        chosen.append(
            replace(candidate, reason="fallback") if slot.status == "error" else candidate
        )
    if len(chosen) < wanted:
        taken = seen | {c.item_id for c in chosen}
        chosen += db.read(lambda c: _fresh_candidates(c, request, wanted + len(taken), taken))
    explore = []
    if model is not None:
        explore = _exploration(model, request, db, settings, seen | {c.item_id for c in chosen})
    if not chosen and not explore:
        return Feed([], version)
    visible = _visible(db, chosen + explore)
    ranked = [c for c in chosen if c.item_id in visible]
    return Feed(
        _interleave(ranked, [c for c in explore if c.item_id in visible], request.k), version
    )


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
