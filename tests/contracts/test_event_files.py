"""Every file in events/ invoked as Lambda invokes it, against the function it is named for."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.ingest.app import handler as ingest
from functions.metrics.app import handler as metrics
from functions.recommend.app import handler as recommend
from tests.conftest import FIXED_NOW_MS
from tests.utils.factories import add_events, add_impressions, add_items
from training.local.lambda_invoke import EVENTS_DIR, FakeLambdaContext, invoke, load_event

HANDLERS = {"ingest": ingest, "recommend": recommend, "metrics": metrics}

# file -> (status, keys the JSON body must have)
EXPECTED = {
    "ingest_post_event": (200, {"stored", "results"}),
    "ingest_post_events_batch": (207, {"stored", "duplicates", "rejected", "results"}),
    "ingest_post_events_malformed": (400, {"error", "message", "errors"}),
    "ingest_post_items": (200, {"stored", "results"}),
    "ingest_post_users": (200, {"stored", "results"}),
    "ingest_delete_user": (200, {"user_id", "deleted"}),
    "recommend_get": (200, {"recommendation_id", "model_version", "items"}),
    "recommend_get_filtered": (200, {"recommendation_id", "items"}),
    "recommend_get_bad_k": (422, {"error", "message", "errors"}),
    "recommend_health": (200, {"status", "model_version"}),
    "recommend_get_no_key": (401, {"error", "message", "errors"}),
    # end users through the client API: API Gateway's JWT authorizer passed their claims
    "recommend_get_jwt": (200, {"recommendation_id", "items"}),
    "recommend_get_jwt_other_user": (403, {"error", "message", "errors"}),
    "ingest_post_events_jwt": (200, {"stored", "results"}),
    "ingest_post_events_jwt_other_user": (403, {"error", "message", "errors"}),
    "metrics_get": (200, {"pac", "ctr", "coverage", "breakdown", "by_position", "online_auc"}),
    "metrics_compare": (200, {"a", "b", "pac", "ctr", "sample_ratio", "warnings"}),
    "metrics_get_platform": (200, {"pac", "ctr", "coverage", "breakdown"}),
    # the console's reads
    "metrics_get_users": (200, {"prefix", "users"}),
    "metrics_get_user": (200, {"user_id", "events", "feeds", "event_count"}),
    "metrics_get_item": (200, {"item_id", "kind", "title", "categories"}),
    "metrics_get_models": (200, {"active_version", "ab", "models"}),
}
SCHEDULED = {"metrics_scheduled", "metrics_refresh_snapshots"}


def event_names() -> list[str]:
    return sorted(p.stem for p in Path(EVENTS_DIR).glob("*.json"))


def test_every_event_file_has_an_expectation():
    assert set(event_names()) == set(EXPECTED) | SCHEDULED


@pytest.fixture
def world(db):
    add_items(db, [{"item_id": f"i{n:05d}", "categories": ["sports"]} for n in range(1, 21)])
    add_events(
        db,
        [
            {
                "user_id": f"crowd{j}",
                "item_id": f"i{n:05d}",
                "event_type": "click",
                "ts_ms": FIXED_NOW_MS - 3_600_000,
                "platform": "android",
            }
            for n in range(1, 21)
            for j in range(n)
        ],
    )
    return db


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_http_event_file(world, name):
    status, body = invoke(HANDLERS[name.split("_")[0]], name)
    expected_status, keys = EXPECTED[name]
    assert status == expected_status, body
    assert keys <= set(body)
    if name.startswith("recommend_get") and status == 200:
        assert body["items"], "a seeded catalog yields a non-empty feed"


def test_scheduled_event_file(world):
    # nothing served yet: nothing to evaluate
    assert metrics(load_event("metrics_scheduled"), FakeLambdaContext())["stored"] == 0
    add_impressions(world, "r1", "crowd1", ["i00001", "i00002"], FIXED_NOW_MS - 30 * 3_600_000)
    response = metrics(load_event("metrics_scheduled"), FakeLambdaContext())
    assert response["stored"] > 0
    assert {w["granularity"] for w in response["windows"]} == {"hour", "day"}


def test_snapshot_refresh_event_file(world):
    """The 5-minute schedule's constant input: the snapshots a request would otherwise build."""
    response = metrics(load_event("metrics_refresh_snapshots"), FakeLambdaContext())
    assert response["refreshed"] == ["popularity"] and response["busy"] == []
    status, body = invoke(recommend, "recommend_get")
    assert status == 200 and body["items"][0]["reason"] == "popular"


def test_an_unknown_scheduled_job_is_an_error_not_a_silent_success(world):
    with pytest.raises(ValueError, match="unknown scheduled job"):
        metrics({"job": "reticulate-splines"}, FakeLambdaContext())
