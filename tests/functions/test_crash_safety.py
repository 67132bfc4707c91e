"""A process killed inside a transaction leaves nothing half-done (DESIGN.md section 2).

Lambda freezes and kills containers whenever it likes: after a timeout, on a redeploy, on an out-of-
memory. Each test here stops a child process with SIGKILL at a chosen point inside a write
transaction (the child announces the point through a pipe and then sleeps; nothing in the child
gets a chance to clean up) and checks what the next process finds: in DELETE mode the hot journal
is rolled back, in WAL mode the uncommitted frames are ignored, and the client's retry or the next
cold start's migration then lands exactly once.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from functions.common.settings import Settings
from functions.common.store import sql
from functions.common.store.db import Database, migration_files
from functions.common.store.sqlite_engine import SqliteDatabase

pytestmark = pytest.mark.sqlite_only("SQLite's journals and a killed writer's file")


SIGNAL_TIMEOUT_S = 90  # spawn and imports on a busy machine; a hang guard, not a measurement
SEEDED = 100
BATCH = 300


def _env(path: Path, mode: str) -> dict[str, str]:
    return {
        "MEDIAREC_DB_PATH": str(path),
        "MEDIAREC_JOURNAL_MODE": mode,
        "MEDIAREC_MODELS_URI": str(path.parent / "models"),
        "MEDIAREC_AUTH": "off",
        "MEDIAREC_TRACING": "false",
        "MEDIAREC_LOG_LEVEL": "ERROR",
    }


def _events(prefix: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"{prefix}-{n}",
            "user_id": f"u{n % 17}",
            "item_id": f"i{n % 23}",
            "event_type": "view",
            "platform": "web",
        }
        for n in range(count)
    ]


def _integrity(database: Database) -> list[str]:
    return [row[0] for row in database.conn.execute("PRAGMA integrity_check")]


def _event_ids(database: Database) -> set[str]:
    return {row[0] for row in database.conn.execute("SELECT event_id FROM events")}


def _kill_at_signal(proc: Any, pipe: Any) -> dict[str, Any]:
    """Wait for the child's message that it stands at the chosen point, then SIGKILL it."""
    try:
        if not pipe.poll(SIGNAL_TIMEOUT_S):
            pytest.fail(f"the child did not reach the kill point (exit code {proc.exitcode})")
        message: dict[str, Any] = pipe.recv()
        assert "reached" in message, message
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(30)
    assert proc.exitcode == -signal.SIGKILL
    return message


# -- a writer killed mid-batch ---------------------------------------------------------------------


def _writer_killed_mid_batch(env: dict[str, str], batch: list[Any], after: int, pipe: Any) -> None:
    """POST /events through the ingest handler; stops inside the transaction after ``after``
    rows are inserted (in a spawned process)."""
    try:
        os.environ.update(env)
        from functions.common.store import db
        from functions.ingest import logic
        from functions.ingest.app import handler
        from training.local.lambda_invoke import http_event, invoke

        real_executemany = db.executemany

        def executemany(conn: Any, query: str, rows: Any) -> int:
            """The batch's insert (one executemany on SQLite), stopped after ``after`` rows."""
            if "INSERT INTO events" in query and len(rows) > after:
                real_executemany(conn, query, rows[:after])
                stored = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
                pipe.send({"reached": True, "in_transaction": conn.in_transaction, "rows": stored})
                time.sleep(600)
            return real_executemany(conn, query, rows)

        db.executemany = executemany  # both names the ingest logic may call it by
        logic.executemany = executemany
        # a tiny page cache: the transaction's pages spill into the file (or the WAL) before
        # COMMIT, so the crash leaves uncommitted data on disk, not only in memory
        db.get_database().conn.execute("PRAGMA cache_size = 2")
        status, body = invoke(handler, http_event("POST", "/events", body={"events": batch}))
        pipe.send({"finished": status, "body": body})
    except BaseException as error:
        pipe.send({"error": f"{type(error).__name__}: {error}"})


def _client(env: dict[str, str], batches: list[list[Any]], pipe: Any) -> None:
    """A client sending batches through the ingest handler (in a spawned process)."""
    try:
        os.environ.update(env)
        from functions.ingest.app import handler
        from training.local.lambda_invoke import http_event, invoke

        answers = []
        for batch in batches:
            status, body = invoke(handler, http_event("POST", "/events", body={"events": batch}))
            answers.append((status, body["stored"], body["duplicates"], body["rejected"]))
        pipe.send({"answers": answers})
    except BaseException as error:
        pipe.send({"error": f"{type(error).__name__}: {error}"})


def _run_client(ctx: Any, env: dict[str, str], batches: list[list[Any]]) -> list[Any]:
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_client, args=(env, batches, sender), daemon=True)
    proc.start()
    try:
        if not receiver.poll(SIGNAL_TIMEOUT_S):
            pytest.fail("the client did not answer in time")
        message = receiver.recv()
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()
            proc.join(10)
    assert "answers" in message, message
    answers: list[Any] = message["answers"]
    return answers


@pytest.mark.parametrize("mode", ["delete", "wal"])
def test_writer_killed_mid_batch_leaves_none_of_it_and_the_retry_lands_once(tmp_path, mode):
    from functions.ingest import logic

    path = tmp_path / f"killed-{mode}.sqlite"
    seed = _events("seed", SEEDED)
    database = SqliteDatabase(path, journal_mode=mode)
    database.migrate()
    logic.ingest_events(database, {"events": seed}, Settings(), int(time.time() * 1000))
    database.close()
    before = path.read_bytes()

    ctx = multiprocessing.get_context("spawn")
    env = _env(path, mode)
    batch = _events("batch", BATCH)
    receiver, sender = ctx.Pipe(duplex=False)
    writer = ctx.Process(
        target=_writer_killed_mid_batch, args=(env, batch, BATCH * 2 // 3, sender), daemon=True
    )
    writer.start()
    message = _kill_at_signal(writer, receiver)
    assert message == {"reached": True, "in_transaction": True, "rows": SEEDED + BATCH * 2 // 3}
    if mode == "delete":  # the crash left a hot journal and uncommitted pages in the file
        assert Path(f"{path}-journal").exists()
        assert path.read_bytes() != before

    after_crash = SqliteDatabase(
        path, journal_mode=mode
    )  # the next container: recovers on first read
    assert after_crash.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == SEEDED
    assert _event_ids(after_crash) == {e["event_id"] for e in seed}
    assert _integrity(after_crash) == ["ok"]
    after_crash.close()

    # the client saw no answer, so it sends the same batch again (and, unsure, once more)
    answers = _run_client(ctx, env, [batch, batch])
    assert answers == [(200, BATCH, 0, 0), (200, 0, BATCH, 0)]
    final = SqliteDatabase(path, journal_mode=mode)
    assert final.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == SEEDED + BATCH
    assert _event_ids(final) == {e["event_id"] for e in seed + batch}
    assert _integrity(final) == ["ok"]
    final.close()


# -- a migration killed midway ---------------------------------------------------------------------


def _schema_change(statement: str) -> bool:
    code = "\n".join(
        line for line in statement.splitlines() if not line.lstrip().startswith("--")
    ).lstrip()
    return code.split(" ", 1)[0].upper() in {"CREATE", "DROP", "ALTER", "INSERT", "UPDATE"}


def _migration_killed_midway(
    path: str, mode: str, start_version: int, kill_in: int, after: int, pipe: Any
) -> None:
    """Database.migrate(), stopped after ``after`` statements of migration ``kill_in`` (in a
    spawned process). Every migration file ends with its ``PRAGMA user_version``."""
    try:
        database = SqliteDatabase(path, journal_mode=mode)
        applying = start_version + 1
        done = 0

        def trace(statement: str) -> None:
            nonlocal applying, done
            if statement.startswith("PRAGMA user_version ="):
                applying, done = applying + 1, 0
            elif _schema_change(statement):
                if applying == kill_in and done == after:
                    pipe.send({"reached": True, "version": applying, "statements": done})
                    time.sleep(600)
                done += 1

        database.conn.set_trace_callback(trace)
        pipe.send({"finished": database.migrate()})
    except BaseException as error:
        pipe.send({"error": f"{type(error).__name__}: {error}"})


def _schema(database: Database) -> set[tuple[str, str, str]]:
    rows = database.conn.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL")
    return {(r[0], r[1], r[2]) for r in rows}


def _apply_files(database: Database, version: int) -> None:
    """Migrations 1..``version`` applied as an older release of mediarec would have."""

    def apply(conn: Any) -> None:
        for _, file in migration_files()[:version]:
            for statement in sql.statements(file.read_text(encoding="utf-8")):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")

    database.write(apply)


def _schema_at(directory: Path, version: int) -> set[tuple[str, str, str]]:
    database = SqliteDatabase(directory / f"schema-v{version}.sqlite")
    _apply_files(database, version)
    schema = _schema(database)
    database.close()
    return schema


@pytest.mark.parametrize("mode", ["delete", "wal"])
@pytest.mark.parametrize(
    ("start_version", "kill_in", "after"),
    [(0, 1, 3), (2, 4, 2)],
    ids=["fresh-file-in-0001", "version-2-file-in-0004"],
)
def test_migration_killed_midway_is_rerun_safely(tmp_path, mode, start_version, kill_in, after):
    latest = len(migration_files())
    path = tmp_path / f"migrating-{mode}.sqlite"
    database = SqliteDatabase(path, journal_mode=mode)
    if start_version:  # a file an older release created, with data in it
        _apply_files(database, start_version)
        database.write(lambda c: c.execute("INSERT INTO users VALUES ('kept', '{}', 0, 0)"))
    database.close()

    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(
        target=_migration_killed_midway,
        args=(str(path), mode, start_version, kill_in, after, sender),
        daemon=True,
    )
    child.start()
    message = _kill_at_signal(child, receiver)
    assert message == {"reached": True, "version": kill_in, "statements": after}
    if mode == "delete":
        assert Path(f"{path}-journal").exists()  # a hot journal: the next opener rolls it back

    restarted = SqliteDatabase(path, journal_mode=mode)
    # a whole earlier version, none of the killed file (today every pending file commits
    # together, so nothing pending stays; a migrate() that committed file by file would pass too)
    version = restarted.schema_version()
    assert start_version <= version < kill_in
    assert _schema(restarted) == _schema_at(tmp_path, version)
    assert _integrity(restarted) == ["ok"]
    assert restarted.migrate() == latest
    assert restarted.schema_version() == latest
    assert _schema(restarted) == _schema_at(tmp_path, latest)  # every table, index and column
    assert restarted.migrate() == latest  # and a further start has nothing to do
    if start_version:
        assert restarted.conn.execute("SELECT user_id FROM users").fetchall()[0][0] == "kept"
    assert _integrity(restarted) == ["ok"]
    restarted.close()
