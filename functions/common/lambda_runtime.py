"""Lambda entry points: Powertools logging and tracing around Mangum, one per function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from fastapi import FastAPI
from mangum import Mangum

from functions.common.settings import get_settings

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
ScheduledHandler = Callable[[dict[str, Any]], dict[str, Any]]


def is_scheduled_event(event: dict[str, Any]) -> bool:
    """True for an EventBridge schedule event (which Mangum cannot route)."""
    return isinstance(event, dict) and event.get("detail-type") == "Scheduled Event"


def make_handler(
    app: FastAPI, service: str, on_scheduled: ScheduledHandler | None = None
) -> LambdaHandler:
    """The Lambda handler for ``app``: structured logs with the request context, X-Ray tracing
    when ``MEDIAREC_TRACING`` is on (Powertools disables it outside Lambda), scheduled events
    to ``on_scheduled``, the rest to Mangum."""
    settings = get_settings()
    logger = Logger(service=service, level=settings.log_level.upper())
    copy_config_to_registered_loggers(source_logger=logger, include={"functions"})
    asgi = Mangum(app, lifespan="off")

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if on_scheduled is not None and is_scheduled_event(event):
            return on_scheduled(event)
        response: dict[str, Any] = asgi(event, context)
        return response

    if settings.tracing:  # imported only when used: the X-Ray SDK adds ~0.3 s to a cold start
        from aws_lambda_powertools import Tracer

        handle = Tracer(service=service).capture_lambda_handler(handle)
    handler: LambdaHandler = logger.inject_lambda_context(clear_state=True)(handle)
    return handler
