"""Recommend function's FastAPI app: GET /recommendations/{user_id}, GET /health, the docs.

The Lambda handler (app.py) answers plain GET /recommendations/{user_id} requests without this
module and imports it for everything else; ``mediarec serve`` mounts ``router``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from functions.common import clock
from functions.common.http.app import AdmissionDep, create_app, error_responses
from functions.common.http.dependencies import DatabaseDep, SettingsDep
from functions.common.http.schemas import RecommendationResponse
from functions.common.serving.model_runtime import serving_models
from functions.common.serving.snapshot_refresh import snapshot_status
from functions.recommend.logic import BASELINE_VERSION, recommend
from functions.recommend.query import RecommendationQuery, UserId, check_platform

router = APIRouter(tags=["recommend"])


@router.get(
    "/recommendations/{user_id}",
    response_model=RecommendationResponse,
    responses=error_responses(422, 503),
    summary="Top-K feed for a user",
)
async def get_recommendations(
    user_id: Annotated[UserId, Path()],
    query: Annotated[RecommendationQuery, Query()],
    db: DatabaseDep,
    settings: SettingsDep,
) -> RecommendationResponse:
    check_platform(query.platform, settings)
    return recommend(query.feed_request(user_id), db, settings, clock.now_ms())


@router.get(
    "/health",
    summary="Liveness; with a metrics or admin key, also the database, model and snapshot state",
    description="Public: without a key (or with one of another scope) it answers "
    '`{"status": "ok"}` once the database answers, and nothing a stranger should not see.',
)
async def health(
    db: DatabaseDep, settings: SettingsDep, admission: AdmissionDep
) -> dict[str, object]:
    schema_version = db.schema_version()  # the database answers
    if not admission.principal.sees_details():
        return {"status": "ok"}
    registry = serving_models(db, settings)
    active = registry.active
    body: dict[str, object] = {
        "status": "ok",
        "schema_version": schema_version,
        "model_version": active.model.version if active.model else BASELINE_VERSION,
        "model_state": active.status,
        "model_error": active.error,
        # their age tells whether the scheduled refresh is running
        "snapshots": snapshot_status(db, clock.now_ms()),
    }
    if settings.ab_model_version:
        body["ab"] = {
            "version": settings.ab_model_version,
            "share": settings.ab_share,
            "state": registry.ab.status,
            "error": registry.ab.error,
        }
    return body


app = create_app("mediarec recommend", [router])
