"""Calling the Lambda handlers in-process, as Lambda does: tests, benchmarks and smoke checks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
EXAMPLE_API_KEY = "mrk_00000000e1e1_example-key-of-the-events-folder-not-valid0"
"""The ``x-api-key`` that events/*.json and :func:`http_event` carry. It is a well-formed key
that no database holds unless it is put there on purpose (the test suite registers it in each
test's database); for `sam local invoke -e`, replace it with a key from `mediarec keys create`."""


@dataclass
class FakeLambdaContext:
    """The attributes of Lambda's context object that Powertools and Mangum read."""

    function_name: str = "mediarec-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:mediarec-local"
    aws_request_id: str = "00000000-0000-0000-0000-000000000001"
    log_group_name: str = "/aws/lambda/mediarec-local"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def load_event(name: str, events_dir: Path = EVENTS_DIR) -> dict[str, Any]:
    """``events/<name>.json``."""
    data: dict[str, Any] = json.loads((events_dir / f"{name}.json").read_text(encoding="utf-8"))
    return data


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    query: dict[str, Any] | None = None,
    raw_body: str | None = None,
    api_key: str | None = EXAMPLE_API_KEY,
    headers: dict[str, str] | None = None,
    claims: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API event (payload format 2.0) carrying ``api_key`` in ``x-api-key``
    (``None``: no key), extra ``headers``, and the ``claims`` of an end-user JWT as API
    Gateway's JWT authorizer passes them."""
    host = "abc123.execute-api.us-east-1.amazonaws.com"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": {
            "accept": "application/json",
            "host": host,
            "user-agent": "mediarec-local",
            "x-forwarded-proto": "https",
            "x-forwarded-port": "443",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": host,
            "domainPrefix": "abc123",
            "requestId": "local",
            "routeKey": "$default",
            "stage": "$default",
            "time": "22/Nov/2026:12:00:00 +0000",
            "timeEpoch": 0,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "mediarec-local",
            },
        },
        "isBase64Encoded": False,
    }
    if api_key is not None:
        event["headers"]["x-api-key"] = api_key
    event["headers"].update({name.lower(): value for name, value in (headers or {}).items()})
    if claims is not None:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    if query:
        event["queryStringParameters"] = {k: str(v) for k, v in query.items()}
    if body is not None or raw_body is not None:
        event["body"] = raw_body if raw_body is not None else json.dumps(body)
        event["headers"]["content-type"] = "application/json"
    return event


def invoke(handler: Any, event: dict[str, Any] | str) -> tuple[int, Any]:
    """``handler(event, context)`` for an HTTP event (or the name of a file in events/);
    returns the status code and the decoded JSON body."""
    if isinstance(event, str):
        event = load_event(event)
    response = handler(event, FakeLambdaContext())
    body = response.get("body")
    return response["statusCode"], json.loads(body) if body else None
