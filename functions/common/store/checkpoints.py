"""WAL checkpoints on a background thread, not inside a request's commit.

In WAL mode SQLite copies the log back into the database file (a checkpoint) from whichever
commit pushes the log past ``wal_autocheckpoint`` pages: that request then pays for writing
~1,000 pages and an fsync (11-28 ms measured on a serving request that itself took 9 ms). A
:class:`Checkpointer` runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection instead, at
most once per ``interval_seconds`` while commits keep coming; PASSIVE never waits for readers
or writers, so requests go on while it works. (Checkpointing after every 32 commits instead
cost single-event ingest a quarter of its throughput in fsyncs.) The connection's own
auto-checkpoint stays on at a higher threshold as a backstop should this thread fall behind.

Only for long-lived processes on a local disk (``mediarec serve``, containers, benchmarks):
on EFS the journal mode is DELETE and there is no log to checkpoint.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

logger = logging.getLogger(__name__)
BACKSTOP_PAGES = 10_000  # the connection checkpoints itself beyond this (about 40 MB of log)


class Checkpointer:
    def __init__(self, path: str, interval_seconds: float = 1.0) -> None:
        self.path = path
        self.interval_seconds = interval_seconds
        self.checkpoints = 0  # completed runs, for tests and diagnostics
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """Called after each commit: there is log to checkpoint."""
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while True:
                self._wake.wait()
                if self._stop.wait(self.interval_seconds):  # let commits accumulate
                    return
                self._wake.clear()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as error:  # busy or I/O: the backstop still holds
                    logger.warning("background WAL checkpoint failed: %s", error)
        finally:
            conn.close()
