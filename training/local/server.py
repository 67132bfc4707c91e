"""All three functions' routes in one FastAPI app, for `mediarec serve` on a laptop."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp

from functions.common.http.app import create_app

LOCAL_SERVICE = "mediarec"
"""The ``service`` of every log line of `mediarec serve` (one process serves all three
functions' routes)."""


def build_app() -> ASGIApp:
    """The API of :func:`build_api` with the web console at /console."""
    from training.local.console_site import with_console

    return with_console(build_api())


def build_api() -> FastAPI:
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

    from functions.common.http.lambda_runtime import OPEN_WARNING
    from functions.common.settings import get_settings
    from functions.ingest.routes import router as ingest
    from functions.metrics.browse_routes import router as browse
    from functions.metrics.routes import router as metrics
    from functions.recommend.routes import router as recommend

    settings = get_settings()
    logger = Logger(service=LOCAL_SERVICE, level=settings.log_level.upper())
    copy_config_to_registered_loggers(source_logger=logger, include={"functions"})
    if settings.auth == "off":
        logger.warning(OPEN_WARNING)
    return create_app(
        "mediarec",
        [ingest, recommend, metrics, browse],
        description="Ingest events, serve feeds, measure Precision at Curation.",
    )
