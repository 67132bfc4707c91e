"""Input limits and the defects found when the API was tried as an outsider would: each a 4xx
naming the field, never a 5xx, never a half-stored batch."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.common.http.errors import ApiError
from functions.common.http.json_body import parse_json_body
from functions.common.store.db import get_database
from functions.ingest.app import handler as ingest
from functions.metrics.app import handler as metrics_handler
from functions.recommend.app import handler as recommend
from tests.utils.factories import add_events, add_items, event
from training.local.lambda_invoke import EXAMPLE_API_KEY, http_event, invoke
from training.local.server import build_app

LIMITS = {"max_bytes": 1_048_576, "max_depth": 32, "max_digits": 20}


def post(path: str, raw: str) -> tuple[int, dict]:
    return invoke(ingest, http_event("POST", path, raw_body=raw))


def count(table: str) -> int:
    return int(get_database().conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


@pytest.mark.parametrize("digits", [21, 4_000, 5_000, 100_000])
def test_a_huge_integer_is_a_400_naming_its_field(digits):
    number = "1" * digits
    status, body = post("/events", '{"event_id": "e1", "user_id": "u1", "item_id": "i1", '
                        f'"event_type": "view", "platform": "web", "ts": {number}}}')  # fmt: skip
    assert status in (400, 413), body
    if status == 400:
        assert body["errors"][0]["field"] == "ts"
    status, body = post("/items", f'{{"items": [{{"item_id": "i1", "kind": "video", '
                        f'"attributes": {{"views": {number}}}}}]}}')  # fmt: skip
    assert status in (400, 413)
    if status == 400:
        assert body["errors"][0]["field"] == "items[0].attributes.views"
    assert count("events") == 0 and count("items") == 0


def test_a_huge_integer_through_the_local_server_keeps_the_connection():
    client = TestClient(build_app(), headers={"x-api-key": EXAMPLE_API_KEY})
    response = client.post(
        "/items",
        content='{"item_id": "i1", "kind": "video", "attributes": {"n": ' + "9" * 5000 + "}}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "attributes.n"
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
def test_non_finite_numbers_are_refused_not_stored(literal):
    status, body = post("/items", f'{{"item_id": "i1", "kind": "video", '
                        f'"attributes": {{"score": {literal}}}}}')  # fmt: skip
    assert status == 400 and body["error"] == "invalid_json"
    assert body["errors"][0]["field"] == "attributes.score"
    assert count("items") == 0


@pytest.mark.parametrize("depth", [33, 200, 1_000, 100_000])
def test_deep_nesting_is_a_limit_not_an_encoding_error(depth):
    attributes = "[" * depth + "]" * depth
    status, body = post("/users", f'{{"user_id": "u1", "attributes": {{"a": {attributes}}}}}')
    assert status == 400 and body["error"] == "limit_exceeded", body
    assert "nested deeper than 32" in body["errors"][0]["reason"]


def test_attributes_nest_at_most_four_levels():
    def post_attributes(attributes: dict) -> tuple[int, dict]:
        return invoke(
            ingest, http_event("POST", "/users", body={"user_id": "u1", "attributes": attributes})
        )

    assert post_attributes({"a": [[{"b": [1, 2.5, None, True, "x"]}]]})[0] == 200  # 4 levels
    status, body = post_attributes({"a": [[[{"b": [1]}]]]})  # 5
    assert status == 422 and body["errors"][0]["field"] == "attributes"


@pytest.mark.parametrize(
    "path",
    ["/recommendations/u%0Ab", "/recommendations/u00005%00", "/recommendations/a%2Fb",
     "/recommendations/%FF%FE", "/recommendations/%C0%AF", "/recommendations/%C2%85x"],
)  # fmt: skip
def test_one_id_rule_for_path_ids(db, path):
    add_items(db, [{"item_id": "i1"}])
    status, body = invoke(recommend, http_event("GET", path))
    assert status == 422 and body["errors"][0]["field"] == "user_id", body
    assert count("impressions") == 0 and count("recommendations") == 0


def test_delete_refuses_an_id_no_one_could_have_posted(db):
    add_events(db, [{"user_id": "u\nb", "item_id": "i1", "event_type": "view", "ts_ms": 1}])
    status, body = invoke(ingest, http_event("DELETE", "/users/u%0Ab"))
    assert status == 422 and body["errors"][0]["field"] == "user_id"
    assert count("events") == 1


@pytest.mark.parametrize("bad", ["u\nb", "u\x00", "a/b", "\x85", "x" * 129, ""])
def test_the_same_rule_for_body_ids(bad):
    status, body = invoke(ingest, http_event("POST", "/events", body=event(user_id=bad)))
    assert status == 422 and body["errors"][0]["field"] == "user_id"


def test_a_lone_surrogate_is_refused():
    status, body = post("/items", '{"item_id": "i\\ud800", "kind": "video"}')
    assert status == 400 and body["errors"][0]["field"] == "item_id"
    status, body = post("/items", '[{"item_id": "i1", "kind": "video", "title": "x\\udfff"}]')
    assert status == 400 and body["errors"][0]["field"] == "[0].title"
    status, body = post("/users", '{"user_id": "u1", "attributes": {"\\udc00": 1}}')
    assert status == 400 and body["errors"][0]["field"] == "attributes.\\udc00"
    assert count("items") == 0


def test_a_nul_character_in_stored_text_is_refused_on_every_engine():
    """PostgreSQL's text cannot hold NUL: a title, a category or a query value holding one is
    refused as invalid on both engines, naming the field. Attributes may hold one: they are
    stored as JSON text, where it is the escape \\u0000."""
    status, body = post("/items", '[{"item_id": "i1", "kind": "video", "title": "a\\u0000b"}]')
    assert status == 422 and body["errors"][0]["field"].endswith("title"), body
    status, body = post("/items", '[{"item_id": "i1", "kind": "video", "categories": ["\\u0000"]}]')
    assert status == 422 and "categories" in body["errors"][0]["field"], body
    query = {"a": "x", "b": "\x00"}
    status, body = invoke(metrics_handler, http_event("GET", "/metrics/compare", query=query))
    assert status == 422 and body["errors"][0]["field"] == "b", body
    assert count("items") == 0
    status, body = post("/users", '{"user_id": "u1", "attributes": {"k\\u0000": "\\u0000"}}')
    assert status == 200, body


def test_an_item_published_in_the_far_future_is_refused():
    status, body = invoke(ingest, http_event("POST", "/items", body={
        "item_id": "i1", "kind": "video", "published_at": "9999-01-01T00:00:00Z"}))  # fmt: skip
    assert status == 422 and body["errors"][0]["field"] == "published_at"
    assert "in the future" in body["errors"][0]["reason"]


def test_a_wrapper_with_another_field_names_it():
    status, body = invoke(
        ingest, http_event("POST", "/events", body={"events": [event()], "extra": 1})
    )
    assert status == 422
    assert body["errors"] == [{"field": "extra", "reason": "unknown field"}]
    assert count("events") == 0


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/items", {"item_id": "i1", "kind": "video", "hidden": "yes"}, "hidden"),
        ("/items", {"item_id": "i1", "kind": "video", "hidden": 1}, "hidden"),
        ("/events", event(position=True), "position"),
        ("/events", event(position="3"), "position"),
        ("/events", event(position=3.5), "position"),
        ("/events", event(dwell_ms="100"), "dwell_ms"),
        ("/items", {"item_id": "i1", "kind": "video", "title": "t" * 501}, "title"),
        ("/items", {"item_id": "i1", "kind": "video", "categories": ["c" * 65]}, "categories[0]"),
    ],
)
def test_no_loose_coercion_and_bounded_strings(path, body, field):
    status, answer = invoke(ingest, http_event("POST", path, body=body))
    assert status == 422 and answer["errors"][0]["field"] == field, answer


def test_a_whole_number_may_be_written_3_0():
    status, _ = invoke(ingest, http_event("POST", "/events", body=event(position=3.0)))
    assert status == 200  # JSON Schema's integer: 3.0 is one
    assert get_database().conn.execute("SELECT position FROM events").fetchone()[0] == 3


def test_too_many_query_parameters():
    query = {f"p{n}": "1" for n in range(21)}
    status, body = invoke(recommend, http_event("GET", "/recommendations/u1", query=query))
    assert status == 400 and body["error"] == "too_many_parameters"


def test_invalid_utf8_in_a_query_value():
    event_ = http_event("GET", "/recommendations/u1")
    event_["rawQueryString"] = "category=%FF"
    status, body = invoke(recommend, event_)
    assert status == 422 and body["errors"][0]["field"] == "category"


def test_errors_never_carry_a_traceback(monkeypatch):
    from functions.recommend import fast_path

    def fail(*_: object) -> None:
        raise RuntimeError("secret detail /var/task/x.py line 3")

    monkeypatch.setattr(fast_path, "recommend", fail)
    status, body = invoke(recommend, http_event("GET", "/recommendations/u1"))
    assert (
        status == 500 and "secret" not in json.dumps(body) and "Traceback" not in json.dumps(body)
    )


def test_local_serve_logs_as_mediarec():
    from functions.metrics.app import handler as metrics

    invoke(metrics, http_event("GET", "/metrics"))  # a function's handler configured logging
    build_app()
    (handler,) = logging.getLogger("functions").handlers
    record = logging.getLogger("functions.common.probe").makeRecord(
        "functions.common.probe", logging.WARNING, __file__, 1, "probe line", (), None
    )
    assert json.loads(handler.format(record))["service"] == "mediarec"


def test_import_csv_with_an_unknown_encoding_is_one_line(tmp_path):
    data = tmp_path / "log.csv"
    data.write_text("user_id,item_id,timestamp\nu1,i1,1700000000\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "training.cli", "import", "csv", str(data), "--encoding", "bogus",
         "--db", str(tmp_path / "x.sqlite"), "--quiet"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "unknown text encoding 'bogus'" in done.stderr


# -- properties of the body parser -----------------------------------------------------------

texts = st.text()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**19), 10**19) | st.floats(-1e19, 1e19) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=20,
)  # fmt: skip
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(value=json_values)
def test_any_json_within_the_limits_parses_to_itself(value):
    raw = json.dumps(value).encode()
    assert parse_json_body(raw, **LIMITS) == value or not raw.strip()


@PROPERTY
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_give_a_value_or_a_4xx(raw):
    try:
        parse_json_body(raw, **LIMITS)
    except ApiError as error:
        assert 400 <= error.status < 500 and error.errors[0]["field"]


@PROPERTY
@given(depth=st.integers(1, 60), digits=st.integers(1, 40))
def test_limits_are_exact(depth, digits):
    nested = "[" * depth + "1" * digits + "]" * depth
    try:
        parse_json_body(nested.encode(), **LIMITS)
        accepted = True
    except ApiError as error:
        accepted = False
        assert error.status == 400
    assert accepted == (depth <= LIMITS["max_depth"] and digits <= LIMITS["max_digits"])


@PROPERTY
@given(user_id=st.text(max_size=140))
def test_path_and_body_ids_agree(user_id):
    from urllib.parse import quote

    path_status, _ = invoke(
        recommend, http_event("GET", "/recommendations/" + quote(user_id, safe=""))
    )
    body_status, _ = invoke(ingest, http_event("POST", "/events", body=event(user_id=user_id)))
    assert (path_status == 200) == (body_status == 200), user_id


@pytest.mark.parametrize(
    "raw",
    [
        '{"event_id": "e1", "user_id": "u1", "ts": ' + "1" * 5000 + ', "item_id": }',
        "[" + "1" * 5000 + "," + "[" * 100_000,
        '{"a": ' + "1" * 5000 + ", " + '"b": NaN, }',
    ],
    ids=["then-invalid", "then-too-deep", "then-trailing-comma"],
)
def test_a_huge_integer_then_malformed_json_is_still_a_400(raw):
    status, body = post("/events", raw)
    assert status == 400 and body["error"] in ("invalid_json", "limit_exceeded"), body


@pytest.mark.parametrize(
    "change",
    [
        {"isBase64Encoded": True, "body": "éé=="},
        {"isBase64Encoded": True, "body": "not base64!"},
        {"headers": ["x-api-key", EXAMPLE_API_KEY]},
    ],
    ids=["non-ascii-base64", "bad-base64", "headers-list"],
)
def test_malformed_events_are_a_400_not_a_500(change):
    event_ = {**http_event("POST", "/events", body=event()), **change}
    status, body = invoke(ingest, event_)
    assert status == 400, body


def test_no_websocket_opens():
    from starlette.websockets import WebSocketDisconnect

    client = TestClient(build_app())
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/events") as socket:
        socket.receive_text()
