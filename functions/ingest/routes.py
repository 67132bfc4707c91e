"""The ingest function's FastAPI app: POST /events, POST /items, POST /users, DELETE
/users/{user_id}. Its Lambda entry point (app.py) answers the common writes without it
(fast_path.py) and hands it everything else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from functions.common import clock
from functions.common.http.app import JsonBody, create_app, error_responses
from functions.common.http.dependencies import DatabaseDep, SettingsDep
from functions.common.http.schemas import BatchResult, DeletedUser, Identifier
from functions.ingest import logic
from functions.ingest.openapi import batch_body

router = APIRouter(tags=["ingest"])
ERRORS = error_responses(400, 409, 413, 422, 503)
BATCH_DOC = (
    "200: all stored; 207: some rejected (see results); 422: all rejected; 409: all were events "
    "whose event_id another user's event holds."
)


def batch_route(path: str, model_name: str, summary: str) -> Callable[[Any], Any]:
    """POST route of a write that takes one object, {key: [...]} or a list (see openapi.py)."""
    return router.post(
        path,
        response_model=BatchResult,
        responses={207: {"model": BatchResult}, **ERRORS},
        openapi_extra=batch_body(model_name, path.strip("/")),
        summary=summary,
        description=BATCH_DOC,
    )


def _answer(result: BatchResult, key: str) -> JSONResponse:
    status, content = logic.write_answer(result, key)
    return JSONResponse(content, status_code=status)


@batch_route("/events", "EventIn", "Record events")
async def post_events(body: JsonBody, db: DatabaseDep, settings: SettingsDep) -> JSONResponse:
    return _answer(logic.ingest_events(db, body, settings, clock.now_ms()), "events")


@batch_route("/items", "ItemIn", "Upsert catalog items")
async def post_items(body: JsonBody, db: DatabaseDep, settings: SettingsDep) -> JSONResponse:
    return _answer(logic.upsert_items(db, body, settings, clock.now_ms()), "items")


@batch_route("/users", "UserIn", "Upsert users")
async def post_users(body: JsonBody, db: DatabaseDep, settings: SettingsDep) -> JSONResponse:
    return _answer(logic.upsert_users(db, body, settings, clock.now_ms()), "users")


@router.delete(
    "/users/{user_id}",
    response_model=DeletedUser,
    responses=error_responses(422, 503),
    summary="Delete everything stored about a user",
)
async def delete_user(user_id: Annotated[Identifier, Path()], db: DatabaseDep) -> DeletedUser:
    return logic.delete_user(db, user_id, clock.now_ms())


app = create_app("mediarec ingest", [router])
