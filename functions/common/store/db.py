"""The store, whatever the engine: one :class:`Database` per container, its named queries, retries.

Two engines implement :class:`Database`, chosen by ``MEDIAREC_DATABASE_URL``:

- ``sqlite:///path`` (or nothing: ``MEDIAREC_DB_PATH``), the embedded default:
  :class:`~functions.common.store.sqlite_engine.SqliteDatabase`;
- ``postgresql://...``: :class:`~functions.common.store.postgres_engine.PostgresDatabase`
  (psycopg 3, imported only when such a URL is used, so the SQLite cold start never pays for it).

Both run the same named queries of ``sql/*.sql``; where PostgreSQL needs other text, a
``sql/<file>.postgresql.sql`` beside the portable file overrides the queries it names
(:func:`functions.common.store.sql.query`). Writes go through :meth:`Database.write`, one unit of
work in one transaction, retried whole while the engine reports contention (SQLite: the file is
busy; PostgreSQL: a serialization failure, SQLSTATE 40001, or a dropped connection), for at most
``wait_seconds`` in all before :class:`DatabaseBusyError` (the API answers 503 with
``Retry-After``). A unit of work must therefore be safe to run again: every write in this project
is idempotent (primary keys, ``ON CONFLICT``).
"""

from __future__ import annotations

import functools
import random
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, Protocol, TypeVar

from functions.common import caches
from functions.common.settings import Settings, get_settings
from functions.common.store import sql
from functions.common.store.sql import Query

T = TypeVar("T")

FIRST_BACKOFF_SECONDS = 0.01  # the sleep before the first retry, doubled after each (jittered)
MAX_BACKOFF_SECONDS = 0.5
MAX_RIDERS = 256
"""Bookkeeping writes waiting for the next transaction (see :meth:`Database.ride_along`)."""


class DatabaseBusyError(RuntimeError):
    """The database stayed contended for the whole wait bound (or every retry); answer 503."""


class Row(Protocol):
    """A result row: by position and by column name, with ``keys()`` (``sqlite3.Row``'s shape)."""

    def __getitem__(self, key: int | str, /) -> Any: ...
    def __len__(self) -> int: ...
    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """What queries are run on: a ``sqlite3.Connection`` or the PostgreSQL engine's wrapper.

    ``dialect`` names the engine (``"sqlite"`` or ``"postgresql"``): which override of a named
    query applies. Statements take ``:name`` parameters on both engines."""

    dialect: str

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...
    def executemany(self, sql: str, parameters: Any, /) -> Any: ...


def dialect_of(conn: Any) -> str:
    """The engine a connection belongs to; a plain ``sqlite3.Connection`` is SQLite."""
    return getattr(conn, "dialect", "sqlite")


def store_errors() -> tuple[type[Exception], ...]:
    """The error classes of the engines loaded in this process, for a command that reports a
    store's error instead of a traceback (psycopg's only once a PostgreSQL store was opened)."""
    import sqlite3

    psycopg = sys.modules.get("psycopg")
    return (sqlite3.Error, psycopg.Error) if psycopg is not None else (sqlite3.Error,)


def holds_temporary_tables(conn: Any) -> bool:
    """Whether queries on ``conn`` may fill temporary tables: SQLite's; not the PostgreSQL
    engine's, which keeps to Aurora DSQL's subset (computed relations live in CTEs there)."""
    return dialect_of(conn) == "sqlite"


def migration_files(dialect: str = "sqlite") -> list[tuple[int, Path]]:
    """The engine's migrations in version order: ``sql/migrations/NNNN_name.sql`` for SQLite,
    ``sql/migrations/postgresql/NNNN_name.sql`` for PostgreSQL."""
    folder = sql.sql_dir() / "migrations"
    if dialect != "sqlite":
        folder = folder / dialect
    found = []
    for path in sorted(folder.glob("*.sql")):
        version = int(path.name.split("_", 1)[0])
        found.append((version, path))
    versions = [v for v, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"migration versions must be 1..N without gaps, found {versions}")
    return found


def retry_while(
    attempt: Callable[[float], T],
    contended: Callable[[BaseException], bool],
    *,
    wait_seconds: float,
    retries: int,
    what: str,
) -> T:
    """``attempt(seconds_left)``, again after a jittered, growing sleep while ``contended(error)``,
    until ``wait_seconds`` have passed or ``retries`` are spent; then :class:`DatabaseBusyError`."""
    started = time.monotonic()
    deadline = started + wait_seconds
    backoff = FIRST_BACKOFF_SECONDS
    tries = 0
    while True:
        try:
            return attempt(deadline - time.monotonic())
        except Exception as error:
            if not contended(error):
                raise
            last = error
        left = deadline - time.monotonic()
        if tries >= retries or left <= 0:
            raise DatabaseBusyError(
                f"{what} for {time.monotonic() - started:.2f} s ({tries + 1} attempts)"
            ) from last
        tries += 1
        time.sleep(min(left, backoff * (0.5 + random.random())))
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)


class Database(ABC):
    """One engine's connection, shared by the requests of a container (thread-safe)."""

    dialect: str
    path: str
    """Where the store is, for messages: the SQLite file, or the server URL without a password."""
    read_only: bool = False

    @abstractmethod
    def write(self, work: Callable[[Any], T]) -> T:
        """Run ``work(conn)`` in one transaction, retried whole while contended."""

    @abstractmethod
    def read(self, work: Callable[[Any], T]) -> T:
        """Run read-only ``work(conn)`` in one snapshot, retried while contended."""

    @abstractmethod
    def reading(self) -> AbstractContextManager[Any]:
        """A consistent snapshot for several reads, not retried."""

    def prefetch(self, queries: Sequence[Query]) -> None:
        """Inside :meth:`batched_reads` on a server engine: send these independent reads in
        one message, and answer the block's later identical reads (same statement, same
        parameters) from what came back. Anywhere else, nothing: the reads run when asked."""
        return None

    def batched_reads(self) -> AbstractContextManager[None]:
        """A block whose reads may share one read transaction where each transaction costs
        round trips (a server engine); a write inside ends it. SQLite's reads are in-process
        and stay short, so that they never hold the file's shared lock across the block."""
        return nullcontext()

    @abstractmethod
    def ride_along(self, bookkeeping: Callable[[Any], None]) -> None:
        """Run ``bookkeeping(conn)`` with the next write transaction: inside it, after its work,
        on SQLite (no fsync of its own); right after its commit on PostgreSQL."""

    @abstractmethod
    def migrate(self) -> int:
        """Apply pending migrations exactly once; the schema version after."""

    @abstractmethod
    def schema_version(self) -> int: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def reader(self) -> Database:
        """A second, read-only connection to the same store (long offline reads: training)."""


def execute(conn: Any, file: str, name: str, params: Mapping[str, Any] | None = None) -> Any:
    """Run the named query ``name`` of ``sql/<file>.sql`` (the engine's override where one
    exists) with named parameters; the engine's cursor."""
    text, bound = sql.expand_params(sql.query(file, name, dialect_of(conn)), params or {})
    return conn.execute(text, bound)


def fetch_all(conn: Any, file: str, name: str, params: Mapping[str, Any] | None = None) -> list:
    rows: list = execute(conn, file, name, params).fetchall()
    return rows


def fetch_tuples(
    conn: Any, file: str, name: str, params: Mapping[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """Rows as plain tuples in select-list order: for hot paths that read many columns."""
    text, bound = sql.expand_params(sql.query(file, name, dialect_of(conn)), params or {})
    if dialect_of(conn) == "sqlite":
        cursor = conn.execute(text, bound)
        cursor.row_factory = None
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows
    tuples: list[tuple[Any, ...]] = conn.execute_tuples(text, bound)
    return tuples


def fetch_all_of(conn: Any, query: Query) -> list:
    """:func:`fetch_all` of a :data:`Query` (``sql.named``)."""
    file, name, params = query
    return fetch_all(conn, file, name, params)


def fetch_one_of(conn: Any, query: Query) -> Any:
    """:func:`fetch_one` of a :data:`Query` (``sql.named``)."""
    file, name, params = query
    return fetch_one(conn, file, name, params)


def fetch_one(conn: Any, file: str, name: str, params: Mapping[str, Any] | None = None) -> Any:
    return execute(conn, file, name, params).fetchone()


def execute_each(conn: Any, file: str, name: str, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Run the named statement once per row, in order, in the caller's transaction; how many
    rows each run changed. On PostgreSQL the runs after the first go in one pipeline (one round
    trip for a batch, not one per row); on SQLite each is an :func:`execute`. The statement
    takes no list parameters."""
    text = sql.query(file, name, dialect_of(conn))
    expanded = [sql.expand_params(text, row) for row in rows]
    if any(expanded_text != text for expanded_text, _ in expanded):
        raise ValueError(f"{file}:{name} takes a list parameter: run it row by row")
    runner = getattr(conn, "execute_each", None)
    if runner is None or not rows:
        return [execute(conn, file, name, row).rowcount for row in rows]
    counts: list[int] = runner(text, [params for _, params in expanded])
    return counts


def executemany(conn: Any, query: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """Run one statement (text from :func:`functions.common.store.sql.query`) for each row;
    how many rows it changed (inserts that hit a conflict do not count)."""
    if not rows:
        return 0
    return max(conn.executemany(query, rows).rowcount, 0)


def connect(settings: Settings) -> Database:
    """The store the settings name, opened (not migrated)."""
    path = settings.sqlite_path
    if path is None:
        from functions.common.store.postgres_engine import PostgresDatabase

        return PostgresDatabase(
            settings.database_url,
            retries=settings.write_retries,
            wait_seconds=settings.write_wait_seconds,
            secret_arn=settings.database_secret_arn,
        )
    from functions.common.store.sqlite_engine import SqliteDatabase

    return SqliteDatabase(
        path,
        journal_mode=settings.journal_mode,
        busy_timeout_ms=settings.busy_timeout_ms,
        retries=settings.write_retries,
        wait_seconds=settings.write_wait_seconds,
    )


def open_database(settings: Settings) -> Database:
    """Open (creating if needed) and migrate the database the settings name."""
    database = connect(settings)
    database.migrate()
    return database


@functools.cache
def get_database() -> Database:
    """The container's database, opened and migrated on first use, reused while warm."""
    return open_database(get_settings())


@caches.register
def close_database() -> None:
    """Close the container's connection, if one is open, and forget it."""
    if get_database.cache_info().currsize:
        get_database().close()
    get_database.cache_clear()


def iterate_chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
