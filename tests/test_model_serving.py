"""The recommend function serving a trained, published bundle, and falling back without 5xx."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from functions.common.db import Database
from functions.common.resources import reset_resources
from functions.common.settings import Settings
from functions.recommend.app import handler
from tests.conftest import FIXED_NOW_MS
from training import pipeline
from training.export import export_bundle
from training.lambda_local import http_event, invoke
from training.publish import publish
from training.synthetic import WorldConfig, generate_world, write_world
from training.train import TrainConfig

FAST = TrainConfig(
    seed=3, epochs=3, patience=2, batch_size=512, dot_dim=16, mlp_dim=16, hidden=(32, 16)
)


@pytest.fixture(scope="module")
def served_world(tmp_path_factory) -> tuple[Path, str]:
    """A world database with a trained bundle published and active; returns (db file, version)."""
    root = tmp_path_factory.mktemp("served")
    database = Database(root / "world.sqlite")
    database.migrate()
    config = WorldConfig(seed=11, users=120, items=300, events=10_000, end_ms=FIXED_NOW_MS)
    write_world(database, generate_world(config))
    prepared = pipeline.prepare(database, Settings(_env_file=None))
    result = pipeline.train(prepared, FAST, progress=False)
    bundle = export_bundle(
        result.model,
        prepared.data,
        root / "bundle",
        model_version="m-test",
        metrics={},
        train_config=FAST.to_dict(),
    )
    publish(database, bundle, str(root / "models"), activate=True, now_ms=FIXED_NOW_MS)
    database.close()
    return root / "world.sqlite", "m-test"


@pytest.fixture
def world(served_world, tmp_path, monkeypatch):
    """This test's own copy of the served world's database."""
    source, version = served_world
    target = tmp_path / "copy.sqlite"
    shutil.copy(source, target)
    monkeypatch.setenv("MEDIAREC_DB_PATH", str(target))
    reset_resources()
    return target, version


def get(user: str, **query: object) -> tuple[int, dict]:
    return invoke(handler, http_event("GET", f"/recommendations/{user}", query=query))


def test_known_user_gets_the_model_ranking_and_impressions_say_so(world):
    path, version = world
    status, body = get("u00001", k=10, platform="web")
    assert status == 200, body
    assert body["model_version"] == version
    assert len(body["items"]) == 10 and {i["reason"] for i in body["items"]} == {"model"}
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)
    db = Database(path)
    logged = db.conn.execute("SELECT DISTINCT model_version FROM impressions").fetchall()
    assert [r[0] for r in logged] == [version]
    seen = {r[0] for r in db.conn.execute("SELECT item_id FROM events WHERE user_id = 'u00001'")}
    assert not seen & {i["item_id"] for i in body["items"]}


def test_filters_hold_under_the_model(world):
    status, body = get("u00002", k=5, kind="video")
    assert status == 200 and body["items"] and {i["kind"] for i in body["items"]} == {"video"}


def test_unknown_user_gets_popular_items(world):
    status, body = get("someone-new", k=5)
    assert status == 200 and body["model_version"] == "popularity-v1"
    assert {i["reason"] for i in body["items"]} == {"popular"}


def test_health_reports_the_active_model(world):
    status, body = invoke(handler, http_event("GET", "/health"))
    assert status == 200 and body["model_state"] == "active" and body["model_version"] == "m-test"


def test_corrupt_bundle_falls_back_without_5xx(world, tmp_path):
    path, _ = world
    db = Database(path)
    uri = db.conn.execute("SELECT uri FROM models WHERE active = 1").fetchone()[0]
    corrupt = tmp_path / "corrupt"
    shutil.copytree(uri, corrupt)
    (corrupt / "model.onnx").write_bytes(b"not an onnx model")
    db.conn.execute("UPDATE models SET uri = ? WHERE active = 1", (str(corrupt),))
    status, body = get("u00001", k=5)
    assert status == 200 and body["items"]
    assert {i["reason"] for i in body["items"]} == {"fallback"}
    assert body["model_version"] == "popularity-v1"
    health = invoke(handler, http_event("GET", "/health"))[1]
    assert health["model_state"] == "error" and "checksum" in health["model_error"]


def test_missing_bundle_falls_back_without_5xx(world):
    path, _ = world
    Database(path).conn.execute("UPDATE models SET uri = '/nowhere/at/all' WHERE active = 1")
    status, body = get("u00001", k=3)
    assert status == 200 and {i["reason"] for i in body["items"]} == {"fallback"}
