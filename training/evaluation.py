"""Offline evaluation of any model against a :class:`~training.split.Split`.

A model is a :data:`Scorer`: it maps parallel arrays of user indices and item indices to one
score per pair (higher = better). Nothing here knows what kind of model it is. A scorer may also
offer ``score_matrix(users) -> (len(users), n_items)`` (see :class:`MatrixScorer`); the
full-catalog protocol then uses it instead of asking for every (user, item) pair.

Two protocols, both on the split's ``test`` part (or any part, for tuning):

* **Sampled** (the Neural Collaborative Filtering protocol): each held-out pair is ranked against
  its sampled negatives (``split.sample_negatives(part, 99, seed)``: items the user never touched).
  HR@k, NDCG@k, a global ROC-AUC over every (positive = 1, negative = 0) pair, and the grouped AUC
  (the AUC within each user, averaged over users with both classes).
* **Full catalog**: each held-out item is ranked against every item, except the other items the
  user interacted with (in training, validation or elsewhere in test). With one held-out item per
  user, Recall@k is the hit rate and the ideal DCG is 1, so NDCG@k = 1 / log2(rank + 2).

**Ties.** A positive's rank is given as ``rank`` = how many candidates score strictly higher and
``ties`` = how many *other* candidates score exactly the same. Every rank metric is its expected
value when ties are broken uniformly at random: the positive is equally likely to sit at any of
the positions ``rank .. rank + ties``. The result is deterministic, a tie is neither a win nor a
loss, and a constant scorer gets HR@k = k / candidates (10 / 100 on the sampled protocol), the
same as a random one, not 1.0. The AUCs treat ties the same way (average ranks: a tie counts 1/2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from training.split import Split

Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]

PAIRS_PER_CALL = 1 << 20  # (user, item) pairs handed to a scorer at once (~1M)


@runtime_checkable
class MatrixScorer(Protocol):
    """A scorer that can also score every item for a batch of users at once."""

    def __call__(self, users: np.ndarray, items: np.ndarray) -> np.ndarray: ...

    def score_matrix(self, users: np.ndarray) -> np.ndarray: ...


# -- rank metrics ------------------------------------------------------------------------------
def _rank_arrays(rank: Any, ties: Any) -> tuple[np.ndarray, np.ndarray]:
    rank_array = np.atleast_1d(np.asarray(rank, dtype=np.int64))
    ties_array = (
        np.zeros_like(rank_array) if ties is None else np.atleast_1d(np.asarray(ties, np.int64))
    )
    if rank_array.shape != ties_array.shape:
        raise ValueError("rank and ties must have the same shape")
    if (rank_array < 0).any() or (ties_array < 0).any():
        raise ValueError("rank and ties must be >= 0")
    return rank_array, ties_array


def hit_rate_at_k(rank: Any, k: int, ties: Any = None) -> float:
    """Share of positives ranked in the top ``k`` (0-based ``rank`` < k), averaged over rows.

    With ``ties`` (other candidates scoring the same as the positive), each row counts the
    probability that a random tie-break puts it in the top ``k``: ``clip((k - rank) / (ties + 1),
    0, 1)``. Empty input gives NaN."""
    rank_array, ties_array = _rank_arrays(rank, ties)
    if rank_array.size == 0:
        return float("nan")
    hits = np.clip((k - rank_array) / (ties_array + 1.0), 0.0, 1.0)
    return float(hits.mean())


def ndcg_at_k(rank: Any, k: int, ties: Any = None) -> float:
    """NDCG@k of one relevant item per row: ``1 / log2(rank + 2)`` if ``rank < k`` else 0.

    With ``ties``, the mean of that gain over the positions ``rank .. rank + ties``. Empty input
    gives NaN."""
    rank_array, ties_array = _rank_arrays(rank, ties)
    if rank_array.size == 0:
        return float("nan")
    # cumulative[m] = sum of the gains of positions 0 .. m-1 (positions >= k gain nothing)
    gains = 1.0 / np.log2(np.arange(k) + 2.0)
    cumulative = np.concatenate([[0.0], np.cumsum(gains)])
    first = np.minimum(rank_array, k)
    past_last = np.minimum(rank_array + ties_array + 1, k)
    return float(((cumulative[past_last] - cumulative[first]) / (ties_array + 1.0)).mean())


def recall_at_k(rank: Any, k: int, ties: Any = None) -> float:
    """Full-catalog Recall@k with one held-out item per row: the hit rate (see
    :func:`hit_rate_at_k`, same tie rule)."""
    return hit_rate_at_k(rank, k, ties)


def ndcg_full_at_k(rank: Any, k: int, ties: Any = None) -> float:
    """Full-catalog NDCG@k with one held-out item per row: the ideal DCG is 1, so this is
    :func:`ndcg_at_k` (same tie rule)."""
    return ndcg_at_k(rank, k, ties)


def rank_among(
    positive: np.ndarray, candidates: np.ndarray, valid: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: (candidates scoring strictly above the positive, candidates scoring the same).

    ``positive`` is (n,), ``candidates`` (n, m) and must not contain the positive itself;
    ``valid`` (n, m, bool) leaves candidates out where False."""
    above = candidates > positive[:, None]
    equal = candidates == positive[:, None]
    if valid is not None:
        above &= valid
        equal &= valid
    return above.sum(axis=1).astype(np.int64), equal.sum(axis=1).astype(np.int64)


# -- AUC ---------------------------------------------------------------------------------------
def _check_scores(scores: np.ndarray) -> None:
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")


def roc_auc(labels: Any, scores: Any) -> float | None:
    """ROC-AUC as the Mann-Whitney U statistic: the probability that a random positive scores
    above a random negative, a tie counting 1/2 (average ranks). None when either class is
    absent."""
    label_array = np.asarray(labels).astype(bool).ravel()
    score_array = np.asarray(scores, dtype=np.float64).ravel()
    if label_array.shape != score_array.shape:
        raise ValueError("labels and scores must have the same length")
    _check_scores(score_array)
    n_pos = int(label_array.sum())
    n_neg = label_array.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    _, inverse, counts = np.unique(score_array, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)  # 1-based rank of the last member of each block of equal scores
    average_rank = (ends - (counts - 1) / 2.0)[inverse]
    rank_sum = float(average_rank[label_array].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def grouped_auc(groups: Any, labels: Any, scores: Any) -> tuple[float, int]:
    """The ROC-AUC within each group (e.g. each user), averaged unweighted over the groups that
    have both a positive and a negative. Returns (mean, number of groups used); (NaN, 0) when no
    group qualifies. Ties count 1/2, as in :func:`roc_auc`."""
    group_array = np.asarray(groups).ravel()
    label_array = np.asarray(labels).astype(bool).ravel()
    score_array = np.asarray(scores, dtype=np.float64).ravel()
    if not group_array.shape == label_array.shape == score_array.shape:
        raise ValueError("groups, labels and scores must have the same length")
    _check_scores(score_array)
    if group_array.size == 0:
        return float("nan"), 0
    _, group_index = np.unique(group_array, return_inverse=True)
    order = np.lexsort((score_array, group_index))  # by group, then score
    g, s, y = group_index[order], score_array[order], label_array[order]
    n = g.size
    # Blocks of equal (group, score); a block's members share the average of their ranks.
    new_block = np.ones(n, dtype=bool)
    new_block[1:] = (g[1:] != g[:-1]) | (s[1:] != s[:-1])
    block_start = np.flatnonzero(new_block)
    block_end = np.append(block_start[1:], n) - 1
    block_of = np.cumsum(new_block) - 1
    group_first = np.searchsorted(g, g, side="left")  # position of each row's group start
    # 1-based rank within the group, averaged over the block
    rank = (block_start[block_of] + block_end[block_of]) / 2.0 - group_first + 1.0
    n_groups = int(g.max()) + 1
    n_pos = np.bincount(g, weights=y, minlength=n_groups)
    n_all = np.bincount(g, minlength=n_groups).astype(np.float64)
    n_neg = n_all - n_pos
    rank_sum = np.bincount(g, weights=rank * y, minlength=n_groups)
    usable = (n_pos > 0) & (n_neg > 0)
    if not usable.any():
        return float("nan"), 0
    auc = (rank_sum[usable] - n_pos[usable] * (n_pos[usable] + 1) / 2.0) / (
        n_pos[usable] * n_neg[usable]
    )
    return float(auc.mean()), int(usable.sum())


# -- scoring -----------------------------------------------------------------------------------
def score_pairs(
    scorer: Scorer, users: np.ndarray, items: np.ndarray, *, chunk: int = PAIRS_PER_CALL
) -> np.ndarray:
    """Scores of parallel (users, items), asking the scorer for at most ``chunk`` pairs at once."""
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    out = np.empty(users.size, dtype=np.float64)
    for start in range(0, users.size, chunk):
        stop = min(start + chunk, users.size)
        scores = np.asarray(scorer(users[start:stop], items[start:stop]), dtype=np.float64)
        if scores.shape != (stop - start,):
            raise ValueError(f"scorer returned shape {scores.shape}, expected ({stop - start},)")
        out[start:stop] = scores
    _check_scores(out)
    return out


def score_matrix(scorer: Scorer, users: np.ndarray, n_items: int) -> np.ndarray:
    """(len(users), n_items) scores of every item for each user."""
    users = np.asarray(users, dtype=np.int64)
    if isinstance(scorer, MatrixScorer):
        matrix = np.asarray(scorer.score_matrix(users), dtype=np.float64)
        if matrix.shape != (users.size, n_items):
            raise ValueError(
                f"score_matrix returned {matrix.shape}, expected {(users.size, n_items)}"
            )
        _check_scores(matrix)
        return matrix
    flat = score_pairs(scorer, np.repeat(users, n_items), np.tile(np.arange(n_items), users.size))
    return flat.reshape(users.size, n_items)


# -- protocols ---------------------------------------------------------------------------------
def sampled_ranks(
    scorer: Scorer, split: Split, part: str, negatives: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sampled protocol's raw material for ``part``: per held-out pair, (rank, ties) of the
    positive among positive + negatives, and the (n_pairs, 1 + n_negatives) score matrix whose
    column 0 is the positive."""
    users, items = split.pairs(part)
    negatives = np.asarray(negatives, dtype=np.int64)
    if negatives.ndim != 2 or negatives.shape[0] != users.size:
        raise ValueError(
            f"negatives must have shape ({users.size}, n_negatives), got {negatives.shape}"
        )
    candidates = np.concatenate([items[:, None], negatives], axis=1)
    width = candidates.shape[1]
    scores = score_pairs(scorer, np.repeat(users, width), candidates.ravel()).reshape(-1, width)
    rank, ties = rank_among(scores[:, 0], scores[:, 1:])
    return rank, ties, scores


def full_catalog_ranks(
    scorer: Scorer, split: Split, part: str = "test", *, cells: int = PAIRS_PER_CALL
) -> tuple[np.ndarray, np.ndarray]:
    """Per held-out pair of ``part``: (rank, ties) of its item among every item the user never
    interacted with, plus itself. Users are scored in chunks of about ``cells`` scores
    (users x items), so memory stays flat whatever the catalog size."""
    users, items = split.pairs(part)
    n_items = split.n_items
    rank = np.zeros(users.size, dtype=np.int64)
    ties = np.zeros(users.size, dtype=np.int64)
    if users.size == 0:
        return rank, ties
    # every interaction, grouped by user: what each user's ranking leaves out
    by_user = np.argsort(split.data.users, kind="stable")
    seen_users, seen_items = split.data.users[by_user], split.data.items[by_user]
    pair_order = np.argsort(users, kind="stable")
    sorted_pair_users = users[pair_order]
    distinct = np.unique(users)
    per_chunk = max(1, cells // max(n_items, 1))
    for start in range(0, distinct.size, per_chunk):
        chunk_users = distinct[start : start + per_chunk]
        matrix = score_matrix(scorer, chunk_users, n_items)
        valid = np.ones(matrix.shape, dtype=bool)
        lo = np.searchsorted(seen_users, chunk_users[0], side="left")
        hi = np.searchsorted(seen_users, chunk_users[-1], side="right")
        rows = np.searchsorted(chunk_users, seen_users[lo:hi])
        rows_clipped = np.minimum(rows, chunk_users.size - 1)
        in_chunk = chunk_users[rows_clipped] == seen_users[lo:hi]
        valid[rows_clipped[in_chunk], seen_items[lo:hi][in_chunk]] = False
        p_lo = np.searchsorted(sorted_pair_users, chunk_users[0], side="left")
        p_hi = np.searchsorted(sorted_pair_users, chunk_users[-1], side="right")
        pairs = pair_order[p_lo:p_hi]
        pair_rows = np.searchsorted(chunk_users, users[pairs])
        positive = matrix[pair_rows, items[pairs]]
        # the held-out item itself is among the user's interactions, so valid leaves it out
        rank[pairs], ties[pairs] = rank_among(positive, matrix[pair_rows], valid[pair_rows])
    return rank, ties


def _metrics(
    *,
    k: int,
    full_k: int,
    rank: np.ndarray,
    ties: np.ndarray,
    full_rank: np.ndarray,
    full_ties: np.ndarray,
    scores: np.ndarray,
    users: np.ndarray,
) -> dict[str, Any]:
    labels = np.zeros(scores.shape, dtype=bool)
    labels[:, 0] = True
    auc = roc_auc(labels, scores)
    group_auc, _ = grouped_auc(np.broadcast_to(users[:, None], scores.shape), labels, scores)
    return {
        f"hr@{k}": hit_rate_at_k(rank, k, ties),
        f"ndcg@{k}": ndcg_at_k(rank, k, ties),
        f"recall@{full_k}": recall_at_k(full_rank, full_k, full_ties),
        f"ndcg@{full_k}": ndcg_full_at_k(full_rank, full_k, full_ties),
        "auc": float("nan") if auc is None else auc,
        "grouped_auc": group_auc,
        "users": int(np.unique(users).size),
    }


def evaluate(
    scorer: Scorer,
    split: Split,
    *,
    negatives: np.ndarray,
    k: int = 10,
    full_k: int = 20,
    cold_max_train: int = 20,
) -> dict[str, Any]:
    """Every offline metric of ``scorer`` on ``split.test``.

    ``negatives``: ``split.sample_negatives("test", n, seed)``, one row per test pair. Returns
    plain floats: ``hr@k``, ``ndcg@k`` (sampled), ``recall@full_k``, ``ndcg@full_k`` (full
    catalog), ``auc`` (global, over all sampled pairs), ``grouped_auc`` (per user), ``users``
    (distinct test users, an int), and ``cold_start``: the same over test users with at most
    ``cold_max_train`` training interactions. Metrics of an empty slice are NaN."""
    if k == full_k:
        raise ValueError("k and full_k must differ: both protocols report an ndcg@<k> key")
    users, _ = split.pairs("test")
    rank, ties, scores = sampled_ranks(scorer, split, "test", negatives)
    full_rank, full_ties = full_catalog_ranks(scorer, split, "test")
    train_users, _ = split.pairs("train")
    train_count = np.bincount(train_users, minlength=split.n_users)
    cold = train_count[users] <= cold_max_train

    def metrics_of(rows: np.ndarray | slice) -> dict[str, Any]:
        return _metrics(
            k=k,
            full_k=full_k,
            rank=rank[rows],
            ties=ties[rows],
            full_rank=full_rank[rows],
            full_ties=full_ties[rows],
            scores=scores[rows],
            users=users[rows],
        )

    result: dict[str, Any] = metrics_of(slice(None))
    result["cold_start"] = metrics_of(cold)
    return result


def sampled_hit_rate(
    scorer: Scorer, split: Split, part: str, negatives: np.ndarray, k: int = 10
) -> float:
    """HR@k of the sampled protocol on ``part`` alone (cheap enough for tuning on ``valid``)."""
    rank, ties, _ = sampled_ranks(scorer, split, part, negatives)
    return hit_rate_at_k(rank, k, ties)
