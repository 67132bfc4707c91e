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
    fill_outcomes(conn, window, k, platform, settings)
    rows = fetch_all(conn, QUERIES, "user_outcomes", {"a": a, "b": b})
    per_user: dict[str, dict[str, list[tuple[int, int, int]]]] = defaultdict(dict)
    by_version: dict[str, list[tuple[int, int, int]]] = {a: [], b: []}
    for row in rows:
        record = (int(row["engaged"]), int(row["clicked"]), int(row["impressions"]))
        by_version[row["model_version"]].append(record)
        per_user[row["user_id"]][row["model_version"]] = [record]
    both = sum(1 for versions in per_user.values() if len(versions) == 2)
    arms: dict[str, Any] = {}
    results: dict[str, Any] = {}
    for metric, index in (("pac", 0), ("ctr", 1)):
        ratio_a = user_ratio([(r[index], r[2]) for r in by_version[a]])
        ratio_b = user_ratio([(r[index], r[2]) for r in by_version[b]])
        for version, ratio in ((a, ratio_a), (b, ratio_b)):
            arms.setdefault(version, {"model_version": version})[metric] = ratio.as_dict()
        results[metric] = {
            "difference": difference(ratio_a, ratio_b),
            "pooled_z_test": pooled_z_test(
                ratio_a.numerator, ratio_a.denominator, ratio_b.numerator, ratio_b.denominator
            ),
        }
    for version in (a, b):
        arms[version]["users"] = len(by_version[version])
        arms[version]["impressions"] = sum(r[2] for r in by_version[version])
    counted = {r["arm"]: int(r["users"]) for r in fetch_all(conn, QUERIES, "users_per_arm")}
    share = settings.ab_share if expected_b_share is None else expected_b_share
    ratio_check = sample_ratio_check(counted.get("a", 0), counted.get("b", 0), share)
    warnings = []
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
            f"{both} users saw both versions; the interval assumes the arms hold different users"
        )
    return {
        "from": to_iso(window.start_ms),
        "to": to_iso(window.end_ms),
        "k": k,
        "platform": platform,
        "a": arms[a],
        "b": arms[b],
        "pac": results["pac"],
        "ctr": results["ctr"],
        "users_in_both": both,
        "sample_ratio": {
            "users_per_arm": {"a": counted.get("a", 0), "b": counted.get("b", 0)},
            **ratio_check,
        },
        "warnings": warnings,
    }
