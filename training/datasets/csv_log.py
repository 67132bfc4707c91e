"""CSV interaction logs: the column roles and how a header's names map to them, the check of
one row, the events' ids, and :func:`import_csv`, which checks every row and then loads the
file in one transaction.

An event's id is :func:`csv_event_id`, a hash of user, item, time and type: importing the same
log again stores nothing twice.
"""

from __future__ import annotations

import codecs
import hashlib
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from functions.common import clock
from functions.common.vocabulary import ITEM_KINDS
from training.datasets.bulk_write import (
    EVENT_CHUNK,
    event_row,
    executemany,
    progress_bar,
    write_at_once,
)
from training.datasets.csv_records import csv_records, first_line, sniff_delimiter
from training.datasets.report import (
    ImportReport,
    MalformedInputError,
    Problem,
    plural,
    refuse_unless_loadable,
)
from training.datasets.validation import first_clause, id_problem, parse_rating, require_configured

if TYPE_CHECKING:
    import sqlite3

    from functions.common.settings import Settings
    from functions.common.store.db import Database

CSV_COLUMNS = ("user_id", "item_id", "timestamp", "rating", "event_type", "platform", "item_kind")
CSV_REQUIRED = ("user_id", "item_id", "timestamp")


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
            f"{path}: missing {plural(len(missing), 'column')} {', '.join(missing)}; "
            f"the header is {names}. Map the file's names with --user-col NAME, --item-col "
            "NAME, --timestamp-col NAME, --rating-col NAME, --event-type-col NAME, "
            "--platform-col NAME or --item-kind-col NAME"
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
            if reason := id_problem(name, value):
                reasons.append(reason)

        ts_text = cells[self.timestamp_index].strip()
        ts_ms = 0
        if not ts_text:
            reasons.append("empty timestamp")
        else:
            try:
                ts_ms = clock.parse_timestamp_text(ts_text)
            except ValueError as error:
                reasons.append(f"timestamp {ts_text[:40]!r}: {first_clause(error)}")

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
            rating, reason = parse_rating(rating_text)
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
    require_configured(settings, (default_event_type,), platform)
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
    delimiter = delimiter or sniff_delimiter(first_line(path, encoding))
    source = str(path)

    # Pass 1: check every row; remember the distinct users and items (with their kind).
    problems: list[Problem] = []
    users: set[str] = set()
    item_kinds: dict[str, str | None] = {}
    rows_read = valid_rows = 0
    with progress_bar(size, "checking", "B", progress) as bar:
        records = csv_records(path, encoding, delimiter, bar)
        first = next(records, None)
        if first is None:
            raise MalformedInputError(f"{path} is empty")
        header_line, header = first
        indices = _column_indices(header, columns, path)
        if "rating" in indices and like_threshold is not None:
            require_configured(settings, ("like",), platform)
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
    refuse_unless_loadable(
        source,
        rows_read,
        problems,
        skip_invalid=skip_invalid,
        no_rows=f"{path} has a header (line {header_line}) but no rows",
    )

    # Pass 2: load the valid rows in one transaction.
    now = clock.now_ms()
    item_rows = [
        {"item_id": item_id, "kind": kind or "video", "now_ms": now}
        for item_id, kind in item_kinds.items()
    ]
    insert_item = sql.query("datasets/imports", "insert_item_if_absent", database.dialect)
    insert_event = sql.query("ingest", "insert_event", database.dialect)

    database.migrate()
    with progress_bar(size, "loading", "B", progress) as bar:

        def load(conn: sqlite3.Connection) -> tuple[int, int, Counter[str]]:
            bar.reset(total=size)  # a retried transaction starts over
            created = executemany(conn, insert_item, item_rows)
            stored = seen = 0
            by_type: Counter[str] = Counter()
            batch: list[dict[str, Any]] = []
            records = csv_records(path, encoding, delimiter, bar)
            next(records)  # the header
            for _, cells in records:
                row = parser.parse(cells)
                if isinstance(row, str):
                    continue
                seen += 1
                for event_type in row.event_types:
                    event_id = csv_event_id(row.user_id, row.item_id, row.ts_ms, event_type)
                    batch.append(
                        event_row(
                            event_id, row.user_id, row.item_id, event_type, row.platform, row.ts_ms
                        )
                    )
                    by_type[event_type] += 1
                if len(batch) >= EVENT_CHUNK:
                    stored += executemany(conn, insert_event, batch)
                    batch = []
            stored += executemany(conn, insert_event, batch)
            if seen != valid_rows:  # rolls everything back
                raise MalformedInputError(f"{path} changed while it was being loaded")
            return created, stored, by_type

        created, stored, by_type = write_at_once(database, load)

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
