"""Generations of serving snapshots: claim, write in chunks, publish, read.

A snapshot (see sql/migrations/0004_snapshots.sql) is the stored result of a query that is too
slow to run per request or on a cold start: the popularity ranking, the model's item features.
:func:`refresh` rebuilds one: it claims the snapshot (one refresher at a time, across
containers and processes: the claim expires after :data:`CLAIM_MS` if its holder dies), computes
the rows outside any write lock, writes them as a new generation in transactions of
:data:`CHUNK_ROWS` rows (so ingest is never blocked for long), then makes that generation current
in one short transaction and drops the generation two back (the previous one stays for requests
that read the old pointer a moment ago).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from functions.common.db import Database, execute, fetch_all, fetch_one
from functions.common.sql import query

logger = logging.getLogger(__name__)
CLAIM_MS = 300_000
CHUNK_ROWS = 5_000
TABLES = {"popularity": "popularity", "item_features": "item_features"}


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
    if family not in TABLES:
        raise ValueError(f"unknown snapshot {name!r}")
    return TABLES[family]


def read_snapshots(conn: sqlite3.Connection, names: Sequence[str]) -> dict[str, Snapshot]:
    rows = fetch_all(conn, "snapshots", "snapshots_named", {"names": list(names)})
    return {row["name"]: Snapshot.from_row(row) for row in rows}


def all_snapshots(db: Database) -> list[Snapshot]:
    rows = db.read(lambda c: fetch_all(c, "snapshots", "all_snapshots"))
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
        execute(conn, "snapshots", "ensure_snapshot", {"name": name, "info": json.dumps(info)})
        current = fetch_one(conn, "snapshots", "snapshot", {"name": name})
        if due is not None and current is not None and not due(Snapshot.from_row(current)):
            return None
        generation = int(fetch_one(conn, "snapshots", "next_generation")["generation"])  # type: ignore[index]
        params = {"name": name, "generation": generation, "now_ms": now_ms}
        claimed = execute(
            conn, "snapshots", "claim_snapshot", params | {"until_ms": now_ms + CLAIM_MS}
        )
        if claimed.rowcount != 1:
            return None
        if current is not None and current["pending_generation"] is not None:
            execute(
                conn,
                "snapshots",
                f"delete_{table_of(name)}_generation",
                {"generation": current["pending_generation"]},
            )
        return generation

    return db.write(claim)


def _write_rows(db: Database, name: str, generation: int, rows: Iterable[dict[str, Any]]) -> int:
    statement = query("snapshots", f"insert_{table_of(name)}")
    written = 0
    iterator = iter(rows)
    while chunk := [row | {"generation": generation} for row in islice(iterator, CHUNK_ROWS)]:
        db.write(lambda conn, chunk=chunk: conn.executemany(statement, chunk))  # type: ignore[misc]
        written += len(chunk)
    return written


def _publish(
    db: Database, name: str, generation: int, as_of_ms: int, rows: int, info: dict[str, Any]
) -> None:
    def publish(conn: sqlite3.Connection) -> None:
        current = fetch_one(conn, "snapshots", "snapshot", {"name": name})
        if current is None or current["pending_generation"] != generation:
            raise RuntimeError(f"snapshot {name}: lost the claim on generation {generation}")
        if current["previous_generation"] is not None:
            execute(
                conn,
                "snapshots",
                f"delete_{table_of(name)}_generation",
                {"generation": current["previous_generation"]},
            )
        execute(conn, "snapshots", "publish_snapshot", {
            "name": name, "generation": generation, "as_of_ms": as_of_ms,
            "built_ms": as_of_ms, "row_count": rows, "info": json.dumps(info),
        })  # fmt: skip

    db.write(publish)


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
        db.write(
            lambda conn: execute(
                conn, "snapshots", "release_claim", {"name": name, "generation": generation}
            )
        )
        raise
    logger.info("snapshot %s: generation %s, %s rows", name, generation, count)
    return True


def drop(db: Database, name: str) -> None:
    """Delete snapshot ``name`` and all its rows."""

    def work(conn: sqlite3.Connection) -> None:
        current = fetch_one(conn, "snapshots", "snapshot", {"name": name})
        if current is None:
            return
        for column in ("generation", "previous_generation", "pending_generation"):
            if current[column] is not None:
                execute(
                    conn,
                    "snapshots",
                    f"delete_{table_of(name)}_generation",
                    {"generation": current[column]},
                )
        execute(conn, "snapshots", "delete_snapshot", {"name": name})

    db.write(work)
