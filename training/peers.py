"""Baselines ("peers") that mediarec's own model must beat, trained on a split's training pairs.

* :class:`PopularityModel`: an item's score is its number of training interactions.
* :class:`ImplicitALS`: implicit's alternating least squares (Hu, Koren & Volinsky 2008).
* :class:`ImplicitBPR`: implicit's Bayesian personalised ranking (Rendle et al. 2009).

Each ``fit(split)`` returns a :class:`TrainedPeer`: a :data:`~training.evaluation.Scorer` and the
seconds training took. :func:`tune_on_validation` picks a peer's hyper-parameters by HR@10 on the
split's ``valid`` part (with its own sampled negatives), so the peers are compared at their best,
never at an arbitrary setting. The default grids are small (6 configurations each): about 20 s
for both on MovieLens 100K with two cores (ALS ~1 s a fit, BPR ~2-3 s).

implicit runs on the CPU here (``use_gpu=False``). Its native code uses its own threads
(``num_threads``) and wants BLAS single-threaded, so fitting runs inside
``threadpool_limits(1, "blas")``. ALS is deterministic for a given ``seed``; BPR with more than one
thread updates shared factors without locks (Hogwild) and is reproducible only with
``num_threads=1``, its default here (on ML-100k two threads were no faster anyway).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy.sparse import csr_matrix
from threadpoolctl import threadpool_limits

from training.evaluation import Scorer, sampled_hit_rate
from training.split import Split

FACTOR_PAIRS_PER_STEP = 1 << 16  # pairs gathered at once when scoring factor models pair-wise


@dataclass
class TrainedPeer:
    """A fitted baseline: its scorer, how long training took, and the settings it used."""

    name: str
    scorer: Scorer
    train_seconds: float
    params: dict[str, Any] = field(default_factory=dict)


class PopularityScorer:
    """Scores an item by a fixed per-item number, whoever the user is."""

    def __init__(self, item_scores: np.ndarray) -> None:
        self.item_scores = np.asarray(item_scores, dtype=np.float64)

    def __call__(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.item_scores[np.asarray(items, dtype=np.int64)]

    def score_matrix(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores, (len(users), self.item_scores.size)).copy()


class FactorScorer:
    """Scores (user, item) as the dot product of their latent factors."""

    def __init__(self, user_factors: np.ndarray, item_factors: np.ndarray) -> None:
        self.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        if self.user_factors.shape[1] != self.item_factors.shape[1]:
            raise ValueError("user and item factors differ in width")

    def __call__(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        out = np.empty(users.size, dtype=np.float32)
        for start in range(0, users.size, FACTOR_PAIRS_PER_STEP):
            stop = start + FACTOR_PAIRS_PER_STEP
            out[start:stop] = np.einsum(
                "ij,ij->i",
                self.user_factors[users[start:stop]],
                self.item_factors[items[start:stop]],
            )
        return out

    def score_matrix(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors[np.asarray(users, dtype=np.int64)] @ self.item_factors.T


def training_matrix(split: Split, confidence: float = 1.0) -> csr_matrix:
    """The users x items CSR matrix of the training pairs, ``confidence`` per pair."""
    users, items = split.pairs("train")
    values = np.full(users.size, confidence, dtype=np.float32)
    return csr_matrix((values, (users, items)), shape=(split.n_users, split.n_items))


def _as_numpy(factors: Any) -> np.ndarray:
    """implicit's GPU builds hold factors in their own array type; bring them to numpy."""
    return np.asarray(factors.to_numpy() if hasattr(factors, "to_numpy") else factors)


def fit_factor_model(name: str, model: Any, split: Split, params: dict[str, Any]) -> TrainedPeer:
    """Fit an implicit model on the training matrix (BLAS single-threaded, as implicit asks);
    the fit's wall time is the peer's training time."""
    started = time.perf_counter()
    matrix = training_matrix(split)
    with threadpool_limits(1, "blas"):
        model.fit(matrix, show_progress=False)
    scorer = FactorScorer(_as_numpy(model.user_factors), _as_numpy(model.item_factors))
    return TrainedPeer(name, scorer, time.perf_counter() - started, params)


@dataclass
class PopularityModel:
    """Most popular first: an item scores its number of training interactions."""

    name = "popularity"

    def fit(self, split: Split) -> TrainedPeer:
        started = time.perf_counter()
        _, items = split.pairs("train")
        counts = np.bincount(items, minlength=split.n_items).astype(np.float64)
        return TrainedPeer(
            self.name, PopularityScorer(counts), time.perf_counter() - started, asdict(self)
        )


@dataclass
class ImplicitALS:
    """implicit's ALS on the binary training matrix.

    Every training pair gets confidence ``alpha`` (implicit 0.7 scales the matrix by ``alpha``;
    an unobserved pair weighs 1), so ``alpha`` is how much more an interaction counts than a
    missing one. Defaults suit MovieLens 100K; :data:`ALS_GRID` tunes around them."""

    factors: int = 32
    regularization: float = 10.0
    alpha: float = 5.0
    iterations: int = 15
    seed: int = 0
    num_threads: int = 2

    name = "implicit-als"

    def fit(self, split: Split) -> TrainedPeer:
        from implicit.als import AlternatingLeastSquares

        model = AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            use_gpu=False,
            num_threads=self.num_threads,
            random_state=self.seed,
        )
        return fit_factor_model(self.name, model, split, asdict(self))


@dataclass
class ImplicitBPR:
    """implicit's BPR on the binary training matrix (its item factors carry an item bias)."""

    factors: int = 32
    learning_rate: float = 0.01
    regularization: float = 0.001
    iterations: int = 100
    seed: int = 0
    num_threads: int = 1  # > 1 is faster but not reproducible (lock-free updates)

    name = "implicit-bpr"

    def fit(self, split: Split) -> TrainedPeer:
        from implicit.bpr import BayesianPersonalizedRanking

        model = BayesianPersonalizedRanking(
            factors=self.factors,
            learning_rate=self.learning_rate,
            regularization=self.regularization,
            iterations=self.iterations,
            use_gpu=False,
            num_threads=self.num_threads,
            random_state=self.seed,
        )
        return fit_factor_model(self.name, model, split, asdict(self))


class PeerModel(Protocol):
    name: str

    def fit(self, split: Split) -> TrainedPeer: ...


# Around the best region of a wider search on MovieLens 100K (validation HR@10, leave-last-out).
# implicit's ALS regularization is not scaled by the number of interactions: on a much larger
# data set, search again.
ALS_GRID: tuple[dict[str, Any], ...] = tuple(
    {"factors": f, "regularization": r, "alpha": a}
    for f in (16, 32, 64)
    for r, a in ((10.0, 2.0), (30.0, 5.0))
)
BPR_GRID: tuple[dict[str, Any], ...] = tuple(
    {"factors": f, "learning_rate": lr, "regularization": r}
    for f in (16, 32, 64)
    for lr, r in ((0.01, 0.001), (0.01, 0.01))
)


@dataclass
class Tuning:
    """The outcome of :func:`tune_on_validation`: the best peer (already fitted on the training
    pairs) and every configuration tried with its validation HR@k."""

    best: TrainedPeer
    best_params: dict[str, Any]
    best_valid_hr: float
    tried: list[tuple[dict[str, Any], float, float]]  # (params, valid HR@k, train seconds)
    seconds: float


def tune_on_validation(
    builder: Callable[..., PeerModel],
    grid: Iterable[Mapping[str, Any]],
    split: Split,
    seed: int,
    *,
    k: int = 10,
    negatives: int = 99,
    valid_negatives: np.ndarray | None = None,
    valid_scorer: Callable[[Any], Scorer] | None = None,
) -> Tuning:
    """Fit ``builder(**params, seed=seed)`` on the training pairs for each ``params`` of
    ``grid`` and keep the one with the best sampled HR@k on ``valid``. The validation negatives
    are ``valid_negatives`` if given, else ``negatives`` per pair drawn with ``seed`` (fewer when
    the catalog is too small). Ties go to the earlier configuration. ``valid_scorer(peer)`` is
    the scorer validation judges (default: the peer's ``scorer``; a sequential peer's reads
    other inputs for validation than for test)."""
    started = time.perf_counter()
    if valid_negatives is None:
        unseen = split.n_items - max((len(seen) for seen in split.seen), default=0)
        valid_negatives = split.sample_negatives("valid", min(negatives, unseen), seed)
    best: tuple[TrainedPeer, dict[str, Any], float] | None = None
    tried: list[tuple[dict[str, Any], float, float]] = []
    for params in grid:
        peer = builder(**dict(params), seed=seed).fit(split)
        scorer = valid_scorer(peer) if valid_scorer is not None else peer.scorer
        hr = sampled_hit_rate(scorer, split, "valid", valid_negatives, k)
        tried.append((dict(params), hr, peer.train_seconds))
        if best is None or hr > best[2]:
            best = (peer, dict(params), hr)
    if best is None:
        raise ValueError("the grid is empty")
    return Tuning(best[0], best[1], best[2], tried, time.perf_counter() - started)


def default_peers(
    split: Split, *, seed: int = 0, valid_negatives: np.ndarray | None = None
) -> dict[str, TrainedPeer]:
    """Popularity, and ALS and BPR each tuned on validation over its default grid, by name.
    A tuned peer's ``train_seconds`` is the fit of its chosen configuration alone; ``params``
    also records the whole tuning time (``tuning_seconds``) and the validation HR@10."""
    peers = {PopularityModel.name: PopularityModel().fit(split)}
    for builder, grid in ((ImplicitALS, ALS_GRID), (ImplicitBPR, BPR_GRID)):
        tuning = tune_on_validation(builder, grid, split, seed, valid_negatives=valid_negatives)
        tuning.best.params = {
            **tuning.best.params,
            "tuning_seconds": tuning.seconds,
            "valid_hr@10": tuning.best_valid_hr,
        }
        peers[tuning.best.name] = tuning.best
    return peers
