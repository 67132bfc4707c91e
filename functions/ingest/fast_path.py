"""POST /events, POST /items and POST /users answered without FastAPI, Starlette or Mangum.

The route of routes.py reads the body the door parsed (its JSON), runs the write of logic.py and
answers its result as JSON; this module does the same for the events it reads exactly as Mangum
would (payload format 2.0, ``rawPath`` equal to the path Mangum routes on, no percent-encoding)
and leaves every other event to the FastAPI app (``None``). The same logic, the same error
shaping (functions/common/http/errors.py), the same JSON bytes: tests/functions/
test_ingest_fast_path.py compares the two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from functions.common import clock
from functions.common.http.door import current_admission
from functions.common.http.errors import error_answer
from functions.common.http.lambda_http import json_answer, render_json, routed_path
from functions.common.settings import get_settings
from functions.common.store.db import get_database
from functions.ingest import logic

WRITES: dict[str, tuple[str, Callable[..., Any]]] = {
    "/events": ("events", logic.ingest_events),
    "/items": ("items", logic.upsert_items),
    "/users": ("users", logic.upsert_users),
}
"""Path -> (the body's list key, the write)."""


def answer_write(event: dict[str, Any], context: Any) -> dict[str, Any] | None:
    """The API Gateway response to a plain POST of a write, else ``None``."""
    path = routed_path(event, "POST")
    if path not in WRITES:  # exactly: a percent-encoded path is left to Starlette's decoding
        return None
    admission = current_admission.get(None)
    if admission is None:  # not behind the door (the door always admits first)
        return None
    key, write = WRITES[path]
    try:  # the dependencies first, as FastAPI solves them before the route runs
        db, settings = get_database(), get_settings()
        result = write(db, admission.body, settings, clock.now_ms())
        status, content = logic.write_answer(result, key)
        body = render_json(content)  # the route's JSONResponse renders it so
    except Exception as error:
        failed = error_answer(error)
        return json_answer(failed.status, render_json(failed.content), failed.headers)
    return json_answer(status, body)
