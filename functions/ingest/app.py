"""Ingest function's Lambda entry point: ``handler``.

A plain POST /events, /items or /users is answered by fast_path.py without importing FastAPI,
Starlette or Mangum (about half a second of a cold start); every other event (DELETE
/users/{user_id}, the docs, requests the fast path does not read exactly as Mangum would) goes to
the FastAPI app of routes.py, imported on first need.
"""

from __future__ import annotations

from functions.common.http.lambda_runtime import make_handler
from functions.ingest.fast_path import answer_write

handler = make_handler("functions.ingest.routes:app", service="ingest", fast_path=answer_write)
