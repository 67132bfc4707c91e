"""The SQLite engine: one file, its migrations, transactions and retries while the file is busy.

One :class:`SqliteDatabase` per container (see ``functions.common.store.db.get_database``).
Writes go through :meth:`Database.write`, which runs a unit of work inside ``BEGIN IMMEDIATE``;
reads that need one snapshot go through :meth:`Database.read`. Both retry while SQLite reports
the file busy or locked (another Lambda container holds the lock), with jittered exponential
backoff between attempts.

The wait is bounded by total time, not by a count: a request spends at most ``wait_seconds``
(``MEDIAREC_WRITE_WAIT_SECONDS``) waiting, SQLite's busy timeouts and our backoff sleeps together,
before :class:`DatabaseBusyError`, which the API answers 503 with ``Retry-After``. Each attempt's
busy timeout is ``min(busy_timeout_ms, time left)``, and ``retries`` still caps the attempts (a
zero busy timeout with a count of retries is the test suite's way of failing fast).

Any error inside the transaction rolls the whole unit back, including a ``COMMIT`` that found the
file busy (on a rollback journal the commit needs an exclusive lock that readers can hold off;
SQLite then keeps the transaction open, half a batch in it): the retry runs the whole unit again,
so a half-written batch never stays. The unit of work must therefore be safe to run again: every
write in this project is idempotent (primary keys, ``ON CONFLICT``). A process killed inside a
transaction leaves nothing behind either: the next connection rolls back the hot journal (DELETE,
TRUNCATE) or ignores the uncommitted WAL frames (tests/functions/test_crash_safety.py).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from functions.common.store import sql
from functions.common.store.checkpoints import BACKSTOP_PAGES, Checkpointer
from functions.common.store.db import MAX_RIDERS, Database, migration_files, retry_while

T = TypeVar("T")
logger = logging.getLogger(__name__)

_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


class SqliteConnection(sqlite3.Connection):
    """A ``sqlite3.Connection`` that says which engine it is (named queries pick their dialect)."""

    dialect = "sqlite"


def is_busy(error: sqlite3.OperationalError) -> bool:
    """True for SQLITE_BUSY / SQLITE_LOCKED (including their extended codes)."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _BUSY_CODES
    message = str(error).lower()
    return "database is locked" in message or "database is busy" in message


def kept_if(conn: sqlite3.Connection, work: Callable[[], bool]) -> bool:
    """Run ``work()`` inside a savepoint of the caller's write transaction and keep what it did
    only when it returns True; anything else (False, or an error) undoes it, and the
    transaction goes on as it was before. SQLite only: Aurora DSQL has no savepoints."""
    conn.execute("SAVEPOINT kept_if")
    kept = False
    try:
        kept = work()
    finally:
        # a failed statement may have rolled the whole transaction back (SQLITE_FULL, IOERR,
        # a busy cache spill): then there is no savepoint left, and the error that did it is
        # the one to raise (a busy one is retried by the write)
        if conn.in_transaction:
            if not kept:
                conn.execute("ROLLBACK TO kept_if")
            conn.execute("RELEASE kept_if")
    return kept


class SqliteDatabase(Database):
    """A SQLite connection shared by the requests of one container (thread-safe via a lock)."""

    dialect = "sqlite"

    def __init__(
        self,
        path: Path | str,
        *,
        journal_mode: str = "wal",
        busy_timeout_ms: int = 5000,
        retries: int = 8,
        wait_seconds: float = 8.0,
        read_only: bool = False,
    ) -> None:
        """``busy_timeout_ms``: the longest one attempt lets SQLite wait for a lock;
        ``retries``: attempts after the first, at most; ``wait_seconds``: the total time one
        :meth:`write` or :meth:`read` may spend waiting, all attempts and sleeps together."""
        self.path = str(path)
        self.retries = retries
        self.busy_timeout_ms = int(busy_timeout_ms)
        self.wait_seconds = wait_seconds
        self.read_only = read_only
        self._lock = threading.RLock()
        self._riders: list[Callable[[sqlite3.Connection], None]] = []
        self._checkpointer: Checkpointer | None = None
        if self.path != ":memory:" and not read_only:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        target = f"file:{self.path}?mode=ro" if read_only else self.path
        self.conn = sqlite3.connect(
            target,
            uri=read_only,
            isolation_level=None,  # autocommit; transactions are explicit
            check_same_thread=False,
            timeout=busy_timeout_ms / 1000,
            factory=SqliteConnection,
        )
        self.conn.row_factory = sqlite3.Row
        self.conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
        self._timeout_ms = self.busy_timeout_ms  # what the connection's busy timeout is now
        self._unfinished = False  # a transaction whose ROLLBACK failed is still open
        self.conn.execute("PRAGMA foreign_keys = ON")
        if not read_only:
            self._retry(lambda: self._set_journal_mode(journal_mode))

    # -- set-up ---------------------------------------------------------------------------
    def _set_journal_mode(self, mode: str) -> None:
        if self.path == ":memory:":
            return
        current = self.conn.execute(f"PRAGMA journal_mode = {mode}").fetchone()[0]
        if current.lower() != mode.lower():
            raise RuntimeError(f"could not set journal_mode={mode} (SQLite kept {current})")
        # NORMAL is durable in WAL mode and safe; rollback journals keep FULL.
        self.conn.execute("PRAGMA synchronous = " + ("NORMAL" if mode == "wal" else "FULL"))
        if mode == "wal" and self._checkpointer is None:
            self.conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
            self._checkpointer = Checkpointer(self.path)

    def schema_version(self) -> int:
        return self.read(lambda conn: int(conn.execute("PRAGMA user_version").fetchone()[0]))

    def migrate(self) -> int:
        """Apply pending migrations exactly once, even when several processes start together.

        The version check happens inside ``BEGIN IMMEDIATE``, so a second cold start waits for
        the first one's lock and then finds nothing left to do. Every pending file and the new
        ``user_version`` commit together (SQLite's DDL is transactional): a process killed
        midway leaves the previous version, and the next start applies the files again.
        """
        files = migration_files(self.dialect)
        target = len(files)
        if self.schema_version() >= target:
            return self.schema_version()

        def apply(conn: sqlite3.Connection) -> int:
            current = int(conn.execute("PRAGMA user_version").fetchone()[0])
            for version, path in files:
                if version <= current:
                    continue
                for statement in sql.statements(path.read_text(encoding="utf-8")):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version}")
                logger.info("applied migration %s", path.name)
            return target

        return self.write(apply)

    # -- transactions ---------------------------------------------------------------------
    def _retry(self, attempt: Callable[[], T]) -> T:
        """``attempt()``, again after a jittered, growing sleep while SQLite reports busy, until
        ``wait_seconds`` have passed or ``retries`` are spent; then ``DatabaseBusyError``. Each
        attempt's busy timeout is what is left of the wait (at most ``busy_timeout_ms``)."""

        def one(seconds_left: float) -> T:
            with self._lock:
                left_ms = int(seconds_left * 1000)
                self._use_busy_timeout(max(0, min(self.busy_timeout_ms, left_ms)))
                return attempt()

        def busy(error: BaseException) -> bool:
            return isinstance(error, sqlite3.OperationalError) and is_busy(error)

        try:
            return retry_while(
                one,
                busy,
                wait_seconds=self.wait_seconds,
                retries=self.retries,
                what="database stayed locked",
            )
        finally:
            if self._timeout_ms != self.busy_timeout_ms:  # for code using ``conn`` directly
                with self._lock:
                    self._use_busy_timeout(self.busy_timeout_ms)

    def _use_busy_timeout(self, milliseconds: int) -> None:
        if milliseconds != self._timeout_ms:
            self.conn.execute(f"PRAGMA busy_timeout = {int(milliseconds)}")
            self._timeout_ms = milliseconds

    def _begin(self, statement: str) -> None:
        if self._unfinished and self.conn.in_transaction:  # a rollback failed: try it again
            self.conn.execute("ROLLBACK")
        self._unfinished = False
        self.conn.execute(statement)  # a transaction already open (nesting) fails here

    def _rollback(self) -> None:
        """Undo the open transaction, if SQLite has not already; the caller re-raises its error."""
        if not self.conn.in_transaction:
            return
        try:
            self.conn.execute("ROLLBACK")
        except sqlite3.Error:  # keep the error that got us here; the next _begin tries again
            self._unfinished = True
            logger.exception("rollback failed")

    def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(conn)`` in one ``BEGIN IMMEDIATE`` transaction, retrying while busy.

        Whatever fails, the busy ``COMMIT`` of a rollback journal included, rolls the whole
        transaction back before the error leaves (or the retry runs ``work`` again)."""

        def attempt() -> T:
            with self._lock:
                self._begin("BEGIN IMMEDIATE")
                riders = list(self._riders)
                try:
                    result = work(self.conn)
                    for ride in riders:
                        ride(self.conn)
                    self.conn.execute("COMMIT")  # may itself be busy on a rollback journal
                except BaseException:
                    self._rollback()
                    raise
                del self._riders[: len(riders)]  # committed: done
            checkpointer = self._checkpointer  # close() may clear it meanwhile
            if checkpointer is not None:
                checkpointer.committed()
            return result

        return self._retry(attempt)

    def ride_along(self, bookkeeping: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``bookkeeping(conn)`` inside this connection's next write transaction, after its
        work, instead of in a transaction (and an fsync) of its own: for writes that may wait,
        such as an API key's last-used time. It must not raise (it would fail that write);
        pending ones are lost if the container ends before its next write."""
        with self._lock:
            if len(self._riders) < MAX_RIDERS:
                self._riders.append(bookkeeping)

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads (deferred transaction), not retried."""
        with self._lock:
            self._begin("BEGIN")
            try:
                yield self.conn
            except BaseException:
                self._rollback()
                raise
            self.conn.execute("COMMIT")

    def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run read-only ``work(conn)`` in one snapshot, retrying while busy."""

        def attempt() -> T:
            with self.reading() as conn:
                return work(conn)

        return self._retry(attempt)

    def reader(self) -> SqliteDatabase:
        return SqliteDatabase(self.path, read_only=True, busy_timeout_ms=self.busy_timeout_ms)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        with self._lock:
            self.conn.close()
