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


def retrieve(model: ServingModel, user: int, history: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` items with the best dot-product score for ``user``: item bias
    + user·item vectors + mean(history vectors)·history targets (whichever the model has)."""
    arrays = model.retrieval
    if "item_bias" not in arrays:
        return np.arange(len(model.item_ids))
    scores = arrays["item_bias"].copy()
    if "user_vectors" in arrays:
        scores += arrays["item_vectors"] @ arrays["user_vectors"][user]
    if "history_vectors" in arrays:
        present = history[history != model.padding_item]
        if len(present):
            scores += arrays["history_targets"] @ arrays["history_vectors"][present].mean(axis=0)
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
