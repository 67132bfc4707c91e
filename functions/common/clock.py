"""The one place that reads the wall clock, so tests can pin time."""

from __future__ import annotations

import time
from datetime import UTC, datetime

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


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
    """ISO-8601 text or an epoch number to epoch milliseconds.

    Numbers are epoch seconds; values of 1e11 or more are taken as milliseconds (1e11 seconds is
    the year 5138). ISO text without a zone is taken as UTC. Raises ``ValueError`` otherwise.
    """
    if isinstance(value, bool):
        raise ValueError("a timestamp must be ISO-8601 text or an epoch number, not a boolean")
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("a timestamp must be a finite number")
        millis = value if abs(value) >= 1e11 else value * 1000
        if not 0 <= millis < 253_402_300_800_000:  # year 10000
            raise ValueError("epoch timestamp out of range")
        return int(millis)
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
        return int(parsed.timestamp() * 1000)
    raise ValueError("a timestamp must be ISO-8601 text or an epoch number")


def floor_ms(ms: int, step_ms: int) -> int:
    return ms - ms % step_ms
