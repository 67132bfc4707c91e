"""Metrics function's Lambda entry point: ``handler``.

A plain GET /metrics (what dashboards and the console ask most) is answered by fast_path.py
without importing FastAPI, Starlette or Mangum; the scheduled jobs go to scheduled.py; every
other event (GET /metrics/compare, the console's reads, the docs) goes to the FastAPI app of
routes.py, imported on first need.
"""

from __future__ import annotations

from functions.common.http.lambda_runtime import make_handler
from functions.metrics.fast_path import answer_metrics_request
from functions.metrics.scheduled import on_schedule

handler = make_handler(
    "functions.metrics.routes:app",
    service="metrics",
    on_scheduled=on_schedule,
    fast_path=answer_metrics_request,
)
