"""The metrics handler's fast path answers GET /metrics exactly as the FastAPI route behind Mangum
does (status, headers, body bytes), stored and computed windows alike, without importing either."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.common.clock import DAY_MS, HOUR_MS, floor_ms
from functions.common.store.db import DatabaseBusyError
from functions.metrics import fast_path, query, routes
from functions.metrics.app import handler
from functions.metrics.fast_path import answer_metrics_request
from functions.metrics.schedule import run_scheduled
from tests.conftest import FIXED_NOW_MS
from tests.utils import fast_paths
from tests.utils.factories import add_events, add_impressions, add_items
from training.local.lambda_invoke import FakeLambdaContext, http_event

DAY = floor_ms(FIXED_NOW_MS, DAY_MS) - DAY_MS  # yesterday: a stored day window after the run


def metrics_event(raw_query: str = "", path: str = "/metrics", method: str = "GET") -> dict:
    event = http_event(method, path)
    event["rawQueryString"] = raw_query
    return event


def through_fastapi(event: dict[str, Any]) -> dict[str, Any]:
    return fast_paths.through_fastapi(routes.app, event)


def through_fast_path(event: dict[str, Any]) -> dict[str, Any]:
    return fast_paths.through_fast_path(answer_metrics_request, event)


@pytest.fixture
def served(db, settings):
    add_items(db, [{"item_id": f"i{n}", "categories": ["news"]} for n in range(6)])
    for n, at in enumerate((DAY + HOUR_MS, DAY + 5 * HOUR_MS, FIXED_NOW_MS - HOUR_MS)):
        add_impressions(
            db,
            f"r{n}",
            f"u{n % 2}",
            ["i1", "i2", "i3"],
            at,
            platform=("web", "ios")[n % 2],
            model_version=f"m{n % 2}",
        )
        add_events(
            db,
            [
                {
                    "user_id": f"u{n % 2}",
                    "item_id": "i2",
                    "event_type": "click",
                    "ts_ms": at + 60_000,
                    "recommendation_id": f"r{n}",
                }
            ],
        )
    run_scheduled(db, FIXED_NOW_MS, settings)  # stores the closed hours and yesterday
    return db


DAY_FROM, DAY_TO = DAY, DAY + DAY_MS
QUERIES = [
    "",  # the last 24 h, computed
    f"from={DAY_FROM}&to={DAY_TO}",  # a stored day (epoch ms)
    f"from={DAY_FROM}&to={DAY_TO}&fresh=true",  # recomputed
    f"from={DAY_FROM}&to={DAY_TO}&platform=web",  # one platform: computed
    f"from={DAY_FROM + HOUR_MS}&to={DAY_FROM + 2 * HOUR_MS}",  # a stored hour
    "from=2026-11-21T00:00:00Z&to=2026-11-22T00:00:00Z&k=2",
    "platform=any&k=100",
    "to=2026-11-21T00:00:00Z&from=2026-11-22T00:00:00Z",  # from after to: an empty window
    "from=1700000000&to=1800000000",  # seconds, and longer than 366 days
    "unknown=1&k=3",  # unknown parameters are ignored
    # every kind of error
    "k=0",
    "k=abc&fresh=maybe",
    "k=101&platform=" + "x" * 40,
    "platform=tv",
    "from=yesterday",
    "to=not-a-time",
    "from=%00",
    "fresh=",
]


@pytest.mark.parametrize("raw_query", QUERIES)
def test_fast_path_answers_as_fastapi_does(served, raw_query):
    event = metrics_event(raw_query)
    fast = through_fast_path(event)
    assert fast == through_fastapi(event)


def test_the_battery_holds_stored_computed_and_refused_answers(served):
    answers = [through_fast_path(metrics_event(q)) for q in QUERIES]
    bodies = [json.loads(a["body"]) for a in answers if a["statusCode"] == 200]
    assert {b["source"] for b in bodies} == {"stored", "computed"}
    assert any(b["pac"]["denominator"] for b in bodies)  # answers with impressions in them
    assert {a["statusCode"] for a in answers} == {200, 422}


@pytest.mark.parametrize(
    "error", [DatabaseBusyError("locked"), RuntimeError("boom")], ids=["busy", "unexpected"]
)
def test_errors_raised_while_reading_are_answered_alike(served, monkeypatch, error):
    def fail(*args: object) -> None:
        raise error

    monkeypatch.setattr(query, "window_metrics", fail)
    event = metrics_event("fresh=true")
    fast = through_fast_path(event)
    assert fast == through_fastapi(event)
    assert fast["statusCode"] == (503 if isinstance(error, DatabaseBusyError) else 500)


def test_numbers_are_written_as_the_route_writes_them(served, monkeypatch):
    """FastAPI writes a route's dict with pydantic's JSON: small and large floats, NaN."""
    odd = {"pac": {"value": 3.5e-05, "ci95": [1e-07, 0.001132]}, "big": 1e20,
           "none": float("nan"), "ints": [0, -1, 2**53]}  # fmt: skip
    monkeypatch.setattr(query, "window_metrics", lambda *args: dict(odd))
    event = metrics_event("fresh=true")
    fast = through_fast_path(event)
    assert fast == through_fastapi(event)
    assert '"value":0.000035' in fast["body"] and '"none":null' in fast["body"]


DELEGATED = [
    metrics_event("", path="/metrics/"),  # Starlette redirects the trailing slash
    metrics_event("k=2&k=3"),  # Starlette keeps the last value
    metrics_event("platform=wéb"),  # Starlette decodes it as latin-1
    metrics_event("", method="POST"),
    metrics_event("a=m0&b=m1", path="/metrics/compare"),
    metrics_event("", path="/models"),
]


@pytest.mark.parametrize("event", DELEGATED, ids=lambda e: e["rawPath"] + "?" + e["rawQueryString"])
def test_other_requests_go_to_fastapi(served, event):
    assert answer_metrics_request(event, FakeLambdaContext()) is None
    assert handler(event, FakeLambdaContext()) == through_fastapi(event)


def test_handler_answers_through_the_fast_path(served, monkeypatch):
    monkeypatch.setattr(routes, "metrics_answer", None)  # the FastAPI route would answer 500
    answered = handler(metrics_event(f"from={DAY_FROM}&to={DAY_TO}"), FakeLambdaContext())
    assert answered["statusCode"] == 200 and json.loads(answered["body"])["source"] == "stored"
    assert fast_path.metrics_answer is query.metrics_answer


COLD_START = """
from functions.metrics.app import handler
from training.local.lambda_invoke import FakeLambdaContext, http_event

day = handler(http_event("GET", "/metrics", query={"k": 10}), FakeLambdaContext())
after_day = loaded()
models = handler(http_event("GET", "/models"), FakeLambdaContext())
print(json.dumps({"day": day["statusCode"], "after_day": after_day,
                  "models": models["statusCode"], "after_models": loaded()}))
"""


def test_a_cold_start_answering_a_day_imports_no_web_framework(db, tmp_path):
    heavy = fast_paths.FRAMEWORKS
    result = fast_paths.cold_start(COLD_START, tmp_path)
    assert result["day"] == 200 and result["after_day"] == []
    assert result["models"] == 200 and result["after_models"] == heavy  # then FastAPI
