"""The metrics function's scheduled jobs (EventBridge rules, or an operator's direct invocation):
the hourly evaluation, the 5-minute snapshot refresh and the API-key jobs. What each job needs
is imported when it runs, so that an HTTP request's cold start does not pay for them."""

from __future__ import annotations

from typing import Any

from functions.common import clock
from functions.common.settings import get_settings
from functions.common.store.db import get_database


def on_schedule(event: dict[str, Any]) -> dict[str, Any]:
    """The hourly evaluation, or the job a schedule's constant input (or an operator's direct
    invocation, which needs IAM's lambda:InvokeFunction) names."""
    from functions.common.serving.snapshot_refresh import refresh_all
    from functions.metrics.emit import emit_metric_rows
    from functions.metrics.key_jobs import KEY_JOBS, run_key_job
    from functions.metrics.schedule import MAX_WINDOWS, run_scheduled

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
