"""Metrics function: GET /metrics, GET /metrics/compare, the console's reads (browse_routes.py),
and the scheduled (EventBridge) evaluation run."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from functions.common import clock
from functions.common.clock import DAY_MS
from functions.common.http.app import create_app, error_responses
from functions.common.http.dependencies import DatabaseDep, SettingsDep
from functions.common.http.errors import ApiError
from functions.common.http.lambda_runtime import make_handler
from functions.common.serving.snapshot_refresh import refresh_all
from functions.common.settings import get_settings
from functions.common.store.db import get_database
from functions.common.vocabulary import TEXT_PATTERN
from functions.metrics.browse_routes import router as browse_router
from functions.metrics.compare import compare_versions
from functions.metrics.emit import emit_metric_rows
from functions.metrics.key_jobs import KEY_JOBS, run_key_job
from functions.metrics.logic import Window, window_metrics
from functions.metrics.schedule import MAX_WINDOWS, run_scheduled
from functions.metrics.stored import stored_metrics

router = APIRouter(tags=["metrics"])
MAX_WINDOW_DAYS = 366


def _time_param(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        return clock.parse_timestamp_text(value)
    except ValueError as error:
        raise ApiError(
            422, "validation_error", f"invalid {name}", [{"field": name, "reason": str(error)}]
        ) from None


# the window and slice parameters GET /metrics and GET /metrics/compare share
FromParam = Annotated[
    str | None,
    Query(
        alias="from",
        pattern=TEXT_PATTERN,
        description="ISO-8601 or epoch; default to - 24 h; at most 366 days before to "
        "(an earlier one is moved there); at or after to: an empty window",
    ),
]
ToParam = Annotated[
    str | None,
    Query(description="ISO-8601 or epoch, exclusive; default now", pattern=TEXT_PATTERN),
]
PlatformParam = Annotated[str | None, Query(max_length=32, pattern=TEXT_PATTERN)]
KParam = Annotated[int, Query(ge=1, le=100)]


@router.get(
    "/metrics",
    responses=error_responses(422, 503),
    summary="Precision at Curation, CTR, online AUC, coverage, novelty and diversity over a "
    "window, by position and per platform x model version x A/B arm",
)
async def get_metrics(
    db: DatabaseDep,
    settings: SettingsDep,
    from_: FromParam = None,
    to: ToParam = None,
    platform: PlatformParam = None,
    k: KParam = 10,
    fresh: Annotated[
        bool,
        Query(description="recompute an hour or day window the schedule has already stored"),
    ] = False,
) -> dict[str, Any]:
    _platform(platform, settings)
    window = _window(from_, to, settings)

    def answer(conn: Any) -> dict[str, Any]:
        stored = None if fresh or platform else stored_metrics(conn, window, k, settings)
        if stored is not None:
            return stored
        return {**window_metrics(conn, window, k, platform, settings), "source": "computed"}

    return db.read(answer)


def _window(from_: str | None, to: str | None, settings: Any) -> Window:
    end = _time_param(to, "to", clock.now_ms() + 1)  # default: up to and including now
    start = max(_time_param(from_, "from", end - DAY_MS), end - MAX_WINDOW_DAYS * DAY_MS)
    # any two valid times make a window (OpenAPI cannot relate two parameters): one longer
    # than MAX_WINDOW_DAYS starts MAX_WINDOW_DAYS before `to`, and `from` at or after `to`
    # is an empty window; the answer's `from` and `to` say which window was measured
    start = min(start, end)
    closed = end + settings.attribution_window_hours * 3_600_000 <= clock.now_ms()
    return Window(start, end, final=closed)


def _platform(platform: str | None, settings: Any) -> None:
    if platform is not None and platform not in settings.platforms and platform != "any":
        raise ApiError(
            422,
            "validation_error",
            "unknown platform",
            [{"field": "platform", "reason": f"expected one of {list(settings.platforms)}"}],
        )


VERSION = Query(
    min_length=1,
    max_length=128,
    pattern=TEXT_PATTERN,
    description="a model version (as impressions log it)",
)


@router.get(
    "/metrics/compare",
    responses=error_responses(422, 503),
    summary="A/B comparison of two model versions: PaC and CTR per arm, the difference with a "
    "user-level 95% interval and p-value, and a sample-ratio check",
)
async def get_compare(
    db: DatabaseDep,
    settings: SettingsDep,
    a: Annotated[str, VERSION],
    b: Annotated[str, VERSION],
    from_: FromParam = None,
    to: ToParam = None,
    platform: PlatformParam = None,
    k: KParam = 10,
    share: Annotated[
        float | None,
        Query(gt=0, lt=1, description="the configured share of arm b (default MEDIAREC_AB_SHARE)"),
    ] = None,
) -> dict[str, Any]:
    _platform(platform, settings)
    window = _window(from_, to, settings)
    return db.read(lambda conn: compare_versions(conn, a, b, window, k, platform, settings, share))


def on_schedule(event: dict[str, Any]) -> dict[str, Any]:
    """The hourly evaluation, or the job a schedule's constant input (or an operator's direct
    invocation, which needs IAM's lambda:InvokeFunction) names."""
    settings = get_settings()
    job = event.get("job", "evaluate")
    if job == "refresh-snapshots":
        return refresh_all(get_database(), settings, clock.now_ms())
    if job in KEY_JOBS:
        return run_key_job(job, event, get_database(), clock.now_ms())
    if job != "evaluate":
        raise ValueError(
            f"unknown scheduled job {job!r}; expected evaluate, refresh-snapshots or "
            + ", ".join(KEY_JOBS)
        )
    bounds = event.get("max_windows", MAX_WINDOWS)
    if not (
        isinstance(bounds, dict)
        and set(bounds) <= set(MAX_WINDOWS)
        and all(type(v) is int and v >= 0 for v in bounds.values())
    ):
        raise ValueError(
            'max_windows must map "hour" and/or "day" to a count of windows, e.g. '
            f"{MAX_WINDOWS}; got {bounds!r}"
        )
    rows = run_scheduled(
        get_database(), clock.now_ms(), settings, max_windows={**MAX_WINDOWS, **bounds}
    )
    emitted = emit_metric_rows(rows, settings.metrics_namespace)
    windows = sorted(
        {(r["granularity"], clock.to_iso(r["window_start_ms"]), bool(r["final"])) for r in rows}
    )
    return {
        "stored": len(rows),
        "emitted": emitted,
        "windows": [{"granularity": g, "start": s, "final": f} for g, s, f in windows],
    }


app = create_app("mediarec metrics", [router, browse_router])
handler = make_handler(app, service="metrics", on_scheduled=on_schedule)
