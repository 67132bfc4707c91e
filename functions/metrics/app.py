"""Metrics function: GET /metrics, and the scheduled (EventBridge) evaluation run."""

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
from functions.metrics.emit import emit_metric_rows
from functions.metrics.key_jobs import KEY_JOBS, run_key_job
from functions.metrics.logic import Window, run_scheduled, window_metrics

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


@router.get(
    "/metrics",
    responses=error_responses(422, 503),
    summary="Precision at Curation, CTR and coverage over a window",
)
async def get_metrics(
    db: DatabaseDep,
    settings: SettingsDep,
    from_: Annotated[
        str | None,
        Query(
            alias="from",
            description="ISO-8601 or epoch; default to - 24 h; at most 366 days before to "
            "(an earlier one is moved there); at or after to: an empty window",
        ),
    ] = None,
    to: Annotated[
        str | None, Query(description="ISO-8601 or epoch, exclusive; default now")
    ] = None,
    platform: Annotated[str | None, Query(max_length=32)] = None,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    end = _time_param(to, "to", clock.now_ms() + 1)  # default: up to and including now
    start = max(_time_param(from_, "from", end - DAY_MS), end - MAX_WINDOW_DAYS * DAY_MS)
    # any two valid times make a window (OpenAPI cannot relate two parameters): one longer
    # than MAX_WINDOW_DAYS starts MAX_WINDOW_DAYS before `to`, and `from` at or after `to`
    # is an empty window; the answer's `from` and `to` say which window was measured
    start = min(start, end)
    if platform is not None and platform not in settings.platforms and platform != "any":
        raise ApiError(
            422,
            "validation_error",
            "unknown platform",
            [{"field": "platform", "reason": f"expected one of {list(settings.platforms)}"}],
        )
    window = Window(
        start, end, final=end + settings.attribution_window_hours * 3_600_000 <= clock.now_ms()
    )
    return db.read(lambda conn: window_metrics(conn, window, k, platform, settings))


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
    rows = run_scheduled(get_database(), clock.now_ms(), settings)
    emitted = emit_metric_rows(rows, settings.metrics_namespace)
    windows = sorted(
        {(r["granularity"], clock.to_iso(r["window_start_ms"]), bool(r["final"])) for r in rows}
    )
    return {
        "stored": len(rows),
        "emitted": emitted,
        "windows": [{"granularity": g, "start": s, "final": f} for g, s, f in windows],
    }


app = create_app("mediarec metrics", [router])
handler = make_handler(app, service="metrics", on_scheduled=on_schedule)
