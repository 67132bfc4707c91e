"""A deterministic synthetic media world: users, a catalog, and the events between them.

This is the embedded default that demos, benchmarks and tests run on when no real data is at
hand. Everything follows from :class:`WorldConfig`: the same seed and the same ``end_ms`` give
the same world, array for array.

How the world is made:

* **Users** have a primary platform (web 45% / ios 30% / android 25%), a lognormal activity level
  (how many interactions they get) and a hidden *taste*: a sparse Dirichlet vector over the
  categories, so most users care about one to three of them.
* **Items** are videos, articles and posts with one to three categories, a publication time
  spread over ``[start - 30 days, end]`` (most of the catalog predates the window) and a
  Zipf popularity (a power law over shuffled ranks).
* **Interactions** pair a user with an item drawn with probability proportional to
  ``popularity x (affinity + epsilon) x availability``, where ``affinity`` is the user's taste mass
  on the item's categories (see :meth:`World.affinity`) and ``availability`` is the share of the
  window the item was published for. A user meets an item at most once. Each interaction happens
  at a uniform time between ``max(start, published_ms)`` and ``end``.
* **Events** of an interaction: a ``click``; then a ``view`` with a dwell time (about 3 in 4
  interactions), which a low-affinity interaction may turn into a ``skip``; a ``like`` after a
  view with a probability rising with affinity; now and then a ``share``.

The event count is exact: interactions are sampled until there are enough events, then a random
subset of whole interactions is kept, plus at most one interaction cut after its first events.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from functions.common.clock import DAY_MS, MINUTE_MS, now_ms
from functions.common.store import db, sql
from functions.common.store.db import Database

PLATFORMS = ("web", "ios", "android")
PLATFORM_SHARES = (0.45, 0.30, 0.25)
PRIMARY_PLATFORM_P = 0.8  # share of a user's interactions on their primary platform

KINDS = ("video", "article", "post")
KIND_SHARES = (0.4, 0.4, 0.2)
KIND_MEDIAN_DWELL_S = (75.0, 45.0, 8.0)  # median dwell of a view, by kind, at affinity 0.6

CATEGORY_NAMES = (
    "news",
    "sports",
    "music",
    "tech",
    "movies",
    "gaming",
    "food",
    "travel",
    "science",
    "fashion",
    "comedy",
    "finance",
    "health",
    "politics",
    "art",
    "books",
    "cars",
    "pets",
    "parenting",
    "diy",
)
CATEGORY_COUNT_SHARES = (0.5, 0.35, 0.15)  # items with 1, 2, 3 categories
TASTE_CONCENTRATION = 3.0  # sum of the Dirichlet parameters: small = sparse tastes

CATALOG_BACKLOG_DAYS = 30  # items are published from this long before the window starts
PUBLISHED_BETA = (1.0, 2.0)  # position of published_ms in its range: skewed towards old
POPULARITY_ZIPF_EXPONENT = 1.2  # larger = more skewed popularity
AFFINITY_EPSILON = 0.03  # weight of an item outside the user's taste, relative to a perfect match

# Event codes (indices into EVENT_TYPES); the strings are what the database stores.
EVENT_TYPES = ("click", "view", "skip", "like", "share")
CLICK, VIEW, SKIP, LIKE, SHARE = range(len(EVENT_TYPES))
NO_DWELL = -1  # event_dwell_ms of events that carry no dwell (stored as NULL)

VIEW_P = 0.75
SKIP_MAX_P = 0.5  # share of would-be views that become skips at affinity 0 ...
SKIP_AFFINITY = 0.25  # ... falling linearly to none at this affinity
LIKE_BIAS, LIKE_SLOPE = -3.5, 6.0  # P(like | view) = sigmoid(bias + slope x affinity)
SHARE_BASE_P, SHARE_AFFINITY_P = 0.01, 0.08  # P(share | view) = base + this x affinity

EVENTS_PER_INTERACTION_GUESS = 2.0  # first sampling round; later rounds use the observed mean
MAX_SAMPLING_ROUNDS = 50
CHUNK_CELLS = 4_000_000  # users x items weights held at once while sampling (~32 MB)
WRITE_CHUNK_EVENTS = 100_000  # events per transaction in write_world


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
        for name in ("users", "items", "days", "categories"):
            if getattr(self, name) < 1:
                raise ValueError(f"WorldConfig.{name} must be at least 1")
        if self.events < 0:
            raise ValueError("WorldConfig.events must not be negative")


@dataclass(eq=False)
class World:
    """A generated world, column by column.

    Users and items are addressed by index (``user_ids[u]``, ``item_ids[i]``); events are
    parallel arrays in time order, event ``k`` having the id ``event_ids()[k]``. Event types and
    platforms are codes into :data:`EVENT_TYPES` and :data:`PLATFORMS`.
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
    item_kind: np.ndarray  # (items,) int8, code into KINDS
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
                "kind": KINDS[kind],
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


# -- generation --------------------------------------------------------------------------------
def category_names(count: int) -> tuple[str, ...]:
    """Readable category names; ``topic21``... once the readable ones run out."""
    extra = [f"topic{n}" for n in range(len(CATEGORY_NAMES) + 1, count + 1)]
    return (*CATEGORY_NAMES, *extra)[:count]


def _ids(prefix: str, count: int, min_width: int) -> list[str]:
    width = max(min_width, len(str(count)))
    return [f"{prefix}{n:0{width}d}" for n in range(1, count + 1)]


def generate_world(config: WorldConfig | None = None) -> World:
    """Generate the world ``config`` describes (vectorised; 1M events take a few seconds)."""
    config = config or WorldConfig()
    end_ms = config.end_ms
    if end_ms is None:
        end_ms = now_ms() // MINUTE_MS * MINUTE_MS
    start_ms = end_ms - config.days * DAY_MS
    # Independent streams, so that e.g. asking for more events leaves users and items unchanged.
    users_rng, items_rng, pairs_rng, events_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(4)
    )
    categories = category_names(config.categories)
    # Some categories are more common than others, in the catalog and in tastes alike.
    category_weight = 1.0 / np.sqrt(np.arange(1, config.categories + 1))
    category_weight /= category_weight.sum()

    user_platform = users_rng.choice(len(PLATFORMS), size=config.users, p=PLATFORM_SHARES)
    user_activity = users_rng.lognormal(0.0, 1.0, size=config.users)
    user_taste = users_rng.dirichlet(TASTE_CONCENTRATION * category_weight, size=config.users)

    item_kind = items_rng.choice(len(KINDS), size=config.items, p=KIND_SHARES)
    item_category_mask = _item_categories(items_rng, config.items, category_weight)
    published_from = start_ms - CATALOG_BACKLOG_DAYS * DAY_MS
    item_published_ms = published_from + np.floor(
        items_rng.beta(*PUBLISHED_BETA, size=config.items) * (end_ms - published_from)
    ).astype(np.int64)
    # Zipf: the item of popularity rank r weighs r ** -exponent; ranks are shuffled over items.
    popularity_rank = items_rng.permutation(config.items) + 1
    item_popularity = popularity_rank.astype(np.float64) ** -POPULARITY_ZIPF_EXPONENT

    world = World(
        config=config,
        start_ms=start_ms,
        end_ms=end_ms,
        categories=categories,
        user_ids=_ids("u", config.users, 5),
        user_platform=user_platform.astype(np.int8),
        user_activity=user_activity,
        user_taste=user_taste,
        item_ids=_ids("i", config.items, 5),
        item_kind=item_kind.astype(np.int8),
        item_category_mask=item_category_mask,
        item_titles=_titles(item_kind, item_category_mask, categories),
        item_published_ms=item_published_ms,
        item_popularity=item_popularity,
        event_user=np.empty(0, np.int32),
        event_item=np.empty(0, np.int32),
        event_type=np.empty(0, np.int8),
        event_platform=np.empty(0, np.int8),
        event_ts_ms=np.empty(0, np.int64),
        event_received_ms=np.empty(0, np.int64),
        event_dwell_ms=np.empty(0, np.int64),
    )
    if config.events:
        interactions = _sample_interactions(world, pairs_rng, events_rng)
        _fill_events(world, interactions, events_rng)
    return world


def _item_categories(rng: np.random.Generator, count: int, weight: np.ndarray) -> np.ndarray:
    """1-3 distinct categories per item, drawn by weight without replacement (Gumbel top-k)."""
    n_categories = weight.size
    keys = np.log(weight)[None, :] + rng.gumbel(size=(count, n_categories))
    order = np.argsort(-keys, axis=1)
    how_many = rng.choice(len(CATEGORY_COUNT_SHARES), size=count, p=CATEGORY_COUNT_SHARES) + 1
    how_many = np.minimum(how_many, n_categories)
    mask = np.zeros((count, n_categories), dtype=bool)
    ranks = np.arange(n_categories)[None, :]
    np.put_along_axis(mask, order, ranks < how_many[:, None], axis=1)
    return mask


def _titles(kind: np.ndarray, mask: np.ndarray, categories: tuple[str, ...]) -> list[str]:
    """``Video 17: sports & music``, numbered per kind."""
    number = np.zeros(kind.size, dtype=np.int64)
    for code in range(len(KINDS)):
        where = kind == code
        number[where] = np.arange(1, int(where.sum()) + 1)
    titles = []
    for code, n, row in zip(kind.tolist(), number.tolist(), mask, strict=True):
        names = [categories[c] for c in np.flatnonzero(row)]
        topic = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " & " + names[-1]
        titles.append(f"{KINDS[code].capitalize()} {n}: {topic}")
    return titles


def _sample_items(
    world: World,
    rng: np.random.Generator,
    item_weight: np.ndarray,
    wanted: np.ndarray,
    taken: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``wanted[u]`` new distinct items per user ``u``, not in ``taken`` (pair keys).

    Draws with replacement from ``item_weight x (affinity + epsilon)`` through a cumulative sum
    and ``searchsorted``, a chunk of users at a time, then keeps each user's first distinct draws:
    that is exactly successive sampling without replacement.
    """
    n_items = world.n_items
    mask = world.item_category_mask.astype(np.float64).T  # (categories, items)
    active = np.flatnonzero(wanted)  # only users who want items cost any work
    row_of = np.full(world.n_users, -1, dtype=np.int64)
    chunk = max(1, CHUNK_CELLS // n_items)
    users_out: list[np.ndarray] = []
    items_out: list[np.ndarray] = []
    for lo in range(0, active.size, chunk):
        rows = active[lo : lo + chunk]
        want = wanted[rows]
        weights = (world.user_taste[rows] @ mask + AFFINITY_EPSILON) * item_weight
        # Pairs met in earlier rounds cannot be drawn again.
        done = taken[
            np.searchsorted(taken, rows[0] * n_items) : np.searchsorted(
                taken, (rows[-1] + 1) * n_items
            )
        ]
        row_of[rows] = np.arange(rows.size)
        done_row = row_of[done // n_items]
        ours = done_row >= 0
        weights[done_row[ours], done[ours] % n_items] = 0.0
        row_of[rows] = -1
        cumulative = np.cumsum(weights, axis=None)  # flat, row after row
        row_end = cumulative[n_items - 1 :: n_items]
        row_start = np.concatenate(([0.0], row_end[:-1]))
        local = np.repeat(np.arange(rows.size), 2 * want + 4)  # extra draws absorb repeats
        target = row_start[local] + rng.random(local.size) * (row_end - row_start)[local]
        flat = np.searchsorted(cumulative, target, side="right")
        flat = np.clip(flat, local * n_items, local * n_items + n_items - 1)
        drawable = weights.ravel()[flat] > 0  # false only for rounding at a row's end, or
        flat = flat[drawable]  # for a user who has met every item
        _, first = np.unique(flat, return_index=True)
        first.sort()  # first draw of each pair, in draw order (grouped by user)
        flat = flat[first]
        local, item = np.divmod(flat, n_items)
        rank = np.arange(local.size) - np.searchsorted(local, local, side="left")
        keep = rank < want[local]
        users_out.append(rows[local[keep]])
        items_out.append(item[keep])
    if not users_out:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(users_out), np.concatenate(items_out)


def _sample_interactions(
    world: World, pairs_rng: np.random.Generator, events_rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Interactions (with their outcomes) until they hold at least ``config.events`` events."""
    target = world.config.events
    window = world.end_ms - world.start_ms
    live_from = np.maximum(world.item_published_ms, world.start_ms)
    availability = (world.end_ms - live_from) / window
    # An item live for under an hour of the window still weighs as if live for one hour.
    item_weight = world.item_popularity * np.maximum(availability, 1.0 / (24 * world.config.days))
    unmet = np.full(world.n_users, world.n_items, dtype=np.int64)  # items a user has not met

    rounds: list[dict[str, np.ndarray]] = []
    taken = np.empty(0, np.int64)  # user * n_items + item of every interaction so far
    total = 0
    per_interaction = EVENTS_PER_INTERACTION_GUESS
    for _ in range(MAX_SAMPLING_ROUNDS):
        missing = target - total
        share = world.user_activity * (unmet > 0)
        if missing <= 0 or not share.any():
            break
        count = math.ceil(missing / per_interaction * 1.05) + 1
        wanted = np.minimum(pairs_rng.multinomial(count, share / share.sum()), unmet)
        users, items = _sample_items(world, pairs_rng, item_weight, wanted, taken)
        if users.size == 0:
            continue
        taken = np.union1d(taken, users * world.n_items + items)
        unmet -= np.bincount(users, minlength=world.n_users)
        outcome = _outcomes(world, users, items, events_rng)
        rounds.append(outcome)
        added = int(outcome["n_events"].sum())
        total += added
        per_interaction = added / users.size
    if total < target:
        raise ValueError(
            f"{world.n_users} users x {world.n_items} items yielded only {total} of the "
            f"{target} events asked for; ask for fewer events or a bigger world"
        )
    return {key: np.concatenate([r[key] for r in rounds]) for key in rounds[0]}


def _outcomes(
    world: World, users: np.ndarray, items: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """What each interaction produced, and when (offsets from its click)."""
    n = users.size
    affinity = world.affinity(users, items)
    kind = world.item_kind[items]

    primary = world.user_platform[users].astype(np.int64)
    other = (primary + rng.integers(1, len(PLATFORMS), size=n)) % len(PLATFORMS)
    platform = np.where(rng.random(n) < PRIMARY_PLATFORM_P, primary, other)

    live_from = np.maximum(world.item_published_ms[items], world.start_ms)
    span = world.end_ms - live_from + 1
    clicked_ms = live_from + np.floor(rng.random(n) * span).astype(np.int64)

    opened = rng.random(n) < VIEW_P
    skip_p = SKIP_MAX_P * np.clip(1.0 - affinity / SKIP_AFFINITY, 0.0, 1.0)
    skipped = opened & (rng.random(n) < skip_p)
    viewed = opened & ~skipped
    like_p = 1.0 / (1.0 + np.exp(-(LIKE_BIAS + LIKE_SLOPE * affinity)))
    liked = viewed & (rng.random(n) < like_p)
    shared = viewed & (rng.random(n) < SHARE_BASE_P + SHARE_AFFINITY_P * affinity)

    median_dwell_ms = np.asarray(KIND_MEDIAN_DWELL_S)[kind] * 1000.0 * (0.4 + affinity)
    dwell = np.maximum(500, median_dwell_ms * rng.lognormal(0.0, 0.6, size=n)).astype(np.int64)
    open_delay = rng.integers(300, 4000, size=n)  # click -> view or skip
    like_at = open_delay + (dwell * rng.uniform(0.3, 1.0, size=n)).astype(np.int64)
    share_at = open_delay + dwell + rng.integers(1000, 30_000, size=n)

    return {
        "user": users.astype(np.int32),
        "item": items.astype(np.int32),
        "platform": platform.astype(np.int8),
        "clicked_ms": clicked_ms,
        "viewed": viewed,
        "skipped": skipped,
        "liked": liked,
        "shared": shared,
        "dwell_ms": dwell,
        "open_delay_ms": open_delay,
        "like_at_ms": like_at,
        "share_at_ms": share_at,
        "n_events": 1 + viewed + skipped + liked + shared,
    }


def _fill_events(world: World, inter: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """Keep exactly ``config.events`` events, expand interactions to events, sort by time."""
    target = world.config.events
    n_events = inter["n_events"].astype(np.int64)
    order = rng.permutation(n_events.size)
    cumulative = np.cumsum(n_events[order])
    whole = int(np.searchsorted(cumulative, target, side="right"))  # whole interactions kept
    keep_n = np.zeros(n_events.size, dtype=np.int64)
    keep_n[order[:whole]] = n_events[order[:whole]]
    kept = int(cumulative[whole - 1]) if whole else 0
    if kept < target:  # cut one interaction after its first events
        keep_n[order[whole]] = target - kept

    everyone = np.ones(n_events.size, dtype=bool)
    zero = np.zeros(n_events.size, dtype=np.int64)
    open_at = inter["open_delay_ms"]
    # (code, happened, rank inside its interaction, offset from the click)
    parts = [
        (CLICK, everyone, zero, zero),
        (VIEW, inter["viewed"], zero + 1, open_at),
        (SKIP, inter["skipped"], zero + 1, open_at),
        (LIKE, inter["liked"], zero + 2, inter["like_at_ms"]),
        (SHARE, inter["shared"], 2 + inter["liked"].astype(np.int64), inter["share_at_ms"]),
    ]
    index_parts, code_parts, rank_parts, ts_parts, dwell_parts = [], [], [], [], []
    for code, happened, rank, offset in parts:
        which = np.flatnonzero(happened & (rank < keep_n))
        index_parts.append(which)
        code_parts.append(np.full(which.size, code, dtype=np.int8))
        rank_parts.append(rank[which])
        ts_parts.append(inter["clicked_ms"][which] + offset[which])
        dwell = inter["dwell_ms"][which] if code == VIEW else np.full(which.size, NO_DWELL)
        dwell_parts.append(dwell)
    index = np.concatenate(index_parts)
    rank = np.concatenate(rank_parts)
    ts = np.minimum(np.concatenate(ts_parts), world.end_ms)
    order = np.lexsort((rank, index, ts))
    index, ts = index[order], ts[order]

    delay = np.ceil(rng.lognormal(np.log(150.0), 0.8, size=ts.size)).astype(np.int64)
    world.event_user = inter["user"][index]
    world.event_item = inter["item"][index]
    world.event_type = np.concatenate(code_parts)[order]
    world.event_platform = inter["platform"][index]
    world.event_ts_ms = ts
    world.event_received_ms = np.minimum(ts + delay, world.end_ms)
    world.event_dwell_ms = np.concatenate(dwell_parts).astype(np.int64)[order]


# -- writing -----------------------------------------------------------------------------------
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
        row = db.fetch_one(conn, "seed", "count_events")
        existing = int(row["n"]) if row else 0
        if existing and not reset:
            raise ValueError(
                f"the database at {database.path} already holds {existing} events; "
                "pass --reset (reset=True) to delete its data and seed it again"
            )
        if reset:
            for name in _RESET_QUERIES:
                db.execute(conn, "seed", name)
        users = conn.executemany(sql.query("ingest", "upsert_user"), user_rows).rowcount
        items = conn.executemany(sql.query("ingest", "upsert_item"), item_rows).rowcount
        conn.executemany(
            sql.query("ingest", "delete_item_categories"),
            [{"item_id": row["item_id"]} for row in item_rows],
        )
        categories = conn.executemany(
            sql.query("ingest", "insert_item_category"), category_rows
        ).rowcount
        return {"users": users, "items": items, "item_categories": categories}

    counts = database.write(catalog)
    insert_event = sql.query("ingest", "insert_event")

    def insert_events(rows: list[dict[str, Any]]) -> Callable[[sqlite3.Connection], int]:
        return lambda conn: conn.executemany(insert_event, rows).rowcount

    events = 0
    with tqdm(
        total=world.n_events, unit="event", unit_scale=True, desc="events", disable=not progress
    ) as bar:
        for start in range(0, world.n_events, WRITE_CHUNK_EVENTS):
            rows = world.event_rows(start, min(start + WRITE_CHUNK_EVENTS, world.n_events))
            events += database.write(insert_events(rows))
            bar.update(len(rows))
    counts["events"] = events
    return counts
