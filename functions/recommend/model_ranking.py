"""Two-stage ranking with the trained model: dot-product retrieval, then the ONNX ranker.

The user's latest items (read per request, so the last event counts) go through the ONNX
history encoder once. Stage 1 scores every item the model knows with that history state and the
exported retrieval vectors (one matrix-vector product) and keeps the best
``retrieval_candidates`` the user has not seen, plus the platform's popular items. Stage 2 reads
those candidates' rows of the item-features snapshot (dropping hidden items and those outside
the kind/category filters), scores them with the ONNX ranker together with the user's features
and history state, and sorts them.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from functions.common.serving.model_runtime import ServingModel
from functions.common.serving.online_features import candidate_items, user_features, user_history
from functions.common.store.db import Database
from functions.common.store.snapshots import Snapshot


def retrieval_scores(model: ServingModel, user: int | None, state: np.ndarray) -> np.ndarray:
    """The dot-product part's score of every item the model knows: item bias + user·item
    vectors (for a known ``user``) + history state·history targets."""
    arrays = model.retrieval
    if "item_bias" not in arrays:
        return np.zeros(len(model.item_ids), dtype=np.float32)
    scores = arrays["item_bias"].copy()
    if user is not None and "user_vectors" in arrays:
        scores += arrays["item_vectors"] @ arrays["user_vectors"][user]
    if model.has_history:
        scores += arrays["history_targets"] @ state
    return scores


def top_items(scores: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` best ``scores``, best first (ties: lower index first)."""
    count = min(count, len(scores))
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-scores, count - 1)[:count]
    return top[np.lexsort((top, -scores[top]))]


def unseen(
    model: ServingModel, indices: Iterable[int], excluded: set[str], count: int
) -> list[int]:
    """The first ``count`` of ``indices`` whose items are not in ``excluded``."""
    kept: list[int] = []
    for index in indices:
        if model.item_ids[index] not in excluded:
            kept.append(index)
            if len(kept) == count:
                break
    return kept


def rank_with_model(
    model: ServingModel,
    db: Database,
    features: Snapshot,
    *,
    user_id: str,
    now_ms: int,
    excluded: set[str],
    extra_candidates: Iterable[str],
    kind: str | None,
    category: str | None,
    retrieval_candidates: int,
    limit: int,
) -> list[tuple[str, float, str]]:
    """(item_id, score, kind) of the best ``limit`` candidates, best first."""
    user = model.user_index[user_id]
    history = user_history(db, model, user_id, now_ms)
    state = model.history_state(history)
    scores = retrieval_scores(model, user, state[0])
    pool = unseen(
        model, top_items(scores, retrieval_candidates + len(excluded)).tolist(), excluded,
        retrieval_candidates,
    )  # fmt: skip
    pool += [model.item_index[i] for i in extra_candidates if i in model.item_index]
    pool = list(dict.fromkeys(pool))
    candidates = candidate_items(db, model, features, pool, kind=kind, category=category)
    if not len(candidates.indices):
        return []
    count = len(candidates.indices)
    user_row = user_features(db, model, user_id, now_ms)
    ranked = model.score(
        np.full(count, user, dtype=np.int64),
        candidates.indices,
        np.repeat(history, count, axis=0),
        np.repeat(state, count, axis=0),
        np.repeat(user_row, count, axis=0),
        candidates.matrix,
    )
    order = np.argsort(-ranked, kind="stable")[:limit]
    return [
        (model.item_ids[candidates.indices[i]], float(ranked[i]), candidates.kinds[i])
        for i in order
    ]


def rank_by_session(
    model: ServingModel,
    db: Database,
    features: Snapshot,
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
    if not model.has_history:
        return []
    history = user_history(db, model, user_id, now_ms)
    if not (history[0] != model.padding_item).any():
        return []
    scores = retrieval_scores(model, None, model.history_state(history)[0])
    pool = unseen(model, top_items(scores, limit * 4 + len(excluded)).tolist(), excluded, limit * 4)
    candidates = candidate_items(db, model, features, pool, kind=kind, category=category)
    return [
        (model.item_ids[index], float(scores[index]), kind_)
        for index, kind_ in zip(
            candidates.indices[:limit].tolist(), candidates.kinds[:limit], strict=True
        )
    ]
