"""``mediarec evaluate-offline``: the PaC a candidate bundle would have earned on logged traffic,
estimated from the feeds the serving policy logged, before any user sees the candidate.

What the logs hold. Each impression carries ``propensity``, the chance that the serving policy
put that item in that feed: 1 for the ranked slots, slots / pool for an exploration draw
(functions/recommend/logic.py: uniform over the model's next-ranked items and new items, at a
position drawn uniformly from the feed's). Feeds logged without propensities (before migration
0006) or for another k are left out, and counted.

The replay. The candidate serves each logged feed again through the recommend function's own
code (``choose_items``, with the candidate in place of the registry's model, its exploration
drawn with a seed of its own, independent of the logged draw) on a :class:`ReplayStore`: a
temporary copy of the store whose events are those the live store had received when the feed
was served, and whose popularity and item-feature snapshots are rebuilt from them every hour of
log time. So the user's history, their seen items and the features are as of ``served_ms``:
nothing the window's engagements could leak. The catalog (items, visibility) is the store's
current one. The live store is only read. The estimand is the candidate as it would be served,
exploration slots included: its list ``L`` for each feed.

The estimate. Every logged impression ``i`` of an item in ``L`` is evidence about that slot of
the candidate's feed: its engagement ``r_i``, weighted by ``w_i = min(1 / propensity_i, clip)``
(inverse propensity), and moved from its logged position ``q_i`` to the candidate's ``p_i``
under a position-based click model, examination proportional to position ** -eta (Joachims et
al. 2017): ``y_i = w_i r_i (q_i / p_i) ** eta``. ``eta`` is fitted by maximum likelihood on the
exploration slots alone, where the item is independent of its position.

- IPS: sum(y) / sum(len(L)) over feeds, the candidate's PaC if its items the logs cannot see
  engage at 0; unbiased under the click model with no clipping.
- Self-normalised IPS (the headline): sum(y) / sum(w): the engagement of the candidate's items
  that the logs can see, assuming the unseen ones engage alike. Lower variance; its bias is
  ``coverage`` away from one.
- ``coverage`` = sum(w) / sum(len(L)): the share of the candidate's slots the logs can see (an
  estimate itself, which can exceed 1 by chance). Items outside every exploration pool are
  invisible, and ``coverage`` says how much that is.

Both intervals are 95% delta-method intervals with the user as the unit (a user's feeds are
correlated), as in ``GET /metrics/compare``; they leave out the uncertainty of ``eta``, which is
fitted on the same logs. What the estimate cannot see: interactions between the items of one
feed (a PBM treats slots independently), items the serving policy never explores, and changes
in behaviour that the candidate itself would cause: which items its users would already have
consumed, its own feedback loop.
"""

from __future__ import annotations

import json
import math
import sqlite3
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from functions.common.serving.model_runtime import ServingModel, data_read_ms
from functions.common.settings import Settings
from functions.common.store.db import Database, execute, fetch_all
from functions.common.store.sqlite_engine import SqliteDatabase
from functions.metrics.maths import Z95, user_ratio
from training.store_copy import copy_store

QUERIES = "metrics/off_policy"
DEFAULT_CLIP = 500.0  # larger than 1 / the smallest propensity an exploration pool of 100 logs
MIN_EXPLORED_HITS = 30  # fewer candidate items met in exploration slots: say it is unreliable
MIN_EXPLORED_ENGAGED = 20  # fewer engaged exploration slots: the position bias is not fitted
ETA_GRID = np.round(np.arange(0.0, 3.0001, 0.01), 2)
REPLAY_REFRESH_MS = 3_600_000  # the replay rebuilds its snapshots every hour of log time


class TooLittleRandomisation(ValueError):
    """The window's logs hold no randomised slot that the estimate could use."""


@dataclass
class LoggedSlot:
    item_id: str
    position: int
    propensity: float
    engaged: int


@dataclass
class LoggedFeed:
    recommendation_id: str
    user_id: str
    platform: str
    served_ms: int
    k: int
    request: dict[str, Any]
    slots: list[LoggedSlot] = field(default_factory=list)


@dataclass
class LoggedTraffic:
    feeds: list[LoggedFeed]
    without_propensity: int = 0  # feeds left out: an impression logged without a propensity
    other_k: int = 0  # feeds left out: asked for another k than the estimate's


def logged_feeds(
    db: Database, start_ms: int, end_ms: int, k: int, settings: Settings
) -> LoggedTraffic:
    """The window's feeds of ``k`` items whose every impression carries a propensity, settled
    by PaC's attribution rules. A feed of another k is left out: its propensities describe
    inclusion anywhere in its own length."""
    from functions.metrics.logic import Window, fill_outcomes

    def read(conn: Any) -> list[Any]:
        outcomes = fill_outcomes(conn, Window(start_ms, end_ms), k, None, settings)
        return fetch_all(conn, QUERIES, "logged_slots", outcomes)

    feeds: dict[str, LoggedFeed] = {}
    unusable: set[str] = set()
    other_k: set[str] = set()
    for row in db.read(read):
        rid = row["recommendation_id"]
        if int(row["k"]) != k:
            other_k.add(rid)
            continue
        if row["propensity"] is None or not 0 < row["propensity"] <= 1:
            unusable.add(rid)
            continue
        feed = feeds.get(rid)
        if feed is None:
            feed = feeds[rid] = LoggedFeed(
                rid,
                row["user_id"],
                row["platform"],
                int(row["served_ms"]),
                int(row["k"]),
                json.loads(row["request"] or "{}"),
            )
        feed.slots.append(
            LoggedSlot(
                row["item_id"], int(row["position"]), float(row["propensity"]), int(row["engaged"])
            )
        )
    kept = [f for rid, f in feeds.items() if rid not in unusable]
    return LoggedTraffic(kept, len(unusable), len(other_k))


class ReplayStore:
    """A copy of the store in ``folder`` whose events stop at ``start_ms`` and then grow with
    the window's events in the order they arrived (:meth:`advance`), so that the candidate
    ranks each logged feed over exactly what the serving code could read when it was served:
    the user's history and seen items, and snapshots rebuilt from those events every
    REPLAY_REFRESH_MS of log time. The live store is only read."""

    def __init__(self, live: Database, folder: Path, start_ms: int, spec: Any) -> None:

        self.path = folder / "replay.sqlite"
        if isinstance(live, SqliteDatabase):
            source = sqlite3.connect(live.path)
            target = sqlite3.connect(self.path)
            try:
                source.backup(target)
            finally:
                target.close()
                source.close()
            self.db = SqliteDatabase(self.path, journal_mode="delete")
        else:  # a PostgreSQL store: its rows copied into a local SQLite file
            self.db = SqliteDatabase(self.path, journal_mode="delete")
            self.db.migrate()
            copy_store(live, self.db, verify=False)

        def hold_back(conn: sqlite3.Connection) -> None:
            for name in ("create_pending_events", "index_pending_events", "hold_back_events"):
                execute(conn, QUERIES, name, {"from_ms": start_ms})

        self.db.write(hold_back)
        self.spec, self.upto_ms = spec, start_ms
        self.refreshed_ms: int | None = None

    def advance(self, until_ms: int, settings: Settings) -> None:
        """Every event of the window received before ``until_ms``; snapshots rebuilt when
        REPLAY_REFRESH_MS of log time has passed since the last build."""
        from functions.common.serving.online_features import clear_item_feature_tables
        from functions.common.serving.popularity import clear_popularity_cache
        from functions.common.serving.snapshot_refresh import (
            refresh_item_features,
            refresh_popularity,
        )

        if until_ms > self.upto_ms:
            params = {"after_ms": self.upto_ms, "until_ms": until_ms}
            self.db.write(lambda c: execute(c, QUERIES, "replay_events", params))
            self.upto_ms = until_ms
        if self.refreshed_ms is None or until_ms - self.refreshed_ms >= REPLAY_REFRESH_MS:
            refresh_popularity(self.db, settings, until_ms)
            refresh_item_features(self.db, self.spec, until_ms)
            clear_popularity_cache()
            clear_item_feature_tables()
            self.refreshed_ms = until_ms

    def close(self) -> None:
        from functions.common.serving.online_features import clear_item_feature_tables
        from functions.common.serving.popularity import clear_popularity_cache

        self.db.close()
        clear_popularity_cache()  # the replay's generations are not the live store's
        clear_item_feature_tables()


def replay_feeds(
    model: ServingModel,
    live: Database,
    settings: Settings,
    feeds: list[LoggedFeed],
    start_ms: int,
    k: int,
    folder: Path,
) -> dict[str, list[str]]:
    """The candidate's feed for each logged one, by the recommend function's own code
    (``choose_items`` with the candidate in place of the registry's model, its exploration
    drawn independently of the logged draw) on a :class:`ReplayStore` advanced to each feed's
    ``served_ms``: recommendation_id -> item ids by position."""
    from functions.common.serving.model_runtime import ModelSlot
    from functions.common.serving.popularity import ANY_PLATFORM
    from functions.recommend.logic import FeedRequest, choose_items

    replay_settings = settings.model_copy(
        update={"snapshot_max_age_seconds": 0.0, "ab_model_version": None, "ab_share": 0.0}
    )
    slot = ModelSlot(model=model, status="active", version=model.version)
    store = ReplayStore(live, folder, start_ms, model.spec)
    lists: dict[str, list[str]] = {}
    try:
        for feed in sorted(feeds, key=lambda f: (f.served_ms, f.recommendation_id)):
            store.advance(feed.served_ms, replay_settings)
            request = FeedRequest(
                feed.user_id,
                k=k,
                platform=None if feed.platform == ANY_PLATFORM else feed.platform,
                kind=feed.request.get("kind"),
                category=feed.request.get("category"),
                exclude_seen=bool(feed.request.get("exclude_seen", True)),
            )
            # its own draw, independent of the logged one: the same seed would draw the logged
            # item whenever the two pools agree, and inverse propensities would overcount it
            seed = f"{feed.recommendation_id}:replay"
            chosen = choose_items(request, store.db, replay_settings, feed.served_ms, seed, slot)
            lists[feed.recommendation_id] = [c.item_id for c in chosen.items]
    finally:
        store.close()
    return lists


def fit_position_bias(explored: list[tuple[int, int]]) -> dict[str, Any]:
    """``eta`` of examination ~ position ** -eta, by maximum likelihood (Poisson, the scale
    profiled out) on (position, engaged) of exploration slots, whose item is independent of
    its position; with the engagement rate per position, for inspection."""
    shown: dict[int, int] = defaultdict(int)
    engaged: dict[int, int] = defaultdict(int)
    for position, hit in explored:
        shown[position] += 1
        engaged[position] += hit
    positions = np.array(sorted(shown), dtype=np.float64)
    n = np.array([shown[int(p)] for p in positions], dtype=np.float64)
    e = np.array([engaged[int(p)] for p in positions], dtype=np.float64)
    rates = {
        int(p): {"shown": int(a), "engaged": int(b)}
        for p, a, b in zip(positions, n, e, strict=True)
    }
    if e.sum() < MIN_EXPLORED_ENGAGED or len(positions) < 2:
        return {"eta": 0.0, "fitted": False, "per_position": rates}
    best, best_ll = 0.0, -math.inf
    for eta in ETA_GRID:
        exam = positions**-eta
        scale = e.sum() / (n * exam).sum()
        ll = float((e * np.log(scale * exam)).sum() - (n * scale * exam).sum())
        if ll > best_ll:
            best, best_ll = float(eta), ll
    return {"eta": best, "fitted": True, "per_position": rates}


def estimate(
    feeds: list[LoggedFeed], lists: dict[str, list[str]], eta: float, clip: float
) -> dict[str, Any]:
    """IPS and self-normalised IPS of the candidate's PaC (the module docstring's formulas)
    with delta-method intervals over users."""
    per_user: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])  # y, w, slots
    explored_hits = explored_slots = clipped = 0
    for feed in feeds:
        ranked = lists.get(feed.recommendation_id, [])
        place = {item: n for n, item in enumerate(ranked, start=1)}
        sums = per_user[feed.user_id]
        sums[2] += len(ranked)
        for slot in feed.slots:
            randomised = slot.propensity < 1
            explored_slots += randomised
            position = place.get(slot.item_id)
            if position is None:
                continue
            weight = 1.0 / slot.propensity
            if weight > clip:
                weight, clipped = clip, clipped + 1
            explored_hits += randomised
            sums[0] += weight * slot.engaged * (slot.position / position) ** eta
            sums[1] += weight
    users = [(y, w, n) for y, w, n in per_user.values() if n > 0]
    ips = user_ratio([(y, n) for y, _, n in users])
    snips = user_ratio([(y, w) for y, w, _ in users if w > 0])
    coverage = user_ratio([(w, n) for _, w, n in users])

    def entry(ratio: Any) -> dict[str, Any]:
        se = math.sqrt(ratio.variance) if ratio.variance is not None else None
        ci = [ratio.value - Z95 * se, ratio.value + Z95 * se] if se is not None else None
        return {"value": ratio.value, "ci95": ci, "users": ratio.users}

    return {
        "snips": entry(snips),
        "ips": entry(ips),
        "coverage": coverage.value,
        "feeds": len(feeds),
        "users": len(users),
        "explored_slots": explored_slots,
        "explored_hits": explored_hits,
        "clipped_weights": clipped,
    }


def evaluate_offline(
    model: ServingModel,
    db: Database,
    settings: Settings,
    start_ms: int,
    end_ms: int,
    k: int = 10,
    clip: float = DEFAULT_CLIP,
    now_ms: int | None = None,
) -> dict[str, Any]:
    """The whole estimate for ``model`` on the window's logs; raises TooLittleRandomisation
    when the logs hold nothing to estimate from."""
    from functions.common import clock

    if k < 1 or clip < 1:
        raise ValueError("k must be at least 1 and clip at least 1 (a ranked slot weighs 1)")
    if start_ms >= end_ms:
        raise ValueError("the window is empty: its start must come before its end")
    now_ms = clock.now_ms() if now_ms is None else now_ms
    model.data_read_ms = data_read_ms(model.manifest, None)  # deletions since apply to it
    traffic = logged_feeds(db, start_ms, end_ms, k, settings)
    feeds = traffic.feeds
    explored = [(s.position, s.engaged) for f in feeds for s in f.slots if s.propensity < 1]
    if not feeds:
        if traffic.other_k:
            reason = f"its {traffic.other_k} logged feeds asked for another k than --k {k}"
        elif traffic.without_propensity:
            reason = (
                f"its {traffic.without_propensity} feeds were logged without propensities "
                "(before migration 0006)"
            )
        else:
            reason = "no feed was served in it"
        raise TooLittleRandomisation(f"nothing to estimate from in the window: {reason}")
    if not explored:
        raise TooLittleRandomisation(
            f"the window's {len(feeds)} feeds hold no randomised slot (no exploration draw: "
            "MEDIAREC_EXPLORATION_SHARE is 0, or no feed was served by a model), so the logs "
            "say nothing about items the serving policy did not rank itself"
        )
    bias = fit_position_bias(explored)
    with tempfile.TemporaryDirectory(prefix="mediarec-replay-") as folder:
        lists = replay_feeds(model, db, settings, feeds, start_ms, k, Path(folder))
    result = estimate(feeds, lists, bias["eta"], clip)
    warnings = []
    if model.data_read_ms > start_ms:
        warnings.append(
            "the candidate was trained on data read after the window began: it may have seen "
            "the engagements it is judged on"
        )
    open_from = now_ms - int(settings.attribution_window_hours * 3_600_000)
    if end_ms > open_from:
        warnings.append(
            "the window's last feeds are inside the attribution window "
            f"({settings.attribution_window_hours:g} h): engagements still to come are not "
            "counted yet"
        )
    if not bias["fitted"]:
        warnings.append(
            f"only {sum(e for _, e in explored)} engaged exploration slots: too few to fit the "
            "position bias, so none is assumed (eta = 0)"
        )
    if result["explored_hits"] < MIN_EXPLORED_HITS:
        warnings.append(
            f"the candidate's items were drawn into only {result['explored_hits']} exploration "
            "slots: the estimate rests on the items the serving policy ranked itself"
        )
    if result["coverage"] is not None and result["coverage"] < 0.5:
        warnings.append(
            f"the logs see only {result['coverage']:.0%} of the candidate's slots: the "
            "self-normalised estimate assumes the rest engage alike"
        )
    return {
        "model_version": model.version,
        "k": k,
        "clip": clip,
        **result,
        "feeds_without_propensity": traffic.without_propensity,
        "feeds_of_another_k": traffic.other_k,
        "position_bias": bias,
        "warnings": warnings,
    }
