"""The ``mediarec`` command: everything offline, on the embedded default (a local SQLite file and a
local models folder) unless MEDIAREC_* variables or flags say otherwise."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

Command = Callable[[argparse.Namespace], int]


def _database_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--db",
        type=Path,
        metavar="PATH",
        help="SQLite file (default: $MEDIAREC_DB_PATH or data/mediarec.sqlite)",
    )
    return parent


def _apply_database_option(args: argparse.Namespace) -> None:
    if getattr(args, "db", None):
        os.environ["MEDIAREC_DB_PATH"] = str(args.db)
        from functions.common.caches import reset_all

        reset_all()


def cmd_migrate(args: argparse.Namespace) -> int:
    from functions.common.store.db import get_database

    database = get_database()
    print(f"{database.path}: schema version {database.schema_version()}")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from functions.common.store import db as dbmod
    from functions.common.store.db import get_database
    from training.datasets.synthetic import WorldConfig, generate_world, write_world

    database = get_database()
    if args.if_empty:
        row = database.read(lambda c: dbmod.fetch_one(c, "seed", "count_events"))
        if row and int(row["n"]):
            print(f"{database.path} already holds {int(row['n'])} events; not seeding (--if-empty)")
            return 0
    config = WorldConfig(
        seed=args.seed,
        users=args.users,
        items=args.items,
        events=args.events,
        days=args.days,
        end_ms=args.end_ms,
    )
    started = time.perf_counter()
    world = generate_world(config)
    generated = time.perf_counter()
    try:
        counts = write_world(database, world, reset=args.reset, progress=not args.quiet)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    done = time.perf_counter()
    print(f"seeded {database.path}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    print(f"generated in {generated - started:.1f} s, written in {done - generated:.1f} s")
    print(f"try a user: {world.user_ids[0]} (e.g. /recommendations/{world.user_ids[0]}?k=10)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from training.local.server import build_app

    app = build_app()
    base = f"http://{args.host}:{args.port}"
    print(f"mediarec serving on {base}  (Swagger UI: {base}/docs)")
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
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


def cmd_benchmark_ingest(args: argparse.Namespace) -> int:
    from training.benchmarks.ingest import run_ingest_benchmark

    run_ingest_benchmark(
        single_requests=args.single, batches=args.batches, repeats=args.repeats, out=args.out
    )
    return 0


def cmd_benchmark_quality(args: argparse.Namespace) -> int:
    from training.benchmarks.quality import run_quality_benchmark
    from training.datasets.importers import column_map

    try:
        run_quality_benchmark(
            args.dataset,
            args.path,
            args.out,
            seed=args.seed,
            ablations=not args.no_ablations,
            peers=not args.no_peers,
            columns=column_map(args) or None,
        )
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def cmd_benchmark_serving(args: argparse.Namespace) -> int:
    from training.benchmarks.serving import run_serving_benchmark

    sizes = [int(x) for x in args.items.split(",") if x.strip()]
    run_serving_benchmark(sizes, args.events, args.users, args.cold_runs, args.requests, args.out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mediarec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    db_opts = _database_options()

    migrate = sub.add_parser(
        "migrate", parents=[db_opts], help="create or upgrade the SQLite schema"
    )
    migrate.set_defaults(func=cmd_migrate)

    seed = sub.add_parser(
        "seed", parents=[db_opts], help="fill the database with a synthetic media world"
    )
    seed.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    seed.add_argument("--users", type=int, default=2000)
    seed.add_argument("--items", type=int, default=1000)
    seed.add_argument("--events", type=int, default=200_000)
    seed.add_argument("--days", type=int, default=28, help="days of history (default 28)")
    seed.add_argument(
        "--end-ms",
        type=int,
        default=None,
        help="epoch ms of the last event (default: now); fix it for identical worlds",
    )
    seed.add_argument("--reset", action="store_true", help="delete existing data first")
    seed.add_argument(
        "--if-empty", action="store_true", help="do nothing when the database already holds events"
    )
    seed.add_argument("--quiet", action="store_true", help="no progress bar")
    seed.set_defaults(func=cmd_seed)

    serve = sub.add_parser(
        "serve",
        parents=[db_opts],
        help="run all routes of the three functions in one local process",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=cmd_serve)

    refresh = sub.add_parser(
        "refresh",
        parents=[db_opts],
        help="rebuild the serving snapshots now (popularity, the models' item features)",
    )
    refresh.set_defaults(func=cmd_refresh)

    from training.cli import keys, train
    from training.datasets import importers

    importers.register(sub, parents=[db_opts])
    train.register(sub, parents=[db_opts])
    keys.register(sub, parents=[db_opts])

    bench = sub.add_parser(
        "benchmark", help="measure speed and quality; prints a table, writes JSON"
    )
    bench_sub = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    ingest = bench_sub.add_parser(
        "ingest",
        help="events/s through the ingest handler: single events and batches of 500, "
        "WAL and DELETE journal modes",
    )
    ingest.add_argument("--single", type=int, default=2000, help="single-event requests per run")
    ingest.add_argument("--batches", type=int, default=40, help="500-event batches per run")
    ingest.add_argument("--repeats", type=int, default=3, help="runs per cell; the median is kept")
    ingest.add_argument("--out", type=Path, default=Path("bench-results/ingest.json"))
    ingest.set_defaults(func=cmd_benchmark_ingest)
    quality = bench_sub.add_parser(
        "quality",
        help="mediarec vs its ablations, popularity and implicit ALS/BPR on one "
        "leave-last-out split: HR/NDCG@10, Recall/NDCG@20, AUC, grouped AUC",
    )
    quality.add_argument(
        "--dataset", choices=["movielens-100k", "csv", "synthetic"], default="movielens-100k"
    )
    quality.add_argument("--path", type=Path, help="ml-100k folder, or the CSV file")
    quality.add_argument("--seed", type=int, default=42)
    importers.add_column_flags(quality)
    quality.add_argument("--no-ablations", action="store_true")
    quality.add_argument("--no-peers", action="store_true")
    quality.add_argument("--out", type=Path, default=Path("bench-results/quality.json"))
    quality.set_defaults(func=cmd_benchmark_quality)
    serving = bench_sub.add_parser(
        "serving",
        help="recommend handler: cold start (ONNX vs PyTorch), warm p50/p95/p99 per "
        "catalog size, peak RSS",
    )
    serving.add_argument(
        "--items", default="1000,10000,100000", help="catalog sizes, comma-separated"
    )
    serving.add_argument("--events", type=int, default=1_000_000)
    serving.add_argument("--users", type=int, default=10_000)
    serving.add_argument("--cold-runs", type=int, default=5)
    serving.add_argument("--requests", type=int, default=2000, help="warm requests per size")
    serving.add_argument("--out", type=Path, default=Path("bench-results/serving.json"))
    serving.set_defaults(func=cmd_benchmark_serving)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _apply_database_option(args)
    func: Command = args.func
    return func(args)
