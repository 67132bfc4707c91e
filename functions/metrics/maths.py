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
