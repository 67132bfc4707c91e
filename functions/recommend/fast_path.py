"""GET /recommendations/{user_id} answered without FastAPI, Starlette or Mangum.

Importing those costs about half a second of every cold start, and a feed request is nearly all
the recommend function serves. This module answers it byte for byte as the FastAPI route in
routes.py does, behind Mangum: the same parameter models (query.py), the same error shaping
(functions/common/http/errors.py), the same JSON. Anything else, and any request it does not read
exactly as Mangum would, it leaves to the FastAPI app (``None``).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import TypeAdapter, ValidationError

from functions.common import clock
from functions.common.http.errors import error_answer, invalid_request
from functions.common.http.lambda_http import json_answer, plain_get, render_json
from functions.common.settings import get_settings
from functions.common.store.db import get_database
from functions.recommend.logic import recommend
from functions.recommend.query import RecommendationQuery, UserId, check_platform

FEED_PATH = re.compile(r"/recommendations/(?P<user_id>[^/]+)")
"""Starlette's pattern for the route's path (a ``str`` parameter is ``[^/]+``)."""

_USER_ID: TypeAdapter[str] = TypeAdapter(UserId)


def answer_feed_request(event: dict[str, Any], context: Any) -> dict[str, Any] | None:
    """The API Gateway response to a plain GET /recommendations/{user_id}, else ``None``."""
    request = plain_get(event)
    if request is None:
        return None
    match = FEED_PATH.fullmatch(request.path)
    if match is None:
        return None
    try:
        body = _feed(match["user_id"], request.query)
    except Exception as error:
        failed = error_answer(error)
        return json_answer(failed.status, render_json(failed.content), failed.headers)
    return json_answer(200, body)


def _feed(raw_user_id: str, query: dict[str, str]) -> bytes:
    """The feed as JSON bytes; raises what the route would raise, in the order it would: the
    cached resources first (FastAPI solves dependencies before parameters), then every path and
    query error at once."""
    db, settings = get_database(), get_settings()
    errors: list[dict[str, Any]] = []
    try:
        user_id = _USER_ID.validate_python(raw_user_id)
    except ValidationError as error:
        errors += [{**e, "loc": ("path", "user_id", *e["loc"])} for e in error.errors()]
    try:
        parameters = RecommendationQuery.model_validate(query)
    except ValidationError as error:
        errors += [{**e, "loc": ("query", *e["loc"])} for e in error.errors()]
    if errors:
        raise invalid_request(errors)
    check_platform(parameters.platform, settings)
    response = recommend(parameters.feed_request(user_id), db, settings, clock.now_ms())
    return response.model_dump_json(by_alias=True).encode("utf-8")
