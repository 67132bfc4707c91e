"""The shape of a synthetic world: :class:`WorldConfig` (its size), :class:`World` (its users,
items and events as arrays, and their rows for the ingest queries) and the codes the arrays hold
(platforms, item kinds, event types)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from functions.common.vocabulary import ITEM_KINDS

PLATFORMS = ("web", "ios", "android")

# Event codes (indices into EVENT_TYPES); the strings are what the database stores.
EVENT_TYPES = ("click", "view", "skip", "like", "share")
CLICK, VIEW, SKIP, LIKE, SHARE = range(len(EVENT_TYPES))
NO_DWELL = -1  # event_dwell_ms of events that carry no dwell (stored as NULL)


@dataclass
class WorldConfig:
    """Size and shape of a synthetic world; ``end_ms=None`` is now, rounded down to the minute."""

    seed: int = 7
    users: int = 2000
    items: int = 1000
    events: int = 200_000
    days: int = 28
    end_ms: int | None = None
    categories: int = 12

    def __post_init__(self) -> None:
        for name in ("users", "items", "days"):  # `mediarec seed` flags of the same names
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1")
        if self.categories < 1:
            raise ValueError("a world needs at least 1 category")
        if self.events < 0:
            raise ValueError("--events must not be negative")


@dataclass(eq=False)
class World:
    """A generated world, column by column.

    Users and items are addressed by index (``user_ids[u]``, ``item_ids[i]``); events are
    parallel arrays in time order, event ``k`` having the id ``event_ids()[k]``. Event types and
    platforms are codes into :data:`EVENT_TYPES` and :data:`PLATFORMS`, item kinds into
    ``ITEM_KINDS`` (the API's).
    """

    config: WorldConfig
    start_ms: int
    end_ms: int
    categories: tuple[str, ...]

    user_ids: list[str]
    user_platform: np.ndarray  # (users,) int8, primary platform code
    user_activity: np.ndarray  # (users,) float, lognormal activity level
    user_taste: np.ndarray  # (users, categories) float, rows sum to 1 (hidden)

    item_ids: list[str]
    item_kind: np.ndarray  # (items,) int8, code into ITEM_KINDS
    item_category_mask: np.ndarray  # (items, categories) bool
    item_titles: list[str]
    item_published_ms: np.ndarray  # (items,) int64
    item_popularity: np.ndarray  # (items,) float, Zipf (hidden)

    event_user: np.ndarray  # (events,) int32 user index
    event_item: np.ndarray  # (events,) int32 item index
    event_type: np.ndarray  # (events,) int8 code into EVENT_TYPES
    event_platform: np.ndarray  # (events,) int8 code into PLATFORMS
    event_ts_ms: np.ndarray  # (events,) int64 client time
    event_received_ms: np.ndarray  # (events,) int64 server time, >= ts
    event_dwell_ms: np.ndarray  # (events,) int64, NO_DWELL except on views

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_events(self) -> int:
        return int(self.event_ts_ms.size)

    def affinity(self, user_index: Any, item_indices: Any) -> np.ndarray:
        """Hidden match in [0, 1]: the user's taste mass on the item's categories.

        ``user_index`` is one index or an array broadcasting against ``item_indices``.
        """
        taste = self.user_taste[np.asarray(user_index)]
        mask = self.item_category_mask[np.asarray(item_indices)]
        result: np.ndarray = (taste * mask).sum(axis=-1)
        return result

    def item_categories(self, item_index: int) -> list[str]:
        return [self.categories[c] for c in np.flatnonzero(self.item_category_mask[item_index])]

    def event_ids(self, start: int = 0, stop: int | None = None) -> list[str]:
        """``e0000001``... in time order; wider once there are more than 9,999,999 events."""
        stop = self.n_events if stop is None else stop
        width = max(7, len(str(self.n_events)))
        return [f"e{k:0{width}d}" for k in range(start + 1, stop + 1)]

    # -- rows for the ingest queries ------------------------------------------------------
    def user_rows(self, now_ms: int) -> list[dict[str, Any]]:
        low, high = np.quantile(self.user_activity, [1 / 3, 2 / 3])
        buckets = np.where(
            self.user_activity < low, "low", np.where(self.user_activity < high, "medium", "high")
        )
        return [
            {
                "user_id": user_id,
                "attributes": json.dumps(
                    {"primary_platform": PLATFORMS[platform], "activity": str(bucket)}
                ),
                "now_ms": now_ms,
            }
            for user_id, platform, bucket in zip(
                self.user_ids, self.user_platform.tolist(), buckets.tolist(), strict=True
            )
        ]

    def item_rows(self, now_ms: int) -> list[dict[str, Any]]:
        return [
            {
                "item_id": item_id,
                "kind": ITEM_KINDS[kind],
                "title": title,
                "categories": json.dumps(self.item_categories(index)),
                "published_ms": published,
                "attributes": "{}",
                "hidden": 0,
                "now_ms": now_ms,
            }
            for index, (item_id, kind, title, published) in enumerate(
                zip(
                    self.item_ids,
                    self.item_kind.tolist(),
                    self.item_titles,
                    self.item_published_ms.tolist(),
                    strict=True,
                )
            )
        ]

    def item_category_rows(self) -> list[dict[str, Any]]:
        items, cats = np.nonzero(self.item_category_mask)
        return [
            {"item_id": self.item_ids[i], "category": self.categories[c]}
            for i, c in zip(items.tolist(), cats.tolist(), strict=True)
        ]

    def event_rows(self, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
        stop = self.n_events if stop is None else stop
        part = slice(start, stop)
        return [
            {
                "event_id": event_id,
                "user_id": self.user_ids[user],
                "item_id": self.item_ids[item],
                "event_type": EVENT_TYPES[kind],
                "platform": PLATFORMS[platform],
                "ts_ms": ts,
                "received_ms": received,
                "recommendation_id": None,
                "position": None,
                "dwell_ms": None if dwell == NO_DWELL else dwell,
            }
            for event_id, user, item, kind, platform, ts, received, dwell in zip(
                self.event_ids(start, stop),
                self.event_user[part].tolist(),
                self.event_item[part].tolist(),
                self.event_type[part].tolist(),
                self.event_platform[part].tolist(),
                self.event_ts_ms[part].tolist(),
                self.event_received_ms[part].tolist(),
                self.event_dwell_ms[part].tolist(),
                strict=True,
            )
        ]
