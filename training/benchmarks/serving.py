"""`mediarec benchmark serving`: cold start (ONNX vs PyTorch), warm latency per catalog size,
peak memory — the recommend handler in-process, on synthetic worlds with a synthesised bundle.

For each catalog size a synthetic world is generated and written to a temporary SQLite file, a
model with the production architecture and *untrained* (seeded random) weights is exported
through the normal export path (parity check included) and activated. Latency does not depend
on the weights, and training on a million events per size would take longer than the benchmark
is worth. Every measurement runs in a fresh process (training/benchmarks/serving_worker.py).

Cold start is the time from spawning the process to the first answer being ready (interpreter
start, imports, bundle load, the request); the process exit after it is reported separately, as
Lambda freezes a container rather than exiting it. The worker runs with the recommend function's
environment from template.yaml (tracing off, pydantic plugins off) and with fresh snapshots, as
the deployed schedule keeps them.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from training.benchmarks.report import machine, table, write_json


def _worker(
    args: list[str], db: Path, key: str | None = None, timeout: float = 600
) -> tuple[dict[str, Any], float]:
    """One measurement in a fresh process; with ``key`` its requests carry that key through the
    door, without one the door is off (``MEDIAREC_AUTH=off``), to measure what the door costs."""
    env = {
        **os.environ,
        "MEDIAREC_AUTH": "keys" if key else "off",
        "MEDIAREC_BENCH_API_KEY": key or "",
        "MEDIAREC_DB_PATH": str(db),
        "MEDIAREC_LOG_LEVEL": "WARNING",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        # as template.yaml deploys the recommend function
        "MEDIAREC_TRACING": "false",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
        # as deployed, the schedule keeps the snapshots fresh: requests do not rebuild them
        "MEDIAREC_SNAPSHOT_MAX_AGE_SECONDS": "0",
    }
    spawned_ns = time.time_ns()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "training.benchmarks.serving_worker", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    wall = 1000 * (time.perf_counter() - started)
    if done.returncode != 0:
        raise RuntimeError(f"worker {args[0]} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if "answered_ns" in result:  # from spawn to the first answer; the process exit is not in it
        result["spawn_to_answer_ms"] = (result["answered_ns"] - spawned_ns) / 1e6
    return result, wall


def build_world(
    folder: Path, items: int, events: int, users: int, seed: int
) -> tuple[Path, Path, list[str], float, str]:
    """A world with an active synthesised bundle, fresh snapshots and a read key; returns (db,
    torch checkpoint, user ids, seconds the snapshot refresh took, the key)."""
    import torch

    from functions.common.clock import now_ms
    from functions.common.serving.snapshot_refresh import refresh_all
    from functions.common.settings import Settings
    from functions.common.store.sqlite_engine import SqliteDatabase
    from training import pipeline
    from training.datasets.synthetic.generation import generate_world
    from training.datasets.synthetic.world import WorldConfig
    from training.datasets.synthetic.write import write_world
    from training.export import export_bundle
    from training.publish import publish
    from training.train import TrainConfig, build_model

    db_path = folder / "serving.sqlite"
    database = SqliteDatabase(db_path)
    database.migrate()
    write_world(
        database, generate_world(WorldConfig(seed=seed, users=users, items=items, events=events))
    )
    prepared = pipeline.prepare(database, Settings.from_env(env_file=None))
    torch.manual_seed(seed)
    model = build_model(prepared.data, TrainConfig(seed=seed)).eval()
    bundle = export_bundle(
        model,
        prepared.data,
        folder / "bundle",
        model_version=f"bench-{items}",
        metrics={},
        train_config=TrainConfig(seed=seed).to_dict(),
    )
    publish(database, bundle, str(folder / "models"), activate=True, now_ms=now_ms())
    started = time.perf_counter()
    refresh_all(database, Settings.from_env(env_file=None), now_ms())  # the scheduled job's work
    refresh_seconds = time.perf_counter() - started
    from functions.common.http.api_keys import create_key

    _, key = create_key(database, ["read"], "benchmark", now_ms())
    checkpoint = folder / "model.pt"
    torch.save(
        {
            "state_dict": model.state_dict(),
            "model_config": model.config.to_dict(),
            "item_kinds": model.item_kinds,
            "item_categories": model.item_categories,
        },
        checkpoint,
    )
    database.close()
    return db_path, checkpoint, prepared.split.data.user_ids, refresh_seconds, key


def run_serving_benchmark(
    items: list[int],
    events: int,
    users: int,
    cold_runs: int,
    requests: int,
    out: Path,
    seed: int = 7,
) -> dict[str, Any]:
    warm: dict[str, dict[str, float]] = {}
    open_p50: dict[str, float] = {}
    door_us: dict[str, float] = {}
    rss: dict[str, float] = {}
    cold: dict[str, list[dict[str, Any]]] = {"onnx": [], "torch": [], "onnx-open": []}
    exit_walls: dict[str, list[float]] = {p: [] for p in cold}
    worlds: dict[str, float] = {}
    refreshes: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="mediarec-serving-") as tmp:
        for size in items:
            folder = Path(tmp) / str(size)
            folder.mkdir()
            started = time.perf_counter()
            db, checkpoint, user_ids, refresh_s, key = build_world(
                folder, size, events, users, seed
            )
            worlds[str(size)] = round(time.perf_counter() - started, 1)
            refreshes[str(size)] = round(refresh_s, 2)
            print(
                f"{size} items: world and bundle in {worlds[str(size)]} s, "
                f"snapshot refresh {refreshes[str(size)]} s",
                flush=True,
            )
            sample = user_ids[:: max(1, len(user_ids) // 200)]
            result, _ = _worker(["warm", str(requests), *sample], db, key)
            warm[str(size)] = {k: round(result[k], 2) for k in ("p50", "p95", "p99")}
            rss[str(size)] = round(result["peak_rss_mb"], 1)
            result, _ = _worker(["warm", str(requests), *sample], db)  # the door off
            open_p50[str(size)] = round(result["p50"], 2)
            result, _ = _worker(["door", str(20 * requests), *sample], db, key)
            door_us[str(size)] = round(result["door_us_p50"], 1)
            if size == max(items):  # cold starts on the largest catalog, interleaved
                for run in range(cold_runs):
                    for path in ("onnx", "torch", "onnx-open"):
                        args = [
                            "cold",
                            *(["--torch", str(checkpoint)] if path == "torch" else []),
                            user_ids[run],
                        ]
                        result, wall = _worker(args, db, None if path == "onnx-open" else key)
                        cold[path].append(result)
                        exit_walls[path].append(wall)
    cold_ms = {
        p: round(statistics.median(r["spawn_to_answer_ms"] for r in cold[p]), 1) for p in cold
    }
    cold_ms["ratio"] = round(cold_ms["torch"] / cold_ms["onnx"], 2)
    cold_ms["door"] = round(cold_ms["onnx"] - cold_ms["onnx-open"], 1)
    breakdown = {
        p: {
            k: round(statistics.median(r[k] for r in cold[p]), 1)
            for k in ("import_ms", "first_request_ms", "in_process_ms")
        }
        | {"until_process_exit_ms": round(statistics.median(exit_walls[p]), 1)}
        for p in cold
    }
    print(
        table(
            ["path", "cold start ms (median)", "imports ms", "first request ms"],
            [
                [p, cold_ms[p], breakdown[p]["import_ms"], breakdown[p]["first_request_ms"]]
                for p in ("onnx", "torch", "onnx-open")
            ],
        )
    )
    print(
        f"torch / onnx: {cold_ms['ratio']}x; the door (key checked) costs {cold_ms['door']} ms "
        f"of a cold start (onnx vs onnx-open, the door off); median of {cold_runs} fresh "
        f"processes each, {max(items)} items"
    )
    print(
        table(
            [
                "items",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "p50 door off ms",
                "door us",
                "peak RSS MB",
                "snapshot refresh s",
            ],
            [
                [
                    s,
                    warm[s]["p50"],
                    warm[s]["p95"],
                    warm[s]["p99"],
                    open_p50[s],
                    door_us[s],
                    rss[s],
                    refreshes[s],
                ]
                for s in warm
            ],
        )
    )
    print("door us: median time of the access check alone (key cached) per warm request")
    result_json = {
        "cold_start_ms": cold_ms,
        "warm_ms": warm,
        "warm_p50_door_off_ms": open_p50,
        "door_us_per_request": door_us,
        "peak_rss_mb": max(rss.values()),
        "peak_rss_mb_by_items": rss,
        "cold_start_breakdown_ms": breakdown,
        "snapshot_refresh_s": refreshes,
        "config": {
            "items": items,
            "events": events,
            "users": users,
            "cold_runs": cold_runs,
            "requests": requests,
            "world_seconds": worlds,
        },
        "machine": machine(),
    }
    write_json(out, result_json)
    return result_json
