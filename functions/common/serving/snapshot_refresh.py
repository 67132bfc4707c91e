"""Which snapshots exist and when they are rebuilt.

* The metrics function's schedule (every few minutes) and ``mediarec refresh`` call
  :func:`refresh_all`: popularity, and the item features of every feature specification a
  registered model uses (kept only while a registered model uses it).
* ``mediarec publish`` builds the new model's item features before it is activated.
* A request calls :func:`serving_snapshots`: a snapshot that was never built is built there and
  then; one older than ``snapshot_max_age_seconds`` (0: no limit) is rebuilt by the first
  request that claims it while the others keep serving the current generation.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from functions.common.serving.features import FeatureSpec
from functions.common.serving.online_features import (
    build_item_features,
    item_features_snapshot_name,
    sql_parameters,
)
from functions.common.serving.popularity import SNAPSHOT as POPULARITY
from functions.common.serving.popularity import build_popularity, popularity_info
from functions.common.settings import Settings
from functions.common.store import snapshots
from functions.common.store.db import Database, fetch_all
from functions.common.store.snapshots import Snapshot

logger = logging.getLogger(__name__)


Due = Callable[[Snapshot], bool] | None


def refresh_popularity(db: Database, settings: Settings, now_ms: int, due: Due = None) -> bool:
    return snapshots.refresh(
        db,
        POPULARITY,
        lambda conn: build_popularity(conn, now_ms, settings),
        popularity_info(settings),
        now_ms,
        due,
    )


def refresh_item_features(db: Database, spec: FeatureSpec, now_ms: int, due: Due = None) -> bool:
    return snapshots.refresh(
        db,
        item_features_snapshot_name(spec),
        lambda conn: build_item_features(conn, spec, now_ms),
        {"spec": sql_parameters(spec)},
        now_ms,
        due,
    )


def registered_specs(db: Database) -> tuple[dict[str, FeatureSpec], bool]:
    """The feature specifications of registered models by snapshot name, and whether every
    registered model's could be read (models registered by older releases lack it)."""
    return _specs_of(db.read(lambda c: fetch_all(c, "serving/models", "registered_manifests")))


def _specs_of(rows: list[sqlite3.Row]) -> tuple[dict[str, FeatureSpec], bool]:
    specs: dict[str, FeatureSpec] = {}
    complete = True
    for row in rows:
        features = json.loads(row["manifest"] or "{}").get("features")
        try:
            spec = FeatureSpec.from_dict(features) if features else None
        except (TypeError, ValueError):
            spec = None
        if spec is None:
            complete = False
            continue
        specs.setdefault(item_features_snapshot_name(spec), spec)
    return specs, complete


def refresh_all(db: Database, settings: Settings, now_ms: int) -> dict[str, Any]:
    """Rebuild every snapshot; drop item features no registered model uses any more. Returns
    what was refreshed, what another process was already refreshing, and what was dropped."""
    report: dict[str, list[str]] = {"refreshed": [], "busy": [], "dropped": []}

    def run(name: str, done: bool) -> None:
        report["refreshed" if done else "busy"].append(name)

    run(POPULARITY, refresh_popularity(db, settings, now_ms))
    specs, _ = registered_specs(db)
    for name, spec in sorted(specs.items()):
        run(name, refresh_item_features(db, spec, now_ms))
    report["dropped"] = _drop_unused(db, now_ms)
    return report


def _drop_unused(db: Database, now_ms: int) -> list[str]:
    """Drop item-feature snapshots that no registered model uses. The registry and the
    snapshot list are read together, and a snapshot claimed or rebuilt since is kept: publish
    registers a model before it builds the model's snapshot, so a model published meanwhile
    never loses its features."""

    def read(conn: sqlite3.Connection) -> tuple[set[str], bool, list[Snapshot]]:
        specs, complete = _specs_of(fetch_all(conn, "serving/models", "registered_manifests"))
        return (
            set(specs),
            complete,
            [Snapshot.from_row(r) for r in fetch_all(conn, "store/snapshots", "all_snapshots")],
        )

    used, complete, existing = db.read(read)
    if not complete:  # a model registered by an older release: its spec is unknown
        return []
    dropped = []
    for snapshot in existing:
        unused = snapshot.name.startswith("item_features:") and snapshot.name not in used
        if unused and snapshots.drop(db, snapshot.name, now_ms, snapshot.generation):
            dropped.append(snapshot.name)
    return dropped


@dataclass(frozen=True)
class ServingSnapshots:
    popularity: Snapshot
    item_features: Snapshot | None  # None: no model to serve


def _due(snapshot: Snapshot | None, now_ms: int, max_age_seconds: float) -> bool:
    """Missing, or older than ``max_age_seconds`` (0: any age will do)."""
    if snapshot is None or not snapshot.ready:
        return True
    age = snapshot.age_seconds(now_ms)
    return max_age_seconds > 0 and age is not None and age > max_age_seconds


def serving_snapshot_names(spec: FeatureSpec | None) -> list[str]:
    """The snapshots a request reads: popularity, and the item features of ``spec``'s model."""
    return [POPULARITY, *([item_features_snapshot_name(spec)] if spec is not None else [])]


def serving_snapshots(
    db: Database, settings: Settings, spec: FeatureSpec | None, now_ms: int
) -> ServingSnapshots:
    """The snapshots a request reads, built or rebuilt first when missing or stale. A rebuild
    that fails is logged and the request goes on with what it read (or without: popularity
    empty, the model unused), never with an error."""
    names = serving_snapshot_names(spec)
    features_name = names[1] if len(names) > 1 else None
    found = db.read(lambda c: snapshots.read_snapshots(c, names))
    max_age = settings.snapshot_max_age_seconds

    def due(snapshot: Snapshot | None) -> bool:
        return _due(snapshot, now_ms, max_age)

    rebuilt = False
    if due(found.get(POPULARITY)):
        rebuilt |= _refresh_logged(
            POPULARITY, lambda: refresh_popularity(db, settings, now_ms, due)
        )
    if spec is not None and features_name and due(found.get(features_name)):
        rebuilt |= _refresh_logged(
            features_name, lambda: refresh_item_features(db, spec, now_ms, due)
        )
    if rebuilt:
        found = db.read(lambda c: snapshots.read_snapshots(c, names))
    empty = Snapshot(POPULARITY, None, None, None, 0, {}, None)
    return ServingSnapshots(
        popularity=found.get(POPULARITY, empty),
        item_features=found.get(features_name) if features_name else None,
    )


def _refresh_logged(name: str, refresh: Callable[[], bool]) -> bool:
    try:
        done = refresh()
    except Exception:
        logger.exception("snapshot %s could not be rebuilt during a request", name)
        return False
    if done:
        logger.warning(
            "snapshot %s was missing or stale and was rebuilt during a request; "
            "is the scheduled refresh running?",
            name,
        )
    return done


def snapshot_status(db: Database, now_ms: int) -> list[dict[str, Any]]:
    """Every snapshot's state, for /health and the CLI."""
    return [s.describe(now_ms) for s in snapshots.all_snapshots(db)]
