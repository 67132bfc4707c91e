"""``mediarec benchmark ingest|quality|serving|metrics|off-policy|concurrency``: each prints a
table and writes JSON."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from training.cli.imports import add_column_flags, column_map
from training.cli.options import PROGRESS, Commands


def cmd_benchmark_ingest(args: argparse.Namespace) -> int:
    from training.benchmarks.ingest import run_ingest_benchmark

    run_ingest_benchmark(
        single_requests=args.single, batches=args.batches, repeats=args.repeats, out=args.out
    )
    return 0


def cmd_benchmark_quality(args: argparse.Namespace) -> int:
    from training.benchmarks.quality import run_quality_benchmark

    try:
        run_quality_benchmark(
            args.dataset,
            args.path,
            args.out,
            seed=args.seed,
            seeds=args.seeds,
            ablations=not args.no_ablations,
            peers=not args.no_peers,
            columns=column_map(args) or None,
        )
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number is needed: {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"at least 1 is needed: {text!r}")
    return number


def _whole_numbers(what: str, minimum: int | None) -> Callable[[str], list[int]]:
    """A parser of comma-separated whole numbers (``what``: their name in messages), each at
    least ``minimum`` when one is given."""

    def parse(text: str) -> list[int]:
        try:
            numbers = [int(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} are whole numbers: {text!r}") from None
        if not numbers or (minimum is not None and min(numbers) < minimum):
            floor = "" if minimum is None else f", each {minimum} or more"
            raise argparse.ArgumentTypeError(f"give at least one of the {what}{floor}: {text!r}")
        return numbers

    return parse


_sizes = _whole_numbers("catalog sizes", 1)
_seeds = _whole_numbers("seeds", None)
_writer_counts = _whole_numbers("writer counts", 0)


def cmd_benchmark_serving(args: argparse.Namespace) -> int:
    from training.benchmarks.serving import run_serving_benchmark

    run_serving_benchmark(
        args.items, args.events, args.users, args.cold_runs, args.requests, args.out
    )
    return 0


def cmd_benchmark_coldstart(args: argparse.Namespace) -> int:
    from training.benchmarks.coldstart import run_coldstart_benchmark

    run_coldstart_benchmark(
        args.items, args.events, args.users, args.runs, args.out, bytecode=not args.no_bytecode
    )
    return 0


def cmd_benchmark_metrics(args: argparse.Namespace) -> int:
    from training.benchmarks.metrics import run_metrics_benchmark

    run_metrics_benchmark(
        args.impressions, args.engagements, args.days, args.out, progress=not args.quiet
    )
    return 0


def cmd_benchmark_off_policy(args: argparse.Namespace) -> int:
    from training.benchmarks.off_policy import run_off_policy_benchmark

    summary = run_off_policy_benchmark(
        args.seeds, args.users, args.days, args.out, progress=not args.quiet
    )
    return 0 if summary["checks"] and summary["consistent"] == summary["checks"] else 1


def _engines(text: str) -> list[str]:
    from training.benchmarks.concurrency import ENGINES

    engines = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown or not engines:
        raise argparse.ArgumentTypeError(
            f"engines are a comma-separated subset of {','.join(ENGINES)}: {text!r}"
        )
    return engines


def cmd_benchmark_concurrency(args: argparse.Namespace) -> int:
    from training.benchmarks.concurrency import run_concurrency_benchmark

    try:
        run_concurrency_benchmark(
            args.engines,
            args.writers,
            args.out,
            postgres_url=args.postgres_url or None,
            items=args.items,
            events=args.events,
            users=args.users,
            duration=args.duration,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _add_out_option(parser: argparse.ArgumentParser, benchmark: str) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(f"bench-results/{benchmark}.json"),
        metavar="PATH",
        help="where the JSON results go",
    )


def register(commands: Commands) -> None:
    group = commands.group(
        "benchmark",
        "measure speed and quality; prints a table, writes JSON",
        dest="benchmark",
        metavar="BENCHMARK",
    )
    ingest = group.add(
        "ingest",
        "events/s through the ingest handler: single events and batches of 500, WAL and "
        "DELETE journal modes",
        func=cmd_benchmark_ingest,
        parents=(),
    )
    ingest.add_argument("--single", type=int, default=2000, help="single-event requests per run")
    ingest.add_argument("--batches", type=int, default=40, help="500-event batches per run")
    ingest.add_argument("--repeats", type=int, default=3, help="runs per cell; the median is kept")
    _add_out_option(ingest, "ingest")

    quality = group.add(
        "quality",
        "mediarec vs its ablations, popularity, implicit ALS/BPR and RecTools' SASRec on one "
        "leave-last-out split: HR/NDCG@10, Recall/NDCG@20, AUC, grouped AUC",
        func=cmd_benchmark_quality,
        parents=(),
    )
    quality.add_argument(
        "--dataset",
        choices=["movielens-100k", "csv", "synthetic"],
        default="movielens-100k",
        help="which interaction data to split",
    )
    quality.add_argument(
        "--path", type=Path, help="the ml-100k folder, or the CSV file (--dataset csv)"
    )
    quality.add_argument(
        "--seed",
        type=int,
        default=42,
        help="random seed of training and the peers (and of the synthetic world)",
    )
    quality.add_argument(
        "--seeds",
        type=_positive,
        default=1,
        metavar="N",
        help="run every model N times, with seeds SEED, SEED+1, ... on the same split; the "
        "table shows mean ± sd, the JSON each seed too",
    )
    add_column_flags(quality)
    quality.add_argument(
        "--no-ablations", action="store_true", help="skip the models without features/history"
    )
    quality.add_argument(
        "--no-peers",
        action="store_true",
        help="skip popularity, implicit ALS/BPR and RecTools' SASRec",
    )
    _add_out_option(quality, "quality")

    serving = group.add(
        "serving",
        "recommend handler: cold start (ONNX vs PyTorch), warm p50/p95/p99 per catalog size, "
        "peak RSS",
        func=cmd_benchmark_serving,
        parents=(),
    )
    serving.add_argument(
        "--items",
        type=_sizes,
        default="1000,10000,100000",
        help="catalog sizes, comma-separated",
    )
    serving.add_argument("--events", type=int, default=1_000_000, help="events in the database")
    serving.add_argument("--users", type=int, default=10_000, help="users in the database")
    serving.add_argument(
        "--cold-runs", type=int, default=5, help="cold starts measured per runtime"
    )
    serving.add_argument("--requests", type=int, default=2000, help="warm requests per size")
    _add_out_option(serving, "serving")

    coldstart = group.add(
        "coldstart",
        "each function's cold start (spawn to first answer, template.yaml's environment): "
        "imports and first request, median of fresh processes",
        func=cmd_benchmark_coldstart,
        parents=(),
    )
    coldstart.add_argument(
        "--items", type=_positive, default=100_000, help="catalog size of the recommend world"
    )
    coldstart.add_argument("--events", type=_positive, default=200_000, help="events in it")
    coldstart.add_argument("--users", type=_positive, default=5_000, help="users in it")
    coldstart.add_argument(
        "--runs", type=_positive, default=7, help="fresh processes per function (the median)"
    )
    coldstart.add_argument(
        "--no-bytecode",
        action="store_true",
        help="compile every module from source in every run (a bundle shipped without bytecode "
        "on Lambda's read-only file system); default: with bytecode, as the build ships it",
    )
    _add_out_option(coldstart, "coldstart")

    metrics = group.add(
        "metrics",
        "the online evaluation over a synthetic impression log: the scheduled run (catch-up and "
        "steady state), one day of GET /metrics and of GET /metrics/compare",
        func=cmd_benchmark_metrics,
        parents=(PROGRESS,),
    )
    metrics.add_argument(
        "--impressions", type=_positive, default=10_000_000, help="impressions in the log"
    )
    metrics.add_argument(
        "--engagements", type=_positive, default=1_000_000, help="positive events in the log"
    )
    metrics.add_argument("--days", type=_positive, default=30, help="days the log spans")
    _add_out_option(metrics, "metrics")

    off_policy = group.add(
        "off-policy",
        "the off-policy estimate against the PaC a candidate actually earns, in the closed-loop "
        "simulator (two models, each estimated on the other's logs, per seed)",
        func=cmd_benchmark_off_policy,
        parents=(PROGRESS,),
    )
    off_policy.add_argument(
        "--seeds", type=_seeds, default="3,5,7", help="simulation seeds, comma-separated"
    )
    off_policy.add_argument("--users", type=_positive, default=1000, help="synthetic users")
    off_policy.add_argument("--days", type=_positive, default=3, help="simulated days")
    _add_out_option(off_policy, "off-policy")

    concurrency = group.add(
        "concurrency",
        "events/s and p50/p99 through the ingest handler with N writer processes (batches of 50 "
        "and single events) and recommend p50/p99 meanwhile, per engine",
        func=cmd_benchmark_concurrency,
        parents=(),
    )
    concurrency.add_argument(
        "--engines",
        type=_engines,
        default="sqlite-delete,sqlite-wal,postgres",
        help="engines, comma-separated",
    )
    concurrency.add_argument(
        "--writers",
        type=_writer_counts,
        default="0,1,8,32",
        help="writer process counts, comma-separated (0: recommend alone, the baseline)",
    )
    concurrency.add_argument(
        "--postgres-url",
        default=os.environ.get("MEDIAREC_BENCH_POSTGRES_URL", ""),
        metavar="URL",
        help="the PostgreSQL server the postgres engine uses (a database is created on it and "
        "dropped at the end); default: $MEDIAREC_BENCH_POSTGRES_URL",
    )
    concurrency.add_argument("--items", type=_positive, default=100_000, help="catalog size")
    concurrency.add_argument(
        "--events", type=_positive, default=200_000, help="events in the world before the run"
    )
    concurrency.add_argument("--users", type=_positive, default=5_000, help="users in the world")
    concurrency.add_argument(
        "--duration", type=float, default=10.0, help="seconds each cell's processes run"
    )
    _add_out_option(concurrency, "concurrency")
