"""The closed-loop simulator behind ``mediarec simulate``: synthetic users whose hidden tastes
decide what they do with the feeds the real handlers serve them.

1. A synthetic world (``training/datasets/synthetic``) gives users hidden category tastes, a
   catalog, and ``history_days`` of past events, written to a fresh database.
2. ``model`` and ``ab`` train a model on that history and publish it (``model``: active, every
   user; ``ab``: the A/B version for half the users, popularity for the rest). ``popularity``
   publishes nothing. ``retrain="daily"`` retrains and republishes each simulated night on
   everything logged so far.
3. Each simulated day, each user opens the app with probability ``visit_p``: the recommend
   handler (in process, through the same door and event format as API Gateway) serves 10
   items; at position ``p`` the user clicks with probability ``position_bias(p) *
   click_chance``, which grows with the item's attraction for them (the hidden popularity x
   taste weight the world's history was drawn with), views what they clicked and likes it with
   probability ``affinity`` (the hidden taste mass on the item's categories, in [0, 1]). Those
   events go back through the ingest handler with the ``recommendation_id``.
4. After the last day, the scheduled evaluation runs (every window, once their attribution has
   closed), and PaC per served version comes back with Wilson intervals; ``ab`` also gets the
   user-level comparison of ``GET /metrics/compare``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DAY_MS = 86_400_000
FEED_K = 10
REFRESH_MS = 300_000  # the snapshot refresh schedule's period
START_MS = 1_795_305_600_000  # 2026-11-22T00:00:00Z: the simulated days start here


@dataclass
class SimulationConfig:
    users: int = 300
    days: int = 3
    policy: str = "ab"  # popularity | model | ab
    retrain: str = "none"  # none | daily
    seed: int = 7
    items: int = 400
    history_days: int = 14
    history_events: int | None = None  # None: 100 per user
    visit_p: float = 0.6
    click_base: float = 0.05  # the click chance of an average item at the top
    epochs: int = 20  # at most: early stopping on the validation split decides
    # Targets per optimiser step. The product default (6,400) gives this world's ~100k-event
    # history about 16 steps an epoch, and the model then only ties popularity; 512 gives it
    # ~200 (docs/decisions.md, 2026-12-01).
    batch_size: int = 512
    model_seed: int | None = None  # the training seed (default: ``seed``)


@dataclass
class SimulationResult:
    config: SimulationConfig
    feeds: int = 0
    impressions: int = 0
    events: int = 0
    versions: list[str] = field(default_factory=list)
    pac: dict[str, Any] = field(default_factory=dict)
    bundles: dict[str, Path] = field(default_factory=dict)  # each published version's folder
    # per served version, per user: [expected engaged impressions, impressions] under the
    # hidden click model (what PaC would be without the clicks' own noise)
    expected: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def record_expected(self, world: Any, user: int, feed: dict[str, Any], config: Any) -> None:
        per_user = self.expected.setdefault(feed["model_version"], {})
        sums = per_user.setdefault(world.user_ids[user], [0.0, 0.0])
        sums[0] += expected_engaged(world, user, feed, config)
        sums[1] += len(feed["items"])

    def expected_pac(self) -> dict[str, Any]:
        """Each version's expected PaC with its user-level standard error, and (two versions)
        the difference of the second from the first with its 95% interval."""
        from functions.metrics.maths import difference, user_ratio

        ratios = {v: user_ratio([(x, n) for x, n in users.values()])
                  for v, users in sorted(self.expected.items())}  # fmt: skip
        out: dict[str, Any] = {v: r.as_dict() for v, r in ratios.items()}
        if len(ratios) == 2:  # the popularity baseline as the control when it is one
            a, b = sorted(ratios, key=lambda v: (v != "popularity-v1", v))
            out["difference"] = {"a": a, "b": b, **difference(ratios[a], ratios[b])}
        return out

    comparison: dict[str, Any] | None = None
    seconds: float = 0.0


def position_bias(position: int) -> float:
    """Relative chance that an item at ``position`` is looked at: 1 at the top, 1/p^0.7 below."""
    return float(position**-0.7)


def _attraction(world: Any) -> np.ndarray:
    """Every user x item weight the synthetic world drew its history with (popularity x
    (affinity + epsilon)), divided by each user's mean over the catalog: 1 is an average item
    for that user. Cached on the world."""
    cached = getattr(world, "_attraction", None)
    if cached is None:
        from training.datasets.synthetic.sampling import AFFINITY_EPSILON

        mask = world.item_category_mask.astype(np.float64)
        weight = (world.user_taste @ mask.T + AFFINITY_EPSILON) * world.item_popularity
        cached = weight / weight.mean(axis=1, keepdims=True)
        world._attraction = cached
    return cached


def click_chance(
    world: Any, attraction: np.ndarray, user: int, item: int, config: SimulationConfig
) -> float:
    """The chance that ``user`` clicks ``item`` when it is looked at: saturating in the item's
    attraction for them, the same preference that generated the world's history (so a policy
    that learned the history can serve it), ``click_base`` for an average item."""
    odds = config.click_base / (1 - config.click_base) * float(attraction[user, item])
    return odds / (1 + odds)


class _Environment:
    """The simulator's own database, models folder and keys, in ``folder``: the handlers read
    them through the usual MEDIAREC_* settings."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.saved = {k: v for k, v in os.environ.items() if k.startswith("MEDIAREC_")}
        os.environ["MEDIAREC_DB_PATH"] = str(folder / "simulation.sqlite")
        os.environ["MEDIAREC_MODELS_URI"] = str(folder / "models")
        os.environ["MEDIAREC_LOG_LEVEL"] = "ERROR"  # thousands of requests: no request logs
        # explicit, so that neither the caller's environment nor a local .env sets a test
        os.environ["MEDIAREC_AB_MODEL_VERSION"] = ""
        os.environ["MEDIAREC_AB_SHARE"] = "0"
        self.reset()

    def set(self, **values: str) -> None:
        for name, value in values.items():
            os.environ[f"MEDIAREC_{name.upper()}"] = value
        self.reset()

    @staticmethod
    def reset() -> None:
        from functions.common import caches
        from functions.common.settings import get_settings

        get_settings.cache_clear()
        caches.reset_all()

    def restore(self) -> None:
        for name in [k for k in os.environ if k.startswith("MEDIAREC_")]:
            del os.environ[name]
        os.environ.update(self.saved)
        self.reset()


def _train_and_publish(
    config: SimulationConfig, env: _Environment, now_ms: int, activate: bool
) -> str:
    from functions.common.settings import get_settings
    from functions.common.store.db import get_database
    from training import pipeline
    from training.export import export_bundle
    from training.publish import publish
    from training.train import TrainConfig

    settings, database = get_settings(), get_database()
    prepared = pipeline.prepare(database, settings)
    result = pipeline.train(
        prepared,
        TrainConfig(
            seed=config.seed if config.model_seed is None else config.model_seed,
            epochs=config.epochs,
            batch_size=config.batch_size,
        ),
        progress=False,
    )
    version = f"mr-sim-{now_ms // 1000}"
    best = next((r for r in result.history if r.get("epoch") == result.best_epoch), {})
    metrics = {
        "measured_on": "validation split (leave-last-out), at the best epoch",
        "validation": {
            k.removeprefix("valid_"): v for k, v in best.items() if k.startswith("valid_")
        },
        "best_epoch": result.best_epoch,
    }
    bundle = export_bundle(
        result.model, prepared.data, env.folder / "bundles" / version, model_version=version,
        metrics=metrics, train_config={},
    )  # fmt: skip
    publish(database, bundle, settings.models_uri, activate=activate, now_ms=now_ms)
    env.reset()  # the handlers load the new registry now, not after their check interval
    return version


def react(
    world: Any,
    user: int,
    feed: dict[str, Any],
    now_ms: int,
    rng: np.random.Generator,
    config: SimulationConfig,
    max_delay_ms: int = 600_000,
) -> list[dict[str, Any]]:
    """What ``user`` does with ``feed`` (a GET /recommendations answer served at ``now_ms``):
    at each position they click with probability position_bias x click_chance, view what they
    clicked and like it with probability ``affinity``; the events, with the feed's
    ``recommendation_id`` and position, up to ``max_delay_ms`` after the feed."""
    index = world_index(world)
    attraction = _attraction(world)
    user_id = world.user_ids[user]
    platform = ("web", "ios", "android")[int(world.user_platform[user])]
    events = []
    for shown in feed["items"]:
        item = index.get(shown["item_id"])
        if item is None:
            continue
        affinity = float(world.affinity(user, item))
        clicked = rng.random() < position_bias(shown["position"]) * click_chance(
            world, attraction, user, item, config
        )
        if not clicked:
            continue
        at = now_ms + int(rng.integers(2_000, max_delay_ms))
        base = {
            "user_id": user_id,
            "item_id": shown["item_id"],
            "platform": platform,
            "recommendation_id": feed["recommendation_id"],
            "position": shown["position"],
        }
        events.append({**base, "event_type": "click", "ts": at})
        events.append({**base, "event_type": "view", "ts": at + 3_000, "dwell_ms": 30_000})
        if rng.random() < affinity:
            events.append({**base, "event_type": "like", "ts": at + 20_000})
    for n, event in enumerate(events):
        event["event_id"] = f"sim-{feed['recommendation_id']}-{n}"
    return events


def expected_engaged(
    world: Any, user: int, feed: dict[str, Any], config: SimulationConfig
) -> float:
    """The feed's expected engaged impressions under the click model :func:`react` draws from:
    the sum over its items of position_bias x click_chance (0 for an item outside the world)."""
    index, attraction = world_index(world), _attraction(world)
    total = 0.0
    for shown in feed["items"]:
        item = index.get(shown["item_id"])
        if item is not None:
            total += position_bias(shown["position"]) * click_chance(
                world, attraction, user, item, config
            )
    return total


def world_index(world: Any) -> dict[str, int]:
    """item_id -> item index, cached on the world."""
    cached = getattr(world, "_item_index", None)
    if cached is None:
        cached = world._item_index = {item: n for n, item in enumerate(world.item_ids)}
    return cached


def _serve_and_react(
    world: Any,
    user: int,
    now_ms: int,
    keys: dict[str, str],
    rng: np.random.Generator,
    config: SimulationConfig,
    result: SimulationResult,
) -> tuple[int, int]:
    """One visit: a feed from the recommend handler, the user's reactions through ingest.
    Returns (impressions, events)."""
    from functions.ingest.app import handler as ingest
    from functions.recommend.app import handler as recommend
    from training.local.lambda_invoke import http_event, invoke

    user_id = world.user_ids[user]
    platform = ("web", "ios", "android")[int(world.user_platform[user])]
    query = {"k": FEED_K, "platform": platform}
    status, feed = invoke(
        recommend, http_event("GET", f"/recommendations/{user_id}", query=query,
                              api_key=keys["read"]),
    )  # fmt: skip
    if status != 200:
        raise RuntimeError(f"the recommend handler answered {status}: {feed}")
    result.record_expected(world, user, feed, config)
    events = react(world, user, feed, now_ms, rng, config)
    if events:  # sent when the last of them happened
        from functions.common import clock

        sent_at = max(int(e["ts"]) for e in events) + 1_000
        clock.now_ms = lambda: sent_at
        status, body = invoke(
            ingest, http_event("POST", "/events", body={"events": events}, api_key=keys["ingest"])
        )
        if status >= 300:
            raise RuntimeError(f"the ingest handler answered {status}: {body}")
    return len(feed["items"]), len(events)


def pac_by_version(breakdown: list[dict[str, Any]]) -> dict[str, Any]:
    """PaC with its Wilson interval per served model version, from GET /metrics' breakdown
    (platforms and arms pooled)."""
    from functions.metrics.maths import proportion

    totals: dict[str, list[int]] = {}
    for part in breakdown:
        entry = totals.setdefault(part["model_version"], [0, 0])
        entry[0] += part["pac"]["numerator"]
        entry[1] += part["pac"]["denominator"]
    return {v: proportion(hits, shown).as_dict() for v, (hits, shown) in sorted(totals.items())}


def simulate(config: SimulationConfig, folder: Path, progress: bool = True) -> SimulationResult:
    """Run the loop of this module's docstring in ``folder`` (a fresh database there)."""
    from functions.common import clock
    from functions.common.http.api_keys import create_key
    from functions.common.serving.snapshot_refresh import refresh_all
    from functions.common.settings import get_settings
    from functions.common.store.db import get_database
    from functions.metrics.compare import compare_versions
    from functions.metrics.logic import Window, window_metrics
    from functions.metrics.schedule import run_scheduled
    from training.datasets.synthetic.generation import generate_world
    from training.datasets.synthetic.world import WorldConfig
    from training.datasets.synthetic.write import write_world

    if config.policy not in ("popularity", "model", "ab"):
        raise ValueError(f"--policy is popularity, model or ab, not {config.policy!r}")
    if config.retrain not in ("none", "daily"):
        raise ValueError(f"--retrain is none or daily, not {config.retrain!r}")
    started = time.perf_counter()
    result = SimulationResult(config)
    rng = np.random.default_rng(config.seed)
    env = _Environment(folder)
    real_now = clock.now_ms
    try:
        world = generate_world(WorldConfig(
            seed=config.seed, users=config.users, items=config.items,
            events=config.history_events or 100 * config.users, days=config.history_days,
            end_ms=START_MS,
        ))  # fmt: skip
        database = get_database()
        write_world(database, world)
        keys = {scope: create_key(database, [scope], f"simulator {scope}", START_MS)[1]
                for scope in ("read", "ingest")}  # fmt: skip
        version = None
        if config.policy != "popularity":
            clock.now_ms = lambda: START_MS  # the training data is read when the days begin
            version = _train_and_publish(config, env, START_MS, config.policy == "model")
            result.bundles[version] = folder / "bundles" / version
            if config.policy == "ab":
                env.set(ab_model_version=version, ab_share="0.5")
        for day in range(config.days):
            day_start = START_MS + day * DAY_MS
            visits = [u for u in range(config.users) if rng.random() < config.visit_p]
            times = np.sort(rng.integers(day_start, day_start + DAY_MS - 3_600_000, len(visits)))
            refreshed = 0
            for user, at in zip(rng.permutation(visits).tolist(), times.tolist(), strict=True):
                clock.now_ms = lambda at=at: int(at)  # type: ignore[misc]
                if at - refreshed >= REFRESH_MS:  # what the 5-minute schedule does
                    refresh_all(get_database(), get_settings(), int(at))
                    refreshed = at
                shown, sent = _serve_and_react(world, user, int(at), keys, rng, config, result)
                result.feeds += 1
                result.impressions += shown
                result.events += sent
            if progress:
                print(
                    f"day {day + 1}/{config.days}: {result.feeds} feeds, "
                    f"{result.impressions} impressions, {result.events} events so far"
                )
            if config.retrain == "daily" and version is not None and day + 1 < config.days:
                night = day_start + DAY_MS - 1_800_000
                clock.now_ms = lambda night=night: int(night)  # type: ignore[misc]
                version = _train_and_publish(config, env, night, config.policy == "model")
                result.bundles[version] = folder / "bundles" / version
                if config.policy == "ab":
                    env.set(ab_model_version=version)
        end = START_MS + config.days * DAY_MS
        after = end + 2 * DAY_MS  # every window's attribution has closed
        clock.now_ms = lambda: after
        settings = get_settings()
        database = get_database()
        run_scheduled(database, after, settings, max_windows={"hour": 24 * (config.days + 3),
                                                              "day": config.days + 3})  # fmt: skip
        window = Window(START_MS, end, final=True)
        report = database.read(lambda c: window_metrics(c, window, FEED_K, None, settings))
        result.pac = pac_by_version(report["breakdown"])
        result.versions = sorted(result.pac)
        if config.policy == "ab" and version is not None:
            model_versions = [v for v in result.versions if v.startswith("mr-sim-")]
            if config.retrain == "none" and model_versions:
                result.comparison = database.read(
                    lambda c: compare_versions(c, "popularity-v1", model_versions[0], window,
                                               FEED_K, None, settings, 0.5)
                )  # fmt: skip
    finally:
        clock.now_ms = real_now
        env.restore()
    result.seconds = time.perf_counter() - started
    return result
