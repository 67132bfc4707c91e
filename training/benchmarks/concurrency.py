"""`mediarec benchmark concurrency`: what each engine takes when many containers write at once.

One synthetic world with a trained-architecture bundle (untrained weights, as in `benchmark
serving`) and fresh snapshots is built once on SQLite, then copied into each engine's store:
``sqlite-delete`` (the rollback journal EFS needs), ``sqlite-wal`` (a local disk) and
``postgres`` (a database the benchmark creates on the server ``--postgres-url`` names, filled by
the same copy `mediarec migrate-db` does, and dropped at the end).

For every writer count N, N fresh processes call the ingest handler in-process back to back for
``duration`` seconds, first with batches of 50 events, then with single events, while one more
process asks the recommend handler for feeds of the world's users. Every process is started and
warmed before the clock starts (Lambda containers that are already up). Each cell reports the
events accepted per second, the p50/p99 latency of the ingest requests and the recommend p50/p99
measured while they ran. Handlers run with the template's environment, tracing off.

The load is closed-loop, as a Lambda container's is: each process sends its next request when
the previous one is answered. Latency percentiles pool every request of every writer, so a
writer starved of the lock contributes fewer (slow) samples than a lucky one.

Every process shares this machine's cores with the others and, for ``postgres``, with the server:
the figures say how the engines compare on one machine, not what a fleet of Lambda containers
against a managed server would reach.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from training.benchmarks.report import machine, table, write_json

ENGINES = ("sqlite-delete", "sqlite-wal", "postgres")
SHAPES = ("batch50", "single")
READY_TIMEOUT_S = 600
WORKER_ENV = {
    "MEDIAREC_LOG_LEVEL": "WARNING",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "MEDIAREC_TRACING": "false",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
    "MEDIAREC_SNAPSHOT_MAX_AGE_SECONDS": "0",  # the schedule keeps snapshots fresh, as deployed
    "MEDIAREC_AUTH": "keys",
}


@dataclass
class Store:
    """One engine's copy of the world: the settings its processes get, and how to drop it."""

    engine: str
    env: dict[str, str]
    drop_url: str | None = None  # a PostgreSQL database to drop at the end


def percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile in ms, rounded; None without samples (no writers: the baseline)."""
    ordered = sorted(values)
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)


def _admin_url(server: str, database: str) -> str:
    return urlunsplit(urlsplit(server)._replace(path=f"/{database}"))


def _postgres_store(server: str, source: Path) -> Store:
    """A new database on ``server`` holding a verified copy of the SQLite world."""
    import psycopg

    from functions.common.store.postgres_engine import PostgresDatabase
    from functions.common.store.sqlite_engine import SqliteDatabase
    from training.store_copy import copy_store

    name = f"mediarec_bench_{os.getpid()}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _admin_url(server, name)
    store = Store("postgres", {"MEDIAREC_DATABASE_URL": url}, drop_url=url)
    try:
        target, origin = PostgresDatabase(url), SqliteDatabase(source)
        try:
            target.migrate()
            report = copy_store(origin, target)
            if not report.ok:
                raise RuntimeError(f"the copy into PostgreSQL did not verify: {report}")
        finally:
            target.close()
            origin.close()
    except BaseException:
        _drop(store, server)
        raise
    return store


def _drop(store: Store, server: str) -> None:
    if store.drop_url is None:
        return
    import psycopg

    name = urlsplit(store.drop_url).path.lstrip("/")
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _sqlite_store(engine: str, source: Path, folder: Path) -> Store:
    path = folder / f"{engine}.sqlite"
    shutil.copyfile(source, path)
    mode = engine.removeprefix("sqlite-")
    return Store(
        engine, {"MEDIAREC_DATABASE_URL": f"sqlite:///{path}", "MEDIAREC_JOURNAL_MODE": mode}
    )


def _spawn(args: list[str], env: dict[str, str], log: Any) -> subprocess.Popen[str]:
    """A worker: its protocol lines on a pipe, its logs and errors into ``log`` (a file, so
    that a chatty worker never blocks on a full pipe)."""
    return subprocess.Popen(
        [sys.executable, "-m", "training.benchmarks.concurrency_worker", *args],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )


def _await_ready(process: subprocess.Popen[str], log: Path) -> None:
    """Wait (at most READY_TIMEOUT_S) for the worker's ``ready`` line."""
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], READY_TIMEOUT_S)
    line = process.stdout.readline() if readable else ""
    if line.strip() != "ready":
        process.kill()
        raise RuntimeError(f"a benchmark worker did not start: {_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-2000:] if log.exists() else ""


def _result(process: subprocess.Popen[str], timeout: float, log: Path) -> dict[str, Any]:
    output, _ = process.communicate(timeout=timeout)
    if process.returncode != 0 or not output.strip():
        raise RuntimeError(f"a benchmark worker failed: {_tail(log)}")
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def run_cell(
    store: Store,
    writers: int,
    shape: str,
    users: list[str],
    keys: dict[str, str],
    duration: float,
) -> dict[str, Any]:
    """N writers and one reader against ``store`` for ``duration`` seconds."""
    base = {**os.environ, **WORKER_ENV, **store.env}
    prefix = f"{store.engine}-{writers}-{shape}-{time.time_ns()}"
    with tempfile.TemporaryDirectory(prefix="mediarec-workers-") as logs:
        log = Path(logs) / "workers.log"
        with log.open("w", encoding="utf-8") as sink:
            processes = [
                _spawn(
                    ["writer", shape, f"{prefix}-w{n}"],
                    {**base, "MEDIAREC_BENCH_API_KEY": keys["ingest"]},
                    sink,
                )
                for n in range(writers)
            ]
            processes.append(
                _spawn(["reader", *users], {**base, "MEDIAREC_BENCH_API_KEY": keys["read"]}, sink)
            )
            try:
                for process in processes:
                    _await_ready(process, log)
                start = time.time() + 0.5
                for process in processes:
                    assert process.stdin is not None
                    process.stdin.write(f"{start} {duration}\n")
                    process.stdin.flush()
                results = [_result(p, duration + READY_TIMEOUT_S, log) for p in processes]
            finally:
                for process in processes:
                    if process.poll() is None:
                        process.kill()
    written, reads = results[:-1], results[-1]
    latencies = [ms for r in written for ms in r["latencies_ms"]]
    failures = sum(r["failures"] for r in written)
    statuses: dict[str, int] = {}
    for r in written:
        for status, count in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    elapsed = max([r["elapsed_s"] for r in written], default=duration)
    return {
        "events_per_s": round(sum(r["units"] for r in written) / elapsed, 1),
        "requests": len(latencies),
        "failed_requests": failures,
        "failed_statuses": statuses,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "recommend_requests": len(reads["latencies_ms"]),
        "recommend_failed": reads["failures"],
        "recommend_p50_ms": percentile(reads["latencies_ms"], 50),
        "recommend_p99_ms": percentile(reads["latencies_ms"], 99),
    }


def _build_source(
    folder: Path, items: int, events: int, users: int
) -> tuple[Path, list[str], dict[str, str]]:
    """The world on SQLite in the rollback-journal mode (a plain file to copy), with an ingest
    key and a read key."""
    from functions.common.clock import now_ms
    from functions.common.http.api_keys import create_key
    from functions.common.store.sqlite_engine import SqliteDatabase
    from training.benchmarks.serving import build_world

    db, _, user_ids, _, read_key = build_world(folder, items, events, users, seed=7)
    database = SqliteDatabase(db)
    _, ingest_key = create_key(database, ["ingest"], "benchmark", now_ms())
    database.close()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")  # every page in the main file
    sample = user_ids[:: max(1, len(user_ids) // 200)]
    return db, sample, {"ingest": ingest_key, "read": read_key}


def run_concurrency_benchmark(
    engines: list[str],
    writer_counts: list[int],
    out: Path,
    *,
    postgres_url: str | None,
    items: int = 100_000,
    events: int = 200_000,
    users: int = 5_000,
    duration: float = 10.0,
) -> dict[str, Any]:
    if "postgres" in engines and not postgres_url:
        raise ValueError(
            "the postgres engine needs a server: pass --postgres-url "
            "postgresql://user@host:port/db (or set MEDIAREC_BENCH_POSTGRES_URL); "
            "`bash scripts/postgres_server.sh start DIR` starts a local one"
        )
    results: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="mediarec-concurrency-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        source, sample, keys = _build_source(folder / "world", items, events, users)
        print(f"world of {items} items built in {time.perf_counter() - started:.0f} s", flush=True)
        for engine in engines:
            if engine == "postgres":
                assert postgres_url is not None
                store = _postgres_store(postgres_url, source)
            else:
                store = _sqlite_store(engine, source, folder)
            try:
                for writers in writer_counts:
                    cell: dict[str, Any] = {}
                    for shape in SHAPES:
                        cell[shape] = run_cell(store, writers, shape, sample, keys, duration)
                        print(f"{engine}, {writers} writers, {shape}: {cell[shape]}", flush=True)
                    results.setdefault(engine, {})[str(writers)] = _summary(cell)
            finally:
                if postgres_url is not None:
                    _drop(store, postgres_url)
    _print(results)
    write_json(
        out,
        {
            **results,
            "config": {
                "items": items,
                "events": events,
                "users": users,
                "duration_s": duration,
                "writers": writer_counts,
                "shapes": list(SHAPES),
            },
            "machine": machine(),
        },
    )
    return results


def _summary(cell: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The JSON cell: the batch-of-50 figures at the top level (the shape clients send), the
    single-event figures under ``single``, and recommend's worse p99 of the two phases."""
    batch, single = cell["batch50"], cell["single"]
    return {
        "events_per_s": batch["events_per_s"],
        "p50_ms": batch["p50_ms"],
        "p99_ms": batch["p99_ms"],
        "recommend_p99_ms": max(
            (p for p in (batch["recommend_p99_ms"], single["recommend_p99_ms"]) if p is not None),
            default=None,
        ),
        "batch50": batch,
        "single": single,
    }


def _ms(low: float | None, high: float | None) -> str:
    return "-" if low is None or high is None else f"{low:.1f} / {high:.1f}"


def _print(results: dict[str, dict[str, dict[str, Any]]]) -> None:
    rows = []
    for engine, cells in results.items():
        for writers, cell in cells.items():
            batch, single = cell["batch50"], cell["single"]
            rows.append(
                [
                    engine,
                    writers,
                    f"{batch['events_per_s']:,.0f}",
                    _ms(batch["p50_ms"], batch["p99_ms"]),
                    f"{single['events_per_s']:,.0f}",
                    _ms(single["p50_ms"], single["p99_ms"]),
                    batch["failed_requests"] + single["failed_requests"],
                    _ms(batch["recommend_p50_ms"], batch["recommend_p99_ms"]),
                    _ms(single["recommend_p50_ms"], single["recommend_p99_ms"]),
                ]
            )
    print(
        table(
            [
                "engine",
                "writers",
                "batch50 events/s",
                "batch50 p50/p99 ms",
                "single events/s",
                "single p50/p99 ms",
                "failed requests",
                "recommend p50/p99 ms (batches)",
                "recommend p50/p99 ms (singles)",
            ],
            rows,
        )
    )
    print(
        "closed loop: each process sends its next request when the last one is answered; "
        "0 writers: recommend alone (the baseline)"
    )
