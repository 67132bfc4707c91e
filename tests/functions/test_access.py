"""Access control: every route of every app, and the fast path, refuses missing, unknown, revoked
and wrong-scope keys; end-user tokens act only for their own user; keys are never stored or
echoed in plain text."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from functions.common.http import api_keys, door
from functions.common.http.api_keys import create_key, key_cache, list_keys, revoke_key
from functions.common.http.door import PUBLIC_PATHS, ROUTES, match_route
from functions.common.store.db import get_database
from functions.ingest.app import handler as ingest
from functions.ingest.routes import app as ingest_app
from functions.metrics.app import handler as metrics
from functions.metrics.routes import app as metrics_app
from functions.recommend.app import handler as recommend
from functions.recommend.routes import app as recommend_app
from tests.conftest import FIXED_NOW_MS
from tests.utils.factories import add_events, add_items
from training.local.lambda_invoke import FakeLambdaContext, http_event, invoke
from training.local.server import build_api, build_app

HANDLER = {"ingest": ingest, "recommend": recommend, "metrics": metrics}
BODIES = {
    "/events": {"event_id": "e1", "user_id": "u1", "item_id": "i1", "event_type": "click",
                "platform": "web"},
    "/items": {"item_id": "i1", "kind": "video"},
    "/users": {"user_id": "u1"},
}  # fmt: skip
FUNCTION_OF = {
    ("POST", "/events"): "ingest",
    ("POST", "/items"): "ingest",
    ("POST", "/users"): "ingest",
    ("DELETE", "/users/{user_id}"): "ingest",
    ("GET", "/recommendations/{user_id}"): "recommend",
    ("GET", "/health"): "recommend",
    ("GET", "/metrics"): "metrics",
    ("GET", "/metrics/compare"): "metrics",
    ("GET", "/users"): "metrics",  # the console's reads
    ("GET", "/users/{user_id}"): "metrics",
    ("GET", "/items/{item_id}"): "metrics",
    ("GET", "/models"): "metrics",
}
PROTECTED = [route for route in ROUTES if route.scope is not None]
OTHER_SCOPE = {"ingest": "read", "read": "metrics", "metrics": "ingest", "admin": "ingest"}


def concrete(template: str) -> str:
    return template.replace("{user_id}", "u1").replace("{item_id}", "i1")


QUERIES = {"/metrics/compare": {"a": "m1", "b": "m2"}}  # the required parameters


def request_event(route: door.Route, key: str | None) -> dict[str, Any]:
    return http_event(
        route.method,
        concrete(route.template),
        body=BODIES.get(route.template),
        query=QUERIES.get(route.template),
        api_key=key,
    )


def lambda_call(route: door.Route, key: str | None) -> tuple[int, Any]:
    return invoke(HANDLER[FUNCTION_OF[route.method, route.template]], request_event(route, key))


@pytest.fixture
def keys(db) -> dict[str, str]:
    """One key per scope, plus a revoked admin key and an unknown well-formed key."""
    made = {scope: create_key(db, [scope], scope, FIXED_NOW_MS)[1] for scope in api_keys.SCOPES}
    revoked_record, made["revoked"] = create_key(db, ["admin"], "old", FIXED_NOW_MS)
    assert revoke_key(db, revoked_record.key_id, FIXED_NOW_MS)
    made["unknown"] = "mrk_0123456789ab_" + "A" * 43
    # what the routes with an id read (GET /users/u1, GET /items/i1) is there for a right key
    add_items(db, [{"item_id": "i1"}])
    add_events(
        db, [{"user_id": "u1", "item_id": "i1", "event_type": "view", "ts_ms": FIXED_NOW_MS}]
    )
    return made


def all_apps() -> dict[str, Any]:
    return {
        "ingest": ingest_app,
        "recommend": recommend_app,
        "metrics": metrics_app,
        "local": build_api(),  # build_app() is this app behind the console's static files
    }


def app_routes(app: Any) -> list[Any]:
    """The app's routes, those of included routers too."""
    found = []
    for route in app.routes:
        found += route.original_router.routes if hasattr(route, "original_router") else [route]
    return found


def test_every_route_of_every_app_is_in_the_door_table():
    declared = {(route.method, route.template) for route in ROUTES}
    for name, app in all_apps().items():
        for route in app_routes(app):
            if not isinstance(route, APIRoute):
                assert route.path in PUBLIC_PATHS, (name, route.path)
                continue
            for method in route.methods:
                assert (method, route.path) in declared, f"{name}: {method} {route.path}"


@pytest.mark.parametrize("route", PROTECTED, ids=lambda r: f"{r.method} {r.template}")
def test_lambda_handlers_refuse_missing_unknown_revoked_and_wrong_scope_keys(keys, route):
    for key, status, reason in (
        (None, 401, "missing"),
        ("", 401, "missing"),
        (keys["unknown"], 401, "unknown key"),
        ("not-even-a-key", 401, "unknown key"),
        (keys["revoked"], 401, "revoked"),
        (keys[OTHER_SCOPE[route.scope]], 403, None),
    ):
        answered, body = lambda_call(route, key)
        assert answered == status, (key, body)
        assert set(body) == {"error", "message", "errors"}
        if reason is not None:
            assert body["errors"] == [{"field": "x-api-key", "reason": reason}]
    answered, body = lambda_call(route, keys[route.scope])
    assert answered < 400, body
    answered, body = lambda_call(route, keys["admin"])
    assert answered < 400, body


@pytest.mark.parametrize("name", ["ingest", "recommend", "metrics", "local"])
def test_every_fastapi_app_refuses_without_a_key(keys, name):
    client = TestClient(all_apps()[name])
    for route in PROTECTED:
        if name != "local" and FUNCTION_OF[route.method, route.template] != name:
            continue
        path, body = concrete(route.template), BODIES.get(route.template)
        for headers, status in (
            ({}, 401),
            ({"x-api-key": keys["revoked"]}, 401),
            ({"x-api-key": keys[OTHER_SCOPE[route.scope]]}, 403),
        ):
            response = client.request(route.method, path, json=body, headers=headers)
            assert response.status_code == status, (route, headers, response.text)
        response = client.request(
            route.method,
            path,
            json=body,
            params=QUERIES.get(route.template),
            headers={"x-api-key": keys["admin"]},
        )
        assert response.status_code < 400, response.text


def test_paths_and_methods_outside_the_table_need_an_admin_key(keys):
    for method, path in (("GET", "/nope"), ("TRACE", "/events"), ("PUT", "/users/u1")):
        assert invoke(recommend, http_event(method, path, api_key=None))[0] == 401
        status, _ = invoke(ingest, http_event(method, path, api_key=keys["read"]))
        assert status == 403
        status, body = invoke(ingest, http_event(method, path, api_key=keys["admin"]))
        assert status in (404, 405), body
    assert match_route("GET", "/nope")[0].scope == "admin"


def test_405_answers_carry_allow(keys):
    response = ingest(http_event("TRACE", "/events", api_key=keys["admin"]), FakeLambdaContext())
    assert response["statusCode"] == 405 and response["headers"]["allow"] == "POST"
    client = TestClient(build_app(), headers={"x-api-key": keys["admin"]})
    answer = client.request("TRACE", "/metrics")
    assert answer.status_code == 405 and "GET" in answer.headers["allow"]


def test_health_is_public_and_says_nothing_more_without_a_metrics_key(keys):
    for key in (None, keys["unknown"], keys["revoked"], keys["read"], keys["ingest"]):
        assert invoke(recommend, http_event("GET", "/health", api_key=key)) == (
            200,
            {"status": "ok"},
        )
    for key in (keys["metrics"], keys["admin"]):
        status, body = invoke(recommend, http_event("GET", "/health", api_key=key))
        assert status == 200 and {"model_version", "snapshots"} <= set(body)


def test_the_docs_are_public_and_describe_the_key(keys):
    client = TestClient(build_app())
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["ApiKey"]["name"] == "x-api-key"
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            route, _ = match_route(method.upper(), path)
            if route.scope is None:
                assert {} in operation["security"]
            else:
                assert operation["security"] == [{"ApiKey": []}]
                assert {"401", "403"} <= set(operation["responses"]), (method, path)
    assert client.get("/docs").status_code == 200


def test_a_revoked_key_stops_working_within_the_cache_delay(db, monkeypatch):
    _, key = create_key(db, ["read"], "app", FIXED_NOW_MS)
    event = http_event("GET", "/recommendations/u1", api_key=key)
    assert invoke(recommend, event)[0] == 200
    clock = [1000.0]
    monkeypatch.setattr(api_keys.time, "monotonic", lambda: clock[0])
    key_cache.clear()
    assert invoke(recommend, event)[0] == 200  # cached from now on
    assert revoke_key(db, key, FIXED_NOW_MS)
    clock[0] += 59
    assert invoke(recommend, event)[0] == 200  # trusted for at most the delay (60 s)
    clock[0] += 2
    status, body = invoke(recommend, event)
    assert status == 401 and body["errors"][0]["reason"] == "revoked"


def test_a_new_key_works_at_once_and_use_is_recorded(db):
    _, key = create_key(db, ["read", "metrics"], "dash", FIXED_NOW_MS)

    def last_used() -> int | None:
        (listed,) = [k for k in list_keys(db) if k.name == "dash"]
        return listed.last_used_ms

    assert invoke(metrics, http_event("GET", "/metrics", api_key=key))[0] == 200
    assert last_used() is None  # a read-only request: recorded with the next write
    assert invoke(recommend, http_event("GET", "/recommendations/u1", api_key=key))[0] == 200
    assert last_used() == FIXED_NOW_MS  # in the feed's own transaction


def test_a_flood_of_made_up_keys_pushes_no_real_key_out(db, monkeypatch):
    _, key = create_key(db, ["read"], "app", FIXED_NOW_MS)
    event = http_event("GET", "/recommendations/u1", api_key=key)
    assert invoke(recommend, event)[0] == 200
    reads: list[str] = []
    original = api_keys.KeyCache._load
    monkeypatch.setattr(
        api_keys.KeyCache, "_load", staticmethod(lambda *a: reads.append(a[1]) or original(*a))
    )
    for n in range(api_keys.MAX_CACHED + 10):
        invoke(recommend, http_event("GET", "/health", api_key=f"mrk_{n:012x}_" + "A" * 43))
        invoke(recommend, http_event("GET", "/health", api_key=f"junk-{n}"))
    assert len(reads) == api_keys.MAX_CACHED + 10  # well-formed ones looked up, junk not at all
    reads.clear()
    assert invoke(recommend, event)[0] == 200 and reads == []  # still cached


@pytest.mark.sqlite_only("reads the SQLite file's bytes")
def test_keys_are_stored_hashed_never_in_plain_text(db, tmp_path):
    _, key = create_key(db, ["admin"], "secret-holder", FIXED_NOW_MS)
    assert invoke(recommend, http_event("GET", "/recommendations/u1", api_key=key))[0] == 200
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    stored = b"".join(p.read_bytes() for p in Path(tmp_path).glob("mediarec.sqlite*"))
    secret = key.split("_", 2)[2]
    assert key.encode() not in stored and secret.encode() not in stored
    assert api_keys.hash_key(key).encode() in stored


def test_keys_never_appear_in_answers_or_logs(keys, monkeypatch):
    from functions.recommend import fast_path

    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record) + repr(record.__dict__))

    collector = Collect(logging.DEBUG)
    for name in ("functions", "recommend", "ingest"):  # mediarec's and the services' loggers
        logging.getLogger(name).addHandler(collector)
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")  # would log each event, key and all
    monkeypatch.setattr(fast_path, "recommend", lambda *_: 1 / 0)
    from functions.common.http.lambda_runtime import make_handler

    ingest = make_handler(ingest_app, service="ingest")  # built after the variable is set
    recommend = make_handler(
        "functions.recommend.routes:app",
        service="recommend",
        fast_path=fast_path.answer_feed_request,
    )
    try:
        for key in (keys["unknown"], keys["revoked"], keys["read"]):
            response = ingest(http_event("DELETE", "/users/u1", api_key=key), FakeLambdaContext())
            assert response["statusCode"] in (401, 403)
            assert key not in response["body"]
        failed = recommend(
            http_event("GET", "/recommendations/u1", api_key=keys["read"]), FakeLambdaContext()
        )
    finally:
        for name in ("functions", "recommend", "ingest"):
            logging.getLogger(name).removeHandler(collector)
    assert failed["statusCode"] == 500 and keys["read"] not in failed["body"]
    assert any("unhandled error" in r for r in records)  # the logs were seen
    for key in (keys["unknown"], keys["revoked"], keys["read"]):
        assert not [r for r in records if key.split("_", 2)[2] in r]


# -- end users (the client API's JWT authorizer) ---------------------------------------------


def end_user(method: str, path: str, sub: Any, body: Any = None) -> tuple[int, Any]:
    event = http_event(method, path, body=body, api_key=None, claims={"sub": sub})
    return invoke(HANDLER["ingest" if method == "POST" else "recommend"], event)


def test_an_end_user_reads_only_their_own_feed(db):
    add_items(db, [{"item_id": "i1"}])
    assert end_user("GET", "/recommendations/u1", "u1")[0] == 200
    status, body = end_user("GET", "/recommendations/u2", "u1")
    assert status == 403 and body["errors"][0]["field"] == "user_id"
    assert end_user("GET", "/recommendations/caf%C3%A9", "café")[0] == 200


def test_an_end_user_posts_only_their_own_events():
    own = {**BODIES["/events"], "user_id": "u1"}
    assert end_user("POST", "/events", "u1", own)[0] == 200
    other = {**own, "event_id": "e2", "user_id": "u2"}
    for body in (other, [own, other], {"events": [own, other]}):
        status, answer = end_user("POST", "/events", "u1", body)
        assert status == 403, answer
    stored = get_database().conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert stored == 1


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/items", BODIES["/items"]),
        ("POST", "/users", BODIES["/users"]),
        ("DELETE", "/users/u1", None),
        ("GET", "/metrics", None),
        ("GET", "/nope", None),
    ],
)
def test_an_end_user_token_opens_nothing_else(method, path, body):
    function = {"/metrics": metrics, "/nope": recommend}.get(path, ingest)
    event = http_event(method, path, body=body, api_key=None, claims={"sub": "u1"})
    assert invoke(function, event)[0] == 403


@pytest.mark.parametrize("claims", [{}, {"sub": ""}, {"sub": 7}, {"sub": "a/b"}, {"email": "x"}])
def test_a_token_without_a_usable_subject_is_refused(claims):
    event = http_event("GET", "/recommendations/u1", api_key=None, claims=claims)
    assert invoke(recommend, event)[0] == 403


def test_the_user_claim_is_configurable(monkeypatch):
    monkeypatch.setenv("MEDIAREC_JWT_USER_CLAIM", "custom:user_id")
    from functions.common.settings import get_settings

    get_settings.cache_clear()
    claims = {"sub": "cognito-uuid", "custom:user_id": "u1"}
    event = http_event("GET", "/recommendations/u1", api_key=None, claims=claims)
    assert invoke(recommend, event)[0] == 200


def test_auth_off_is_explicit_and_loud(monkeypatch, caplog):
    monkeypatch.setenv("MEDIAREC_AUTH", "off")
    from functions.common.http.lambda_runtime import make_handler
    from functions.common.settings import get_settings

    get_settings.cache_clear()
    caplog.set_level(logging.WARNING)
    handler = make_handler(ingest_app, service="ingest")
    assert "ACCESS CONTROL IS OFF" in caplog.text
    assert invoke(handler, http_event("DELETE", "/users/u1", api_key=None))[0] == 200


def test_event_files_without_keys_are_refused():
    status, body = invoke(recommend, "recommend_get_no_key")
    assert status == 401 and json.dumps(body).count("mrk_") == 0


def test_keys_can_be_managed_by_invoking_the_metrics_function(db):
    context = FakeLambdaContext()
    made = metrics({"job": "create-key", "scopes": ["read"], "name": "ops"}, context)
    assert made["scopes"] == ("read",) and made["prefix"] == made["key"][:16]
    assert (
        invoke(recommend, http_event("GET", "/recommendations/u1", api_key=made["key"]))[0] == 200
    )
    listed = metrics({"job": "list-keys"}, context)["keys"]
    assert [k["name"] for k in listed if k["prefix"] == made["prefix"]] == ["ops"]
    assert all("key" not in k and "secret_hash" not in k for k in listed)
    assert metrics({"job": "revoke-key", "prefix": made["prefix"]}, context)["revoked"] is True
    with pytest.raises(ValueError, match="scopes"):
        metrics({"job": "create-key", "scopes": "admin"}, context)
    with pytest.raises(ValueError, match="scopes must be"):
        metrics({"job": "create-key", "scopes": ["root"]}, context)


def test_an_http_request_cannot_run_a_job(keys):
    event = http_event("POST", "/metrics", body={"job": "create-key", "scopes": ["admin"]})
    status, body = invoke(metrics, event)
    assert status == 405 and "key" not in body


def test_an_end_user_cannot_take_another_users_event_id():
    """event_id is the idempotency key: a retry by the same user is a duplicate, but an id that
    another user's event holds is refused, so no one can make someone's events vanish as
    "duplicates" by posting their ids first."""
    mine = {**BODIES["/events"], "event_id": "e-1", "user_id": "u2"}
    assert end_user("POST", "/events", "u2", mine)[1]["stored"] == 1
    status, body = end_user("POST", "/events", "u1", {**mine, "user_id": "u1"})
    assert status == 409 and body["error"] == "conflict"
    assert body["results"][0]["status"] == "conflict" and body["rejected"] == 1
    assert body["results"][0]["errors"][0]["field"] == "event_id"
    assert end_user("POST", "/events", "u2", mine)[1]["duplicates"] == 1  # a real retry
