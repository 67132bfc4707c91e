"""A real PostgreSQL server for the tests: ``MEDIAREC_TEST_POSTGRES_URL`` names it (``.ci/run``
starts one from Debian's packages; see the README's "Tests on PostgreSQL").

Each test process gets one database, cloned once from a template migrated per session
(``CREATE DATABASE ... TEMPLATE``: a file copy, not a replay of the migrations), and emptied
before every test that uses it. Without the variable, these tests skip and say why.
"""

from __future__ import annotations

import itertools
import os
from urllib.parse import urlsplit, urlunsplit

SERVER_VARIABLE = "MEDIAREC_TEST_POSTGRES_URL"
TEMPLATE = "mediarec_test_template"
NO_SERVER = (
    f"no PostgreSQL server for the tests: set {SERVER_VARIABLE}=postgresql://user@host:port/db "
    "(bash .ci/run starts one)"
)
_numbers = itertools.count(1)


def server_url() -> str | None:
    return os.environ.get(SERVER_VARIABLE) or None


def database_url(server: str, name: str) -> str:
    """``server``'s URL with its database replaced by ``name``."""
    parts = urlsplit(server)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin(server: str):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(server, autocommit=True)


def ensure_template(server: str) -> None:
    """Create and migrate the template database once per server (again if it is missing)."""
    from functions.common.store.postgres_engine import PostgresDatabase

    with _admin(server) as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (TEMPLATE,)
        ).fetchone()
        if exists is None:
            admin.execute(f'CREATE DATABASE "{TEMPLATE}"')
    template = PostgresDatabase(database_url(server, TEMPLATE))
    try:
        template.migrate()
    finally:
        template.close()


def drop_template(server: str) -> None:
    with _admin(server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')


_reusable: dict[str, str] = {}


def fresh_database(server: str) -> str:
    """A migrated, empty database of this process's own; its URL. Made once per process from
    the template (a file copy, ~0.3 s), then emptied per test (every table but the schema
    version truncated, ~20 ms): TRUNCATE is not in DSQL's subset, but this is test set-up."""
    url = _reusable.get(server)
    if url is None:
        name = f"mediarec_test_{os.getpid()}"
        with _admin(server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
        url = _reusable[server] = database_url(server, name)
        return url
    with _admin(url) as conn:
        conn.execute(  # a connection an earlier test left open would hold TRUNCATE's lock
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename <> 'schema_version'"
            )
        ]
        conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables))
    return url


def drop_database(server: str, url: str) -> None:
    """Forget a database made by :func:`fresh_database` (the reusable one stays for the next
    test; the server itself is thrown away with it at the end of CI)."""
    if _reusable.get(server) == url:
        return
    name = urlsplit(url).path.lstrip("/")
    with _admin(server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def use_copy_of(path, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Make a copy of the SQLite store at ``path`` this test's store: a copy of the file under
    SQLite, its rows copied into the test's own database under ``--engine postgresql``."""
    import shutil

    from functions.common.caches import reset_all

    if os.environ.get("MEDIAREC_DATABASE_URL", "").startswith("postgresql://"):
        from functions.common.store.db import get_database
        from functions.common.store.sqlite_engine import SqliteDatabase
        from training.store_copy import copy_store

        reset_all()
        source = SqliteDatabase(path, read_only=True)
        try:
            copy_store(source, get_database(), verify=False)
        finally:
            source.close()
        reset_all()
        return
    target = tmp_path / "copy.sqlite"
    shutil.copy(path, target)
    monkeypatch.setenv("MEDIAREC_DB_PATH", str(target))
    reset_all()
