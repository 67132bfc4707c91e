"""``mediarec migrate``, ``migrate-db``, ``seed`` and ``refresh``: the database itself."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from training.cli.options import DATABASE, PROGRESS, Commands


def cmd_migrate(args: argparse.Namespace) -> int:
    from functions.common.store.db import get_database

    database = get_database()
    print(f"{database.path}: schema version {database.schema_version()}")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from functions.common.store import db as dbmod
    from functions.common.store.db import get_database
    from training.datasets.synthetic.generation import generate_world
    from training.datasets.synthetic.world import WorldConfig
    from training.datasets.synthetic.write import write_world

    database = get_database()
    if args.if_empty:
        row = database.read(lambda c: dbmod.fetch_one(c, "datasets/seed", "count_events"))
        if row and int(row["n"]):
            print(f"{database.path} already holds {int(row['n'])} events; not seeding (--if-empty)")
            return 0
    started = time.perf_counter()
    try:
        config = WorldConfig(
            seed=args.seed,
            users=args.users,
            items=args.items,
            events=args.events,
            days=args.days,
            end_ms=args.end_ms,
        )
        world = generate_world(config)
        generated = time.perf_counter()
        counts = write_world(database, world, reset=args.reset, progress=not args.quiet)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    done = time.perf_counter()
    print(f"seeded {database.path}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    print(f"generated in {generated - started:.1f} s, written in {done - generated:.1f} s")
    print(f"try a user: {world.user_ids[0]} (e.g. /recommendations/{world.user_ids[0]}?k=10)")
    return 0


def cmd_refresh(args: argparse.Namespace) -> int:
    from functions.common.clock import now_ms
    from functions.common.serving.snapshot_refresh import refresh_all, snapshot_status
    from functions.common.settings import get_settings
    from functions.common.store.db import get_database

    database = get_database()
    started = time.perf_counter()
    report = refresh_all(database, get_settings(), now_ms())
    seconds = time.perf_counter() - started
    for state in ("refreshed", "busy", "dropped"):
        for name in report[state]:
            print(f"{state:9} {name}")
    for snapshot in snapshot_status(database, now_ms()):
        print(f"snapshot  {snapshot['name']}: {snapshot['rows']} rows")
    print(f"in {seconds:.1f} s")
    return 0


def cmd_migrate_db(args: argparse.Namespace) -> int:
    from functions.common.settings import Settings, SettingsError
    from functions.common.store.db import open_database, store_errors
    from training.store_copy import CopyMismatchError, copy_store, open_source

    try:
        settings = Settings.from_env()  # journal mode, retries: as every other command
        source = open_source(settings.model_copy(update={"database_url": args.source}))
        target = open_database(
            Settings.model_validate({**settings.model_dump(), "database_url": args.target})
        )
    except Exception as error:  # a wrong URL, an unreachable server: a message, not a traceback
        if not isinstance(error, (SettingsError, ValueError, OSError, *store_errors())):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2
    started = time.perf_counter()

    def progress(table: str, rows: int) -> None:
        if not args.quiet:
            print(f"  {table}: {rows} rows copied", flush=True)

    try:
        report = copy_store(source, target, state_path=Path(args.state), progress=progress)
    except CopyMismatchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        source.close()
        target.close()
    if report.resumed:
        print("resumed an earlier copy of: " + ", ".join(report.resumed))
    for name, table in report.tables.items():
        print(f"{name:24} {table.rows:>10} rows  checksum {table.checksum}  ok")
    print(f"copied {source.path} -> {target.path} in {time.perf_counter() - started:.1f} s")
    return 0


def register(commands: Commands) -> None:
    commands.add("migrate", "create or upgrade the store's schema", func=cmd_migrate)

    move = commands.add(
        "migrate-db",
        "copy a whole store to another engine (SQLite -> PostgreSQL), verified",
        func=cmd_migrate_db,
        description="Copy every table of one store into another, a chunk per transaction, "
        "resumable from a state file after an interruption, then compare every table's row "
        "count and checksum. The source is only read (stop writing to it first: a row updated "
        "after its chunk was copied keeps its old value in the copy, and the check then names "
        "its table). The target is migrated first; rows it already holds are kept.",
    )
    move.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="URL",
        help="sqlite:///path or postgresql://...",
    )
    move.add_argument(
        "--to",
        dest="target",
        required=True,
        metavar="URL",
        help="sqlite:///path or postgresql://...",
    )
    move.add_argument(
        "--state",
        default="migrate-db.state.json",
        help="where progress is kept, to resume an interrupted copy (default: %(default)s)",
    )
    move.add_argument("--quiet", action="store_true", help="no progress lines")

    seed = commands.add(
        "seed",
        "fill the database with a synthetic media world",
        func=cmd_seed,
        description="Fill the database with a synthetic media world: users with tastes over "
        "categories, a catalog of videos, articles and posts, and their events on three "
        "platforms. The same seed and sizes (and --end-ms) give the same world.",
        parents=(DATABASE, PROGRESS),
    )
    seed.add_argument("--seed", type=int, default=7, help="random seed")
    seed.add_argument("--users", type=int, default=2000, help="number of users")
    seed.add_argument("--items", type=int, default=1000, help="number of catalog items")
    seed.add_argument("--events", type=int, default=200_000, help="about this many events")
    seed.add_argument("--days", type=int, default=28, help="days of history")
    seed.add_argument(
        "--end-ms",
        type=int,
        default=None,
        metavar="MS",
        help="epoch ms of the last event (default: now); fix it for identical worlds",
    )
    seed.add_argument("--reset", action="store_true", help="delete existing data first")
    seed.add_argument(
        "--if-empty", action="store_true", help="do nothing when the database already holds events"
    )

    commands.add(
        "refresh",
        "rebuild the serving snapshots now (popularity, the models' item features)",
        func=cmd_refresh,
    )
