"""The feed metrics on a hand-computed fixture (PaC, CTR, by position, online AUC, coverage,
novelty, diversity, breakdowns), the metrics API, and the scheduled run (idempotent, catching up
after a gap)."""

from __future__ import annotations

import json

import pytest

from functions.common.clock import DAY_MS, HOUR_MS, MINUTE_MS, to_iso
from functions.metrics.app import handler
from functions.metrics.logic import Window, window_metrics
from functions.metrics.maths import proportion, wilson_interval
from functions.metrics.schedule import run_scheduled, scheduled_windows
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
        + [
            {"item_id": "a1", "categories": ["news"]},
            {"item_id": "a2", "categories": ["news", "sport"]},
            {"item_id": "a3", "categories": ["sport"]},
            {"item_id": "a4"},
            {"item_id": "b1", "categories": ["film"]},
            {"item_id": "b2", "categories": ["film"]},
        ]
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


def test_pac_by_position_and_per_arm(served, settings):
    got = report(served, settings)
    by_position = {
        p["position"]: (p["pac"]["numerator"], p["pac"]["denominator"]) for p in got["by_position"]
    }
    # position 1: r1/a1, r2/a1 (hit), r3/b1; 2: r1/a2 (hit), r2/a4, r3/b2 (hit); 3: r1/a3
    assert by_position == {1: (1, 3), 2: (2, 3), 3: (0, 1)}
    assert {b["arm"] for b in got["breakdown"]} == {None}  # served while no A/B test ran


def test_online_auc_novelty_and_diversity_on_hand_values(served, settings):
    got = report(served, settings)
    # scores are 1/position. r1: a2 (0.5) engaged against a1 (1) and a3 (1/3): AUC 1/2;
    # r2: a1 (1) engaged against a4 (0.5): 1; r3: b2 (0.5) engaged against b1 (1): 0
    assert got["online_auc"] == {"value": pytest.approx(0.5), "count": 3}
    slices = {(b["platform"], b["model_version"]): b for b in got["breakdown"]}
    assert slices[("web", "m1")]["online_auc"]["value"] == pytest.approx(0.75)
    assert slices[("ios", "m2")]["online_auc"]["value"] == pytest.approx(0.0)
    # popularity: positive events received in the 7 days before the end of the window's day
    # (2026-11-22T00:00): a1 twice (A's click, C's like), a2 twice (like, share), a4 and b2
    # once; a3's like comes the day after and b1's skip is not positive. Ranks a1, a2 1; a4, b2
    # 3; every other item 5. Impressions: 1 + 1 + 5 | 1 + 3 | 5 + 3 = 19 over 7
    assert got["novelty"]["value"] == pytest.approx(19 / 7)
    # category labels per feed: r1 news, news, sport, sport (2 distinct of 4); r2 news (a4 has
    # none: 1 of 1); r3 film, film (1 of 2)
    assert got["diversity"] == {"value": pytest.approx((0.5 + 1 + 0.5) / 3), "count": 3}


def test_a_late_duplicate_or_unattributed_event_changes_nothing_it_should_not(served, settings):
    before = report(served, settings)["pac"]
    add_events(
        served,
        [  # the same hit again with another event id, and a view 23 h later: still one hit
            {
                "user_id": "A",
                "item_id": "a2",
                "event_type": "like",
                "ts_ms": T0 + 31 * MINUTE_MS,
                "recommendation_id": "r1",
            },
            {
                "user_id": "A",
                "item_id": "a2",
                "event_type": "view",
                "ts_ms": T0 + 23 * HOUR_MS,
                "recommendation_id": "r1",
            },
            # late but inside the attribution window: r2/a4 becomes a hit
            {"user_id": "A", "item_id": "a4", "event_type": "view", "ts_ms": T0 + 20 * HOUR_MS},
        ],
    )
    after = report(served, settings)["pac"]
    assert (after["numerator"], after["denominator"]) == (before["numerator"] + 1, 7)


def test_scheduled_windows_resume_after_the_last_final_one():
    now = FIXED_NOW_MS + 5 * MINUTE_MS  # 2026-11-22T12:05
    fresh = scheduled_windows(now, 24 * HOUR_MS, {}, first_ms=now - 3 * HOUR_MS)
    assert [(w.granularity, to_iso(w.start_ms), w.final) for w in fresh] == [
        ("hour", "2026-11-22T09:00:00.000Z", False),
        ("hour", "2026-11-22T10:00:00.000Z", False),
        ("hour", "2026-11-22T11:00:00.000Z", False),
    ]  # the day holding the first impression is not complete yet: no day window
    gap = scheduled_windows(
        now, 24 * HOUR_MS, {"hour": now - 100 * HOUR_MS, "day": None}, first_ms=None
    )
    hours = [w for w in gap if w.granularity == "hour"]
    assert len(hours) == 72 and hours[0].start_ms == floor_hour(now - 100 * HOUR_MS)
    assert all(w.final for w in hours)  # the oldest 72 of ~100; the rest wait for the next run
    assert scheduled_windows(now, 24 * HOUR_MS, {}, first_ms=None) == []


def floor_hour(ms):
    return ms - ms % HOUR_MS


def test_the_scheduled_run_catches_up_after_a_gap_and_is_idempotent(served, settings):
    now = T0 + 5 * DAY_MS  # five days after the fixture's impressions: no run since
    small = {"hour": 48, "day": 2}
    first = run_scheduled(served, now, settings, max_windows=small)
    days = sorted({r["window_start_ms"] for r in first if r["granularity"] == "day"})
    assert len(days) == 2 and days[0] == T0 - T0 % DAY_MS  # the fixture's day first
    second = run_scheduled(served, now, settings, max_windows=small)
    later = sorted({r["window_start_ms"] for r in second if r["granularity"] == "day"})
    assert later[0] == days[-1] + DAY_MS  # resumed after the last final day, none skipped
    rows = count(served, "metrics")
    for _ in range(10):  # five days of hours at 48 a run: caught up within four more runs
        latest = run_scheduled(served, now, settings, max_windows=small)
    caught_up = count(served, "metrics")
    assert caught_up >= rows
    # caught up: a run now recomputes only the windows whose attribution is still open
    assert latest and all(not r["final"] for r in latest)
    assert all(r["window_end_ms"] + DAY_MS > now for r in latest)
    run_scheduled(served, now, settings, max_windows=small)
    assert count(served, "metrics") == caught_up  # upserted, not duplicated
    pac_days = served.conn.execute(
        "SELECT window_start_ms, numerator, denominator FROM metrics WHERE name = 'pac' "
        "AND granularity = 'day' AND platform = 'all' AND model_version = 'all' "
        "AND arm = 'all' AND position = 0 ORDER BY window_start_ms"
    ).fetchall()
    starts = [r[0] for r in pac_days]
    assert starts == list(range(starts[0], starts[-1] + DAY_MS, DAY_MS))  # no hole
    assert sum(r[1] for r in pac_days) == 3 and sum(r[2] for r in pac_days) == 7


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


def test_a_stored_window_is_answered_from_the_table_as_it_was_computed(served, settings):
    run_scheduled(served, FIXED_NOW_MS, settings)  # the fixture's day: provisional still
    day_start = T0 - T0 % DAY_MS
    query = {"from": str(day_start), "to": str(day_start + DAY_MS)}
    status, stored = invoke(handler, http_event("GET", "/metrics", query=query))
    assert status == 200 and stored["source"] == "stored" and stored["final"] is False
    status, fresh = invoke(handler, http_event("GET", "/metrics", query={**query, "fresh": "true"}))
    assert status == 200 and fresh["source"] == "computed"
    for answer in (stored, fresh):
        answer.pop("source"), answer.pop("computed_at", None)
    assert stored == fresh
    # not one stored window: computed
    query["to"] = str(day_start + DAY_MS + HOUR_MS)
    assert invoke(handler, http_event("GET", "/metrics", query=query))[1]["source"] == "computed"


def test_a_day_composed_from_its_hours_equals_the_day_computed_directly(
    served, settings, monkeypatch
):
    from functions.metrics import schedule

    day_start = T0 - T0 % DAY_MS
    add_impressions(served, "r0", "D", ["x1", "x2"], day_start + MINUTE_MS)  # from 00:00 on
    computed = []
    direct_metrics = schedule.window_metrics

    def spy(conn, window, *args):
        computed.append(window.granularity)
        return direct_metrics(conn, window, *args)

    monkeypatch.setattr(schedule, "window_metrics", spy)
    run_scheduled(served, FIXED_NOW_MS, settings)  # hours first, then the days from them
    assert "day" not in computed  # the fixture's day had all 24 hours stored: composed
    metric_rows = schedule.metric_rows
    stored = {
        (r["name"], r["platform"], r["model_version"], r["arm"], r["position"]): r
        for r in served.conn.execute(
            "SELECT * FROM metrics WHERE granularity = 'day' AND window_start_ms = ?",
            (day_start,),
        )
    }
    window = Window(day_start, day_start + DAY_MS, "day")
    direct = metric_rows(window, report(served, settings, day_start, day_start + DAY_MS), 0)
    assert len(direct) == len(stored) > 20
    for row in direct:
        key = (row["name"], row["platform"], row["model_version"], row["arm"], row["position"])
        got = stored[key]
        assert got["value"] == pytest.approx(row["value"]), key
        assert (got["numerator"], got["denominator"]) == pytest.approx(
            (row["numerator"], row["denominator"])
        ), key
        assert (got["ci_low"], got["ci_high"]) == pytest.approx((row["ci_low"], row["ci_high"]))


def test_a_slice_that_disappeared_leaves_no_stale_row(served, settings):
    run_scheduled(served, FIXED_NOW_MS, settings)
    ios = "SELECT COUNT(*) FROM metrics WHERE platform = 'ios' AND granularity = 'day'"
    assert served.conn.execute(ios).fetchone()[0] > 0
    served.conn.execute("DELETE FROM impressions WHERE platform = 'ios'")  # user B deleted
    served.conn.commit()
    run_scheduled(served, FIXED_NOW_MS, settings)  # the day is still provisional: recomputed
    assert served.conn.execute(ios).fetchone()[0] == 0
