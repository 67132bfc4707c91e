"""JSON Schemas for the values whose accepted range depends on the clock or on a limit: event and
item times, the metrics window, free-form attributes.

A schema states a subset of what the API accepts, never more, so that a client (or a fuzzer)
that follows it is never refused:

- times accept ISO-8601 text or epoch seconds or milliseconds, within a range that moves with
  the clock. Numbers get the validators' exact bounds (functions/common/clock.py: they move once
  a minute, and the document is rebuilt when they do); texts are RFC 3339 on whole days well
  inside the range (a day's margin covers any UTC offset), as JSON Schema cannot bound a
  date-time;
- the metrics window takes any two times;
- attributes are any JSON object whose numbers stay within the body limit (``max_number_digits``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from functions.common.clock import EPOCH_MILLIS_FROM, YEAR_10000_MS, TimeBounds

CLOCK = (
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])"
)
ATTRIBUTE_VALUE = "AttributeValue"


def _day(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).replace(hour=0, minute=0, second=0)


def whole_days(earliest_ms: int, latest_ms: int) -> list[str]:
    """``YYYY-MM-DD`` of the days that lie entirely inside the range with a day to spare on
    each side (so any time of day, at any UTC offset, is inside)."""
    first = _day(earliest_ms) + timedelta(days=2)
    last = _day(latest_ms) - timedelta(days=2)
    days = []
    while first <= last:
        days.append(first.strftime("%Y-%m-%d"))
        first += timedelta(days=1)
    return days


def _text(days: list[str]) -> dict[str, Any]:
    return {"type": "string", "pattern": "^(" + "|".join(days) + ")" + CLOCK + "$"}


def time_schema(earliest_ms: int, latest_ms: int, description: str) -> dict[str, Any]:
    """A nullable time between the two instants: epoch seconds, epoch ms or RFC 3339 text."""
    options: list[dict[str, Any]] = []
    low_s, high_s = max(earliest_ms / 1000, 0), min(latest_ms / 1000, EPOCH_MILLIS_FROM - 1)
    if low_s <= high_s:
        options.append({"type": "number", "minimum": low_s, "maximum": high_s})
    low_ms = max(earliest_ms, EPOCH_MILLIS_FROM)
    if low_ms <= latest_ms:
        options.append({"type": "number", "minimum": low_ms, "maximum": latest_ms})
    if earliest_ms <= 0:  # everything up to the latest: whole years, days 1-28 of each month
        years = range(1971, _day(latest_ms).year)
        if years:
            pattern = "^(" + "|".join(str(y) for y in years) + ")-(0[1-9]|1[0-2])-"
            options.append(
                {"type": "string", "pattern": pattern + "(0[1-9]|1[0-9]|2[0-8])" + CLOCK + "$"}
            )
    else:
        days = whole_days(earliest_ms, latest_ms)
        if days:
            options.append(_text(days))
    return {"anyOf": [*options, {"type": "null"}], "default": None, "description": description}


def event_time(bounds: TimeBounds, max_age_days: float) -> dict[str, Any]:
    assert bounds.earliest_ms is not None
    return time_schema(
        bounds.earliest_ms,
        bounds.latest_ms,
        f"Client time, within the last {max_age_days:g} days (and at most 5 minutes ahead): "
        "ISO-8601 text or epoch seconds or milliseconds; defaults to the receive time.",
    )


def published_time(bounds: TimeBounds) -> dict[str, Any]:
    return time_schema(
        0, bounds.latest_ms, "ISO-8601 text or epoch seconds or milliseconds; not in the future."
    )


def window_time(description: str) -> dict[str, Any]:
    """A ``from`` or ``to`` of GET /metrics: any RFC 3339 time, or epoch seconds or milliseconds
    as digits (every pair makes a window: see functions/metrics/query.py)."""
    years = "([1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"  # 1000-9998: any offset fits
    text = "^" + years + "-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])" + CLOCK + "$"
    return {
        "anyOf": [
            {"type": "string", "pattern": text},
            {"type": "string", "pattern": r"^[0-9]{1,14}(\.[0-9]{1,6})?$"},
            {"type": "number", "minimum": 0, "exclusiveMaximum": YEAR_10000_MS},
            {"type": "null"},
        ],
        "description": description,
    }


def attribute_ref(level: int) -> str:
    return f"#/components/schemas/{ATTRIBUTE_VALUE}{level}"


def attribute_values(max_digits: int, nesting: int) -> dict[str, Any]:
    """``AttributeValue1`` .. ``AttributeValue<nesting + 1>``: any JSON value whose numbers stay
    below 10**max_digits in magnitude, with at most ``nesting`` arrays or objects inside one
    another (the last level holds scalars only). Unrolled rather than recursive, so that the
    document states the nesting limit too."""
    bound = float(10**max_digits)
    scalars: list[dict[str, Any]] = [
        {"type": "string"},
        {"type": "number", "exclusiveMinimum": -bound, "exclusiveMaximum": bound},
        {"type": "boolean"},
        {"type": "null"},
    ]
    levels = nesting + 1
    schemas = {}
    for level in range(1, levels + 1):
        options = list(scalars)
        if level < levels:
            child = {"$ref": attribute_ref(level + 1)}
            options += [
                {"type": "array", "items": child},
                {"type": "object", "additionalProperties": child},
            ]
        schemas[f"{ATTRIBUTE_VALUE}{level}"] = {
            "anyOf": options,
            "description": f"A JSON value; numbers below 1e{max_digits} in magnitude.",
        }
    return schemas
