"""Two-stage ranking with the trained model: dot-product retrieval, then the ONNX ranker.

Stage 1 scores every item the model knows with the exported retrieval vectors (one matrix-vector
product) and keeps the best ``retrieval_candidates`` plus the platform's popular items. Stage 2
scores those candidates with the ONNX model over the online features and sorts them.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from functions.common.db import Database
from functions.common.model_runtime import ServingModel
from functions.common.online_features import catalog_features, user_features, user_history
from functions.common.settings import Settings


def retrieval_scores(model: ServingModel, user: int | None, history: np.ndarray) -> np.ndarray:
    """The dot-product part's score of every item the model knows: item bias + user·item
    vectors (for a known ``user``) + mean(history vectors)·history targets."""
    arrays = model.retrieval
    if "item_bias" not in arrays:
        return np.zeros(len(model.item_ids), dtype=np.float32)
    scores = arrays["item_bias"].copy()
    if user is not None and "user_vectors" in arrays:
        scores += arrays["item_vectors"] @ arrays["user_vectors"][user]
    if "history_vectors" in arrays:
        present = history[history != model.padding_item]
        if len(present):
            scores += arrays["history_targets"] @ arrays["history_vectors"][present].mean(axis=0)
    return scores


def retrieve(model: ServingModel, user: int | None, history: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` items with the best :func:`retrieval_scores`, best first."""
    scores = retrieval_scores(model, user, history)
    count = min(count, len(scores))
    top = np.argpartition(-scores, count - 1)[:count]
    return top[np.argsort(-scores[top], kind="stable")]


def rank_with_model(
    model: ServingModel,
    db: Database,
    settings: Settings,
    *,
    user_id: str,
    now_ms: int,
    excluded: set[str],
    extra_candidates: Iterable[str],
    kind: str | None,
    category: str | None,
    limit: int,
) -> list[tuple[str, float, str]]:
    """(item_id, score, kind) of the best ``limit`` candidates, best first."""
    user = model.user_index[user_id]
    catalog = catalog_features(db, model, now_ms, settings.feature_cache_seconds)
    wanted = settings.retrieval_candidates + len(excluded)
    history = user_history(db, model, user_id, now_ms)
    pool = [model.item_ids[i] for i in retrieve(model, user, history[0], wanted)]
    pool += [i for i in extra_candidates if i in model.item_index]
    candidates, taken = [], set()
    for item_id in pool:
        if item_id in taken or item_id in excluded or item_id not in catalog.kinds:
            continue
        if kind and catalog.kinds[item_id] != kind:
            continue
        if category and category not in catalog.categories.get(item_id, frozenset()):
            continue
        taken.add(item_id)
        candidates.append(model.item_index[item_id])
    if not candidates:
        return []
    items = np.array(candidates, dtype=np.int64)
    user_row = user_features(db, model, user_id, now_ms)
    scores = model.score(
        np.full(len(items), user, dtype=np.int64),
        items,
        np.repeat(history, len(items), axis=0),
        np.repeat(user_row, len(items), axis=0),
        catalog.matrix[items],
    )
    order = np.argsort(-scores, kind="stable")[:limit]
    return [
        (model.item_ids[items[i]], float(scores[i]), catalog.kinds[model.item_ids[items[i]]])
        for i in order
    ]


def rank_by_session(
    model: ServingModel,
    db: Database,
    settings: Settings,
    *,
    user_id: str,
    now_ms: int,
    excluded: set[str],
    kind: str | None,
    category: str | None,
    limit: int,
) -> list[tuple[str, float, str]]:
    """For a user the model was not trained on: items that follow what they engaged with
    (the history part of the retrieval scores); empty when they have no usable history."""
    if "history_vectors" not in model.retrieval:
        return []
    history = user_history(db, model, user_id, now_ms)
    if not (history[0] != model.padding_item).any():
        return []
    catalog = catalog_features(db, model, now_ms, settings.feature_cache_seconds)
    scores = retrieval_scores(model, None, history[0])
    order = np.argsort(-scores, kind="stable")
    picked: list[tuple[str, float, str]] = []
    for index in order[: limit * 4 + len(excluded)]:
        item_id = model.item_ids[index]
        if item_id in excluded or item_id not in catalog.kinds:
            continue
        if kind and catalog.kinds[item_id] != kind:
            continue
        if category and category not in catalog.categories.get(item_id, frozenset()):
            continue
        picked.append((item_id, float(scores[index]), catalog.kinds[item_id]))
        if len(picked) >= limit:
            break
    return picked
