"""The parameters of GET /recommendations/{user_id}, in one place: the FastAPI route (routes.py)
and the fast path (fast_path.py) both validate with these, so their answers cannot drift."""

from __future__ import annotations

from pydantic import BaseModel, Field

from functions.common.http.errors import ApiError
from functions.common.http.schemas import Identifier, ItemKind
from functions.common.settings import Settings
from functions.common.vocabulary import TEXT_PATTERN
from functions.recommend.logic import FeedRequest

UserId = Identifier
"""The ``{user_id}`` path segment: the one id rule (the door has checked it already)."""


class RecommendationQuery(BaseModel):
    """The query string. Unknown parameters are ignored."""

    k: int = Field(10, ge=1, le=100, description="How many items.")
    platform: str | None = Field(
        None, max_length=32, pattern=TEXT_PATTERN, description="web, ios, android"
    )
    kind: ItemKind | None = None
    category: str | None = Field(None, min_length=1, max_length=64, pattern=TEXT_PATTERN)
    exclude_seen: bool = Field(True, description="Leave out items the user has events on.")

    def feed_request(self, user_id: str) -> FeedRequest:
        return FeedRequest(
            user_id=user_id,
            k=self.k,
            platform=self.platform,
            kind=self.kind,
            category=self.category,
            exclude_seen=self.exclude_seen,
        )


def check_platform(platform: str | None, settings: Settings) -> None:
    """Reject a platform the deployment does not accept (``MEDIAREC_PLATFORMS``) with a 422."""
    if platform is not None and platform not in settings.platforms:
        raise ApiError(
            422,
            "validation_error",
            "unknown platform",
            [{"field": "platform", "reason": f"expected one of {list(settings.platforms)}"}],
        )
