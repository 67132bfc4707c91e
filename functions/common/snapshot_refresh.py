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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from functions.common import snapshots
from functions.common.db import Database, fetch_all
from functions.common.features import FeatureSpec
from functions.common.online_features import (
    build_item_features,
    item_features_snapshot_name,
    sql_parameters,
)
from functions.common.ranking import SNAPSHOT as POPULARITY
from functions.common.ranking import build_popularity, popularity_info
from functions.common.settings import Settings
from functions.common.snapshots import Snapshot

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
    rows = db.read(lambda c: fetch_all(c, "models", "registered_manifests"))
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
    specs, complete = registered_specs(db)
    for name, spec in sorted(specs.items()):
        run(name, refresh_item_features(db, spec, now_ms))
    for existing in snapshots.all_snapshots(db):
        if existing.name.startswith("item_features:") and existing.name not in specs and complete:
            snapshots.drop(db, existing.name)
            report["dropped"].append(existing.name)
    return report


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


def serving_snapshots(
    db: Database, settings: Settings, spec: FeatureSpec | None, now_ms: int
) -> ServingSnapshots:
    """The snapshots a request reads, built or rebuilt first when missing or stale."""
    features_name = item_features_snapshot_name(spec) if spec is not None else None
    names = [POPULARITY, *([features_name] if features_name else [])]
    found = db.read(lambda c: snapshots.read_snapshots(c, names))
    max_age = settings.snapshot_max_age_seconds
    rebuilt = False
    if _due(found.get(POPULARITY), now_ms, max_age):
        rebuilt |= _refresh_logged(POPULARITY, lambda: refresh_popularity(db, settings, now_ms))
    if spec is not None and features_name and _due(found.get(features_name), now_ms, max_age):
        rebuilt |= _refresh_logged(features_name, lambda: refresh_item_features(db, spec, now_ms))
    if rebuilt:
        found = db.read(lambda c: snapshots.read_snapshots(c, names))
    empty = Snapshot(POPULARITY, None, None, None, 0, {}, None)
    return ServingSnapshots(
        popularity=found.get(POPULARITY, empty),
        item_features=found.get(features_name) if features_name else None,
    )


def _refresh_logged(name: str, refresh: Any) -> bool:
    done = bool(refresh())
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
