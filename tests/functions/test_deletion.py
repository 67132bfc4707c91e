"""DELETE /users/{user_id} really forgets: the trained model's embedding of a deleted user is not
used until a model trained after the deletion is active, and training leaves them out.

One small model is trained (seconds) on a world in which one user (RETURNING) was deleted three
hours before the training read, came back with new events, and also had a batch from before the
deletion land late. The model therefore knows RETURNING from their new events only, and knows
every other world user; the tests delete one of those after the read.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from functions.common import clock
from functions.common.caches import reset_all
from functions.common.clock import HOUR_MS, MINUTE_MS
from functions.common.http.schemas import DeletedUser
from functions.common.serving.bundle import Manifest
from functions.common.serving.model_runtime import data_read_ms, serving_models
from functions.common.settings import Settings, get_settings
from functions.common.store import tombstones
from functions.common.store.db import Database, get_database
from functions.common.store.sqlite_engine import SqliteDatabase
from functions.ingest.logic import delete_user
from functions.recommend.logic import Feed, FeedRequest, choose_items
from tests.conftest import FIXED_NOW_MS
from tests.utils.factories import add_events, add_impressions
from tests.utils.postgres import use_copy_of
from tests.utils.training import FAST
from training import pipeline
from training.data import _fill_training_source, forget_deleted_users
from training.datasets.synthetic.generation import generate_world
from training.datasets.synthetic.world import WorldConfig
from training.datasets.synthetic.write import write_world
from training.export import export_bundle
from training.pipeline import Prepared
from training.publish import publish
from training.store_copy import local_reader

RETURNING = "u00002"
DELETED_EARLIER_MS = FIXED_NOW_MS - 3 * HOUR_MS  # RETURNING's deletion, before the training read
RETURN_ITEMS = [f"i{n:05d}" for n in range(10, 16)]
LATE_ITEM = "i00150"  # a pre-deletion event of RETURNING, written after the deletion ran
LATE_IMPRESSION_ITEM = "i00151"


@dataclass
class Trained:
    path: Path
    prepared: Prepared
    version: str  # active
    second: str  # registered, for A/B


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Trained:
    root = tmp_path_factory.mktemp("deletion")
    database = SqliteDatabase(root / "world.sqlite")
    database.migrate()
    config = WorldConfig(seed=5, users=60, items=200, events=5_000, end_ms=FIXED_NOW_MS)
    write_world(database, generate_world(config))
    delete_user(database, RETURNING, DELETED_EARLIER_MS)
    returned = FIXED_NOW_MS - 2 * HOUR_MS
    add_events(
        database,
        [
            {"user_id": RETURNING, "item_id": item, "event_type": "click", "ts_ms": returned + n}
            for n, item in enumerate(RETURN_ITEMS)
        ]
        + [  # received before the deletion, stored after it (a batch racing the DELETE)
            {
                "user_id": RETURNING,
                "item_id": item,
                "event_type": kind,
                "ts_ms": DELETED_EARLIER_MS - 10 * MINUTE_MS,
                "received_ms": DELETED_EARLIER_MS - 1,
            }
            for item, kind in ((LATE_ITEM, "like"), (RETURN_ITEMS[0], "skip"))
        ],
    )
    add_impressions(database, "late-feed", RETURNING, [LATE_IMPRESSION_ITEM], DELETED_EARLIER_MS)
    with pytest.MonkeyPatch.context() as patch:  # the training read happens "now"
        patch.setattr(clock, "now_ms", lambda: FIXED_NOW_MS)
        prepared = pipeline.prepare(database, Settings.from_env(env_file=None))
    result = pipeline.train(prepared, replace(FAST, epochs=1), progress=False)
    for version, activate in (("m-del", True), ("m-del-b", False)):
        bundle = export_bundle(
            result.model,
            prepared.data,
            root / version,
            model_version=version,
            metrics={},
            train_config=FAST.to_dict(),
        )
        publish(database, bundle, str(root / "models"), activate=activate, now_ms=FIXED_NOW_MS)
    database.close()
    return Trained(root / "world.sqlite", prepared, "m-del", "m-del-b")


@pytest.fixture
def db(trained, tmp_path, monkeypatch) -> Database:
    """This test's own copy of the trained world, as the functions' database."""
    monkeypatch.setenv("MEDIAREC_AUTH", "off")  # access control is tested elsewhere
    use_copy_of(trained.path, tmp_path, monkeypatch)
    return get_database()


def feed(user_id: str) -> Feed:
    random.seed(1)  # the same exploration draw for every user compared
    return choose_items(FeedRequest(user_id, k=10), get_database(), get_settings(), FIXED_NOW_MS)


def by_embedding(result: Feed) -> bool:
    """Whether the feed came from the model's ranking of a user it knows: in-session picks for
    a user it does not know fill at most half the feed."""
    return [c.reason for c in result.items].count("model") > 5


def shape(result: Feed) -> list[tuple[str, float, str]]:
    return [(c.item_id, c.score, c.reason) for c in result.items]


def test_a_deleted_user_is_served_exactly_as_one_the_model_never_saw(db, trained):
    before = feed("u00001")
    assert before.model_version == trained.version and by_embedding(before)
    delete_user(db, "u00001", FIXED_NOW_MS)  # at the very time the training data was read
    after = feed("u00001")
    assert not by_embedding(after)
    stranger = feed("never-seen")
    assert shape(after) == shape(stranger) and after.model_version == stranger.model_version
    assert {c.reason for c in after.items} <= {"popular", "exploration", "fresh"}


def test_a_deleted_user_who_comes_back_gets_what_a_new_user_with_that_session_gets(db, trained):
    delete_user(db, "u00003", FIXED_NOW_MS)
    session = [f"i{n:05d}" for n in (20, 21, 22)]
    for user in ("u00003", "newcomer"):
        rows = [
            {"user_id": user, "item_id": item, "event_type": "click", "ts_ms": FIXED_NOW_MS - n}
            for n, item in enumerate(session, start=1)
        ]
        add_events(db, rows)
    came_back, newcomer = feed("u00003"), feed("newcomer")
    assert shape(came_back) == shape(newcomer) and came_back.model_version == trained.version
    assert [c.reason for c in came_back.items].count("model") == 5  # in-session, not embedding


def test_the_ab_model_forgets_too(db, trained, monkeypatch):
    monkeypatch.setenv("MEDIAREC_AB_MODEL_VERSION", trained.second)
    monkeypatch.setenv("MEDIAREC_AB_SHARE", "1")
    reset_all()
    before = feed("u00004")
    assert before.model_version == trained.second and by_embedding(before)
    delete_user(get_database(), "u00004", FIXED_NOW_MS)
    assert shape(feed("u00004")) == shape(feed("never-seen"))


def test_a_model_whose_data_was_read_after_the_deletion_serves_the_returning_user(db, trained):
    returning = feed(RETURNING)  # deleted three hours before this model's training read
    assert returning.model_version == trained.version and by_embedding(returning)
    active = serving_models(db, get_settings()).active.model
    assert active is not None and active.data_read_ms == FIXED_NOW_MS  # from the manifest


def test_the_deletion_answer_says_personalisation_stopped(db):
    from functions.ingest.app import handler
    from training.local.lambda_invoke import http_event, invoke

    status, body = invoke(handler, http_event("DELETE", "/users/u00005"))
    assert status == 200, body
    assert body["personalisation"] == "stopped"
    assert body["note"] == (
        "served as an unknown user until a model trained after this deletion is active; "
        "training leaves out everything received up to the deletion"
    )
    assert body["deleted_at"] == "2026-11-22T12:00:00.000Z" and body["deleted"]["events"] > 0
    assert not by_embedding(feed("u00005"))
    schema = DeletedUser.model_json_schema()["properties"]
    assert schema["personalisation"]["const"] == "stopped"
    assert all(schema[name]["description"] for name in ("personalisation", "note", "deleted_at"))


def test_training_leaves_out_what_a_deleted_user_sent_before_the_deletion(trained):
    split = trained.prepared.split
    data = split.data
    assert data.read_ms == FIXED_NOW_MS
    user = data.user_ids.index(RETURNING)
    items = sorted(
        data.item_ids[i] for u, i in zip(data.users, data.items, strict=True) if u == user
    )
    assert items == RETURN_ITEMS  # the returning user's new events, not the late one

    conn = sqlite3.connect(trained.path)
    conn.row_factory = sqlite3.Row
    _fill_training_source(conn, split, FIXED_NOW_MS)
    kinds = conn.execute(
        "SELECT event_type FROM temp.feature_events WHERE user_id = ? AND item_id = ?",
        (RETURNING, RETURN_ITEMS[0]),
    ).fetchall()
    assert [r[0] for r in kinds] == ["click"]  # not the skip received before the deletion
    # the feed served before the deletion (stored after it) is no training negative
    shown = trained.prepared.data.impression_negatives
    assert LATE_IMPRESSION_ITEM not in {
        data.item_ids[i] for u, i in zip(*shown, strict=True) if u == user
    }


def test_training_reads_no_tombstoned_user_when_none_came_back(db):
    """Events of a deleted id received up to its deletion are not read at all."""
    delete_user(db, "u00006", FIXED_NOW_MS)
    late = {"user_id": "u00006", "item_id": "i00001", "event_type": "click"}
    add_events(db, [{**late, "ts_ms": FIXED_NOW_MS - HOUR_MS, "received_ms": FIXED_NOW_MS}])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clock, "now_ms", lambda: FIXED_NOW_MS + HOUR_MS)
        data = pipeline.make_split(db, get_settings()).data
    assert "u00006" not in data.user_ids and data.read_ms == FIXED_NOW_MS + HOUR_MS


def test_the_tombstone_holds_a_hash_not_the_user_id(db):
    delete_user(db, "u00007", FIXED_NOW_MS)
    delete_user(db, "u00007", FIXED_NOW_MS + 5)  # deleting again moves the tombstone on
    rows = db.conn.execute("SELECT * FROM deleted_users").fetchall()
    digest = hashlib.sha256(b"u00007").hexdigest()
    mine = [tuple(r) for r in rows if r["user_hash"] == digest]
    assert mine == [(digest, FIXED_NOW_MS + 5)]
    assert not any("u00007" in str(value) for row in rows for value in tuple(row))
    add_events(db, [{"user_id": "u00007", "item_id": "i1", "event_type": "view", "ts_ms": 1}])
    with local_reader(db) as local:  # training's reads (a local SQLite copy on PostgreSQL)
        forget_deleted_users(local.conn)  # training finds the id again only from its new events
        found = local.conn.execute(
            "SELECT user_id, deleted_ms FROM temp.forgotten_users"
        ).fetchall()
    assert ("u00007", FIXED_NOW_MS + 5) in {tuple(r) for r in found}


def test_serving_rule_and_its_margin():
    read = FIXED_NOW_MS
    assert not tombstones.forgets(read, None)
    assert tombstones.forgets(read, read) and tombstones.forgets(read, read + 1)
    # a deletion answered shortly before the read may have committed after it
    assert tombstones.forgets(read, read - tombstones.DELETION_COMMIT_MARGIN_MS)
    assert not tombstones.forgets(read, read - tombstones.DELETION_COMMIT_MARGIN_MS - 1)


def test_older_bundles_fall_back_to_their_export_or_registration_time():
    exported = "2026-11-22T12:00:00.000Z"
    older = Manifest(Path("."), {"created_at": exported})
    assert data_read_ms(older, FIXED_NOW_MS + 60_000) == FIXED_NOW_MS
    assert data_read_ms(Manifest(Path("."), {}), FIXED_NOW_MS) == FIXED_NOW_MS
    assert data_read_ms(Manifest(Path("."), {}), None) == 0  # every tombstone applies


@pytest.mark.sqlite_only(
    "reads the SQLite file's bytes (PostgreSQL: autovacuum reclaims dead rows)"
)
def test_deleted_rows_are_not_left_readable_in_the_file(db):
    user = "forget-me-0123456789"
    add_events(
        db,
        [{"user_id": user, "item_id": f"i{n}", "event_type": "view", "ts_ms": n} for n in range(50)]
        + [{"user_id": f"other{n}", "item_id": "i1", "event_type": "view", "ts_ms": n}
           for n in range(200)],
    )  # fmt: skip
    delete_user(db, user, FIXED_NOW_MS)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    file = Path(db.path)
    stored = b"".join(p.read_bytes() for p in file.parent.glob(file.name + "*"))
    assert user.encode() not in stored and b"other7" in stored
