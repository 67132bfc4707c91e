"""The PostgreSQL engine (Aurora PostgreSQL, any PostgreSQL 13+; written to Aurora DSQL's subset).

Imported only when ``MEDIAREC_DATABASE_URL`` names a ``postgresql://`` server, so psycopg never
costs the SQLite cold start anything. One connection per container, in autocommit mode with
explicit transactions, reused across warm invocations and opened again when the server closed it.

- **Transactions** are ``REPEATABLE READ`` (snapshot isolation, which is what Aurora DSQL gives),
  reads ``READ ONLY``. A unit of work that fails with a serialization failure (SQLSTATE 40001,
  which DSQL raises at ``COMMIT`` under optimistic concurrency) or a deadlock (40P01), or whose
  connection was lost, is rolled back and run again whole, within the same wait bound as SQLite's
  busy file (:func:`functions.common.store.db.retry_while`).
- **Parameters** stay ``:name`` in every ``sql/*.sql`` file; :func:`to_pyformat` turns them into
  psycopg's ``%(name)s`` once per statement text. Values are bound on the client
  (``ClientCursor``), as SQLite binds them, so that ``:kind IS NULL`` needs no type cast.
- **Rows** answer by position and by name (``sqlite3.Row``'s shape), and numeric results come
  back as ``int`` or ``float`` rather than ``Decimal`` (PostgreSQL's ``SUM`` of a ``BIGINT``).
- **Migrations** (``sql/migrations/postgresql/``) run one statement per transaction, as DSQL
  requires of DDL, each written to be run again (``IF NOT EXISTS``); the version is recorded in
  ``schema_version`` after a file's statements all ran, so a start killed midway, or two starts
  at once, apply the same file again harmlessly.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors

from functions.common import clock
from functions.common.store import sql
from functions.common.store.db import MAX_RIDERS, Database, migration_files, retry_while
from functions.common.store.sql import Query

T = TypeVar("T")
logger = logging.getLogger(__name__)

RETRIED_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock wait
DRAWN_NUMBERS = {"items_row_number", "snapshot_generations_pkey"}
"""The unique constraints on numbers a transaction draws as MAX + 1 (an item's row number, a
snapshot generation; DSQL has no sequences): a violation of one means another transaction drew
the same number first, and running the loser again draws the next. Any other unique violation
is a real error and is raised."""
CONNECT_TIMEOUT_SECONDS = 10
RIDER_LOCK_TIMEOUT_MS = 2000
CATALOG_RACES = {"pg_type_typname_nsp_index", "pg_class_relname_nsp_index"}
"""The system catalog's unique indexes that two concurrent ``CREATE ... IF NOT EXISTS`` of one
object collide on (PostgreSQL checks existence before it inserts the catalog row)."""

_PARAMETER = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|::|%|\?|:([A-Za-z_]\w*)")


@lru_cache(maxsize=1024)
def to_pyformat(text: str) -> str:
    """``:name`` parameters as ``%(name)s`` and ``?`` ones as ``%s``, outside string literals,
    quoted names, comments and ``::`` casts; every ``%`` doubled, in literals too (psycopg reads
    the whole text for placeholders when parameters are given; without parameters the text is
    sent as it is, unconverted)."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if match.group(1) is not None:
            return f"%({match.group(1)})s"
        if token == "?":
            return "%s"
        return token.replace("%", "%%")

    return _PARAMETER.sub(replace, text)


class PgRow(tuple):
    """A row by position (a tuple) and by column name, with ``keys()``."""

    _names: dict[str, int]

    def __new__(cls, values: Sequence[Any], names: dict[str, int]) -> PgRow:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, memoryview):
        return value.tobytes()
    return value


def _row_maker(cursor: Any) -> Callable[[Sequence[Any]], PgRow]:
    names = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: PgRow([_plain(v) for v in values], names)


def _tuple_maker(cursor: Any) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    return lambda values: tuple(_plain(v) for v in values)


class PostgresConnection:
    """What a unit of work receives: ``execute``/``executemany`` on ``:name`` statements.

    A transaction's ``BEGIN`` (and the ``COMMIT`` of a batch of reads that a write ends) is not
    a round trip of its own: it waits in ``pending`` and travels in front of the transaction's
    first statement, in the same message (client-side binding allows several statements)."""

    dialect = "postgresql"

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw
        self.pending = ""
        self.answers: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
        """Prefetched results (:meth:`prefetch`) by their statement's exact text."""

    def _answered(self, statement: str, parameters: Any) -> tuple[list[str], list[Any]] | None:
        """What a prefetch already got for this statement and these parameters (once)."""
        if not self.answers:
            return None
        cursor = psycopg.ClientCursor(self.raw)
        if parameters is None:
            text = statement
        else:
            text = cursor.mogrify(to_pyformat(statement), _params(parameters))
        return self.answers.pop(text, None)

    def prefetch(self, statements: Sequence[tuple[str, Any]]) -> None:
        """Send every statement in one message (with what is pending in front) and keep each
        one's rows for the identical statement when it is executed. Each statement must
        answer one set of rows, or nothing is kept (ProgrammingError)."""
        cursor = psycopg.ClientCursor(self.raw)
        texts = [cursor.mogrify(to_pyformat(text), _params(params)) for text, params in statements]
        prefix, self.pending = self.pending, ""
        # each statement on lines of its own: a trailing "-- comment" cannot swallow the next
        message = prefix + "".join(f"{text}\n;\n" for text in texts)
        cursor.execute(message.encode(self.raw.info.encoding))  # values bound: nothing to parse
        answers = {}
        for n in range(prefix.count(";") + len(texts)):  # BEGIN, SET LOCAL (a batch's COMMIT)
            if n and not cursor.nextset():
                raise psycopg.ProgrammingError("a prefetch answered fewer results than asked")
            reading = n - prefix.count(";")
            if reading < 0:
                continue
            if cursor.pgresult is None or cursor.pgresult.status != psycopg.pq.ExecStatus.TUPLES_OK:
                raise psycopg.ProgrammingError("a prefetched statement answered no rows")
            names = [column.name for column in cursor.description or []]
            answers[texts[reading]] = (names, cursor.fetchall())
        if cursor.nextset():
            raise psycopg.ProgrammingError("a prefetch answered more results than asked")
        self.answers.update(answers)

    def _send(self, cursor: psycopg.ClientCursor[Any], statement: str, parameters: Any) -> None:
        prefix, self.pending = self.pending, ""
        before = self.raw.info.transaction_status
        try:
            if parameters is None:
                cursor.execute((prefix + statement).encode())  # as it is: no placeholders parsed
            else:
                cursor.execute(prefix + to_pyformat(statement), _params(parameters))
        except BaseException:
            if prefix and not self.raw.broken and self.raw.info.transaction_status == before:
                self.pending = prefix  # refused before it was sent (a missing parameter)
            raise
        if prefix:
            while cursor.nextset():  # the statement's own result is the last one
                pass

    def flush(self) -> bool:
        """Send what is pending on its own; whether anything was."""
        if not self.pending:
            return False
        prefix, self.pending = self.pending, ""
        self.raw.execute(prefix.encode())
        return True

    def execute(self, statement: str, parameters: Any = None) -> Any:
        answered = self._answered(statement, parameters)
        if answered is not None:
            return AnsweredCursor(*answered)
        cursor = psycopg.ClientCursor(self.raw, row_factory=_row_maker)
        self._send(cursor, statement, parameters)
        return cursor

    def execute_tuples(self, statement: str, parameters: Any = None) -> list[tuple[Any, ...]]:
        answered = self._answered(statement, parameters)
        if answered is not None:
            return [tuple(_plain(v) for v in row) for row in answered[1]]
        cursor = psycopg.ClientCursor(self.raw, row_factory=_tuple_maker)
        self._send(cursor, statement, parameters)
        return cursor.fetchall()

    def commit(self) -> None:
        """Outside ``write``/``read`` every statement commits on its own (autocommit, as the
        SQLite engine's connection): nothing is pending."""
        if self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self.raw.execute("COMMIT")

    def execute_each(self, statement: str, rows: Sequence[Any]) -> list[int]:
        """Each row's rowcount: the first run carries what is pending, the others go in one
        pipeline (one round trip however many rows)."""
        counts = [self.execute(statement, rows[0]).rowcount]
        if len(rows) > 1:
            cursor = psycopg.ClientCursor(self.raw)
            text = to_pyformat(statement)
            cursor.executemany(text, [_params(row) for row in rows[1:]], returning=True)
            counts.append(cursor.rowcount)
            while cursor.nextset():
                counts.append(cursor.rowcount)
        return counts

    def executemany(self, statement: str, rows: Any) -> psycopg.ClientCursor[PgRow]:
        """All rows in one round trip (psycopg pipelines ``executemany``)."""
        self.flush()
        cursor = psycopg.ClientCursor(self.raw, row_factory=_row_maker)
        cursor.executemany(to_pyformat(statement), [_params(row) for row in rows])
        return cursor


class AnsweredCursor:
    """A prefetched result, read as a cursor's (rows by name and position)."""

    def __init__(self, names: list[str], rows: list[tuple[Any, ...]]) -> None:
        index = {name: n for n, name in enumerate(names)}
        self._rows = [PgRow([_plain(v) for v in row], index) for row in rows]
        self.rowcount = len(rows)

    def fetchall(self) -> list[PgRow]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> PgRow | None:
        return self._rows.pop(0) if self._rows else None

    def __iter__(self) -> Iterator[PgRow]:
        return iter(self.fetchall())


def _params(parameters: Any) -> Any:
    if parameters is None:
        return None
    if isinstance(parameters, Mapping):
        return dict(parameters)
    return parameters


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is not None:
        host = parts.hostname or ""
        netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    query = re.sub(r"(?i)(^|&)(password)=[^&]*", r"\1\2=***", parts.query)
    return urlunsplit(parts._replace(query=query))


def contended(error: BaseException) -> bool:
    """A serialization failure, a deadlock, a drawn number taken meanwhile, or a connection the
    server closed: run again."""
    if not isinstance(error, psycopg.Error):
        return False
    state = error.sqlstate
    if state in RETRIED_SQLSTATES:
        return True
    if state == "23505" and error.diag.constraint_name in DRAWN_NUMBERS:
        return True
    # class 08: connection exceptions; 57P01-57P03: the server shut the session down
    lost = state is None or state.startswith("08") or state in {"57P01", "57P02", "57P03"}
    return isinstance(error, psycopg.OperationalError) and lost


class PostgresDatabase(Database):
    """A PostgreSQL connection shared by the requests of one container (thread-safe via a lock)."""

    dialect = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        retries: int = 8,
        wait_seconds: float = 8.0,
        read_only: bool = False,
        secret_arn: str = "",
    ) -> None:
        self.url = url
        self.secret_arn = secret_arn
        self._credentials: dict[str, Any] | None = None
        self.path = redacted(url)
        self.retries = retries
        self.wait_seconds = wait_seconds
        self.read_only = read_only
        self._lock = threading.RLock()
        self._riders: list[Callable[[PostgresConnection], None]] = []
        self._raw: psycopg.Connection[Any] | None = None
        self._wrapped: PostgresConnection | None = None
        self._batch: _ReadBatch | None = None
        self._connection()  # fail at start-up, not at the first request, on a wrong URL

    @property
    def conn(self) -> PostgresConnection:
        """The connection outside any transaction (each statement commits on its own), as
        ``SqliteDatabase.conn``: for the CLI's one-off statements and the tests' checks."""
        with self._lock:
            return self._connection()

    def _connection(self) -> PostgresConnection:
        if self._raw is None or self._raw.closed or self._raw.broken:
            if self._raw is not None:
                logger.warning("the PostgreSQL connection was closed; opening a new one")
            self._raw = self._open()
            self._wrapped = PostgresConnection(self._raw)
            if self._batch is not None:
                self._batch.open = False  # that transaction went with the old connection
        assert self._wrapped is not None
        return self._wrapped

    def _open(self) -> psycopg.Connection[Any]:
        """A new connection; with a secret, its credentials (read once, and once more when the
        server refuses them: RDS rotated the password)."""

        def connect() -> psycopg.Connection[Any]:
            return psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=max(2, min(CONNECT_TIMEOUT_SECONDS, int(self.wait_seconds))),
                application_name="mediarec",
                **self._secret_credentials(),
            )

        try:
            return connect()
        except psycopg.OperationalError as error:
            if not self.secret_arn or "FATAL" not in str(error):
                raise  # unreachable, or no secret to read again
            self._credentials = None  # the server refused the login: RDS may have rotated it
            return connect()

    def _secret_credentials(self) -> dict[str, Any]:
        if not self.secret_arn:
            return {}
        if self._credentials is None:
            from functions.common.store.secrets import database_credentials

            self._credentials = database_credentials(self.secret_arn)
        return self._credentials

    def _begin(self, conn: PostgresConnection, *, read_only: bool, seconds_left: float) -> None:
        """Queue the transaction's start (sent with its first statement). A row lock another
        transaction holds (a long import) is waited for at most what is left of the wait bound,
        then 55P03: retried, or DatabaseBusyError (a 503). An open batch of reads is committed
        in the same message."""
        mode = " READ ONLY" if read_only or self.read_only else ""
        wait_ms = max(1, int(seconds_left * 1000))
        conn.answers.clear()  # prefetched in a transaction that this one ends
        ending = ""
        if self._batch is not None and self._batch.open:
            ending, self._batch.open = "COMMIT; ", False
        conn.pending = (
            f"{ending}BEGIN ISOLATION LEVEL REPEATABLE READ{mode}; "
            f"SET LOCAL lock_timeout = {wait_ms}; "
        )

    def _end(self, conn: PostgresConnection, command: str = "COMMIT") -> None:
        """Commit (or roll back) the transaction; one that never sent a statement was never
        begun, and only the batch it would have committed is."""
        if conn.pending:
            ended_batch = conn.pending.startswith("COMMIT; ")
            conn.pending = ""
            if ended_batch:
                conn.raw.execute("COMMIT")
            return
        conn.raw.execute(command)

    def _transaction(
        self, work: Callable[[PostgresConnection], T], *, read_only: bool, seconds_left: float
    ) -> T:
        with self._lock:
            conn = self._connection()
            self._begin(conn, read_only=read_only, seconds_left=seconds_left)
            riders = [] if read_only else list(self._riders)
            try:
                result = work(conn)
                _refuse_aborted(conn)
                self._end(conn)
            except BaseException:
                self._rollback(conn)
                raise
            del self._riders[: len(riders)]
            for ride in riders:
                self._ride_after(conn, ride)
            return result

    def _ride_after(
        self, conn: PostgresConnection, ride: Callable[[PostgresConnection], None]
    ) -> None:
        """Bookkeeping after the commit, in a short READ COMMITTED transaction of its own that
        waits at most RIDER_LOCK_TIMEOUT_MS for a row lock: inside the write's REPEATABLE READ
        transaction, two containers touching one row (a shared API key's last use) would fail
        one of them with 40001, and the failed statement would abort its write."""
        conn.answers.clear()
        conn.pending = (
            "BEGIN ISOLATION LEVEL READ COMMITTED; "
            f"SET LOCAL lock_timeout = {RIDER_LOCK_TIMEOUT_MS}; "
        )
        try:
            ride(conn)
            _refuse_aborted(conn)
            self._end(conn)
        except psycopg.Error:
            logger.exception("bookkeeping after a commit failed")
            self._rollback(conn)

    def _rollback(self, conn: PostgresConnection) -> None:
        conn.answers.clear()
        if conn.raw.closed or conn.raw.broken:
            conn.pending = ""
            return
        try:
            self._end(conn, "ROLLBACK")
        except psycopg.Error:  # keep the error that got us here; the next use reconnects
            logger.exception("rollback failed")
            conn.raw.close()

    def write(self, work: Callable[[Any], T]) -> T:
        """Run ``work(conn)`` in one transaction, run again whole after a serialization failure,
        a deadlock or a lost connection, within ``wait_seconds``."""
        return self._retried(work, read_only=False)

    def read(self, work: Callable[[Any], T]) -> T:
        with self._lock:
            if self._batch is None:
                return self._retried(work, read_only=True)
            try:
                return self._batched(work, self._batch)
            except psycopg.Error as error:
                if not contended(error):
                    raise
                # a lost connection: this read on its own, retried as any other
                return self._retried(work, read_only=True)

    def _batched(self, work: Callable[[Any], T], batch: _ReadBatch) -> T:
        """``work`` in the batch's read transaction, begun by its first statement."""
        conn = self._connection()
        if not batch.open:
            self._begin(conn, read_only=True, seconds_left=self.wait_seconds)
        try:
            result = work(conn)
            _refuse_aborted(conn)
        except BaseException:
            began = batch.open or not conn.pending  # a statement went: its BEGIN too
            conn.pending = ""
            batch.open = False
            if began:
                self._rollback(conn)
            raise
        if conn.pending:  # no statement ran: nothing begun
            conn.pending = ""
        else:
            batch.open = True
        return result

    def _retried(self, work: Callable[[Any], T], *, read_only: bool) -> T:
        return retry_while(
            lambda left: self._transaction(work, read_only=read_only, seconds_left=left),
            contended,
            wait_seconds=self.wait_seconds,
            retries=self.retries,
            what=f"database kept refusing the {'read' if read_only else 'transaction'}",
        )

    def prefetch(self, queries: Sequence[Query]) -> None:
        """The batch's independent reads in one message (see :meth:`Database.prefetch`). A
        failure here is not the reads' failure: they run again, one by one, when asked."""
        with self._lock:
            batch = self._batch
            if batch is None or not queries:
                return
            try:
                statements = [
                    sql.expand_params(sql.query(file, name, self.dialect), params)
                    for file, name, params in queries
                ]
            except Exception:  # the reads report it themselves, if they are asked for
                logger.exception("a feed's reads could not be prefetched")
                return
            conn = self._connection()
            if not batch.open:
                self._begin(conn, read_only=True, seconds_left=self.wait_seconds)
            try:
                conn.prefetch(statements)
            except BaseException as error:
                began = batch.open or not conn.pending  # the message went: its BEGIN too
                conn.answers.clear()
                conn.pending = ""
                batch.open = False
                if began:
                    self._rollback(conn)
                if not isinstance(error, psycopg.Error):
                    raise
                logger.warning("prefetching a feed's reads failed; reading them one by one")
                return
            batch.open = True

    @contextmanager
    def batched_reads(self) -> Iterator[None]:
        """The reads inside share one read transaction (one snapshot, one BEGIN and COMMIT
        instead of one pair per read); a write inside commits it in the write's first message.
        Holds the container's connection for the block's duration."""
        with self._lock:
            if self._batch is not None:  # nested: the outer block's batch
                yield
                return
            batch = self._batch = _ReadBatch()
            try:
                yield
            finally:
                self._batch = None
                if self._wrapped is not None:
                    self._wrapped.answers.clear()
                if batch.open and self._wrapped is not None and not self._wrapped.raw.broken:
                    self._wrapped.raw.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[PostgresConnection]:
        with self._lock:
            conn = self._connection()
            self._begin(conn, read_only=True, seconds_left=self.wait_seconds)
            try:
                yield conn
            except BaseException:
                self._rollback(conn)
                raise
            self._end(conn)

    def ride_along(self, bookkeeping: Callable[[Any], None]) -> None:
        """Run ``bookkeeping(conn)`` right after the next write transaction commits, on the same
        connection, outside any transaction (one round trip more, only when one is pending)."""
        with self._lock:
            if len(self._riders) < MAX_RIDERS:
                self._riders.append(bookkeeping)

    # -- schema ---------------------------------------------------------------------------
    def schema_version(self) -> int:
        def version(conn: PostgresConnection) -> int:
            row = conn.execute(sql.query("store/schema", "schema_version", self.dialect)).fetchone()
            return int(row[0] or 0) if row is not None else 0

        exists = self.read(
            lambda conn: conn.execute(
                sql.query("store/schema", "schema_table_exists", self.dialect)
            ).fetchone()[0]
        )
        return self.read(version) if exists else 0

    def migrate(self) -> int:
        """Apply pending migration files, each statement in a transaction of its own, then
        record the file's version (see the module's docstring)."""
        files = migration_files(self.dialect)
        current = self.schema_version()
        for version, path in files:
            if version <= current:
                continue
            for statement in sql.statements(path.read_text(encoding="utf-8")):
                self._ddl(statement)
            self.write(functools.partial(_record_version, version))
            logger.info("applied migration %s", path.name)
        return max(current, len(files))

    def _ddl(self, statement: str) -> None:
        """One migration statement in its own transaction; one that a concurrent start applied
        first is fine (its error aborted this transaction, which is rolled back, not committed)."""
        first_line = statement.split("\n", 1)[0][:80]
        try:
            self.write(functools.partial(_run_statement, statement))
        except (pg_errors.DuplicateTable, pg_errors.DuplicateObject):
            logger.info("already applied by another start: %s", first_line)
        except pg_errors.UniqueViolation as error:  # two starts creating one catalog entry
            if error.diag.constraint_name not in CATALOG_RACES:
                raise  # e.g. a unique index that the data violates: the migration must fail
            logger.info("already applied by another start: %s", first_line)

    def reader(self) -> PostgresDatabase:
        return PostgresDatabase(
            self.url,
            retries=self.retries,
            wait_seconds=self.wait_seconds,
            read_only=True,
            secret_arn=self.secret_arn,
        )

    def close(self) -> None:
        with self._lock:
            if self._raw is not None:
                self._raw.close()
                self._raw = None


@dataclass
class _ReadBatch:
    """A :meth:`PostgresDatabase.batched_reads` block: whether its transaction is open."""

    open: bool = False


def _record_version(version: int, conn: PostgresConnection) -> None:
    params = {"version": version, "now_ms": clock.now_ms()}
    conn.execute(sql.query("store/schema", "record_version", "postgresql"), params)


def _refuse_aborted(conn: PostgresConnection) -> None:
    """A unit of work that caught the error of one of its statements left its transaction
    aborted: COMMIT would answer ROLLBACK without an error, and the write would be lost."""
    if conn.raw.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
        raise pg_errors.InFailedSqlTransaction(
            "a statement of this transaction failed and its error was caught: nothing was written"
        )


def _run_statement(statement: str, conn: PostgresConnection) -> None:
    conn.execute(statement)
