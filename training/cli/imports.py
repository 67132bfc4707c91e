"""``mediarec import movielens-100k PATH`` and ``mediarec import csv FILE``, and the CSV column
flags that ``mediarec benchmark quality`` shares."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from training.cli.options import DATABASE, PROGRESS, Commands

if TYPE_CHECKING:
    from functions.common.store.db import Database
    from training.datasets.report import ImportReport

_CSV_COLUMN_FLAGS = {
    "user_id": "--user-col",
    "item_id": "--item-col",
    "timestamp": "--timestamp-col",
    "rating": "--rating-col",
    "event_type": "--event-type-col",
    "platform": "--platform-col",
    "item_kind": "--item-kind-col",
}


def add_column_flags(parser: argparse.ArgumentParser) -> None:
    """``--user-col NAME`` and the like: map a CSV's own header names to ours."""
    for role, flag in _CSV_COLUMN_FLAGS.items():
        parser.add_argument(
            flag,
            dest=f"{role}_col",
            metavar="NAME",
            help=f"the header name of the {role} column (default: {role})",
        )


def column_map(args: argparse.Namespace) -> dict[str, str]:
    """The mapping given with :func:`add_column_flags` (roles left unset are not in it)."""
    return {
        role: getattr(args, f"{role}_col")
        for role in _CSV_COLUMN_FLAGS
        if getattr(args, f"{role}_col", None)
    }


def _threshold(text: str) -> float | None:
    if text.strip().lower() in ("none", "off", ""):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or 'none': {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _delimiter(text: str) -> str:
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    value = named.get(text.lower(), text)
    if len(value) != 1:
        raise argparse.ArgumentTypeError(f"a delimiter is one character (or 'tab'), not {text!r}")
    return value


def _run_import(load: Callable[[Database], ImportReport]) -> int:
    """Open the configured database, run ``load`` and print its summary (errors: exit code 2)."""
    from functions.common.store.db import get_database
    from training.datasets.report import MAX_LISTED_PROBLEMS

    try:
        report = load(get_database())
    except (ValueError, OSError) as error:  # MalformedInputError is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.summary())
    if report.rejected:
        print(f"skipped {len(report.rejected)} malformed rows:", file=sys.stderr)
        for line, reason in report.rejected[:MAX_LISTED_PROBLEMS]:
            print(f"  line {line}: {reason}", file=sys.stderr)
        if len(report.rejected) > MAX_LISTED_PROBLEMS:
            print(f"  ... and {len(report.rejected) - MAX_LISTED_PROBLEMS} more", file=sys.stderr)
    return 0


def cmd_import_movielens(args: argparse.Namespace) -> int:
    from training.datasets.movielens import import_movielens_100k

    return _run_import(
        lambda database: import_movielens_100k(
            database, args.path, progress=not args.quiet, skip_invalid=args.skip_invalid
        )
    )


def cmd_import_csv(args: argparse.Namespace) -> int:
    from training.datasets.csv_log import import_csv

    columns = column_map(args)
    return _run_import(
        lambda database: import_csv(
            database,
            args.file,
            columns=columns,
            default_event_type=args.event_type,
            like_threshold=args.like_threshold,
            platform=args.platform,
            delimiter=args.delimiter,
            progress=not args.quiet,
            skip_invalid=args.skip_invalid,
            encoding=args.encoding,
        )
    )


def register(commands: Commands) -> None:
    group = commands.group(
        "import",
        "load interaction data from files: MovieLens 100K or any CSV log",
        description="Load interaction data from files. Every row is checked before anything is "
        "written; a malformed row stops the import (nothing is loaded) unless --skip-invalid. "
        "Re-importing the same data stores nothing twice.",
        dest="import_format",
        metavar="FORMAT",
    )
    movielens = group.add(
        "movielens-100k",
        "a MovieLens 100K folder (u.data, u.item, u.user, u.genre)",
        func=cmd_import_movielens,
        description="Load MovieLens 100K: users, movies (videos, genres as categories) and "
        "every rating as a view event, plus a like for ratings of 4 and 5.",
        parents=(DATABASE, PROGRESS),
    )
    movielens.add_argument("path", type=Path, metavar="PATH", help="the ml-100k folder")
    movielens.add_argument(
        "--skip-invalid", action="store_true", help="load the valid rows, list the malformed ones"
    )

    log = group.add(
        "csv",
        "an interaction log: user_id, item_id, timestamp [, rating | event_type, ...]",
        func=cmd_import_csv,
        description="Load a delimited interaction log whose header names at least user_id, "
        "item_id and timestamp (epoch seconds, epoch ms or ISO-8601); optional rating (each "
        "row a view, and a like at --like-threshold or above) or event_type, platform, "
        "item_kind. Items not in the catalog get a catalog row.",
        parents=(DATABASE, PROGRESS),
    )
    log.add_argument("file", type=Path, metavar="FILE", help="the CSV (or TSV, ...) file")
    add_column_flags(log)
    log.add_argument(
        "--event-type",
        default="view",
        help="event type of every row when there is no event_type column",
    )
    log.add_argument(
        "--like-threshold",
        type=_threshold,
        default=4.0,
        metavar="X",
        help="with a rating column, a rating >= X also makes a like ('none': never)",
    )
    log.add_argument("--platform", default="web", help="platform of rows without one")
    log.add_argument(
        "--delimiter",
        type=_delimiter,
        default=None,
        help="field separator: one character or 'tab' (default: guessed from the header)",
    )
    log.add_argument("--encoding", default="utf-8-sig", help="text encoding of the file")
    log.add_argument(
        "--skip-invalid", action="store_true", help="load the valid rows, list the malformed ones"
    )
