"""GET /metrics answered without FastAPI, Starlette or Mangum.

The route of routes.py validates its query with :class:`functions.metrics.query.MetricsQuery`
and answers :func:`functions.metrics.query.metrics_answer`; this module does the same for a plain
GET /metrics that it reads exactly as Mangum would (functions/common/http/lambda_http.py:
``plain_get``), and leaves every other event to the FastAPI app (``None``). The same error
shaping, the same JSON bytes: tests/functions/test_metrics_fast_path.py compares the two.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from functions.common.http.errors import error_answer, invalid_request
from functions.common.http.lambda_http import json_answer, plain_get, render_json
from functions.common.settings import get_settings
from functions.common.store.db import get_database
from functions.metrics.query import MetricsQuery, metrics_answer

_ANSWER: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])
"""The route's return type: FastAPI writes its answer with pydantic's JSON (``0.000035``, not
``json.dumps``' ``3.5e-05``), and so does this module."""


def answer_metrics_request(event: dict[str, Any], context: Any) -> dict[str, Any] | None:
    """The API Gateway response to a plain GET /metrics, else ``None``."""
    request = plain_get(event)
    if request is None or request.path != "/metrics":
        return None
    try:
        db, settings = get_database(), get_settings()  # FastAPI solves these first
        try:
            query = MetricsQuery.model_validate(request.query)
        except ValidationError as error:
            raise invalid_request(
                [{**e, "loc": ("query", *e["loc"])} for e in error.errors()]
            ) from None
        body = _ANSWER.dump_json(metrics_answer(db, query, settings))
    except Exception as error:
        failed = error_answer(error)
        return json_answer(failed.status, render_json(failed.content), failed.headers)
    return json_answer(200, body)
