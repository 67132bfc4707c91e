"""Per-container caches: each module that keeps one registers how to clear it here.

A Lambda container keeps its settings, database connection, key lookups, named queries and serving
model for its whole life. Tests and benchmarks that switch database files or environments call
:func:`reset_all` to start again from nothing. A module that was never imported holds no cache, so
registration on import is enough. This module imports nothing from ``functions``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

_clearers: list[Callable[[], None]] = []
_lock = threading.Lock()


def register(clear: Callable[[], None]) -> Callable[[], None]:
    """Run ``clear`` on :func:`reset_all`; returns it, so it can decorate a function."""
    with _lock:
        if clear not in _clearers:
            _clearers.append(clear)
    return clear


def reset_all() -> None:
    """Clear every registered cache, the most recently registered first (users before what they
    use: the serving model before the connection, the connection before the settings)."""
    with _lock:
        clearers = list(reversed(_clearers))
    for clear in clearers:
        clear()
