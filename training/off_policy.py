"""``mediarec evaluate-offline``: the PaC a candidate bundle would have earned on logged traffic,
estimated from the feeds the serving policy logged, before any user sees the candidate.

What the logs hold. Each impression carries ``propensity``, the chance that the serving policy
put that item in that feed: 1 for the ranked slots, slots / pool for an exploration draw
(functions/recommend/logic.py: uniform over the model's next-ranked items and new items, at a
position drawn uniformly from the feed's). Impressions logged without a propensity (before
migration 0006) are left out, with their feeds.

The estimate. For each logged feed the candidate ranks the same user's feed again, as the
serving code would have at the time (the history and the seen items as of ``served_ms``, the
request's filters; item features and popularity as of now), giving its top-k list ``L``. Every
logged impression ``i`` of an item in ``L`` is evidence about that slot of the candidate's feed:
its engagement ``r_i``, weighted by ``w_i = min(1 / propensity_i, clip)`` (inverse propensity),
and moved from its logged position ``q_i`` to the candidate's ``p_i`` under a position-based
click model, examination proportional to position ** -eta (Joachims et al. 2017):
``y_i = w_i r_i (q_i / p_i) ** eta``. ``eta`` is fitted by maximum likelihood on the exploration
slots alone, where the item is independent of its position.

- IPS: sum(y) / sum(len(L)) over feeds, the candidate's PaC if its items the logs cannot see
  engage at 0; unbiased under the click model with no clipping.
- Self-normalised IPS (the headline): sum(y) / sum(w): the engagement of the candidate's items
  that the logs can see, assuming the unseen ones engage alike. Lower variance; its bias is
  ``coverage`` away from zero.
- ``coverage`` = sum(w) / sum(len(L)): the share of the candidate's slots the logs can see.
  Items outside every exploration pool are invisible, and ``coverage`` says how much that is.

Both intervals are 95% delta-method intervals with the user as the unit (a user's feeds are
correlated), as in ``GET /metrics/compare``. What the estimate cannot see: interactions between
the items of one feed (a PBM treats slots independently), items the serving policy never
explores, and changes in behaviour that the candidate itself would cause (its own feedback loop).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from functions.common.serving.model_runtime import ServingModel
from functions.common.settings import Settings
from functions.common.store.db import Database, fetch_all
from functions.metrics.maths import Z95, user_ratio

QUERIES = "metrics/off_policy"
DEFAULT_CLIP = 500.0  # larger than 1 / the smallest propensity an exploration pool of 100 logs
MIN_EXPLORED_HITS = 30  # fewer candidate items met in exploration slots: say it is unreliable
MIN_EXPLORED_ENGAGED = 20  # fewer engaged exploration slots: the position bias is not fitted
ETA_GRID = np.round(np.arange(0.0, 3.0001, 0.01), 2)


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


def logged_feeds(
    db: Database, start_ms: int, end_ms: int, k: int, settings: Settings
) -> tuple[list[LoggedFeed], int]:
    """The window's feeds whose every impression up to ``k`` carries a propensity, settled
    by PaC's attribution rules, and how many feeds were left out for lacking one."""
    from functions.metrics.logic import Window, fill_outcomes

    def read(conn: Any) -> list[Any]:
        fill_outcomes(conn, Window(start_ms, end_ms), k, None, settings)
        return fetch_all(conn, QUERIES, "logged_slots")

    feeds: dict[str, LoggedFeed] = {}
    unusable: set[str] = set()
    for row in db.read(read):
        rid = row["recommendation_id"]
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
    return [f for rid, f in feeds.items() if rid not in unusable], len(unusable)


def candidate_list(
    model: ServingModel, db: Database, settings: Settings, feed: LoggedFeed, k: int
) -> list[str]:
    """The candidate's top ``k`` for ``feed``'s user at ``served_ms``: its ranking (in-session
    for users it does not know), then popular items, as the recommend function would serve
    them (without exploration: the candidate's deterministic feed)."""
    from functions.common.serving.popularity import top_popular_ids
    from functions.common.serving.snapshot_refresh import serving_snapshots
    from functions.common.store.snapshots import Snapshot
    from functions.recommend.model_ranking import rank_by_session, rank_with_model

    seen: set[str] = set()
    if feed.request.get("exclude_seen", True):
        params = {"user_id": feed.user_id, "before_ms": feed.served_ms}
        seen = {
            r["item_id"] for r in db.read(lambda c: fetch_all(c, QUERIES, "seen_before", params))
        }
    kind, category = feed.request.get("kind"), feed.request.get("category")
    snaps = serving_snapshots(db, settings, model.spec, feed.served_ms)
    features: Snapshot | None = snaps.item_features
    popular = [
        i for i in top_popular_ids(db, snaps.popularity, feed.platform, 100) if i not in seen
    ]
    ranked: list[tuple[str, float, str]] = []
    if features is not None and features.ready:
        if feed.user_id in model.user_index:
            ranked = rank_with_model(
                model,
                db,
                features,
                user_id=feed.user_id,
                now_ms=feed.served_ms,
                excluded=seen,
                extra_candidates=popular,
                kind=kind,
                category=category,
                retrieval_candidates=settings.retrieval_candidates,
                limit=k,
            )
        else:
            ranked = rank_by_session(
                model,
                db,
                features,
                user_id=feed.user_id,
                now_ms=feed.served_ms,
                excluded=seen,
                kind=kind,
                category=category,
                limit=(k + 1) // 2,
            )
    items = [item for item, _, _ in ranked]
    if len(items) < k and kind is None and category is None:
        items += [i for i in popular if i not in set(items)][: k - len(items)]
    return items[:k]


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
) -> dict[str, Any]:
    """The whole estimate for ``model`` on the window's logs; raises TooLittleRandomisation
    when the logs hold nothing to estimate from."""
    feeds, unusable = logged_feeds(db, start_ms, end_ms, k, settings)
    explored = [(s.position, s.engaged) for f in feeds for s in f.slots if s.propensity < 1]
    if not feeds:
        raise TooLittleRandomisation(
            f"no logged feed in the window carries propensities ({unusable} feeds logged "
            "without them, before migration 0006): nothing to estimate from"
        )
    if not explored:
        raise TooLittleRandomisation(
            f"the window's {len(feeds)} feeds hold no randomised slot (no exploration draw: "
            "MEDIAREC_EXPLORATION_SHARE is 0, or no feed was served by a model), so the logs "
            "say nothing about items the serving policy did not rank itself"
        )
    bias = fit_position_bias(explored)
    lists = {f.recommendation_id: candidate_list(model, db, settings, f, k) for f in feeds}
    result = estimate(feeds, lists, bias["eta"], clip)
    warnings = []
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
        "feeds_without_propensity": unusable,
        "position_bias": bias,
        "warnings": warnings,
    }
