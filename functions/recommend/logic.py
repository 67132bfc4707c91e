"""Recommendation logic: pick candidates, filter, and log the feed as impressions atomically."""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import uuid
from dataclasses import dataclass, replace

from functions.common.clock import to_iso
from functions.common.http.schemas import Reason, RecommendationResponse, RecommendedItem
from functions.common.serving import features as F
from functions.common.serving.model_runtime import (
    ModelSlot,
    ServingModel,
    ab_arm,
    serving_models,
)
from functions.common.serving.online_features import history_query
from functions.common.serving.popularity import ANY_PLATFORM, popular_items, top_popular_ids
from functions.common.serving.snapshot_refresh import serving_snapshot_names, serving_snapshots
from functions.common.settings import Settings
from functions.common.store import snapshots, sql, tombstones
from functions.common.store.db import (
    Database,
    dialect_of,
    execute,
    executemany,
    fetch_all,
    fetch_all_of,
)
from functions.common.store.snapshots import Snapshot, SnapshotGone
from functions.common.store.sql import Query
from functions.recommend.model_ranking import rank_by_session, rank_with_model

logger = logging.getLogger(__name__)
BASELINE_VERSION = "popularity-v1"
POPULAR_CANDIDATES = 100  # popular items the model ranks beside its own retrieval
EXPLORATION_POOL = 50  # exploration draws from the model's next this many, and as many new items


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
    propensity: float = 1.0  # P(the policy put this item in this feed): 1 unless drawn


def _newest(db: Database, request: FeedRequest, limit: int, taken: set[str]) -> list[sqlite3.Row]:
    """The newest visible items that pass the filters, without the user's seen items (when
    asked) and ``taken``."""
    params = {
        "kind": request.kind,
        "category": request.category,
        "exclude_user": request.user_id if request.exclude_seen else None,
        "limit": limit + len(taken),
    }
    rows = db.read(lambda c: fetch_all(c, "recommend", "fresh_items", params))
    return [r for r in rows if r["item_id"] not in taken][:limit]


def _seen_query(request: FeedRequest) -> Query:
    return sql.named("recommend", "user_seen_items", {"user_id": request.user_id})


def _seen_items(request: FeedRequest, db: Database) -> set[str]:
    if not request.exclude_seen:
        return set()
    rows = db.read(lambda c: fetch_all_of(c, _seen_query(request)))
    return {r["item_id"] for r in rows}


def _user_state_queries(
    request: FeedRequest, model: ServingModel | None, now_ms: int
) -> list[Query]:
    """The reads of a feed that depend on nothing read before them: sent together where a
    read costs a round trip (:meth:`Database.prefetch`)."""
    queries = [_seen_query(request)] if request.exclude_seen else []
    queries.append(snapshots.named_query(serving_snapshot_names(model.spec if model else None)))
    if model is not None:
        known = request.user_id in model.user_index
        if known:
            queries.append(tombstones.deleted_query(request.user_id))  # forgotten since?
        if model.history_length > 0 and (known or model.has_history):
            queries.append(history_query(model, request.user_id, now_ms))
        if known:
            queries.append(F.one_user_query(model.spec, now_ms, request.user_id))
    return queries


@dataclass(frozen=True)
class Feed:
    items: list[Candidate]
    model_version: str
    arm: str | None = None  # the user's A/B arm while a test runs (model_runtime.ab_arm)


def _model_candidates(
    model: ServingModel,
    features: Snapshot,
    request: FeedRequest,
    db: Database,
    settings: Settings,
    now_ms: int,
    seen: set[str],
    popular: list[str],
    limit: int,
) -> list[Candidate]:
    """The model's best ``limit`` for a user it knows; for one it does not (or that was deleted
    after its training data was read), up to half the feed from what follows their own recent
    engagement (in-session); else nothing."""
    if request.user_id in model.user_index and not _forgotten(model, request.user_id, db):
        ranked = rank_with_model(
            model, db, features, user_id=request.user_id, now_ms=now_ms, excluded=seen,
            extra_candidates=popular,
            kind=request.kind, category=request.category,
            retrieval_candidates=settings.retrieval_candidates, limit=limit,
        )  # fmt: skip
    else:
        ranked = rank_by_session(
            model, db, features, user_id=request.user_id, now_ms=now_ms, excluded=seen,
            kind=request.kind, category=request.category, limit=(request.k + 1) // 2,
        )  # fmt: skip
    return [Candidate(item, round(score, 6), "model", kind) for item, score, kind in ranked]


def _forgotten(model: ServingModel, user_id: str, db: Database) -> bool:
    """Whether a user ``model`` knows was deleted at or after its training data was read, so
    that its embedding of them must not be used: one primary-key read of the tombstones, paid
    only by users the model knows."""
    return tombstones.forgets(model.data_read_ms, tombstones.deleted_ms(db, user_id))


def _exploration(
    model: ServingModel,
    request: FeedRequest,
    db: Database,
    settings: Settings,
    ranked_beyond: list[Candidate],
    taken: set[str],
    rng: random.Random,
) -> list[Candidate]:
    """Up to int(k x exploration_share) items drawn uniformly without replacement from a pool:
    the model's next EXPLORATION_POOL ranked items after the feed's ranked part
    (``ranked_beyond``), and the EXPLORATION_POOL newest visible unseen items the model has never
    seen, so that new items share the exposure. ``rng`` is seeded by the recommendation id (a
    logged feed can be replayed). Each drawn item's propensity, the chance that the draw put it
    in the feed, is slots / the pool's size: what off-policy estimates divide by."""
    slots = int(request.k * settings.exploration_share)
    if slots == 0:
        return []
    pool = {c.item_id: c for c in ranked_beyond[:EXPLORATION_POOL] if c.item_id not in taken}
    for r in _newest(db, request, EXPLORATION_POOL, taken):
        if r["item_id"] not in model.item_index and r["item_id"] not in pool:
            pool[r["item_id"]] = Candidate(r["item_id"], 0.0, "exploration", r["kind"])
    if not pool:
        return []
    drawn = rng.sample(list(pool.values()), min(slots, len(pool)))
    share = len(drawn) / len(pool)
    return [replace(c, score=0.0, reason="exploration", propensity=share) for c in drawn]


def _interleave(
    items: list[Candidate], extra: list[Candidate], k: int, rng: random.Random
) -> list[Candidate]:
    """``items`` in order with ``extra`` at positions drawn uniformly (with ``rng``) among the
    feed's, so that the position of an explored item is independent of the item: that is what
    lets the evaluation measure position bias on those slots."""
    if not extra:
        return items[:k]
    out = list(items[: k - len(extra)])
    length = len(out) + len(extra)
    for position, candidate in sorted(
        zip(rng.sample(range(length), len(extra)), extra, strict=True)
    ):
        out.insert(position, candidate)
    return out[:k]


def _popular(
    request: FeedRequest, db: Database, popularity: Snapshot, now_ms: int, limit: int
) -> list[Candidate]:
    items = popular_items(
        db, popularity, now_ms, platform=request.platform, kind=request.kind,
        category=request.category,
        exclude_user=request.user_id if request.exclude_seen else None, limit=limit,
    )  # fmt: skip
    return [Candidate(i.item_id, round(i.score, 6), "popular", i.kind) for i in items]


def choose_items(
    request: FeedRequest,
    db: Database,
    settings: Settings,
    now_ms: int,
    seed: str = "",
    slot: ModelSlot | None = None,
) -> Feed:
    """The trained model's ranking (or in-session picks for users it does not know), then
    popular items, then the newest; under a model, exploration slots drawn with ``seed`` (from
    its next-ranked items and items newer than it) at drawn positions. Never seen (if asked)
    or hidden items. ``slot`` replaces the registry's model (an off-policy replay of a
    candidate)."""
    if slot is None:
        slot = serving_models(db, settings).for_user(request.user_id, settings)
    model = slot.model
    db.prefetch(_user_state_queries(request, model, now_ms))
    seen = _seen_items(request, db)
    snaps = serving_snapshots(db, settings, model.spec if model else None, now_ms)
    if snaps.item_features is None or not snaps.item_features.ready:
        model = None  # its features are being built by another request: popularity meanwhile
    chosen: list[Candidate] = []
    beyond: list[Candidate] = []  # the model's ranked items after the feed: exploration's pool
    explore_pool = EXPLORATION_POOL if settings.exploration_share > 0 else 0
    if model is not None and snaps.item_features is not None:
        # the ranker checks these for visibility and the filters like its own candidates
        popular_ids = top_popular_ids(db, snaps.popularity, request.platform, POPULAR_CANDIDATES)
        try:
            ranked = _model_candidates(
                model, snaps.item_features, request, db, settings, now_ms, seen,
                [item for item in popular_ids if item not in seen], request.k + explore_pool,
            )  # fmt: skip
            chosen, beyond = ranked[: request.k], ranked[request.k :]
        except SnapshotGone as gone:  # two refreshes passed while this request ran
            logger.warning("%s; serving popularity for this request", gone)
            model = None
    version = model.version if chosen and model is not None else BASELINE_VERSION
    if len(chosen) < request.k:
        taken = {c.item_id for c in chosen}
        popular = _popular(request, db, snaps.popularity, now_ms, request.k + len(taken))
        for candidate in popular:
            if len(chosen) >= request.k:
                break
            if candidate.item_id not in taken:
                chosen.append(
                    replace(candidate, reason="fallback") if slot.status == "error" else candidate
                )
    if len(chosen) < request.k:
        newest = _newest(db, request, request.k - len(chosen), {c.item_id for c in chosen})
        chosen += [Candidate(r["item_id"], 0.0, "fresh", r["kind"]) for r in newest]
    explore: list[Candidate] = []
    rng = random.Random(seed)
    if model is not None:
        kept = chosen[: max(request.k - int(request.k * settings.exploration_share), 0)]
        pool_from = chosen[len(kept) :] + beyond  # what the draws displace is in the pool too
        explore = _exploration(
            model, request, db, settings, pool_from, {c.item_id for c in kept}, rng
        )
        drawn = {c.item_id for c in explore}
        chosen = [c for c in chosen if c.item_id not in drawn]
    feed = _interleave(chosen, explore, request.k, rng)
    return Feed(feed, version, ab_arm(request.user_id, settings))


def recommend(
    request: FeedRequest, db: Database, settings: Settings, now_ms: int
) -> RecommendationResponse:
    recommendation_id = uuid.uuid4().hex
    with db.batched_reads():  # on a server engine: one read transaction, ended by the write
        feed = choose_items(request, db, settings, now_ms, seed=recommendation_id)
        response = _response(request, feed, recommendation_id, now_ms)
        db.write(lambda conn: record_impressions(conn, response, request, now_ms, feed))
    return response


def _response(
    request: FeedRequest, feed: Feed, recommendation_id: str, now_ms: int
) -> RecommendationResponse:
    candidates = feed.items
    return RecommendationResponse(
        recommendation_id=recommendation_id,
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


def record_impressions(
    conn: sqlite3.Connection,
    response: RecommendationResponse,
    request: FeedRequest,
    now_ms: int,
    feed: Feed,
) -> None:
    """The feed row and one impression per returned item, exactly as the response carries them,
    with the user's A/B arm and each slot's propensity (what the evaluation needs)."""
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
            "arm": feed.arm,
        },
    )
    rows = [
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
            "arm": feed.arm,
            "propensity": candidate.propensity,
        }
        for item, candidate in zip(response.items, feed.items, strict=True)
    ]
    executemany(conn, sql.query("recommend", "insert_impression", dialect_of(conn)), rows)
