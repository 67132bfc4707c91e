"""From the database to arrays: interactions, the split, and the training features.

Features are computed by sql/serving/features.sql over the *training* split's events only (the pairs
of the split's train part, every event type, up to the end of the training window), so nothing
from a validation or test interaction leaks into what the model sees. A split with no holdout
(``split.no_holdout``: the production model, trained on every interaction) has nothing to leak
into, so its features are as of when the interactions were read, as serving would see them.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from functions.common import clock
from functions.common.clock import HOUR_MS
from functions.common.serving import features as F
from functions.common.settings import Settings
from functions.common.store import sql, tombstones
from functions.common.store.db import Database, execute, fetch_all
from training.split import Interactions, Split, seen_sets
from training.store_copy import local_reader


@dataclass
class TrainingData:
    split: Split
    spec: F.FeatureSpec
    as_of_ms: int
    user_features: np.ndarray  # (n_users, len(USER_COLUMNS)) normalised
    item_features: np.ndarray  # (n_items, len(ITEM_COLUMNS)) normalised
    item_kinds: np.ndarray  # (n_items,) 0 unknown, 1.. KINDS
    item_categories: np.ndarray  # (n_items, len(spec.categories)) multi-hot
    impression_negatives: tuple[np.ndarray, np.ndarray]  # (users, items) shown, not engaged


def _padded(rows: list[list[int]], length: int, padding: int) -> np.ndarray:
    out = np.full((len(rows), length), padding, dtype=np.int64)
    for n, row in enumerate(rows):
        tail = row[-length:]
        out[n, length - len(tail) :] = tail
    return out


def causal_history(split: Split, length: int) -> np.ndarray:
    """Row j: the items of the user's training pairs before training pair j, most recent last.
    ``split.train`` is ordered by user, then time, so a running list per user is causal."""
    users, items = split.pairs("train")
    rows: list[list[int]] = []
    current_user, seen_items = -1, list[int]()
    for user, item in zip(users.tolist(), items.tolist(), strict=True):
        if user != current_user:
            current_user, seen_items = user, []
        rows.append(seen_items[-length:])
        seen_items = [*seen_items[-(length - 1) :], item] if length > 1 else [item]
    return _padded(rows, length, split.n_items)


def last_items(split: Split, length: int) -> np.ndarray:
    """Per user: their last ``length`` training items, most recent last (padded in front)."""
    users, items = split.pairs("train")
    per_user: list[list[int]] = [[] for _ in range(split.n_users)]
    for user, item in zip(users.tolist(), items.tolist(), strict=True):
        per_user[user].append(item)
    return _padded(per_user, length, split.n_items)


def forget_deleted_users(conn: sqlite3.Connection) -> None:
    """Fill temp.forgotten_users on ``conn``: the ids with a deletion tombstone, whose events
    and impressions up to the deletion every training read leaves out (sql/training/data.sql)."""
    tombstones.install_sql_function(conn)
    execute(conn, "training/data", "create_forgotten_users")
    execute(conn, "training/data", "clear_forgotten_users")
    execute(conn, "training/data", "fill_forgotten_users")


def load_interactions(database: Database, types: tuple[str, ...]) -> Interactions:
    """The interactions to train on, stamped with the time they were read (taken before the
    read: a user deleted from then on may be among them)."""
    read_ms = clock.now_ms()

    def read(conn: sqlite3.Connection) -> list[sqlite3.Row]:
        forget_deleted_users(conn)
        return fetch_all(conn, "training/data", "interactions", {"types": types})

    with local_reader(database) as local:  # the store itself on SQLite
        rows = local.read(read)
    if not rows:
        raise ValueError(
            f"no events of types {list(types)} in {database.path}: nothing to train on"
        )
    interactions = Interactions.from_pairs(
        [r["user_id"] for r in rows], [r["item_id"] for r in rows], [r["ts_ms"] for r in rows]
    )
    interactions.read_ms = read_ms
    return interactions


def _fill_training_source(conn: sqlite3.Connection, split: Split, as_of_ms: int) -> None:
    forget_deleted_users(conn)  # also read by unengaged_impressions after this
    execute(conn, "training/data", "create_training_pairs")
    execute(conn, "training/data", "clear_training_pairs")
    users, items = split.pairs("train")
    data = split.data
    conn.executemany(
        sql.query("training/data", "add_training_pair"),
        [
            {"user_id": data.user_ids[u], "item_id": data.item_ids[i]}
            for u, i in zip(users.tolist(), items.tolist(), strict=True)
        ],
    )
    execute(conn, "training/data", "create_training_source")
    execute(conn, "training/data", "clear_training_source")
    execute(conn, "training/data", "fill_training_source", {"as_of_ms": as_of_ms})


def features_as_of(split: Split) -> int:
    """When the training features are computed: the end of the training window, so that nothing
    at or after a held-out interaction leaks in; with no holdout (kind "none"), when the
    interactions were read (the latest interaction if later, or when not read from a database)."""
    window_end = split.train_window_ms()[1]
    if split.kind == "none" and split.data.read_ms is not None:
        return max(split.data.read_ms, window_end)
    return window_end


def build_training_data(
    database: Database, split: Split, settings: Settings, spec: F.FeatureSpec | None = None
) -> TrainingData:
    """Features of every user and item of ``split`` (as of :func:`features_as_of`), normalised on
    the training users/items. Validation and test may be empty (``split.no_holdout``)."""
    spec = spec or F.FeatureSpec()
    as_of_ms = features_as_of(split)
    with local_reader(database) as reader:
        conn = reader.conn
        _fill_training_source(conn, split, as_of_ms)
        user_rows = F.raw_user_rows(conn, spec, as_of_ms)
        item_rows = F.raw_item_rows(conn, spec, as_of_ms)
        negatives = fetch_all(
            conn,
            "training/data",
            "unengaged_impressions",
            {
                "until_ms": as_of_ms,
                "positive_types": settings.positive_event_types,
                "skew_ms": int(settings.attribution_clock_skew_s * 1000),
                "window_ms": int(settings.attribution_window_hours * HOUR_MS),
            },
        )
    data = split.data
    spec.categories = F.category_vocabulary(
        item_rows[i][2] for i in data.item_ids if i in item_rows
    )
    default_user, default_item = F.default_user_row(spec), F.default_item_row(spec)
    raw_users = np.array([user_rows.get(u, default_user) for u in data.user_ids], dtype=np.float64)
    raw_items = np.array(
        [item_rows[i][0] if i in item_rows else default_item for i in data.item_ids],
        dtype=np.float64,
    )
    train_users, train_items = split.pairs("train")
    spec.user_mean, spec.user_std = F.fit_normalisation(
        raw_users[np.unique(train_users)], F.USER_COLUMNS
    )
    spec.item_mean, spec.item_std = F.fit_normalisation(
        raw_items[np.unique(train_items)], F.ITEM_COLUMNS
    )
    kinds, categories = F.item_kinds_and_categories(item_rows, data.item_ids, spec.categories)
    user_index = {u: n for n, u in enumerate(data.user_ids)}
    item_index = {i: n for n, i in enumerate(data.item_ids)}
    shown = [
        (user_index[r["user_id"]], item_index[r["item_id"]])
        for r in negatives
        if r["user_id"] in user_index and r["item_id"] in item_index
    ]
    shown_arr = np.array(shown, dtype=np.int64).reshape(-1, 2)
    return TrainingData(
        split=split,
        spec=spec,
        as_of_ms=as_of_ms,
        user_features=F.normalise(raw_users, F.USER_COLUMNS, spec.user_mean, spec.user_std),
        item_features=F.normalise(raw_items, F.ITEM_COLUMNS, spec.item_mean, spec.item_std),
        item_kinds=kinds,
        item_categories=categories,
        impression_negatives=(shown_arr[:, 0], shown_arr[:, 1]),
    )


DATA_ARRAYS = "training_data.npz"
DATA_META = "training_data.json"


def save_training_data(data: TrainingData, folder: Path) -> None:
    """Everything export and evaluate need to rebuild ``data`` without the database."""
    folder.mkdir(parents=True, exist_ok=True)
    split, inter = data.split, data.split.data
    np.savez_compressed(
        folder / DATA_ARRAYS,
        user_features=data.user_features,
        item_features=data.item_features,
        item_kinds=data.item_kinds,
        item_categories=data.item_categories,
        users=inter.users,
        items=inter.items,
        ts_ms=inter.ts_ms,
        train=split.train,
        valid=split.valid,
        test=split.test,
        shown_users=data.impression_negatives[0],
        shown_items=data.impression_negatives[1],
    )
    meta = {
        "user_ids": inter.user_ids,
        "item_ids": inter.item_ids,
        "split": split.kind,
        "as_of_ms": data.as_of_ms,
        "data_read_ms": inter.read_ms,
        "features": data.spec.to_dict(),
    }
    (folder / DATA_META).write_text(json.dumps(meta), encoding="utf-8")


def load_training_data(folder: Path) -> TrainingData:
    arrays = np.load(folder / DATA_ARRAYS)
    meta = json.loads((folder / DATA_META).read_text(encoding="utf-8"))
    inter = Interactions(
        meta["user_ids"],
        meta["item_ids"],
        arrays["users"],
        arrays["items"],
        arrays["ts_ms"],
        meta.get("data_read_ms"),
    )
    split = Split(
        inter, meta["split"], arrays["train"], arrays["valid"], arrays["test"], seen_sets(inter)
    )
    return TrainingData(
        split=split,
        spec=F.FeatureSpec.from_dict(meta["features"]),
        as_of_ms=meta["as_of_ms"],
        user_features=arrays["user_features"],
        item_features=arrays["item_features"],
        item_kinds=arrays["item_kinds"],
        item_categories=arrays["item_categories"],
        impression_negatives=(arrays["shown_users"], arrays["shown_items"]),
    )
