"""Features at serving time: the training SQL over every stored event, normalised as trained.

Item features are computed for the whole catalog and cached per container for
``feature_cache_seconds`` (one query over the events); user features are computed per request
for that one user (an indexed query).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass

import numpy as np

from functions.common import features as F
from functions.common.db import Database, fetch_all
from functions.common.model_runtime import ServingModel


@dataclass
class CatalogFeatures:
    version: str
    built_ms: int
    matrix: np.ndarray  # (len(model.item_ids), n_item_features), normalised
    kinds: dict[str, str]  # every catalog item's kind
    categories: dict[str, frozenset[str]]


_cache: dict[str, CatalogFeatures] = {}
_lock = threading.Lock()


def _build(conn: sqlite3.Connection, model: ServingModel, now_ms: int) -> CatalogFeatures:
    F.use_serving_source(conn)
    rows = F.raw_item_rows(conn, model.spec, now_ms)
    return CatalogFeatures(
        version=model.version,
        built_ms=now_ms,
        matrix=F.item_matrix(rows, model.item_ids, model.spec),
        kinds={item: kind for item, (_, kind, _) in rows.items()},
        categories={item: frozenset(cats) for item, (_, _, cats) in rows.items()},
    )


def catalog_features(
    db: Database, model: ServingModel, now_ms: int, ttl_seconds: float
) -> CatalogFeatures:
    with _lock:
        cached = _cache.get("catalog")
    if (
        cached is not None
        and cached.version == model.version
        and 0 <= now_ms - cached.built_ms < ttl_seconds * 1000
    ):
        return cached
    built = db.read(lambda conn: _build(conn, model, now_ms))
    with _lock:
        _cache["catalog"] = built
    return built


def user_features(db: Database, model: ServingModel, user_id: str, now_ms: int) -> np.ndarray:
    """One normalised row of user features (the default row for a user with no events)."""

    def read(conn: sqlite3.Connection) -> dict[str, list[float]]:
        F.use_serving_source(conn)
        return F.raw_user_rows(conn, model.spec, now_ms, user_id=user_id)

    return F.user_matrix(db.read(read), [user_id], model.spec)


def clear_feature_cache() -> None:
    with _lock:
        _cache.clear()


def user_history(db: Database, model: ServingModel, user_id: str, now_ms: int) -> np.ndarray:
    """The user's latest interactions as model item indices, oldest first, padded in front:
    shape (1, history_length). Items the model does not know are left out."""
    length = model.history_length
    row = np.full((1, max(length, 1)), model.padding_item, dtype=np.int64)
    if length == 0:
        return row
    params = {
        "user_id": user_id,
        "types": model.spec.interaction_types,
        "as_of_ms": now_ms,
        "limit": length * 2,
    }
    rows = db.read(lambda c: fetch_all(c, "features/user_history", "recent_interactions", params))
    known = [model.item_index[r["item_id"]] for r in rows if r["item_id"] in model.item_index]
    recent = known[:length][::-1]
    if recent:
        row[0, length - len(recent) :] = recent
    return row
