"""The metrics function's FastAPI app: GET /metrics, GET /metrics/compare and the console's reads
(browse_routes.py). Its Lambda entry point (app.py) answers a plain GET /metrics without it
(fast_path.py) and runs the scheduled jobs (scheduled.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from functions.common.http.app import create_app, error_responses
from functions.common.http.dependencies import DatabaseDep, SettingsDep
from functions.common.vocabulary import TEXT_PATTERN
from functions.metrics.browse_routes import router as browse_router
from functions.metrics.compare import compare_versions
from functions.metrics.query import (
    FROM_DESCRIPTION,
    TO_DESCRIPTION,
    MetricsQuery,
    check_platform,
    metrics_answer,
    window_of,
)

router = APIRouter(tags=["metrics"])


# the window and slice parameters GET /metrics and GET /metrics/compare share
FromParam = Annotated[
    str | None, Query(alias="from", pattern=TEXT_PATTERN, description=FROM_DESCRIPTION)
]
ToParam = Annotated[str | None, Query(description=TO_DESCRIPTION, pattern=TEXT_PATTERN)]
PlatformParam = Annotated[str | None, Query(max_length=32, pattern=TEXT_PATTERN)]
KParam = Annotated[int, Query(ge=1, le=100)]


@router.get(
    "/metrics",
    responses=error_responses(422, 503),
    summary="Precision at Curation, CTR, online AUC, coverage, novelty and diversity over a "
    "window, by position and per platform x model version x A/B arm",
)
async def get_metrics(
    db: DatabaseDep, settings: SettingsDep, query: Annotated[MetricsQuery, Query()]
) -> dict[str, Any]:
    return metrics_answer(db, query, settings)


VERSION = Query(
    min_length=1,
    max_length=128,
    pattern=TEXT_PATTERN,
    description="a model version (as impressions log it)",
)


@router.get(
    "/metrics/compare",
    responses=error_responses(422, 503),
    summary="A/B comparison of two model versions: PaC and CTR per arm, the difference with a "
    "user-level 95% interval and p-value, and a sample-ratio check",
)
async def get_compare(
    db: DatabaseDep,
    settings: SettingsDep,
    a: Annotated[str, VERSION],
    b: Annotated[str, VERSION],
    from_: FromParam = None,
    to: ToParam = None,
    platform: PlatformParam = None,
    k: KParam = 10,
    share: Annotated[
        float | None,
        Query(gt=0, lt=1, description="the configured share of arm b (default MEDIAREC_AB_SHARE)"),
    ] = None,
) -> dict[str, Any]:
    check_platform(platform, settings)
    window = window_of(from_, to, settings)
    return db.read(lambda conn: compare_versions(conn, a, b, window, k, platform, settings, share))


app = create_app("mediarec metrics", [router, browse_router])
