"""The recommend function serving a trained, published bundle, and falling back without 5xx."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from functions.common.caches import reset_all
from functions.common.settings import Settings
from functions.common.store.db import get_database
from functions.common.store.sqlite_engine import SqliteDatabase
from functions.recommend.app import handler
from tests.conftest import FIXED_NOW_MS
from tests.utils.factories import add_api_key
from tests.utils.postgres import use_copy_of
from tests.utils.training import FAST
from training import pipeline
from training.datasets.synthetic.generation import generate_world
from training.datasets.synthetic.world import WorldConfig
from training.datasets.synthetic.write import write_world
from training.export import export_bundle
from training.local.lambda_invoke import EXAMPLE_API_KEY, http_event, invoke
from training.publish import publish


@dataclass
class Served:
    path: Path
    version: str
    model: object  # the PyTorch model the bundle was exported from
    second: str  # another registered, inactive version (same weights)


@pytest.fixture(scope="module")
def served_world(tmp_path_factory) -> Served:
    """A world database with a trained bundle published and active, and a second version."""
    root = tmp_path_factory.mktemp("served")
    database = SqliteDatabase(root / "world.sqlite")
    database.migrate()
    add_api_key(database, EXAMPLE_API_KEY)
    config = WorldConfig(seed=11, users=120, items=300, events=10_000, end_ms=FIXED_NOW_MS)
    write_world(database, generate_world(config))
    prepared = pipeline.prepare(database, Settings.from_env(env_file=None))
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
    second = export_bundle(
        result.model,
        prepared.data,
        root / "bundle-b",
        model_version="m-b",
        metrics={},
        train_config=FAST.to_dict(),
    )
    publish(database, second, str(root / "models"), activate=False, now_ms=FIXED_NOW_MS)
    database.close()
    return Served(root / "world.sqlite", "m-test", result.model, "m-b")


@pytest.fixture
def world(served_world, tmp_path, monkeypatch):
    """This test's own copy of the served world's database: (path, active version)."""
    use_copy_of(served_world.path, tmp_path, monkeypatch)
    return tmp_path / "copy.sqlite", served_world.version


def get(user: str, **query: object) -> tuple[int, dict]:
    return invoke(handler, http_event("GET", f"/recommendations/{user}", query=query))


def test_known_user_gets_the_model_ranking_and_impressions_say_so(world):
    _, version = world
    status, body = get("u00001", k=10, platform="web")
    assert status == 200, body
    assert body["model_version"] == version
    reasons = [i["reason"] for i in body["items"]]
    # 10% of the slots explore: one item drawn from the pool, at a drawn position
    assert len(reasons) == 10 and reasons.count("exploration") == 1
    scores = [i["score"] for i in body["items"] if i["reason"] == "model"]
    assert len(scores) == 9 and scores == sorted(scores, reverse=True)
    db = get_database()
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
    # publish built the model's item features; popularity waits for a refresh or a request
    assert [(s["name"].split(":")[0], s["ready"]) for s in body["snapshots"]] == [
        ("item_features", True)
    ]
    get("u00004")
    status, body = invoke(handler, http_event("GET", "/health"))
    assert all(s["ready"] and s["age_seconds"] == 0 for s in body["snapshots"])


def test_corrupt_bundle_falls_back_without_5xx(world, tmp_path):
    _ = world
    db = get_database()
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


def test_item_features_being_built_elsewhere_means_popularity_not_5xx(world):
    """Another process holds the claim on the model's (dropped) item-feature snapshot: requests
    serve popularity until it is published, then the model again."""
    _, version = world
    db = get_database()
    name = db.conn.execute("SELECT name FROM snapshots WHERE name LIKE 'item_features:%'")
    name = name.fetchone()[0]
    db.conn.execute(
        "UPDATE snapshots SET generation = NULL, claimed_until_ms = ? WHERE name = ?",
        (FIXED_NOW_MS + 60_000, name),
    )
    status, body = get("u00004", k=5)
    assert status == 200 and body["model_version"] == "popularity-v1"
    assert {i["reason"] for i in body["items"]} <= {"popular", "fresh"}
    db.conn.execute("UPDATE snapshots SET claimed_until_ms = NULL WHERE name = ?", (name,))
    status, body = get("u00004", k=5)  # the next request builds it and the model serves
    assert status == 200 and body["model_version"] == version


def test_a_generation_dropped_mid_request_means_popularity_not_5xx(world):
    _ = world
    db = get_database()
    db.conn.execute("DELETE FROM item_features_snapshot")  # two refreshes ran meanwhile
    status, body = get("u00004", k=5)
    assert status == 200 and body["items"] and body["model_version"] == "popularity-v1"


def test_missing_bundle_falls_back_without_5xx(world):
    _ = world
    get_database().conn.execute("UPDATE models SET uri = '/nowhere/at/all' WHERE active = 1")
    status, body = get("u00001", k=3)
    assert status == 200 and {i["reason"] for i in body["items"]} == {"fallback"}


def configure(monkeypatch, **values: object) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"MEDIAREC_{name.upper()}", str(value))
    reset_all()


@pytest.mark.parametrize(("share", "k", "expected"), [(0.0, 10, 0), (0.2, 10, 2), (0.3, 5, 1)])
def test_exploration_share_is_respected(world, monkeypatch, share, k, expected):
    configure(monkeypatch, exploration_share=share)
    status, body = get("u00003", k=k)
    assert status == 200 and len(body["items"]) == k
    explored = [i for i in body["items"] if i["reason"] == "exploration"]
    assert len(explored) == expected
    assert len({i["item_id"] for i in body["items"]}) == k  # the draws never repeat an item
    rows = (
        get_database()
        .conn.execute(
            "SELECT reason, propensity FROM impressions WHERE recommendation_id = ?",
            (body["recommendation_id"],),
        )
        .fetchall()
    )
    pools = {p for r, p in rows if r == "exploration"}
    assert {p for r, p in rows if r != "exploration"} == {1.0}
    # every draw has the same inclusion probability, slots / pool, the pool being at most the
    # model's next 50 ranked items and 50 items it has never seen
    assert len(pools) <= 1 and all(expected / 100 <= p < 1 for p in pools)


def test_exploration_is_replayable_and_its_position_is_drawn(world):
    from functions.common.settings import get_settings
    from functions.recommend.logic import FeedRequest, choose_items

    database, settings = get_database(), get_settings()
    request = FeedRequest("u00005", k=10)

    def feed(seed: str) -> list[tuple[str, str]]:
        chosen = choose_items(request, database, settings, FIXED_NOW_MS, seed=seed)
        return [(c.item_id, c.reason) for c in chosen.items]

    assert feed("r-1") == feed("r-1")  # the recommendation id replays the draw
    feeds = [feed(f"r-{n}") for n in range(60)]
    positions = {[r for _, r in f].index("exploration") for f in feeds}
    drawn = {item for f in feeds for item, reason in f if reason == "exploration"}
    assert len(positions) >= 6  # not one fixed slot
    assert len(drawn) >= 10  # not one fixed item
    plain = settings.model_copy(update={"exploration_share": 0.0})
    reference = [c.item_id for c in choose_items(request, database, plain, FIXED_NOW_MS).items]
    for f in feeds:  # the ranked part is the model's first nine, in order, whatever was drawn
        assert [item for item, reason in f if reason == "model"] == reference[:9]
        assert {item for item, r in f if r == "exploration"}.isdisjoint(reference[:9])
    database.close()


def json_manifest() -> dict:
    import json

    uri = get_database().conn.execute("SELECT uri FROM models WHERE active = 1").fetchone()[0]
    return json.loads((Path(uri) / "manifest.json").read_text())


def test_ab_assignment_is_stable_and_follows_the_share(world, monkeypatch, served_world):
    from functions.common.serving.model_runtime import ab_bucket

    configure(monkeypatch, ab_model_version=served_world.second, ab_share=0.5)
    users = [f"u{n:05d}" for n in range(1, 81)]
    first = {u: get(u, k=3)[1]["model_version"] for u in users}
    again = {u: get(u, k=3)[1]["model_version"] for u in users}
    assert first == again
    for user, version in first.items():
        assert version == ("m-b" if ab_bucket(user) < 0.5 else "m-test")
    share = sum(v == "m-b" for v in first.values()) / len(users)
    assert 0.3 < share < 0.7

    logged = dict(
        get_database()
        .conn.execute("SELECT user_id, MIN(model_version) FROM impressions GROUP BY user_id")
        .fetchall()
    )
    assert logged == first  # every impression carries the version that served it
    health = invoke(handler, http_event("GET", "/health"))[1]
    assert health["ab"]["state"] == "active" and health["ab"]["share"] == 0.5


def test_unknown_user_with_a_session_gets_items_that_follow_it(world):
    from tests.utils.factories import add_events

    _, version = world
    add_events(
        get_database(),
        [
            {
                "user_id": "newbie",
                "item_id": f"i{n:05d}",
                "event_type": "view",
                "ts_ms": FIXED_NOW_MS - 60_000 * n,
            }
            for n in (3, 5, 8)
        ],
    )
    status, body = get("newbie", k=10)
    assert status == 200 and body["model_version"] == version
    reasons = [i["reason"] for i in body["items"]]
    assert reasons.count("model") == 5 and "popular" in reasons
    assert not {"i00003", "i00005", "i00008"} & {i["item_id"] for i in body["items"]}


def test_served_score_equals_the_offline_model_score(world, served_world):
    """Serving (ONNX, SQL view over events, history query) against training code (PyTorch,
    SQL over a filled training source, training-side history) on the same data and instant."""
    import numpy as np
    import torch

    from functions.common.serving import features as F
    from training.data import _fill_training_source, last_items
    from training.split import Interactions, leave_last_out
    from training.store_copy import local_reader

    _ = world
    status, body = get("u00004", k=10)
    assert status == 200
    served = {i["item_id"]: i["score"] for i in body["items"] if i["reason"] == "model"}
    assert served
    manifest = json_manifest()
    spec = F.FeatureSpec.from_dict(manifest["features"])
    database = get_database()
    rows = database.conn.execute(
        "SELECT user_id, item_id, MIN(ts_ms) FROM events WHERE event_type IN "
        "('view', 'click', 'like', 'share') GROUP BY user_id, item_id"
    ).fetchall()
    everything = Interactions.from_pairs(
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
    )
    split = leave_last_out(everything)
    split.train = np.arange(len(everything))  # every interaction is history, as at serving
    with local_reader(database) as local:  # training's side: a local SQLite copy on PostgreSQL
        _fill_training_source(local.conn, split, FIXED_NOW_MS)
        user_raw = F.raw_user_rows(local.conn, spec, FIXED_NOW_MS)
        item_raw = F.raw_item_rows(local.conn, spec, FIXED_NOW_MS)
    model = served_world.model
    item_index = {i: n for n, i in enumerate(manifest["item_ids"])}
    user = manifest["user_ids"].index("u00004")
    ids = list(served)
    history_row = last_items(split, model.config.history)[everything.user_ids.index("u00004")]
    to_model = {n: item_index.get(everything.item_ids[n], -1) for n in range(everything.n_items)}
    history = np.array(
        [[to_model[h] if h < everything.n_items else len(item_index) for h in history_row]]
        * len(ids)
    )
    history[history < 0] = len(item_index)
    with torch.no_grad():
        offline = model(
            torch.full((len(ids),), user),
            torch.tensor([item_index[i] for i in ids]),
            torch.from_numpy(history),
            torch.from_numpy(F.user_matrix(user_raw, ["u00004"] * len(ids), spec)),
            torch.from_numpy(F.item_matrix(item_raw, ids, spec)),
        ).numpy()
    assert np.allclose(offline, [served[i] for i in ids], atol=2e-5)


def wait_until(condition, seconds: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.01)


def test_hot_swap_under_concurrent_requests(world, monkeypatch, served_world):
    import threading

    from functions.common.settings import get_settings
    from functions.common.store.db import get_database
    from functions.recommend.logic import FeedRequest, recommend

    configure(monkeypatch, model_check_seconds=0)
    db, settings = get_database(), get_settings()
    versions: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def client(n: int) -> None:
        while not stop.is_set():
            try:
                feed = recommend(FeedRequest(f"u{n:05d}", k=5), db, settings, FIXED_NOW_MS)
                versions.append(feed.model_version)
                assert len(feed.items) == 5
            except BaseException as error:  # collected, asserted below
                errors.append(error)

    threads = [threading.Thread(target=client, args=(n,)) for n in (1, 2, 3)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(versions) >= 10 or bool(errors))
    db.write(
        lambda c: (
            c.execute("UPDATE models SET active = 0"),
            c.execute("UPDATE models SET active = 1 WHERE version = 'm-b'"),
        )
    )
    swapped_at = len(versions)
    wait_until(lambda: len(versions) >= swapped_at + 20 or bool(errors))
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors
    assert set(versions) <= {"m-test", "m-b"} and versions[-1] == "m-b"


def test_a_feed_follows_an_event_posted_a_moment_ago(world):
    """The encoder reads the user's latest events per request: one click through the ingest
    function, a second before the next request, changes what the model serves."""
    from functions.ingest.app import handler as ingest

    status, before = get("u00003", k=10)
    assert status == 200
    ranked = [(i["item_id"], i["score"]) for i in before["items"] if i["reason"] == "model"]
    shown = {i["item_id"] for i in before["items"]}
    _ = world
    seen = {r[0] for r in get_database().conn.execute("SELECT item_id FROM events")}
    clicked = next(f"i{n:05d}" for n in range(1, 300) if f"i{n:05d}" not in shown | {"i00000"})
    assert clicked in seen  # an item the model knows
    event = {
        "event_id": "just-now",
        "user_id": "u00003",
        "item_id": clicked,
        "event_type": "click",
        "platform": "web",
        "ts": (FIXED_NOW_MS - 1_000) / 1000,
    }
    status, body = invoke(ingest, http_event("POST", "/events", body=event))
    assert status in (200, 201, 207), body
    status, after = get("u00003", k=10)
    assert status == 200
    reranked = [(i["item_id"], i["score"]) for i in after["items"] if i["reason"] == "model"]
    assert reranked and reranked != ranked
    assert clicked not in {i["item_id"] for i in after["items"]}
