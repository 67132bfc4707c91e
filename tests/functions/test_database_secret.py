"""The PostgreSQL password from a Secrets Manager secret (template.yaml's Aurora variant), under
moto: what is read, what a wrong secret says, and that its value never reaches a message."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from functions.common.settings import Settings
from functions.common.store.secrets import SecretError, database_credentials


@pytest.fixture
def secrets(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("secretsmanager")


def test_the_password_and_user_of_an_rds_secret_are_read(secrets):
    arn = secrets.create_secret(
        Name="rds!cluster", SecretString=json.dumps({"username": "mediarec", "password": "s3cr%t"})
    )["ARN"]
    assert database_credentials(arn) == {"user": "mediarec", "password": "s3cr%t"}


def test_a_secret_without_a_user_gives_the_password_alone(secrets):
    arn = secrets.create_secret(Name="pw", SecretString=json.dumps({"password": "p"}))["ARN"]
    assert database_credentials(arn) == {"password": "p"}


@pytest.mark.parametrize("value", ["not json", json.dumps({"user": "x"}), json.dumps(["p"])])
def test_a_secret_without_a_password_is_refused_without_showing_it(secrets, value):
    arn = secrets.create_secret(Name="odd", SecretString=value)["ARN"]
    with pytest.raises(SecretError, match="is not JSON with a password") as raised:
        database_credentials(arn)
    assert value not in str(raised.value)


def test_a_missing_secret_names_the_secret(secrets):
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nothing-AbCdEf"
    with pytest.raises(SecretError, match=r"cannot read the database secret .*nothing"):
        database_credentials(arn)


def test_the_setting_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("MEDIAREC_DATABASE_SECRET_ARN", "arn:aws:secretsmanager:x")
    assert Settings.from_env(env_file=None).database_secret_arn == "arn:aws:secretsmanager:x"
