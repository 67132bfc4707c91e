"""``mediarec benchmark metrics``: the online evaluation over a large impression log.

A synthetic log is written first (not timed): ``impressions`` impressions in feeds of 10 over
``days`` days, two model versions in A/B arms by user hash, two platforms, and ``engagements``
positive events on impressed items (position-biased; 70% carry their recommendation_id, the
rest are attributed by the latest impression; 5% are duplicates). Then, timed:

- ``scheduled_run_s``: the scheduled evaluation from an empty metrics table, every hour and day
  window of the log (the catch-up after the longest possible gap), unbounded;
- ``steady_run_s``: the hourly run an hour later (the windows whose attribution is still open);
- ``day_query_ms``: GET /metrics for the last full day, which the run has stored (median of
  3), and ``day_compute_ms``: the same day recomputed (``fresh=true``);
- ``compare_ms``: GET /metrics/compare over the same day (median of 3).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from training.benchmarks.report import machine, write_json

FEED = 10
ITEMS = 20_000
CATEGORIES = 12
VERSIONS = ("mr-bench-a", "mr-bench-b")
PLATFORMS = ("web", "ios")
CHUNK_FEEDS = 50_000
# the chance of an engagement falls as 1/position, scaled so that its mean over a feed is 1
POSITION_BIAS = (1.0 / np.arange(1, FEED + 1)) / np.mean(1.0 / np.arange(1, FEED + 1))
END_MS = 1_795_305_600_000  # 2026-11-22T00:00:00Z: a fixed log, the same every run


def _catalog(conn: Any, rng: np.random.Generator) -> None:
    from training.datasets.bulk_write import write_catalog

    items = [f"item{n:06d}" for n in range(ITEMS)]
    categories = [f"c{n:02d}" for n in range(CATEGORIES)]
    item_rows, category_rows = [], []
    for item in items:
        chosen = sorted(set(rng.choice(CATEGORIES, size=int(rng.integers(1, 3))).tolist()))
        item_rows.append({
            "item_id": item, "kind": "video", "title": None, "published_ms": None,
            "attributes": "{}", "hidden": 0, "now_ms": 0,
            "categories": "[" + ",".join(f'"{categories[c]}"' for c in chosen) + "]",
        })  # fmt: skip
        category_rows += [{"item_id": item, "category": categories[c]} for c in chosen]
    write_catalog(conn, [], item_rows, category_rows)


def build_log(
    conn: Any, impressions: int, engagements: int, days: int, seed: int, progress: bool
) -> dict[str, int]:
    """Write the synthetic log into ``conn`` (one transaction per chunk of feeds)."""
    from functions.common.store import sql
    from training.datasets.bulk_write import executemany, progress_bar

    rng = np.random.default_rng(seed)
    _catalog(conn, rng)
    feeds = max(1, impressions // FEED)
    users = max(100, feeds // 20)
    start_ms = END_MS - days * 86_400_000
    order = rng.permutation(ITEMS)
    insert_feed = sql.query("recommend", "insert_recommendation")
    insert_shown = sql.query("recommend", "insert_impression")
    insert_event = sql.query("ingest", "insert_event")
    engage_share = min(1.0, engagements / max(1, feeds * FEED))
    written = {"impressions": 0, "engagements": 0}
    bar = progress_bar(feeds, "writing the impression log", "feeds", progress)
    for first in range(0, feeds, CHUNK_FEEDS):
        count = min(CHUNK_FEEDS, feeds - first)
        served = np.sort(rng.integers(start_ms, END_MS, size=count))
        user = rng.zipf(1.3, size=count) % users
        start = (rng.zipf(1.2, size=count) * 7) % ITEMS
        feed_rows, shown_rows, event_rows = [], [], []
        for n in range(count):
            feed_id = f"rec{first + n:09d}"
            user_id = f"user{int(user[n]):07d}"
            arm = int(user[n]) % 2
            version, platform = VERSIONS[arm], PLATFORMS[int(user[n]) % 3 == 0]
            feed_rows.append({
                "recommendation_id": feed_id, "user_id": user_id, "platform": platform,
                "k": FEED, "model_version": version, "request": "{}",
                "served_ms": int(served[n]), "arm": "ab"[arm],
            })  # fmt: skip
            items = order[(int(start[n]) + np.arange(FEED)) % ITEMS]
            hits = rng.random(FEED) < engage_share * POSITION_BIAS
            for position, item in enumerate(items.tolist(), start=1):
                item_id = f"item{item:06d}"
                shown_rows.append({
                    "recommendation_id": feed_id, "item_id": item_id, "user_id": user_id,
                    "position": position, "score": float(FEED - position + rng.random()),
                    "reason": "model", "model_version": version, "platform": platform,
                    "served_ms": int(served[n]), "arm": "ab"[arm], "propensity": 1.0,
                })  # fmt: skip
                if not hits[position - 1]:
                    continue
                ts = int(served[n] + rng.exponential(3_600_000))
                for copy in range(1 + (rng.random() < 0.05)):  # a duplicate now and then
                    event_rows.append({
                        "event_id": f"e{feed_id}-{position}-{copy}", "user_id": user_id,
                        "item_id": item_id, "event_type": "click", "platform": platform,
                        "ts_ms": ts, "received_ms": ts + 1000,
                        "recommendation_id": feed_id if rng.random() < 0.7 else None,
                        "position": position, "dwell_ms": None,
                    })  # fmt: skip
        executemany(conn, insert_feed, feed_rows)
        written["impressions"] += executemany(conn, insert_shown, shown_rows)
        written["engagements"] += executemany(conn, insert_event, event_rows)
        conn.commit()
        bar.update(count)
    bar.close()
    return written


def _median_ms(run: Any, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def run_metrics_benchmark(
    impressions: int, engagements: int, days: int, out: Path, seed: int = 7, progress: bool = True
) -> dict[str, Any]:
    from functions.common.clock import DAY_MS, HOUR_MS
    from functions.common.settings import Settings
    from functions.common.store.sqlite_engine import SqliteDatabase
    from functions.metrics.compare import compare_versions
    from functions.metrics.logic import Window, window_metrics
    from functions.metrics.schedule import run_scheduled
    from functions.metrics.stored import stored_metrics

    settings = Settings.from_env(env_file=None)
    with tempfile.TemporaryDirectory(prefix="mediarec-metrics-") as tmp:
        database = SqliteDatabase(Path(tmp) / "metrics.sqlite")
        database.migrate()
        started = time.perf_counter()
        written = build_log(database.conn, impressions, engagements, days, seed, progress)
        database.conn.execute("ANALYZE")
        database.conn.commit()
        setup_s = time.perf_counter() - started
        now = END_MS + 2 * HOUR_MS  # the log's last day is still within its attribution window
        unbounded = {"hour": days * 24 + 48, "day": days + 2}
        started = time.perf_counter()
        rows = run_scheduled(database, now, settings, max_windows=unbounded)
        scheduled_s = time.perf_counter() - started
        started = time.perf_counter()
        steady = run_scheduled(database, now + HOUR_MS, settings)
        steady_s = time.perf_counter() - started
        day = Window(END_MS - DAY_MS, END_MS)
        if database.read(lambda c: stored_metrics(c, day, 10, settings)) is None:
            raise RuntimeError("the scheduled run stored no row for the log's last day")
        day_ms = _median_ms(lambda: database.read(lambda c: stored_metrics(c, day, 10, settings)))
        day_compute_ms = _median_ms(
            lambda: database.read(lambda c: window_metrics(c, day, 10, None, settings))
        )
        compare_ms = _median_ms(
            lambda: database.read(
                lambda c: compare_versions(c, VERSIONS[0], VERSIONS[1], day, 10, None, settings)
            )
        )
        database.close()
    windows = {
        "catch_up": len({(r["granularity"], r["window_start_ms"]) for r in rows}),
        "steady": len({(r["granularity"], r["window_start_ms"]) for r in steady}),
    }
    result: dict[str, Any] = {
        "scheduled_run_s": round(scheduled_s, 2),
        "day_query_ms": day_ms,
        "compare_ms": compare_ms,
        "impressions": written["impressions"],
        "engagements": written["engagements"],
        "steady_run_s": round(steady_s, 2),
        "day_compute_ms": day_compute_ms,
        "windows": windows,
        "days": days,
        "setup_s": round(setup_s, 1),
        "machine": machine(),
    }  # fmt: skip
    print("| measure | value | target |")
    print("|---|---|---|")
    print(f"| scheduled run, catch-up over every window ({windows['catch_up']}) | "
          f"{result['scheduled_run_s']} s | < 10 s |")  # fmt: skip
    print(f"| hourly run in steady state ({windows['steady']} windows) | "
          f"{result['steady_run_s']} s | |")  # fmt: skip
    print(f"| GET /metrics, one day (the stored day the run computed) | {day_ms} ms | < 200 ms |")
    print(f"| GET /metrics?fresh=true, one day (recomputed) | {day_compute_ms} ms | |")
    print(f"| GET /metrics/compare, one day | {compare_ms} ms | |")
    print(f"{written['impressions']} impressions, {written['engagements']} engagement events "
          f"over {days} days (log written in {result['setup_s']} s, not timed)")  # fmt: skip
    write_json(out, result)
    return result
