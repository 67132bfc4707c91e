"""The checks both importers make on a row's cells (ids, ratings) and on the event types and
platforms they write (which must be configured); each row check returns a reason, not raises."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from functions.common.vocabulary import ID_PATTERN, ID_PATTERN_TEXT, MAX_ID_LENGTH

if TYPE_CHECKING:
    from functions.common.settings import Settings

_ID_CHARACTERS = re.compile(ID_PATTERN)


def id_problem(name: str, value: str) -> str | None:
    """Why ``value`` cannot be an id (the API's one rule: 1-128 characters, no control
    characters, no '/')."""
    if not value:
        return f"empty {name}"
    if len(value) > MAX_ID_LENGTH:
        return f"{name} longer than {MAX_ID_LENGTH} characters ({len(value)})"
    if not _ID_CHARACTERS.match(value):
        return f"{name} {value[:40]!r}: {ID_PATTERN_TEXT}"
    return None


def first_clause(error: Exception) -> str:
    """An error's message up to its first ``": "`` (what is wrong, without the value again)."""
    return str(error).split(": ", 1)[0]


def parse_rating(text: str) -> tuple[float | None, str | None]:
    """A rating cell as ``(rating, None)``, or ``(None, reason)`` when it is not a finite number."""
    if not text:
        return None, "empty rating"
    try:
        rating = float(text)
    except ValueError:
        return None, f"rating {text[:40]!r} is not a number"
    if not math.isfinite(rating):
        return None, f"rating {text[:40]!r} is not a finite number"
    return rating, None


def require_configured(settings: Settings, event_types: Iterable[str], platform: str) -> None:
    """Raise ``ValueError`` unless every one of ``event_types`` and ``platform`` is configured."""
    for event_type in event_types:
        if event_type not in settings.event_types:
            raise ValueError(
                f"event type {event_type!r} is not configured (MEDIAREC_EVENT_TYPES is "
                f"{','.join(settings.event_types)})"
            )
    if platform not in settings.platforms:
        raise ValueError(
            f"platform {platform!r} is not configured (MEDIAREC_PLATFORMS is "
            f"{','.join(settings.platforms)})"
        )
