"""`mediarec benchmark ingest`: events/s through the ingest handler, in-process (no HTTP).

Single-event requests and batches of 500, each on a fresh local SQLite file in WAL and in DELETE
journal mode. Every cell runs ``repeats`` times and the median is reported; cells run interleaved
(wal, delete, wal, ...) so that machine noise hits both modes alike.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from training.benchmarks.report import machine, table, write_json
from training.local.lambda_invoke import FakeLambdaContext, http_event

MODES = ("wal", "delete")
BATCH = 500


def synthetic_events(prefix: str, count: int, start: int = 0) -> list[dict[str, Any]]:
    """``count`` valid events with ids ``<prefix>-<n>`` from ``start`` on, over a few hundred
    users and items, every event type and platform."""
    types = ("view", "click", "like", "view", "skip")
    platforms = ("web", "ios", "android")
    return [
        {
            "event_id": f"{prefix}-{n}",
            "user_id": f"u{n % 997}",
            "item_id": f"i{n % 1009}",
            "event_type": types[n % 5],
            "platform": platforms[n % 3],
            "dwell_ms": 1000 + n % 5000,
        }
        for n in range(start, start + count)
    ]


def _run(mode: str, shape: str, requests: int, workdir: Path, run: int) -> float:
    """Events per second for one cell on a fresh database file, each request carrying an
    ingest key through the door."""
    from functions.common.caches import reset_all
    from functions.common.clock import now_ms
    from functions.common.http.api_keys import create_key
    from functions.common.store.db import get_database

    os.environ["MEDIAREC_DB_PATH"] = str(workdir / f"{mode}-{shape}-{run}.sqlite")
    os.environ["MEDIAREC_JOURNAL_MODE"] = mode
    reset_all()
    from functions.ingest.app import handler

    _, key = create_key(get_database(), ["ingest"], "benchmark", now_ms())

    context = FakeLambdaContext()
    size = 1 if shape == "single" else BATCH
    bodies = [synthetic_events(f"{shape}{run}-{r}", size) for r in range(requests)]
    events = [
        http_event("POST", "/events", body=b[0] if size == 1 else {"events": b}, api_key=key)
        for b in bodies
    ]
    warm = http_event("POST", "/events", body=synthetic_events(f"warm{run}", 1)[0], api_key=key)
    assert handler(warm, context)["statusCode"] == 200  # container warm: migrated, imported
    started = time.perf_counter()
    for event in events:
        response = handler(event, context)
        if response["statusCode"] != 200:
            raise RuntimeError(f"ingest answered {response['statusCode']}: {response['body']}")
    elapsed = time.perf_counter() - started
    reset_all()
    return requests * size / elapsed


def run_ingest_benchmark(single_requests: int, batches: int, repeats: int, out: Path) -> dict:
    import logging

    logging.getLogger("functions").setLevel(logging.WARNING)
    os.environ.setdefault("MEDIAREC_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    samples: dict[str, dict[str, list[float]]] = {
        "single": {m: [] for m in MODES},
        "batch500": {m: [] for m in MODES},
    }
    saved = {k: os.environ.get(k) for k in ("MEDIAREC_DB_PATH", "MEDIAREC_JOURNAL_MODE")}
    try:
        with tempfile.TemporaryDirectory(prefix="mediarec-bench-") as tmp:
            for run in range(repeats):
                for mode in MODES:
                    samples["single"][mode].append(
                        _run(mode, "single", single_requests, Path(tmp), run)
                    )
                    samples["batch500"][mode].append(_run(mode, "batch", batches, Path(tmp), run))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    medians = {
        shape: {m: round(statistics.median(v), 1) for m, v in modes.items()}
        for shape, modes in samples.items()
    }
    rows = [
        [
            shape,
            f"{medians[shape]['wal']:,.0f}",
            f"{medians[shape]['delete']:,.0f}",
            f"{medians[shape]['wal'] / medians[shape]['delete']:.2f}x",
        ]
        for shape in medians
    ]
    print(table(["request shape", "WAL events/s", "DELETE events/s", "WAL / DELETE"], rows))
    print(
        f"median of {repeats} runs; single: {single_requests} requests of 1 event, "
        f"batch500: {batches} requests of {BATCH} events; in-process handler, local disk"
    )
    result = {
        "events_per_s": medians,
        "config": {
            "single_requests": single_requests,
            "batches": batches,
            "batch_size": BATCH,
            "repeats": repeats,
        },
        "samples": samples,
        "machine": machine(),
    }
    write_json(out, result)
    return result
