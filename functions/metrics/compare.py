"""A/B comparison of two model versions over one window: each arm's PaC and CTR, the
difference with its 95% interval and p-value with the user as the unit (delta method), users
and impressions per arm, a sample-ratio-mismatch check, and the pooled impression z-test
beside it, labelled as such (docs/decisions.md: why the delta method)."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from typing import Any

from functions.common.clock import to_iso
from functions.common.settings import Settings
from functions.common.store.db import fetch_all
from functions.metrics.logic import Window, fill_outcomes
from functions.metrics.maths import (
    difference,
    pooled_z_test,
    sample_ratio_check,
    user_ratio,
)

QUERIES = "metrics/compare"


def compare_versions(
    conn: sqlite3.Connection,
    a: str,
    b: str,
    window: Window,
    k: int,
    platform: str | None,
    settings: Settings,
    expected_b_share: float | None = None,
) -> dict[str, Any]:
    """The comparison of ``a`` (the control) and ``b``. While an A/B test ran in the window
    (impressions carry logged arms), the arms are the logged ones, every impression of a user
    in arm b counting for b whatever version served it (intention to treat: a b user answered
    by popularity is still b); without logged arms, the users each version served (not
    randomised, said in a warning)."""
    outcomes = fill_outcomes(conn, window, k, platform, settings)
    served: dict[str, dict[str, int]] = defaultdict(dict)
    for row in fetch_all(conn, QUERIES, "served_versions_by_arm", outcomes):
        served[row["arm"]][row["model_version"]] = int(row["impressions"])
    warnings: list[str] = []
    if served:
        unit = "logged arm (intention to treat)"
        rows = fetch_all(conn, QUERIES, "user_outcomes_by_arm", outcomes)
        label = {"a": a, "b": b}
        groups = {a: "a", b: "b"}
        for arm, version in label.items():
            mix = served.get(arm, {})
            if mix and max(mix, key=lambda v: mix[v]) != version:
                warnings.append(
                    f"arm {arm} was mostly served {max(mix, key=lambda v: mix[v])}, not {version}"
                )
        key = "arm"
    else:
        unit = "served version (no A/B arms logged: not randomised)"
        rows = fetch_all(conn, QUERIES, "user_outcomes", {**outcomes, "a": a, "b": b})
        groups = {a: a, b: b}
        key = "model_version"
        warnings.append(
            "no A/B test was running in this window: the users each version served were not "
            "randomised, so the difference is observational"
        )
    by_group: dict[str, list[tuple[int, int, int]]] = {g: [] for g in groups.values()}
    seen: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        record = (int(row["engaged"]), int(row["clicked"]), int(row["impressions"]))
        by_group.setdefault(row[key], []).append(record)
        seen[row["user_id"]].add(row[key])
    both = sum(1 for groups_of_user in seen.values() if len(groups_of_user) == 2)
    arms: dict[str, Any] = {}
    results: dict[str, Any] = {}
    group_a, group_b = groups[a], groups[b]
    for metric, index in (("pac", 0), ("ctr", 1)):
        ratio_a = user_ratio([(r[index], r[2]) for r in by_group.get(group_a, [])])
        ratio_b = user_ratio([(r[index], r[2]) for r in by_group.get(group_b, [])])
        for name, version, ratio in (("a", a, ratio_a), ("b", b, ratio_b)):
            arms.setdefault(name, {"model_version": version})[metric] = ratio.as_dict()
        results[metric] = {
            "difference": difference(ratio_a, ratio_b),
            "pooled_z_test": pooled_z_test(
                int(ratio_a.numerator),
                int(ratio_a.denominator),
                int(ratio_b.numerator),
                int(ratio_b.denominator),
            ),
        }
    for name, group in (("a", group_a), ("b", group_b)):
        arms[name]["users"] = len(by_group.get(group, []))
        arms[name]["impressions"] = sum(r[2] for r in by_group.get(group, []))
        arms[name]["served_versions"] = served.get(name, {}) if served else {}
    counted = {
        r["arm"]: int(r["users"]) for r in fetch_all(conn, QUERIES, "users_per_arm", outcomes)
    }
    share = settings.ab_share if expected_b_share is None else expected_b_share
    ratio_check = sample_ratio_check(counted.get("a", 0), counted.get("b", 0), share)
    if ratio_check["mismatch"]:
        warnings.append(
            f"sample ratio mismatch: {ratio_check['observed_b_share']:.4f} of the users are in "
            f"arm b, {share} was configured (p = {ratio_check['p_value']:.2g}); the split itself "
            "is broken, so the difference cannot be trusted"
        )
    if a == b:  # answered (any two valid versions make a comparison), but said plainly
        warnings.append(f"a and b are both {a}: the difference is zero by construction")
    if both:
        warnings.append(
            f"{both} users are in both groups; the interval assumes the groups hold different users"
        )
    return {
        "from": to_iso(window.start_ms),
        "to": to_iso(window.end_ms),
        "k": k,
        "platform": platform,
        "unit_of_assignment": unit,
        "a": arms["a"],
        "b": arms["b"],
        "pac": results["pac"],
        "ctr": results["ctr"],
        "users_in_both": both,
        "sample_ratio": {
            "users_per_arm": {"a": counted.get("a", 0), "b": counted.get("b", 0)},
            **ratio_check,
        },
        "warnings": warnings,
    }
