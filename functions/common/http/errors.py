"""mediarec's error answers, without FastAPI: shared by its exception handlers (api.py) and by the
recommend function's fast path, which answers without FastAPI and must answer the same.

Every 4xx/5xx answer has the body ``{"error": code, "message": text, "errors": [{field, reason}]}``
(see :class:`functions.common.http.schemas.ErrorBody`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from functions.common.store.db import DatabaseBusyError
from functions.common.vocabulary import ID_PATTERN, ID_PATTERN_TEXT

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answer with a status, a stable code and per-field reasons."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        errors: Sequence[dict[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = list(errors)
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class ErrorAnswer:
    """An error's status, JSON body and the headers beyond content-type and content-length."""

    status: int
    content: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def error_content(code: str, message: str, errors: Iterable[dict[str, str]] = ()) -> dict[str, Any]:
    return {"error": code, "message": message, "errors": list(errors)}


def error_answer(error: Exception) -> ErrorAnswer:
    """The answer to an exception a route raised: an :class:`ApiError` as it says, a database
    that stayed locked through every retry 503 with ``Retry-After``, anything else 500 (logged
    with its traceback)."""
    if isinstance(error, ApiError):
        content = error_content(error.code, error.message, error.errors)
        return ErrorAnswer(error.status, content, error.headers)
    if isinstance(error, DatabaseBusyError):
        logger.warning("database busy: %s", error)
        content = error_content("busy", "the database is busy; retry the request")
        return ErrorAnswer(503, content, {"Retry-After": "1"})
    logger.exception("unhandled error", exc_info=error)
    return ErrorAnswer(500, error_content("internal_error", "an unexpected error occurred"))


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


def reason_of(item: Mapping[str, Any]) -> str:
    """A pydantic error's reason for a client: no input echoed, the id rule in words."""
    kind = item["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "string_pattern_mismatch" and (item.get("ctx") or {}).get("pattern") == ID_PATTERN:
        return ID_PATTERN_TEXT
    return str(item["msg"]).removeprefix("Value error, ")


def validation_errors(error: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """pydantic errors as ``[{field, reason}]`` (input values are not echoed back)."""
    return [
        {"field": field_path(item["loc"], prefix), "reason": reason_of(item)}
        for item in error.errors(include_url=False, include_input=False)
    ]


def invalid_request(errors: Iterable[Mapping[str, Any]]) -> ApiError:
    """The 422 for a request whose path or query parameters failed validation; ``errors`` are
    pydantic error dicts located as FastAPI locates them (``("query", "k")``)."""
    reasons = [{"field": field_path(item["loc"]), "reason": reason_of(item)} for item in errors]
    return ApiError(422, "validation_error", "the request is invalid", reasons)
