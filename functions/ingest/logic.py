"""Ingest logic: validate item by item, store the valid ones in one transaction, report each."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from functions.common.clock import event_time_bounds, published_time_bounds
from functions.common.http.errors import ApiError, validation_errors
from functions.common.http.schemas import (
    BatchResult,
    DeletedUser,
    EventIn,
    FieldError,
    ItemIn,
    ItemResult,
    TimeRule,
    UserIn,
)
from functions.common.settings import Settings
from functions.common.store.db import (
    Database,
    dialect_of,
    execute,
    execute_each,
    executemany,
    fetch_all,
)
from functions.common.store.sql import query

M = TypeVar("M", bound=BaseModel)


def unpack_batch(body: Any, key: str, max_batch: int) -> list[Any]:
    """A body holding one object, ``{key: [...]}`` or a bare list, as a list of raw items."""
    if isinstance(body, dict) and key in body:
        extra = sorted(set(body) - {key})
        if extra:  # the wrapper form holds nothing else; a valid batch beside it is not stored
            raise ApiError(
                422,
                "validation_error",
                f"a {{{key!r}: [...]}} body holds no other field",
                [{"field": name[:64], "reason": "unknown field"} for name in extra[:20]],
            )
        items = body[key]
        if not isinstance(items, list):
            raise ApiError(
                422,
                "validation_error",
                f"{key} must be a list",
                [{"field": key, "reason": "must be a list"}],
            )
    elif isinstance(body, list):
        items = body
    elif isinstance(body, dict):
        return [body]
    else:
        raise ApiError(
            422,
            "validation_error",
            "the body must be a JSON object or list",
            [{"field": "body", "reason": f"expected an object, got {type(body).__name__}"}],
        )
    if not items:
        raise ApiError(
            422, "validation_error", "the batch is empty", [{"field": key, "reason": "empty batch"}]
        )
    if len(items) > max_batch:
        raise ApiError(  # a schema violation (maxItems), not a body too large to read
            422,
            "batch_too_large",
            f"a batch holds at most {max_batch} {key}",
            [{"field": key, "reason": f"{len(items)} {key}, more than {max_batch}"}],
        )
    return items


def _readable_id(raw: Any, field: str) -> str | None:
    if isinstance(raw, dict) and isinstance(raw.get(field), str):
        return str(raw[field])[:128]
    return None


def validate_each(
    raw_items: list[Any], model: type[M], id_field: str, context: dict[str, Any]
) -> tuple[list[tuple[int, M]], list[ItemResult]]:
    """Validate every raw item; returns the valid ones and a rejection result for the rest."""
    valid: list[tuple[int, M]] = []
    rejected: list[ItemResult] = []
    for index, raw in enumerate(raw_items):
        try:
            valid.append((index, model.model_validate(raw, context=context)))
        except ValidationError as error:
            rejected.append(
                ItemResult(
                    index=index,
                    id=_readable_id(raw, id_field),
                    status="rejected",
                    errors=[FieldError(**e) for e in validation_errors(error)],
                )
            )
    return valid, rejected


def status_code(result: BatchResult) -> int:
    """200 when nothing was rejected, 207 (Multi-Status) when some items were, and when all
    were: 409 if every one was a conflict (an event_id another user's event holds: a state the
    request could not know, not a malformed request), else 422."""
    if result.rejected == 0:
        return 200
    if result.rejected < len(result.results):
        return 207
    return 409 if all(r.status == "conflict" for r in result.results) else 422


def write_answer(result: BatchResult, key: str) -> tuple[int, dict[str, Any]]:
    """The status and JSON content of a write's answer (the route and the fast path alike)."""
    status = status_code(result)
    content = result.model_dump()
    if status in (409, 422):  # nothing stored: also the error shape every 4xx has
        content.update(rejection_summary(result, key, conflict=status == 409))
    return status, content


def rejection_summary(result: BatchResult, key: str, conflict: bool = False) -> dict[str, Any]:
    """``error``/``message``/``errors`` for a write whose every item was rejected; field paths
    name the item (``events[2].ts``) when there was more than one."""
    several = len(result.results) > 1
    errors = [
        {"field": f"{key}[{r.index}].{e.field}" if several else e.field, "reason": e.reason}
        for r in result.results
        for e in r.errors
    ]
    return {
        "error": "conflict" if conflict else "validation_error",
        "message": f"every one of the {key} was rejected",
        "errors": errors,
    }


Status = Literal["stored", "duplicate", "upserted", "rejected", "conflict"]


def _outcome(
    index: int, id_: str, status: Status, errors: list[FieldError] | None = None
) -> ItemResult:
    """An item's result from values this module made (a known status, a validated id): built
    without validating them again, which was the largest cost of a batch of 500."""
    return ItemResult.model_construct(index=index, id=id_, status=status, errors=errors or [])


def _summarise(results: list[ItemResult]) -> BatchResult:
    results.sort(key=lambda r: r.index)
    count = {s: sum(r.status == s for r in results) for s in ("stored", "upserted", "duplicate")}
    return BatchResult(
        stored=count["stored"] + count["upserted"],
        duplicates=count["duplicate"],
        rejected=sum(r.status in ("rejected", "conflict") for r in results),
        results=results,
    )


def event_time_rule(now_ms: int, settings: Settings) -> TimeRule:
    """Events within the horizon (``MEDIAREC_EVENT_MAX_AGE_DAYS``) and the clock-skew tolerance."""
    return TimeRule(
        event_time_bounds(now_ms, settings.event_max_age_days, settings.event_future_tolerance_s),
        too_old=f"older than the {settings.event_max_age_days:g}-day horizon",
        too_new=f"more than {settings.event_future_tolerance_s:g} s in the future",
    )


def published_time_rule(now_ms: int, settings: Settings) -> TimeRule:
    return TimeRule(
        published_time_bounds(now_ms, settings.event_future_tolerance_s),
        too_old="",
        too_new="in the future; post an item when it is published",
    )


TAKEN = "already the id of another user's event; use a unique id (e.g. a UUID)"


def _owner(conn: sqlite3.Connection, event_id: str) -> str | None:
    row = execute(conn, "ingest", "event_owner", {"event_id": event_id}).fetchone()
    return None if row is None else str(row[0])


LOOKUP_CHUNK = 500
"""Event ids per lookup of stored ones (SQLite allows 32,766 parameters a statement)."""


def insert_events(
    conn: sqlite3.Connection, rows: list[dict[str, Any]]
) -> tuple[list[int], dict[str, str] | None]:
    """Insert the rows whose event_id is not stored yet; for each row 1 (inserted) or 0 (its id
    was stored already, or earlier in this batch), and the owner of every id when known.

    SQLite: the batch's own repeats are set aside, the rest go in one ``executemany`` inside a
    savepoint; when every one was new (the usual case) that is all, else the savepoint is rolled
    back, the stored ids are looked up and only the new rows are inserted. The write transaction
    holds the database's write lock, so nothing changes in between. A server engine (concurrent
    writers, snapshots): each INSERT's own count, pipelined (execute_each), owners looked up
    afterwards where needed (``None``)."""
    if dialect_of(conn) != "sqlite":
        return execute_each(conn, "ingest", "insert_event", rows), None
    from functions.common.store.sqlite_engine import kept_if  # the SQLite engine's own

    owners: dict[str, str] = {}
    first = []
    for row in rows:  # the first of each id in the batch
        if row["event_id"] not in owners:
            owners[row["event_id"]] = row["user_id"]
            first.append(row)
    insert = query("ingest", "insert_event")
    if kept_if(conn, lambda: executemany(conn, insert, first) == len(first)):
        return _firsts(rows), owners  # every one was new
    stored: dict[str, str] = {}
    ids = list(owners)
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = {"event_ids": ids[start : start + LOOKUP_CHUNK]}
        for found in fetch_all(conn, "ingest", "stored_event_owners", chunk):
            stored[found["event_id"]] = found["user_id"]
    new = [row for row in first if row["event_id"] not in stored]
    inserted = executemany(conn, insert, new)
    if inserted != len(new):  # the write lock makes this impossible: refuse rather than guess
        raise RuntimeError(f"inserted {inserted} of {len(new)} new events under the write lock")
    owners.update(stored)
    fresh = {row["event_id"] for row in new}
    counts = []
    for row in rows:
        counts.append(1 if row["event_id"] in fresh else 0)
        fresh.discard(row["event_id"])  # a repeat later in the batch is not inserted again
    return counts, owners


def _firsts(rows: list[dict[str, Any]]) -> list[int]:
    """1 for the first row of each event_id, 0 for its repeats."""
    seen: set[str] = set()
    counts = []
    for row in rows:
        counts.append(0 if row["event_id"] in seen else 1)
        seen.add(row["event_id"])
    return counts


def ingest_events(db: Database, body: Any, settings: Settings, now_ms: int) -> BatchResult:
    raw = unpack_batch(body, "events", settings.max_batch_size)
    context = {
        "event_types": settings.event_types,
        "platforms": settings.platforms,
        "ts": event_time_rule(now_ms, settings),
    }
    accepted, results = validate_each(raw, EventIn, "event_id", context)

    def store(conn: sqlite3.Connection) -> list[ItemResult]:
        rows = []
        for _, event in accepted:
            row = event.model_dump()
            row["ts_ms"] = row.pop("ts") or now_ms
            row["received_ms"] = now_ms
            rows.append(row)
        inserted, owners = insert_events(conn, rows)
        stored = []
        for (index, event), count in zip(accepted, inserted, strict=True):
            if count == 1:
                stored.append(_outcome(index, event.event_id, "stored"))
                continue
            owner = owners[event.event_id] if owners is not None else _owner(conn, event.event_id)
            if owner == event.user_id:  # a retry: stored once
                stored.append(_outcome(index, event.event_id, "duplicate"))
            else:  # not a retry: an idempotency key that another user's event holds
                taken = [FieldError(field="event_id", reason=TAKEN)]
                stored.append(_outcome(index, event.event_id, "conflict", taken))
        return stored

    if accepted:
        results.extend(db.write(store))
    return _summarise(results)


def write_item(conn: sqlite3.Connection, item: ItemIn, now_ms: int) -> None:
    """Upsert one catalog item and replace its category rows."""
    categories = sorted(set(item.categories))
    execute(
        conn,
        "ingest",
        "upsert_item",
        {
            "item_id": item.item_id,
            "kind": item.kind,
            "title": item.title,
            "categories": json.dumps(categories),
            "published_ms": item.published_at,
            "attributes": json.dumps(item.attributes),
            "hidden": int(item.hidden),
            "now_ms": now_ms,
        },
    )
    execute(conn, "ingest", "delete_item_categories", {"item_id": item.item_id})
    for category in categories:
        execute(
            conn, "ingest", "insert_item_category", {"item_id": item.item_id, "category": category}
        )


def write_user(conn: sqlite3.Connection, user: UserIn, now_ms: int) -> None:
    execute(
        conn,
        "ingest",
        "upsert_user",
        {
            "user_id": user.user_id,
            "attributes": json.dumps(user.attributes),
            "now_ms": now_ms,
        },
    )


def _upsert_batch(
    db: Database,
    raw: list[Any],
    model: type[M],
    id_field: str,
    write_one: Callable[[sqlite3.Connection, M, int], None],
    now_ms: int,
    context: dict[str, Any] | None = None,
) -> BatchResult:
    """Validate every item, upsert the valid ones in one transaction, report each."""
    valid, results = validate_each(raw, model, id_field, context or {})

    def store(conn: sqlite3.Connection) -> list[ItemResult]:
        for _, record in valid:
            write_one(conn, record, now_ms)
        return [_outcome(i, getattr(record, id_field), "upserted") for i, record in valid]

    if valid:
        results.extend(db.write(store))
    return _summarise(results)


def upsert_items(db: Database, body: Any, settings: Settings, now_ms: int) -> BatchResult:
    raw = unpack_batch(body, "items", settings.max_batch_size)
    context = {"published_at": published_time_rule(now_ms, settings)}
    return _upsert_batch(db, raw, ItemIn, "item_id", write_item, now_ms, context)


def upsert_users(db: Database, body: Any, settings: Settings, now_ms: int) -> BatchResult:
    raw = unpack_batch(body, "users", settings.max_batch_size)
    return _upsert_batch(db, raw, UserIn, "user_id", write_user, now_ms)


USER_ROW_DELETES = {
    "impressions": "delete_user_impressions",  # first: they reference feeds
    "recommendations": "delete_user_recommendations",
    "events": "delete_user_events",
}
"""Per table that holds a user's rows, in deletion order, the query that deletes them."""

SECURE_DELETE_RESTORE = {0: "secure_delete_off", 1: "secure_delete_on", 2: "secure_delete_fast"}
"""The query that puts each ``PRAGMA secure_delete`` value back after a user's deletion."""


def delete_user(db: Database, user_id: str, now_ms: int) -> DeletedUser:
    """Remove every row stored about ``user_id`` (impressions first: they reference feeds) and,
    in the same transaction, write its tombstone (the id's hash, ``now_ms``), so that models
    trained before now serve it as unknown and training leaves out what arrived until now."""
    from functions.common.clock import to_iso
    from functions.common.store import tombstones

    def remove(conn: sqlite3.Connection) -> dict[str, int]:
        if dialect_of(conn) != "sqlite":  # PostgreSQL: autovacuum reclaims the dead rows
            return remove_rows(conn)
        # overwrite what is deleted rather than leave it readable in the file's free space
        # (SQLite builds differ in their default; only this transaction pays for it)
        setting = int(execute(conn, "ingest", "secure_delete_setting").fetchone()[0])
        execute(conn, "ingest", "secure_delete_on")
        try:
            return remove_rows(conn)
        finally:
            execute(conn, "ingest", SECURE_DELETE_RESTORE.get(setting, "secure_delete_on"))

    def remove_rows(conn: sqlite3.Connection) -> dict[str, int]:
        counts = {}
        for table, deletion in USER_ROW_DELETES.items():
            counts[table] = execute(conn, "ingest", deletion, {"user_id": user_id}).rowcount
        counts["users"] = execute(conn, "ingest", "delete_user", {"user_id": user_id}).rowcount
        tombstone = {"user_hash": tombstones.user_hash(user_id), "deleted_ms": now_ms}
        execute(conn, "ingest", "upsert_deleted_user", tombstone)
        return counts

    return DeletedUser(user_id=user_id, deleted=db.write(remove), deleted_at=to_iso(now_ms))
