"""``mediarec simulate --url``: the closed loop against a running server, through its public
HTTP API only, as any client would drive it.

1. The synthetic world's catalog goes in through ``POST /items`` and its history (ending now)
   through ``POST /events``, in batches; every id carries a run tag, so that runs never collide.
2. Each simulated day is one round of visits, run back to back in real time: a feed from
   ``GET /recommendations/{user_id}``, the user's reactions (``loop.react``, the in-process
   simulator's behaviour model, delays shortened to stay inside the server's clock-skew
   tolerance) back through ``POST /events`` with the ``recommendation_id``.
3. ``GET /metrics`` (recomputed, ``fresh=true``) over the run gives PaC per served version, and
   ``GET /metrics/compare`` the user-level comparison when two versions served.

The server's own models and A/B configuration decide the feeds: training and publishing are the
operator's (``mediarec train``/``publish`` on the server's store). For a model to know the
simulated users, seed first and serve later: ``--tag T --seed-only`` posts the catalog and
history and stops; train and publish; then ``--tag T --no-seed`` runs the visits. ``GET
/metrics`` counts every impression the server logged in the run's window, so point it at a
server of its own. The key needs the ``admin`` scope (``POST /items``); a failed request stops
the run with the server's answer (429 and 503 are retried after their Retry-After).
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode

import numpy as np

from training.simulation.loop import (
    FEED_K,
    SimulationConfig,
    SimulationResult,
    pac_by_version,
    react,
    world_index,
)

BATCH = 500  # the API's default MEDIAREC_MAX_BATCH_SIZE
RETRIES = 5  # of a request the server answered 429 or 503 (busy)
REACTION_DELAY_MS = 60_000  # engagement up to a minute after the feed: inside the 300 s skew


class ApiError(RuntimeError):
    """The server answered with an error status, or could not be reached."""


class HttpApi:
    """JSON over HTTP to ``url`` with ``x-api-key: key``."""

    def __init__(self, url: str, key: str, timeout_s: float = 60.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"--url must start with http:// or https://, not {url!r}")
        self.url, self.key, self.timeout_s = url.rstrip("/"), key, timeout_s

    def call(
        self, method: str, path: str, query: dict[str, Any] | None = None, body: Any = None
    ) -> Any:
        """The answer's JSON; a 429 or 503 (busy) is retried after its Retry-After, up to
        RETRIES times; anything else that is not 2xx raises ApiError with the server's body."""
        target = self.url + path + (f"?{urlencode(query)}" if query else "")
        data = None if body is None else json.dumps(body).encode("utf-8")
        for attempt in range(RETRIES + 1):
            request = urllib.request.Request(target, data=data, method=method)
            request.add_header("x-api-key", self.key)
            if data is not None:
                request.add_header("content-type", "application/json")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    text = response.read()
            except urllib.error.HTTPError as error:
                answer = error.read().decode("utf-8", "replace")[:500]
                if error.code in (429, 503) and attempt < RETRIES:
                    time.sleep(_retry_after(error.headers.get("retry-after"), attempt))
                    continue
                raise ApiError(f"{method} {path} answered {error.code}: {answer}") from None
            except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
                raise ApiError(f"{method} {target}: {error}") from None
            try:
                return json.loads(text or b"null")
            except ValueError:
                raise ApiError(f"{method} {path} answered with no JSON: {text[:200]!r}") from None
        raise AssertionError("unreachable")  # the loop returns or raises

    def post_batch(self, path: str, field: str, rows: list[dict[str, Any]]) -> None:
        answer = self.call("POST", path, body={field: rows})
        refused = [
            r
            for r in (answer or {}).get("results", [])
            if r.get("status") in ("rejected", "conflict")
        ]
        if refused:
            raise ApiError(f"POST {path} refused {len(refused)} rows, e.g. {refused[0]}")


def _retry_after(header: str | None, attempt: int) -> float:
    try:
        return min(float(header or ""), 30.0)
    except ValueError:
        return min(0.5 * 2**attempt, 30.0)


def _iso(ms: int) -> str:
    from functions.common.clock import to_iso

    return to_iso(int(ms))


def _seed_server(api: HttpApi, world: Any, tag: str, progress: bool) -> None:
    from training.datasets.synthetic.world import EVENT_TYPES, NO_DWELL, PLATFORMS

    items = [
        {
            "item_id": item_id,
            "kind": row["kind"],
            "title": row["title"],
            "categories": json.loads(row["categories"]),
            "published_at": _iso(row["published_ms"]),
        }
        for item_id, row in zip(world.item_ids, world.item_rows(0), strict=True)
    ]
    for lo in range(0, len(items), BATCH):
        api.post_batch("/items", "items", items[lo : lo + BATCH])
    for lo in range(0, world.n_events, BATCH):
        hi = min(lo + BATCH, world.n_events)
        rows = []
        for n in range(lo, hi):
            dwell = int(world.event_dwell_ms[n])
            rows.append(
                {
                    "event_id": f"{tag}-h{n}",
                    "user_id": world.user_ids[world.event_user[n]],
                    "item_id": world.item_ids[world.event_item[n]],
                    "event_type": EVENT_TYPES[world.event_type[n]],
                    "platform": PLATFORMS[world.event_platform[n]],
                    "ts": _iso(world.event_ts_ms[n]),
                    **({} if dwell == NO_DWELL else {"dwell_ms": dwell}),
                }
            )
        api.post_batch("/events", "events", rows)
    if progress:
        print(f"posted {len(items)} items and {world.n_events} history events")


def _check_catalog(foreign: int, impressions: int) -> None:
    if impressions and foreign > impressions / 2:
        raise ApiError(
            f"{foreign} of the {impressions} items served are not in the simulated catalog: "
            "the server holds another catalog, or serves a popularity snapshot built before "
            "this run's history arrived (run `mediarec refresh` on its store, or wait "
            "MEDIAREC_SNAPSHOT_MAX_AGE_SECONDS); point --url at a server of its own"
        )


def simulate_remote(
    config: SimulationConfig,
    url: str,
    key: str,
    progress: bool = True,
    tag: str | None = None,
    seed_server: bool = True,
    visit: bool = True,
) -> SimulationResult:
    """The loop of this module's docstring against the server at ``url``. ``tag`` prefixes
    every id (default: a new one per run); ``seed_server=False`` skips posting the catalog and
    history (an earlier run with the same ``tag`` and seed did); ``visit=False`` stops after
    posting them, so that a model can be trained and published on the server's store before a
    run with ``seed_server=False`` serves it."""
    from functions.common.clock import parse_timestamp_text
    from training.datasets.synthetic.generation import generate_world
    from training.datasets.synthetic.world import WorldConfig

    started = time.perf_counter()
    api = HttpApi(url, key)
    tag = tag or f"sim{config.seed}t{int(time.time())}"
    now_ms = int(time.time() * 1000) // 60_000 * 60_000 - 60_000
    world = generate_world(
        WorldConfig(
            seed=config.seed,
            users=config.users,
            items=config.items,
            events=config.history_events or 100 * config.users,
            days=config.history_days,
            end_ms=now_ms,
        )
    )
    world.user_ids = [f"{tag}-{u}" for u in world.user_ids]
    world.item_ids = [f"{tag}-{i}" for i in world.item_ids]
    result = SimulationResult(config)
    if seed_server:
        _seed_server(api, world, tag, progress)
    if not visit:
        result.seconds = time.perf_counter() - started
        return result
    rng = np.random.default_rng(config.seed)
    start_ms = int(time.time() * 1000)
    foreign = 0  # served items outside the simulated catalog
    for day in range(config.days):
        visits = [u for u in range(config.users) if rng.random() < config.visit_p]
        for user in rng.permutation(visits).tolist():
            platform = ("web", "ios", "android")[int(world.user_platform[user])]
            feed = api.call(
                "GET",
                f"/recommendations/{quote(world.user_ids[user], safe='')}",
                {"k": FEED_K, "platform": platform},
            )
            served_ms = parse_timestamp_text(feed["served_at"])
            result.record_expected(world, user, feed, config)
            events = react(world, user, feed, served_ms, rng, config, REACTION_DELAY_MS)
            if events:
                api.post_batch("/events", "events", events)
            foreign += sum(i["item_id"] not in world_index(world) for i in feed["items"])
            result.feeds += 1
            result.impressions += len(feed["items"])
            result.events += len(events)
            if result.feeds == 20:  # fail early, not after every round
                _check_catalog(foreign, result.impressions)
        if progress:
            print(
                f"round {day + 1}/{config.days}: {result.feeds} feeds, "
                f"{result.impressions} impressions, {result.events} events so far"
            )
    _check_catalog(foreign, result.impressions)
    end_ms = int(time.time() * 1000) + REACTION_DELAY_MS
    window = {"from": _iso(start_ms - 1000), "to": _iso(end_ms), "k": FEED_K}
    report = api.call("GET", "/metrics", {**window, "fresh": "true"})
    result.pac = pac_by_version(report["breakdown"])
    result.versions = sorted(result.pac)
    if len(result.versions) >= 2:
        served = {v: p["denominator"] for v, p in result.pac.items()}
        a, b = sorted(served, key=lambda v: -served[v])[:2]
        result.comparison = api.call("GET", "/metrics/compare", {**window, "a": a, "b": b})
    result.seconds = time.perf_counter() - started
    return result
