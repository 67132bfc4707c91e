"""The words every room shares: what an id may hold, and the kinds of item.

The API's schemas, its error messages, the serving features and the importers all read these
from here. This module imports nothing from ``functions``.
"""

from __future__ import annotations

from typing import Literal, get_args

MAX_ID_LENGTH = 128
"""The longest id (user, item, event, ...), in characters."""
ID_PATTERN = r"^[^\x00-\x1f\x7f-\x9f/]+$"
"""The characters of every id: no control characters (C0, DEL, C1), no ``/``."""
ID_PATTERN_TEXT = "an id may not hold control characters or '/'"
""":data:`ID_PATTERN` in words, for error messages."""
TEXT_PATTERN = r"^[^\x00]*$"
"""Stored free text (titles, categories, versions, platforms): anything but NUL, which
PostgreSQL's text cannot hold, refused alike on both engines."""

ItemKind = Literal["video", "article", "post"]
"""The kinds of item. The order is part of the model bundle format: the features code a kind by
its position here (0 is unknown), so a new kind goes at the end."""
ITEM_KINDS: tuple[str, ...] = get_args(ItemKind)
"""The item kinds as a tuple, in the order of :data:`ItemKind`."""
