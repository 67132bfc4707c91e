"""The database credentials in a Secrets Manager secret (Aurora's, which RDS manages and rotates).

Read only by the PostgreSQL engine, once per container and again when the server refuses the
cached password; boto3 is imported here, never on the SQLite path.
"""

from __future__ import annotations

import json


class SecretError(ValueError):
    """The secret could not be read or holds no password (its value is never in the message)."""


def database_credentials(secret_arn: str) -> dict[str, str]:
    """psycopg's ``password`` (and ``user``, when the secret names one) from the secret's JSON,
    as RDS stores it: ``{"username": ..., "password": ...}``."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    # a subnet without a route to Secrets Manager fails in seconds, not at the function timeout
    config = Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 2})
    try:
        client = boto3.client("secretsmanager", config=config)
        answer = client.get_secret_value(SecretId=secret_arn)
    except (BotoCoreError, ClientError) as error:
        raise SecretError(f"cannot read the database secret {secret_arn}: {error}") from None
    try:
        data = json.loads(answer.get("SecretString") or "")
        password = data["password"]
    except (ValueError, KeyError, TypeError):
        raise SecretError(f"the database secret {secret_arn} is not JSON with a password") from None
    credentials = {"password": str(password)}
    if data.get("username"):
        credentials["user"] = str(data["username"])
    return credentials
