"""An ASGI app whose every request is one Lambda invocation of the function API Gateway would
route it to (template.yaml's HttpApi events), with an HTTP API payload 2.0 event: so that
ASGI-driven tools (schemathesis) exercise the Lambda entry points, the door and the fast path.

The handlers run on one worker thread with its own event loop: Mangum calls
``loop.run_until_complete``, which cannot run inside the caller's loop.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
from typing import Any
from urllib.parse import unquote

from training.local.lambda_invoke import FakeLambdaContext, http_event


def function_for(method: str, path: str) -> Any:
    """The handler of the function that owns ``method path`` (unknown paths: recommend, whose
    app answers 404 as the others would)."""
    from functions.ingest.app import handler as ingest
    from functions.metrics.app import handler as metrics
    from functions.recommend.app import handler as recommend

    reads = method in ("GET", "HEAD")
    if path in ("/metrics", "/metrics/compare", "/models"):
        return metrics
    if reads and (path == "/users" or path.startswith(("/users/", "/items/"))):
        return metrics  # the console's reads (functions/metrics/browse_routes.py)
    if path in ("/events", "/items", "/users") or path.startswith("/users/"):
        return ingest
    return recommend


def lambda_event(
    method: str, raw_path: str, raw_query: str, headers: list[tuple[str, str]], body: bytes
) -> dict[str, Any]:
    event = http_event(method, raw_path, api_key=None)
    event["rawQueryString"] = raw_query
    joined: dict[str, str] = {}
    for name, value in headers:  # API Gateway joins a repeated header with commas
        name = name.lower()
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    event["headers"] = joined
    query: dict[str, str] = {}
    for pair in filter(None, raw_query.split("&")):
        name, _, value = pair.partition("=")
        name, value = unquote(name.replace("+", " ")), unquote(value.replace("+", " "))
        query[name] = f"{query[name]},{value}" if name in query else value
    if query:
        event["queryStringParameters"] = query
    if body:
        try:
            event["body"], event["isBase64Encoded"] = body.decode("utf-8"), False
        except UnicodeDecodeError:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    return event


class LambdaASGI:
    def __init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, initializer=lambda: asyncio.set_event_loop(asyncio.new_event_loop())
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        event = lambda_event(
            scope["method"],
            raw_path,
            scope.get("query_string", b"").decode("latin-1"),
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
            body,
        )
        handler = function_for(scope["method"], unquote(raw_path))
        result = await asyncio.wrap_future(self._pool.submit(handler, event, FakeLambdaContext()))
        raw = result.get("body") or ""
        content = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
        headers = [
            (name.lower().encode("latin-1"), str(value).encode("latin-1"))
            for name, value in (result.get("headers") or {}).items()
        ]
        await send(
            {"type": "http.response.start", "status": result["statusCode"], "headers": headers}
        )
        await send({"type": "http.response.body", "body": content})
