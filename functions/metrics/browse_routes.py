"""The console's reads (functions/metrics/browse.py) as routes of the metrics function:
GET /users, GET /users/{user_id}, GET /items/{item_id}, GET /models."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from functions.common.http.app import error_responses
from functions.common.http.dependencies import DatabaseDep, SettingsDep
from functions.common.http.errors import ApiError
from functions.common.http.schemas import Identifier
from functions.common.vocabulary import ID_PATTERN
from functions.metrics import browse

router = APIRouter(tags=["browse"])
PREFIX_PATTERN = ID_PATTERN.replace("]+$", "]*$")  # what an id may start with: "" included


def _not_found(what: str, field: str) -> ApiError:
    return ApiError(404, "not_found", f"no {what} stored", [{"field": field, "reason": "unknown"}])


@router.get(
    "/users",
    responses=error_responses(422, 503),
    summary="Users with events whose id starts with prefix, in id order (the console's search)",
)
async def get_users(
    db: DatabaseDep,
    prefix: Annotated[str, Query(max_length=128, pattern=PREFIX_PATTERN)] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    return db.read(lambda conn: browse.users_by_prefix(conn, prefix, limit))


@router.get(
    "/users/{user_id}",
    responses=error_responses(404, 422, 503),
    summary="A user's attributes, latest events and latest feeds with the items each showed",
)
async def get_user(
    user_id: Annotated[Identifier, Path()],
    db: DatabaseDep,
    events: Annotated[int, Query(ge=0, le=500)] = 50,
    feeds: Annotated[int, Query(ge=0, le=100)] = 10,
) -> dict[str, Any]:
    found = db.read(lambda conn: browse.user_activity(conn, user_id, events, feeds))
    if found is None:
        raise _not_found("user", "user_id")
    return found


@router.get(
    "/items/{item_id}",
    responses=error_responses(404, 422, 503),
    summary="One catalog item (what a feed card shows: title, kind, categories)",
)
async def get_item(item_id: Annotated[Identifier, Path()], db: DatabaseDep) -> dict[str, Any]:
    found = db.read(lambda conn: browse.item(conn, item_id))
    if found is None:
        raise _not_found("item", "item_id")
    return found


@router.get(
    "/models",
    responses=error_responses(422, 503),
    summary="Registered model versions, the active one, the A/B test's arms and share, and "
    "each version's offline metrics from its manifest",
)
async def get_models(
    db: DatabaseDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    return db.read(lambda conn: browse.registry(conn, settings, limit))
