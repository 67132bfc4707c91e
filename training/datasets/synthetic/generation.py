"""Generating a synthetic world: :func:`generate_world` makes the users (platform, activity,
taste) and the catalog (kinds, categories, titles, publication times, popularity), then has
:mod:`~training.datasets.synthetic.sampling` add the events."""

from __future__ import annotations

import numpy as np

from functions.common.clock import DAY_MS, MINUTE_MS, now_ms
from functions.common.vocabulary import ITEM_KINDS
from training.datasets.synthetic.sampling import fill_events, sample_interactions
from training.datasets.synthetic.world import PLATFORMS, World, WorldConfig

PLATFORM_SHARES = (0.45, 0.30, 0.25)  # of users' primary platforms, in PLATFORMS order
KIND_SHARES = {"video": 0.4, "article": 0.4, "post": 0.2}  # of the catalog

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

    kind_shares = [KIND_SHARES[kind] for kind in ITEM_KINDS]
    item_kind = items_rng.choice(len(ITEM_KINDS), size=config.items, p=kind_shares)
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
        interactions = sample_interactions(world, pairs_rng, events_rng)
        fill_events(world, interactions, events_rng)
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
    for code in range(len(ITEM_KINDS)):
        where = kind == code
        number[where] = np.arange(1, int(where.sum()) + 1)
    titles = []
    for code, n, row in zip(kind.tolist(), number.tolist(), mask, strict=True):
        names = [categories[c] for c in np.flatnonzero(row)]
        topic = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " & " + names[-1]
        titles.append(f"{ITEM_KINDS[code].capitalize()} {n}: {topic}")
    return titles
