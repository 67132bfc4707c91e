"""The PostgreSQL engine against a real server (MEDIAREC_TEST_POSTGRES_URL; skips without one):
its connection, transactions and retries, the SQL as PostgreSQL runs it, `mediarec migrate-db`,
and the same seeded world serving the same feeds on both engines."""

from __future__ import annotations

import contextlib
import json
import re

import psycopg
import pytest

from functions.common.caches import reset_all
from functions.common.settings import Settings
from functions.common.store import sql
from functions.common.store.db import DatabaseBusyError, fetch_all, open_database
from functions.common.store.postgres_engine import PostgresDatabase, redacted, to_pyformat
from functions.common.store.sqlite_engine import SqliteDatabase
from functions.recommend.app import handler
from tests.conftest import FIXED_NOW_MS
from training.datasets.synthetic.generation import generate_world
from training.datasets.synthetic.world import WorldConfig
from training.datasets.synthetic.write import write_world
from training.local.lambda_invoke import http_event, invoke
from training.store_copy import CopyMismatchError, copy_store

pytestmark = pytest.mark.postgres

SQLITE_SIDE_FILES = {
    "training/data": "training reads a local SQLite copy of the store (training/store_copy.py)",
}
"""sql/ files that never run on the PostgreSQL engine, and why."""

TEMPORARY_TABLE_QUERIES = (
    "create_window_outcomes",
    "clear_window_outcomes",
    "fill_window_outcomes",
    "create_popularity_ranks",
    "clear_popularity_ranks",
    "popularity_ranked",
    "fill_popularity_ranks",
)
SECURE_DELETE_QUERIES = (
    "secure_delete_setting",
    "secure_delete_on",
    "secure_delete_off",
    "secure_delete_fast",
)
REPLAY_QUERIES = (
    "create_pending_events",
    "index_pending_events",
    "hold_back_events",
    "replay_events",
)
SQLITE_ONLY_QUERIES = {
    **{
        ("metrics/precision_at_curation", name): "a temporary table: PostgreSQL computes a CTE"
        for name in TEMPORARY_TABLE_QUERIES
    },
    **{("ingest", name): "PRAGMA secure_delete" for name in SECURE_DELETE_QUERIES},
    **{
        ("metrics/off_policy", name): "the replay store is a local SQLite copy"
        for name in REPLAY_QUERIES
    },
    ("serving/features", "create_serving_source"): "a temporary view: PostgreSQL's schema "
    "holds serving's feature_events view",
}
"""Queries the code runs only on SQLite (functions/metrics/logic.py, functions/ingest/logic.py and
functions/common/serving/features.py ask ``holds_temporary_tables`` / ``dialect_of`` first)."""

NOT_EXPLAINED = {
    ("store/schema", "refresh_statistics"): "ANALYZE has no plan; test_a_copy_leaves_... runs it",
}
"""PostgreSQL-only statements the planner cannot EXPLAIN, and where they run instead."""

NOT_YET_ON_POSTGRES: dict[str, str] = {}
"""sql/ files the PostgreSQL engine does not run yet, and why."""


def test_parameters_become_pyformat_outside_literals_and_casts():
    text = "SELECT ':x', a::text, b % 2, \"q:y\" FROM t WHERE c = :c AND d = ? -- :z"
    assert to_pyformat(text) == (
        "SELECT ':x', a::text, b %% 2, \"q:y\" FROM t WHERE c = %(c)s AND d = %s -- :z"
    )
    assert to_pyformat("SELECT 'a%b' LIKE :p") == "SELECT 'a%%b' LIKE %(p)s"


def test_percent_signs_reach_the_server_as_written(pg):
    assert pg.read(lambda c: c.execute("SELECT 7 % 4, 'a%' LIKE 'a%%'").fetchone()) == (3, True)
    row = pg.read(lambda c: c.execute("SELECT :x % 4, :y LIKE 'a%'", {"x": 7, "y": "ab"}))
    assert row.fetchone() == (3, True)


def test_the_url_is_shown_without_its_password():
    assert redacted("postgresql://me:secret@db:5432/x") == "postgresql://me:***@db:5432/x"
    assert redacted("postgresql://me@db/x") == "postgresql://me@db/x"
    assert redacted("postgresql://db/x?password=s&sslmode=require") == (
        "postgresql://db/x?password=***&sslmode=require"
    )


def test_every_named_query_compiles_on_postgresql(pg):
    """Each query PostgreSQL would run (the portable text or its override) is accepted by the
    server's planner, parameters replaced by NULL."""
    failures = []
    skipped = SQLITE_SIDE_FILES.keys() | NOT_YET_ON_POSTGRES.keys()
    for relative in sorted(query_files() - skipped):
        for name in sql.load_file(relative, "postgresql"):
            text = sql.query(relative, name, "postgresql")
            if (relative, name) in SQLITE_ONLY_QUERIES or (relative, name) in NOT_EXPLAINED:
                continue
            errors = []
            for stand_in in ("NULL", "0"):  # "NULL - NULL" has no type; "0 = text" neither
                neutral = re.sub(r"IN \(:[A-Za-z_][A-Za-z0-9_]*\)", "IN ('')", text)  # type lists
                neutral = re.sub(r"(?<!:):[A-Za-z_][A-Za-z0-9_]*_ms\b", "0", neutral)  # times
                neutral = re.sub(r"(?<!:):[A-Za-z_][A-Za-z0-9_]*", stand_in, neutral)
                try:
                    pg.read(lambda c, t=neutral.replace("%", "%%"): c.raw.execute("EXPLAIN " + t))
                    break
                except psycopg.Error as error:
                    errors.append(str(error).splitlines()[0])
            else:
                failures.append(f"{relative}:{name}: {errors[0]}")
    assert not failures, "\n".join(failures)


def query_files() -> set[str]:
    found = set()
    for path in sql.sql_dir().rglob("*.sql"):
        if "migrations" in path.parts:
            continue
        relative = path.relative_to(sql.sql_dir()).as_posix().removesuffix(".sql")
        found.add(relative.removesuffix(".postgresql"))
    return found


def test_rows_answer_by_name_and_numbers_are_not_decimals(pg):
    rows = pg.read(
        lambda c: c.execute(
            "SELECT SUM(x) AS total, 1.5 AS half FROM (VALUES (2::bigint), (3)) v(x)"
        ).fetchall()
    )
    assert rows[0]["total"] == 5 and type(rows[0]["total"]) is int
    assert rows[0]["half"] == 1.5 and type(rows[0]["half"]) is float
    assert dict(rows[0]) == {"total": 5, "half": 1.5}


def test_a_lost_connection_is_opened_again(pg, postgres_url):
    pid = pg.read(lambda c: c.execute("SELECT pg_backend_pid()").fetchone()[0])
    with psycopg.connect(postgres_url, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert pg.read(lambda c: c.execute("SELECT 1").fetchone()[0]) == 1
    assert pg.read(lambda c: c.execute("SELECT pg_backend_pid()").fetchone()[0]) != pid


def test_a_serialization_failure_runs_the_unit_again(pg, postgres_url):
    """Two transactions update one row under REPEATABLE READ: the second fails with 40001 at
    its update, and the engine runs its whole unit again, which then lands."""
    pg.write(lambda c: c.execute("INSERT INTO users VALUES ('u1', '{}', 0, 0)"))
    attempts = []

    def work(conn):
        attempts.append(1)
        conn.execute("SELECT updated_ms FROM users WHERE user_id = 'u1'").fetchone()
        if len(attempts) == 1:  # another writer commits in between
            with psycopg.connect(postgres_url, autocommit=True) as other:
                other.execute("UPDATE users SET updated_ms = 1 WHERE user_id = 'u1'")
        conn.execute("UPDATE users SET updated_ms = updated_ms + 10 WHERE user_id = 'u1'")

    pg.write(work)
    assert len(attempts) == 2
    assert pg.read(lambda c: c.execute("SELECT updated_ms FROM users").fetchone()[0]) == 11


def test_reads_in_a_batch_share_one_snapshot_until_a_write_ends_it(pg, postgres_url):
    pg.write(lambda c: c.execute("INSERT INTO users VALUES ('u1', '{}', 0, 0)"))

    def users(conn):
        return conn.execute("SELECT COUNT(*) FROM users").fetchone()[0]

    with pg.batched_reads():
        assert pg.read(users) == 1
        with psycopg.connect(postgres_url, autocommit=True) as other:
            other.execute("INSERT INTO users VALUES ('u2', '{}', 0, 0)")
        assert pg.read(users) == 1  # the batch's snapshot
        pg.write(lambda c: c.execute("INSERT INTO users VALUES ('u3', '{}', 0, 0)"))
        assert pg.read(users) == 3  # the write ended the batch's transaction; a new one began
    assert pg.read(users) == 3
    status = pg.conn.raw.info.transaction_status
    assert status == psycopg.pq.TransactionStatus.IDLE  # nothing left open after the block


def test_a_failed_read_in_a_batch_leaves_the_next_read_working(pg):
    with pg.batched_reads():
        assert pg.read(lambda c: c.execute("SELECT 1").fetchone()[0]) == 1
        with pytest.raises(psycopg.errors.UndefinedTable):
            pg.read(lambda c: c.execute("SELECT * FROM no_such_table").fetchall())
        assert pg.read(lambda c: c.execute("SELECT 2").fetchone()[0]) == 2
    assert pg.conn.raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_a_connection_lost_inside_a_batch_is_opened_again(pg, postgres_url):
    with pg.batched_reads():
        pid = pg.read(lambda c: c.execute("SELECT pg_backend_pid()").fetchone()[0])
        with psycopg.connect(postgres_url, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert pg.read(lambda c: c.execute("SELECT pg_backend_pid()").fetchone()[0]) != pid
        assert pg.read(lambda c: c.execute("SELECT 3").fetchone()[0]) == 3


def test_the_password_comes_from_the_secret_and_is_read_again_when_refused(
    postgres_url, monkeypatch
):
    """As template.yaml deploys Aurora: the URL without credentials, the user (and password)
    from the secret; a refused connection reads the secret again once (a rotation)."""
    from urllib.parse import urlsplit, urlunsplit

    from functions.common.store import secrets

    parts = urlsplit(postgres_url)
    bare = urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))
    user = parts.username or "postgres"
    reads = []

    def credentials(arn):
        reads.append(arn)
        return {"user": user if len(reads) > 1 else "no_such_role_rotated", "password": "pw"}

    monkeypatch.setattr(secrets, "database_credentials", credentials)
    database = PostgresDatabase(bare, secret_arn="arn:secret")
    try:
        assert database.read(lambda c: c.execute("SELECT current_user").fetchone()[0]) == user
        assert reads == ["arn:secret", "arn:secret"]  # refused once, read again, then cached
        database.close()
        assert database.read(lambda c: c.execute("SELECT 1").fetchone()[0]) == 1
        assert len(reads) == 2
    finally:
        database.close()


def test_text_orders_byte_by_byte_in_a_database_of_another_collation(postgres_url):
    """Aurora creates the stack's database with en_US.UTF-8: the schema's columns are
    COLLATE "C", so that ids order (and ties break) as on SQLite whatever the database's."""
    from tests.utils.postgres import database_url

    name = "mediarec_test_icu"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        try:
            admin.execute(
                f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu '
                "ICU_LOCALE 'und' LOCALE 'C.UTF-8'"
            )
        except psycopg.Error as error:
            pytest.skip(f"this server cannot create an ICU database: {error}")
    database = PostgresDatabase(database_url(postgres_url, name))
    try:
        database.migrate()
        ids = ["b", "B", "a", "_x", "Z9", "ä"]
        database.write(lambda c: [c.execute("INSERT INTO users VALUES (:u, '{}', 0, 0)", {"u": u})
                                  for u in ids])  # fmt: skip
        ordered = database.read(
            lambda c: [r[0] for r in c.execute("SELECT user_id FROM users ORDER BY user_id")]
        )
        assert ordered == sorted(ids, key=lambda u: u.encode())  # SQLite's BINARY order
        collations = database.read(lambda c: c.execute(
            "SELECT DISTINCT collation_name FROM information_schema.columns WHERE table_schema "
            "= 'public' AND data_type = 'text' AND table_name <> 'feature_events'"
        ).fetchall())  # fmt: skip
        assert [tuple(r) for r in collations] == [("C",)]
    finally:
        database.close()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_bookkeeping_on_a_row_another_container_updated_never_costs_the_write(pg, postgres_url):
    """Two containers share an API key and both record its use: the bookkeeping runs after the
    commit, so the other container's update of that row cannot abort this write (inside the
    transaction it failed with 40001, and the caught error left the write to be rolled back)."""
    from functions.common.http.api_keys import _record_use

    pg.write(lambda c: c.execute("INSERT INTO users VALUES ('u1', '{}', 0, 0)"))
    key_row = {"key_id": "k1", "name": "shared", "scopes": '["ingest"]', "secret_hash": "h",
               "created_ms": 0, "last_used_ms": 1, "revoked_ms": None}  # fmt: skip
    pg.write(lambda c: c.execute(
        "INSERT INTO api_keys VALUES (:key_id, :name, :scopes, :secret_hash, :created_ms, "
        ":last_used_ms, :revoked_ms)", key_row))  # fmt: skip
    _record_use(pg, "k1", 500)

    def work(conn):
        conn.execute("SELECT last_used_ms FROM api_keys WHERE key_id = 'k1'").fetchone()
        with psycopg.connect(postgres_url, autocommit=True) as other:  # the other container
            other.execute("UPDATE api_keys SET last_used_ms = 200 WHERE key_id = 'k1'")
        conn.execute("UPDATE users SET updated_ms = 7 WHERE user_id = 'u1'")

    pg.write(work)
    assert pg.read(lambda c: c.execute("SELECT updated_ms FROM users").fetchone()[0]) == 7
    used = pg.read(lambda c: c.execute("SELECT last_used_ms FROM api_keys").fetchone()[0])
    assert used == 500


def test_a_write_whose_failed_statement_was_caught_is_an_error_not_a_silent_rollback(pg):
    def work(conn):
        conn.execute("INSERT INTO users VALUES ('u1', '{}', 0, 0)")
        with contextlib.suppress(psycopg.Error):  # the transaction is aborted now
            conn.execute("SELECT * FROM no_such_table")

    with pytest.raises(psycopg.errors.InFailedSqlTransaction, match="nothing was written"):
        pg.write(work)
    assert pg.read(lambda c: c.execute("SELECT COUNT(*) FROM users").fetchone()[0]) == 0
    pg.write(lambda c: c.execute("INSERT INTO users VALUES ('u2', '{}', 0, 0)"))  # usable
    assert pg.read(lambda c: c.execute("SELECT COUNT(*) FROM users").fetchone()[0]) == 1


def _tombstone(pg, user_id: str, deleted_ms: int) -> None:
    from functions.common.store import tombstones
    from functions.common.store.db import execute

    row = {"user_hash": tombstones.user_hash(user_id), "deleted_ms": deleted_ms}
    pg.write(lambda c: execute(c, "ingest", "upsert_deleted_user", row))


def test_prefetched_reads_answer_without_a_message_until_a_write(pg, monkeypatch):
    from functions.common.store import tombstones

    _tombstone(pg, "gone", 5)
    with pg.batched_reads():
        pg.prefetch([tombstones.deleted_query("gone"), tombstones.deleted_query("never")])
        sent = _count_messages(monkeypatch)
        assert tombstones.deleted_ms(pg, "gone") == 5
        assert tombstones.deleted_ms(pg, "never") is None
        assert sent == []  # both answered from the prefetch
        pg.prefetch([tombstones.deleted_query("gone")])
        _tombstone(pg, "gone", 9)  # a write: what was prefetched may be stale
        assert tombstones.deleted_ms(pg, "gone") == 9
    assert tombstones.deleted_ms(pg, "gone") == 9


def test_prefetch_outside_a_batch_or_refused_leaves_the_reads_to_run(pg, caplog):
    from functions.common.store import tombstones

    _tombstone(pg, "gone", 5)
    pg.prefetch([tombstones.deleted_query("gone")])  # no batch: nothing sent, nothing kept
    assert pg.conn.answers == {}
    refused = ("serving/features", "recent_interactions",
               {"user_id": "u", "types": ["view"], "as_of_ms": 0, "limit": "many"})  # fmt: skip
    with pg.batched_reads():
        pg.prefetch([tombstones.deleted_query("gone"), refused])  # the server refuses LIMIT
        assert "prefetching a feed's reads failed" in caplog.text
        assert tombstones.deleted_ms(pg, "gone") == 5  # read on its own
    assert pg.conn.raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_prefetched_answers_end_with_their_transaction(pg, postgres_url):
    """A read that fails inside the batch rolls its transaction back: what was prefetched in
    it is not served to the reads of the next one."""
    from functions.common.store import tombstones

    other = PostgresDatabase(postgres_url)
    with pg.batched_reads():
        pg.prefetch([tombstones.deleted_query("later")])
        with pytest.raises(psycopg.errors.UndefinedTable):
            pg.read(lambda c: c.execute("SELECT * FROM no_such_table"))
        _tombstone(other, "later", 7)
        assert tombstones.deleted_ms(pg, "later") == 7
    other.close()


def test_prefetch_keeps_each_statement_apart_and_checks_what_came_back(pg):
    conn = pg.conn
    with pg.batched_reads():
        conn.prefetch([("SELECT 1 AS a -- a trailing comment", None), ("SELECT 2 AS b", None)])
        assert conn.execute("SELECT 1 AS a -- a trailing comment").fetchone()["a"] == 1
        assert conn.execute("SELECT 2 AS b").fetchone()["b"] == 2
        with pytest.raises(psycopg.ProgrammingError):
            conn.prefetch([("SELECT 3 AS c; SELECT 4 AS d", None)])  # two answers for one
        assert conn.answers == {}
        conn.raw.rollback()


def test_contention_that_never_ends_is_busy(postgres_url):
    database = PostgresDatabase(postgres_url, retries=2, wait_seconds=1)

    def always_conflicts(conn):
        raise psycopg.errors.SerializationFailure("conflict")

    with pytest.raises(DatabaseBusyError):
        database.write(always_conflicts)
    database.close()


def test_migrations_are_recorded_and_run_again_harmlessly(pg):
    version = pg.schema_version()
    assert version >= 1
    assert pg.migrate() == version
    fresh = PostgresDatabase(pg.url)
    assert fresh.migrate() == version
    fresh.close()


def seeded(database) -> None:
    world = generate_world(
        WorldConfig(seed=5, users=60, items=80, events=3000, days=7, end_ms=FIXED_NOW_MS)
    )
    write_world(database, world)


def test_migrate_db_copies_the_demo_world_and_verifies_it(tmp_path, pg):
    source = SqliteDatabase(tmp_path / "demo.sqlite")
    source.migrate()
    seeded(source)
    report = copy_store(source, pg, state_path=tmp_path / "state.json")
    assert report.ok and not (tmp_path / "state.json").exists()
    assert report.tables["events"].rows == 3000 or report.tables["events"].rows > 2000
    back = SqliteDatabase(tmp_path / "back.sqlite")
    back.migrate()
    assert copy_store(pg, back).ok  # and back again, item row numbers included
    rowids = dict(back.conn.execute("SELECT item_id, rowid FROM items").fetchall())
    assert rowids == dict(source.conn.execute("SELECT item_id, rowid FROM items").fetchall())


def test_a_copy_leaves_the_planner_statistics_of_every_table(tmp_path, pg):
    source = SqliteDatabase(tmp_path / "s.sqlite")
    source.migrate()
    write_world(source, generate_world(WorldConfig(seed=5, users=20, items=30, events=400)))
    started = pg.read(lambda c: c.execute("SELECT clock_timestamp()").fetchone()[0])
    copy_store(source, pg)
    source.close()
    analysed = pg.read(lambda c: c.execute(
        "SELECT relname FROM pg_stat_user_tables WHERE last_analyze >= :started",
        {"started": started},
    ).fetchall())  # fmt: skip
    assert {"events", "items", "users"} <= {row[0] for row in analysed}


def test_an_interrupted_copy_resumes_where_it_stopped(tmp_path, pg, monkeypatch):
    from training import store_copy

    source = SqliteDatabase(tmp_path / "demo.sqlite")
    source.migrate()
    seeded(source)
    monkeypatch.setattr(store_copy, "CHUNK_ROWS", 500)
    state = tmp_path / "state.json"

    def stop_in_events(table, rows):
        if table == "events" and rows >= 1000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        copy_store(source, pg, state_path=state, progress=stop_in_events)
    saved = json.loads(state.read_text())
    assert saved["tables"]["events"]["copied"] == 1000 and not saved["tables"]["events"]["done"]
    assert saved["tables"]["users"]["done"]
    copied_after = []
    report = copy_store(
        source, pg, state_path=state, progress=lambda t, n: copied_after.append((t, n))
    )
    assert report.ok and "events" in report.resumed
    assert ("users", 60) not in copied_after  # finished tables are not copied again
    assert min(n for t, n in copied_after if t == "events") == 1500


def test_a_differing_copy_is_refused(tmp_path, pg):
    source = SqliteDatabase(tmp_path / "demo.sqlite")
    source.migrate()
    seeded(source)
    copy_store(source, pg)
    pg.write(
        lambda c: c.execute(
            "UPDATE events SET dwell_ms = 1 WHERE event_id IN (SELECT event_id FROM events LIMIT 1)"
        )
    )
    with pytest.raises(CopyMismatchError, match="events"):
        copy_store(source, pg)


def feeds(monkeypatch, url: str, users: list[str]) -> dict[str, list[str]]:
    monkeypatch.setenv("MEDIAREC_DATABASE_URL", url)
    monkeypatch.setenv("MEDIAREC_EXPLORATION_SHARE", "0")
    monkeypatch.setenv("MEDIAREC_AUTH", "off")
    reset_all()
    out = {}
    for user in users:
        status, body = invoke(
            handler, http_event("GET", f"/recommendations/{user}", query={"k": 10})
        )
        assert status == 200, body
        out[user] = [item["item_id"] for item in body["items"]]
    reset_all()
    return out


def test_the_same_world_serves_the_same_feeds_on_both_engines(tmp_path, postgres_url, monkeypatch):
    sqlite_url = f"sqlite:///{tmp_path / 'same.sqlite'}"
    for url in (sqlite_url, postgres_url):
        database = open_database(Settings(database_url=url))
        seeded(database)
        database.close()
    users = [f"u{n:05d}" for n in range(1, 13)] + ["someone-new"]
    on_sqlite = feeds(monkeypatch, sqlite_url, users)
    on_postgres = feeds(monkeypatch, postgres_url, users)
    assert on_sqlite == on_postgres
    assert all(len(items) == 10 for items in on_sqlite.values())
    rows = open_database(Settings(database_url=postgres_url))
    logged = rows.read(lambda c: fetch_all(c, "store/copy", "count_impressions"))
    assert int(logged[0][0]) == 10 * len(users)
    rows.close()


def test_the_same_log_gives_the_same_metrics_on_both_engines(tmp_path, pg, monkeypatch):
    """Feeds served and engaged with on SQLite, the store copied to PostgreSQL: every metric of
    the window (PaC, CTR, by position, AUC, coverage, novelty, diversity, the scheduled run's
    stored rows) is the same number on both."""
    from functions.common.clock import HOUR_MS
    from functions.metrics.logic import Window, window_metrics
    from functions.metrics.schedule import run_scheduled
    from tests.utils.factories import add_events

    path = tmp_path / "served.sqlite"
    sqlite_url = f"sqlite:///{path}"
    database = open_database(Settings(database_url=sqlite_url))
    seeded(database)
    database.close()
    users = [f"u{n:05d}" for n in range(1, 21)]
    served = feeds(monkeypatch, sqlite_url, users)
    source = SqliteDatabase(path)
    clicks = [
        {
            "user_id": user,
            "item_id": items[n % 3],
            "event_type": "click",
            "ts_ms": FIXED_NOW_MS + 60_000,
        }
        for n, (user, items) in enumerate(served.items())
        if n % 2 == 0
    ]
    add_events(source, clicks)
    copy_store(source, pg)
    settings = Settings(auth="off")
    window = Window(FIXED_NOW_MS - 2 * HOUR_MS, FIXED_NOW_MS + 2 * HOUR_MS)
    on_sqlite = source.read(lambda c: window_metrics(c, window, 10, None, settings))
    on_postgres = pg.read(lambda c: window_metrics(c, window, 10, None, settings))
    assert on_sqlite["pac"]["value"] > 0 and on_sqlite["pac"]["denominator"] == 200
    assert_same_numbers(on_postgres, on_sqlite)
    run_scheduled(source, FIXED_NOW_MS + 3 * HOUR_MS, settings)
    run_scheduled(pg, FIXED_NOW_MS + 3 * HOUR_MS, settings)
    query = (
        "SELECT name, granularity, window_start_ms, platform, model_version, arm, position, k, "
        "value, numerator, denominator FROM metrics ORDER BY 1, 2, 3, 4, 5, 6, 7, 8"
    )
    stored_sqlite = [tuple(r) for r in source.conn.execute(query).fetchall()]
    stored_postgres = [tuple(r) for r in pg.conn.execute(query).fetchall()]
    assert stored_sqlite
    assert_same_numbers(stored_postgres, stored_sqlite)
    source.close()


def assert_same_numbers(got, expected, where="") -> None:
    """Equal structures: counts, names and ids exactly; a float to 1e-12 relative, since
    PostgreSQL divides in numeric and sums in another order than SQLite's doubles (the last
    bit of a mean may differ, never a count)."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and got.keys() == expected.keys(), where
        for key in expected:
            assert_same_numbers(got[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(got, (list, tuple)) and len(got) == len(expected), where
        for n, (a, b) in enumerate(zip(got, expected, strict=True)):
            assert_same_numbers(a, b, f"{where}[{n}]")
    elif isinstance(expected, float) and not isinstance(got, bool):
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-15), where
    else:
        assert got == expected and type(got) is type(expected), where


def test_the_same_model_serves_the_same_feeds_on_both_engines(tmp_path, pg, monkeypatch):
    """A model trained and published on SQLite, the store copied to PostgreSQL: known users, a
    new user with a session and the filters get the same model feeds (ids, order, scores) from
    both engines' snapshots and reads."""
    from functions.common.clock import HOUR_MS
    from tests.utils.factories import add_events
    from tests.utils.training import FAST
    from training import pipeline
    from training.export import export_bundle
    from training.publish import publish

    path = tmp_path / "world.sqlite"
    database = SqliteDatabase(path)
    database.migrate()
    config = WorldConfig(seed=11, users=80, items=150, events=6000, end_ms=FIXED_NOW_MS)
    write_world(database, generate_world(config))
    prepared = pipeline.prepare(database, Settings.from_env(env_file=None))
    result = pipeline.train(prepared, FAST, progress=False)
    bundle = export_bundle(
        result.model, prepared.data, tmp_path / "bundle", model_version="m-same", metrics={},
        train_config=FAST.to_dict(),
    )  # fmt: skip
    publish(database, bundle, str(tmp_path / "models"), activate=True, now_ms=FIXED_NOW_MS)
    session = [{"user_id": "newcomer", "item_id": f"i{n:05d}", "event_type": "click",
                "ts_ms": FIXED_NOW_MS - HOUR_MS + n} for n in (3, 5, 8)]  # fmt: skip
    add_events(database, session)
    copy_store(database, pg)
    database.close()
    monkeypatch.setenv("MEDIAREC_MODELS_URI", str(tmp_path / "models"))

    def served(url: str) -> dict[str, list[tuple[str, str, float]]]:
        monkeypatch.setenv("MEDIAREC_DATABASE_URL", url)
        monkeypatch.setenv("MEDIAREC_EXPLORATION_SHARE", "0")
        monkeypatch.setenv("MEDIAREC_AUTH", "off")
        reset_all()
        out = {}
        asks = [(f"u{n:05d}", {"k": 10}) for n in range(1, 9)]
        asks += [("newcomer", {"k": 10}), ("u00002", {"k": 5, "kind": "video"})]
        for user, query in asks:
            status, body = invoke(
                handler, http_event("GET", f"/recommendations/{user}", query=query)
            )
            assert status == 200, body
            assert body["model_version"] == "m-same", body
            out[f"{user} {query}"] = [
                (i["item_id"], i["reason"], i["score"]) for i in body["items"]
            ]
        reset_all()
        return out

    on_sqlite = served(f"sqlite:///{path}")
    on_postgres = served(pg.url)
    assert on_postgres.keys() == on_sqlite.keys()
    for ask, items in on_sqlite.items():
        assert [i[:2] for i in on_postgres[ask]] == [i[:2] for i in items], ask
        assert [i[2] for i in on_postgres[ask]] == pytest.approx([i[2] for i in items], abs=1e-5)
    assert any(reason == "model" for items in on_sqlite.values() for _, reason, _ in items)
    assert _messages_per_warm_feed(pg.url, monkeypatch) == {
        "u00001": MESSAGES_PER_MODEL_FEED,
        # its half of the feed from the session; popular items, one more read, fill the rest
        "newcomer": MESSAGES_PER_MODEL_FEED + 1,
    }


MESSAGES_PER_MODEL_FEED = 6
"""What a warm feed of the model sends to the server, each message one round trip:
1. BEGIN and the reads that need nothing read before them: seen items, snapshots, tombstone,
   history, user features (prefetched);
2. the candidates the retrieval chose;
3. the newest items (exploration's pool);
4. COMMIT, BEGIN and the feed's row;
5. the impressions (pipelined);
6. COMMIT.
It was 43 before the reads shared one transaction and the independent ones one message
(2026-12-01)."""


def _count_messages(monkeypatch) -> list[str]:
    """From now on, every message psycopg sends (each execute, each pipelined executemany),
    appended to the list returned. Connection.execute goes through Cursor.execute."""
    sent: list[str] = []

    def counted(method):
        def call(self, query, *args, **kwargs):
            sent.append(str(query)[:60])
            return method(self, query, *args, **kwargs)

        return call

    for cls, name in (
        (psycopg.ClientCursor, "execute"),
        (psycopg.ClientCursor, "executemany"),
        (psycopg.Cursor, "execute"),
    ):
        monkeypatch.setattr(cls, name, counted(getattr(cls, name)))
    return sent


def test_a_batch_of_events_is_three_messages_however_long(pg, monkeypatch):
    """BEGIN with the first insert, the other inserts pipelined, COMMIT (a duplicate adds a
    lookup of its owner); each event's own outcome as before."""
    from functions.ingest.app import handler as ingest

    monkeypatch.setenv("MEDIAREC_DATABASE_URL", pg.url)
    monkeypatch.setenv("MEDIAREC_AUTH", "off")
    reset_all()
    events = [{"event_id": f"e{n}", "user_id": "u1", "item_id": f"i{n % 7}",
               "event_type": "view", "platform": "web"} for n in range(50)]  # fmt: skip
    warm = [{**events[0], "event_id": "warm"}]
    invoke(ingest, http_event("POST", "/events", body={"events": warm}))
    sent = _count_messages(monkeypatch)
    status, body = invoke(ingest, http_event("POST", "/events", body={"events": events}))
    assert status == 200, body
    assert len(sent) == 3, sent
    assert [item["status"] for item in body["results"]] == ["stored"] * 50
    status, body = invoke(ingest, http_event("POST", "/events", body={"events": events}))
    assert [item["status"] for item in body["results"]] == ["duplicate"] * 50  # a retried batch
    reset_all()


def _messages_per_warm_feed(url: str, monkeypatch) -> dict[str, int]:
    """Messages one warm feed sends, per user: every execute or executemany call of psycopg."""
    sent = _count_messages(monkeypatch)
    monkeypatch.setenv("MEDIAREC_DATABASE_URL", url)
    monkeypatch.setenv("MEDIAREC_AUTH", "off")
    monkeypatch.delenv("MEDIAREC_EXPLORATION_SHARE")  # the default: newest items are read too
    reset_all()
    counts = {}
    for user in ("u00001", "newcomer"):
        for _ in range(2):  # warm: bundle loaded, snapshots read into memory
            invoke(handler, http_event("GET", f"/recommendations/{user}", query={"k": 10}))
        sent.clear()
        status, body = invoke(handler, http_event("GET", f"/recommendations/{user}"))
        assert status == 200 and body["model_version"] == "m-same", body
        counts[user] = len(sent)
    reset_all()
    return counts
