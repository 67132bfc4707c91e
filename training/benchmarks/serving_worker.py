"""One measurement of `mediarec benchmark serving`, run in a fresh process.

    python -m training.benchmarks.serving_worker cold [--torch CHECKPOINT] USER
    python -m training.benchmarks.serving_worker warm REQUESTS USERS...
    python -m training.benchmarks.serving_worker door CALLS USERS...

MEDIAREC_DB_PATH names a database with an active bundle. ``cold`` imports the recommend handler
and answers one request (with ``--torch`` the same bundle is scored by the PyTorch model instead
of ONNX Runtime); ``warm`` answers REQUESTS requests after a warm-up; ``door`` times the access
check alone. Each prints one JSON line. Requests carry MEDIAREC_BENCH_API_KEY as their key.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import json  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402


def _request(user: str) -> dict[str, Any]:
    import os

    from training.local.lambda_invoke import http_event

    return http_event(
        "GET",
        f"/recommendations/{user}",
        query={"k": 10, "platform": "web"},
        api_key=os.environ.get("MEDIAREC_BENCH_API_KEY"),
    )


def _use_torch(checkpoint: str) -> None:
    """Serve the bundle's model with PyTorch: replace the ONNX session by the torch module."""
    import numpy as np
    import torch

    from functions.common.serving import model_runtime
    from functions.common.serving.bundle import verify_bundle
    from functions.common.serving.features import FeatureSpec
    from training.network import MediaRecModel, ModelConfig

    class TorchSession:
        """The ranker (``history_state`` given) or the encoder (``history`` alone)."""

        def __init__(self, model: MediaRecModel) -> None:
            self.model = model

        def run(self, _outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            tensors = {name: torch.from_numpy(value) for name, value in feeds.items()}
            with torch.no_grad():
                if "user_index" not in tensors:
                    return [self.model.history_vector(tensors["history"]).numpy()]
                names = (
                    "user_index",
                    "item_index",
                    "history_state",
                    "user_features",
                    "item_features",
                )
                return [self.model.score_state(*(tensors[n] for n in names)).numpy()]

    def load(folder: Any, expected_checksum: str | None = None, threads: int = 2) -> Any:
        manifest = verify_bundle(folder)
        saved = torch.load(checkpoint, weights_only=True)
        torch.set_num_threads(threads)
        config = ModelConfig.from_dict(saved["model_config"])
        model = MediaRecModel(config, saved["item_kinds"], saved["item_categories"])
        model.load_state_dict(saved["state_dict"])
        model.eval()
        served = model_runtime.ServingModel(
            version=manifest.version,
            manifest=manifest,
            session=TorchSession(model),
            spec=FeatureSpec.from_dict(manifest.data["features"]),
            user_index={u: n for n, u in enumerate(manifest.user_ids)},
            item_index={i: n for n, i in enumerate(manifest.item_ids)},
            item_ids=manifest.item_ids,
            history_length=model.config.history,
            encoder=TorchSession(model) if model.config.use_history else None,
        )
        with np.load(folder / "retrieval.npz") as arrays:
            served.retrieval = {k: arrays[k].astype(np.float32) for k in arrays.files}
        return served

    model_runtime.load_model = load


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux: VmHWM, the high-water mark of this program's
    own address space; getrusage's ru_maxrss would also count the parent's memory at the time it
    was forked (the benchmark parent holds torch and a world), which inflated earlier figures."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)


def cold(argv: list[str]) -> dict[str, Any]:
    if argv[0] == "--torch":
        _use_torch(argv[1])
        argv = argv[2:]
    from functions.recommend.app import handler
    from training.local.lambda_invoke import FakeLambdaContext

    handler_ready = time.perf_counter()
    response = handler(_request(argv[0]), FakeLambdaContext())
    answered = time.perf_counter()
    answered_ns = time.time_ns()  # the parent measures from the spawn: interpreter start included
    body = json.loads(response["body"])
    return {
        "status": response["statusCode"],
        "model_version": body.get("model_version"),
        "import_ms": 1000 * (handler_ready - STARTED),
        "first_request_ms": 1000 * (answered - handler_ready),
        "in_process_ms": 1000 * (answered - STARTED),
        "answered_ns": answered_ns,
    }


def warm(argv: list[str]) -> dict[str, Any]:
    from functions.recommend.app import handler
    from training.local.lambda_invoke import FakeLambdaContext

    requests, users = int(argv[0]), argv[1:]
    context = FakeLambdaContext()
    rng = random.Random(0)
    for user in users[:3]:  # warm: bundle loaded, features cached
        handler(_request(user), context)
    latencies = []
    for _ in range(requests):
        event = _request(rng.choice(users))
        started = time.perf_counter()
        response = handler(event, context)
        latencies.append(1000 * (time.perf_counter() - started))
        if response["statusCode"] != 200:
            raise RuntimeError(response["body"])
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]

    return {
        "p50": pct(50),
        "p95": pct(95),
        "p99": pct(99),
        "peak_rss_mb": peak_rss_mb(),
        "requests": requests,
    }


def door(argv: list[str]) -> dict[str, Any]:
    """What the door costs a warm feed request: ``admit`` alone, key cached, in microseconds."""
    from functions.common import clock
    from functions.common.http.door import admit, request_from_event
    from functions.common.settings import get_settings
    from functions.common.store.db import get_database

    calls, users = int(argv[0]), argv[1:]
    events = [_request(user) for user in users]
    settings = get_settings()
    admit(request_from_event(events[0]), settings, get_database, clock.now_ms())  # key cached
    costs = []
    for n in range(calls):
        event = events[n % len(events)]
        started = time.perf_counter()
        admit(request_from_event(event), settings, get_database, clock.now_ms(), event)
        costs.append(1e6 * (time.perf_counter() - started))
    costs.sort()
    return {"door_us_p50": costs[len(costs) // 2], "door_us_p99": costs[int(0.99 * len(costs))]}


if __name__ == "__main__":
    mode, rest = sys.argv[1], sys.argv[2:]
    run = {"cold": cold, "warm": warm, "door": door}[mode]
    print(json.dumps(run(rest)))
