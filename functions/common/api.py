"""The one door every request goes through: app factory, JSON body reading, error shaping.

Every 4xx/5xx answer has the body ``{"error": code, "message": text, "errors": [{field, reason}]}``
(see :class:`functions.common.models.ErrorBody`). Route code raises :class:`ApiError` or lets
pydantic / FastAPI validation fail; the handlers here turn both into that shape.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from functions.common.db import DatabaseBusyError
from functions.common.settings import get_settings

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answer with a status, a stable code and per-field reasons."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        errors: Sequence[dict[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = list(errors)


def error_response(status: int, code: str, message: str, errors: Iterable[dict[str, str]] = ()):
    return JSONResponse(
        status_code=status,
        content={"error": code, "message": message, "errors": list(errors)},
    )


def field_path(loc: Sequence[int | str], prefix: str = "") -> str:
    """``("body", "events", 3, "ts")`` -> ``events[3].ts``."""
    path = prefix
    for part in loc:
        if part in ("body", "query", "path", "header") and not path:
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path or "body"


def validation_errors(error: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """pydantic errors as ``[{field, reason}]`` (input values are not echoed back)."""
    found = []
    for item in error.errors(include_url=False, include_input=False):
        reason = item["msg"]
        if item["type"] == "extra_forbidden":
            reason = "unknown field"
        elif reason.startswith("Value error, "):
            reason = reason.removeprefix("Value error, ")
        found.append({"field": field_path(item["loc"], prefix), "reason": reason})
    return found


async def read_json_body(request: Request) -> Any:
    """The request body parsed as JSON, at most ``max_body_bytes`` long."""
    settings = get_settings()
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_body_bytes:
        raise _too_large(settings.max_body_bytes)
    raw = await request.body()
    if len(raw) > settings.max_body_bytes:
        raise _too_large(settings.max_body_bytes)
    if not raw.strip():
        raise ApiError(
            400,
            "invalid_json",
            "the request body is empty; send JSON",
            [{"field": "body", "reason": "empty body"}],
        )
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        reason = error.msg if isinstance(error, json.JSONDecodeError) else "not UTF-8 JSON"
        raise ApiError(
            400,
            "invalid_json",
            "the request body is not valid JSON",
            [{"field": "body", "reason": reason}],
        ) from None


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "body_too_large",
        f"the request body exceeds {limit} bytes",
        [{"field": "body", "reason": f"larger than {limit} bytes"}],
    )


JsonBody = Annotated[Any, Depends(read_json_body)]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.code, error.message, error.errors)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = []
        for item in error.errors():
            reason = "unknown field" if item["type"] == "extra_forbidden" else item["msg"]
            errors.append({"field": field_path(item["loc"]), "reason": reason})
        return error_response(422, "validation_error", "the request is invalid", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return error_response(error.status_code, code, str(error.detail))

    @app.exception_handler(DatabaseBusyError)
    async def _busy(_: Request, error: DatabaseBusyError) -> JSONResponse:
        logger.warning("database busy: %s", error)
        response = error_response(503, "busy", "the database is busy; retry the request")
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "an unexpected error occurred")


def create_app(title: str, routers: Sequence[APIRouter], description: str = "") -> FastAPI:
    """A FastAPI app with mediarec's error shape, serving ``routers``."""
    app = FastAPI(title=title, description=description, version=_version())
    install_error_handlers(app)
    for router in routers:
        app.include_router(router)
    return app


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("mediarec")
    except Exception:  # the Lambda bundle is not an installed distribution
        return "0.1.0"


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the error statuses a route can return."""
    from functions.common.models import ErrorBody

    return {status: {"model": ErrorBody} for status in statuses}
