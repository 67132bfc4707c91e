from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions.common.store.postgres_engine import PostgresDatabase
from tests.utils import postgres


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, migrated database on the test server; skips (saying why) without one."""
    server = postgres.server_url()
    if server is None:
        pytest.skip(postgres.NO_SERVER)
    postgres.ensure_template(server)
    url = postgres.fresh_database(server)
    yield url
    postgres.drop_database(server, url)


@pytest.fixture
def pg(postgres_url: str) -> Iterator[PostgresDatabase]:
    database = PostgresDatabase(postgres_url, retries=2, wait_seconds=2)
    yield database
    database.close()
