"""A sequential peer: RecTools' SASRec (Kang & McAuley 2018), a maintained library's model.

:class:`RecToolsSASRec` trains ``rectools.models.SASRecModel`` on the split's training
interactions, each user's items in time order (the split's own order: time, then item id). It is
scored the way SASRec's protocol and mediarec's scorer are: the sequence a user's next item is
predicted from is everything before it. On ``valid`` that is the training items; on ``test`` it
is the training items *and* the validation item (the item just before the test item). The model
is fitted once; RecTools' ``recommend`` is given the longer sequences without refitting.

Each ``fit(split)`` returns a :class:`TrainedSequentialPeer`: a :class:`~training.peers.TrainedPeer`
whose ``scorer`` is the test-time scorer, plus ``valid_scorer`` for tuning. Both are
:class:`SequenceScorer` s: ``recommend(k=every known item, filter_viewed=False)`` turned into a
users x items score matrix (the dot products of the session and item embeddings), computed on
first use. Items the model never saw in training (no embedding) score below every known item.

:func:`tune_sasrec` picks the configuration with the best sampled HR@10 on ``valid``, as
:func:`training.peers.tune_on_validation` does for the other peers, over :data:`SASREC_GRID`
(3 configurations, about 1.5-2 min in all on MovieLens 100K with two idle cores).

Seeded: ``torch.manual_seed(seed)`` before each fit (weights, dropout, batch order) and
Lightning's ``deterministic=True`` on the CPU, which RecTools documents as how to fix its
randomness; the global ``torch.use_deterministic_algorithms`` flag that Lightning sets is put
back afterwards. Runs repeat bit for bit with the same seed and thread count; another thread
count sums in another order (on ML-100K: test HR@10 0.696 with one thread, 0.703 with two).

RecTools is an optional dependency (``pip install -e ".[peers]"``); :func:`sasrec_available` says
whether it is installed.
"""

from __future__ import annotations

import importlib.util
import logging
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from training.peers import TrainedPeer, Tuning, tune_on_validation
from training.split import Split

USERS_PER_RECOMMEND = 512  # users per recommend() call: bounds its (users x items) DataFrame
UNKNOWN_ITEM_GAP = 1.0  # how far below a user's lowest known-item score an unknown item scores


def sasrec_available() -> bool:
    """Whether RecTools and its torch extra (pytorch-lightning) are installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("rectools", "pytorch_lightning"))


class SequenceScorer:
    """Scores of a sequential model for fixed input sequences, as a users x items matrix that
    ``compute`` returns on first use (a :class:`~training.evaluation.MatrixScorer`)."""

    def __init__(self, compute: Callable[[], np.ndarray]) -> None:
        self._compute: Callable[[], np.ndarray] | None = compute
        self._matrix: np.ndarray | None = None

    @property
    def matrix(self) -> np.ndarray:
        if self._matrix is None:
            assert self._compute is not None
            self._matrix = self._compute()
            self._compute = None  # drop the model's references once the scores are in
        return self._matrix

    def __call__(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.matrix[np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)]

    def score_matrix(self, users: np.ndarray) -> np.ndarray:
        return self.matrix[np.asarray(users, dtype=np.int64)]


@dataclass
class TrainedSequentialPeer(TrainedPeer):
    """A fitted sequential peer: ``scorer`` reads train + validation sequences (for ``test``),
    ``valid_scorer`` the training sequences alone (for ``valid``)."""

    valid_scorer: SequenceScorer | None = None


def interaction_frame(split: Split, parts: tuple[str, ...]) -> Any:
    """RecTools' interactions table of ``parts`` of the split: user and item indices, weight 1,
    and a datetime that is each interaction's position in ``split.data`` (time order within a
    user, ties in time already broken by item id), so RecTools' stable sort by datetime keeps
    exactly the split's order."""
    import pandas as pd
    from rectools import Columns

    rows = np.sort(np.concatenate([getattr(split, part) for part in parts]))
    return pd.DataFrame(
        {
            Columns.User: split.data.users[rows],
            Columns.Item: split.data.items[rows],
            Columns.Weight: np.ones(rows.size, dtype=np.float32),
            Columns.Datetime: pd.to_datetime(rows, unit="s"),
        }
    )


@contextmanager
def _quiet_and_restored(threads: int | None = None) -> Iterator[None]:
    """Lightning's banners and RecTools' warnings off; torch on ``threads`` threads if given;
    afterwards torch's thread count and global deterministic flag (which
    ``Trainer(deterministic=True)`` sets) as they were before."""
    import pytorch_lightning  # noqa: F401  (its import sets its logger's level: first)
    import torch

    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    previous_threads = torch.get_num_threads()
    loggers = [logging.getLogger(n) for n in ("pytorch_lightning", "lightning_fabric")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        if threads is not None:
            torch.set_num_threads(threads)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.set_num_threads(previous_threads)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def score_matrix_of(
    model: Any, split: Split, parts: tuple[str, ...], threads: int | None = None
) -> np.ndarray:
    """Every user's score of every item, the model reading each user's interactions of
    ``parts`` as the input sequence. Items the model has no embedding for score
    :data:`UNKNOWN_ITEM_GAP` below the user's lowest known item; a user without any interaction
    in ``parts`` (none that has a held-out pair in a leave-last-out split) scores 0 everywhere."""
    from rectools import Columns
    from rectools.dataset import Dataset

    frame = interaction_frame(split, parts)
    dataset = Dataset.construct(frame)
    known_items = np.asarray(model.data_preparator.get_known_item_ids()).astype(np.int64)
    users = np.unique(frame[Columns.User].to_numpy())
    matrix = np.full((split.n_users, split.n_items), np.nan, dtype=np.float32)
    with _quiet_and_restored(threads):
        for start in range(0, users.size, USERS_PER_RECOMMEND):
            batch = users[start : start + USERS_PER_RECOMMEND]
            reco = model.recommend(
                users=batch,
                dataset=dataset,
                k=known_items.size,
                filter_viewed=False,
                add_rank_col=False,
                on_unsupported_targets="ignore",
            )
            matrix[reco[Columns.User].to_numpy(np.int64), reco[Columns.Item].to_numpy(np.int64)] = (
                reco[Columns.Score].to_numpy(np.float32)
            )
    floor = np.nanmin(matrix, axis=1, initial=np.inf) - UNKNOWN_ITEM_GAP
    floor[~np.isfinite(floor)] = 0.0
    return np.where(np.isnan(matrix), floor[:, None], matrix)


@dataclass
class RecToolsSASRec:
    """RecTools' SASRec: item-id embeddings only (no item features), causal self-attention over
    the last ``session_max_len`` items, full softmax loss over the catalog (RecTools' default),
    Adam for exactly ``epochs`` epochs, on the CPU with ``threads`` torch threads (2, as
    mediarec's own training; on two idle cores that is ~1.5x faster than one, but on cores that
    other work keeps busy one thread was 2-6x faster than two).
    """

    n_factors: int = 64
    n_blocks: int = 2
    n_heads: int = 2
    dropout_rate: float = 0.2
    session_max_len: int = 50
    epochs: int = 15
    lr: float = 0.002
    batch_size: int = 32
    loss: str = "softmax"
    threads: int = 2
    seed: int = 0

    name = "rectools-sasrec"

    def build(self) -> Any:
        from rectools.models import SASRecModel
        from rectools.models.nn.item_net import IdEmbeddingsItemNet

        return SASRecModel(
            n_factors=self.n_factors,
            n_blocks=self.n_blocks,
            n_heads=self.n_heads,
            dropout_rate=self.dropout_rate,
            session_max_len=self.session_max_len,
            epochs=self.epochs,
            lr=self.lr,
            batch_size=self.batch_size,
            loss=self.loss,
            item_net_block_types=(IdEmbeddingsItemNet,),
            deterministic=True,
            recommend_torch_device="cpu",
            get_trainer_func=cpu_trainer,
            get_trainer_func_kwargs={"epochs": self.epochs},
        )

    def fit(self, split: Split) -> TrainedSequentialPeer:
        import torch
        from rectools.dataset import Dataset

        started = time.perf_counter()
        with _quiet_and_restored(self.threads):
            dataset = Dataset.construct(interaction_frame(split, ("train",)))
            model = self.build()
            torch.manual_seed(self.seed)
            model.fit(dataset)
        seconds = time.perf_counter() - started

        def scores(parts: tuple[str, ...]) -> SequenceScorer:
            return SequenceScorer(lambda: score_matrix_of(model, split, parts, self.threads))

        return TrainedSequentialPeer(
            self.name,
            scores(("train", "valid")),
            seconds,
            asdict(self),
            valid_scorer=scores(("train",)),
        )


def cpu_trainer(epochs: int) -> Any:
    """RecTools' default trainer (exactly ``epochs`` epochs, no checkpoints, no logger), pinned
    to the CPU and deterministic. A module-level function: RecTools keeps it in the model's
    config by its import path."""
    from pytorch_lightning import Trainer

    return Trainer(
        max_epochs=epochs,
        min_epochs=epochs,
        deterministic=True,
        accelerator="cpu",
        devices=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
    )


# Three configurations around the best of a wider search on MovieLens 100K (validation HR@10,
# leave-last-out; batch 32, lr 0.002): longer sequences help (200 items did best, ~0.735, but
# took ~4 min alone), dropout 0.5 did worse than 0.2, and more epochs gain little past 15.
SASREC_GRID: tuple[dict[str, Any], ...] = (
    {"n_factors": 64, "session_max_len": 50, "epochs": 15},
    {"n_factors": 128, "session_max_len": 50, "epochs": 10},
    {"n_factors": 64, "session_max_len": 100, "epochs": 15},
)


def tune_sasrec(
    split: Split,
    seed: int,
    *,
    grid: Iterable[Mapping[str, Any]] = SASREC_GRID,
    builder: Callable[..., RecToolsSASRec] = RecToolsSASRec,
    k: int = 10,
    negatives: int = 99,
    valid_negatives: np.ndarray | None = None,
) -> Tuning:
    """:func:`training.peers.tune_on_validation` for a sequential peer: each configuration is
    fitted on the training sequences and judged by sampled HR@k on ``valid`` through its
    ``valid_scorer`` (training items as input); the best keeps its test-time scorer."""

    def scorer(peer: Any) -> Any:
        assert peer.valid_scorer is not None
        return peer.valid_scorer

    return tune_on_validation(
        builder,
        grid,
        split,
        seed,
        k=k,
        negatives=negatives,
        valid_negatives=valid_negatives,
        valid_scorer=scorer,
    )


def sequential_peers(
    split: Split, *, seed: int = 0, valid_negatives: np.ndarray | None = None
) -> dict[str, TrainedPeer]:
    """RecTools' SASRec tuned on validation over :data:`SASREC_GRID`, by name; empty when
    RecTools is not installed. ``params`` records the tuning time and validation HR@10, as
    :func:`training.peers.default_peers` does."""
    if not sasrec_available():
        return {}
    tuning = tune_sasrec(split, seed, valid_negatives=valid_negatives)
    tuning.best.params = {
        **tuning.best.params,
        "tuning_seconds": tuning.seconds,
        "valid_hr@10": tuning.best_valid_hr,
    }
    return {tuning.best.name: tuning.best}
