"""Model input features, computed by the same SQL (sql/serving/features.sql) offline and online.

Training fills ``temp.feature_events`` with its training split and calls :func:`user_matrix` /
:func:`item_matrix`; serving points ``feature_events`` at every event and calls the same
functions, with the normalisation stored in the model's manifest (:class:`FeatureSpec`), so a
served score is computed from exactly what the model was trained on.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from functions.common.store import sql
from functions.common.store.db import execute, fetch_all, fetch_all_of, holds_temporary_tables
from functions.common.store.sql import Query
from functions.common.vocabulary import ITEM_KINDS

USER_COLUMNS = ("events", "items", "like_rate", "skip_rate", "days_since_last", "active_days")
ITEM_COLUMNS = (
    "events",
    "users",
    "like_rate",
    "click_rate",
    "recent_users",
    "days_since_last",
    "age_days",
)
LOG_COLUMNS = (
    "events",
    "items",
    "users",
    "recent_users",
    "days_since_last",
    "active_days",
    "age_days",
)
MAX_CATEGORIES = 64
DAY_MS = 86_400_000


@dataclass
class FeatureSpec:
    """What the features are and how they are normalised; saved in the bundle's manifest."""

    interaction_types: tuple[str, ...] = ("view", "click", "like", "share")
    like_types: tuple[str, ...] = ("like", "share")
    click_types: tuple[str, ...] = ("click",)
    skip_types: tuple[str, ...] = ("skip",)
    prior_a: float = 1.0
    prior_b: float = 4.0
    recent_days: float = 7.0
    max_days: float = 3650.0
    categories: list[str] = field(default_factory=list)
    user_mean: list[float] = field(default_factory=list)
    user_std: list[float] = field(default_factory=list)
    item_mean: list[float] = field(default_factory=list)
    item_std: list[float] = field(default_factory=list)

    def params(self, as_of_ms: int) -> dict[str, Any]:
        return {
            "as_of_ms": as_of_ms,
            "like_types": self.like_types,
            "click_types": self.click_types,
            "skip_types": self.skip_types,
            "prior_a": float(self.prior_a),
            "prior_b": float(self.prior_b),
            "recent_ms": int(self.recent_days * DAY_MS),
            "max_days": float(self.max_days),
        }

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["user_columns"], data["item_columns"] = list(USER_COLUMNS), list(ITEM_COLUMNS)
        data["log_columns"] = list(LOG_COLUMNS)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        if data.get("user_columns", list(USER_COLUMNS)) != list(USER_COLUMNS) or data.get(
            "item_columns", list(ITEM_COLUMNS)
        ) != list(ITEM_COLUMNS):
            raise ValueError("the bundle's feature columns differ from this code's")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("interaction_types", "like_types", "click_types", "skip_types"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)


def use_serving_source(conn: sqlite3.Connection) -> None:
    """Point ``feature_events`` at every stored event (serving): a temporary view on SQLite;
    PostgreSQL's schema holds that view (sql/migrations/postgresql/0001_schema.sql)."""
    if holds_temporary_tables(conn):
        execute(conn, "serving/features", "create_serving_source")


def default_user_row(spec: FeatureSpec) -> list[float]:
    prior = spec.prior_a / (spec.prior_a + spec.prior_b)
    return [0.0, 0.0, prior, prior, spec.max_days, 0.0]


def default_item_row(spec: FeatureSpec) -> list[float]:
    prior = spec.prior_a / (spec.prior_a + spec.prior_b)
    return [0.0, 0.0, prior, prior, 0.0, spec.max_days, spec.max_days]


def one_user_query(spec: FeatureSpec, as_of_ms: int, user_id: str) -> Query:
    """The indexed query of one user's features row (what serving runs per request)."""
    params = {**spec.params(as_of_ms), "user_id": user_id}
    return sql.named("serving/features", "one_user_features", params)


def raw_user_rows(
    conn: sqlite3.Connection, spec: FeatureSpec, as_of_ms: int, user_id: str | None = None
) -> dict[str, list[float]]:
    """``{user_id: [USER_COLUMNS...]}`` from sql/serving/features.sql: every user, or
    only ``user_id`` (an indexed query: what serving runs per request)."""
    if user_id is None:
        rows = fetch_all(conn, "serving/features", "user_features", spec.params(as_of_ms))
    else:
        rows = fetch_all_of(conn, one_user_query(spec, as_of_ms, user_id))
    return {r["user_id"]: [float(r[c]) for c in USER_COLUMNS] for r in rows}


def raw_item_rows(
    conn: sqlite3.Connection, spec: FeatureSpec, as_of_ms: int
) -> dict[str, tuple[list[float], str, list[str]]]:
    """``{item_id: ([ITEM_COLUMNS...], kind, categories)}`` for every catalog item."""
    rows = fetch_all(conn, "serving/features", "item_features", spec.params(as_of_ms))
    return {
        r["item_id"]: (
            [float(r[c]) for c in ITEM_COLUMNS],
            r["kind"],
            list(json.loads(r["categories"] or "[]")),
        )
        for r in rows
    }


def category_vocabulary(categories: Iterable[Sequence[str]]) -> list[str]:
    """The most frequent categories (at most MAX_CATEGORIES), ties by name."""
    counts = Counter(c for item in categories for c in item)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return sorted(name for name, _ in ranked[:MAX_CATEGORIES])


def log_transform(matrix: np.ndarray, columns: Sequence[str]) -> np.ndarray:
    out = matrix.astype(np.float64, copy=True)
    for j, name in enumerate(columns):
        if name in LOG_COLUMNS:
            out[:, j] = np.log1p(np.maximum(out[:, j], 0.0))
    return out


def fit_normalisation(
    matrix: np.ndarray, columns: Sequence[str]
) -> tuple[list[float], list[float]]:
    logged = log_transform(matrix, columns)
    mean = logged.mean(axis=0) if len(logged) else np.zeros(len(columns))
    std = logged.std(axis=0) if len(logged) else np.ones(len(columns))
    std = np.where(std < 1e-6, 1.0, std)
    return [float(x) for x in mean], [float(x) for x in std]


def normalise(
    matrix: np.ndarray, columns: Sequence[str], mean: Sequence[float], std: Sequence[float]
) -> np.ndarray:
    """log1p on count-like columns, then standardise with the training mean and std."""
    logged = log_transform(matrix, columns)
    out = (logged - np.asarray(mean)) / np.asarray(std)
    return np.ascontiguousarray(out, dtype=np.float32)


def user_matrix(
    rows: dict[str, list[float]], user_ids: Sequence[str], spec: FeatureSpec
) -> np.ndarray:
    """Normalised user features in the order of ``user_ids`` (unknown users: the default row)."""
    default = default_user_row(spec)
    raw = np.array([rows.get(u, default) for u in user_ids], dtype=np.float64).reshape(
        len(user_ids), len(USER_COLUMNS)
    )
    return normalise(raw, USER_COLUMNS, spec.user_mean, spec.user_std)


def item_matrix(
    rows: dict[str, tuple[list[float], str, list[str]]], item_ids: Sequence[str], spec: FeatureSpec
) -> np.ndarray:
    default = default_item_row(spec)
    raw = np.array(
        [rows[i][0] if i in rows else default for i in item_ids], dtype=np.float64
    ).reshape(len(item_ids), len(ITEM_COLUMNS))
    return normalise(raw, ITEM_COLUMNS, spec.item_mean, spec.item_std)


def item_kinds_and_categories(
    rows: dict[str, tuple[list[float], str, list[str]]],
    item_ids: Sequence[str],
    categories: Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Kind codes (0 unknown, then 1.. in ITEM_KINDS order) and a multi-hot category matrix."""
    column = {name: j for j, name in enumerate(categories)}
    kinds = np.zeros(len(item_ids), dtype=np.int64)
    multi_hot = np.zeros((len(item_ids), len(categories)), dtype=np.float32)
    for n, item_id in enumerate(item_ids):
        if item_id not in rows:
            continue
        _, kind, names = rows[item_id]
        kinds[n] = ITEM_KINDS.index(kind) + 1 if kind in ITEM_KINDS else 0
        for name in names:
            if name in column:
                multi_hot[n, column[name]] = 1.0
    return kinds, multi_hot
