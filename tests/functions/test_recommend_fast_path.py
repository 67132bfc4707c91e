"""The recommend handler's fast path answers GET /recommendations/{user_id} exactly as the FastAPI
route behind Mangum does (status, headers, body bytes, impressions), without importing either."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from mangum import Mangum

from functions.common.clock import HOUR_MS
from functions.common.http.errors import ApiError
from functions.common.http.lambda_runtime import behind_door
from functions.common.store.db import DatabaseBusyError
from functions.recommend import fast_path, routes
from functions.recommend.app import handler
from functions.recommend.fast_path import answer_feed_request
from tests.conftest import FIXED_NOW_MS
from tests.utils import fast_paths
from tests.utils.factories import add_events, add_items
from training.local.lambda_invoke import FakeLambdaContext, http_event, invoke

NOW = FIXED_NOW_MS
RECOMMENDATION_ID = re.compile(r'"recommendation_id":"[0-9a-f]{32}"')


def feed_event(path: str, raw_query: str = "", method: str = "GET") -> dict[str, Any]:
    """An HTTP API event with this exact rawPath and rawQueryString."""
    event = http_event(method, path)
    event["rawQueryString"] = raw_query
    return event


def through_fastapi(event: dict[str, Any]) -> dict[str, Any]:
    """FastAPI behind Mangum (its route dependency passes the same door)."""
    response: dict[str, Any] = Mangum(routes.app, lifespan="off")(event, FakeLambdaContext())
    return response


def through_fast_path(event: dict[str, Any]) -> dict[str, Any]:
    """The fast path behind the door, as the handler calls it."""

    def respond() -> dict[str, Any]:
        response = answer_feed_request(event, FakeLambdaContext())
        assert response is not None, "the fast path left this request to FastAPI"
        return response

    return behind_door(event, respond)


def normalised(response: dict[str, Any]) -> dict[str, Any]:
    """The response with its random recommendation_id (always 32 hex digits) blanked."""
    body = RECOMMENDATION_ID.sub('"recommendation_id":"' + "0" * 32 + '"', response["body"])
    return {**response, "body": body}


def logged_feed(db, response: dict[str, Any]) -> tuple[Any, list[Any]] | None:
    """The recommendations row and the impressions written for a 200, without their id."""
    if response["statusCode"] != 200:
        return None
    feed_id = json.loads(response["body"])["recommendation_id"]
    feed = db.conn.execute(
        "SELECT user_id, platform, k, model_version, request, served_ms FROM recommendations"
        " WHERE recommendation_id = ?",
        (feed_id,),
    ).fetchone()
    impressions = db.conn.execute(
        "SELECT item_id, user_id, position, score, reason, model_version, platform, served_ms"
        " FROM impressions WHERE recommendation_id = ? ORDER BY position",
        (feed_id,),
    ).fetchall()
    return tuple(feed), [tuple(row) for row in impressions]


@pytest.fixture
def world(db):
    """Videos and articles in two categories, a crowd's clicks on web and ios, one fan's views."""
    add_items(
        db,
        [
            {
                "item_id": f"i{n}",
                "kind": "video" if n <= 6 else "article",
                "categories": ["sports"] if n % 2 else ["news"],
                "published_ms": NOW - n * HOUR_MS,
            }
            for n in range(1, 13)
        ],
    )
    add_events(
        db,
        [
            {
                "user_id": f"crowd{j}",
                "item_id": f"i{n}",
                "event_type": "click",
                "ts_ms": NOW - HOUR_MS,
                "platform": "web" if n % 3 else "ios",
            }
            for n in range(1, 10)
            for j in range(12 - n)
        ]
        + [
            {"user_id": user, "item_id": item, "event_type": "view", "ts_ms": NOW}
            for user, item in [("fan", "i1"), ("fan", "i4"), ("café", "i2"), ("a b", "i3")]
        ],
    )
    return db


ANSWERED = [
    ("/recommendations/u1", ""),
    ("/recommendations/u1", "k=3"),
    ("/recommendations/u1", "k=1&platform=web"),
    ("/recommendations/u1", "platform=ios&k=4"),
    ("/recommendations/u1", "platform=android"),
    ("/recommendations/u1", "kind=article"),
    ("/recommendations/u1", "category=sports"),
    ("/recommendations/u1", "kind=video&category=news&k=2"),
    ("/recommendations/u1", "category=sp%6Frts"),
    ("/recommendations/fan", ""),
    *[("/recommendations/fan", f"exclude_seen={value}") for value in ("true", "false", "0", "1")],
    *[("/recommendations/fan", f"exclude_seen={value}") for value in ("yes", "off", "On", "F")],
    ("/recommendations/fan", "exclude_seen=garbage"),
    ("/recommendations/fan", "exclude_seen="),
    *[("/recommendations/u1", f"k={value}") for value in ("0", "101", "abc", "", "-3", "5.0")],
    ("/recommendations/u1", "k=2.5"),
    ("/recommendations/u1", "k=%205"),
    ("/recommendations/u1", "k"),
    ("/recommendations/u1", "kind=podcast"),
    ("/recommendations/u1", "kind="),
    ("/recommendations/u1", "category=" + "x" * 65),
    ("/recommendations/u1", "category="),
    ("/recommendations/u1", "platform=tv"),
    ("/recommendations/u1", "platform="),
    ("/recommendations/u1", "platform=" + "w" * 33),
    ("/recommendations/u1", "platform=web+"),
    ("/recommendations/u1", "platform=tv&k=0&kind=tv&category="),
    ("/recommendations/u1", "k=2&extra=1&utm_source=mail"),
    ("/recommendations/u1", "&&k=2&"),
    ("/recommendations/caf%C3%A9", "k=2"),
    ("/recommendations/café", "k=2"),
    ("/recommendations/a%20b", ""),
    ("/recommendations/a+b", ""),
    ("/recommendations/%E2%9C%93%F0%9F%8E%AC", ""),
    ("/recommendations/%25", ""),
    ("/recommendations/%FF%FE", ""),
    ("/recommendations/%00", ""),
    ("/recommendations/" + "x" * 128, ""),
    ("/recommendations/" + "x" * 129, ""),
    ("/recommendations/" + "x" * 129, "k=0&kind=tv"),
    ("/recommendations/" + "%C3%A9" * 129, ""),
]


@pytest.mark.parametrize(("path", "raw_query"), ANSWERED)
def test_fast_path_answers_as_fastapi_does(world, path, raw_query):
    event = feed_event(path, raw_query)
    fast = through_fast_path(event)
    fast_feed = logged_feed(world, fast)
    slow = through_fastapi(event)
    assert normalised(fast) == normalised(slow)
    assert fast_feed == logged_feed(world, slow)


def test_the_battery_covers_answers_and_every_kind_of_error(world):
    statuses = {through_fast_path(feed_event(*case))["statusCode"] for case in ANSWERED}
    assert statuses == {200, 422}
    _, body = invoke(handler, feed_event("/recommendations/u1", "k=0&kind=tv"))
    assert [e["field"] for e in body["errors"]] == ["k", "kind"]
    _, body = invoke(handler, feed_event("/recommendations/" + "x" * 129, "k=0&kind=tv"))
    assert [e["field"] for e in body["errors"]] == ["user_id"]  # the door's, before the query


def test_platforms_come_from_the_settings(world, monkeypatch):
    monkeypatch.setenv("MEDIAREC_PLATFORMS", "web,tv")
    from functions.common.settings import get_settings

    get_settings.cache_clear()
    for raw_query in ("platform=tv", "platform=ios"):
        event = feed_event("/recommendations/u1", raw_query)
        assert normalised(through_fast_path(event)) == normalised(through_fastapi(event))


@pytest.mark.parametrize(
    "error",
    [
        DatabaseBusyError("database is locked"),
        ApiError(409, "conflict", "feed é in use", [{"field": "user_id", "reason": "busy"}]),
        RuntimeError("boom"),
    ],
    ids=["busy", "api_error", "unexpected"],
)
def test_errors_raised_while_serving_are_answered_alike(world, monkeypatch, caplog, error):
    def fail(*args: object) -> None:
        raise error

    monkeypatch.setattr(fast_path, "recommend", fail)
    monkeypatch.setattr(routes, "recommend", fail)
    event = feed_event("/recommendations/u1", "k=2")
    fast = through_fast_path(event)
    assert fast == through_fastapi(event)
    if isinstance(error, DatabaseBusyError):
        assert fast["statusCode"] == 503 and fast["headers"]["retry-after"] == "1"
    if type(error) is RuntimeError:
        assert fast["statusCode"] == 500
        assert json.loads(fast["body"])["error"] == "internal_error"
        unhandled = [r for r in caplog.records if r.getMessage() == "unhandled error"]
        assert len(unhandled) == 2 and all(r.exc_info for r in unhandled)  # each path logs it


def test_handler_answers_through_the_fast_path(world, monkeypatch):
    monkeypatch.setattr(routes, "recommend", None)  # the FastAPI route would answer 500
    event = feed_event("/recommendations/u1", "k=2&platform=web")
    answered = handler(event, FakeLambdaContext())
    assert answered["statusCode"] == 200
    assert normalised(answered) == normalised(through_fast_path(event))


DELEGATED = [
    feed_event("/recommendations/u1/", "k=2"),  # Starlette redirects the trailing slash
    feed_event("/recommendations/a%2Fb", ""),  # decodes to two segments: no such route
    feed_event("/recommendations/u1", "k=2&k=3"),  # Starlette keeps the last value
    feed_event("/recommendations/u1", "category=spört"),  # Starlette decodes it as latin-1
    feed_event("/recommendations/u1", "", method="POST"),
    feed_event("/recommendations/u1", "", method="HEAD"),
    feed_event("/recommendations", ""),
    feed_event("/health", ""),
    feed_event("/nope", ""),
    feed_event("/openapi.json", ""),
    {**feed_event("/recommendations/u1", ""), "rawPath": "/recommendations/u2"},
]
NOT_HTTP_API = [
    {
        "resource": "/recommendations/{user_id}",
        "path": "/recommendations/u1",
        "httpMethod": "GET",
        "headers": {"host": "abc123.execute-api.us-east-1.amazonaws.com"},
        "queryStringParameters": {"k": "2"},
        "requestContext": {"identity": {"sourceIp": "127.0.0.1"}},
        "body": None,
        "isBase64Encoded": False,
    },
]


@pytest.mark.parametrize("event", DELEGATED, ids=lambda e: e.get("rawPath") or e.get("path"))
def test_other_requests_go_to_fastapi(world, event):
    assert answer_feed_request(event, FakeLambdaContext()) is None
    assert normalised(handler(event, FakeLambdaContext())) == normalised(through_fastapi(event))


@pytest.mark.parametrize("event", NOT_HTTP_API, ids=["payload-1.0"])
def test_events_the_door_cannot_read_are_refused(world, event):
    assert answer_feed_request(event, FakeLambdaContext()) is None
    status, body = invoke(handler, event)
    assert status == 400 and body["error"] == "unsupported_event"


def test_health_and_unknown_paths_through_the_handler(world):
    status, body = invoke(handler, "recommend_health")
    assert status == 200 and body["status"] == "ok"
    status, body = invoke(handler, http_event("GET", "/nope"))
    assert status == 404 and body["error"] == "not_found"


COLD_START = """
from functions.recommend.app import handler
from training.local.lambda_invoke import FakeLambdaContext, http_event

feed = handler(http_event("GET", "/recommendations/u1", query={"k": 3}), FakeLambdaContext())
after_feed = loaded()
health = handler(http_event("GET", "/health"), FakeLambdaContext())
print(json.dumps({"feed": feed, "after_feed": after_feed, "health": health["statusCode"],
                  "after_health": loaded()}))
"""


def test_a_cold_start_answering_a_feed_imports_no_web_framework(world, tmp_path):
    heavy = ["fastapi", "mangum", "pydantic_settings", "starlette"]
    result = fast_paths.cold_start(COLD_START, tmp_path, heavy)
    assert result["feed"]["statusCode"] == 200
    assert len(json.loads(result["feed"]["body"])["items"]) == 3
    assert result["after_feed"] == []
    assert result["health"] == 200  # then FastAPI is imported for the first other request
    assert result["after_health"] == ["fastapi", "mangum", "starlette"]
