"""The parameters of GET /metrics and the window they make, in one place: the FastAPI routes
(routes.py) and the fast path (fast_path.py) both use these, so their answers cannot drift."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from functions.common import clock
from functions.common.clock import DAY_MS
from functions.common.http.errors import ApiError
from functions.common.settings import Settings
from functions.common.vocabulary import TEXT_PATTERN
from functions.metrics.logic import Window, window_metrics
from functions.metrics.stored import stored_metrics

MAX_WINDOW_DAYS = 366
FROM_DESCRIPTION = (
    "ISO-8601 or epoch; default to - 24 h; at most 366 days before to "
    "(an earlier one is moved there); at or after to: an empty window"
)
TO_DESCRIPTION = "ISO-8601 or epoch, exclusive; default now"


class MetricsQuery(BaseModel):
    """GET /metrics' query string. Unknown parameters are ignored."""

    model_config = ConfigDict(populate_by_name=False)

    from_: str | None = Field(
        None, alias="from", pattern=TEXT_PATTERN, description=FROM_DESCRIPTION
    )
    to: str | None = Field(None, pattern=TEXT_PATTERN, description=TO_DESCRIPTION)
    platform: str | None = Field(None, max_length=32, pattern=TEXT_PATTERN)
    k: int = Field(10, ge=1, le=100)
    fresh: bool = Field(
        False, description="recompute an hour or day window the schedule has already stored"
    )


def _time_param(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        return clock.parse_timestamp_text(value)
    except ValueError as error:
        raise ApiError(
            422, "validation_error", f"invalid {name}", [{"field": name, "reason": str(error)}]
        ) from None


def window_of(from_: str | None, to: str | None, settings: Settings) -> Window:
    end = _time_param(to, "to", clock.now_ms() + 1)  # default: up to and including now
    start = max(_time_param(from_, "from", end - DAY_MS), end - MAX_WINDOW_DAYS * DAY_MS)
    # any two valid times make a window (OpenAPI cannot relate two parameters): one longer
    # than MAX_WINDOW_DAYS starts MAX_WINDOW_DAYS before `to`, and `from` at or after `to`
    # is an empty window; the answer's `from` and `to` say which window was measured
    start = min(start, end)
    closed = end + settings.attribution_window_hours * 3_600_000 <= clock.now_ms()
    return Window(start, end, final=closed)


def check_platform(platform: str | None, settings: Settings) -> None:
    if platform is not None and platform not in settings.platforms and platform != "any":
        raise ApiError(
            422,
            "validation_error",
            "unknown platform",
            [{"field": "platform", "reason": f"expected one of {list(settings.platforms)}"}],
        )


def metrics_answer(db: Any, query: MetricsQuery, settings: Settings) -> dict[str, Any]:
    """GET /metrics' answer: a stored hour or day window from the metrics table, any other
    window (or ``fresh``, or one platform) computed."""
    check_platform(query.platform, settings)
    window = window_of(query.from_, query.to, settings)

    def answer(conn: Any) -> dict[str, Any]:
        use_stored = not (query.fresh or query.platform)
        stored = stored_metrics(conn, window, query.k, settings) if use_stored else None
        if stored is not None:
            return stored
        computed = window_metrics(conn, window, query.k, query.platform, settings)
        return {**computed, "source": "computed"}

    result: dict[str, Any] = db.read(answer)
    return result
