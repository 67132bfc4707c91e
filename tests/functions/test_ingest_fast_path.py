"""The ingest handler's fast path answers POST /events, /items and /users exactly as the FastAPI
routes behind Mangum do (status, headers, body bytes, stored rows), without importing either."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.common.caches import reset_all
from functions.common.store.db import DatabaseBusyError, get_database
from functions.ingest import fast_path, logic, routes
from functions.ingest.app import handler
from functions.ingest.fast_path import answer_write
from tests.conftest import FIXED_NOW_MS
from tests.utils import fast_paths
from tests.utils.factories import add_api_key, add_events
from training.local.lambda_invoke import EXAMPLE_API_KEY, FakeLambdaContext, http_event

EVENT = {
    "event_id": "e1",
    "user_id": "u1",
    "item_id": "i1",
    "event_type": "click",
    "platform": "web",
}
TABLES = {
    "events": "SELECT * FROM events ORDER BY event_id",
    "items": "SELECT * FROM items ORDER BY item_id",
    "item_categories": "SELECT * FROM item_categories ORDER BY item_id, category",
    "users": "SELECT * FROM users ORDER BY user_id",
}
CASES = {
    "one event": ("/events", EVENT),
    "a batch": ("/events", {"events": [EVENT, {**EVENT, "event_id": "e2", "item_id": "i2"}]}),
    "a bare list": ("/events", [EVENT, {**EVENT, "event_id": "e3"}]),
    "some rejected (207)": (
        "/events",
        {"events": [EVENT, {**EVENT, "event_id": "e4", "event_type": "stare"}]},
    ),
    "all rejected (422)": (
        "/events",
        {"events": [{**EVENT, "ts": "yesterday"}, {**EVENT, "position": True}]},
    ),
    "another user's id (409)": ("/events", {**EVENT, "event_id": "taken"}),
    "a retried event": ("/events", {**EVENT, "event_id": "mine"}),
    "an empty batch": ("/events", {"events": []}),
    "a batch too large": (
        "/events",
        {"events": [{**EVENT, "event_id": f"b{n}"} for n in range(501)]},
    ),
    "a field beside events": ("/events", {"events": [EVENT], "extra": 1}),
    "not an object": ("/events", "an event"),
    "items": (
        "/items",
        [
            {"item_id": "i1", "kind": "video", "title": "T", "categories": ["a"]},
            {"item_id": "i2", "kind": "podcast"},
        ],
    ),
    "users": ("/users", {"user_id": "u1", "attributes": {"age": 30}}),
    "a user's attributes too large": (
        "/users",
        {"user_id": "u1", "attributes": {"x": "y" * 20_000}},
    ),
}


def post(path: str, body: Any) -> dict[str, Any]:
    return http_event("POST", path, body=body)


def through_fastapi(event: dict[str, Any]) -> dict[str, Any]:
    return fast_paths.through_fastapi(routes.app, event)


def through_fast_path(event: dict[str, Any]) -> dict[str, Any]:
    return fast_paths.through_fast_path(answer_write, event)


def fresh_store(tmp_path, name: str, monkeypatch) -> None:
    """Its own SQLite file with the key and what the cases expect to find already stored."""
    monkeypatch.setenv("MEDIAREC_DATABASE_URL", "")
    monkeypatch.setenv("MEDIAREC_DB_PATH", str(tmp_path / f"{name}.sqlite"))
    reset_all()
    db = get_database()
    add_api_key(db, EXAMPLE_API_KEY, ("admin",), name="events folder")
    add_events(
        db,
        [
            {
                "event_id": "taken",
                "user_id": "other",
                "item_id": "i9",
                "event_type": "view",
                "ts_ms": FIXED_NOW_MS - 60_000,
            },
            {
                "event_id": "mine",
                "user_id": "u1",
                "item_id": "i1",
                "event_type": "click",
                "ts_ms": FIXED_NOW_MS - 60_000,
            },
        ],
    )
    reset_all()


def stored() -> dict[str, list[tuple]]:
    conn = get_database().conn
    return {name: [tuple(r) for r in conn.execute(query)] for name, query in TABLES.items()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_path_answers_and_stores_as_fastapi_does(tmp_path, monkeypatch, case):
    path, body = CASES[case]
    fresh_store(tmp_path, "fastapi", monkeypatch)
    slow = through_fastapi(post(path, body))
    slow_rows = stored()
    fresh_store(tmp_path, "fast", monkeypatch)
    fast = through_fast_path(post(path, body))
    assert fast == slow  # status, headers, body bytes
    assert stored() == slow_rows


@pytest.mark.parametrize(
    "case, status",
    [
        ("one event", 200),
        ("some rejected (207)", 207),
        ("another user's id (409)", 409),
        ("all rejected (422)", 422),
        ("a batch too large", 422),
    ],
)
def test_each_kind_of_answer_is_in_the_battery(tmp_path, monkeypatch, case, status):
    fresh_store(tmp_path, "s", monkeypatch)
    assert through_fast_path(post(*CASES[case]))["statusCode"] == status


@pytest.mark.parametrize(
    "error",
    [DatabaseBusyError("locked"), RuntimeError("boom")],
    ids=["busy", "unexpected"],
)
def test_errors_raised_while_writing_are_answered_alike(tmp_path, monkeypatch, error):
    def fail(*args: object) -> None:
        raise error

    fresh_store(tmp_path, "s", monkeypatch)
    monkeypatch.setattr(logic, "ingest_events", fail)
    monkeypatch.setitem(fast_path.WRITES, "/events", ("events", fail))
    event = post("/events", EVENT)
    fast = through_fast_path(event)
    assert fast == through_fastapi(event)
    assert fast["statusCode"] == (503 if isinstance(error, DatabaseBusyError) else 500)


DELEGATED = [
    http_event("DELETE", "/users/u1"),
    http_event("POST", "/events/", body=EVENT),  # Starlette redirects the trailing slash
    http_event("POST", "/%65vents", body=EVENT),  # percent-encoded: left to Starlette's decoding
    http_event("PUT", "/events", body=EVENT),
    {**http_event("POST", "/events", body=EVENT), "rawPath": "/items"},
]


def _name(event: dict[str, Any]) -> str:
    return f"{event['requestContext']['http']['method']} {event['rawPath']}"


@pytest.mark.parametrize("event", DELEGATED, ids=_name)
def test_other_requests_go_to_fastapi(tmp_path, monkeypatch, event):
    fresh_store(tmp_path, "s", monkeypatch)
    assert answer_write(event, FakeLambdaContext()) is None


def test_handler_answers_writes_through_the_fast_path(tmp_path, monkeypatch):
    fresh_store(tmp_path, "s", monkeypatch)
    monkeypatch.setattr(routes, "logic", None)  # the FastAPI route would answer 500
    answered = handler(post("/events", EVENT), FakeLambdaContext())
    assert answered["statusCode"] == 200 and json.loads(answered["body"])["stored"] == 1


COLD_START = """
from functions.ingest.app import handler
from training.local.lambda_invoke import FakeLambdaContext, http_event

event = {"event_id": "c1", "user_id": "u1", "item_id": "i1", "event_type": "view",
         "platform": "web"}
written = handler(http_event("POST", "/events", body={"events": [event]}), FakeLambdaContext())
after_write = loaded()
deleted = handler(http_event("DELETE", "/users/u1"), FakeLambdaContext())
print(json.dumps({"write": written["statusCode"], "after_write": after_write,
                  "delete": deleted["statusCode"], "after_delete": loaded()}))
"""


def test_a_cold_start_answering_a_write_imports_no_web_framework(db, tmp_path):
    heavy = fast_paths.FRAMEWORKS
    result = fast_paths.cold_start(COLD_START, tmp_path)
    assert result["write"] == 200 and result["after_write"] == []
    assert result["delete"] == 200 and result["after_delete"] == heavy  # then FastAPI
