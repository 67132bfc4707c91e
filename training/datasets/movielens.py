"""MovieLens 100K: read a ``ml-100k`` folder (``u.genre``, ``u.item``, ``u.user``, ``u.data``),
check every line, and load it with :func:`import_movielens_100k` in one transaction.

Users keep their numeric ids; movies are videos with their genres as categories; every rating
is a ``view`` event (and a ``like`` from 4 up) with the id ``ml100k-<user>-<item>-<type>``, so
importing the folder again stores nothing twice.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from functions.common import clock
from functions.common.store.db import dialect_of
from training.datasets.bulk_write import (
    EVENT_CHUNK,
    event_row,
    executemany,
    progress_bar,
    write_at_once,
    write_catalog,
)
from training.datasets.report import (
    ImportReport,
    Problem,
    refuse_unless_loadable,
)
from training.datasets.validation import id_problem, parse_rating, require_configured

if TYPE_CHECKING:
    import sqlite3

    from functions.common.settings import Settings
    from functions.common.store.db import Database

MOVIELENS_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
MOVIELENS_LIKE_RATING = 4.0  # a MovieLens rating of 4 or 5 is also a like
MOVIELENS_ENCODING = "latin-1"  # u.item holds Latin-1 titles (not valid UTF-8)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Non-blank lines of a MovieLens file with their 1-based numbers, line ends removed."""
    with path.open(encoding=MOVIELENS_ENCODING, newline=None) as handle:
        for number, text in enumerate(handle, start=1):
            text = text.rstrip("\r\n")
            if text.strip():
                yield number, text


def _movielens_id_problem(name: str, value: str) -> str | None:
    if not (value.isascii() and value.isdigit()):
        return f"{name} {value[:40]!r} is not a positive integer"
    return id_problem(name, value)


def _movielens_date(text: str) -> int | None:
    """``01-Jan-1995`` (midnight UTC) to epoch ms; empty is None. Raises ValueError."""
    if not text:
        return None
    day, month, year = text.split("-")
    if month.lower() not in _MONTHS:
        raise ValueError(f"unknown month {month!r}")
    moment = datetime(int(year), _MONTHS[month.lower()], int(day), tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _read_genres(path: Path, problems: list[Problem]) -> tuple[str, ...]:
    """u.genre (``name|index`` lines, indices 0..n-1), or the standard 19 when it is absent."""
    if not path.is_file():
        return MOVIELENS_GENRES
    genres: list[str] = []
    for line, text in _lines(path):
        name, _, index = text.partition("|")
        if not name.strip() or index.strip() != str(len(genres)):
            problems.append((line, f"u.genre: expected 'name|{len(genres)}', found {text[:60]!r}"))
            continue
        genres.append(name.strip())
    return tuple(genres) or MOVIELENS_GENRES


def _read_movielens_items(
    path: Path, genres: Sequence[str], problems: list[Problem]
) -> dict[str, dict[str, Any]]:
    """u.item: ``id|title|release date|video release date|IMDb URL|<one 0/1 flag per genre>``."""
    width = 5 + len(genres)
    items: dict[str, dict[str, Any]] = {}
    first_line: dict[str, int] = {}
    for line, text in _lines(path):
        fields = text.split("|")
        if len(fields) != width:
            problems.append((line, f"u.item: expected {width} fields, found {len(fields)}"))
            continue
        item_id, title, released, _video_released, url = (f.strip() for f in fields[:5])
        flags = [f.strip() for f in fields[5:]]
        reasons = []
        if reason := _movielens_id_problem("item id", item_id):
            reasons.append(reason)
        elif item_id in items:
            reasons.append(f"item {item_id} appears twice (first on line {first_line[item_id]})")
        published_ms = None
        try:
            published_ms = _movielens_date(released)
        except ValueError:
            reasons.append(f"release date {released[:40]!r} is not like 01-Jan-1995")
        if any(flag not in ("0", "1") for flag in flags):
            reasons.append("genre flags must be 0 or 1")
        if reasons:
            problems.append((line, "u.item: " + "; ".join(reasons)))
            continue
        first_line[item_id] = line
        items[item_id] = {
            "item_id": item_id,
            "kind": "video",
            "title": title or None,
            "categories": [g for g, flag in zip(genres, flags, strict=True) if flag == "1"],
            "published_ms": published_ms,
            "attributes": {"imdb_url": url} if url else {},
        }
    return items


def _read_movielens_users(path: Path, problems: list[Problem]) -> dict[str, dict[str, Any]]:
    """u.user: ``id|age|gender|occupation|zip``."""
    users: dict[str, dict[str, Any]] = {}
    first_line: dict[str, int] = {}
    for line, text in _lines(path):
        fields = [f.strip() for f in text.split("|")]
        if len(fields) != 5:
            problems.append((line, f"u.user: expected 5 fields, found {len(fields)}"))
            continue
        user_id, age, gender, occupation, zip_code = fields
        reasons = []
        if reason := _movielens_id_problem("user id", user_id):
            reasons.append(reason)
        elif user_id in users:
            reasons.append(f"user {user_id} appears twice (first on line {first_line[user_id]})")
        if not (age.isascii() and age.isdigit()):
            reasons.append(f"age {age[:40]!r} is not a whole number")
        if reasons:
            problems.append((line, "u.user: " + "; ".join(reasons)))
            continue
        first_line[user_id] = line
        users[user_id] = {
            "age": int(age),
            "gender": gender,
            "occupation": occupation,
            "zip": zip_code,
        }
    return users


class _Rating(NamedTuple):
    user_id: str
    item_id: str
    rating: float
    ts_ms: int


def _read_movielens_ratings(
    path: Path,
    users: dict[str, dict[str, Any]],
    items: dict[str, dict[str, Any]],
    problems: list[Problem],
) -> tuple[list[_Rating], int]:
    """u.data: ``user<TAB>item<TAB>rating<TAB>epoch seconds``; returns the ratings and rows read."""
    ratings: list[_Rating] = []
    rows = 0
    for line, text in _lines(path):
        rows += 1
        fields = text.split()
        if len(fields) != 4:
            problems.append((line, f"u.data: expected 4 fields, found {len(fields)}"))
            continue
        user_id, item_id, rating_text, ts_text = fields
        reasons = []
        if user_id not in users:
            reasons.append(f"user {user_id[:40]!r} is not in u.user")
        if item_id not in items:
            reasons.append(f"item {item_id[:40]!r} is not in u.item")
        rating, reason = parse_rating(rating_text)
        if reason:
            reasons.append(reason)
        ts_ms = 0
        try:
            ts_ms = clock.parse_timestamp(int(ts_text))
        except ValueError as error:
            reasons.append(f"timestamp {ts_text[:40]!r} is not epoch seconds ({error})")
        if reasons or rating is None:
            problems.append((line, "u.data: " + "; ".join(reasons)))
            continue
        ratings.append(_Rating(user_id, item_id, rating, ts_ms))
    return ratings, rows


def import_movielens_100k(
    database: Database,
    path: Path,
    *,
    progress: bool = False,
    skip_invalid: bool = False,
    settings: Settings | None = None,
) -> ImportReport:
    """Load a MovieLens 100K folder (``u.data``, ``u.item``, ``u.user``; ``u.genre`` optional).

    Users keep their numeric ids (as text) with ``{age, gender, occupation, zip}``; items are
    videos with their title (Latin-1), genres as categories, release date as ``published_ms``
    and ``{imdb_url}``; both are upserted (the folder is the source of truth for its ids). Every
    rating is a ``view`` event on the web at the rating's time, and a rating of 4 or 5 also a
    ``like``. A rating whose user or item is not in u.user / u.item is malformed.
    """
    from functions.common.settings import get_settings
    from functions.common.store import sql

    started = time.perf_counter()
    settings = settings or get_settings()
    require_configured(settings, ("view", "like"), "web")
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder (expected the ml-100k folder)")
    for name in ("u.data", "u.item", "u.user"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name} is missing (a MovieLens 100K folder has it)")

    problems: list[Problem] = []
    genres = _read_genres(folder / "u.genre", problems)
    items = _read_movielens_items(folder / "u.item", genres, problems)
    users = _read_movielens_users(folder / "u.user", problems)
    ratings, rows_read = _read_movielens_ratings(folder / "u.data", users, items, problems)
    source = str(path)
    refuse_unless_loadable(
        source,
        rows_read,
        problems,
        skip_invalid=skip_invalid,
        no_rows=f"{folder / 'u.data'} holds no ratings",
    )

    now = clock.now_ms()
    user_rows = [
        {"user_id": user_id, "attributes": json.dumps(attributes), "now_ms": now}
        for user_id, attributes in users.items()
    ]
    item_rows = [
        {
            **item,
            "categories": json.dumps(item["categories"]),
            "attributes": json.dumps(item["attributes"]),
            "hidden": 0,
            "now_ms": now,
        }
        for item in items.values()
    ]
    category_rows = [
        {"item_id": item["item_id"], "category": category}
        for item in items.values()
        for category in item["categories"]
    ]
    event_rows: list[dict[str, Any]] = []
    by_type: Counter[str] = Counter()
    for r in ratings:
        kinds = ("view", "like") if r.rating >= MOVIELENS_LIKE_RATING else ("view",)
        for kind in kinds:
            event_id = f"ml100k-{r.user_id}-{r.item_id}-{kind}"
            event_rows.append(event_row(event_id, r.user_id, r.item_id, kind, "web", r.ts_ms))
            by_type[kind] += 1
    # In id order, the primary key and the (user, item) index grow at their ends: ~30% faster.
    event_rows.sort(key=lambda row: row["event_id"])

    database.migrate()
    with progress_bar(len(event_rows), "events", "event", progress) as bar:

        def load(conn: sqlite3.Connection) -> int:
            bar.reset(total=len(event_rows))  # a retried transaction starts over
            write_catalog(conn, user_rows, item_rows, category_rows)
            insert_event = sql.query("ingest", "insert_event", dialect_of(conn))
            stored = 0
            for start in range(0, len(event_rows), EVENT_CHUNK):
                chunk = event_rows[start : start + EVENT_CHUNK]
                stored += executemany(conn, insert_event, chunk)
                bar.update(len(chunk))
            return stored

        stored = write_at_once(database, load)

    return ImportReport(
        source=source,
        rows_read=rows_read,
        users=len(user_rows),
        items=len(item_rows),
        events_stored=stored,
        events_duplicate=len(event_rows) - stored,
        rejected=problems,
        seconds=time.perf_counter() - started,
        events_by_type=dict(by_type),
        row_label="rating",
    )
