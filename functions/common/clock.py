"""The one place that reads the wall clock, so tests can pin time."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


YEAR_1_MS = -62_135_596_800_000
YEAR_10000_MS = 253_402_300_800_000
EPOCH_MILLIS_FROM = 100_000_000_000
"""Epoch numbers from here on are milliseconds, below it seconds (1e11 s is the year 5138)."""


def now_ms() -> int:
    """Current time as epoch milliseconds (UTC)."""
    return int(time.time() * 1000)


def to_iso(ms: int) -> str:
    """Epoch milliseconds as an ISO-8601 UTC string (``2026-11-22T10:00:00.000Z``)."""
    return (
        datetime.fromtimestamp(ms / 1000, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def parse_timestamp(value: object) -> int:
    """ISO-8601 text or an epoch number to epoch milliseconds (rounded down).

    Numbers are epoch seconds; values of 1e11 or more are taken as milliseconds (1e11 seconds is
    the year 5138). ISO text without a zone is taken as UTC. Raises ``ValueError`` otherwise.
    """
    return math.floor(exact_timestamp_ms(value))


def parse_timestamp_text(text: str) -> int:
    """A timestamp written as text (a CSV cell, a query parameter) to epoch milliseconds.

    Epoch seconds, epoch milliseconds (1e11 or more) or ISO-8601, as :func:`parse_timestamp`
    takes them. A number is whatever Python's ``int()``, else ``float()``, reads: surrounding
    whitespace, a sign, ``_`` between digits and exponents (``1e12``) included. ``int()`` comes
    first so that a big integer stays exact. Raises ``ValueError`` otherwise.
    """
    number: int | float
    try:
        number = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            return parse_timestamp(text)
    return parse_timestamp(number)


def exact_timestamp_ms(value: object) -> float:
    """:func:`parse_timestamp` before rounding: bounds are checked on this, so that a value a
    fraction of a millisecond past a bound is refused like the schema says it is."""
    if isinstance(value, bool):
        raise ValueError("a timestamp must be ISO-8601 text or an epoch number, not a boolean")
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("a timestamp must be a finite number")
        millis = value if abs(value) >= EPOCH_MILLIS_FROM else value * 1000
        if not 0 <= millis < YEAR_10000_MS:
            raise ValueError("epoch timestamp out of range")
        return float(millis)
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 40:
            raise ValueError("not an ISO-8601 timestamp")
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an ISO-8601 timestamp: {text!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            millis = math.floor(parsed.timestamp() * 1000)
        except (OverflowError, OSError):  # before year 1 once in UTC
            raise ValueError(f"timestamp out of range: {text!r}") from None
        if not YEAR_1_MS <= millis < YEAR_10000_MS:  # to_iso could not write it back
            raise ValueError(f"timestamp out of range (years 1-9999 UTC): {text!r}")
        return float(millis)
    raise ValueError("a timestamp must be ISO-8601 text or an epoch number")


def floor_ms(ms: int, step_ms: int) -> int:
    return ms - ms % step_ms


@dataclass(frozen=True)
class TimeBounds:
    """The times a request may carry, in epoch milliseconds, inclusive. Computed from the clock
    rounded down to the minute, so that the OpenAPI document (which states them) and the
    validators agree exactly within each minute."""

    earliest_ms: int | None
    latest_ms: int


def event_time_bounds(now: int, max_age_days: float, future_tolerance_s: float) -> TimeBounds:
    minute = floor_ms(now, MINUTE_MS)
    return TimeBounds(minute - int(max_age_days * DAY_MS), minute + int(future_tolerance_s * 1000))


def published_time_bounds(now: int, future_tolerance_s: float) -> TimeBounds:
    return TimeBounds(None, floor_ms(now, MINUTE_MS) + int(future_tolerance_s * 1000))
