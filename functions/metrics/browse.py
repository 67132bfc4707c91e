"""What the console browses (sql/metrics/browse.sql): known users by id prefix, one user's
recent events and feeds, one catalog item, and the model registry with each version's offline
metrics and A/B role. Every answer is bounded (LIMIT) and built from stored rows only."""

from __future__ import annotations

import json
from typing import Any

from functions.common.clock import to_iso
from functions.common.settings import Settings
from functions.common.store.db import fetch_all, fetch_one

QUERIES = "metrics/browse"
GREATEST_CODE_POINT = "\U0010ffff"


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None


def _iso(ms: int | None) -> str | None:
    return None if ms is None else to_iso(int(ms))


def users_by_prefix(conn: Any, prefix: str, limit: int) -> dict[str, Any]:
    params = {"prefix": prefix, "prefix_end": prefix + GREATEST_CODE_POINT, "limit": limit}
    rows = fetch_all(conn, QUERIES, "users_by_prefix", params)
    return {
        "prefix": prefix,
        "users": [
            {
                "user_id": r["user_id"],
                "events": int(r["events"]),
                "last_event_at": _iso(r["last_ms"]),
            }
            for r in rows
        ],
    }


def user_activity(conn: Any, user_id: str, events: int, feeds: int) -> dict[str, Any] | None:
    """The user's attributes, latest ``events`` events and latest ``feeds`` feeds with what each
    showed; None when nothing at all is stored about them."""
    who = {"user_id": user_id}
    attributes = fetch_one(conn, QUERIES, "user_attributes", who)
    event_count = int(fetch_one(conn, QUERIES, "user_event_count", who)["n"])
    feed_count = int(fetch_one(conn, QUERIES, "user_feed_count", who)["n"])
    if attributes is None and not event_count and not feed_count:
        return None
    recent = fetch_all(conn, QUERIES, "user_recent_events", {**who, "limit": events})
    shown = fetch_all(conn, QUERIES, "user_recent_feeds", {**who, "limit": feeds})
    items: dict[str, list[dict[str, Any]]] = {r["recommendation_id"]: [] for r in shown}
    if items:
        ids = {"recommendation_ids": list(items)}
        for row in fetch_all(conn, QUERIES, "feed_impressions", ids):
            items[row["recommendation_id"]].append(
                {"item_id": row["item_id"], "position": int(row["position"]),
                 "score": float(row["score"]), "reason": row["reason"]}
            )  # fmt: skip
    return {
        "user_id": user_id,
        "attributes": _json(attributes["attributes"]) if attributes is not None else None,
        "event_count": event_count,
        "feed_count": feed_count,
        "events": [
            {
                "event_id": r["event_id"],
                "item_id": r["item_id"],
                "event_type": r["event_type"],
                "platform": r["platform"],
                "ts": _iso(r["ts_ms"]),
                "recommendation_id": r["recommendation_id"],
                "position": None if r["position"] is None else int(r["position"]),
                "dwell_ms": None if r["dwell_ms"] is None else int(r["dwell_ms"]),
            }
            for r in recent
        ],
        "feeds": [
            {
                "recommendation_id": r["recommendation_id"],
                "platform": r["platform"],
                "k": int(r["k"]),
                "model_version": r["model_version"],
                "arm": r["arm"],
                "served_at": _iso(r["served_ms"]),
                "items": items[r["recommendation_id"]],
            }
            for r in shown
        ],
    }


def item(conn: Any, item_id: str) -> dict[str, Any] | None:
    row = fetch_one(conn, QUERIES, "item_by_id", {"item_id": item_id})
    if row is None:
        return None
    return {
        "item_id": row["item_id"],
        "kind": row["kind"],
        "title": row["title"],
        "categories": _json(row["categories"]) or [],
        "published_at": _iso(row["published_ms"]),
        "attributes": _json(row["attributes"]) or {},
        "hidden": bool(row["hidden"]),
    }


def offline_metrics(metrics: Any) -> tuple[str | None, dict[str, float]]:
    """Where a manifest's held-out numbers were measured, and those numbers: ``mediarec train``
    writes ``test`` (an evaluation run) or ``validated_run.test`` (``--split none``: the
    validated run's, the served model has none of its own); the simulator ``validation``."""
    if not isinstance(metrics, dict):
        return None, {}
    for measured_on, found in (
        ("test split", metrics.get("test")),
        ("the validated run's test split", (metrics.get("validated_run") or {}).get("test")),
        ("validation split", metrics.get("validation")),
    ):
        if isinstance(found, dict):
            numbers = {
                k: float(v)
                for k, v in found.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
            return measured_on, numbers
    return None, {}


def _count(manifest: dict[str, Any], summary: str, ids: str) -> int | None:
    """A registered manifest's summary counts (training/publish.py), or its id list's length."""
    if isinstance(manifest.get(summary), int):
        return int(manifest[summary])
    return len(manifest[ids]) if isinstance(manifest.get(ids), list) else None


def registry(conn: Any, settings: Settings, limit: int) -> dict[str, Any]:
    """The latest ``limit`` registered versions, and the active and A/B ones wherever they are;
    which one is active; the A/B test the settings configure (arm b:
    ``MEDIAREC_AB_MODEL_VERSION`` for ``MEDIAREC_AB_SHARE`` of users, arm a: the active model)."""
    rows = fetch_all(conn, QUERIES, "registered_models", {"limit": limit})
    testing = bool(settings.ab_model_version) and settings.ab_share > 0
    serving = fetch_all(
        conn,
        QUERIES,
        "serving_models",
        {"ab_version": settings.ab_model_version if testing else None},
    )
    listed = {r["version"] for r in rows}
    rows = [*rows, *(r for r in serving if r["version"] not in listed)]  # never out of the list
    active = next((r["version"] for r in rows if int(r["active"])), None)
    models = []
    for r in rows:
        manifest = _json(r["manifest"]) or {}
        measured_on, numbers = offline_metrics(manifest.get("metrics"))
        arm = None
        if testing and r["version"] == settings.ab_model_version:
            arm = "b"
        elif testing and int(r["active"]):
            arm = "a"
        models.append(
            {
                "version": r["version"],
                "created_at": _iso(r["created_ms"]),
                "activated_at": _iso(r["activated_ms"]),
                "active": bool(int(r["active"])),
                "arm": arm,
                "split": manifest.get("split"),
                "trained_until": (manifest.get("training_window") or {}).get("to"),
                "users": _count(manifest, "users", "user_ids"),
                "items": _count(manifest, "items", "item_ids"),
                "metrics_measured_on": measured_on,
                "metrics": numbers,
            }
        )
    return {
        "active_version": active,
        "ab": {
            "model_version": settings.ab_model_version if testing else None,
            "share": settings.ab_share if testing else 0.0,
        },
        "models": models,
    }
