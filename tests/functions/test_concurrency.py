"""Busy SQLite under load: the bounded wait of Database, and many Lambda containers on one file.

The first tests pin down functions/common/store/db.py's busy handling with a second connection that
holds a lock (no timing in the assertions: the busy timeouts SQLite was given, the attempts made
and the rows left are what they check). The last one is DESIGN.md section 2 played out: eight
ingest containers and a recommend container share one file in DELETE journal mode (as on EFS),
with a wait bound so small that some requests answer 503, and clients that retry exactly as a real
one does. Run it with ``pytest -s`` to see the counts.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import random
import sqlite3
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from functions.common.http.api_keys import create_key
from functions.common.settings import Settings
from functions.common.store.db import Database, DatabaseBusyError, open_database
from functions.common.store.sqlite_engine import SqliteDatabase

# -- the bounded wait, one process -------------------------------------------------------------


def _traced(database: Database) -> list[str]:
    statements: list[str] = []
    database.conn.set_trace_callback(statements.append)
    return statements


def _busy_timeouts(statements: list[str]) -> list[int]:
    prefix = "PRAGMA busy_timeout = "
    return [int(s[len(prefix) :]) for s in statements if s.startswith(prefix)]


def _holder(path: Path, begin: str = "BEGIN IMMEDIATE") -> sqlite3.Connection:
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute(begin)
    return other


def test_each_attempt_waits_at_most_the_time_left(tmp_path):
    """A 60 s busy timeout inside a 0.3 s wait bound: SQLite is never told to wait longer than
    what is left, and the connection gets its own timeout back afterwards."""
    path = tmp_path / "bound.sqlite"
    ours = SqliteDatabase(path, busy_timeout_ms=60_000, retries=50, wait_seconds=0.3)
    ours.migrate()
    other = _holder(path)
    statements = _traced(ours)
    with pytest.raises(DatabaseBusyError):
        ours.write(lambda c: c.execute("DELETE FROM users"))
    other.execute("ROLLBACK")
    ours.conn.set_trace_callback(None)
    timeouts = _busy_timeouts(statements)
    *during, restored = timeouts
    assert during and all(0 <= ms <= 300 for ms in during)
    assert during == sorted(during, reverse=True)  # the time left only shrinks
    assert restored == 60_000
    assert ours.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 60_000
    assert 1 <= statements.count("BEGIN IMMEDIATE") <= 51
    assert not ours.conn.in_transaction


def test_retries_still_cap_the_attempts(tmp_path):
    path = tmp_path / "cap.sqlite"
    ours = SqliteDatabase(path, busy_timeout_ms=0, retries=3, wait_seconds=30)
    ours.migrate()
    other = _holder(path)
    statements = _traced(ours)
    with pytest.raises(DatabaseBusyError, match="4 attempts"):
        ours.write(lambda c: c.execute("DELETE FROM users"))
    other.execute("ROLLBACK")
    assert statements.count("BEGIN IMMEDIATE") == 4
    assert _busy_timeouts(statements) == []  # 0 ms is already within any bound


def test_busy_commit_rolls_back_and_reruns_the_whole_unit(tmp_path):
    """On a rollback journal COMMIT needs an exclusive lock, which a reader's shared lock holds
    off: SQLite answers busy with the transaction still open and half the batch in it. The
    batch must be rolled back and the whole unit run again, landing once."""
    path = tmp_path / "commit.sqlite"
    ours = SqliteDatabase(
        path, journal_mode="delete", busy_timeout_ms=20, retries=5, wait_seconds=5
    )
    ours.migrate()
    reader = _holder(path, "BEGIN")
    assert reader.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0  # shared lock held
    calls: list[int] = []
    statements = _traced(ours)

    def unit(conn: sqlite3.Connection) -> None:
        calls.append(conn.execute("SELECT COUNT(*) FROM users").fetchone()[0])
        if len(calls) == 2:
            reader.execute("COMMIT")  # the reader finishes: this attempt's COMMIT can go through
        for n in range(20):  # a plain INSERT: a leftover row of the first attempt would fail it
            conn.execute("INSERT INTO users VALUES (?, '{}', 0, 0)", (f"u{n}",))

    ours.write(unit)
    ours.conn.set_trace_callback(None)
    assert calls == [0, 0]  # the second attempt started from nothing
    assert statements.count("COMMIT") == 2 and statements.count("ROLLBACK") == 1
    assert ours.conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 20


def test_reads_are_retried_within_the_bound_too(tmp_path):
    path = tmp_path / "read.sqlite"
    ours = SqliteDatabase(path, journal_mode="delete", busy_timeout_ms=0, retries=2, wait_seconds=5)
    ours.migrate()
    other = _holder(path, "BEGIN EXCLUSIVE")  # not even readers get in
    statements = _traced(ours)
    with pytest.raises(DatabaseBusyError, match="3 attempts"):
        ours.read(lambda c: c.execute("SELECT COUNT(*) FROM users").fetchone())
    assert statements.count("BEGIN") == 3 and not ours.conn.in_transaction
    other.execute("COMMIT")
    assert ours.read(lambda c: c.execute("SELECT COUNT(*) FROM users").fetchone()[0]) == 0


def test_open_database_takes_the_wait_bound_from_settings(tmp_path):
    settings = Settings(
        db_path=tmp_path / "s.sqlite", write_wait_seconds=1.5, busy_timeout_ms=700, write_retries=3
    )
    database = open_database(settings)
    assert (database.wait_seconds, database.busy_timeout_ms, database.retries) == (1.5, 700, 3)
    database.close()


# -- eight ingest containers and a recommend container on one DELETE-journal file -----------------

WORKERS = 8
EVENTS_PER_WORKER = 5_000
BATCH = 50
USERS = 200
ITEMS = 40
START_TIMEOUT_S = 120  # spawn + imports of nine processes on a busy two-core machine
RUN_TIMEOUT_S = 300  # a hang guard only: the run takes a fraction of it
MAX_ATTEMPTS = 500  # per batch; a batch still refused after these is reported, not retried forever


def event_id_at(worker: int, index: int) -> str:
    """Every tenth event re-sends an id: alternately one this worker sent before (from an earlier
    batch, or earlier in the same batch for the first two batches) and one another worker sends
    as its own event."""
    if index % 10 != 9:
        return f"w{worker}-e{index}"
    if (index // 10) % 2 == 0:
        return f"w{worker}-e{index - 55 if index >= 55 else index - 5}"
    return f"w{(worker + 1) % WORKERS}-e{index - 4}"


def event_body(event_id: str) -> dict[str, Any]:
    """The same content whoever sends the id (no ``ts``: the server's receive time is used)."""
    h = zlib.crc32(event_id.encode())
    return {
        "event_id": event_id,
        "user_id": f"u{h % USERS}",
        "item_id": f"i{(h >> 8) % ITEMS}",
        "event_type": ("view", "click", "like")[h % 3],
        "platform": ("web", "ios", "android")[(h >> 4) % 3],
    }


def _worker_env(path: Path) -> dict[str, str]:
    return {
        "MEDIAREC_DB_PATH": str(path),
        "MEDIAREC_JOURNAL_MODE": "delete",
        "MEDIAREC_MODELS_URI": str(path.parent / "models"),
        "MEDIAREC_TRACING": "false",
        "MEDIAREC_LOG_LEVEL": "ERROR",
        # small enough that requests do give up with 503 under this contention
        "MEDIAREC_BUSY_TIMEOUT_MS": "10",
        "MEDIAREC_WRITE_WAIT_SECONDS": "0.05",
        "MEDIAREC_WRITE_RETRIES": "3",
    }


def _call(handler: Any, event: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    import json

    from training.local.lambda_invoke import FakeLambdaContext

    response = handler(event, FakeLambdaContext())
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    body = response.get("body")
    return response["statusCode"], json.loads(body) if body else None, headers


def _pause_after_503(headers: dict[str, str], rng: random.Random) -> None:
    """Honour Retry-After, but sooner: a test cannot wait a whole second per refusal."""
    retry_after = float(headers["retry-after"])  # KeyError: a 503 without it is a failure
    time.sleep(min(retry_after, rng.uniform(0.002, 0.02)))


def _ingest_worker(worker: int, env: dict[str, str], barrier: Any, results: Any) -> None:
    """One ingest container and its client (in a spawned process)."""
    os.environ.update(env)
    outcome: dict[str, Any] = {"worker": worker, "statuses": Counter(), "errors": []}
    try:
        from functions.ingest.app import handler
        from training.local.lambda_invoke import http_event

        events = [event_body(event_id_at(worker, i)) for i in range(EVENTS_PER_WORKER)]
        batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
        rng = random.Random(worker)
        accepted, retries, refusals = [], 0, 0
        barrier.wait(START_TIMEOUT_S)
        for number, batch in enumerate(batches):
            for attempt in range(MAX_ATTEMPTS):
                status, body, headers = _call(
                    handler,
                    http_event(
                        "POST",
                        "/events",
                        body={"events": batch},
                        api_key=os.environ["TEST_INGEST_KEY"],
                    ),
                )
                outcome["statuses"][status] += 1
                if status == 200:
                    accepted.append((number, body["stored"], body["duplicates"], body["rejected"]))
                    retries += attempt  # the same batch sent again after each 503
                    break
                if status != 503:
                    outcome["errors"].append(f"batch {number}: {status} {body}")
                    break
                refusals += 1
                _pause_after_503(headers, rng)
            else:
                outcome["errors"].append(f"batch {number}: refused {MAX_ATTEMPTS} times")
        outcome.update(accepted=accepted, retries=retries, refusals=refusals)
    except BaseException as error:  # reported to the parent rather than lost in a child
        outcome["errors"].append(f"{type(error).__name__}: {error}")
    results.put(outcome)


def _feed_reader(env: dict[str, str], barrier: Any, stop: Any, results: Any) -> None:
    """A recommend container asked for feeds in a loop; each feed writes impressions."""
    os.environ.update(env)
    outcome: dict[str, Any] = {"statuses": Counter(), "errors": [], "served": 0, "refusals": 0}
    try:
        from functions.recommend.app import handler
        from training.local.lambda_invoke import http_event

        rng = random.Random(99)
        barrier.wait(START_TIMEOUT_S)
        give_up = time.monotonic() + RUN_TIMEOUT_S
        n = 0
        # until the writers are done, and at least one feed served
        while (not stop.is_set() or outcome["served"] == 0) and time.monotonic() < give_up:
            n += 1
            event = http_event(
                "GET", f"/recommendations/u{n % USERS}", query={"k": 10},
                api_key=os.environ["TEST_READ_KEY"],
            )  # fmt: skip
            status, body, headers = _call(handler, event)
            outcome["statuses"][status] += 1
            if status == 200:
                outcome["served"] += 1
            elif status == 503:
                outcome["refusals"] += 1
                _pause_after_503(headers, rng)
            else:
                outcome["errors"].append(f"feed {n}: {status} {body}")
    except BaseException as error:
        outcome["errors"].append(f"{type(error).__name__}: {error}")
    results.put(outcome)


def _seed_catalog(path: Path) -> dict[str, str]:
    from functions.ingest import logic

    database = SqliteDatabase(path, journal_mode="delete")
    database.migrate()
    items = [{"item_id": f"i{n}", "kind": "video", "title": f"item {n}"} for n in range(ITEMS)]
    result = logic.upsert_items(database, {"items": items}, Settings(), int(time.time() * 1000))
    assert result.stored == ITEMS
    keys = {
        scope: create_key(database, [scope], f"{scope} clients", int(time.time() * 1000))[1]
        for scope in ("ingest", "read")
    }
    database.close()
    return keys


@pytest.mark.sqlite_only("one SQLite file shared by processes")
def test_eight_ingest_containers_and_a_feed_reader_share_one_delete_journal_file(tmp_path):
    path = tmp_path / "shared.sqlite"
    keys = _seed_catalog(path)  # every request goes through the door with a real key
    env = {**_worker_env(path), "TEST_INGEST_KEY": keys["ingest"], "TEST_READ_KEY": keys["read"]}
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS + 1)
    stop = ctx.Event()
    results = ctx.Queue()
    reader_results = ctx.Queue()
    writers = [
        ctx.Process(target=_ingest_worker, args=(w, env, barrier, results), daemon=True)
        for w in range(WORKERS)
    ]
    reader = ctx.Process(
        target=_feed_reader, args=(env, barrier, stop, reader_results), daemon=True
    )
    started = time.monotonic()
    outcomes: list[dict[str, Any]] = []
    try:
        for proc in [*writers, reader]:
            proc.start()
        deadline = time.monotonic() + START_TIMEOUT_S + RUN_TIMEOUT_S
        for _ in writers:
            try:
                outcomes.append(results.get(timeout=max(1.0, deadline - time.monotonic())))
            except queue.Empty:
                pytest.fail(f"only {len(outcomes)} of {WORKERS} writers reported in time")
        stop.set()
        feeds = reader_results.get(timeout=RUN_TIMEOUT_S)
        for proc in [*writers, reader]:
            proc.join(30)
    finally:
        stop.set()
        for proc in [*writers, reader]:
            if proc.is_alive():
                proc.kill()
                proc.join(10)
    elapsed = time.monotonic() - started

    # what the clients saw
    errors = [e for o in outcomes for e in o["errors"]] + feeds["errors"]
    assert errors == []
    writer_statuses: Counter[int] = sum((o["statuses"] for o in outcomes), Counter())
    assert set(writer_statuses) <= {200, 503}
    assert set(feeds["statuses"]) <= {200, 503}
    accepted = [a for o in outcomes for a in o["accepted"]]
    batches = EVENTS_PER_WORKER // BATCH
    assert sorted(len(o["accepted"]) for o in outcomes) == [batches] * WORKERS  # every batch
    assert all(stored + dups == BATCH and rejected == 0 for _, stored, dups, rejected in accepted)

    # what the file holds
    sent = [event_id_at(w, i) for w in range(WORKERS) for i in range(EVENTS_PER_WORKER)]
    distinct = set(sent)
    stored = sum(a[1] for a in accepted)
    duplicates = sum(a[2] for a in accepted)
    check = SqliteDatabase(path, journal_mode="delete")
    count = check.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    ids = {row[0] for row in check.conn.execute("SELECT event_id FROM events")}
    integrity = [r[0] for r in check.conn.execute("PRAGMA integrity_check")]
    impressions = check.conn.execute("SELECT COUNT(*) FROM recommendations").fetchone()[0]
    check.close()
    retries = sum(o["retries"] for o in outcomes)
    refusals = sum(o["refusals"] for o in outcomes)
    print(
        f"\n{WORKERS} ingest processes x {EVENTS_PER_WORKER} events in batches of {BATCH}, "
        f"one feed reader, DELETE journal, wait bound {env['MEDIAREC_WRITE_WAIT_SECONDS']} s, "
        f"busy timeout {env['MEDIAREC_BUSY_TIMEOUT_MS']} ms: {elapsed:.1f} s\n"
        f"  events sent {len(sent)}, distinct {len(distinct)}, stored (rows) {count}, "
        f"reported stored {stored}, duplicates reported {duplicates}\n"
        f"  ingest requests {sum(writer_statuses.values())}: 503s {refusals}, retries {retries}\n"
        f"  feeds served {feeds['served']}, feed 503s {feeds['refusals']}, "
        f"feed rows {impressions}"
    )
    assert len(sent) == WORKERS * EVENTS_PER_WORKER
    assert len(distinct) == len(sent) * 9 // 10  # exactly a tenth re-sent
    assert count == len(distinct) and ids == distinct
    assert stored == len(distinct) and duplicates == len(sent) - len(distinct)
    assert integrity == ["ok"]
    assert writer_statuses[503] == refusals == retries  # every 503 answered by a retry
    assert refusals + feeds["refusals"] > 0, "no 503 at all: the retry path went untested"
    assert feeds["served"] >= 1 and impressions == feeds["served"]
