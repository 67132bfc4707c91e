"""Settings: one class, MEDIAREC_* names, documented in .env.example and the README."""

from __future__ import annotations

import pytest

from functions.common.settings import Settings, SettingsError, get_settings, read_env_file
from tests.utils.paths import ROOT


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
        parsed = Settings.from_env({name: text}, env_file=None)
        assert getattr(parsed, field) == Settings.model_fields[field].default, name


def test_env_example_read_as_a_dotenv_file_gives_the_defaults():
    assert Settings.from_env({}, env_file=ROOT / ".env.example") == Settings()


def test_every_setting_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = sorted(name for name in env_names() if name not in readme)
    assert not missing, f"README.md does not document {missing}"


def test_lists_are_comma_separated(monkeypatch):
    monkeypatch.setenv("MEDIAREC_POSITIVE_EVENT_TYPES", "like, share")
    assert Settings.from_env(env_file=None).positive_event_types == ("like", "share")
    assert Settings(platforms="web,tv").platforms == ("web", "tv")


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("MEDIAREC_JOURNAL_MODE", "memory", "Input should be 'wal', 'delete' or 'truncate'"),
        ("MEDIAREC_POSITIVE_EVENT_TYPES", " , ", "at least one event type is required"),
        ("MEDIAREC_BUSY_TIMEOUT_MS", "-1", "Input should be greater than or equal to 0"),
        ("MEDIAREC_RETRIEVAL_CANDIDATES", "many", "Input should be a valid integer"),
        ("MEDIAREC_TRACING", "perhaps", "Input should be a valid boolean"),
    ],
)
def test_invalid_settings_fail_loudly_naming_the_variable(monkeypatch, name, value, reason):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=f"{name}: {reason}"):
        Settings.from_env(env_file=None)


def test_names_are_case_insensitive_and_unknown_ones_ignored():
    settings = Settings.from_env(
        {"mediarec_write_retries": "3", "Mediarec_Ab_Share": "0.5", "MEDIAREC_NO_SUCH": "x"},
        env_file=None,
    )
    assert (settings.write_retries, settings.ab_share) == (3, 0.5)


def test_blank_ab_model_version_is_none():
    settings = Settings.from_env({"MEDIAREC_AB_MODEL_VERSION": " "}, env_file=None)
    assert settings.ab_model_version is None


def test_direct_construction_reads_no_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDIAREC_WRITE_RETRIES", "3")
    (tmp_path / ".env").write_text("MEDIAREC_BUSY_TIMEOUT_MS=7\n")
    settings = Settings(ab_share=0.25)
    assert (settings.write_retries, settings.busy_timeout_ms, settings.ab_share) == (8, 5000, 0.25)


def test_dotenv_file_syntax(tmp_path):
    path = tmp_path / "x.env"
    path.write_text(
        "\n".join(
            [
                "# a comment",
                "",
                "MEDIAREC_A=plain",
                "export MEDIAREC_B = spaced value   # a trailing comment",
                "MEDIAREC_C='single # quoted'",
                'MEDIAREC_D="double \\"quoted\\"\\tvalue"',
                "MEDIAREC_E=no#comment",
                "MEDIAREC_F=",
                "not a variable line",
            ]
        ),
        encoding="utf-8",
    )
    assert read_env_file(path) == {
        "MEDIAREC_A": "plain",
        "MEDIAREC_B": "spaced value",
        "MEDIAREC_C": "single # quoted",
        "MEDIAREC_D": 'double "quoted"\tvalue',
        "MEDIAREC_E": "no#comment",
        "MEDIAREC_F": "",
    }


def test_environment_wins_over_the_dotenv_file(tmp_path):
    env_file = tmp_path / "settings.env"
    env_file.write_text("MEDIAREC_WRITE_RETRIES=3\nMEDIAREC_BUSY_TIMEOUT_MS=7\n")
    settings = Settings.from_env({"MEDIAREC_WRITE_RETRIES": "4"}, env_file=env_file)
    assert (settings.write_retries, settings.busy_timeout_ms) == (4, 7)


def test_an_invalid_value_in_the_dotenv_file_is_named(tmp_path):
    env_file = tmp_path / "settings.env"
    env_file.write_text("MEDIAREC_ORT_THREADS=99\n")
    with pytest.raises(SettingsError, match="MEDIAREC_ORT_THREADS: Input should be less than"):
        Settings.from_env({}, env_file=env_file)


def test_get_settings_reads_dotenv_in_the_working_directory_once(monkeypatch, tmp_path):
    # conftest runs each test in tmp_path, so ./.env is this file
    (tmp_path / ".env").write_text("MEDIAREC_WRITE_RETRIES=2\nMEDIAREC_METRICS_NAMESPACE=dotenv\n")
    monkeypatch.setenv("MEDIAREC_METRICS_NAMESPACE", "environment")
    first = get_settings()
    assert (first.write_retries, first.metrics_namespace) == (2, "environment")
    assert get_settings() is first


def test_a_missing_dotenv_file_is_fine(tmp_path):
    assert Settings.from_env({}, env_file=tmp_path / "absent.env") == Settings()
