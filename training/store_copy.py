"""Copy a whole store from one engine to another: `mediarec migrate-db`, and training's local copy.

Every table is read in key order a chunk at a time and written in one transaction per chunk (at
most :data:`CHUNK_ROWS` rows, under Aurora DSQL's 3,000-row limit), with ``ON CONFLICT DO NOTHING``
(``sql/store/copy.sql``). After each chunk the last key copied is saved in a state file, so that a
copy stopped midway (a crash, Ctrl-C, a dropped connection) resumes where it stopped instead of
starting over; a chunk that was written but not yet recorded is written again harmlessly. At the
end every table's row count and checksum are compared between the two stores: the checksum is
the sum, modulo 2^64, of a SHA-256 prefix of each row's canonical JSON, so it does not depend on
the order either engine returns rows in.
"""

from __future__ import annotations

import functools
import hashlib
import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from functions.common.settings import Settings
from functions.common.store import sql
from functions.common.store.db import Database, execute, fetch_all, fetch_one, migration_files
from functions.common.store.sqlite_engine import SqliteDatabase

CHUNK_ROWS = 2000
"""Rows per read and per write transaction (Aurora DSQL allows at most 3,000 per transaction)."""


KEYS: dict[str, tuple[str, ...]] = {
    "users": ("user_id",),
    "items": ("item_id",),
    "item_categories": ("item_id", "category"),
    "events": ("event_id",),
    "recommendations": ("recommendation_id",),
    "impressions": ("recommendation_id", "item_id"),
    "metrics": (
        "name",
        "granularity",
        "window_start_ms",
        "platform",
        "model_version",
        "arm",
        "position",
        "k",
    ),
    "models": ("version",),
    "training_runs": ("run_id",),
    "snapshots": ("name",),
    "snapshot_generations": ("generation",),
    "popularity_snapshot": ("generation", "platform", "rank"),
    "item_features_snapshot": ("generation",),
    "api_keys": ("key_id",),
    "deleted_users": ("user_hash",),
}
"""Every table, in copy order, with the key it is read in order of (sql/store/copy.sql)."""
FIRSTS = {
    "users": "first_users",
    "items": "first_items",
    "item_categories": "first_item_categories",
    "events": "first_events",
    "recommendations": "first_recommendations",
    "impressions": "first_impressions",
    "metrics": "first_metrics",
    "models": "first_models",
    "training_runs": "first_training_runs",
    "snapshots": "first_snapshots",
    "snapshot_generations": "first_snapshot_generations",
    "popularity_snapshot": "first_popularity_snapshot",
    "item_features_snapshot": "first_item_features_snapshot",
    "api_keys": "first_api_keys",
    "deleted_users": "first_deleted_users",
}
READS = {
    "users": "read_users",
    "items": "read_items",
    "item_categories": "read_item_categories",
    "events": "read_events",
    "recommendations": "read_recommendations",
    "impressions": "read_impressions",
    "metrics": "read_metrics",
    "models": "read_models",
    "training_runs": "read_training_runs",
    "snapshots": "read_snapshots",
    "snapshot_generations": "read_snapshot_generations",
    "popularity_snapshot": "read_popularity_snapshot",
    "item_features_snapshot": "read_item_features_snapshot",
    "api_keys": "read_api_keys",
    "deleted_users": "read_deleted_users",
}
WRITES = {
    "users": "write_users",
    "items": "write_items",
    "item_categories": "write_item_categories",
    "events": "write_events",
    "recommendations": "write_recommendations",
    "impressions": "write_impressions",
    "metrics": "write_metrics",
    "models": "write_models",
    "training_runs": "write_training_runs",
    "snapshots": "write_snapshots",
    "snapshot_generations": "write_snapshot_generations",
    "popularity_snapshot": "write_popularity_snapshot",
    "item_features_snapshot": "write_item_features_snapshot",
    "api_keys": "write_api_keys",
    "deleted_users": "write_deleted_users",
}
COUNTS = {
    "users": "count_users",
    "items": "count_items",
    "item_categories": "count_item_categories",
    "events": "count_events",
    "recommendations": "count_recommendations",
    "impressions": "count_impressions",
    "metrics": "count_metrics",
    "models": "count_models",
    "training_runs": "count_training_runs",
    "snapshots": "count_snapshots",
    "snapshot_generations": "count_snapshot_generations",
    "popularity_snapshot": "count_popularity_snapshot",
    "item_features_snapshot": "count_item_features_snapshot",
    "api_keys": "count_api_keys",
    "deleted_users": "count_deleted_users",
}


class CopyMismatchError(RuntimeError):
    """The copy's row counts or checksums differ from the source's."""


@dataclass
class TableReport:
    rows: int = 0
    copied: int = 0
    checksum: str = ""
    matches: bool = False


@dataclass
class CopyReport:
    tables: dict[str, TableReport] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(t.matches for t in self.tables.values())


def _canonical(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"bytes": bytes(value).hex()}
    if isinstance(value, float):
        return {"float": repr(value)}
    return value


def row_digest(row: Any) -> int:
    text = json.dumps([_canonical(row[i]) for i in range(len(row))], separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _read_rows(table: str, params: dict[str, Any], conn: Any) -> list[Any]:
    if params["first"]:
        return fetch_all(conn, "store/copy", FIRSTS[table], params)
    return fetch_all(conn, "store/copy", READS[table], params)


def _write_rows(statement: str, values: list[dict[str, Any]], conn: Any) -> None:
    conn.executemany(statement, values)


def _count_rows(table: str, conn: Any) -> int:
    return int(fetch_one(conn, "store/copy", COUNTS[table])[0])


def _chunks(database: Database, table: str, after: list[Any] | None) -> Iterator[list[Any]]:
    """The table's rows in key order, CHUNK_ROWS at a time, after the key ``after``."""
    while True:
        params: dict[str, Any] = {"first": 1 if after is None else 0, "limit": CHUNK_ROWS}
        for number, column in enumerate(KEYS[table]):
            params[f"after_{column}"] = None if after is None else after[number]
        rows = database.read(functools.partial(_read_rows, table, params))
        if not rows:
            return
        yield rows
        last = rows[-1]
        after = [last[column] for column in KEYS[table]]
        if len(rows) < CHUNK_ROWS:
            return


def table_checksum(database: Database, table: str) -> tuple[int, str]:
    total, count = 0, 0
    for rows in _chunks(database, table, None):
        for row in rows:
            total = (total + row_digest(row)) % (1 << 64)
            count += 1
    return count, f"{total:016x}"


def _load_state(path: Path | None) -> dict[str, Any]:
    if path is None or not path.is_file():
        return {}
    state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return state


def _save_state(path: Path | None, state: dict[str, Any]) -> None:
    if path is None:
        return
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(state, indent=1), encoding="utf-8")
    temporary.replace(path)


def copy_store(
    source: Database,
    target: Database,
    *,
    state_path: Path | None = None,
    progress: Callable[[str, int], None] | None = None,
    verify: bool = True,
) -> CopyReport:
    """Copy every table of ``source`` into ``target`` (both migrated to the current schema),
    resuming from ``state_path`` when it records an earlier, unfinished copy; then compare row
    counts and checksums (:class:`CopyMismatchError` when they differ)."""
    state = _load_state(state_path)
    identity = {"from": source.path, "to": target.path}
    if state and state.get("identity") != identity:
        raise ValueError(
            f"{state_path} records a copy from {state.get('identity', {}).get('from')} to "
            f"{state.get('identity', {}).get('to')}, not this one: remove it or use another --state"
        )
    state.setdefault("identity", identity)
    tables: dict[str, Any] = state.setdefault("tables", {})
    report = CopyReport()
    for table in KEYS:
        done = tables.setdefault(table, {"after": None, "copied": 0, "done": False})
        entry = TableReport(copied=done["copied"])
        if done["after"] is not None or done["done"]:
            report.resumed.append(table)
        if not done["done"]:
            statement = sql.query("store/copy", WRITES[table], target.dialect)
            for rows in _chunks(source, table, done["after"]):
                values = [dict(zip(row.keys(), tuple(row), strict=True)) for row in rows]
                target.write(functools.partial(_write_rows, statement, values))
                done["after"] = [rows[-1][column] for column in KEYS[table]]
                done["copied"] += len(rows)
                _save_state(state_path, state)
                if progress is not None:
                    progress(table, done["copied"])
            done["done"] = True
            _save_state(state_path, state)
        entry.copied = done["copied"]
        report.tables[table] = entry
    if target.dialect == "postgresql":
        target.write(lambda conn: execute(conn, "store/schema", "refresh_statistics"))
    if verify:
        verify_copy(source, target, report)
    if state_path is not None and report.ok and state_path.exists():
        state_path.unlink()  # finished and verified: nothing to resume
    return report


def verify_copy(source: Database, target: Database, report: CopyReport) -> None:
    """Row counts and checksums of every table in both stores, into ``report``."""
    wrong = []
    for table in KEYS:
        entry = report.tables.setdefault(table, TableReport())
        rows, checksum = table_checksum(source, table)
        copied = int(target.read(functools.partial(_count_rows, table)))
        _, copied_checksum = table_checksum(target, table)
        entry.rows, entry.checksum = rows, checksum
        entry.matches = rows == copied and checksum == copied_checksum
        if not entry.matches:
            wrong.append(
                f"{table}: {rows} rows, checksum {checksum} in the source; "
                f"{copied} rows, checksum {copied_checksum} in the copy"
            )
    if wrong:
        raise CopyMismatchError(
            "the copy differs from the source: " + "; ".join(wrong) + ". Rows written to the "
            "source during the copy are the usual cause: stop writes, empty the target (or use "
            "a new one), remove the state file and copy again"
        )


def open_source(settings: Settings) -> Database:
    """The store to copy from, opened read-only: a SQLite file is neither migrated nor switched
    to another journal mode (another container may be using it); it must hold the current
    schema already (``mediarec migrate`` upgrades it)."""
    path = settings.sqlite_path
    if path is None:
        from functions.common.store.postgres_engine import PostgresDatabase

        source: Database = PostgresDatabase(
            settings.database_url, retries=settings.write_retries, read_only=True
        )
    else:
        if not path.is_file():
            raise ValueError(f"no SQLite file at {path}")
        source = SqliteDatabase(path, read_only=True, busy_timeout_ms=settings.busy_timeout_ms)
    expected = len(migration_files(source.dialect))
    if source.schema_version() != expected:
        version = source.schema_version()
        source.close()
        raise ValueError(
            f"{settings.database_url or path} is at schema version {version}, not {expected}: "
            "run `mediarec migrate` on it first"
        )
    return source


@contextmanager
def local_reader(database: Database) -> Iterator[SqliteDatabase]:
    """A read-only SQLite connection to ``database``'s contents, for the offline reads that fill
    temporary tables (training): the store itself when it is SQLite, else a copy of it in a
    temporary file, removed afterwards."""
    if isinstance(database, SqliteDatabase):
        reader = database.reader()
        try:
            yield reader
        finally:
            reader.close()
        return
    with tempfile.TemporaryDirectory(prefix="mediarec-local-copy-") as folder:
        path = Path(folder) / "store.sqlite"
        copy = SqliteDatabase(path, journal_mode="delete")
        try:
            copy.migrate()
            copy_store(database, copy, verify=False)
        finally:
            copy.close()
        reader = SqliteDatabase(path, read_only=True)
        try:
            yield reader
        finally:
            reader.close()
