"""The ingest function, invoked as Lambda invokes it."""

from __future__ import annotations

import json

import pytest

from functions.ingest.app import handler
from tests.conftest import FIXED_NOW_MS
from tests.utils.factories import add_impressions, count, event
from training.local.lambda_invoke import http_event, invoke


def post(path: str, body: object = None, raw: str | None = None) -> tuple[int, dict]:
    return invoke(handler, http_event("POST", path, body=body, raw_body=raw))


def test_single_event_is_stored_with_receive_time(db):
    status, body = invoke(handler, "ingest_post_event")
    assert status == 200
    assert body["stored"] == 1 and body["results"][0]["status"] == "stored"
    row = db.conn.execute("SELECT * FROM events WHERE event_id = 'evt-demo-0001'").fetchone()
    assert row["ts_ms"] == FIXED_NOW_MS and row["received_ms"] == FIXED_NOW_MS
    assert row["platform"] == "ios"


def test_repeated_event_is_a_duplicate_stored_once(db):
    first = invoke(handler, "ingest_post_event")
    again = invoke(handler, "ingest_post_event")
    assert first[1]["stored"] == 1
    assert again == (
        200,
        {
            "stored": 0,
            "duplicates": 1,
            "rejected": 0,
            "results": [{"index": 0, "id": "evt-demo-0001", "status": "duplicate", "errors": []}],
        },
    )
    assert count(db, "events") == 1


def test_batch_partial_failure_keeps_valid_events(db):
    status, body = invoke(handler, "ingest_post_events_batch")
    assert status == 207
    assert (body["stored"], body["duplicates"], body["rejected"]) == (2, 1, 1)
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["stored", "stored", "rejected", "duplicate"]
    assert body["results"][2]["errors"][0]["field"] == "event_type"
    assert count(db, "events") == 2
    linked = db.conn.execute("SELECT * FROM events WHERE event_id = 'evt-demo-0102'").fetchone()
    assert linked["recommendation_id"] == "rec-demo-1" and linked["position"] == 3


def test_batch_formats_bare_list_and_wrapped_are_equivalent(db):
    assert post("/events", [event(), event()])[1]["stored"] == 2
    assert post("/events", {"events": [event()]})[1]["stored"] == 1
    assert count(db, "events") == 3


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"event_type": "teleport"}, "event_type"),
        ({"platform": "smart-fridge"}, "platform"),
        ({"user_id": ""}, "user_id"),
        ({"item_id": "x" * 129}, "item_id"),
        ({"user_id": 42}, "user_id"),
        ({"user_id": "bad\nid"}, "user_id"),
        ({"ts": "yesterday-ish"}, "ts"),
        ({"ts": True}, "ts"),
        ({"ts": "2026-11-22T12:10:00Z"}, "ts"),  # 10 minutes in the future
        ({"ts": "2026-09-01T00:00:00Z"}, "ts"),  # beyond the 30-day horizon
        ({"position": 0}, "position"),
        ({"dwell_ms": -5}, "dwell_ms"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_invalid_event_rejected_naming_field_while_valid_one_lands(db, overrides, field):
    good = event()
    status, body = post("/events", {"events": [event(**overrides), good]})
    assert status == 207
    rejected = body["results"][0]
    assert rejected["status"] == "rejected"
    assert rejected["errors"][0]["field"] == field
    assert body["results"][1]["status"] == "stored"
    assert count(db, "events") == 1


def test_missing_required_fields_are_named(db):
    status, body = post("/events", {"event_id": "e1"})
    assert status == 422
    fields = {e["field"] for e in body["results"][0]["errors"]}
    assert fields == {"user_id", "item_id", "event_type", "platform"}


def test_timestamps_accept_iso_epoch_seconds_and_millis(db):
    stamps = [
        "2026-11-22T11:00:00Z",
        "2026-11-22T11:00:00",
        FIXED_NOW_MS / 1000 - 3600,
        FIXED_NOW_MS - 3_600_000,
    ]
    status, _ = post("/events", [event(ts=ts) for ts in stamps])
    assert status == 200
    values = {r[0] for r in db.conn.execute("SELECT ts_ms FROM events")}
    assert values == {FIXED_NOW_MS - 3_600_000}


@pytest.mark.parametrize(
    ("raw", "status", "field"),
    [
        ('{"event_id": ', 400, "body"),
        ("", 400, "body"),
        ("[]", 422, "events"),
        ('{"events": []}', 422, "events"),
        ('{"events": "nope"}', 422, "events"),
        ("42", 422, "body"),
        ('"text"', 422, "body"),
        ("\xff\xfe", 400, "body"),
    ],
)
def test_malformed_bodies_get_4xx_naming_the_field(raw, status, field):
    got_status, body = post("/events", raw=raw)
    assert got_status == status
    assert body["errors"][0]["field"] == field
    assert body["error"] and body["message"]


def test_oversized_batch_and_body_are_refused():
    status, body = post("/events", {"events": [event() for _ in range(501)]})
    assert status == 422 and body["error"] == "batch_too_large"  # the schema's maxItems
    assert body["errors"][0]["field"] == "events"
    big = json.dumps({"events": [event(item_id="i" * 120, user_id="u" * 120)] * 5000})
    assert len(big) > 1_048_576
    status, body = post("/events", raw=big)
    assert status == 413 and body["error"] == "body_too_large"


def test_all_rejected_batch_is_422(db):
    status, body = post("/events", [event(platform="tv"), event(event_type="nap")])
    assert status == 422 and body["rejected"] == 2
    assert body["error"] == "validation_error"
    assert [e["field"] for e in body["errors"]] == ["events[0].platform", "events[1].event_type"]
    assert count(db, "events") == 0


def test_items_upsert_and_replace(db):
    status, body = invoke(handler, "ingest_post_items")
    assert status == 200 and body["stored"] == 3
    item = db.conn.execute("SELECT * FROM items WHERE item_id = 'i90002'").fetchone()
    assert json.loads(item["categories"]) == ["news", "tech"]
    assert json.loads(item["attributes"]) == {"author": "A. Writer", "words": 1200}
    assert db.conn.execute("SELECT hidden FROM items WHERE item_id='i90003'").fetchone()[0] == 1
    post("/items", {"item_id": "i90002", "kind": "video", "categories": ["music"]})
    cats = [
        r[0]
        for r in db.conn.execute("SELECT category FROM item_categories WHERE item_id = 'i90002'")
    ]
    assert cats == ["music"]


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"item_id": "a", "kind": "podcast"}, "kind"),
        ({"item_id": "a", "kind": "video", "hidden": "sometimes"}, "hidden"),
        ({"item_id": "a", "kind": "video", "categories": "news"}, "categories"),
        ({"item_id": "a", "kind": "video", "attributes": {"blob": "x" * 20_000}}, "attributes"),
        ({"kind": "video"}, "item_id"),
    ],
)
def test_invalid_items_rejected(item, field):
    status, body = post("/items", {"items": [item, {"item_id": "ok", "kind": "post"}]})
    assert status == 207
    assert body["results"][0]["errors"][0]["field"] == field


def test_users_upsert(db):
    status, body = invoke(handler, "ingest_post_users")
    assert status == 200 and body["stored"] == 1
    post("/users", {"user_id": "u90001", "attributes": {"country": "ES"}})
    row = db.conn.execute("SELECT attributes FROM users WHERE user_id = 'u90001'").fetchone()
    assert json.loads(row[0]) == {"country": "ES"}
    assert post("/users", {"user_id": "u2", "age": 4})[0] == 422


def test_delete_user_removes_everything_about_them(db):
    post("/users", {"user_id": "u00003"})
    post("/events", [event(user_id="u00003"), event(user_id="u00003"), event(user_id="u9")])
    add_impressions(db, "r1", "u00003", ["i1", "i2"], FIXED_NOW_MS)
    add_impressions(db, "r2", "u9", ["i1"], FIXED_NOW_MS)
    status, body = invoke(handler, "ingest_delete_user")
    assert status == 200
    assert body["user_id"] == "u00003" and body["personalisation"] == "stopped"
    assert body["deleted"] == {"impressions": 2, "recommendations": 1, "events": 2, "users": 1}
    for table in ("events", "impressions", "recommendations", "users"):
        assert count(db, table, "user_id = :u", u="u00003") == 0
    assert count(db, "events") == 1 and count(db, "impressions") == 1
    status, body = invoke(handler, "ingest_delete_user")
    assert status == 200 and sum(body["deleted"].values()) == 0


def test_unknown_route_and_method_are_json_4xx():
    status, body = invoke(handler, http_event("GET", "/nowhere"))
    assert status == 404 and body["error"] == "not_found"
    status, body = invoke(handler, http_event("GET", "/events"))
    assert status == 405


def test_ids_repeated_within_a_batch_and_already_stored_are_told_apart(db):
    base = {"item_id": "i1", "event_type": "view", "platform": "web"}
    post("/events", {**base, "event_id": "old-mine", "user_id": "u1"})
    post("/events", {**base, "event_id": "old-theirs", "user_id": "u2"})
    batch = [
        {**base, "event_id": "new", "user_id": "u1"},
        {**base, "event_id": "new", "user_id": "u1"},  # the same event twice: stored once
        {**base, "event_id": "new", "user_id": "u3"},  # another user's id, taken in this batch
        {**base, "event_id": "old-mine", "user_id": "u1"},  # a retry
        {**base, "event_id": "old-theirs", "user_id": "u1"},  # taken before
        {**base, "event_id": "fresh", "user_id": "u1"},
    ]
    status, body = post("/events", {"events": batch})
    assert status == 207
    assert [r["status"] for r in body["results"]] == [
        "stored", "duplicate", "conflict", "duplicate", "conflict", "stored",
    ]  # fmt: skip
    assert (body["stored"], body["duplicates"], body["rejected"]) == (2, 2, 2)
    owners = dict(db.conn.execute("SELECT event_id, user_id FROM events").fetchall())
    assert owners == {"old-mine": "u1", "old-theirs": "u2", "new": "u1", "fresh": "u1"}


def test_a_batch_larger_than_one_lookup_is_looked_up_whole(db, monkeypatch):
    from functions.ingest import logic

    monkeypatch.setattr(logic, "LOOKUP_CHUNK", 7)  # 50 ids: eight lookups
    base = {"item_id": "i1", "event_type": "view", "platform": "web", "user_id": "u1"}
    first = [{**base, "event_id": f"e{n}"} for n in range(0, 50, 2)]
    assert post("/events", {"events": first})[1]["stored"] == 25
    status, body = post("/events", {"events": [{**base, "event_id": f"e{n}"} for n in range(50)]})
    assert status == 200 and (body["stored"], body["duplicates"]) == (25, 25)
    assert [r["status"] for r in body["results"]][:4] == ["duplicate", "stored"] * 2
    assert count(db, "events") == 50
