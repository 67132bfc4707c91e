"""Serving snapshots: generations, claims, freshness, and the same SQL as training."""

from __future__ import annotations

import json
import sqlite3
from types import SimpleNamespace

import numpy as np
import pytest

from functions.common.clock import HOUR_MS
from functions.common.serving import features as F
from functions.common.serving.online_features import (
    candidate_items,
    item_feature_table,
    item_features_snapshot_name,
)
from functions.common.serving.popularity import build_popularity
from functions.common.serving.snapshot_refresh import (
    refresh_all,
    refresh_item_features,
    refresh_popularity,
    serving_snapshots,
)
from functions.common.store import snapshots
from functions.common.store.db import fetch_all
from functions.common.store.sql import expand_params, query
from tests.conftest import FIXED_NOW_MS
from tests.utils.factories import add_events, add_items

NOW = FIXED_NOW_MS


@pytest.fixture
def catalog(db):
    add_items(db, [{"item_id": f"i{n}", "kind": "video", "published_ms": NOW} for n in range(6)])
    add_events(
        db,
        [
            {"user_id": f"u{j}", "item_id": f"i{n}", "event_type": "click", "ts_ms": NOW - HOUR_MS}
            for n in range(5)
            for j in range(5 - n)
        ],
    )
    return db


def rows_of(db, table: str) -> dict[int, int]:
    found = db.conn.execute(f"SELECT generation, COUNT(*) FROM {table} GROUP BY generation")
    return dict(found.fetchall())


def current(db, name: str) -> snapshots.Snapshot:
    return db.read(lambda c: snapshots.read_snapshots(c, [name]))[name]


def test_refresh_publishes_a_generation_and_keeps_one_back(catalog, settings):
    assert refresh_popularity(catalog, settings, NOW)
    first = current(catalog, "popularity")
    assert first.ready and first.row_count == 5 * 2  # 'any' and 'web'
    assert first.info["platforms"] == ["web"] and first.as_of_ms == NOW
    assert refresh_popularity(catalog, settings, NOW + 1)
    assert refresh_popularity(catalog, settings, NOW + 2)
    latest = current(catalog, "popularity")
    assert latest.generation is not None and latest.generation > first.generation  # type: ignore[operator]
    # the current and the previous generation stay; the one before is gone
    assert sorted(rows_of(catalog, "popularity_snapshot")) == [
        latest.generation - 1,
        latest.generation,
    ]


def test_popularity_snapshot_is_the_ranking_the_build_computes(catalog, settings):
    refresh_popularity(catalog, settings, NOW)
    generation = current(catalog, "popularity").generation
    stored = catalog.conn.execute(
        "SELECT platform, rank, item_id, score FROM popularity_snapshot WHERE generation = ? "
        "ORDER BY platform, rank",
        (generation,),
    ).fetchall()
    built = catalog.read(lambda c: build_popularity(c, NOW, settings)).rows
    expected = sorted((r["platform"], r["rank"], r["item_id"], r["score"]) for r in built)
    assert [tuple(r) for r in stored] == expected
    assert [r[2] for r in stored if r[0] == "any"] == ["i0", "i1", "i2", "i3", "i4"]


@pytest.mark.sqlite_only("reads SQLite rowids")
def test_item_feature_snapshot_holds_the_training_sql_output(catalog):
    spec = F.FeatureSpec()
    assert refresh_item_features(catalog, spec, NOW)
    snapshot = current(catalog, item_features_snapshot_name(spec))
    assert snapshot.row_count == 6
    table = item_feature_table(catalog, snapshot)
    rowids = dict(catalog.conn.execute("SELECT item_id, rowid FROM items").fetchall())
    stored = {item: table.raw[rowid].tolist() for item, rowid in rowids.items()}
    assert all(table.item_ids[rowid] == item for item, rowid in rowids.items())

    def training_side(conn: sqlite3.Connection):
        F.use_serving_source(conn)
        return F.raw_item_rows(conn, spec, NOW)

    expected = {item: values for item, (values, _, _) in catalog.read(training_side).items()}
    assert stored == expected


@pytest.mark.sqlite_only("renumbers SQLite rowids with VACUUM")
def test_a_renumbered_item_never_borrows_another_items_features(catalog):
    """VACUUM may renumber rowids: a candidate whose rowid now names another item in the
    snapshot gets the default row, not the other item's features."""
    spec = F.FeatureSpec(item_mean=[0.0] * 7, item_std=[1.0] * 7)
    refresh_item_features(catalog, spec, NOW)
    snapshot = current(catalog, item_features_snapshot_name(spec))
    model = SimpleNamespace(item_ids=["i0", "i1"], spec=spec)
    before = candidate_items(catalog, model, snapshot, [0, 1], kind=None, category=None)
    rowids = dict(catalog.conn.execute("SELECT item_id, rowid FROM items").fetchall())
    catalog.conn.execute("UPDATE items SET rowid = -1 WHERE item_id = 'i0'")
    catalog.conn.execute("UPDATE items SET rowid = ? WHERE item_id = 'i1'", (rowids["i0"],))
    catalog.conn.execute("UPDATE items SET rowid = ? WHERE item_id = 'i0'", (rowids["i1"],))
    after = candidate_items(catalog, model, snapshot, [0, 1], kind=None, category=None)
    default = F.normalise(
        np.array([F.default_item_row(spec)]), F.ITEM_COLUMNS, spec.item_mean, spec.item_std
    )[0]
    assert default.tolist() not in before.matrix.tolist()
    assert after.matrix.tolist() == [default.tolist(), default.tolist()]


def test_a_claimed_snapshot_is_left_to_its_refresher(catalog, settings):
    assert refresh_popularity(catalog, settings, NOW)
    catalog.conn.execute(
        "UPDATE snapshots SET claimed_until_ms = ?, pending_generation = 99 WHERE name = ?",
        (NOW + 60_000, "popularity"),
    )
    catalog.conn.execute(
        "INSERT INTO popularity_snapshot VALUES (99, 'any', 1, 'half-written', 1.0)"
    )
    assert not refresh_popularity(catalog, settings, NOW + 1)  # someone else is at it
    # the claim expires (its holder died): the next refresh takes over and clears its rows
    assert refresh_popularity(catalog, settings, NOW + snapshots.CLAIM_MS)
    assert 99 not in rows_of(catalog, "popularity_snapshot")
    assert current(catalog, "popularity").claimed_until_ms is None


def test_a_failed_build_keeps_the_current_generation(catalog, settings):
    refresh_popularity(catalog, settings, NOW)
    before = current(catalog, "popularity")

    def broken(conn):
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        snapshots.refresh(catalog, "popularity", broken, {}, NOW + 1)
    after = current(catalog, "popularity")
    assert after.generation == before.generation and after.claimed_until_ms is None
    assert refresh_popularity(catalog, settings, NOW + 2)  # and the next refresh works


def test_requests_build_missing_and_rebuild_stale_snapshots(catalog, settings, monkeypatch):
    first = serving_snapshots(catalog, settings, None, NOW)
    assert first.popularity.ready and first.item_features is None
    again = serving_snapshots(catalog, settings, None, NOW + 1000)
    assert again.popularity.generation == first.popularity.generation  # fresh enough
    stale_at = NOW + int(settings.snapshot_max_age_seconds * 1000) + 1
    rebuilt = serving_snapshots(catalog, settings, None, stale_at)
    assert rebuilt.popularity.generation != first.popularity.generation
    never = settings.model_copy(update={"snapshot_max_age_seconds": 0})
    kept = serving_snapshots(catalog, never, None, stale_at + 10**9)
    assert kept.popularity.generation == rebuilt.popularity.generation


def test_refresh_all_follows_the_registered_models(catalog, settings):
    spec = F.FeatureSpec()
    other = F.FeatureSpec(prior_a=2.0)
    refresh_item_features(catalog, other, NOW)  # a spec no registered model uses
    catalog.conn.execute(
        "INSERT INTO models (version, uri, checksum, manifest, created_ms, active) "
        "VALUES ('m1', '/nowhere', 'x', ?, 0, 1)",
        (json.dumps({"features": spec.to_dict()}),),
    )
    report = refresh_all(catalog, settings, NOW)
    assert report["refreshed"] == ["popularity", item_features_snapshot_name(spec)]
    assert report["dropped"] == [item_features_snapshot_name(other)]
    names = [s.name for s in snapshots.all_snapshots(catalog)]
    assert names == sorted(["popularity", item_features_snapshot_name(spec)])


def test_models_sharing_feature_parameters_share_a_snapshot():
    spec = F.FeatureSpec()
    retrained = F.FeatureSpec(item_mean=[1.0] * 7, item_std=[2.0] * 7)  # new normalisation
    assert item_features_snapshot_name(spec) == item_features_snapshot_name(retrained)
    assert item_features_snapshot_name(spec) != item_features_snapshot_name(
        F.FeatureSpec(recent_days=3.0)
    )


@pytest.mark.parametrize(
    ("file", "name"),
    [("serving/popularity", "popular_items"), ("serving/online_features", "candidate_items")],
)
@pytest.mark.sqlite_only("SQLite's EXPLAIN QUERY PLAN")
def test_serving_reads_walk_the_snapshot_keys(catalog, file, name):
    params = {
        "generation": 1,
        "platform": "web",
        "kind": "video",
        "category": "news",
        "exclude_user": "u1",
        "limit": 10,
        "item_ids": ["i1", "i2"],
    }
    text, bound = expand_params(query(file, name), params)
    bound = {k: v for k, v in bound.items() if f":{k}" in text}
    plan = " | ".join(
        r["detail"] for r in catalog.conn.execute(f"EXPLAIN QUERY PLAN {text}", bound)
    )
    assert "SCAN p" not in plan and "SCAN i" not in plan, plan


def test_serving_reads_nothing_before_the_first_snapshot(db, settings):
    found = fetch_all(db.conn, "store/snapshots", "all_snapshots")
    assert found == []
    assert serving_snapshots(db, settings, None, NOW).popularity.row_count == 0


def test_generation_numbers_are_never_reused(catalog, settings):
    refresh_popularity(catalog, settings, NOW)
    first = current(catalog, "popularity").generation
    catalog.conn.execute("DELETE FROM snapshots")  # what seed --reset does
    catalog.conn.execute("DELETE FROM popularity_snapshot")
    refresh_popularity(catalog, settings, NOW)
    assert current(catalog, "popularity").generation > first  # type: ignore[operator]


def test_a_refresher_that_lost_its_claim_leaves_no_rows(catalog, settings, monkeypatch):
    """Its claim expired after it had written a chunk and another process took over: its next
    write stops and what it wrote is deleted, instead of rows that no snapshot names."""
    monkeypatch.setattr(snapshots, "CHUNK_ROWS", 3)
    checks = []
    real_check = snapshots._still_claimed

    def check(conn, name, generation):
        checks.append(generation)
        if len(checks) == 2:  # between the first and the second chunk
            conn.execute(
                "UPDATE snapshots SET pending_generation = 1000000 WHERE name = 'popularity'"
            )
        real_check(conn, name, generation)

    monkeypatch.setattr(snapshots, "_still_claimed", check)
    with pytest.raises(snapshots.LostClaim):
        refresh_popularity(catalog, settings, NOW)
    assert rows_of(catalog, "popularity_snapshot") == {}


def test_refresh_all_keeps_a_snapshot_someone_is_building(catalog, settings):
    """A model being published registers first; but should the refresh still see its snapshot
    unregistered, a live claim or a newer generation keeps it."""
    orphan = F.FeatureSpec(prior_a=3.0)
    refresh_item_features(catalog, orphan, NOW)
    name = item_features_snapshot_name(orphan)
    catalog.conn.execute(
        "UPDATE snapshots SET claimed_until_ms = ? WHERE name = ?", (NOW + 60_000, name)
    )
    assert refresh_all(catalog, settings, NOW)["dropped"] == []
    catalog.conn.execute("UPDATE snapshots SET claimed_until_ms = NULL WHERE name = ?", (name,))
    looked = current(catalog, name).generation
    assert not snapshots.drop(catalog, name, NOW, expected_generation=(looked or 0) - 1)
    assert snapshots.drop(catalog, name, NOW, expected_generation=looked)


def test_a_failed_rebuild_during_a_request_serves_what_it_has(catalog, settings, monkeypatch):
    refresh_popularity(catalog, settings, NOW)
    before = current(catalog, "popularity")

    def broken(conn, now_ms, settings):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr("functions.common.serving.snapshot_refresh.build_popularity", broken)
    stale_at = NOW + int(settings.snapshot_max_age_seconds * 1000) + 1
    served = serving_snapshots(catalog, settings, None, stale_at)
    assert served.popularity.generation == before.generation
    assert current(catalog, "popularity").claimed_until_ms is None  # the next one may try
