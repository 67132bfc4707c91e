"""The recommend function: popularity baseline, filters, and impressions logged exactly."""

from __future__ import annotations

import pytest

from functions.common.clock import HOUR_MS
from functions.recommend.app import handler
from tests.conftest import FIXED_NOW_MS
from tests.utils.factories import add_events, add_items
from training.local.lambda_invoke import http_event, invoke

NOW = FIXED_NOW_MS


def get(user: str, **query: object) -> tuple[int, dict]:
    return invoke(handler, http_event("GET", f"/recommendations/{user}", query=query))


@pytest.fixture
def catalog(db):
    """Five videos and five articles; popularity i1 > i2 > ... by recent clicks."""
    add_items(
        db,
        [
            {
                "item_id": f"i{n}",
                "kind": "video" if n <= 5 else "article",
                "categories": ["sports"] if n % 2 else ["news"],
                "published_ms": NOW - n * HOUR_MS,
            }
            for n in range(1, 11)
        ],
    )
    rows = []
    for n in range(1, 9):
        for j in range(10 - n):
            rows.append(
                {
                    "user_id": f"crowd{j}",
                    "item_id": f"i{n}",
                    "event_type": "click",
                    "ts_ms": NOW - HOUR_MS,
                    "platform": "web",
                }
            )
    add_events(db, rows)
    return db


def test_popular_items_first_then_fresh(catalog):
    status, body = get("newcomer", k=10, platform="web")
    assert status == 200
    ids = [i["item_id"] for i in body["items"]]
    assert ids[:8] == [f"i{n}" for n in range(1, 9)]
    assert ids[8:] == ["i9", "i10"]  # no engagement: newest first, marked fresh
    assert [i["reason"] for i in body["items"]] == ["popular"] * 8 + ["fresh"] * 2
    assert [i["position"] for i in body["items"]] == list(range(1, 11))
    scores = [i["score"] for i in body["items"][:8]]
    assert scores == sorted(scores, reverse=True)
    assert body["model_version"] == "popularity-v1" and body["platform"] == "web"


def test_old_engagement_decays_below_recent(db):
    add_items(db, [{"item_id": "old"}, {"item_id": "new"}])
    add_events(
        db,
        [
            {
                "user_id": f"u{j}",
                "item_id": "old",
                "event_type": "like",
                "ts_ms": NOW - 10 * 24 * HOUR_MS,
            }
            for j in range(5)
        ]
        + [
            {"user_id": f"u{j}", "item_id": "new", "event_type": "like", "ts_ms": NOW - HOUR_MS}
            for j in range(2)
        ]
        + [
            {
                "user_id": f"u{j}",
                "item_id": "old",
                "event_type": "click",
                "ts_ms": NOW - 20 * 24 * HOUR_MS,
            }
            for j in range(50)
        ],
    )  # outside the window
    _, body = get("x", k=2)
    assert [i["item_id"] for i in body["items"]] == ["new", "old"]


def test_platform_popularity_leads_on_its_platform(db):
    add_items(db, [{"item_id": "webhit"}, {"item_id": "iostop"}])
    add_events(
        db,
        [
            {
                "user_id": f"u{j}",
                "item_id": "webhit",
                "event_type": "click",
                "ts_ms": NOW - HOUR_MS,
                "platform": "web",
            }
            for j in range(10)
        ]
        + [
            {
                "user_id": f"u{j}",
                "item_id": "iostop",
                "event_type": "click",
                "ts_ms": NOW - HOUR_MS,
                "platform": "ios",
            }
            for j in range(3)
        ],
    )
    assert [i["item_id"] for i in get("x", platform="ios")[1]["items"]] == ["iostop", "webhit"]
    assert [i["item_id"] for i in get("x", platform="web")[1]["items"]] == ["webhit", "iostop"]
    assert [i["item_id"] for i in get("x", platform="android")[1]["items"]] == ["webhit", "iostop"]


def test_seen_items_excluded_unless_asked(catalog):
    add_events(
        catalog,
        [
            {"user_id": "fan", "item_id": "i1", "event_type": "view", "ts_ms": NOW},
            {"user_id": "fan", "item_id": "i2", "event_type": "skip", "ts_ms": NOW},
        ],
    )
    ids = [i["item_id"] for i in get("fan", k=10)[1]["items"]]
    assert "i1" not in ids and "i2" not in ids and len(ids) == 8
    ids = [i["item_id"] for i in get("fan", k=3, exclude_seen="false")[1]["items"]]
    assert ids == ["i1", "i2", "i3"]


def test_hidden_items_never_returned_even_when_in_the_snapshot(catalog, monkeypatch):
    monkeypatch.setenv("MEDIAREC_SNAPSHOT_MAX_AGE_SECONDS", "0")  # never rebuilt by requests
    from functions.common.settings import get_settings

    get_settings.cache_clear()
    assert get("a", k=1)[1]["items"][0]["item_id"] == "i1"  # the snapshot now ranks i1 first
    add_items(catalog, [{"item_id": "i1", "kind": "video", "hidden": 1}])
    ids = [i["item_id"] for i in get("a", k=10)[1]["items"]]
    assert "i1" not in ids and len(ids) == 9


def test_kind_and_category_filters(catalog):
    items = get("x", k=10, kind="video", category="sports")[1]["items"]
    assert [i["item_id"] for i in items] == ["i1", "i3", "i5"]
    assert {i["kind"] for i in items} == {"video"}
    items = get("x", k=10, kind="article")[1]["items"]
    assert [i["item_id"] for i in items] == ["i6", "i7", "i8", "i9", "i10"]
    assert get("x", category="weather")[1]["items"] == []


def test_impressions_match_the_response_exactly(catalog):
    status, body = invoke(handler, "recommend_get")
    assert status == 200 and len(body["items"]) == 5
    rows = catalog.conn.execute(
        "SELECT * FROM impressions WHERE recommendation_id = ? ORDER BY position",
        (body["recommendation_id"],),
    ).fetchall()
    assert [(r["item_id"], r["position"], r["score"], r["reason"]) for r in rows] == [
        (i["item_id"], i["position"], i["score"], i["reason"]) for i in body["items"]
    ]
    assert {(r["user_id"], r["model_version"], r["platform"], r["served_ms"]) for r in rows} == {
        ("u00001", "popularity-v1", "web", NOW)
    }
    feed = catalog.conn.execute("SELECT * FROM recommendations").fetchone()
    assert feed["recommendation_id"] == body["recommendation_id"] and feed["k"] == 5


def test_each_request_gets_its_own_recommendation_id(catalog):
    first, second = get("u", k=2)[1], get("u", k=2)[1]
    assert first["recommendation_id"] != second["recommendation_id"]


def test_empty_catalog_gives_empty_feed_and_logs_nothing(db):
    status, body = get("anyone")
    assert status == 200 and body["items"] == []
    assert db.conn.execute("SELECT COUNT(*) FROM impressions").fetchone()[0] == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"k": 0}, "k"),
        ({"k": 101}, "k"),
        ({"k": "ten"}, "k"),
        ({"platform": "tv"}, "platform"),
        ({"kind": "podcast"}, "kind"),
        ({"exclude_seen": "perhaps"}, "exclude_seen"),
    ],
)
def test_bad_queries_get_422_naming_the_field(query, field):
    status, body = get("u1", **query)
    assert status == 422 and body["errors"][0]["field"] == field


def test_absurd_user_id_is_422():
    status, body = get("u" * 500)
    assert status == 422 and body["errors"][0]["field"] == "user_id"


def test_event_files(catalog):
    assert invoke(handler, "recommend_get_bad_k")[0] == 422
    status, body = invoke(handler, "recommend_get_filtered")
    assert status == 200 and body["platform"] == "android"
    status, body = invoke(handler, "recommend_health")
    assert status == 200 and body["status"] == "ok"
