"""One settings class, read once per container from MEDIAREC_* variables (and a local .env)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[tuple[str, ...], NoDecode]


class Settings(BaseSettings):
    """Everything a function or the CLI can be configured with.

    Lists are comma-separated in the environment (``MEDIAREC_POSITIVE_EVENT_TYPES=click,like``).
    """

    model_config = SettingsConfigDict(
        env_prefix="MEDIAREC_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    db_path: Path = Field(Path("data/mediarec.sqlite"), description="The SQLite file.")
    journal_mode: Literal["wal", "delete", "truncate"] = Field(
        "wal", description="wal on a local disk; delete (or truncate) on EFS or any network share."
    )
    models_uri: str = Field("models", description="A folder or s3://bucket/prefix for bundles.")
    log_level: str = "INFO"
    tracing: bool = Field(
        True, description="X-Ray tracing through Powertools (its SDK import costs a cold start)."
    )
    busy_timeout_ms: int = Field(5000, ge=0, description="How long SQLite waits for a lock.")
    write_retries: int = Field(8, ge=0, description="Retries of a write that found SQLite busy.")

    event_types: CommaList = ("view", "click", "like", "share", "skip")
    positive_event_types: CommaList = ("view", "click", "like", "share")
    click_event_types: CommaList = ("click",)
    platforms: CommaList = ("web", "ios", "android")
    max_batch_size: int = Field(500, ge=1)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    event_max_age_days: float = Field(
        30.0, gt=0, description="Events older than this (client ts) are rejected by the API."
    )
    event_future_tolerance_s: float = Field(
        300.0, ge=0, description="Client clock skew allowed into the future."
    )

    popularity_window_days: float = Field(14.0, gt=0)
    popularity_half_life_hours: float = Field(72.0, gt=0)
    popularity_cache_seconds: float = Field(
        60.0, ge=0, description="How long a container reuses its popularity ranking."
    )

    model_check_seconds: float = Field(
        30.0, ge=0, description="How often a container looks for a newly activated model."
    )
    feature_cache_seconds: float = Field(
        300.0, ge=0, description="How long a container reuses its item features."
    )
    retrieval_candidates: int = Field(
        300, ge=10, le=10_000, description="Items the dot-product stage hands to the ranker."
    )
    ort_threads: int = Field(2, ge=1, le=16, description="ONNX Runtime intra-op threads.")
    exploration_share: float = Field(
        0.1, ge=0, le=0.5, description="Share of a model feed's slots for items newer than it."
    )
    ab_model_version: str | None = Field(
        None, description="A registered model version that serves ab_share of users."
    )
    ab_share: float = Field(
        0.0, ge=0, le=1, description="Share of users routed to ab_model_version."
    )

    attribution_window_hours: float = Field(24.0, gt=0)
    attribution_clock_skew_s: float = Field(
        300.0, ge=0, description="An engagement this much before its impression still counts."
    )
    metrics_namespace: str = "mediarec"

    @field_validator(
        "event_types", "positive_event_types", "click_event_types", "platforms", mode="before"
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("ab_model_version", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("positive_event_types", "click_event_types")
    @classmethod
    def _non_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one event type is required")
        return value


@functools.cache
def get_settings() -> Settings:
    """The container's settings, read on first use."""
    return Settings()
