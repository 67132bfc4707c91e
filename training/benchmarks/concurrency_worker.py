"""One process of `mediarec benchmark concurrency`: an ingest writer or a recommend reader.

    python -m training.benchmarks.concurrency_worker writer SHAPE PREFIX
    python -m training.benchmarks.concurrency_worker reader USERS...

The store comes from the environment (``MEDIAREC_DB_PATH`` or ``MEDIAREC_DATABASE_URL``), the
key from ``MEDIAREC_BENCH_API_KEY``. The worker imports its handler and answers one warm-up
request, prints ``ready``, then reads one line from stdin, ``START DURATION`` (epoch seconds,
seconds), waits for START and sends requests back to back until START + DURATION. Its last line
on stdout is JSON: the events written (writer), the latency of every request in ms and the
failed ones. SHAPE is ``single`` (one event per request) or ``batchN`` (N events per request).

Only those lines go to stdout, which the parent reads. The handlers' logs (Powertools writes them
to stdout) are moved to stderr, which the parent sends to a file, so that no pipe fills and
stalls a worker in the middle of a run.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

PROTOCOL = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
os.dup2(2, 1)  # whatever writes to stdout from here on (the handlers' logs) goes to stderr


def _wait_for_start() -> tuple[float, float]:
    print("ready", file=PROTOCOL, flush=True)
    start, duration = (float(part) for part in sys.stdin.readline().split())
    time.sleep(max(0.0, start - time.time()))
    return start, duration


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def _loop(handler: Handler, send: Callable[[int], dict[str, Any]], size: int) -> dict[str, Any]:
    """Requests back to back until the deadline: latencies, units accepted (events or feeds),
    failures."""
    from training.local.lambda_invoke import FakeLambdaContext

    context = FakeLambdaContext()
    _, duration = _wait_for_start()
    began = time.perf_counter()
    deadline = began + duration
    latencies: list[float] = []
    units = failures = 0
    statuses: dict[str, int] = {}
    n = 0
    while time.perf_counter() < deadline:
        event = send(n)
        started = time.perf_counter()
        response = handler(event, context)
        latencies.append(1000 * (time.perf_counter() - started))
        n += 1
        if response["statusCode"] == 200:
            units += size
        else:
            failures += 1
            status = str(response["statusCode"])
            statuses[status] = statuses.get(status, 0) + 1
    return {
        "latencies_ms": latencies,
        "units": units,
        "failures": failures,
        "statuses": statuses,
        "elapsed_s": time.perf_counter() - began,  # the last answer came after the deadline
    }


def writer(shape: str, prefix: str) -> dict[str, Any]:
    from functions.ingest.app import handler
    from training.benchmarks.ingest import synthetic_events
    from training.local.lambda_invoke import FakeLambdaContext, http_event

    key = os.environ["MEDIAREC_BENCH_API_KEY"]
    size = 1 if shape == "single" else int(shape.removeprefix("batch"))

    def request(n: int) -> dict[str, Any]:
        events = synthetic_events(prefix, size, n * size)
        body = events[0] if size == 1 else {"events": events}
        return http_event("POST", "/events", body=body, api_key=key)

    warm = http_event("POST", "/events", body=synthetic_events(f"{prefix}-warm", 1)[0], api_key=key)
    if (answer := handler(warm, FakeLambdaContext()))["statusCode"] != 200:
        raise RuntimeError(f"ingest warm-up answered {answer['statusCode']}: {answer['body']}")
    return _loop(handler, request, size)


def reader(users: list[str]) -> dict[str, Any]:
    from functions.recommend.app import handler
    from training.local.lambda_invoke import FakeLambdaContext, http_event

    key = os.environ["MEDIAREC_BENCH_API_KEY"]

    def request(n: int) -> dict[str, Any]:
        path = f"/recommendations/{users[(n * 7919) % len(users)]}"
        return http_event("GET", path, query={"k": 10, "platform": "web"}, api_key=key)

    for n in range(3):  # bundle loaded, snapshots read, features cached
        if (answer := handler(request(n), FakeLambdaContext()))["statusCode"] != 200:
            raise RuntimeError(f"recommend warm-up answered {answer['statusCode']}")
    return _loop(handler, request, 1)


if __name__ == "__main__":
    mode, rest = sys.argv[1], sys.argv[2:]
    result = writer(rest[0], rest[1]) if mode == "writer" else reader(rest)
    print(json.dumps(result), file=PROTOCOL, flush=True)
