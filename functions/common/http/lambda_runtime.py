"""Lambda entry points: Powertools logging and tracing around Mangum, one per function.

FastAPI and Mangum are not imported here at module level: the recommend function answers its hot
route without them (functions/recommend/fast_path.py), and importing them costs about half a
second of a cold start, so a handler can name its app by import path and build the adapter when
it first needs it.
"""

from __future__ import annotations

import functools
import gc
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from functions.common import clock
from functions.common.http.door import admit, current_admission, request_from_event
from functions.common.http.errors import error_answer
from functions.common.http.lambda_http import json_answer, render_json
from functions.common.settings import get_settings
from functions.common.store.db import get_database

if TYPE_CHECKING:
    from fastapi import FastAPI

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
ScheduledHandler = Callable[[dict[str, Any]], dict[str, Any]]
FastPath = Callable[[dict[str, Any], Any], "dict[str, Any] | None"]
"""Answers the events it fully understands and returns ``None`` for the others."""
OPEN_WARNING = (
    "MEDIAREC_AUTH=off: ACCESS CONTROL IS OFF - anyone who can reach this API can read, write and "
    "delete everything. Use it on a laptop only."
)


def is_scheduled_event(event: dict[str, Any]) -> bool:
    """True for an EventBridge schedule event (which Mangum cannot route): the rule's own event,
    or the constant input ``{"job": NAME}`` of a rule that names the job to run."""
    if not isinstance(event, dict):
        return False
    return event.get("detail-type") == "Scheduled Event" or isinstance(event.get("job"), str)


def make_handler(
    app: FastAPI | str,
    service: str,
    on_scheduled: ScheduledHandler | None = None,
    fast_path: FastPath | None = None,
) -> LambdaHandler:
    """The Lambda handler for ``app``, a FastAPI app or its import path (``"package.module:name"``,
    imported when first needed): structured logs with the request context, X-Ray tracing when
    ``MEDIAREC_TRACING`` is on (Powertools disables it outside Lambda), scheduled events to
    ``on_scheduled``, the events ``fast_path`` answers to it, the rest to Mangum.

    Without a fast path every request needs the app, so its Mangum adapter is built now, in
    Lambda's init phase; with one, on the first event the fast path hands over."""
    settings = get_settings()
    logger = Logger(service=service, level=settings.log_level.upper())

    @functools.cache
    def share_log_config() -> None:
        """mediarec's own loggers log as this function, from its first invocation on (not at
        import: `mediarec serve` imports every function's routes into one process)."""
        copy_config_to_registered_loggers(source_logger=logger, include={"functions"})

    @functools.cache
    def asgi() -> LambdaHandler:
        from mangum import Mangum

        adapter: LambdaHandler = Mangum(_imported(app), lifespan="off")
        return adapter

    if fast_path is None:
        asgi()

    if settings.auth == "off":
        logger.warning(OPEN_WARNING)

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        share_log_config()
        if on_scheduled is not None and is_scheduled_event(event):
            return on_scheduled(event)  # EventBridge: not an HTTP request, no door

        def respond() -> dict[str, Any]:
            if fast_path is not None:
                answered = fast_path(event, context)
                if answered is not None:
                    return answered
            return asgi()(event, context)

        return behind_door(event, respond)  # before the fast path and before Mangum

    if settings.tracing:  # imported only when used: the X-Ray SDK adds ~0.3 s to a cold start
        from aws_lambda_powertools import Tracer

        handle = Tracer(service=service).capture_lambda_handler(handle)
    handler: LambdaHandler = logger.inject_lambda_context(
        clear_state=True,
        log_event=False,  # never the event, whatever POWERTOOLS_LOGGER_LOG_EVENT
    )(handle)  # says: it holds the x-api-key header
    # What the init phase built (modules, schemas, settings) lives as long as the container:
    # out of the collector's generations, a collection no longer walks it. A batch of 500
    # events makes thousands of objects, and the full collections they triggered over the
    # whole heap took a third of its time (docs/decisions.md).
    gc.freeze()
    return handler


def behind_door(event: Any, respond: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``respond()`` if the door (functions/common/http/door.py) admits the HTTP event, with the
    admission visible to the FastAPI dependency; else the door's error answer."""
    try:
        admission = admit(
            request_from_event(event), get_settings(), get_database, clock.now_ms(), event
        )
    except Exception as error:
        failed = error_answer(error)
        return json_answer(failed.status, render_json(failed.content), failed.headers)
    token = current_admission.set(admission)
    try:
        return respond()
    finally:
        current_admission.reset(token)


def _imported(app: FastAPI | str) -> FastAPI:
    if not isinstance(app, str):
        return app
    module, _, name = app.partition(":")
    imported: FastAPI = getattr(importlib.import_module(module), name)
    return imported
