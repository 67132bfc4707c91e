"""The one door every request goes through: app factory, JSON body reading, error shaping.

Route code raises :class:`ApiError` or lets pydantic / FastAPI validation fail; the handlers here
turn both into mediarec's error shape, with the FastAPI-free helpers of
:mod:`functions.common.http.errors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from functions.common import clock
from functions.common.http.door import (
    Admission,
    HttpRequest,
    admit,
    allowed_methods,
    current_admission,
    request_from_event,
)
from functions.common.http.errors import (
    ApiError,
    ErrorAnswer,
    error_answer,
    error_content,
    invalid_request,
)
from functions.common.settings import get_settings
from functions.common.store.db import DatabaseBusyError, get_database


def error_response(answer: ErrorAnswer) -> JSONResponse:
    response = JSONResponse(status_code=answer.status, content=answer.content)
    response.headers.update(answer.headers)
    return response


class DoorMiddleware:
    """The door (functions/common/http/door.py) in front of every FastAPI app, before routing, so
    that no path, matched or not, skips it. Under Lambda it finds the admission the entry point
    made for this very event and does not check twice; otherwise (``mediarec serve``, or a
    Mangum adapter built outside make_handler) it asks the door itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # no route takes one; none opens without the door
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":  # lifespan
            await self.app(scope, receive, send)
            return
        event = scope.get("aws.event")
        current = current_admission.get()
        if event is not None and current is not None and current.event is event:
            scope[ADMISSION] = current
            await self.app(scope, receive, send)
            return
        settings = get_settings()
        body, more = await _body_up_to(receive, settings.max_body_bytes + 1)
        try:
            parts = request_from_event(event) if event is not None else _asgi_request(scope, body)
            scope[ADMISSION] = admit(parts, settings, get_database, clock.now_ms(), event)
        except Exception as error:
            await error_response(error_answer(error))(scope, receive, send)
            return
        await self.app(scope, _replay(body, more, receive), send)


ADMISSION = "mediarec.admission"


def _asgi_request(scope: Scope, body: bytes) -> HttpRequest:
    raw_path = scope.get("raw_path")
    return HttpRequest(
        method=scope["method"],
        raw_path=raw_path.decode("latin-1") if raw_path else quote(scope["path"]),
        raw_query=scope.get("query_string", b"").decode("latin-1"),
        headers={name.decode("latin-1").lower(): value.decode("latin-1")
                 for name, value in scope.get("headers", [])},
        body=body,
    )  # fmt: skip


async def _body_up_to(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the body, and whether more is to come: the door refuses a
    longer body without it being read whole into memory."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = bool(message.get("more_body", False))
        if not more or size >= limit:
            return b"".join(chunks), more


def _replay(body: bytes, more: bool, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replayed


async def admitted(request: Request) -> Admission:
    """The admission :class:`DoorMiddleware` made for this request."""
    admission: Admission = request.scope[ADMISSION]
    return admission


AdmissionDep = Annotated[Admission, Depends(admitted)]


async def read_json_body(request: Request) -> Any:
    """The request's JSON body, parsed once by the door within the body limits (read from the
    scope rather than through :data:`AdmissionDep`: one dependency level less per write)."""
    admission: Admission = request.scope[ADMISSION]
    return admission.body


JsonBody = Annotated[Any, Depends(read_json_body)]


def install_error_handlers(app: FastAPI) -> None:
    async def _answer(_: Request, error: Exception) -> JSONResponse:
        return error_response(error_answer(error))

    for kind in (ApiError, DatabaseBusyError, Exception):
        app.add_exception_handler(kind, _answer)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(error_answer(invalid_request(error.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        content = error_content(code, str(error.detail))
        headers = dict(error.headers or {})
        if error.status_code == 405:  # every method of the path, the other functions' included
            raw_path = (request.scope.get("raw_path") or request.url.path.encode()).decode(
                "latin-1"
            )
            allowed = allowed_methods(raw_path.split("?", 1)[0])
            if allowed:
                headers = {k: v for k, v in headers.items() if k.lower() != "allow"}
                headers["Allow"] = ", ".join(sorted(allowed))
        return error_response(ErrorAnswer(error.status_code, content, headers))


def create_app(title: str, routers: Sequence[APIRouter], description: str = "") -> FastAPI:
    """A FastAPI app with mediarec's error shape, serving ``routers``."""
    app = FastAPI(title=title, description=description, version=_version())
    app.add_middleware(DoorMiddleware)  # the door, before routing
    install_error_handlers(app)
    for router in routers:
        app.include_router(router)
    _document(app)
    return app


def _document(app: FastAPI) -> None:
    """The OpenAPI document states what the door and the deployment really accept."""
    from functions.common.http.openapi_access import describe_access, describe_deployment

    built = [0]

    def openapi() -> dict[str, Any]:
        now = clock.now_ms()
        minute = clock.floor_ms(now, clock.MINUTE_MS)
        if app.openapi_schema is None or minute != built[0]:  # the accepted times moved on
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=app.routes,
            )  # fmt: skip
            describe_access(schema)
            describe_deployment(schema, get_settings(), now)
            app.openapi_schema, built[0] = schema, minute
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("mediarec")
    except Exception:  # the Lambda bundle is not an installed distribution
        return "0.1.0"


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the error statuses a route can return."""
    from functions.common.http.schemas import ErrorBody

    return {status: {"model": ErrorBody} for status in statuses}
