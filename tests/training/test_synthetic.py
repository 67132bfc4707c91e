"""The synthetic media world: deterministic, exactly sized, plausible, and written faithfully."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import numpy as np
import pytest

from functions.common.clock import DAY_MS
from functions.common.store.db import Database, fetch_one
from functions.common.store.sqlite_engine import SqliteDatabase
from functions.common.vocabulary import ITEM_KINDS
from training.datasets.synthetic.generation import (
    CATALOG_BACKLOG_DAYS,
    PLATFORM_SHARES,
    generate_world,
)
from training.datasets.synthetic.sampling import PRIMARY_PLATFORM_P
from training.datasets.synthetic.world import (
    CLICK,
    EVENT_TYPES,
    LIKE,
    NO_DWELL,
    PLATFORMS,
    VIEW,
    World,
    WorldConfig,
)
from training.datasets.synthetic.write import write_world

END_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SMALL = WorldConfig(seed=3, users=300, items=200, events=6_000, end_ms=END_MS)


@pytest.fixture(scope="module")
def small() -> World:
    return generate_world(SMALL)


@pytest.fixture(scope="module")
def medium() -> World:
    """Big enough for shares and skew to settle (about 0.2 s)."""
    return generate_world(WorldConfig(seed=11, users=1000, items=500, events=50_000, end_ms=END_MS))


def interactions(world: World) -> tuple[np.ndarray, np.ndarray]:
    """(user, item) of every interaction: each one starts with exactly one click."""
    clicks = world.event_type == CLICK
    return world.event_user[clicks], world.event_item[clicks]


def assert_same_world(a: World, b: World) -> None:
    for field in dataclasses.fields(World):
        left, right = getattr(a, field.name), getattr(b, field.name)
        if isinstance(left, np.ndarray):
            assert left.dtype == right.dtype, field.name
            assert np.array_equal(left, right), field.name
        else:
            assert left == right, field.name


def open_db(path: Path) -> Database:
    database = SqliteDatabase(path / "mediarec.sqlite", journal_mode="wal")
    database.migrate()
    return database


# -- determinism and size ----------------------------------------------------------------------
def test_same_seed_and_end_give_the_same_world(small: World) -> None:
    assert_same_world(small, generate_world(SMALL))


def test_another_seed_gives_another_world(small: World) -> None:
    other = generate_world(dataclasses.replace(SMALL, seed=SMALL.seed + 1))
    assert not np.array_equal(small.user_taste, other.user_taste)
    assert not np.array_equal(small.item_popularity, other.item_popularity)
    assert small.n_events == other.n_events
    assert not np.array_equal(small.event_item, other.event_item)


def test_more_events_keep_the_same_users_and_items(small: World) -> None:
    bigger = generate_world(dataclasses.replace(SMALL, events=SMALL.events * 2))
    assert np.array_equal(small.user_taste, bigger.user_taste)
    assert small.item_titles == bigger.item_titles
    assert np.array_equal(small.item_published_ms, bigger.item_published_ms)


def test_end_defaults_to_now_rounded_to_the_minute() -> None:
    before = int(time.time() * 1000)
    world = generate_world(WorldConfig(users=5, items=5, events=10))
    assert world.end_ms % 60_000 == 0
    assert before - 60_000 <= world.end_ms <= int(time.time() * 1000)
    assert world.start_ms == world.end_ms - 28 * DAY_MS


@pytest.mark.parametrize("events", [0, 1, 2, 7, 999, 6_001])
def test_event_count_is_exact(events: int) -> None:
    world = generate_world(dataclasses.replace(SMALL, events=events))
    assert world.n_events == events
    for column in (world.event_item, world.event_type, world.event_platform):
        assert column.size == events
    assert len(world.event_ids()) == events


def test_interactions_are_whole_and_distinct(small: World) -> None:
    keys = small.event_user.astype(np.int64) * small.n_items + small.event_item
    _, first = np.unique(keys, return_index=True)
    # Every (user, item) pair opens with its click, even the one interaction cut short ...
    assert np.all(small.event_type[first] == CLICK)
    # ... and meets at most once.
    users, items = interactions(small)
    assert np.unique(users.astype(np.int64) * small.n_items + items).size == users.size


def test_too_many_events_for_the_world_is_refused() -> None:
    with pytest.raises(ValueError, match=r"fewer events or a bigger world \(--events, --users"):
        generate_world(WorldConfig(users=2, items=3, events=500, end_ms=END_MS))


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="--users must be at least 1"):
        WorldConfig(users=0)
    with pytest.raises(ValueError, match="--events must not be negative"):
        WorldConfig(events=-1)
    with pytest.raises(ValueError, match="at least 1 category"):
        WorldConfig(categories=0)


# -- users, items, events ----------------------------------------------------------------------
def test_ids_titles_and_catalog(small: World) -> None:
    assert small.user_ids[0] == "u00001" and small.user_ids[-1] == "u00300"
    assert small.item_ids[0] == "i00001" and small.item_ids[-1] == "i00200"
    assert small.event_ids(0, 2) == ["e0000001", "e0000002"]
    assert small.event_ids()[-1] == f"e{SMALL.events:07d}"
    per_item = small.item_category_mask.sum(axis=1)
    assert per_item.min() >= 1 and per_item.max() <= 3
    assert "news" in small.categories and len(small.categories) == 12
    title = re.compile(r"^(Video|Article|Post) \d+: [a-z]+((, [a-z]+)* & [a-z]+)?$")
    assert all(title.match(t) for t in small.item_titles), small.item_titles[:5]
    for code, kind in enumerate(ITEM_KINDS):
        numbers = [
            int(t.split(" ", 2)[1].rstrip(":"))
            for t, k in zip(small.item_titles, small.item_kind, strict=True)
            if k == code
        ]
        assert numbers == list(range(1, len(numbers) + 1)), kind
    for index in (0, 1, 2):
        assert small.item_titles[index].startswith(ITEM_KINDS[small.item_kind[index]].capitalize())
        assert set(re.split(r", | & ", small.item_titles[index].split(": ", 1)[1])) == set(
            small.item_categories(index)
        )
    oldest = small.start_ms - CATALOG_BACKLOG_DAYS * DAY_MS
    assert small.item_published_ms.min() >= oldest
    assert small.item_published_ms.max() <= small.end_ms
    assert np.mean(small.item_published_ms < small.start_ms) > 0.5  # most of the catalog is older


def test_events_happen_between_publication_and_end(small: World) -> None:
    published = small.item_published_ms[small.event_item]
    assert np.all(small.event_ts_ms >= published)
    assert np.all(small.event_ts_ms >= small.start_ms)
    assert np.all(small.event_ts_ms <= small.end_ms)
    assert np.all(small.event_received_ms >= small.event_ts_ms)
    assert np.all(small.event_received_ms <= small.end_ms)
    assert np.all(np.diff(small.event_ts_ms) >= 0)  # ids follow time


def test_event_types_and_dwell(small: World) -> None:
    names = {EVENT_TYPES[code] for code in np.unique(small.event_type)}
    assert names <= {"view", "click", "like", "share", "skip"}
    assert {"view", "click", "like", "skip"} <= names
    views = small.event_type == VIEW
    assert np.all(small.event_dwell_ms[views] > 0)
    assert np.all(small.event_dwell_ms[~views] == NO_DWELL)


def test_platform_mix(medium: World) -> None:
    primary_share = np.bincount(medium.user_platform, minlength=3) / medium.n_users
    assert np.allclose(primary_share, PLATFORM_SHARES, atol=0.04)
    on_primary = medium.event_platform == medium.user_platform[medium.event_user]
    assert abs(on_primary.mean() - PRIMARY_PLATFORM_P) < 0.03
    assert set(np.unique(medium.event_platform).tolist()) == set(range(len(PLATFORMS)))


def test_popularity_is_skewed(medium: World) -> None:
    # Observed: the top 10% of items get 0.49-0.54 of interactions (seeds 1, 2, 3, 7, 11);
    # without the popularity term they get about 0.19.
    _, items = interactions(medium)
    counts = np.sort(np.bincount(items, minlength=medium.n_items))[::-1]
    top_share = counts[: medium.n_items // 10].sum() / counts.sum()
    assert top_share > 0.40


def test_users_follow_their_taste(medium: World) -> None:
    # Observed: a user's interactions fall in their favourite category 2.1-2.3x as often as
    # the catalog would give at random; without the taste term the ratio is about 1.0.
    users, items = interactions(medium)
    favourite = medium.user_taste.argmax(axis=1)[users]
    hit_rate = medium.item_category_mask[items, favourite].mean()
    base_rate = medium.item_category_mask[:, favourite].mean()
    assert hit_rate / base_rate > 1.6
    likes, views = medium.event_type == LIKE, medium.event_type == VIEW
    liked = medium.affinity(medium.event_user[likes], medium.event_item[likes]).mean()
    viewed = medium.affinity(medium.event_user[views], medium.event_item[views]).mean()
    assert liked > viewed + 0.1  # observed 0.53 vs 0.33


def test_affinity_is_taste_mass_on_the_item_categories(small: World) -> None:
    items = np.arange(small.n_items)
    values = small.affinity(4, items)
    assert values.shape == (small.n_items,)
    assert np.all((values >= 0) & (values <= 1 + 1e-9))
    expected = [small.user_taste[4, small.item_category_mask[i]].sum() for i in items]
    assert np.allclose(values, expected)
    pairwise = small.affinity(np.array([4, 5]), np.array([0, 1]))
    assert np.allclose(pairwise, [small.affinity(4, [0])[0], small.affinity(5, [1])[0]])


# -- writing -----------------------------------------------------------------------------------
def test_write_world_writes_exact_counts(small: World, tmp_path: Path) -> None:
    database = open_db(tmp_path)
    counts = write_world(database, small)
    expected = {
        "users": SMALL.users,
        "items": SMALL.items,
        "item_categories": int(small.item_category_mask.sum()),
        "events": SMALL.events,
    }
    assert counts == expected
    stored = dict(fetch_one(database.conn, "datasets/seed", "table_counts") or {})
    assert {key: stored[key] for key in expected} == expected

    view = int(np.flatnonzero(small.event_type == VIEW)[0])
    for index in (0, view):
        expected_row = small.event_rows(index, index + 1)[0]
        stored_row = fetch_one(
            database.conn, "datasets/seed", "event_by_id", {"event_id": expected_row["event_id"]}
        )
        assert stored_row is not None and dict(stored_row) == expected_row
    assert expected_row["dwell_ms"] is not None


def test_write_world_refuses_a_second_write_without_reset(small: World, tmp_path: Path) -> None:
    database = open_db(tmp_path)
    write_world(database, small)
    with pytest.raises(ValueError, match="pass --reset to delete its data"):
        write_world(database, small)

    other = generate_world(WorldConfig(seed=5, users=40, items=30, events=500, end_ms=END_MS))
    counts = write_world(database, other, reset=True)
    stored = dict(fetch_one(database.conn, "datasets/seed", "table_counts") or {})
    assert stored["users"] == counts["users"] == 40
    assert stored["items"] == counts["items"] == 30
    assert stored["item_categories"] == int(other.item_category_mask.sum())
    assert stored["events"] == counts["events"] == 500
