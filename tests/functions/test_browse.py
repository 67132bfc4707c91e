"""The console's reads (functions/metrics/browse_routes.py) through the metrics function's Lambda
handler: what they answer, their 404s and limits, and the scopes the door asks of them."""

from __future__ import annotations

import json

import pytest

from functions.common.caches import reset_all
from functions.common.http.api_keys import create_key
from functions.common.store.db import execute, get_database
from functions.metrics.app import handler as metrics
from functions.metrics.browse import offline_metrics
from tests.conftest import FIXED_NOW_MS
from tests.utils.factories import add_events, add_impressions, add_items
from training.local.lambda_invoke import EXAMPLE_API_KEY, http_event, invoke
from training.local.server import build_app


def get(path, query=None, api_key=EXAMPLE_API_KEY):
    return invoke(metrics, http_event("GET", path, query=query, api_key=api_key))


@pytest.fixture
def world(db):
    add_items(db, [{"item_id": f"i{n}", "title": f"Title {n}", "categories": ["news", "tech"]}
                   for n in range(1, 6)])  # fmt: skip
    users = ["ana", "anabel", "andré", "bob", "ana\U0001f600"]
    events = [{"user_id": u, "item_id": f"i{n}", "event_type": "view",
               "ts_ms": FIXED_NOW_MS - n * 60_000} for u in users for n in range(1, 4)]  # fmt: skip
    add_events(db, events)
    add_impressions(db, "r-old", "ana", ["i1", "i2"], FIXED_NOW_MS - 7_200_000)
    add_impressions(db, "r-new", "ana", ["i3", "i4", "i5"], FIXED_NOW_MS - 3_600_000, arm="b")
    return db


def test_users_are_found_by_prefix_in_id_order(world):
    status, body = get("/users", {"prefix": "an"})
    assert status == 200
    assert [u["user_id"] for u in body["users"]] == ["ana", "anabel", "ana\U0001f600", "andré"]
    assert body["users"][0] == {"user_id": "ana", "events": 3,
                                "last_event_at": "2026-11-22T11:59:00.000Z"}  # fmt: skip
    assert [u["user_id"] for u in get("/users", {"prefix": "ana", "limit": 2})[1]["users"]] == [
        "ana", "anabel",
    ]  # fmt: skip
    assert len(get("/users")[1]["users"]) == 5  # no prefix: anyone
    assert get("/users", {"prefix": "zz"})[1]["users"] == []


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "101"}, {"prefix": "a/b"},
                                   {"prefix": "x" * 129}, {"prefix": "a\x01"}])  # fmt: skip
def test_a_bad_search_is_a_422_naming_the_field(world, query):
    status, body = get("/users", query)
    assert status == 422, body
    assert body["error"] == "validation_error"


def test_a_user_page_holds_recent_events_and_feeds_newest_first(world):
    status, body = get("/users/ana", {"events": "2", "feeds": "5"})
    assert status == 200
    assert body["event_count"] == 3 and body["feed_count"] == 2
    assert [e["item_id"] for e in body["events"]] == ["i1", "i2"]  # the latest two
    assert [f["recommendation_id"] for f in body["feeds"]] == ["r-new", "r-old"]
    assert body["feeds"][0]["arm"] == "b"
    assert [(i["position"], i["item_id"]) for i in body["feeds"][0]["items"]] == [
        (1, "i3"), (2, "i4"), (3, "i5"),
    ]  # fmt: skip
    assert body["attributes"] is None  # no POST /users for her


def test_nothing_stored_is_a_404(world):
    for path in ("/users/nobody", "/items/none"):
        status, body = get(path)
        assert status == 404, body
        assert body["error"] == "not_found" and body["errors"][0]["reason"] == "unknown"


def test_an_item_is_what_a_card_shows(world):
    status, body = get("/items/i2")
    assert status == 200
    assert body["title"] == "Title 2" and body["categories"] == ["news", "tech"]
    assert body["hidden"] is False and body["kind"] in ("video", "article", "post")


def _register(db, version, manifest, created_ms, active=False):
    row = {"version": version, "uri": f"/m/{version}", "checksum": "c" * 64,
           "manifest": json.dumps(manifest), "created_ms": created_ms}  # fmt: skip
    db.write(lambda c: execute(c, "training/models", "register_model", row))
    if active:
        db.write(lambda c: execute(c, "training/models", "activate_model",
                                   {"version": version, "now_ms": created_ms}))  # fmt: skip


def test_the_registry_says_which_model_serves_whom(world, monkeypatch):
    held_out = {"test": {"hr@10": 0.71, "ndcg@10": 0.42}, "best_epoch": 4}
    evaluated = {"split": "leave-last-out", "users": 2, "items": 1, "metrics": held_out}
    production = {"split": "none", "metrics": {"validated_run": {"test": {"hr@10": 0.7}}}}
    _register(world, "mr-a", evaluated, FIXED_NOW_MS - 2000, active=True)
    _register(world, "mr-b", production, FIXED_NOW_MS - 1000)
    status, body = get("/models")
    assert status == 200
    assert body["active_version"] == "mr-a"
    assert body["ab"] == {"model_version": None, "share": 0.0}
    newest, oldest = body["models"]
    assert newest["version"] == "mr-b" and newest["arm"] is None
    assert newest["metrics_measured_on"] == "the validated run's test split"
    assert oldest["metrics"] == {"hr@10": 0.71, "ndcg@10": 0.42}  # best_epoch is not held out
    assert (oldest["users"], oldest["items"], oldest["active"]) == (2, 1, True)

    monkeypatch.setenv("MEDIAREC_AB_MODEL_VERSION", "mr-b")
    monkeypatch.setenv("MEDIAREC_AB_SHARE", "0.25")
    reset_all()
    body = get("/models")[1]
    assert body["ab"] == {"model_version": "mr-b", "share": 0.25}
    assert [(m["version"], m["arm"]) for m in body["models"]] == [("mr-b", "b"), ("mr-a", "a")]
    limited = get("/models", {"limit": "1"})[1]  # the newest, and the serving ones beside it
    assert [m["version"] for m in limited["models"]] == ["mr-b", "mr-a"]
    assert limited["active_version"] == "mr-a"
    _register(get_database(), "mr-c", {}, FIXED_NOW_MS - 500)
    assert [m["version"] for m in get("/models", {"limit": "1"})[1]["models"]] == [
        "mr-c",
        "mr-b",
        "mr-a",
    ]


def test_offline_metrics_take_only_held_out_numbers():
    assert offline_metrics({"validation": {"hr@10": 0.5, "note": "x", "ok": True}}) == (
        "validation split", {"hr@10": 0.5},
    )  # fmt: skip
    assert offline_metrics({}) == (None, {})
    assert offline_metrics("not a dict") == (None, {})


@pytest.mark.parametrize(
    "path, allowed, refused",
    [
        ("/users", {"admin"}, {"read", "ingest", "metrics"}),
        ("/users/ana", {"admin"}, {"read", "ingest", "metrics"}),
        ("/items/i1", {"read", "admin"}, {"ingest", "metrics"}),
        ("/models", {"metrics", "admin"}, {"read", "ingest"}),
    ],
)
def test_each_read_asks_its_scope(world, path, allowed, refused):
    for scope in allowed | refused:
        key = create_key(world, [scope], scope, FIXED_NOW_MS)[1]
        status, body = get(path, api_key=key)
        assert status == (200 if scope in allowed else 403), (scope, body)
    status, body = get(path, api_key=None)
    assert status == 401


def test_mediarec_serve_serves_the_console_outside_the_door(world):
    from fastapi.testclient import TestClient

    client = TestClient(build_app())
    page = client.get("/console/")
    assert page.status_code == 200 and "mediarec console" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    for asset in ("console.js", "charts.js", "console.css"):
        assert client.get(f"/console/{asset}").status_code == 200
    assert client.get("/", follow_redirects=False).headers["location"] == "/console/"
    assert client.get("/models").status_code == 401  # the API behind it still asks for a key
