"""Cached per-container resources as FastAPI dependencies, and one call to reset them all."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from functions.common import sql
from functions.common.db import Database, get_database
from functions.common.settings import Settings, get_settings


async def database() -> Database:
    """Async so FastAPI calls it on the event loop: no worker-thread hop for a cached getter."""
    return get_database()


async def settings() -> Settings:
    return get_settings()


DatabaseDep = Annotated[Database, Depends(database)]
SettingsDep = Annotated[Settings, Depends(settings)]


def reset_resources() -> None:
    """Forget cached settings, connection, keys and queries (tests, benchmarks switching files)."""
    from functions.common.api_keys import key_cache

    key_cache.clear()
    if get_database.cache_info().currsize:
        get_database().close()
    get_database.cache_clear()
    get_settings.cache_clear()
    sql.load_file.cache_clear()
    from functions.common import model_runtime, online_features, ranking

    model_runtime.reset_model_state()
    online_features.clear_item_feature_tables()
    ranking.clear_popularity_cache()
