from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.common import clock
from functions.common.caches import reset_all
from functions.common.settings import Settings, get_settings
from functions.common.store.db import Database, get_database
from tests.utils.factories import add_api_key
from training.local.lambda_invoke import EXAMPLE_API_KEY

# Tests run at a fixed instant: the timestamps in events/*.json are from this morning.
FIXED_NOW_MS = clock.parse_timestamp("2026-11-22T12:00:00Z")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own SQLite file, fresh cached resources and a pinned clock."""
    for name in ("MEDIAREC_DB_PATH", "MEDIAREC_MODELS_URI", "MEDIAREC_JOURNAL_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MEDIAREC_DB_PATH", str(tmp_path / "mediarec.sqlite"))
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
