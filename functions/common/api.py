"""The one door every request goes through: app factory, JSON body reading, error shaping.

Route code raises :class:`ApiError` or lets pydantic / FastAPI validation fail; the handlers here
turn both into mediarec's error shape, with the FastAPI-free helpers of
:mod:`functions.common.errors`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from functions.common.db import DatabaseBusyError
from functions.common.errors import (
    ApiError,
    ErrorAnswer,
    error_answer,
    error_content,
    invalid_request,
)
from functions.common.settings import get_settings


def error_response(answer: ErrorAnswer) -> JSONResponse:
    response = JSONResponse(status_code=answer.status, content=answer.content)
    response.headers.update(answer.headers)
    return response


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
    async def _answer(_: Request, error: Exception) -> JSONResponse:
        return error_response(error_answer(error))

    for kind in (ApiError, DatabaseBusyError, Exception):
        app.add_exception_handler(kind, _answer)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(error_answer(invalid_request(error.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return error_response(
            ErrorAnswer(error.status_code, error_content(code, str(error.detail)))
        )


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
