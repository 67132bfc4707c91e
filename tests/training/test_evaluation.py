"""The offline metrics against hand-computed values, and the protocols on tiny hand-made splits."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from training.evaluation import (
    evaluate,
    full_catalog_ranks,
    grouped_auc,
    hit_rate_at_k,
    ndcg_at_k,
    ndcg_full_at_k,
    recall_at_k,
    roc_auc,
    sampled_ranks,
    score_pairs,
)
from training.split import Interactions, Split, leave_last_out


def gain(position: int) -> float:
    return 1.0 / math.log2(position + 2)


# -- rank metrics ------------------------------------------------------------------------------
def test_hit_rate_and_ndcg_without_ties():
    ranks = [0, 3, 9, 10]
    assert hit_rate_at_k(ranks, 10) == pytest.approx(0.75)
    assert ndcg_at_k(ranks, 10) == pytest.approx((1.0 + gain(3) + gain(9) + 0.0) / 4)
    assert hit_rate_at_k([0], 1) == 1.0
    assert ndcg_at_k([1], 1) == 0.0
    assert math.isnan(hit_rate_at_k([], 10))


def test_ties_count_as_the_expected_value_of_a_random_tie_break():
    # tied with one other for first place: top-1 half the time
    assert hit_rate_at_k([0], 1, ties=[1]) == pytest.approx(0.5)
    assert ndcg_at_k([0], 1, ties=[1]) == pytest.approx(0.5)
    # 8 above, 3 tied: positions 8..11 equally likely, 8 and 9 inside the top 10
    assert hit_rate_at_k([8], 10, ties=[3]) == pytest.approx(0.5)
    assert ndcg_at_k([8], 10, ties=[3]) == pytest.approx((gain(8) + gain(9)) / 4)
    # ties never rescue a positive that is already out of the top k
    assert hit_rate_at_k([10], 10, ties=[5]) == 0.0
    assert ndcg_at_k([10], 10, ties=[5]) == 0.0


def test_full_catalog_metrics_are_hit_and_ndcg_with_ideal_one():
    assert recall_at_k([0, 19, 20], 20) == pytest.approx(2 / 3)
    assert ndcg_full_at_k([0, 19, 20], 20) == pytest.approx((1 + gain(19)) / 3)
    assert recall_at_k([18], 20, ties=[3]) == pytest.approx(0.5)


# -- AUC ---------------------------------------------------------------------------------------
def brute_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_roc_auc_by_hand():
    assert roc_auc([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1]) == pytest.approx(0.75)
    assert roc_auc([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    # (1 > 0.5, 1 > 0, 0.5 = 0.5, 0.5 > 0) = 3.5 of 4
    assert roc_auc([1, 1, 0, 0], [1.0, 0.5, 0.5, 0.0]) == pytest.approx(0.875)
    assert roc_auc([1, 1], [0.1, 0.2]) is None
    assert roc_auc([0, 0], [0.1, 0.2]) is None


def test_roc_auc_matches_pairwise_counting_with_many_ties():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 200)
    scores = rng.integers(0, 6, 200).astype(float)  # heavy ties
    assert roc_auc(labels, scores) == pytest.approx(brute_auc(labels, scores))


def test_roc_auc_rejects_nan():
    with pytest.raises(ValueError):
        roc_auc([1, 0], [float("nan"), 0.0])


def test_grouped_auc_by_hand():
    groups = ["a", "a", "a", "b", "b", "b", "c", "c"]
    labels = [1, 0, 0, 1, 1, 0, 1, 1]  # c has no negative: left out
    scores = [0.9, 0.95, 0.1, 0.2, 0.5, 0.5, 0.0, 1.0]
    # a: 0.9 beats 0.1, loses to 0.95 -> 1/2 ; b: 0.2 < 0.5, 0.5 = 0.5 -> 0.5/2 = 1/4
    mean, used = grouped_auc(groups, labels, scores)
    assert used == 2
    assert mean == pytest.approx((0.5 + 0.25) / 2)
    mean, used = grouped_auc(["a", "a"], [1, 1], [0.1, 0.2])
    assert math.isnan(mean) and used == 0


def test_grouped_auc_matches_per_group_auc():
    rng = np.random.default_rng(4)
    groups = rng.integers(0, 12, 400)
    labels = rng.integers(0, 2, 400)
    scores = rng.integers(0, 5, 400).astype(float)
    expected = []
    for g in np.unique(groups):
        auc = roc_auc(labels[groups == g], scores[groups == g])
        if auc is not None:
            expected.append(auc)
    mean, used = grouped_auc(groups, labels, scores)
    assert used == len(expected)
    assert mean == pytest.approx(float(np.mean(expected)))


# -- protocols ---------------------------------------------------------------------------------
def random_split(users: int = 30, items: int = 160, per_user: int = 6, seed: int = 0) -> Split:
    """User u meets items ``order[6u .. 6u + 5]`` (cyclically) of a random permutation of the
    catalog, at increasing times: distinct items per user, and every item is met by someone."""
    order = np.random.default_rng(seed).permutation(items)
    user_ids, item_ids, ts = [], [], []
    for u in range(users):
        for n in range(per_user):
            user_ids.append(f"u{u:03d}")
            item_ids.append(f"i{order[(per_user * u + n) % items]:03d}")
            ts.append(1_000 * (n + 1) + u)
    data = Interactions.from_pairs(user_ids, item_ids, ts)
    assert data.n_items == items
    return leave_last_out(data)


def constant(users: np.ndarray, items: np.ndarray) -> np.ndarray:
    return np.zeros(len(users))


def oracle_for(split: Split):
    test_users, test_items = split.pairs("test")
    target = np.full(split.n_users, -1)
    target[test_users] = test_items

    def score(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return (target[users] == items).astype(float)

    return score


@pytest.fixture(scope="module")
def split() -> Split:
    return random_split()


def test_constant_scorer_scores_like_chance_not_like_a_perfect_model(split):
    negatives = split.sample_negatives("test", 99, seed=0)
    result = evaluate(constant, split, negatives=negatives)
    assert result["hr@10"] == pytest.approx(10 / 100)
    assert result["ndcg@10"] == pytest.approx(sum(gain(p) for p in range(10)) / 100)
    assert result["auc"] == pytest.approx(0.5)
    assert result["grouped_auc"] == pytest.approx(0.5)
    # each test user ranks its held-out item among the items it never met, plus that item
    candidates = split.n_items - 6 + 1
    assert result["recall@20"] == pytest.approx(20 / candidates)


def test_random_scorer_is_near_chance(split):
    table = np.random.default_rng(9).random((split.n_users, split.n_items))
    negatives = split.sample_negatives("test", 99, seed=0)
    result = evaluate(lambda u, i: table[u, i], split, negatives=negatives)
    assert result["hr@10"] < 0.35
    assert 0.35 < result["auc"] < 0.65


def test_oracle_scores_perfectly(split):
    negatives = split.sample_negatives("test", 99, seed=0)
    result = evaluate(oracle_for(split), split, negatives=negatives)
    for key in ("hr@10", "ndcg@10", "recall@20", "ndcg@20", "auc", "grouped_auc"):
        assert result[key] == pytest.approx(1.0), key
    assert result["users"] == 30


def test_evaluate_keys_and_types(split):
    negatives = split.sample_negatives("test", 99, seed=0)
    result = evaluate(constant, split, negatives=negatives)
    metrics = {"hr@10", "ndcg@10", "recall@20", "ndcg@20", "auc", "grouped_auc", "users"}
    assert set(result) == metrics | {"cold_start"}
    assert set(result["cold_start"]) == metrics
    for key in metrics - {"users"}:
        assert type(result[key]) is float
    assert type(result["users"]) is int
    other = evaluate(constant, split, negatives=negatives, k=5, full_k=50)
    assert {"hr@5", "ndcg@5", "recall@50", "ndcg@50"} <= set(other)
    with pytest.raises(ValueError, match="differ"):
        evaluate(constant, split, negatives=negatives, k=10, full_k=10)
    with pytest.raises(ValueError, match="negatives"):
        evaluate(constant, split, negatives=negatives[:-1])


def test_cold_start_slice_counts_users_by_training_size():
    # u-few: 3 interactions (1 in training); u-many: 6 (4 in training)
    pairs = [("u-few", f"i{n}", n) for n in range(3)] + [("u-many", f"i{n}", n) for n in range(6)]
    users, items, ts = zip(*pairs, strict=True)
    split = leave_last_out(Interactions.from_pairs(list(users), list(items), list(ts)))
    negatives = np.empty((2, 0), dtype=np.int64)  # too small a catalog for sampled negatives
    result = evaluate(oracle_for(split), split, negatives=negatives, cold_max_train=2)
    assert result["users"] == 2
    assert result["cold_start"]["users"] == 1
    assert result["cold_start"]["recall@20"] == 1.0
    empty = evaluate(oracle_for(split), split, negatives=negatives, cold_max_train=0)
    assert empty["cold_start"]["users"] == 0
    assert math.isnan(empty["cold_start"]["recall@20"])


def hand_split() -> Split:
    """User a: i0, i1, i2 (train i0, valid i1, test i2); user b: i3, i4, i5 (test i5)."""
    pairs = [
        ("a", "i0", 1),
        ("a", "i1", 2),
        ("a", "i2", 3),
        ("b", "i3", 1),
        ("b", "i4", 2),
        ("b", "i5", 3),
    ]
    users, items, ts = zip(*pairs, strict=True)
    return leave_last_out(Interactions.from_pairs(list(users), list(items), list(ts)))


def test_full_catalog_leaves_out_the_users_own_training_and_validation_items():
    split = hand_split()
    assert split.pairs("test")[1].tolist() == [2, 5]
    table = np.array(
        [
            # i0  i1  i2  i3  i4  i5
            [9.0, 8.0, 5.0, 6.0, 5.0, 1.0],  # a: i0, i1 are its own (left out); i3 above, i4 tied
            [7.0, 7.0, 7.0, 9.0, 9.0, 8.0],  # b: i3, i4 left out; nothing of a's above 8
        ]
    )
    rank, ties = full_catalog_ranks(lambda u, i: table[u, i], split)
    assert rank.tolist() == [1, 0]
    assert ties.tolist() == [1, 0]


def test_full_catalog_judges_an_oracle_of_training_items_on_the_held_out_item(split):
    """Scoring the user's own training/validation items highest costs nothing: they are not
    candidates."""
    test_users, test_items = split.pairs("test")
    own = np.zeros((split.n_users, split.n_items))
    for part, value in (("train", 10.0), ("valid", 10.0)):
        users, items = split.pairs(part)
        own[users, items] = value
    own[test_users, test_items] = 5.0
    negatives = split.sample_negatives("test", 99, seed=0)
    result = evaluate(lambda u, i: own[u, i], split, negatives=negatives)
    assert result["recall@20"] == pytest.approx(1.0)
    assert result["ndcg@20"] == pytest.approx(1.0)
    assert result["hr@10"] == pytest.approx(1.0)


class MatrixTable:
    """A scorer offering the score_matrix fast path."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table
        self.matrix_calls = 0

    def __call__(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.table[users, items]

    def score_matrix(self, users: np.ndarray) -> np.ndarray:
        self.matrix_calls += 1
        return self.table[users]


def test_chunking_and_matrix_path_change_nothing(split):
    table = np.random.default_rng(5).integers(0, 4, (split.n_users, split.n_items)).astype(float)
    pair_rank = full_catalog_ranks(lambda u, i: table[u, i], split)
    chunked = full_catalog_ranks(lambda u, i: table[u, i], split, cells=split.n_items * 7 + 3)
    fast = MatrixTable(table)
    matrix_rank = full_catalog_ranks(fast, split, cells=1)  # one user per chunk
    assert fast.matrix_calls == len(split.test)
    for other in (chunked, matrix_rank):
        np.testing.assert_array_equal(pair_rank[0], other[0])
        np.testing.assert_array_equal(pair_rank[1], other[1])
    users = np.arange(1000) % split.n_users
    items = np.arange(1000) % split.n_items
    np.testing.assert_array_equal(
        score_pairs(lambda u, i: table[u, i], users, items, chunk=33), table[users, items]
    )


def test_sampled_ranks_put_the_positive_first(split):
    negatives = split.sample_negatives("test", 99, seed=0)
    rank, ties, scores = sampled_ranks(oracle_for(split), split, "test", negatives)
    assert scores.shape == (len(split.test), 100)
    assert (scores[:, 0] == 1.0).all()
    assert (rank == 0).all() and (ties == 0).all()


def test_scorer_output_is_checked(split):
    negatives = split.sample_negatives("test", 99, seed=0)
    with pytest.raises(ValueError, match="shape"):
        evaluate(lambda u, i: np.zeros(3), split, negatives=negatives)
    with pytest.raises(ValueError, match="NaN"):
        evaluate(lambda u, i: np.full(len(u), np.nan), split, negatives=negatives)
