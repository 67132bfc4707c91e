"""API keys: shown once, stored as a SHA-256, scoped, revocable, trusted per container for a while.

A key reads ``mrk_<key_id>_<secret>``: ``key_id`` (12 hex digits) is the public handle that
``mediarec keys list`` shows and ``keys revoke`` takes; ``secret`` is 32 random bytes. The
database keeps the SHA-256 of the whole key, never the key: with 256 random bits a fast hash is
as safe as a slow one (nothing to brute-force), and it costs a microsecond per request. A
presented key is looked up by its ``key_id`` and its hash compared in constant time.

Each container caches what a lookup found (a valid key, a revoked one, or none) for
``MEDIAREC_API_KEY_CACHE_SECONDS`` (60 s): a revoked key stops working within that delay, and a
warm request pays a dictionary lookup instead of a query. The cache holds at most
:data:`MAX_CACHED` keys, so a flood of random keys cannot grow it. When a key is read from the
database (at most once per cache period per container) its ``last_used_ms`` is updated inside
the container's next write transaction (:func:`_record_use`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from functions.common import caches
from functions.common.store.db import Database, execute, fetch_all, fetch_one

logger = logging.getLogger(__name__)

SCOPES = ("ingest", "read", "metrics", "admin")
"""ingest: POST /events; read: GET /recommendations; metrics: GET /metrics; admin: everything."""
KEY_PATTERN = re.compile(r"mrk_(?P<key_id>[0-9a-f]{12})_[A-Za-z0-9_-]{43}")
MAX_CACHED = 4096


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    scopes: tuple[str, ...]
    created_ms: int
    last_used_ms: int | None
    revoked_ms: int | None

    @property
    def prefix(self) -> str:
        """What identifies the key to a person without revealing it: ``mrk_<key_id>``."""
        return f"mrk_{self.key_id}"

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _record(row: Any) -> ApiKey:
    return ApiKey(
        key_id=row["key_id"],
        name=row["name"],
        scopes=tuple(row["scopes"].split()),
        created_ms=row["created_ms"],
        last_used_ms=row["last_used_ms"],
        revoked_ms=row["revoked_ms"],
    )


def check_scopes(scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The scopes, deduplicated in :data:`SCOPES` order; ``ValueError`` for an unknown one."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(
            f"scopes must be one or more of {', '.join(SCOPES)}; got {unknown or 'none'}"
        )
    return tuple(scope for scope in SCOPES if scope in scopes)


def create_key(db: Database, scopes: list[str], name: str, now_ms: int) -> tuple[ApiKey, str]:
    """A new key with these scopes; returns its record and the key itself (shown once)."""
    granted = check_scopes(scopes)
    name = name.strip() or "unnamed"
    if len(name) > 100:
        raise ValueError("a key name is at most 100 characters")
    key_id = secrets.token_hex(6)
    key = f"mrk_{key_id}_{secrets.token_urlsafe(32)}"
    params = {
        "key_id": key_id,
        "name": name,
        "scopes": " ".join(granted),
        "secret_hash": hash_key(key),
        "now_ms": now_ms,
    }
    db.write(lambda conn: execute(conn, "http/api_keys", "insert_key", params))
    return ApiKey(key_id, name, granted, now_ms, None, None), key


def list_keys(db: Database) -> list[ApiKey]:
    return [
        _record(row) for row in db.read(lambda conn: fetch_all(conn, "http/api_keys", "list_keys"))
    ]


def key_prefix(given: str) -> str:
    """``mrk_<key id>`` of a key id, a prefix or a whole key (safe to print)."""
    match = KEY_PATTERN.fullmatch(given)
    return "mrk_" + (match["key_id"] if match else given.removeprefix("mrk_")[:12])


def revoke_key(db: Database, key_id: str, now_ms: int) -> bool:
    """Revoke the key whose id (or ``mrk_<id>`` prefix, or the whole key) is given; ``False``
    when no such unrevoked key exists."""
    params = {"key_id": key_prefix(key_id).removeprefix("mrk_"), "now_ms": now_ms}
    return db.write(lambda conn: execute(conn, "http/api_keys", "revoke_key", params).rowcount) == 1


class KeyCache:
    """What lookups found, per presented key (by hash), for ``ttl`` seconds.

    Valid and revoked keys are kept apart from unknown ones, each in a bounded LRU, so a flood of
    made-up keys can neither grow memory nor push the real keys out; a presented value that is
    not even shaped like a key is refused without a lookup or an entry."""

    def __init__(self, max_entries: int = MAX_CACHED) -> None:
        self._known: OrderedDict[str, tuple[float, ApiKey]] = OrderedDict()
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def lookup(self, db: Database, presented: str, ttl: float, now_ms: int) -> ApiKey | None:
        """The key ``presented`` names (revoked or not), or ``None`` for no such key."""
        match = KEY_PATTERN.fullmatch(presented)
        if match is None:
            return None
        digest = hash_key(presented)
        now = time.monotonic()
        with self._lock:
            known = self._known.get(digest)
            if known is not None and known[0] > now:
                self._known.move_to_end(digest)
                return known[1]
            unknown_until = self._unknown.get(digest)
            if unknown_until is not None and unknown_until > now:
                return None
        found = self._load(db, match["key_id"], digest)
        with self._lock:
            if found is None:
                self._remember(self._unknown, digest, now + ttl)
            else:
                self._remember(self._known, digest, (now + ttl, found))
        if found is not None and found.revoked_ms is None:
            _record_use(db, found.key_id, now_ms)
        return found

    def _remember(self, entries: OrderedDict[str, Any], digest: str, value: Any) -> None:
        entries[digest] = value
        entries.move_to_end(digest)
        while len(entries) > self._max:
            entries.popitem(last=False)

    @staticmethod
    def _load(db: Database, key_id: str, digest: str) -> ApiKey | None:
        row = db.read(
            lambda conn: fetch_one(conn, "http/api_keys", "key_by_id", {"key_id": key_id})
        )
        if row is None or not hmac.compare_digest(row["secret_hash"], digest):
            return None
        return _record(row)

    def clear(self) -> None:
        with self._lock:
            self._known.clear()
            self._unknown.clear()


def _record_use(db: Database, key_id: str, now_ms: int) -> None:
    """``last_used_ms``, written with this container's next write transaction (a feed's
    impressions, a batch of events; the metrics function's hourly run) rather than in one of its
    own: on SQLite inside it (no extra fsync, and nothing left holding the lock when Lambda
    freezes the container), on PostgreSQL right after its commit (see ``ride_along``)."""

    def touch(conn: Any) -> None:
        try:
            execute(conn, "http/api_keys", "touch_key", {"key_id": key_id, "now_ms": now_ms})
        except Exception as error:  # bookkeeping only: never fails the write it rides on
            logger.warning("could not record the use of key mrk_%s: %s", key_id, error)

    db.ride_along(touch)


key_cache = KeyCache()
caches.register(key_cache.clear)
