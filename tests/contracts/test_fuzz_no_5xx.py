"""Property: no request body or query a client can send makes a function answer 5xx."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.ingest.app import handler as ingest
from functions.metrics.app import handler as metrics
from functions.recommend.app import handler as recommend
from training.local.lambda_invoke import http_event, invoke

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text()
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
field_values = st.one_of(
    scalars,
    st.sampled_from(
        ["", "x" * 200, "web", "click", "2026-11-22T11:00:00Z", "\x00", 1.7e9, -1, 10**30]
    ),
)
events = st.fixed_dictionaries(
    {},
    optional={
        name: field_values
        for name in (
            "event_id",
            "user_id",
            "item_id",
            "event_type",
            "platform",
            "ts",
            "recommendation_id",
            "position",
            "dwell_ms",
            "extra",
        )
    },
)
items = st.fixed_dictionaries(
    {},
    optional={
        "item_id": field_values,
        "kind": st.sampled_from(["video", "post", "tv"]) | field_values,
        "categories": st.lists(field_values, max_size=3) | field_values,
        "published_at": field_values,
        "attributes": json_values,
        "hidden": field_values,
    },
)


def assert_4xx_or_ok(status: int, body: object) -> None:
    assert status < 500, body
    if status >= 400:
        assert isinstance(body, dict) and body["error"] and body["errors"] is not None


@FUZZ
@given(body=json_values, path=st.sampled_from(["/events", "/items", "/users"]))
def test_arbitrary_json_bodies(body, path):
    assert_4xx_or_ok(*invoke(ingest, http_event("POST", path, body=body)))


@FUZZ
@given(batch=st.lists(events, min_size=1, max_size=5))
def test_event_shaped_batches(batch):
    status, body = invoke(ingest, http_event("POST", "/events", body={"events": batch}))
    assert_4xx_or_ok(status, body)
    if status in (200, 207, 422) and "results" in body:
        assert len(body["results"]) == len(batch)


@FUZZ
@given(batch=st.lists(items, min_size=1, max_size=5))
def test_item_shaped_batches(batch):
    assert_4xx_or_ok(*invoke(ingest, http_event("POST", "/items", body=batch)))


@FUZZ
@given(raw=st.binary(max_size=64).map(lambda b: b.decode("latin-1")))
def test_raw_garbage(raw):
    assert_4xx_or_ok(*invoke(ingest, http_event("POST", "/events", raw_body=raw)))


query_values = st.text(max_size=20) | st.integers().map(str) | st.sampled_from(["0", "101", "web"])


@FUZZ
@given(
    query=st.dictionaries(
        st.sampled_from(["k", "platform", "kind", "category", "exclude_seen", "from", "to"]),
        query_values,
        max_size=4,
    ),
    user=st.text(min_size=1, max_size=200).filter(lambda u: "/" not in u and "?" not in u),
)
def test_arbitrary_queries(query, user):
    from urllib.parse import quote

    assert_4xx_or_ok(
        *invoke(recommend, http_event("GET", f"/recommendations/{quote(user)}", query=query))
    )
    assert_4xx_or_ok(*invoke(metrics, http_event("GET", "/metrics", query=query)))


def test_json_nesting_bomb_is_4xx():
    deep = "[" * 100_000 + "]" * 100_000
    assert_4xx_or_ok(*invoke(ingest, http_event("POST", "/events", raw_body=deep)))
    assert json  # the module is used above for the strategies' sake
