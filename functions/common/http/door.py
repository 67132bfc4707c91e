"""The one door every HTTP request passes before any route code: access control and input limits.

:func:`admit` is called by the Lambda entry point (``http/lambda_runtime.py``) for every
HTTP event, before the recommend fast path and before Mangum, and by :func:`admitted`, the
FastAPI dependency that every app of :func:`functions.common.http.app.create_app` carries (so
``mediarec serve`` passes the same door). Under Lambda the dependency finds the admission the
entry point made for the same event and does not check twice.

What it checks, in order:

1. **The route** in :data:`ROUTES`, which says the scope each route needs and how an end user's
   identity binds to it. A path or method not in the table needs the ``admin`` scope (the app then
   answers 404 or 405), so a route added later without an entry here is closed, not open.
2. **Who is calling.** An end-user JWT, verified by API Gateway's JWT authorizer (the template's
   client API), reaches the function as ``requestContext.authorizer.jwt.claims``: such a caller may
   only read its own feed and post its own events (403 otherwise). Anyone else presents an API key
   in ``x-api-key``: missing, unknown or revoked is 401, a key without the route's scope is 403.
   ``/health`` (liveness only) and the docs need no key. ``MEDIAREC_AUTH=off`` (a laptop setting,
   never in template.yaml) lets everything through and says so in the log.
3. **Limits**: the number of query parameters, UTF-8 in the path and query, the id rule for a
   path id, the body size, and a JSON body's depth and numbers (functions/common/http/json_body.py).
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote_to_bytes

from pydantic import TypeAdapter, ValidationError

from functions.common.http.api_keys import ApiKey, key_cache
from functions.common.http.errors import ApiError, invalid_request
from functions.common.http.json_body import body_too_large, parse_json_body
from functions.common.http.schemas import Identifier
from functions.common.settings import Settings
from functions.common.store.db import Database

API_KEY_HEADER = "x-api-key"
_ID: TypeAdapter[str] = TypeAdapter(Identifier)
"""The one id rule (``schemas.Identifier``), for path ids and a token's user."""


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    scope: str | None
    """The key scope it needs; ``None``: public."""
    end_user: Literal["path", "body"] | None = None
    """Where the user an end-user token may act for is named; ``None``: not for end users."""
    json_body: bool = False


ROUTES: tuple[Route, ...] = (
    Route("POST", "/events", "ingest", end_user="body", json_body=True),
    Route("POST", "/items", "admin", json_body=True),
    Route("POST", "/users", "admin", json_body=True),
    Route("DELETE", "/users/{user_id}", "admin"),
    Route("GET", "/recommendations/{user_id}", "read", end_user="path"),
    Route("GET", "/health", None),
    Route("GET", "/metrics", "metrics"),
    Route("GET", "/metrics/compare", "metrics"),
    Route("GET", "/users", "admin"),
    Route("GET", "/users/{user_id}", "admin"),
    Route("GET", "/items/{item_id}", "read"),
    Route("GET", "/models", "metrics"),
)
PUBLIC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"})
"""Served by `mediarec serve` (and by the FastAPI apps); API Gateway has no route to them."""
UNLISTED = Route("*", "*", "admin")


def _pattern(template: str) -> re.Pattern[str]:
    """``/users/{user_id}`` -> ``/users/(?P<user_id>[^/]+)`` (a parameter is one raw segment)."""
    parts = re.split(r"\{(\w+)\}", template)
    return re.compile(
        "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
    )


_PATTERNS = [(route, _pattern(route.template)) for route in ROUTES]


@dataclass(frozen=True)
class Principal:
    """Who a request acts as."""

    kind: Literal["key", "end_user", "anonymous", "open"]
    key: ApiKey | None = None
    user_id: str | None = None

    def sees_details(self) -> bool:
        """May read operational details (``/health`` beyond liveness)."""
        if self.kind == "open":
            return True
        return self.key is not None and (self.key.allows("metrics") or self.key.allows("admin"))


@dataclass(frozen=True)
class HttpRequest:
    """What the door reads of a request, the same for a Lambda event and an ASGI request."""

    method: str
    raw_path: str
    """As sent, percent-encoded."""
    raw_query: str
    headers: Mapping[str, str]
    """Lower-case names."""
    body: bytes
    claims: Mapping[str, Any] | None = None
    """An end-user JWT's claims, verified by API Gateway."""


@dataclass(frozen=True)
class Admission:
    principal: Principal
    route: Route
    path_params: dict[str, str] = field(default_factory=dict)
    body: Any = None
    """The parsed JSON body of a route that takes one."""
    event: object | None = None
    """The Lambda event admitted (compared by identity by :func:`admitted`)."""


def admit(
    request: HttpRequest,
    settings: Settings,
    database: Callable[[], Database],
    now_ms: int,
    event: object | None = None,
) -> Admission:
    """The request's admission, or :class:`ApiError` (400, 401, 403, 413, 422)."""
    route, raw_params = match_route(request.method, request.raw_path)
    _check_query(request.raw_query, settings)
    params = {name: _path_id(name, value) for name, value in raw_params.items()}
    principal = _principal(request, route, params, settings, database, now_ms)
    if len(request.body) > settings.max_body_bytes:
        raise body_too_large(settings.max_body_bytes)
    body = None
    if route.json_body:
        body = parse_json_body(
            request.body,
            max_bytes=settings.max_body_bytes,
            max_depth=settings.max_json_depth,
            max_digits=settings.max_number_digits,
        )
        if principal.kind == "end_user":
            _check_body_users(body, principal)
    return Admission(principal, route, params, body, event)


def match_route(method: str, raw_path: str) -> tuple[Route, dict[str, str]]:
    """The :data:`ROUTES` entry for a method and a percent-encoded path, with its raw path
    parameters; :data:`UNLISTED` (admin only) for anything else."""
    method = "GET" if method == "HEAD" else method
    for route, pattern in _PATTERNS:
        if route.method != method:
            continue
        match = pattern.fullmatch(raw_path)
        if match is not None:
            return route, match.groupdict()
    if raw_path in PUBLIC_PATHS and method == "GET":
        return Route("GET", raw_path, None), {}
    return UNLISTED, {}


def allowed_methods(raw_path: str) -> set[str]:
    """The methods :data:`ROUTES` serves at a percent-encoded path, across all three functions
    (HEAD with GET): what a 405's ``Allow`` names, whichever function answers it."""
    methods = {route.method for route, pattern in _PATTERNS if pattern.fullmatch(raw_path)}
    return methods | ({"HEAD"} if "GET" in methods else set())


def _decoded(raw: str, field: str, plus_is_space: bool = False) -> str:
    if plus_is_space:
        raw = raw.replace("+", " ")
    try:
        text = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(
            422,
            "validation_error",
            "the request is invalid",
            [{"field": field, "reason": "not valid UTF-8 once percent-decoded"}],
        ) from None
    if "\x00" in text:  # no engine column holds it (PostgreSQL refuses it in text)
        raise ApiError(
            422,
            "validation_error",
            "the request is invalid",
            [{"field": field, "reason": "holds a NUL character (%00)"}],
        )
    return text


def _path_id(name: str, raw: str) -> str:
    """A path id decoded strictly (``%FF`` is refused, not replaced) and held to the id rule,
    with the same answer as a body id: an encoded ``/`` is a 422, not a 404."""
    value = _decoded(raw, name)
    try:
        return _ID.validate_python(value)
    except ValidationError as error:
        raise invalid_request([{**e, "loc": ("path", name)} for e in error.errors()]) from None


def _check_query(raw_query: str, settings: Settings) -> None:
    if not raw_query:
        return
    pairs = [pair for pair in raw_query.split("&") if pair]
    if len(pairs) > settings.max_query_params:
        raise ApiError(
            400,
            "too_many_parameters",
            f"at most {settings.max_query_params} query parameters",
            [{"field": "query", "reason": f"{len(pairs)} parameters"}],
        )
    for pair in pairs:
        name, _, value = pair.partition("=")
        decoded_name = _decoded(name, "query", plus_is_space=True)
        _decoded(value, decoded_name[:64] or "query", plus_is_space=True)


def _principal(
    request: HttpRequest,
    route: Route,
    params: dict[str, str],
    settings: Settings,
    database: Callable[[], Database],
    now_ms: int,
) -> Principal:
    if settings.auth == "off":
        return Principal("open")
    if request.claims is not None:
        return _end_user(request.claims, route, params, settings)
    presented = request.headers.get(API_KEY_HEADER)
    if route.scope is None:  # public: a valid key only unlocks details
        key = _valid_key(presented, database, settings, now_ms) if presented else None
        return Principal("key", key) if key is not None else Principal("anonymous")
    if not presented:
        raise _unauthorized("missing", f"send an API key in the {API_KEY_HEADER} header")
    key = key_cache.lookup(database(), presented, settings.api_key_cache_seconds, now_ms)
    if key is None:
        raise _unauthorized("unknown key", "the API key is not valid")
    if key.revoked_ms is not None:
        raise _unauthorized("revoked", "the API key has been revoked")
    if not key.allows(route.scope):
        raise _forbidden(API_KEY_HEADER, f"this key lacks the {route.scope!r} scope")
    return Principal("key", key)


def _valid_key(
    presented: str, database: Callable[[], Database], settings: Settings, now_ms: int
) -> ApiKey | None:
    key = key_cache.lookup(database(), presented, settings.api_key_cache_seconds, now_ms)
    return key if key is not None and key.revoked_ms is None else None


def _end_user(
    claims: Mapping[str, Any], route: Route, params: dict[str, str], settings: Settings
) -> Principal:
    subject = claims.get(settings.jwt_user_claim)
    try:
        _ID.validate_python(subject, strict=True)
    except ValidationError:
        claim = settings.jwt_user_claim
        raise _forbidden("token", f"the token has no usable {claim!r} claim") from None
    principal = Principal("end_user", user_id=subject)
    if route.scope is None:
        return principal
    if route.end_user is None:
        raise _forbidden(
            "token", "an end-user token may only read its own feed and post its own events"
        )
    if route.end_user == "path" and params.get("user_id") != subject:
        raise _forbidden("user_id", "an end-user token may only read its own feed")
    return principal


def _check_body_users(body: Any, principal: Principal) -> None:
    """Every event in the body must be the token's user's (invalid ones fail validation later)."""
    if isinstance(body, dict) and isinstance(body.get("events"), list):
        items = body["events"]
    else:
        items = body if isinstance(body, list) else [body]
    for index, item in enumerate(items):
        user_id = item.get("user_id") if isinstance(item, dict) else None
        if isinstance(user_id, str) and user_id != principal.user_id:
            field = f"events[{index}].user_id" if len(items) > 1 else "user_id"
            raise _forbidden(field, "an end-user token may only post its own events")


def _unauthorized(reason: str, message: str) -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        message,
        [{"field": API_KEY_HEADER, "reason": reason}],
        headers={"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'},
    )


def _forbidden(field: str, reason: str) -> ApiError:
    return ApiError(403, "forbidden", "not allowed", [{"field": field, "reason": reason}])


# -- Lambda events --------------------------------------------------------------------------


def request_from_event(event: Any) -> HttpRequest:
    """The request an API Gateway HTTP API event (payload format 2.0) carries; 400 for any other
    event, which the door cannot read and so does not let through."""
    context = event.get("requestContext") if isinstance(event, dict) else None
    http = context.get("http") if isinstance(context, dict) else None
    if not isinstance(http, dict) or event.get("version") != "2.0":
        raise ApiError(400, "unsupported_event", "not an HTTP API (payload 2.0) request")
    path = http.get("path")
    method = http.get("method")
    if not isinstance(path, str) or not isinstance(method, str):
        raise ApiError(400, "unsupported_event", "the request has no method or path")
    headers = event.get("headers") or {}
    if not isinstance(headers, dict):
        raise ApiError(400, "unsupported_event", "the request's headers are not an object")
    raw_body = event.get("body") or ""
    try:
        body = (
            base64.b64decode(raw_body, validate=True)
            if event.get("isBase64Encoded")
            else raw_body.encode("utf-8", "surrogatepass")
        )
    except (binascii.Error, ValueError, TypeError, AttributeError):
        raise ApiError(400, "invalid_body", "the request body could not be decoded") from None
    authorizer = context.get("authorizer") if isinstance(context, dict) else None
    jwt = authorizer.get("jwt") if isinstance(authorizer, dict) else None
    claims = jwt.get("claims") if isinstance(jwt, dict) else None
    return HttpRequest(
        method=method.upper(),
        raw_path=path,
        raw_query=str(event.get("rawQueryString") or ""),
        headers={str(k).lower(): str(v) for k, v in headers.items()},
        body=body,
        claims=claims if isinstance(claims, dict) else None,
    )


current_admission: contextvars.ContextVar[Admission | None] = contextvars.ContextVar(
    "mediarec_admission", default=None
)
"""The admission of the Lambda event being handled (set by the entry point)."""
