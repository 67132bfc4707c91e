"""All three functions' routes in one FastAPI app, for `mediarec serve` on a laptop."""

from __future__ import annotations

from fastapi import FastAPI

from functions.common.api import create_app


def build_app() -> FastAPI:
    from functions.ingest.app import router as ingest
    from functions.metrics.app import router as metrics
    from functions.recommend.routes import router as recommend

    return create_app(
        "mediarec",
        [ingest, recommend, metrics],
        description="Ingest events, serve feeds, measure Precision at Curation.",
    )
