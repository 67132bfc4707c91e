"""Load interaction data from files: a MovieLens 100K folder, or any CSV interaction log.

Both importers read the whole input and check every row before they write anything, then write
everything in ONE transaction, so a file is either loaded or not: never half. A malformed row
(wrong number of fields, an empty or oversized id, a timestamp or rating that does not parse, an
unknown event type or platform) stops the import with :class:`MalformedInputError`, which lists
the first problems as ``line N: reason`` (1-based lines of the file). ``skip_invalid=True`` loads
the valid rows instead and returns the problems in :attr:`ImportReport.rejected`.

Event ids are derived from the data (``ml100k-<user>-<item>-view``; for CSV a hash of user,
item, time and type), and events are inserted with the ingest function's own query, which ignores
an id it already holds: importing the same data twice stores it once and reports the rest as
duplicates.

This module is imported by the CLI on every start, so its heavy dependencies (settings,
database, tqdm) are imported where they are used.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import math
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from functions.common import clock
from functions.common.http.errors import ID_PATTERN, ID_PATTERN_TEXT
from functions.common.http.schemas import MAX_ID_LENGTH

if TYPE_CHECKING:
    import sqlite3

    from tqdm import tqdm

    from functions.common.settings import Settings
    from functions.common.store.db import Database

Problem = tuple[int, str]
"""A malformed row: its 1-based line in the file and what is wrong with it."""

MAX_LISTED_PROBLEMS = 20  # problems quoted in a MalformedInputError message
EVENT_CHUNK = 20_000  # events per executemany inside the one transaction (progress granularity)
IMPORT_CACHE_KIB = 262_144  # SQLite page cache while importing: random-key inserts run 2x faster
ITEM_KINDS = ("video", "article", "post")

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

CSV_COLUMNS = ("user_id", "item_id", "timestamp", "rating", "event_type", "platform", "item_kind")
CSV_REQUIRED = ("user_id", "item_id", "timestamp")
CSV_DELIMITERS = (",", ";", "\t", "|")


class MalformedInputError(ValueError):
    """The input cannot be loaded as it is; nothing was written.

    ``problems`` holds every malformed row found, as ``(line, reason)``; it is empty for
    problems with the file as a whole (empty file, missing column, undecodable text).
    """

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)

    @classmethod
    def from_problems(cls, source: str, problems: Sequence[Problem]) -> MalformedInputError:
        count = len(problems)
        lines = [
            f"{source}: {count} malformed {_plural(count, 'row')}; nothing was loaded "
            "(skip_invalid=True or --skip-invalid loads the valid rows and skips these)"
        ]
        lines += [f"  line {line}: {reason}" for line, reason in problems[:MAX_LISTED_PROBLEMS]]
        if count > MAX_LISTED_PROBLEMS:
            lines.append(f"  ... and {count - MAX_LISTED_PROBLEMS} more")
        return cls("\n".join(lines), problems)


@dataclass
class ImportReport:
    """What one import read and wrote."""

    source: str
    rows_read: int = 0  # data rows (ratings, CSV rows), malformed ones included
    users: int = 0  # MovieLens: users written; CSV: distinct users of the loaded rows
    items: int = 0  # MovieLens: items written; CSV: distinct items of the loaded rows
    events_stored: int = 0
    events_duplicate: int = 0  # events whose id the database already held (or seen twice)
    rejected: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    events_by_type: dict[str, int] = field(default_factory=dict)  # stored + duplicates
    items_created: int | None = None  # CSV: items that were not in the catalog yet
    row_label: str = "row"  # what a data row is, singular: "row", "rating"

    def summary(self) -> str:
        """One line for the CLI, e.g. ``loaded ml-100k: 100000 ratings -> 100000 view + 55375
        like events (0 duplicates), 943 users, 1682 items in 4.1 s``."""
        total = sum(self.events_by_type.values())
        events = " + ".join(f"{n} {kind}" for kind, n in self.events_by_type.items()) or "0"
        items = f"{self.items} {_plural(self.items, 'item')}"
        if self.items_created is not None:
            items += f" ({self.items_created} new in the catalog)"
        skipped = ""
        if self.rejected:
            n = len(self.rejected)
            skipped = f"; {n} malformed {_plural(n, 'row')} skipped"
        return (
            f"loaded {self.source}: {self.rows_read} {_plural(self.rows_read, self.row_label)} "
            f"-> {events} {_plural(total, 'event')} "
            f"({self.events_duplicate} {_plural(self.events_duplicate, 'duplicate')}), "
            f"{self.users} {_plural(self.users, 'user')}, {items}{skipped} "
            f"in {self.seconds:.1f} s"
        )


def _plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


# -- shared checks -----------------------------------------------------------------------------
_ID_CHARACTERS = re.compile(ID_PATTERN)


def _id_problem(name: str, value: str) -> str | None:
    """Why ``value`` cannot be an id (the API's one rule: 1-128 characters, no control
    characters, no '/')."""
    if not value:
        return f"empty {name}"
    if len(value) > MAX_ID_LENGTH:
        return f"{name} longer than {MAX_ID_LENGTH} characters ({len(value)})"
    if not _ID_CHARACTERS.match(value):
        return f"{name} {value[:40]!r}: {ID_PATTERN_TEXT}"
    return None


def _first_clause(error: Exception) -> str:
    return str(error).split(": ", 1)[0]


def parse_timestamp_text(text: str) -> int:
    """Epoch seconds, epoch milliseconds (>= 1e11) or ISO-8601 text to epoch milliseconds."""
    number: int | float
    try:
        number = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            return clock.parse_timestamp(text)
    return clock.parse_timestamp(number)


def _parse_rating(text: str) -> tuple[float | None, str | None]:
    if not text:
        return None, "empty rating"
    try:
        rating = float(text)
    except ValueError:
        return None, f"rating {text[:40]!r} is not a number"
    if not math.isfinite(rating):
        return None, f"rating {text[:40]!r} is not a finite number"
    return rating, None


def _event_row(
    event_id: str, user_id: str, item_id: str, event_type: str, platform: str, ts_ms: int
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "user_id": user_id,
        "item_id": item_id,
        "event_type": event_type,
        "platform": platform,
        "ts_ms": ts_ms,
        "received_ms": ts_ms,  # historical data: received when it happened
        "recommendation_id": None,
        "position": None,
        "dwell_ms": None,
    }


def _progress(total: int, desc: str, unit: str, enabled: bool) -> tqdm[Any]:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=not enabled)


def _require_configured(settings: Settings, event_types: Iterable[str], platform: str) -> None:
    for event_type in event_types:
        if event_type not in settings.event_types:
            raise ValueError(
                f"event type {event_type!r} is not configured (MEDIAREC_EVENT_TYPES is "
                f"{','.join(settings.event_types)})"
            )
    if platform not in settings.platforms:
        raise ValueError(
            f"platform {platform!r} is not configured (MEDIAREC_PLATFORMS is "
            f"{','.join(settings.platforms)})"
        )


# -- MovieLens 100K ----------------------------------------------------------------------------
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
    return _id_problem(name, value)


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
        rating, reason = _parse_rating(rating_text)
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
    _require_configured(settings, ("view", "like"), "web")
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
    if rows_read == 0:
        raise MalformedInputError(f"{folder / 'u.data'} holds no ratings")
    if problems and not skip_invalid:
        raise MalformedInputError.from_problems(source, problems)

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
            event_rows.append(_event_row(event_id, r.user_id, r.item_id, kind, "web", r.ts_ms))
            by_type[kind] += 1
    # In id order, the primary key and the (user, item) index grow at their ends: ~30% faster.
    event_rows.sort(key=lambda row: row["event_id"])

    database.migrate()
    with _progress(len(event_rows), "events", "event", progress) as bar:

        def load(conn: sqlite3.Connection) -> int:
            bar.reset(total=len(event_rows))  # a retried transaction starts over
            _executemany(conn, sql.query("ingest", "upsert_user"), user_rows)
            _executemany(conn, sql.query("ingest", "upsert_item"), item_rows)
            _executemany(
                conn,
                sql.query("ingest", "delete_item_categories"),
                [{"item_id": row["item_id"]} for row in item_rows],
            )
            _executemany(conn, sql.query("ingest", "insert_item_category"), category_rows)
            insert_event = sql.query("ingest", "insert_event")
            stored = 0
            for start in range(0, len(event_rows), EVENT_CHUNK):
                chunk = event_rows[start : start + EVENT_CHUNK]
                stored += _executemany(conn, insert_event, chunk)
                bar.update(len(chunk))
            return stored

        with _large_page_cache(database.conn):
            stored = database.write(load)

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


@contextmanager
def _large_page_cache(conn: sqlite3.Connection) -> Iterator[None]:
    """Let SQLite cache up to IMPORT_CACHE_KIB of pages (the default is 2 MiB) while loading."""
    previous = int(conn.execute("PRAGMA cache_size").fetchone()[0])
    conn.execute(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA cache_size = {previous}")


def _executemany(conn: sqlite3.Connection, query: str, rows: Sequence[dict[str, Any]]) -> int:
    """Rows changed (inserted or updated) by ``query`` over ``rows``."""
    if not rows:
        return 0
    return max(conn.executemany(query, rows).rowcount, 0)


# -- CSV interaction logs ----------------------------------------------------------------------
def sniff_delimiter(header_line: str) -> str:
    """The one of , ; TAB | that the header line uses most (ties: in that order)."""
    counts = [(header_line.count(d), -i, d) for i, d in enumerate(CSV_DELIMITERS)]
    best = max(counts)
    if best[0] == 0:
        raise MalformedInputError(
            f"cannot tell the delimiter from the header {header_line[:200]!r} "
            "(none of , ; TAB |); pass delimiter= (--delimiter)"
        )
    return best[2]


def _first_line(path: Path, encoding: str) -> str:
    try:
        with path.open(encoding=encoding, newline="") as handle:
            for text in handle:
                if text.strip():
                    return text
    except UnicodeDecodeError as error:
        raise _encoding_error(path, encoding, error) from None
    raise MalformedInputError(f"{path} is empty")


def _encoding_error(path: Path, encoding: str, error: Exception) -> MalformedInputError:
    """The error for a file that does not decode, naming its first undecodable line.

    Text files decode in blocks, so the failing line is found again byte line by byte line.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 0
    with path.open("rb") as handle:
        try:
            for line, raw in enumerate(handle, start=1):  # noqa: B007 (used after the loop)
                decoder.decode(raw)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            pass
    return MalformedInputError(
        f"{path}: line {line} is not {encoding} text ({_first_clause(error)}); "
        "pass the file's encoding (encoding=, --encoding latin-1)"
    )


def _csv_records(
    path: Path, encoding: str, delimiter: str, bar: tqdm[Any] | None = None
) -> Iterator[tuple[int, list[str]]]:
    """Every non-blank record (the header first) with the 1-based line it starts on."""
    line = 0
    try:
        with path.open(encoding=encoding, newline="") as handle:
            reader = csv.reader(_counted(handle, bar), delimiter=delimiter)
            for record in reader:
                start, line = line + 1, reader.line_num
                if len(record) > 1 or (record and record[0].strip()):
                    yield start, record
    except UnicodeDecodeError as error:
        raise _encoding_error(path, encoding, error) from None
    except csv.Error as error:
        raise MalformedInputError(f"{path}: line {line + 1}: {error}") from None


def _counted(lines: Iterable[str], bar: tqdm[Any] | None) -> Iterator[str]:
    """``lines``, advancing ``bar`` by their length every 64 KB or so."""
    if bar is None:
        yield from lines
        return
    pending = 0
    for text in lines:
        pending += len(text)
        if pending >= 65_536:
            bar.update(pending)
            pending = 0
        yield text
    bar.update(pending)


class _CsvRow(NamedTuple):
    user_id: str
    item_id: str
    ts_ms: int
    event_types: tuple[str, ...]
    platform: str
    item_kind: str | None


def _column_indices(header: list[str], columns: dict[str, str], path: Path) -> dict[str, int]:
    """Canonical column name -> position in the header (exact name first, then any case)."""
    names = [name.strip() for name in header]
    exact = {name: i for i, name in reversed(list(enumerate(names)))}
    folded = {name.casefold(): i for i, name in reversed(list(enumerate(names)))}
    found: dict[str, int] = {}
    missing: list[str] = []
    for canonical in CSV_COLUMNS:
        wanted = columns.get(canonical, canonical)
        if wanted in exact:
            found[canonical] = exact[wanted]
        elif wanted.casefold() in folded:
            found[canonical] = folded[wanted.casefold()]
        elif canonical in CSV_REQUIRED or canonical in columns:
            missing.append(wanted if wanted == canonical else f"{wanted} (for {canonical})")
    if missing:
        raise MalformedInputError(
            f"{path}: missing {_plural(len(missing), 'column')} {', '.join(missing)}; "
            f"the header is {names}. Map names with columns={{'user_id': ...}} or "
            "--user-col/--item-col/--timestamp-col/..."
        )
    if "rating" in found and "event_type" in found:
        raise MalformedInputError(
            f"{path}: both a rating column ({names[found['rating']]}) and an event_type column "
            f"({names[found['event_type']]}); an import uses one or the other"
        )
    return found


class _CsvRowParser:
    """Checks one CSV record and turns it into a :class:`_CsvRow` or a reason."""

    def __init__(
        self,
        indices: dict[str, int],
        width: int,
        *,
        default_event_type: str,
        like_threshold: float | None,
        platform: str,
        event_types: Sequence[str],
        platforms: Sequence[str],
    ) -> None:
        self.indices = indices
        self.user_index = indices["user_id"]
        self.item_index = indices["item_id"]
        self.timestamp_index = indices["timestamp"]
        self.width = width
        self.default_event_type = default_event_type
        self.like_threshold = like_threshold
        self.platform = platform
        self.event_types = tuple(event_types)
        self.platforms = tuple(platforms)

    def _cell(self, cells: list[str], name: str) -> str | None:
        index = self.indices.get(name)
        return None if index is None else cells[index].strip()

    def parse(self, cells: list[str]) -> _CsvRow | str:
        if len(cells) != self.width:
            return f"expected {self.width} fields, found {len(cells)}"
        reasons: list[str] = []
        user_id = cells[self.user_index].strip()
        item_id = cells[self.item_index].strip()
        for name, value in (("user_id", user_id), ("item_id", item_id)):
            if reason := _id_problem(name, value):
                reasons.append(reason)

        ts_text = cells[self.timestamp_index].strip()
        ts_ms = 0
        if not ts_text:
            reasons.append("empty timestamp")
        else:
            try:
                ts_ms = parse_timestamp_text(ts_text)
            except ValueError as error:
                reasons.append(f"timestamp {ts_text[:40]!r}: {_first_clause(error)}")

        event_types: tuple[str, ...] = (self.default_event_type,)
        event_type = self._cell(cells, "event_type")
        rating_text = self._cell(cells, "rating")
        if event_type is not None:
            event_types = (event_type,)
            if not event_type:
                reasons.append("empty event_type")
            elif event_type not in self.event_types:
                reasons.append(
                    f"unknown event_type {event_type[:40]!r}; expected one of "
                    f"{list(self.event_types)}"
                )
        elif rating_text is not None:
            rating, reason = _parse_rating(rating_text)
            if reason:
                reasons.append(reason)
            elif (
                rating is not None
                and self.like_threshold is not None
                and rating >= self.like_threshold
                and self.default_event_type != "like"
            ):
                event_types = (self.default_event_type, "like")

        platform = self._cell(cells, "platform") or self.platform
        if platform not in self.platforms:
            reasons.append(
                f"unknown platform {platform[:40]!r}; expected one of {list(self.platforms)}"
            )
        item_kind = self._cell(cells, "item_kind") or None
        if item_kind is not None and item_kind not in ITEM_KINDS:
            reasons.append(f"unknown item_kind {item_kind[:40]!r}; expected one of {ITEM_KINDS}")

        if reasons:
            return "; ".join(reasons)
        return _CsvRow(user_id, item_id, ts_ms, event_types, platform, item_kind)


def csv_event_id(user_id: str, item_id: str, ts_ms: int, event_type: str) -> str:
    """``csv-<sha1>`` of (user, item, time, type): the same interaction always gets the same id.

    Ids cannot hold control characters, so the tab separator is unambiguous.
    """
    key = f"{user_id}\t{item_id}\t{ts_ms}\t{event_type}".encode()
    return "csv-" + hashlib.sha1(key, usedforsecurity=False).hexdigest()


def import_csv(
    database: Database,
    file: Path,
    *,
    columns: dict[str, str] | None = None,
    default_event_type: str = "view",
    like_threshold: float | None = 4.0,
    platform: str = "web",
    delimiter: str | None = None,
    progress: bool = False,
    skip_invalid: bool = False,
    encoding: str = "utf-8-sig",
    settings: Settings | None = None,
) -> ImportReport:
    """Load an interaction log: a delimited text file whose header names the columns.

    Required columns: ``user_id``, ``item_id``, ``timestamp`` (epoch seconds, epoch ms or
    ISO-8601); optional: ``rating`` (each row is a ``default_event_type`` event, and also a
    ``like`` when the rating is at least ``like_threshold``), ``event_type`` (one of the
    configured types; a file has a rating or an event_type column, not both), ``platform``
    (empty cells take ``platform``) and ``item_kind`` (video, article or post; default video).
    ``columns`` maps these names to the file's own (``{"user_id": "userId"}``); header names
    match exactly, or else ignoring case. The delimiter is guessed from the header unless given.

    Items the catalog lacks get a bare catalog row (kind from the first row naming one); items
    already there are left untouched. The file is read twice (check everything, then load in one
    transaction), so memory stays flat however long it is.
    """
    from functions.common.settings import get_settings
    from functions.common.store import sql

    started = time.perf_counter()
    settings = settings or get_settings()
    _require_configured(settings, (default_event_type,), platform)
    columns = dict(columns or {})
    unknown = sorted(set(columns) - set(CSV_COLUMNS))
    if unknown:
        raise ValueError(f"unknown column roles {unknown}; known: {list(CSV_COLUMNS)}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown text encoding {encoding!r} (e.g. utf-8, latin-1)") from None
    path = Path(file)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise MalformedInputError(f"{path} is empty")
    delimiter = delimiter or sniff_delimiter(_first_line(path, encoding))
    source = str(path)

    # Pass 1: check every row; remember the distinct users and items (with their kind).
    problems: list[Problem] = []
    users: set[str] = set()
    item_kinds: dict[str, str | None] = {}
    rows_read = valid_rows = 0
    with _progress(size, "checking", "B", progress) as bar:
        records = _csv_records(path, encoding, delimiter, bar)
        first = next(records, None)
        if first is None:
            raise MalformedInputError(f"{path} is empty")
        header_line, header = first
        indices = _column_indices(header, columns, path)
        if "rating" in indices and like_threshold is not None:
            _require_configured(settings, ("like",), platform)
        parser = _CsvRowParser(
            indices,
            len(header),
            default_event_type=default_event_type,
            like_threshold=like_threshold,
            platform=platform,
            event_types=settings.event_types,
            platforms=settings.platforms,
        )
        for line, cells in records:
            rows_read += 1
            row = parser.parse(cells)
            if isinstance(row, str):
                problems.append((line, row))
                continue
            valid_rows += 1
            users.add(row.user_id)
            if item_kinds.get(row.item_id) is None:
                item_kinds[row.item_id] = row.item_kind
    if rows_read == 0:
        raise MalformedInputError(f"{path} has a header (line {header_line}) but no rows")
    if problems and not skip_invalid:
        raise MalformedInputError.from_problems(source, problems)

    # Pass 2: load the valid rows in one transaction.
    now = clock.now_ms()
    item_rows = [
        {"item_id": item_id, "kind": kind or "video", "now_ms": now}
        for item_id, kind in item_kinds.items()
    ]
    insert_item = sql.query("imports", "insert_item_if_absent")
    insert_event = sql.query("ingest", "insert_event")

    database.migrate()
    with _progress(size, "loading", "B", progress) as bar:

        def load(conn: sqlite3.Connection) -> tuple[int, int, Counter[str]]:
            bar.reset(total=size)  # a retried transaction starts over
            created = _executemany(conn, insert_item, item_rows)
            stored = seen = 0
            by_type: Counter[str] = Counter()
            batch: list[dict[str, Any]] = []
            records = _csv_records(path, encoding, delimiter, bar)
            next(records)  # the header
            for _, cells in records:
                row = parser.parse(cells)
                if isinstance(row, str):
                    continue
                seen += 1
                for event_type in row.event_types:
                    event_id = csv_event_id(row.user_id, row.item_id, row.ts_ms, event_type)
                    batch.append(
                        _event_row(
                            event_id, row.user_id, row.item_id, event_type, row.platform, row.ts_ms
                        )
                    )
                    by_type[event_type] += 1
                if len(batch) >= EVENT_CHUNK:
                    stored += _executemany(conn, insert_event, batch)
                    batch = []
            stored += _executemany(conn, insert_event, batch)
            if seen != valid_rows:  # rolls everything back
                raise MalformedInputError(f"{path} changed while it was being loaded")
            return created, stored, by_type

        with _large_page_cache(database.conn):
            created, stored, by_type = database.write(load)

    attempted = sum(by_type.values())
    return ImportReport(
        source=source,
        rows_read=rows_read,
        users=len(users),
        items=len(item_kinds),
        events_stored=stored,
        events_duplicate=attempted - stored,
        rejected=problems,
        seconds=time.perf_counter() - started,
        events_by_type=dict(by_type),
        items_created=created,
    )
