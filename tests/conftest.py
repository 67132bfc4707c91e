from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.common import clock
from functions.common.caches import reset_all
from functions.common.settings import Settings, get_settings
from functions.common.store.db import Database, get_database
from tests.utils import postgres
from tests.utils.factories import add_api_key
from training.local.lambda_invoke import EXAMPLE_API_KEY

# Tests run at a fixed instant: the timestamps in events/*.json are from this morning.
FIXED_NOW_MS = clock.parse_timestamp("2026-11-22T12:00:00Z")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--engine",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the store every test runs on: sqlite (default) or postgresql (the server that "
        f"{postgres.SERVER_VARIABLE} names; tests marked sqlite_only skip)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--engine") == "postgresql":
        server = postgres.server_url()
        if server is None:
            raise pytest.UsageError(f"--engine postgresql: {postgres.NO_SERVER}")
        postgres.ensure_template(server)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--engine") != "postgresql":
        return
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            why = marker.args[0] if marker.args else "SQLite's own behaviour"
            item.add_marker(pytest.mark.skip(reason=f"sqlite_only: {why}"))


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    """The engine this run's tests use (``--engine``)."""
    return str(request.config.getoption("--engine"))


@pytest.fixture(autouse=True)
def _isolated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[None]:
    """Every test gets its own store (a SQLite file, or a PostgreSQL database under
    ``--engine postgresql``), fresh cached resources and a pinned clock."""
    for name in (
        "MEDIAREC_DB_PATH",
        "MEDIAREC_DATABASE_URL",
        "MEDIAREC_MODELS_URI",
        "MEDIAREC_JOURNAL_MODE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MEDIAREC_DB_PATH", str(tmp_path / "mediarec.sqlite"))
    # set (empty: the SQLite file above) so that whatever a test's CLI call writes here
    # (`--db postgresql://...`) is undone when it ends
    monkeypatch.setenv("MEDIAREC_DATABASE_URL", "")
    server = postgres.server_url()
    on_postgres = request.config.getoption("--engine") == "postgresql" and server is not None
    if on_postgres and request.node.get_closest_marker("sqlite_only") is None:
        assert server is not None
        url = postgres.fresh_database(server)
        monkeypatch.setenv("MEDIAREC_DATABASE_URL", url)
        request.addfinalizer(lambda: postgres.drop_database(server, url))
    monkeypatch.setenv("MEDIAREC_MODELS_URI", str(tmp_path / "models"))
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "mediarec-test")
    monkeypatch.chdir(tmp_path)  # no developer .env leaks in
    monkeypatch.setattr(clock, "now_ms", lambda: FIXED_NOW_MS)
    reset_all()
    # the key events/*.json and http_event carry: an admin key in every test's database
    add_api_key(get_database(), EXAMPLE_API_KEY, ("admin",), name="events folder")
    reset_all()  # the test starts with nothing cached (settings, connection)
    yield
    reset_all()


@pytest.fixture
def settings() -> Settings:
    return get_settings()


@pytest.fixture
def db() -> Database:
    return get_database()
