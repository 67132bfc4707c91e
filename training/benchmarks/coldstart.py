"""`mediarec benchmark coldstart`: each function's cold start, spawn to first answer, with the
environment template.yaml gives it, on its first real request:

- recommend: a feed served by the active bundle of a 100k-item world (an untrained bundle of the
  production architecture: the same files and sizes as a trained one);
- ingest: a batch of 50 events;
- metrics: a day query (GET /metrics over the last 24 h, which holds the feeds served while the
  world was set up).

Runs are interleaved (ingest, recommend, metrics, ingest, ...) so that a busy moment of the
machine does not fall on one function; the medians of ``runs`` fresh processes are reported,
split into imports (the handler module) and the first request. The bare interpreter's start is
measured beside them. In Lambda, init runs on a full vCPU burst and the SDK imports are the
same; these are this machine's figures.
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

FUNCTIONS = ("ingest", "recommend", "metrics")
RESOURCE = {
    "ingest": "IngestFunction",
    "recommend": "RecommendFunction",
    "metrics": "MetricsFunction",
}
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def template_environment(function: str, template: Path = TEMPLATE) -> dict[str, str]:
    """The Globals' and ``function``'s environment variables in template.yaml. ``!Ref`` of a
    parameter is its default; any other intrinsic (the Aurora URL, the secret's ARN) is an
    AWS-only value and left out, so those settings keep their local defaults."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def intrinsic(loader: Any, suffix: str, node: Any) -> Any:
        if suffix == "Ref" and isinstance(node, yaml.ScalarNode):
            return ("Ref", loader.construct_scalar(node))
        return None

    Loader.add_multi_constructor("!", intrinsic)
    document = yaml.load(template.read_text(encoding="utf-8"), Loader=Loader)
    defaults = {name: spec.get("Default") for name, spec in document["Parameters"].items()}
    variables = dict(document["Globals"]["Function"]["Environment"]["Variables"])
    own = document["Resources"][RESOURCE[function]]["Properties"].get("Environment") or {}
    variables.update(own.get("Variables") or {})
    environment = {}
    for name, value in variables.items():
        if isinstance(value, tuple):
            value = defaults.get(value[1])
        if isinstance(value, str | int | float | bool) and not isinstance(value, tuple):
            environment[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return environment


def _events(user_ids: list[str], item_ids: list[str], key: str, run: int) -> dict[str, Any]:
    from training.local.lambda_invoke import http_event

    batch = [
        {
            "event_id": f"cold-{run}-{n}",
            "user_id": user_ids[(run * 50 + n) % len(user_ids)],
            "item_id": item_ids[n % len(item_ids)],
            "event_type": "view",
            "platform": "web",
        }
        for n in range(50)
    ]
    user = user_ids[run % len(user_ids)]
    return {
        "ingest": http_event("POST", "/events", body={"events": batch}, api_key=key),
        "recommend": http_event(
            "GET", f"/recommendations/{user}", query={"k": 10, "platform": "web"}, api_key=key
        ),
        "metrics": http_event("GET", "/metrics", query={"k": 10}, api_key=key),
    }


ROOT = Path(__file__).resolve().parents[2]


def clean_environment(folder: Path) -> dict[str, str]:
    """The caller's environment without mediarec's and Powertools' settings, the checkout
    importable; the workers run in ``folder``, where no .env is."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDIAREC_", "POWERTOOLS_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env[WORKDIR] = str(folder)
    return env


WORKDIR = "MEDIAREC_BENCH_WORKDIR"


def _compile_sources() -> None:
    """Bytecode for mediarec's own modules, as the built bundle ships it (functions/Makefile),
    so that no run pays for compiling them (the installed packages have theirs)."""
    import compileall

    for package in ("functions", "training"):
        compileall.compile_dir(ROOT / package, quiet=1, workers=0)


def _spawn(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    spawned_ns = time.time_ns()
    done = subprocess.run(
        [sys.executable, *args],
        env=env,
        cwd=env.get(WORKDIR),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stderr[-2000:]}")
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"{' '.join(args)} printed nothing: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    if "answered_ns" in result:  # spawn to first answer; the process's exit is not in it
        result["cold_ms"] = (result["answered_ns"] - spawned_ns) / 1e6
    return result


def _bare_interpreter_ms(env: dict[str, str]) -> float:
    """Spawn to the first line of a bare ``python -c``: what every cold start pays first."""
    code = "import time, json; print(json.dumps({'answered_ns': time.time_ns()}))"
    return float(_spawn(["-c", code], env)["cold_ms"])


def _serve_some_feeds(db: Path, models: Path, key: str, user_ids: list[str]) -> None:
    """Feeds served before the runs, so that the metrics function's day has impressions."""
    from functions.common.caches import reset_all
    from training.local.lambda_invoke import FakeLambdaContext, http_event

    names = ("MEDIAREC_DB_PATH", "MEDIAREC_MODELS_URI", "MEDIAREC_DATABASE_URL", "MEDIAREC_AUTH")
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(
        MEDIAREC_DB_PATH=str(db),
        MEDIAREC_MODELS_URI=str(models),
        MEDIAREC_DATABASE_URL="",
        MEDIAREC_AUTH="keys",
    )
    reset_all()
    try:
        from functions.recommend.app import handler

        for user in user_ids[:200]:
            event = http_event("GET", f"/recommendations/{user}", query={"k": 10}, api_key=key)
            status = handler(event, FakeLambdaContext())["statusCode"]
            if status != 200:
                raise RuntimeError(f"a feed served for the metrics day answered {status}")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_all()


def run_coldstart_benchmark(
    items: int, events: int, users: int, runs: int, out: Path | None, bytecode: bool = True
) -> dict[str, Any]:
    """``bytecode``: mediarec's modules compiled first, as the built bundle ships them; without
    it every module (the installed packages' too) is compiled from source in every run, as a
    bundle without bytecode is on Lambda's read-only file system."""
    from functions.common.clock import now_ms
    from functions.common.http.api_keys import create_key
    from functions.common.store.sqlite_engine import SqliteDatabase
    from training.benchmarks.serving import build_world

    with tempfile.TemporaryDirectory(prefix="mediarec-coldstart-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        db, _, user_ids, _, _ = build_world(folder, items, events, users, seed=7)
        database = SqliteDatabase(db)
        key = create_key(database, ["read", "ingest", "metrics"], "coldstart", now_ms())[1]
        item_ids = [
            r["item_id"]
            for r in database.read(
                lambda c: c.execute(
                    "SELECT item_id FROM items ORDER BY item_id LIMIT 500"
                ).fetchall()
            )
        ]
        database.close()
        _serve_some_feeds(db, folder / "models", key, user_ids)
        print(f"world of {items} items built in {time.perf_counter() - started:.0f} s")
        base = clean_environment(folder)
        environments = {}
        for function in FUNCTIONS:
            env = {**base, **template_environment(function)}
            # the world's SQLite file stands in for the EFS one (Aurora's URL is an AWS-only
            # value, left out); nothing from a .env or the caller's MEDIAREC_* settings
            env.update(
                MEDIAREC_DB_PATH=str(db),
                MEDIAREC_DATABASE_URL="",
                MEDIAREC_MODELS_URI=str(folder / "models"),
            )
            if not bytecode:
                env.update(
                    PYTHONPYCACHEPREFIX=str(folder / "no-bytecode"), PYTHONDONTWRITEBYTECODE="1"
                )
            environments[function] = env
        if bytecode:
            _compile_sources()
        results: dict[str, list[dict[str, Any]]] = {f: [] for f in FUNCTIONS}
        bare: list[float] = []
        for run in range(runs):
            for function, event in _events(user_ids, item_ids, key, run).items():
                event_file = folder / f"{function}-{run}.json"
                event_file.write_text(json.dumps(event), encoding="utf-8")
                worker = ["-m", "training.benchmarks.coldstart_worker", function, str(event_file)]
                result = _spawn(worker, environments[function])
                if result["status"] >= 300:
                    raise RuntimeError(f"{function}'s first request answered {result['status']}")
                results[function].append(result)
            bare.append(_bare_interpreter_ms(base))
    summary: dict[str, Any] = {}
    for function in FUNCTIONS:
        summary[function] = {
            name: round(statistics.median(r[name] for r in results[function]), 1)
            for name in ("cold_ms", "imports_ms", "first_request_ms")
        }
        summary[function]["modules"] = results[function][-1]["modules"]
        summary[function]["tracing"] = environments[function].get("MEDIAREC_TRACING", "true")
    bare_ms = round(statistics.median(bare), 1)
    print(
        table(
            [
                "function",
                "cold start ms",
                "imports ms",
                "first request ms",
                "modules",
                "SDK tracing",
            ],
            [
                [
                    f,
                    s["cold_ms"],
                    s["imports_ms"],
                    s["first_request_ms"],
                    s["modules"],
                    s["tracing"],
                ]
                for f, s in summary.items()
            ],
        )
    )
    how = "bytecode present, as the built bundle ships it"
    if not bytecode:
        how = "no bytecode: every module compiled from source in every run"
    print(
        f"median of {runs} fresh processes per function, interleaved; spawn to first answer "
        f"(interpreter start included: a bare `python -c` took {bare_ms} ms); template.yaml's "
        f"environment per function; {items} items; Python {sys.version.split()[0]}; {how}"
    )
    data = {
        **summary,
        "bare_interpreter_ms": bare_ms,
        "config": {
            "items": items,
            "events": events,
            "users": users,
            "runs": runs,
            "bytecode": bytecode,
        },
        "machine": machine(),
    }
    if out is not None:
        write_json(out, data)
    return data
