"""Settings: one class, MEDIAREC_* names, documented in .env.example and the README."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from functions.common.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def env_names() -> set[str]:
    return {f"MEDIAREC_{name.upper()}" for name in Settings.model_fields}


def test_every_setting_is_in_env_example_with_its_default():
    lines = [
        line
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    documented = dict(line.split("=", 1) for line in lines)
    assert set(documented) == env_names()
    for name, text in documented.items():
        field = name.removeprefix("MEDIAREC_").lower()
        parsed = Settings(_env_file=None, **{field: text})
        assert getattr(parsed, field) == Settings.model_fields[field].default, name


def test_every_setting_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = sorted(name for name in env_names() if name not in readme)
    assert not missing, f"README.md does not document {missing}"


def test_lists_are_comma_separated(monkeypatch):
    monkeypatch.setenv("MEDIAREC_POSITIVE_EVENT_TYPES", "like, share")
    assert Settings(_env_file=None).positive_event_types == ("like", "share")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MEDIAREC_JOURNAL_MODE", "memory"),
        ("MEDIAREC_POSITIVE_EVENT_TYPES", " , "),
        ("MEDIAREC_BUSY_TIMEOUT_MS", "-1"),
    ],
)
def test_invalid_settings_fail_loudly(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)
