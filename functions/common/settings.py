"""One settings class, read once per container from MEDIAREC_* variables (and a local .env).

The loader is a few lines of our own rather than pydantic-settings: that package costs about
0.12 s of every cold start on top of pydantic (asyncio, python-dotenv, importlib.metadata, cloud
secret providers), and mediarec needs only its simplest rules, which are kept here: names are
``MEDIAREC_`` + the field, case-insensitive; the environment wins over ``.env``; unknown
``MEDIAREC_*`` names are ignored; lists are comma-separated.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from functions.common import caches

ENV_PREFIX = "MEDIAREC_"
ENV_FILE = ".env"
DATABASE_URL_SCHEMES = ("sqlite:///", "postgresql://", "postgres://")


class SettingsError(ValueError):
    """Invalid MEDIAREC_* values, each named with its variable."""


class Settings(BaseModel):
    """Everything a function or the CLI can be configured with.

    ``Settings(field=value, ...)`` reads no environment; :meth:`from_env` (and
    :func:`get_settings`) reads MEDIAREC_* variables. Lists are comma-separated in the environment
    (``MEDIAREC_POSITIVE_EVENT_TYPES=click,like``) and may be given as text or tuples directly.
    """

    model_config = ConfigDict(extra="ignore", validate_default=True)

    db_path: Path = Field(Path("data/mediarec.sqlite"), description="The SQLite file.")
    database_url: str = Field(
        "",
        description="sqlite:///path (the same as db_path) or postgresql://user@host:port/db; "
        "empty: the SQLite file at db_path.",
    )
    database_secret_arn: str = Field(
        "",
        description="A Secrets Manager secret (JSON with password, optionally username) whose "
        "password the PostgreSQL connection uses, read once per container: what template.yaml "
        "sets with Aurora. Empty: the URL holds the credentials, or libpq finds them.",
    )
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
    write_wait_seconds: float = Field(
        8.0,
        gt=0,
        le=60,
        description="Total time a request may spend waiting for a busy database (retries and "
        "busy timeouts together) before it answers 503 with Retry-After.",
    )

    auth: Literal["keys", "off"] = Field(
        "keys",
        description="keys: every request needs an API key (x-api-key) or an end-user JWT; off: "
        "no access control at all, for a laptop only (never set in template.yaml).",
    )
    api_key_cache_seconds: float = Field(
        60.0,
        ge=0,
        le=3600,
        description="How long a container trusts a key it has looked up: a revoked key stops "
        "working within this delay.",
    )
    jwt_user_claim: str = Field(
        "sub",
        min_length=1,
        description="The JWT claim that holds the end user's user_id (API Gateway JWT authorizer).",
    )

    event_types: tuple[str, ...] = ("view", "click", "like", "share", "skip")
    positive_event_types: tuple[str, ...] = ("view", "click", "like", "share")
    click_event_types: tuple[str, ...] = ("click",)
    platforms: tuple[str, ...] = ("web", "ios", "android")
    max_batch_size: int = Field(500, ge=1)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    max_json_depth: int = Field(
        32, ge=4, le=200, description="Deepest nesting of objects and arrays a body may have."
    )
    max_number_digits: int = Field(
        20, ge=10, le=4000, description="Longest integer literal (digits) a body may hold."
    )
    max_query_params: int = Field(20, ge=1, le=200, description="Query parameters per request.")
    event_max_age_days: float = Field(
        30.0, gt=0, description="Events older than this (client ts) are rejected by the API."
    )
    event_future_tolerance_s: float = Field(
        300.0, ge=0, description="Client clock skew allowed into the future."
    )

    popularity_window_days: float = Field(14.0, gt=0)
    popularity_half_life_hours: float = Field(72.0, gt=0)
    snapshot_max_age_seconds: float = Field(
        300.0,
        ge=0,
        description="A request rebuilds the popularity and item-feature snapshots when they are "
        "older than this (0: only when missing; the scheduled refresh keeps them fresh).",
    )

    model_check_seconds: float = Field(
        30.0, ge=0, description="How often a container looks for a newly activated model."
    )
    retrieval_candidates: int = Field(
        300, ge=10, le=10_000, description="Items the dot-product stage hands to the ranker."
    )
    ort_threads: int = Field(
        1,
        ge=1,
        le=16,
        description="ONNX Runtime intra-op threads (a few hundred rows per request gain nothing "
        "from more; a 1024 MB Lambda function has one vCPU).",
    )
    exploration_share: float = Field(
        0.1,
        ge=0,
        le=0.5,
        description="Share of a model feed's slots drawn from its next-ranked items and the "
        "items newer than it, at drawn positions, with their propensity logged.",
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

    @field_validator("database_url")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(DATABASE_URL_SCHEMES):
            raise ValueError(
                "must start with sqlite:/// (a file) or postgresql:// (a server), got "
                f"{value.split('://', 1)[0]!r}://..."
            )
        if value.startswith("sqlite:") and not value.removeprefix("sqlite:///").strip():
            raise ValueError("sqlite:/// needs a file path, as in sqlite:///data/mediarec.sqlite")
        return value

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file to open, or None when database_url names a PostgreSQL server."""
        if not self.database_url:
            return self.db_path
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return None

    @field_validator("positive_event_types", "click_event_types")
    @classmethod
    def _non_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one event type is required")
        return value

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = ENV_FILE
    ) -> Settings:
        """Settings from the MEDIAREC_* names of ``environ`` (default ``os.environ``) over those
        of ``env_file`` when that file exists (``None``: no file). Raises :class:`SettingsError`
        naming every variable whose value is invalid."""
        values: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            values.update(cls._own_values(read_env_file(Path(env_file)).items()))
        values.update(cls._own_values((os.environ if environ is None else environ).items()))
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = [
                f"{ENV_PREFIX}{str(item['loc'][0]).upper()}: "
                + item["msg"].removeprefix("Value error, ")
                for item in error.errors(include_url=False, include_input=False)
            ]
            raise SettingsError("invalid settings: " + "; ".join(problems)) from None

    @classmethod
    def _own_values(cls, variables: Iterable[tuple[str, str]]) -> dict[str, str]:
        """``{field: value}`` for the variables named ``MEDIAREC_<field>`` in any letter case."""
        found = {}
        for name, value in variables:
            lowered = name.lower()
            if lowered.startswith(ENV_PREFIX.lower()):
                field = lowered[len(ENV_PREFIX) :]
                if field in cls.model_fields:
                    found[field] = value
        return found


_ENV_LINE = re.compile(
    r"""\s*(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_.]*)\s*=\s*
    (?:'(?P<single>[^']*)'|"(?P<double>(?:\\.|[^"\\])*)"|(?P<bare>.*?))
    (?:\s+\#.*)?\s*""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


def read_env_file(path: Path) -> dict[str, str]:
    """The ``NAME=value`` lines of a dotenv file, as python-dotenv reads the common cases: blank
    lines and ``#`` comments skipped, an optional ``export``, values bare (a `` #`` starts a
    comment), in single quotes (literal) or double quotes (``\\n``, ``\\t``, ``\\"``, ``\\\\``
    escapes). Lines of any other shape are skipped, as python-dotenv skips them."""
    variables = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _ENV_LINE.fullmatch(line)
        if match is None:
            continue
        if match["single"] is not None:
            value = match["single"]
        elif match["double"] is not None:
            value = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), match["double"])
        else:
            value = match["bare"]
        variables[match["name"]] = value
    return variables


@functools.cache
def get_settings() -> Settings:
    """The container's settings, read on first use from the environment and ``./.env``."""
    return Settings.from_env()


caches.register(get_settings.cache_clear)
