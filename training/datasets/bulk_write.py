"""The writes the dataset loaders share: event rows for the ingest query, ``executemany`` that
counts the rows it changed, the catalog write (users, items, their category rows), one write
transaction under a large SQLite page cache, and the progress bar they show.

Heavy dependencies (the queries, tqdm) are imported where they are used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from functions.common.store.sqlite_engine import SqliteDatabase

if TYPE_CHECKING:
    import sqlite3

    from tqdm import tqdm

    from functions.common.store.db import Database

T = TypeVar("T")

EVENT_CHUNK = 20_000  # events per executemany inside the one transaction (progress granularity)
IMPORT_CACHE_KIB = 262_144  # SQLite page cache while importing: random-key inserts run 2x faster


def event_row(
    event_id: str, user_id: str, item_id: str, event_type: str, platform: str, ts_ms: int
) -> dict[str, Any]:
    """The parameters of the ``insert_event`` ingest query for one historical event."""
    return {
        "event_id": event_id,
        "user_id": user_id,
        "item_id": item_id,
        "event_type": event_type,
        "platform": platform,
        "ts_ms": ts_ms,
        "received_ms": ts_ms,  # historical data: received when it happened
        "recommendation_id": None,
        "position": None,
        "dwell_ms": None,
    }


def progress_bar(total: int, desc: str, unit: str, enabled: bool) -> tqdm[Any]:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=not enabled)


def executemany(conn: sqlite3.Connection, query: str, rows: Sequence[dict[str, Any]]) -> int:
    """Rows changed (inserted or updated) by ``query`` over ``rows``."""
    if not rows:
        return 0
    return max(conn.executemany(query, rows).rowcount, 0)


def write_catalog(
    conn: sqlite3.Connection,
    user_rows: Sequence[dict[str, Any]],
    item_rows: Sequence[dict[str, Any]],
    category_rows: Sequence[dict[str, Any]],
) -> tuple[int, int, int]:
    """Upsert users and items, replace the items' category rows; returns the rows written to
    users, items and item_categories."""
    from functions.common.store import sql
    from functions.common.store.db import dialect_of

    users = executemany(conn, sql.query("ingest", "upsert_user", dialect_of(conn)), user_rows)
    items = executemany(conn, sql.query("ingest", "upsert_item", dialect_of(conn)), item_rows)
    executemany(
        conn,
        sql.query("ingest", "delete_item_categories", dialect_of(conn)),
        [{"item_id": row["item_id"]} for row in item_rows],
    )
    categories = executemany(
        conn, sql.query("ingest", "insert_item_category", dialect_of(conn)), category_rows
    )
    return users, items, categories


@contextmanager
def large_page_cache(conn: sqlite3.Connection) -> Iterator[None]:
    """Let SQLite cache up to IMPORT_CACHE_KIB of pages (the default is 2 MiB) while loading."""
    previous = int(conn.execute("PRAGMA cache_size").fetchone()[0])
    conn.execute(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA cache_size = {previous}")


def write_at_once(database: Database, load: Callable[[sqlite3.Connection], T]) -> T:
    """``load`` in ONE write transaction (run again from the start if it is retried), under a
    large page cache: the file is either loaded or not, never half."""
    if not isinstance(database, SqliteDatabase):
        return database.write(load)
    with large_page_cache(database.conn):
        return database.write(load)
