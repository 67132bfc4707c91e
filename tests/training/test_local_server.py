"""`mediarec serve`'s app: all routes in one process, Swagger UI, and the seed command."""

from __future__ import annotations

from fastapi.testclient import TestClient

from functions.common.store.db import get_database
from tests.conftest import FIXED_NOW_MS
from tests.utils.factories import add_api_key
from training.cli import main
from training.local.lambda_invoke import EXAMPLE_API_KEY
from training.local.server import build_app


def test_one_process_serves_every_route_and_the_docs():
    client = TestClient(build_app(), headers={"x-api-key": EXAMPLE_API_KEY})
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/events",
        "/items",
        "/users",
        "/users/{user_id}",
        "/recommendations/{user_id}",
        "/metrics",
        "/health",
    } <= set(paths)
    assert client.post("/items", json={"item_id": "i1", "kind": "video"}).status_code == 200
    event = {
        "event_id": "e1",
        "user_id": "u2",
        "item_id": "i1",
        "event_type": "click",
        "platform": "web",
    }
    assert client.post("/events", json=event).status_code == 200
    feed = client.get("/recommendations/u1", params={"k": 5, "platform": "web"}).json()
    assert [i["item_id"] for i in feed["items"]] == ["i1"]
    assert client.get("/metrics").json()["pac"]["denominator"] == 1
    too_big = client.post(
        "/events",
        content=b"[" + b" " * 1_100_000 + b"]",
        headers={"content-type": "application/json"},
    )
    assert too_big.status_code == 413


def test_seed_then_serve_recommends_seeded_users(tmp_path, capsys):
    db = tmp_path / "seeded.sqlite"
    assert (
        main(
            [
                "seed",
                "--db",
                str(db),
                "--users",
                "50",
                "--items",
                "40",
                "--events",
                "3000",
                "--end-ms",
                str(FIXED_NOW_MS),
                "--quiet",
            ]
        )
        == 0
    )
    assert "3000 events" in capsys.readouterr().out
    assert main(["seed", "--db", str(db), "--if-empty", "--quiet"]) == 0
    assert "not seeding" in capsys.readouterr().out
    assert main(["seed", "--db", str(db), "--quiet"]) == 2  # refuses without --reset
    add_api_key(get_database(), EXAMPLE_API_KEY)  # the --db switch opened another file
    client = TestClient(build_app(), headers={"x-api-key": EXAMPLE_API_KEY})
    feed = client.get("/recommendations/u0001", params={"k": 10}).json()
    assert len(feed["items"]) == 10 and feed["items"][0]["reason"] == "popular"
