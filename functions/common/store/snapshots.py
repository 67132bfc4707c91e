"""Generations of serving snapshots: claim, write in chunks, publish, read.

A snapshot (see sql/migrations/0004_snapshots.sql) is the stored result of a query that is too
slow to run per request or on a cold start: the popularity ranking, the model's item features.
:func:`refresh` rebuilds one: it claims the snapshot (one refresher at a time, across
containers and processes: the claim expires after :data:`CLAIM_MS` if its holder dies), computes
the rows in one read transaction, writes them as a new generation in transactions of
:data:`CHUNK_ROWS` rows (so no write transaction holds the lock for long), then makes that
generation current in one short transaction and drops the generation two back (the previous one
stays for requests that read the old pointer a moment ago). In WAL mode the read blocks nobody;
with a rollback journal (EFS) writers wait for it to end, a few seconds per million events.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from functions.common.store import sql
from functions.common.store.db import Database, execute, fetch_all, fetch_all_of, fetch_one
from functions.common.store.sql import Query, query

logger = logging.getLogger(__name__)
CLAIM_MS = 300_000
CHUNK_ROWS = 5_000
DELETE_GENERATION = {
    "popularity": "delete_popularity_generation",
    "item_features": "delete_item_features_generation",
}
"""Per snapshot family (the name before ``:``), the query that deletes one generation's rows."""
INSERT_ROWS = {"popularity": "insert_popularity", "item_features": "insert_item_features"}
"""Per snapshot family, the query that inserts one row of a generation."""


class SnapshotGone(LookupError):
    """The generation a request read is no longer stored (a refresh after the next dropped it)."""


@dataclass(frozen=True)
class Snapshot:
    """The current generation of one snapshot (``generation`` None: never built)."""

    name: str
    generation: int | None
    as_of_ms: int | None
    built_ms: int | None
    row_count: int
    info: dict[str, Any]
    claimed_until_ms: int | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Snapshot:
        return cls(
            name=row["name"],
            generation=row["generation"],
            as_of_ms=row["as_of_ms"],
            built_ms=row["built_ms"],
            row_count=row["row_count"],
            info=json.loads(row["info"] or "{}"),
            claimed_until_ms=row["claimed_until_ms"],
        )

    @property
    def ready(self) -> bool:
        return self.generation is not None

    def age_seconds(self, now_ms: int) -> float | None:
        return None if self.as_of_ms is None else (now_ms - self.as_of_ms) / 1000

    def describe(self, now_ms: int) -> dict[str, Any]:
        """What /health and ``mediarec snapshots`` show."""
        age = self.age_seconds(now_ms)
        return {
            "name": self.name,
            "ready": self.ready,
            "rows": self.row_count,
            "age_seconds": None if age is None else round(age, 1),
            "refreshing": self.claimed_until_ms is not None and self.claimed_until_ms > now_ms,
        }


@dataclass(frozen=True)
class Built:
    """A build's rows, and what it learned that readers need (e.g. which platforms it saw)."""

    rows: list[dict[str, Any]]
    info: dict[str, Any]
    size: int | None = None  # what the snapshot holds, when not one thing per row


def table_of(name: str) -> str:
    """The data table family of a snapshot name ('item_features:<key>' -> 'item_features')."""
    family = name.split(":", 1)[0]
    if family not in INSERT_ROWS:
        raise ValueError(f"unknown snapshot {name!r}")
    return family


def named_query(names: Sequence[str]) -> Query:
    return sql.named("store/snapshots", "snapshots_named", {"names": list(names)})


def read_snapshots(conn: sqlite3.Connection, names: Sequence[str]) -> dict[str, Snapshot]:
    rows = fetch_all_of(conn, named_query(names))
    return {row["name"]: Snapshot.from_row(row) for row in rows}


def all_snapshots(db: Database) -> list[Snapshot]:
    rows = db.read(lambda c: fetch_all(c, "store/snapshots", "all_snapshots"))
    return [Snapshot.from_row(row) for row in rows]


def _claim(
    db: Database,
    name: str,
    info: dict[str, Any],
    now_ms: int,
    due: Callable[[Snapshot], bool] | None,
) -> int | None:
    """A new generation number for ``name`` if no one else is refreshing it (and, given
    ``due``, if it is still due: another process may have just refreshed it), else None. Rows
    left by a refresh that died holding an expired claim are deleted first."""

    def claim(conn: sqlite3.Connection) -> int | None:
        execute(
            conn, "store/snapshots", "ensure_snapshot", {"name": name, "info": json.dumps(info)}
        )
        current = fetch_one(conn, "store/snapshots", "snapshot", {"name": name})
        if due is not None and current is not None and not due(Snapshot.from_row(current)):
            return None
        claimable = current is None or (current["claimed_until_ms"] or 0) < now_ms
        if not claimable:
            return None
        generation = execute(conn, "store/snapshots", "new_generation", {"name": name}).fetchone()[
            0
        ]
        params = {"name": name, "generation": generation, "now_ms": now_ms}
        execute(conn, "store/snapshots", "claim_snapshot", params | {"until_ms": now_ms + CLAIM_MS})
        if current is not None and current["pending_generation"] is not None:
            _delete_rows(conn, name, current["pending_generation"])
        return int(generation)

    return db.write(claim)


class LostClaim(RuntimeError):
    """Another process took the snapshot over (this refresh's claim had expired)."""


def _still_claimed(conn: sqlite3.Connection, name: str, generation: int) -> None:
    current = fetch_one(conn, "store/snapshots", "snapshot", {"name": name})
    if current is None or current["pending_generation"] != generation:
        raise LostClaim(f"snapshot {name}: lost the claim on generation {generation}")


def _delete_rows(conn: sqlite3.Connection, name: str, generation: int) -> None:
    deletion = DELETE_GENERATION[table_of(name)]
    execute(conn, "store/snapshots", deletion, {"generation": generation})


def _write_rows(db: Database, name: str, generation: int, rows: Iterable[dict[str, Any]]) -> int:
    """Insert the rows in transactions of CHUNK_ROWS, each checking the claim is still ours."""
    statement = query("store/snapshots", INSERT_ROWS[table_of(name)])
    written = 0
    iterator = iter(rows)
    while chunk := [row | {"generation": generation} for row in islice(iterator, CHUNK_ROWS)]:

        def insert(conn: sqlite3.Connection, chunk: list[dict[str, Any]] = chunk) -> None:
            _still_claimed(conn, name, generation)
            conn.executemany(statement, chunk)

        db.write(insert)
        written += len(chunk)
    return written


def _publish(
    db: Database, name: str, generation: int, as_of_ms: int, rows: int, info: dict[str, Any]
) -> None:
    """Make ``generation`` current; the one before stays, the one before that is deleted."""

    def publish(conn: sqlite3.Connection) -> None:
        _still_claimed(conn, name, generation)
        current = fetch_one(conn, "store/snapshots", "snapshot", {"name": name})
        if current is not None and current["previous_generation"] is not None:
            _delete_rows(conn, name, current["previous_generation"])
        execute(conn, "store/snapshots", "publish_snapshot", {
            "name": name, "generation": generation, "as_of_ms": as_of_ms,
            "built_ms": time.time_ns() // 1_000_000, "row_count": rows, "info": json.dumps(info),
        })  # fmt: skip

    db.write(publish)


def _abandon(db: Database, name: str, generation: int) -> None:
    """After a failed refresh: delete what it wrote and end its claim if it still holds it."""

    def abandon(conn: sqlite3.Connection) -> None:
        _delete_rows(conn, name, generation)
        params = {"name": name, "generation": generation}
        execute(conn, "store/snapshots", "release_claim", params)

    db.write(abandon)


def refresh(
    db: Database,
    name: str,
    build: Callable[[sqlite3.Connection], Built],
    info: dict[str, Any],
    now_ms: int,
    due: Callable[[Snapshot], bool] | None = None,
) -> bool:
    """Rebuild snapshot ``name`` from ``build(conn)`` (run in one read transaction, as of
    ``now_ms``) and record ``info`` plus what the build adds to it; False when another refresh
    holds the claim or ``due`` says the current generation no longer needs it."""
    generation = _claim(db, name, info, now_ms, due)
    if generation is None:
        return False
    try:
        built = db.read(build)
        count = _write_rows(db, name, generation, built.rows)
        if built.size is not None:
            count = built.size
        _publish(db, name, generation, now_ms, count, info | built.info)
    except BaseException:
        _abandon(db, name, generation)
        raise
    logger.info("snapshot %s: generation %s, %s rows", name, generation, count)
    return True


def drop(db: Database, name: str, now_ms: int, expected_generation: int | None = None) -> bool:
    """Delete snapshot ``name`` and all its rows, unless a refresh holds a live claim on it or
    (given ``expected_generation``) it was refreshed since the caller looked. True if dropped."""

    def work(conn: sqlite3.Connection) -> bool:
        current = fetch_one(conn, "store/snapshots", "snapshot", {"name": name})
        if current is None or (current["claimed_until_ms"] or 0) >= now_ms:
            return False
        if expected_generation is not None and current["generation"] != expected_generation:
            return False
        for column in ("generation", "previous_generation", "pending_generation"):
            if current[column] is not None:
                _delete_rows(conn, name, current[column])
        execute(conn, "store/snapshots", "delete_snapshot", {"name": name})
        return True

    return db.write(work)
