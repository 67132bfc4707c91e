"""Test-data factories: catalog items, events and impressions written straight through SQL."""

from __future__ import annotations

import itertools
import json
from typing import Any

from functions.common.store.db import Database, execute

_counter = itertools.count(1)


def event(**overrides: Any) -> dict[str, Any]:
    """A valid API event body (no ts: the server's receive time is used)."""
    body: dict[str, Any] = {
        "event_id": f"evt-{next(_counter):06d}",
        "user_id": "u1",
        "item_id": "i1",
        "event_type": "click",
        "platform": "web",
    }
    body.update(overrides)
    return body


def add_api_key(
    db: Database, key: str, scopes: tuple[str, ...] = ("admin",), name: str = "test"
) -> None:
    """Register a chosen, well-formed key (as `mediarec keys create` stores its random ones)."""
    from functions.common.http.api_keys import KEY_PATTERN, hash_key

    match = KEY_PATTERN.fullmatch(key)
    assert match is not None, key
    params = {
        "key_id": match["key_id"],
        "name": name,
        "scopes": " ".join(scopes),
        "secret_hash": hash_key(key),
        "now_ms": 0,
    }
    db.write(lambda conn: execute(conn, "http/api_keys", "insert_key", params))


def add_items(db: Database, items: list[dict[str, Any]], now_ms: int = 0) -> None:
    def write(conn: Any) -> None:
        for item in items:
            row = {
                "title": None,
                "published_ms": None,
                "attributes": "{}",
                "hidden": 0,
                "now_ms": now_ms,
                "kind": "video",
                **item,
            }
            categories = row.pop("categories", [])
            row["categories"] = json.dumps(categories)
            execute(conn, "ingest", "upsert_item", row)
            for category in categories:
                execute(
                    conn,
                    "ingest",
                    "insert_item_category",
                    {"item_id": row["item_id"], "category": category},
                )

    db.write(write)


def add_events(db: Database, rows: list[dict[str, Any]]) -> None:
    """Events as stored rows: needs user_id, item_id, event_type, ts_ms (platform defaults web)."""

    def write(conn: Any) -> None:
        for row in rows:
            full = {
                "event_id": f"evt-{next(_counter):06d}",
                "platform": "web",
                "recommendation_id": None,
                "position": None,
                "dwell_ms": None,
                **row,
            }
            full.setdefault("received_ms", full["ts_ms"])
            execute(conn, "ingest", "insert_event", full)

    db.write(write)


def add_impressions(
    db: Database,
    recommendation_id: str,
    user_id: str,
    item_ids: list[str],
    served_ms: int,
    platform: str = "web",
    model_version: str = "m1",
    arm: str | None = None,
    scores: list[float] | None = None,
    propensities: list[float] | None = None,
) -> None:
    """One logged feed: its row and an impression per item at positions 1, 2, ... (scores
    1/position unless given; propensity 1 unless given)."""

    def write(conn: Any) -> None:
        execute(
            conn,
            "recommend",
            "insert_recommendation",
            {
                "recommendation_id": recommendation_id,
                "user_id": user_id,
                "platform": platform,
                "k": len(item_ids),
                "model_version": model_version,
                "request": "{}",
                "served_ms": served_ms,
                "arm": arm,
            },
        )
        for position, item_id in enumerate(item_ids, start=1):
            execute(
                conn,
                "recommend",
                "insert_impression",
                {
                    "recommendation_id": recommendation_id,
                    "item_id": item_id,
                    "user_id": user_id,
                    "position": position,
                    "score": scores[position - 1] if scores else 1.0 / position,
                    "reason": "popular",
                    "model_version": model_version,
                    "platform": platform,
                    "served_ms": served_ms,
                    "arm": arm,
                    "propensity": propensities[position - 1] if propensities else 1.0,
                },
            )

    db.write(write)


def count(db: Database, table: str, where: str = "1 = 1", **params: Any) -> int:
    """Row count of a table (test-only inspection SQL)."""
    return int(db.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", params).fetchone()[0])
