"""Precision at Curation on a hand-computed fixture, the metrics API and the scheduled run."""

from __future__ import annotations

import json

import pytest

from functions.common.clock import DAY_MS, HOUR_MS, MINUTE_MS, to_iso
from functions.metrics.app import handler
from functions.metrics.logic import Window, scheduled_windows, window_metrics
from functions.metrics.maths import proportion, wilson_interval
from tests.conftest import FIXED_NOW_MS
from tests.utils.factories import add_events, add_impressions, add_items, count
from training.local.lambda_invoke import FakeLambdaContext, http_event, invoke, load_event

T0 = FIXED_NOW_MS - 30 * HOUR_MS


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        (3, 7, 0.1582, 0.7495),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (50, 100, 0.4038, 0.5962),
    ],
)
def test_wilson_interval_matches_hand_values(successes, trials, low, high):
    got = wilson_interval(successes, trials)
    assert got == pytest.approx((low, high), abs=1e-4)


def test_proportion_without_trials_has_no_value():
    assert proportion(0, 0).as_dict() == {
        "value": None,
        "numerator": 0,
        "denominator": 0,
        "ci95": None,
    }


@pytest.fixture
def served(db):
    """Three feeds and the engagements that followed; expected counts are worked out below."""
    add_items(
        db,
        [{"item_id": f"x{n}"} for n in range(6)]
        + [{"item_id": i} for i in ("a1", "a2", "a3", "a4", "b1", "b2")]
        + [{"item_id": "gone", "hidden": 1}],
    )
    add_impressions(db, "r1", "A", ["a1", "a2", "a3"], T0)  # web, m1
    add_impressions(db, "r2", "A", ["a1", "a4"], T0 + HOUR_MS)  # web, m1
    add_impressions(db, "r3", "B", ["b1", "b2"], T0, platform="ios", model_version="m2")
    add_events(
        db,
        [
            # no recommendation_id: credited to the most recent impression (r2), not r1
            {"user_id": "A", "item_id": "a1", "event_type": "click", "ts_ms": T0 + 2 * HOUR_MS},
            # carries r1: credited to r1/a2
            {
                "user_id": "A",
                "item_id": "a2",
                "event_type": "like",
                "ts_ms": T0 + 30 * MINUTE_MS,
                "recommendation_id": "r1",
            },
            # 25 h after the impression: outside the 24 h attribution window
            {"user_id": "A", "item_id": "a3", "event_type": "like", "ts_ms": T0 + 25 * HOUR_MS},
            # carries r1, but r1 never showed a4: no credit to r2/a4 either
            {
                "user_id": "A",
                "item_id": "a4",
                "event_type": "view",
                "ts_ms": T0 + 2 * HOUR_MS,
                "recommendation_id": "r1",
            },
            # skip is not a positive engagement
            {"user_id": "B", "item_id": "b1", "event_type": "skip", "ts_ms": T0 + HOUR_MS},
            # one minute before the impression (client clock behind): within the 5 min skew
            {"user_id": "B", "item_id": "b2", "event_type": "click", "ts_ms": T0 - MINUTE_MS},
            # another user's engagement never counts
            {"user_id": "C", "item_id": "a1", "event_type": "like", "ts_ms": T0 + HOUR_MS},
            # a second positive event on an already-credited impression does not double count
            {
                "user_id": "A",
                "item_id": "a2",
                "event_type": "share",
                "ts_ms": T0 + 40 * MINUTE_MS,
                "recommendation_id": "r1",
            },
        ],
    )
    return db


def report(db, settings, start=T0 - HOUR_MS, end=T0 + 2 * HOUR_MS, k=10, platform=None):
    return db.read(lambda c: window_metrics(c, Window(start, end), k, platform, settings))


def test_pac_on_hand_computed_fixture(served, settings):
    got = report(served, settings)
    # 7 impressions; hits r2/a1, r1/a2, r3/b2
    assert got["pac"]["numerator"] == 3 and got["pac"]["denominator"] == 7
    assert got["pac"]["value"] == pytest.approx(3 / 7)
    assert got["pac"]["ci95"] == pytest.approx([0.1582, 0.7495], abs=1e-4)
    # clicks only: r2/a1 and r3/b2
    assert (got["ctr"]["numerator"], got["ctr"]["denominator"]) == (2, 7)
    # a1..a4, b1, b2 shown out of 12 visible catalog items
    assert got["coverage"] == {"value": 0.5, "items_shown": 6, "catalog_items": 12}
    slices = {(b["platform"], b["model_version"]): b["pac"] for b in got["breakdown"]}
    assert {key: (v["numerator"], v["denominator"]) for key, v in slices.items()} == {
        ("web", "m1"): (2, 5),
        ("ios", "m2"): (1, 2),
    }


def test_pac_respects_k_platform_and_window(served, settings):
    top1 = report(served, settings, k=1)["pac"]  # r1/a1, r2/a1, r3/b1
    assert (top1["numerator"], top1["denominator"]) == (1, 3)
    ios = report(served, settings, platform="ios")["pac"]
    assert (ios["numerator"], ios["denominator"]) == (1, 2)
    later = report(served, settings, start=T0 + 30 * MINUTE_MS)["pac"]  # r2 only
    assert (later["numerator"], later["denominator"]) == (1, 2)
    empty = report(served, settings, start=T0 + 3 * HOUR_MS, end=T0 + 4 * HOUR_MS)["pac"]
    assert empty["value"] is None and empty["denominator"] == 0


def test_positive_types_are_configurable(served, monkeypatch):
    monkeypatch.setenv("MEDIAREC_POSITIVE_EVENT_TYPES", "like,share")
    from functions.common.settings import get_settings

    get_settings.cache_clear()
    got = report(served, get_settings())["pac"]
    assert (got["numerator"], got["denominator"]) == (1, 7)  # only r1/a2


def test_get_metrics_endpoint(served):
    query = {"from": to_iso(T0 - HOUR_MS), "to": to_iso(T0 + 2 * HOUR_MS), "k": 10}
    status, body = invoke(handler, http_event("GET", "/metrics", query=query))
    assert status == 200
    assert (body["pac"]["numerator"], body["pac"]["denominator"]) == (3, 7)
    assert body["final"] is True  # ended 28 h ago: the 24 h attribution window has closed
    status, body = invoke(
        handler,
        http_event(
            "GET",
            "/metrics",
            query={"from": str((T0 - HOUR_MS) // 1000), "to": str((T0 + 2 * HOUR_MS) // 1000)},
        ),
    )
    assert status == 200 and body["pac"]["denominator"] == 7


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"k": 0}, "k"),
        ({"from": "last tuesday"}, "from"),
        ({"to": "2026-13-40"}, "to"),
        ({"platform": "tv"}, "platform"),
    ],
)
def test_bad_metric_queries_are_422(query, field):
    status, body = invoke(handler, http_event("GET", "/metrics", query=query))
    assert status == 422 and body["errors"][0]["field"] == field


def test_any_two_times_make_a_window():
    """OpenAPI cannot relate two parameters, so no pair of valid times is refused: `from` at or
    after `to` is an empty window, a window over 366 days starts 366 days before `to`."""
    inverted = {"from": "2026-11-22T00:00:00Z", "to": "2026-11-21T00:00:00Z"}
    status, body = invoke(handler, http_event("GET", "/metrics", query=inverted))
    assert status == 200 and body["from"] == body["to"] == "2026-11-21T00:00:00.000Z"
    assert body["pac"]["denominator"] == 0
    status, body = invoke(handler, http_event("GET", "/metrics", query={"from": "1970-01-01"}))
    assert status == 200 and body["from"].startswith("2025-11-21T12:00:00")
    status, body = invoke(handler, http_event("GET", "/metrics", query={"to": "1e9"}))
    assert status == 200 and body["to"] == "2001-09-09T01:46:40.000Z"


def test_metrics_event_files(served):
    assert invoke(handler, "metrics_get")[0] == 200
    assert invoke(handler, "metrics_get_platform")[0] == 200


def test_scheduled_windows_cover_latest_and_finalised():
    windows = scheduled_windows(FIXED_NOW_MS + 5 * MINUTE_MS, 24 * HOUR_MS)
    got = {(w.granularity, to_iso(w.start_ms), w.final) for w in windows}
    assert got == {
        ("hour", "2026-11-22T11:00:00.000Z", False),
        ("hour", "2026-11-21T11:00:00.000Z", True),
        ("day", "2026-11-21T00:00:00.000Z", False),
        ("day", "2026-11-20T00:00:00.000Z", True),
    }


def test_scheduled_run_stores_idempotently_and_emits_emf(served, capsys):
    # T0 is 2026-11-21T06:00, inside yesterday's (provisional) day window
    response = handler(_scheduled_event(), _context())
    assert response["stored"] > 0 and response["emitted"] > 0
    rows_first = count(served, "metrics")
    handler(_scheduled_event(), _context())
    assert count(served, "metrics") == rows_first  # upserted, not duplicated
    day = served.conn.execute(
        "SELECT * FROM metrics WHERE name = 'pac' AND granularity = 'day' AND platform = 'all'"
        " AND window_start_ms = :s",
        {"s": FIXED_NOW_MS - 12 * HOUR_MS - DAY_MS},
    ).fetchone()
    assert (day["numerator"], day["denominator"], day["final"]) == (3, 7, 0)
    emf = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if line.startswith('{"_aws"')
    ]
    names = {
        m["Name"]
        for record in emf
        for d in record["_aws"]["CloudWatchMetrics"]
        for m in d["Metrics"]
    }
    assert {"PrecisionAtCuration", "ClickThroughRate", "CatalogCoverage"} <= names
    assert any(r.get("PrecisionAtCuration") == [pytest.approx(100 * 3 / 7, abs=1e-3)] for r in emf)


def _scheduled_event():
    return load_event("metrics_scheduled")


def _context():
    return FakeLambdaContext()
