"""Recommend function: GET /recommendations/{user_id}, GET /health."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from functions.common import clock
from functions.common.api import ApiError, create_app, error_responses
from functions.common.lambda_runtime import make_handler
from functions.common.model_runtime import serving_models
from functions.common.models import MAX_ID_LENGTH, RecommendationResponse
from functions.common.resources import DatabaseDep, SettingsDep
from functions.recommend.logic import BASELINE_VERSION, FeedRequest, recommend

router = APIRouter(tags=["recommend"])


@router.get(
    "/recommendations/{user_id}",
    response_model=RecommendationResponse,
    responses=error_responses(422, 503),
    summary="Top-K feed for a user",
)
async def get_recommendations(
    user_id: Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)],
    db: DatabaseDep,
    settings: SettingsDep,
    k: Annotated[int, Query(ge=1, le=100, description="How many items.")] = 10,
    platform: Annotated[str | None, Query(max_length=32, description="web, ios, android")] = None,
    kind: Annotated[Literal["video", "article", "post"] | None, Query()] = None,
    category: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    exclude_seen: Annotated[
        bool, Query(description="Leave out items the user has events on.")
    ] = True,
) -> RecommendationResponse:
    if platform is not None and platform not in settings.platforms:
        raise ApiError(
            422,
            "validation_error",
            "unknown platform",
            [{"field": "platform", "reason": f"expected one of {list(settings.platforms)}"}],
        )
    request = FeedRequest(
        user_id=user_id,
        k=k,
        platform=platform,
        kind=kind,
        category=category,
        exclude_seen=exclude_seen,
    )
    return recommend(request, db, settings, clock.now_ms())


@router.get("/health", summary="Liveness, database and model state")
async def health(db: DatabaseDep, settings: SettingsDep) -> dict[str, object]:
    registry = serving_models(db, settings)
    active = registry.active
    body: dict[str, object] = {
        "status": "ok",
        "schema_version": db.schema_version(),
        "model_version": active.model.version if active.model else BASELINE_VERSION,
        "model_state": active.status,
        "model_error": active.error,
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
handler = make_handler(app, service="recommend")
