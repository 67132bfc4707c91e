"""RecTools' SASRec as a peer: it trains and scores a tiny world, reads the validation item at
test time (and only then), is deterministic under a seed; tuning judges on validation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from training.evaluation import evaluate, full_catalog_ranks
from training.peers_sequential import (
    SASREC_GRID,
    UNKNOWN_ITEM_GAP,
    SequenceScorer,
    TrainedSequentialPeer,
    interaction_frame,
    sasrec_available,
    score_matrix_of,
    tune_sasrec,
)
from training.split import Interactions, Split, leave_last_out

needs_rectools = pytest.mark.skipif(
    not sasrec_available(),
    reason='RecTools and pytorch-lightning are not installed (pip install -e ".[peers]")',
)

CYCLE = 24  # items
USERS = 60


def cycle_world(seed: int = 0) -> Split:
    """Each user walks the cycle of items one step at a time from a random start: the next item
    is always the one after the previous, so the validation item decides the test item."""
    rng = np.random.default_rng(seed)
    users: list[str] = []
    items: list[str] = []
    times: list[int] = []
    for user in range(USERS):
        start, length = int(rng.integers(CYCLE)), int(rng.integers(6, 11))
        for step in range(length):
            users.append(f"u{user:03d}")
            items.append(f"i{(start + step) % CYCLE:03d}")
            times.append(1_000_000 + step * 1000)
    return leave_last_out(Interactions.from_pairs(users, items, times))


@pytest.fixture(scope="module")
def split() -> Split:
    return cycle_world()


@pytest.fixture(scope="module")
def trained(split: Split) -> TrainedSequentialPeer:
    if not sasrec_available():
        pytest.skip('RecTools and pytorch-lightning are not installed (pip install -e ".[peers]")')
    from training.peers_sequential import RecToolsSASRec

    model = RecToolsSASRec(n_factors=16, session_max_len=10, epochs=60, batch_size=16, lr=0.01)
    return model.fit(split)


@needs_rectools
def test_the_frame_keeps_the_split_order_and_parts(split):
    frame = interaction_frame(split, ("train", "valid"))
    assert len(frame) == len(split.train) + len(split.valid)
    rows = np.sort(np.concatenate([split.train, split.valid]))
    np.testing.assert_array_equal(frame["item_id"].to_numpy(), split.data.items[rows])
    assert frame["datetime"].is_monotonic_increasing


@needs_rectools
def test_sasrec_learns_a_tiny_sequential_world(split, trained):
    negatives = split.sample_negatives("test", 12, seed=0)
    result = evaluate(trained.scorer, split, negatives=negatives)
    # 13 candidates: a random scorer gets HR@10 ~0.77 but NDCG@10 ~0.45, a perfect one 1 and 1
    assert result["hr@10"] > 0.95, result
    assert result["ndcg@10"] > 0.85, result
    assert result["auc"] > 0.9, result
    assert trained.params["epochs"] == 60 and trained.name == "rectools-sasrec"


@needs_rectools
def test_test_time_input_includes_the_validation_item(split, trained):
    """In this world the best guess after the training items is the validation item itself;
    after the validation item it is the test item. Only a test scorer that reads the
    validation item can rank the test item first."""
    test_users, test_items = split.pairs("test")
    valid_users, valid_items = split.pairs("valid")
    assert (test_users == valid_users).all()
    test_top = trained.scorer.score_matrix(test_users).argmax(axis=1)
    assert trained.valid_scorer is not None
    valid_top = trained.valid_scorer.score_matrix(valid_users).argmax(axis=1)
    assert np.mean(test_top == test_items) > 0.9
    assert np.mean(valid_top == valid_items) > 0.9
    assert np.mean(valid_top == test_items) < 0.1
    rank, _ = full_catalog_ranks(trained.scorer, split, "test")
    assert np.mean(rank == 0) > 0.9


@needs_rectools
def test_sasrec_is_deterministic_under_a_seed(split, trained):
    from training.peers_sequential import RecToolsSASRec

    again = RecToolsSASRec(n_factors=16, session_max_len=10, epochs=60, batch_size=16, lr=0.01).fit(
        split
    )
    users = np.arange(split.n_users)
    np.testing.assert_array_equal(
        trained.scorer.score_matrix(users), again.scorer.score_matrix(users)
    )


@needs_rectools
def test_items_the_model_never_saw_score_below_every_known_item(split):
    import pandas as pd

    class Preparator:
        def get_known_item_ids(self) -> np.ndarray:
            return np.arange(1, split.n_items)  # item 0: no embedding

    class Model:
        data_preparator = Preparator()

        def recommend(self, users: np.ndarray, k: int, **_: Any) -> pd.DataFrame:
            assert k == split.n_items - 1
            return pd.DataFrame(
                {
                    "user_id": np.repeat(users, k),
                    "item_id": np.tile(np.arange(1, split.n_items), users.size),
                    "score": np.tile(np.linspace(-3.0, 3.0, k), users.size),
                }
            )

    matrix = score_matrix_of(Model(), split, ("train",))
    assert matrix.shape == (split.n_users, split.n_items)
    np.testing.assert_allclose(matrix[:, 0], -3.0 - UNKNOWN_ITEM_GAP)
    assert not np.isnan(matrix).any()


class _Fake:
    """A stand-in peer: its validation scorer is as good as ``valid_quality`` says, its test
    scorer constant, so tuning must judge by the validation scorer and keep the test one."""

    name = "fake"

    def __init__(self, valid_quality: float, seed: int) -> None:
        self.valid_quality, self.seed = valid_quality, seed

    def fit(self, split: Split) -> TrainedSequentialPeer:
        _, valid_items = split.pairs("valid")
        truth = np.zeros((split.n_users, split.n_items))
        users, _ = split.pairs("valid")
        truth[users, valid_items] = self.valid_quality
        noise = np.random.default_rng(0).random(truth.shape) * 0.5
        constant = np.zeros_like(truth)
        return TrainedSequentialPeer(
            self.name,
            SequenceScorer(lambda: constant),
            0.0,
            {"valid_quality": self.valid_quality, "seed": self.seed},
            valid_scorer=SequenceScorer(lambda: truth + noise),
        )


def test_tuning_judges_each_configuration_by_its_validation_scorer(split):
    grid: list[dict[str, Any]] = [{"valid_quality": 0.0}, {"valid_quality": 1.0}]
    tuning = tune_sasrec(split, seed=3, grid=grid, builder=_Fake)
    assert [params for params, _, _ in tuning.tried] == grid
    assert tuning.best_params == {"valid_quality": 1.0}
    assert tuning.best_valid_hr == pytest.approx(1.0)
    assert tuning.best.params["seed"] == 3
    users = np.arange(split.n_users)
    assert not tuning.best.scorer.score_matrix(users).any()
    with pytest.raises(ValueError, match="empty"):
        tune_sasrec(split, seed=0, grid=[], builder=_Fake)


def test_default_grid_is_small():
    assert 1 < len(SASREC_GRID) <= 4
