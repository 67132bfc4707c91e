"""The baselines on a small synthetic world: better than chance, deterministic under a seed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from training.datasets.synthetic.generation import generate_world
from training.datasets.synthetic.world import WorldConfig
from training.evaluation import evaluate, full_catalog_ranks
from training.peers import (
    ALS_GRID,
    BPR_GRID,
    FactorScorer,
    ImplicitALS,
    ImplicitBPR,
    PopularityModel,
    default_peers,
    training_matrix,
    tune_on_validation,
)
from training.split import Interactions, Split, leave_last_out

CONFIG = WorldConfig(users=300, items=200, events=20000, seed=1, end_ms=1_795_348_800_000)


@pytest.fixture(scope="module")
def split() -> Split:
    world = generate_world(CONFIG)
    data = Interactions.from_pairs(
        [world.user_ids[u] for u in world.event_user.tolist()],
        [world.item_ids[i] for i in world.event_item.tolist()],
        world.event_ts_ms,
    )
    return leave_last_out(data)


@pytest.fixture(scope="module")
def negatives(split: Split) -> np.ndarray:
    # the busiest users have met most of the 200 items: as many negatives as all of them allow
    count = min(99, split.n_items - max(len(seen) for seen in split.seen))
    assert count >= 20
    return split.sample_negatives("test", count, seed=0)


@pytest.fixture(scope="module")
def random_hr(split: Split, negatives: np.ndarray) -> float:
    table = np.random.default_rng(0).random((split.n_users, split.n_items))
    return evaluate(lambda u, i: table[u, i], split, negatives=negatives)["hr@10"]


def test_training_matrix_holds_the_training_pairs_only(split):
    matrix = training_matrix(split)
    assert matrix.shape == (split.n_users, split.n_items)
    assert matrix.nnz == len(split.train)
    test_users, test_items = split.pairs("test")
    assert not matrix[test_users, test_items].any()


def test_popularity_counts_training_interactions(split):
    peer = PopularityModel().fit(split)
    _, items = split.pairs("train")
    counts = np.bincount(items, minlength=split.n_items)
    np.testing.assert_array_equal(peer.scorer(np.zeros(5, int), np.arange(5)), counts[:5])
    assert peer.train_seconds >= 0


@pytest.mark.parametrize(
    "model", [PopularityModel(), ImplicitALS(), ImplicitBPR()], ids=lambda model: model.name
)
def test_peer_beats_random_by_a_clear_margin(split, negatives, random_hr, model):
    peer = model.fit(split)
    result = evaluate(peer.scorer, split, negatives=negatives)
    assert random_hr < 0.3
    assert result["hr@10"] > random_hr + 0.25, (peer.name, result["hr@10"], random_hr)
    assert result["auc"] > 0.7


@pytest.mark.parametrize(
    "model", [PopularityModel(), ImplicitALS(seed=3), ImplicitBPR(seed=3)], ids=lambda m: m.name
)
def test_peers_are_deterministic_under_a_seed(split, negatives, model):
    first, second = model.fit(split), model.fit(split)
    users, items = split.pairs("test")
    np.testing.assert_array_equal(first.scorer(users, items), second.scorer(users, items))
    assert evaluate(first.scorer, split, negatives=negatives) == evaluate(
        second.scorer, split, negatives=negatives
    )


def test_factor_scorer_pairs_and_matrix_agree(split):
    peer = ImplicitALS(factors=8, iterations=3).fit(split)
    scorer = peer.scorer
    assert isinstance(scorer, FactorScorer)
    users = np.arange(4)
    matrix = scorer.score_matrix(users)
    pairs = scorer(np.repeat(users, split.n_items), np.tile(np.arange(split.n_items), 4))
    np.testing.assert_allclose(matrix.ravel(), pairs, rtol=1e-5, atol=1e-6)
    ranks = full_catalog_ranks(scorer, split)
    pair_only = full_catalog_ranks(lambda u, i: scorer(u, i), split)
    # float32 sums in another order may differ in the last bit: compare the metrics, not bits
    assert np.mean(ranks[0] < 20) == pytest.approx(np.mean(pair_only[0] < 20), abs=0.02)


def test_tuning_keeps_the_best_configuration_on_validation(split):
    grid: list[dict[str, Any]] = [
        {"factors": 4, "iterations": 1, "regularization": 100.0},
        {"factors": 32},
    ]
    tuning = tune_on_validation(ImplicitALS, grid, split, seed=0)
    assert [params for params, _, _ in tuning.tried] == grid
    best_hr = max(hr for _, hr, _ in tuning.tried)
    assert tuning.best_valid_hr == best_hr
    assert tuning.best_params == grid[[hr for _, hr, _ in tuning.tried].index(best_hr)]
    assert tuning.best.params["seed"] == 0
    with pytest.raises(ValueError, match="empty"):
        tune_on_validation(ImplicitALS, [], split, seed=0)


def test_default_grids_are_small():
    assert len(ALS_GRID) <= 6
    assert len(BPR_GRID) <= 6


@pytest.mark.slow
def test_default_peers_are_tuned_and_named(split):
    peers = default_peers(split, seed=0)
    assert list(peers) == ["popularity", "implicit-als", "implicit-bpr"]
    for name in ("implicit-als", "implicit-bpr"):
        assert peers[name].params["valid_hr@10"] > 0.3
        assert peers[name].params["tuning_seconds"] >= peers[name].train_seconds
