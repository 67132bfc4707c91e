"""Request and response models: the API contract of DESIGN.md section 3, in pydantic."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from functions.common.clock import TimeBounds, exact_timestamp_ms
from functions.common.vocabulary import ID_PATTERN, MAX_ID_LENGTH, TEXT_PATTERN, ItemKind

MAX_ATTRIBUTES_BYTES = 16_384
MAX_ATTRIBUTE_NESTING = 4
"""Arrays or objects inside one another below an item's or user's attributes object."""

Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)
]
"""Every id, in a path, a query or a body: 1-128 characters, no control characters (C0, DEL,
C1), no ``/`` (so that any id can be a path segment), valid Unicode."""


@dataclass(frozen=True)
class TimeRule:
    """The times a field accepts (validation context under the field's name) and the reasons
    given for one outside them."""

    bounds: TimeBounds
    too_old: str
    too_new: str


def _timestamp(value: object, info: ValidationInfo) -> int:
    exact = exact_timestamp_ms(value)
    rule: TimeRule | None = (info.context or {}).get(info.field_name or "")
    if rule is not None:
        earliest = rule.bounds.earliest_ms
        if earliest is not None and exact < earliest:
            raise ValueError(rule.too_old)
        if exact > rule.bounds.latest_ms:
            raise ValueError(rule.too_new)
    return math.floor(exact)


def _number_not_text(value: object) -> object:
    if isinstance(value, (bool, str)):
        raise ValueError("must be a JSON number, not a boolean or text")
    return value


Timestamp = Annotated[int, BeforeValidator(_timestamp)]
"""ISO-8601 text or epoch seconds (or milliseconds), stored as epoch milliseconds; within the
bounds of the :class:`TimeRule` the validation context names for the field, checked before
rounding (exactly what the OpenAPI document states)."""

Reason = Literal["model", "popular", "fresh", "exploration", "fallback"]
"""Why an item is in a feed: which path chose it."""
UNICODE_SPACE = r"\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
r"""Unicode's White_Space characters, which ``strip_whitespace`` removes. Spelled out, since a
pattern's ``\s`` differs by engine: the OpenAPI document's ECMA-262 ``\s`` leaves out U+0085
(and adds U+FEFF, which stripping keeps)."""
Category = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=64,
        strip_whitespace=True,
        pattern=rf"^[^\x00]*[^\x00{UNICODE_SPACE}][^\x00]*$",
    ),
]
"""A category: up to 64 characters, at least one not whitespace (it is stored stripped), no
NUL (:data:`~functions.common.vocabulary.TEXT_PATTERN`)."""


def _allowed(info: ValidationInfo, key: str) -> tuple[str, ...] | None:
    context = info.context or {}
    allowed: tuple[str, ...] | None = context.get(key)
    return allowed


def _nesting(value: Any) -> int:
    """How many arrays or objects lie inside one another in ``value``."""
    if isinstance(value, dict):
        return 1 + max(map(_nesting, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_nesting, value), default=0)
    return 0


def _check_attributes(value: dict[str, Any]) -> dict[str, Any]:
    if max(map(_nesting, value.values()), default=0) > MAX_ATTRIBUTE_NESTING:
        raise ValueError(f"attributes nest more than {MAX_ATTRIBUTE_NESTING} arrays or objects")
    encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(encoded) > MAX_ATTRIBUTES_BYTES:  # UTF-8 bytes, as a client counts them
        raise ValueError(f"attributes larger than {MAX_ATTRIBUTES_BYTES} bytes as JSON")
    return value


def _one_of(key: str, noun: str) -> Callable[[str, ValidationInfo], str]:
    """A validator: the value must be one of the context's ``key`` (when the context has it)."""

    def check(value: str, info: ValidationInfo) -> str:
        allowed = _allowed(info, key)
        if allowed is not None and value not in allowed:
            raise ValueError(f"unknown {noun} {value[:40]!r}; expected one of {list(allowed)}")
        return value

    return check


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class EventIn(_Strict):
    """One interaction event. Validation context supplies the allowed event types and platforms."""

    event_id: Identifier = Field(description="Client-generated idempotency key.")
    user_id: Identifier
    item_id: Identifier
    event_type: str = Field(description="view, click, like, share, skip (configurable).")
    platform: str = Field(description="web, ios or android (configurable).")
    ts: Timestamp | None = Field(
        None, description="Client time, ISO-8601 or epoch seconds; defaults to receive time."
    )
    recommendation_id: Identifier | None = Field(
        None, description="The recommendation_id of the feed this event came from."
    )
    position: int | None = Field(None, ge=1, le=1000, description="1-based slot in that feed.")
    dwell_ms: int | None = Field(None, ge=0, le=86_400_000)

    _whole_numbers = field_validator("position", "dwell_ms", mode="before")(_number_not_text)
    """A JSON number with no fractional part (``3`` or ``3.0``, as JSON Schema's integer), never
    ``true`` or ``"3"``."""

    _known_event_type = field_validator("event_type")(_one_of("event_types", "event type"))
    _known_platform = field_validator("platform")(_one_of("platforms", "platform"))


class ItemIn(_Strict):
    """A catalog item. Posting an existing item_id replaces its record."""

    item_id: Identifier
    kind: ItemKind
    title: Annotated[str, StringConstraints(max_length=500, pattern=TEXT_PATTERN)] | None = None
    categories: list[Category] = Field(default_factory=list, max_length=20)
    published_at: Timestamp | None = Field(
        None,
        description="ISO-8601 or epoch seconds; not in the future (beyond the clock-skew "
        "tolerance): post an item when it is published.",
    )
    attributes: dict[str, Any] = Field(default_factory=dict)
    hidden: StrictBool = Field(False, description="Hidden items are never recommended.")

    _attributes_size = field_validator("attributes")(_check_attributes)


class UserIn(_Strict):
    """A user's attributes. Posting an existing user_id replaces its attributes."""

    user_id: Identifier
    attributes: dict[str, Any] = Field(default_factory=dict)

    _attributes_size = field_validator("attributes")(_check_attributes)


class FieldError(BaseModel):
    field: str
    reason: str


class ErrorBody(BaseModel):
    """The body of every 4xx/5xx answer."""

    error: str = Field(description="A stable code: validation_error, not_found, busy, ...")
    message: str
    errors: list[FieldError] = Field(default_factory=list)


class ItemResult(BaseModel):
    index: int
    id: str | None = Field(None, description="event_id, item_id or user_id when readable.")
    status: Literal["stored", "duplicate", "upserted", "rejected", "conflict"] = Field(
        description="conflict: the event_id is another user's event's (not stored)."
    )
    errors: list[FieldError] = Field(default_factory=list)


class BatchResult(BaseModel):
    """Per-item outcome of a write. HTTP 200: none rejected; 207: some; 422: all rejected."""

    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    results: list[ItemResult]


class DeletedUser(BaseModel):
    user_id: str
    deleted: dict[str, int] = Field(description="Rows removed per table.")
    deleted_at: str = Field(
        description="When the deletion took effect (ISO-8601 UTC): the time its tombstone holds."
    )
    personalisation: Literal["stopped"] = Field(
        "stopped",
        description=(
            "Always `stopped`: from this answer on, feeds for this user id are not personalised "
            "by any model trained on data read before `deleted_at`; the id is served exactly as "
            "one the model never saw (in-session picks from events sent after the deletion, "
            "then popular items)."
        ),
    )
    note: str = Field(
        "served as an unknown user until a model trained after this deletion is active; "
        "training leaves out everything received up to the deletion",
        description=(
            "A fixed sentence saying what `personalisation: stopped` means. The tombstone kept "
            "for this holds the SHA-256 of the user id, never the id. Events sent for the same "
            "id after the deletion are a new user's, stored and trained on like any other."
        ),
    )


class RecommendedItem(BaseModel):
    item_id: str
    position: int
    score: float
    reason: Reason
    kind: str | None = None


class RecommendationResponse(BaseModel):
    recommendation_id: str
    user_id: str
    model_version: str
    platform: str
    k: int
    served_at: str
    items: list[RecommendedItem]
