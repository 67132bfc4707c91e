"""The offline pipeline end to end: interactions -> split -> features -> train -> evaluate.

Each step is a function the CLI and the quality benchmark share, so `mediarec train` and
`mediarec benchmark quality` train and measure the same way.

Production training (`mediarec train --split none`): the validated run as always (leave-last-out,
early stopping, test metrics), then :func:`prepare_production` and :func:`train_production`
train the served model on every interaction of the same read, for the validated run's best
epoch count, without early stopping (there is nothing held out to stop on).
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from functions.common.clock import parse_timestamp
from functions.common.serving import features as F
from functions.common.settings import Settings
from functions.common.store.db import Database
from training import evaluation
from training.data import TrainingData, build_training_data, load_interactions
from training.split import Interactions, Split, leave_last_out, no_holdout, time_cut
from training.train import (
    Scorer,
    TrainConfig,
    TrainResult,
    make_scorer,
    make_session_scorer,
    save_history,
    train_model,
)

VALID_SEED, TEST_SEED = 1, 2
SAMPLED_NEGATIVES = 99


@dataclass
class Prepared:
    data: TrainingData
    valid_negatives: np.ndarray
    test_negatives: np.ndarray
    seconds: float

    @property
    def split(self) -> Split:
        return self.data.split


@dataclass
class ModelReport:
    name: str
    metrics: dict[str, Any]
    train_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


def make_split(
    database: Database,
    settings: Settings,
    *,
    types: tuple[str, ...] | None = None,
    cut: str | None = None,
) -> Split:
    data = load_interactions(database, types or settings.positive_event_types)
    return time_cut(data, parse_timestamp(cut)) if cut else leave_last_out(data)


def prepare(
    database: Database,
    settings: Settings,
    *,
    types: tuple[str, ...] | None = None,
    cut: str | None = None,
) -> Prepared:
    """Split, features, and the seeded sampled negatives for validation and test."""
    started = time.perf_counter()
    types = types or settings.positive_event_types
    split = make_split(database, settings, types=types, cut=cut)
    if len(split.test) == 0 or len(split.valid) == 0:
        raise ValueError(
            "the split left no validation or test interactions: users need at least "
            "three interactions each (or pick another --cut)"
        )
    data = build_training_data(
        database, split, settings, F.FeatureSpec(interaction_types=tuple(types))
    )
    return with_negatives(data, time.perf_counter() - started)


def with_negatives(data: TrainingData, seconds: float = 0.0) -> Prepared:
    """The seeded sampled negatives of validation and test: 99 per pair, or as many as the
    user with the most interactions leaves unseen in a small catalog."""
    split = data.split
    negatives = min(SAMPLED_NEGATIVES, split.n_items - max(len(s) for s in split.seen))
    if negatives < 1:
        raise ValueError("some user has interacted with every item: no negatives to sample")
    return Prepared(
        data,
        split.sample_negatives("valid", negatives, VALID_SEED),
        split.sample_negatives("test", negatives, TEST_SEED),
        seconds,
    )


def validator(prepared: Prepared, k: int = 10):
    def validate(scorer: Scorer) -> dict[str, float]:
        rank, ties, _ = evaluation.sampled_ranks(
            scorer, prepared.split, "valid", prepared.valid_negatives
        )
        return {
            f"hr@{k}": evaluation.hit_rate_at_k(rank, k, ties),
            f"ndcg@{k}": evaluation.ndcg_at_k(rank, k, ties),
        }

    return validate


def train(
    prepared: Prepared, config: TrainConfig, run_dir: Path | None = None, progress: bool = True
) -> TrainResult:
    result = train_model(prepared.data, config, validator(prepared), run_dir, progress)
    if run_dir is not None and result.history:
        save_history(result.history, run_dir)
    return result


def prepare_production(
    database: Database,
    settings: Settings,
    interactions: Interactions,
    *,
    types: tuple[str, ...] | None = None,
) -> TrainingData:
    """``interactions`` (those the validated run split) all as training data, with the features
    as of when they were read (training/data.py features_as_of)."""
    types = types or settings.positive_event_types
    return build_training_data(
        database, no_holdout(interactions), settings, F.FeatureSpec(interaction_types=tuple(types))
    )


def production_config(config: TrainConfig, validated: TrainResult) -> TrainConfig:
    """``config`` for exactly the validated run's best epoch count (patience is not used)."""
    return dataclasses.replace(config, epochs=max(1, validated.best_epoch))


def train_production(
    data: TrainingData, config: TrainConfig, run_dir: Path | None = None, progress: bool = True
) -> TrainResult:
    """Exactly ``config.epochs`` epochs with no validation or early stopping; keeps the last
    weights (and, with ``run_dir``, checkpoints them as best.pt)."""
    result = train_model(data, config, None, run_dir, progress)
    if run_dir is not None and result.history:
        save_history(result.history, run_dir)
    return result


def evaluate_scorer(prepared: Prepared, scorer: Scorer, cold_max_train: int = 20) -> dict[str, Any]:
    return evaluation.evaluate(
        scorer, prepared.split, negatives=prepared.test_negatives, cold_max_train=cold_max_train
    )


def evaluate_model(prepared: Prepared, result: TrainResult, cold_max_train: int = 20) -> dict:
    """Test metrics; each user's history is everything before the test item, the validation
    item included (as at serving time, where the latest events are read per request)."""
    scorer = make_scorer(result.model, prepared.data, through="valid")
    return evaluate_scorer(prepared, scorer, cold_max_train)


def evaluate_as_new_users(
    prepared: Prepared, result: TrainResult, cold_max_train: int = 20
) -> dict:
    """Test metrics of what a user the model never saw is served: the history state alone
    (``make_session_scorer``), from the same items as :func:`evaluate_model`."""
    scorer = make_session_scorer(result.model, prepared.data, through="valid")
    return evaluate_scorer(prepared, scorer, cold_max_train)


ABLATIONS: dict[str, dict[str, Any]] = {
    "features": {"use_features": False},
    "embeddings": {"use_embeddings": False},
    "history": {"use_history": False},
    # the sequence encoder replaced by the mean of the history embeddings (the former model)
    "encoder": {"history_encoder": "mean", "tie_history": False},
}


def ablated(config: TrainConfig, what: str) -> TrainConfig:
    if what not in ABLATIONS:
        raise ValueError(f"unknown ablation {what!r}; expected one of {sorted(ABLATIONS)}")
    return TrainConfig(**{**config.__dict__, **ABLATIONS[what]})


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


def json_ready(value: Any) -> Any:
    """Metrics made JSON-safe: numpy scalars to Python numbers, NaN to None."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value
