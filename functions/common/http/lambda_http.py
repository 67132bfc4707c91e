"""API Gateway HTTP API (payload 2.0) requests read, and JSON answers written, exactly as Mangum and
Starlette read and write them, for a route answered without either (see
functions/recommend/fast_path.py): a cold start that imports neither is about half a second
shorter.

Only events this module reads exactly as Mangum would are taken; anything else is left to Mangum.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote


@dataclass(frozen=True)
class PlainGet:
    """A GET request as Starlette sees it: the percent-decoded path and the query parameters."""

    path: str
    query: dict[str, str]


def routed_path(event: Any, method: str) -> str | None:
    """The path Mangum routes a ``method`` event of payload format 2.0 on
    (``requestContext.http.path``), or ``None`` for any other event and for one whose
    ``rawPath`` differs from it."""
    if not isinstance(event, dict) or event.get("version") != "2.0":
        return None
    request_context = event.get("requestContext")
    http = request_context.get("http") if isinstance(request_context, dict) else None
    if not isinstance(http, dict) or http.get("method") != method:
        return None
    path = http.get("path")
    if not isinstance(path, str) or not path or event.get("rawPath") != path:
        return None
    return path


def plain_get(event: Any) -> PlainGet | None:
    """The request of a GET event in payload format 2.0, or ``None`` for any other event and for
    one this module would not read as Mangum does: ``rawPath`` unlike ``requestContext.http.path``
    (the one Mangum routes on), a query string that is not ASCII (Starlette decodes it as
    latin-1) or names a parameter twice."""
    path = routed_path(event, "GET")
    if path is None:
        return None
    raw_query = event.get("rawQueryString", "")
    if not isinstance(raw_query, str) or not raw_query.isascii():
        return None
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    query = dict(pairs)
    if len(query) != len(pairs):
        return None
    return PlainGet(path=unquote(path), query=query)


def render_json(content: Any) -> bytes:
    """JSON as Starlette's ``JSONResponse`` renders it."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


def json_answer(
    status: int, body: bytes, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """What Mangum returns to API Gateway (payload 2.0) for a Starlette response with this JSON
    body and these headers beyond content-length and content-type."""
    combined = {"content-length": str(len(body)), "content-type": "application/json"}
    combined.update({name.lower(): value for name, value in (headers or {}).items()})
    return {
        "statusCode": status,
        "body": body.decode("utf-8"),
        "headers": combined,
        "isBase64Encoded": False,
    }
