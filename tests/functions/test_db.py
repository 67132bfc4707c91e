"""Database access: migrations under racing cold starts, journal modes, busy retries, SQL files."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading

import pytest

from functions.common.store import sql, tombstones
from functions.common.store.db import DatabaseBusyError, migration_files
from functions.common.store.sqlite_engine import SqliteDatabase, is_busy


def _open_and_migrate(path: str, mode: str, barrier, results) -> None:  # in a child process
    barrier.wait()
    database = SqliteDatabase(path, journal_mode=mode, busy_timeout_ms=10_000)
    results.put(database.migrate())
    database.close()


@pytest.mark.parametrize("mode", ["wal", "delete"])
def test_racing_cold_starts_migrate_exactly_once(tmp_path, mode):
    path = str(tmp_path / f"race-{mode}.sqlite")
    SqliteDatabase(path, journal_mode=mode).close()  # file exists, schema not yet
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [
        ctx.Process(target=_open_and_migrate, args=(path, mode, barrier, results)) for _ in range(4)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    target = len(migration_files())
    assert sorted(results.get() for _ in procs) == [target] * 4
    check = SqliteDatabase(path, journal_mode=mode)
    assert check.schema_version() == target
    tables = {r[0] for r in check.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "users",
        "items",
        "events",
        "recommendations",
        "impressions",
        "metrics",
        "models",
    } <= tables


@pytest.mark.parametrize("mode", ["wal", "delete", "truncate"])
def test_journal_mode_is_a_setting(tmp_path, mode):
    database = SqliteDatabase(tmp_path / "j.sqlite", journal_mode=mode)
    assert database.conn.execute("PRAGMA journal_mode").fetchone()[0] == mode


def test_write_retries_while_another_connection_holds_the_lock(tmp_path):
    path = tmp_path / "busy.sqlite"
    ours = SqliteDatabase(path, busy_timeout_ms=0, retries=20)
    ours.migrate()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    timer = threading.Timer(0.2, lambda: other.execute("COMMIT"))
    timer.start()
    ours.write(lambda c: c.execute("INSERT INTO users VALUES ('u', '{}', 0, 0)"))
    timer.join()
    assert ours.conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 1


def test_write_gives_up_with_busy_error_after_retries(tmp_path):
    path = tmp_path / "stuck.sqlite"
    ours = SqliteDatabase(path, busy_timeout_ms=0, retries=2)
    ours.migrate()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(DatabaseBusyError):
        ours.write(lambda c: c.execute("DELETE FROM users"))
    other.execute("ROLLBACK")
    assert not ours.conn.in_transaction


def test_failed_unit_of_work_rolls_back(tmp_path):
    database = SqliteDatabase(tmp_path / "r.sqlite")
    database.migrate()

    def fail(conn):
        conn.execute("INSERT INTO users VALUES ('u', '{}', 0, 0)")
        raise ValueError("boom")

    with pytest.raises(ValueError):
        database.write(fail)
    assert database.conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0


def test_busy_detection():
    assert is_busy(sqlite3.OperationalError("database is locked"))
    assert not is_busy(sqlite3.OperationalError("no such table: x"))


def test_named_query_files_parse_and_expand():
    queries = sql.parse_queries(
        "-- name: a\nSELECT 1;\n\n-- name: b\n-- comment\nSELECT :x IN (:ys);\n"
    )
    assert queries == {"a": "SELECT 1", "b": "-- comment\nSELECT :x IN (:ys)"}
    text, params = sql.expand_params(queries["b"], {"x": 1, "ys": ("p", "q")})
    assert text.endswith("IN (:ys__0, :ys__1)") and params == {"x": 1, "ys__0": "p", "ys__1": "q"}
    with pytest.raises(ValueError):
        sql.parse_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;")
    with pytest.raises(sql.QueryNotFoundError):
        sql.query("ingest", "no_such_query")


def test_every_named_query_compiles_against_the_schema(tmp_path):
    database = SqliteDatabase(tmp_path / "q.sqlite")
    database.migrate()
    # the temporary relations that training and serving create before running feature queries
    for file, name in (
        ("training/data", "create_training_source"),
        ("training/data", "create_training_pairs"),
        ("training/data", "create_forgotten_users"),
        ("metrics/precision_at_curation", "create_window_outcomes"),
        ("metrics/precision_at_curation", "create_popularity_ranks"),
    ):
        database.conn.execute(sql.query(file, name))
    tombstones.install_sql_function(database.conn)  # what training registers before its reads
    # the off-policy replay store's table of pending events
    database.conn.execute(_neutralise(sql.query("metrics/off_policy", "create_pending_events")))
    for path in sorted(sql.sql_dir().rglob("*.sql")):
        if "migrations" in path.parts or path.name.endswith(".postgresql.sql"):
            continue  # PostgreSQL's overrides: tests/engines/test_postgres.py compiles them
        relative = str(path.relative_to(sql.sql_dir()).with_suffix(""))
        for name in sql.load_file(relative):
            text = sql.query(relative, name)
            assert database.conn.execute(f"EXPLAIN {_neutralise(text)}").fetchall(), name


def _neutralise(text: str) -> str:
    import re

    return re.sub(r":[A-Za-z_][A-Za-z0-9_]*", "NULL", text)


def test_wal_checkpoints_run_off_the_committing_thread(tmp_path):
    """In WAL mode commits wake a background checkpointer; the connection's own auto-checkpoint
    is only a backstop, so a request's commit does not copy the log back."""
    import time

    from functions.common.store.checkpoints import BACKSTOP_PAGES

    database = SqliteDatabase(tmp_path / "wal.sqlite", journal_mode="wal")
    database.migrate()
    checkpointer = database._checkpointer
    assert checkpointer is not None
    checkpointer.interval_seconds = 0.05
    pages = database.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    assert pages == BACKSTOP_PAGES
    for round_ in (1, 2):
        done = checkpointer.checkpoints
        database.write(
            lambda c, user=f"u{round_}": c.execute(
                "INSERT INTO users (user_id, created_ms, updated_ms) VALUES (?, 0, 0)", (user,)
            )
        )
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints == done and time.monotonic() < deadline:
            time.sleep(0.01)
        assert checkpointer.checkpoints > done
    database.close()
    assert database._checkpointer is None


def test_rollback_journals_need_no_checkpointer(tmp_path):
    database = SqliteDatabase(tmp_path / "delete.sqlite", journal_mode="delete")
    assert database._checkpointer is None
    database.close()


@pytest.mark.sqlite_only("SQLite's savepoints")
def test_kept_if_keeps_or_undoes_its_work_inside_the_transaction(db):
    from functions.common.store.sqlite_engine import kept_if

    def insert(conn, n):
        conn.execute("INSERT INTO users (user_id, created_ms, updated_ms) VALUES (?, 0, 0)", (n,))

    def work(conn):
        insert(conn, "before")
        assert kept_if(conn, lambda: insert(conn, "kept") is None)
        assert not kept_if(conn, lambda: insert(conn, "undone") is not None)
        with pytest.raises(ZeroDivisionError):
            kept_if(conn, lambda: insert(conn, "failed") or 1 / 0 > 0)
        insert(conn, "after")

    db.write(work)
    users = [r[0] for r in db.conn.execute("SELECT user_id FROM users ORDER BY user_id")]
    assert users == ["after", "before", "kept"]
