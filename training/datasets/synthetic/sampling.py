"""Sampling a synthetic world's events: which user meets which item (popularity x taste x
availability, each pair at most once), what each interaction produced (click, view or skip,
like, share) and when, trimmed to exactly the events asked for and sorted by time."""

from __future__ import annotations

import math

import numpy as np

from functions.common.vocabulary import ITEM_KINDS
from training.datasets.synthetic.world import (
    CLICK,
    LIKE,
    NO_DWELL,
    PLATFORMS,
    SHARE,
    SKIP,
    VIEW,
    World,
)

PRIMARY_PLATFORM_P = 0.8  # share of a user's interactions on their primary platform
KIND_MEDIAN_DWELL_S = {"video": 75.0, "article": 45.0, "post": 8.0}  # of a view at affinity 0.6
AFFINITY_EPSILON = 0.03  # weight of an item outside the user's taste, relative to a perfect match

VIEW_P = 0.75
SKIP_MAX_P = 0.5  # share of would-be views that become skips at affinity 0 ...
SKIP_AFFINITY = 0.25  # ... falling linearly to none at this affinity
LIKE_BIAS, LIKE_SLOPE = -3.5, 6.0  # P(like | view) = sigmoid(bias + slope x affinity)
SHARE_BASE_P, SHARE_AFFINITY_P = 0.01, 0.08  # P(share | view) = base + this x affinity

EVENTS_PER_INTERACTION_GUESS = 2.0  # first sampling round; later rounds use the observed mean
MAX_SAMPLING_ROUNDS = 50
CHUNK_CELLS = 4_000_000  # users x items weights held at once while sampling (~32 MB)


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


def sample_interactions(
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
            f"{target} events asked for; ask for fewer events or a bigger world "
            "(--events, --users, --items)"
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

    kind_dwell_s = np.asarray([KIND_MEDIAN_DWELL_S[name] for name in ITEM_KINDS])
    median_dwell_ms = kind_dwell_s[kind] * 1000.0 * (0.4 + affinity)
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


def fill_events(world: World, inter: dict[str, np.ndarray], rng: np.random.Generator) -> None:
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
