"""The container's settings and database as FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from functions.common.settings import Settings, get_settings
from functions.common.store.db import Database, get_database


async def database() -> Database:
    """Async so FastAPI calls it on the event loop: no worker-thread hop for a cached getter."""
    return get_database()


async def settings() -> Settings:
    return get_settings()


DatabaseDep = Annotated[Database, Depends(database)]
SettingsDep = Annotated[Settings, Depends(settings)]
