"""Features at serving time: the training SQL, normalised as trained.

Item features: sql/serving/features.sql over every stored event, run by the snapshot
refresh for the model's feature parameters (:func:`build_item_features`) and stored in
``item_features_snapshot`` by items rowid; a container loads each generation once
(:func:`item_feature_table`), and a request looks up its few hundred candidates' visibility,
kind and rowid in the items table (:func:`candidate_items`). User features and history: computed per
request for the one user (indexed queries), with the same SQL as training.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from functions.common import caches
from functions.common.serving import features as F
from functions.common.serving.model_runtime import ServingModel
from functions.common.store import sql
from functions.common.store.db import Database, fetch_all_of, fetch_one, fetch_tuples
from functions.common.store.snapshots import Built, Snapshot, SnapshotGone
from functions.common.store.sql import Query


def item_features_snapshot_name(spec: F.FeatureSpec) -> str:
    """Snapshots are shared by every model whose features use the same SQL parameters."""
    params = json.dumps(sql_parameters(spec), sort_keys=True)
    return "item_features:" + hashlib.sha256(params.encode("utf-8")).hexdigest()[:16]


def sql_parameters(spec: F.FeatureSpec) -> dict[str, Any]:
    """The spec's parameters of the feature SQL, apart from the time they are computed at."""
    return {k: v for k, v in spec.params(0).items() if k != "as_of_ms"}


def build_item_features(conn: sqlite3.Connection, spec: F.FeatureSpec, now_ms: int) -> Built:
    """Every catalog item's raw features as of ``now_ms``, at its rowid: the snapshot's row."""
    F.use_serving_source(conn)
    values = F.raw_item_rows(conn, spec, now_ms)
    placed = fetch_tuples(conn, "serving/online_features", "item_rows")
    size = max((rowid for rowid, _ in placed), default=-1) + 1
    names: list[str | None] = [None] * size
    matrix = np.zeros((size, len(F.ITEM_COLUMNS)), dtype=np.float64)
    for rowid, item_id in placed:
        names[rowid] = item_id
        matrix[rowid] = values[item_id][0]
    row = {
        "item_ids": json.dumps(names),
        "columns": json.dumps(list(F.ITEM_COLUMNS)),
        "features": matrix.tobytes(),
    }
    return Built([row], {"spec": sql_parameters(spec)}, size=len(placed))


@dataclass(frozen=True)
class ItemFeatureTable:
    """One generation of the item-features snapshot: raw feature row r and the item it
    belongs to, for every rowid r of the items table at the time."""

    generation: int
    item_ids: list[str | None]
    raw: np.ndarray


_tables: dict[str, ItemFeatureTable] = {}
_tables_lock = threading.Lock()


def item_feature_table(db: Database, snapshot: Snapshot) -> ItemFeatureTable:
    """The snapshot's table, loaded once per generation and container."""
    with _tables_lock:
        cached = _tables.get(snapshot.name)
    if cached is not None and cached.generation == snapshot.generation:
        return cached
    params = {"generation": snapshot.generation}
    row = db.read(lambda c: fetch_one(c, "serving/online_features", "item_features_table", params))
    if row is None:
        raise SnapshotGone(f"item-feature snapshot generation {snapshot.generation} is gone")
    if json.loads(row["columns"]) != list(F.ITEM_COLUMNS):  # written by another release
        raise SnapshotGone("the item-feature snapshot's columns differ from this code's")
    table = ItemFeatureTable(
        generation=int(snapshot.generation),  # type: ignore[arg-type]
        item_ids=json.loads(row["item_ids"]),
        raw=np.frombuffer(row["features"], dtype=np.float64).reshape(-1, len(F.ITEM_COLUMNS)),
    )
    with _tables_lock:  # a request that read an older pointer must not replace a newer table
        held = _tables.get(snapshot.name)
        if held is None or held.generation < table.generation:
            _tables[snapshot.name] = table
    return table


@caches.register
def clear_item_feature_tables() -> None:
    with _tables_lock:
        _tables.clear()


@dataclass(frozen=True)
class Candidates:
    """Visible candidates that pass the filters, in the order asked, with their kinds and
    normalised feature rows (rows in the order of ``indices``)."""

    indices: np.ndarray  # model item indices
    kinds: list[str]
    matrix: np.ndarray


def candidate_items(
    db: Database,
    model: ServingModel,
    snapshot: Snapshot,
    item_indices: list[int],
    *,
    kind: str | None,
    category: str | None,
) -> Candidates:
    """The candidates among ``item_indices`` that are visible and pass ``kind``/``category``,
    with their snapshot features (the default row for an item newer than the snapshot)."""
    table = item_feature_table(db, snapshot)
    found: list[tuple[str, str, int]] = []
    if item_indices:
        ids = json.dumps([model.item_ids[i] for i in item_indices])
        params = {"item_ids": ids, "kind": kind, "category": category}
        found = db.read(
            lambda c: fetch_tuples(c, "serving/online_features", "candidate_items", params)
        )
    by_id = {item_id: (item_kind, rowid) for item_id, item_kind, rowid in found}
    kept = [i for i in item_indices if model.item_ids[i] in by_id]
    kinds, rowids = [], []
    for index in kept:
        item_kind, rowid = by_id[model.item_ids[index]]
        kinds.append(item_kind)
        known = rowid < len(table.item_ids) and table.item_ids[rowid] == model.item_ids[index]
        rowids.append(rowid if known else -1)
    rows = np.array(rowids, dtype=np.int64)
    raw = np.empty((len(kept), len(F.ITEM_COLUMNS)), dtype=np.float64)
    raw[:] = F.default_item_row(model.spec)
    raw[rows >= 0] = table.raw[rows[rows >= 0]]
    return Candidates(
        indices=np.array(kept, dtype=np.int64),
        kinds=kinds,
        matrix=F.normalise(raw, F.ITEM_COLUMNS, model.spec.item_mean, model.spec.item_std),
    )


def user_features(db: Database, model: ServingModel, user_id: str, now_ms: int) -> np.ndarray:
    """One normalised row of user features (the default row for a user with no events)."""

    def read(conn: sqlite3.Connection) -> dict[str, list[float]]:
        F.use_serving_source(conn)
        return F.raw_user_rows(conn, model.spec, now_ms, user_id=user_id)

    return F.user_matrix(db.read(read), [user_id], model.spec)


def history_query(model: ServingModel, user_id: str, now_ms: int) -> Query:
    """The user's latest interactions, twice the model's history (items it does not know are
    left out afterwards)."""
    params = {
        "user_id": user_id,
        "types": model.spec.interaction_types,
        "as_of_ms": now_ms,
        "limit": model.history_length * 2,
    }
    return sql.named("serving/features", "recent_interactions", params)


def user_history(db: Database, model: ServingModel, user_id: str, now_ms: int) -> np.ndarray:
    """The user's latest interactions as model item indices, oldest first, padded in front:
    shape (1, history_length). Items the model does not know are left out."""
    length = model.history_length
    row = np.full((1, max(length, 1)), model.padding_item, dtype=np.int64)
    if length == 0:
        return row
    rows = db.read(lambda c: fetch_all_of(c, history_query(model, user_id, now_ms)))
    known = [model.item_index[r["item_id"]] for r in rows if r["item_id"] in model.item_index]
    recent = known[:length][::-1]
    if recent:
        row[0, length - len(recent) :] = recent
    return row
