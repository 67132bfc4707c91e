"""Writing a synthetic world into the database: :func:`write_world` (users, items with their
category rows, events), refusing a database that holds events unless asked to reset it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from functions.common.clock import now_ms
from functions.common.store import db, sql
from functions.common.store.db import Database
from training.datasets.bulk_write import executemany, progress_bar, write_catalog

if TYPE_CHECKING:
    import sqlite3

    from training.datasets.synthetic.world import World

WRITE_CHUNK_EVENTS = 100_000  # events per transaction in write_world

_RESET_QUERIES = (
    "reset_impressions",
    "reset_recommendations",
    "reset_events",
    "reset_item_categories",
    "reset_items",
    "reset_users",
    "reset_metrics",
    "reset_snapshots",
    "reset_popularity_snapshot",
    "reset_item_features_snapshot",
)


def write_world(
    database: Database, world: World, *, reset: bool = False, progress: bool = False
) -> dict[str, int]:
    """Write users, items (with their category rows) and events; return rows written per table.

    Refuses a database that already holds events unless ``reset`` is true, which first empties
    impressions, recommendations, events, item_categories, items, users, metrics and the serving
    snapshots (the model registry is kept). Events go in one transaction per ~100k rows.
    """
    database.migrate()
    written_ms = now_ms()
    user_rows = world.user_rows(written_ms)
    item_rows = world.item_rows(written_ms)
    category_rows = world.item_category_rows()

    def catalog(conn: sqlite3.Connection) -> dict[str, int]:
        row = db.fetch_one(conn, "datasets/seed", "count_events")
        existing = int(row["n"]) if row else 0
        if existing and not reset:
            raise ValueError(
                f"the database at {database.path} already holds {existing} events; "
                "pass --reset to delete its data and seed it again"
            )
        if reset:
            for name in _RESET_QUERIES:
                db.execute(conn, "datasets/seed", name)
        users, items, categories = write_catalog(conn, user_rows, item_rows, category_rows)
        return {"users": users, "items": items, "item_categories": categories}

    counts = database.write(catalog)
    insert_event = sql.query("ingest", "insert_event", database.dialect)

    def insert_events(rows: list[dict[str, Any]]) -> Callable[[sqlite3.Connection], int]:
        return lambda conn: executemany(conn, insert_event, rows)

    events = 0
    with progress_bar(world.n_events, "events", "event", progress) as bar:
        for start in range(0, world.n_events, WRITE_CHUNK_EVENTS):
            rows = world.event_rows(start, min(start + WRITE_CHUNK_EVENTS, world.n_events))
            events += database.write(insert_events(rows))
            bar.update(len(rows))
    counts["events"] = events
    return counts
