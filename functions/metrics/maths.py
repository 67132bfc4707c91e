"""Proportions and their confidence intervals."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Proportion:
    numerator: int
    denominator: int
    value: float | None
    ci95: tuple[float, float] | None

    def as_dict(self) -> dict[str, object]:
        return {
            "value": self.value,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "ci95": list(self.ci95) if self.ci95 else None,
        }


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default)."""
    if trials <= 0:
        raise ValueError("trials must be positive")
    if not 0 <= successes <= trials:
        raise ValueError("successes must lie in 0..trials")
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion(successes: int, trials: int) -> Proportion:
    """successes / trials with its Wilson interval; value None when there were no trials."""
    if trials == 0:
        return Proportion(successes, 0, None, None)
    low, high = wilson_interval(successes, trials)
    return Proportion(successes, trials, successes / trials, (round(low, 6), round(high, 6)))


Z95 = 1.959964


def normal_two_sided_p(z: float) -> float:
    """P(|Z| >= |z|) for a standard normal Z."""
    return math.erfc(abs(z) / math.sqrt(2.0))


@dataclass(frozen=True)
class UserRatio:
    """A ratio metric of one arm (engaged impressions / impressions) with the user as the unit:
    ``variance`` is the delta-method variance of sum(x) / sum(n) over independent users,
    sum((x_u - R n_u)^2) / (N (N - 1) nbar^2)."""

    users: int
    numerator: float
    denominator: float
    value: float | None
    variance: float | None

    def as_dict(self) -> dict[str, object]:
        se = math.sqrt(self.variance) if self.variance is not None else None
        return {
            "value": self.value,
            "users": self.users,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "se": se,
        }


def user_ratio(per_user: list[tuple[float, float]]) -> UserRatio:
    """``per_user``: (successes, trials) of each user with at least one trial (weighted sums
    too, as off-policy estimates have)."""
    users = len(per_user)
    hits = sum(x for x, _ in per_user)
    trials = sum(n for _, n in per_user)
    if users == 0 or trials == 0:
        return UserRatio(users, hits, trials, None, None)
    ratio = hits / trials
    if users < 2:
        return UserRatio(users, hits, trials, ratio, None)
    mean_trials = trials / users
    spread = sum((x - ratio * n) ** 2 for x, n in per_user)
    return UserRatio(users, hits, trials, ratio, spread / (users * (users - 1) * mean_trials**2))


def difference(a: UserRatio, b: UserRatio) -> dict[str, object]:
    """b - a with its 95% interval and two-sided p-value (normal approximation; the arms hold
    different users, so their variances add)."""
    if a.value is None or b.value is None or a.variance is None or b.variance is None:
        return {"value": None, "ci95": None, "p_value": None, "method": "delta method, users"}
    diff = b.value - a.value
    se = math.sqrt(a.variance + b.variance)
    p = normal_two_sided_p(diff / se) if se > 0 else (1.0 if diff == 0 else 0.0)
    return {
        "value": diff,
        "ci95": [diff - Z95 * se, diff + Z95 * se],
        "p_value": p,
        "method": "delta method, users",
    }


def pooled_z_test(a_hits: int, a_trials: int, b_hits: int, b_trials: int) -> dict[str, object]:
    """The two-proportion z-test that treats every impression as independent: shown beside the
    user-level answer only, since a user's impressions are correlated and it overstates
    certainty."""
    if a_trials == 0 or b_trials == 0:
        return {"value": None, "ci95": None, "p_value": None, "method": "pooled z, impressions"}
    pa, pb = a_hits / a_trials, b_hits / b_trials
    pooled = (a_hits + b_hits) / (a_trials + b_trials)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / a_trials + 1 / b_trials))
    se = math.sqrt(pa * (1 - pa) / a_trials + pb * (1 - pb) / b_trials)
    p = normal_two_sided_p((pb - pa) / se0) if se0 > 0 else 1.0
    return {
        "value": pb - pa,
        "ci95": [pb - pa - Z95 * se, pb - pa + Z95 * se],
        "p_value": p,
        "method": "pooled z, impressions (overstates certainty)",
    }


SRM_ALPHA = 0.001  # a sample-ratio mismatch this unlikely by chance means a broken split


def sample_ratio_check(users_a: int, users_b: int, expected_b_share: float) -> dict[str, object]:
    """Chi-square test (1 degree of freedom) of the users per arm against the configured share
    of arm b; ``mismatch`` when p < SRM_ALPHA."""
    total = users_a + users_b
    if total == 0 or not 0 < expected_b_share < 1:
        return {"expected_b_share": expected_b_share, "observed_b_share": None,
                "p_value": None, "mismatch": False}  # fmt: skip
    expected_b = total * expected_b_share
    expected_a = total - expected_b
    chi2 = (users_a - expected_a) ** 2 / expected_a + (users_b - expected_b) ** 2 / expected_b
    p = math.erfc(math.sqrt(chi2 / 2.0))
    return {
        "expected_b_share": expected_b_share,
        "observed_b_share": users_b / total,
        "chi2": chi2,
        "p_value": p,
        "mismatch": p < SRM_ALPHA,
    }
