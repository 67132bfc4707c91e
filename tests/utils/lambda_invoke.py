"""Invoke a handler exactly as Lambda does: ``handler(event, context)`` with events/*.json."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


@dataclass
class FakeLambdaContext:
    function_name: str = "mediarec-test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:mediarec-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000001"
    log_group_name: str = "/aws/lambda/mediarec-test"
    log_stream_name: str = "2026/11/22/[$LATEST]test"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text())
    return data


def http_event(method: str, path: str, *, body: Any = None, query: dict[str, Any] | None = None,
               raw_body: str | None = None) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, shaped like the files in events/."""
    event = copy.deepcopy(load_event("recommend_health"))
    event["rawPath"] = path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {path}"
    event["rawQueryString"] = urlencode(query or {})
    if query:
        event["queryStringParameters"] = {k: str(v) for k, v in query.items()}
    if body is not None or raw_body is not None:
        event["body"] = raw_body if raw_body is not None else json.dumps(body)
        event["headers"]["content-type"] = "application/json"
    return event


def invoke(handler: Any, event: dict[str, Any] | str) -> tuple[int, Any]:
    """Call ``handler`` with an event (or the name of a file in events/); status and JSON body."""
    if isinstance(event, str):
        event = load_event(event)
    response = handler(event, FakeLambdaContext())
    body = response.get("body")
    return response["statusCode"], json.loads(body) if body else None
