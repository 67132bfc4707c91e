"""Recommend function's Lambda entry point: ``handler``.

A plain GET /recommendations/{user_id} is answered by fast_path.py without importing FastAPI,
Starlette or Mangum (about half a second of a cold start); every other event (GET /health, the
docs, other methods, requests the fast path does not read exactly as Mangum would) goes to the
FastAPI app of routes.py, imported on first need.
"""

from __future__ import annotations

from functions.common.http.lambda_runtime import make_handler
from functions.recommend.fast_path import answer_feed_request

handler = make_handler(
    "functions.recommend.routes:app", service="recommend", fast_path=answer_feed_request
)
