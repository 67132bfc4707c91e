"""API keys managed by invoking the metrics function directly, for a deployed stack whose SQLite
file sits on EFS where no laptop can reach it:

    aws lambda invoke --function-name STACK-metrics \\
        --payload '{"job": "create-key", "scopes": ["admin"], "name": "ops"}' \\
        --cli-binary-format raw-in-base64-out key.json

A direct invocation needs IAM's ``lambda:InvokeFunction`` on the function (the HTTP API cannot
send these events: the door only admits HTTP requests, and the entry point routes ``{"job": …}``
events before it), so whoever can run these jobs could already change the function. The new key
is in the invocation's answer only, never in a log or a trace (template.yaml sets
POWERTOOLS_TRACER_CAPTURE_RESPONSE=false, so X-Ray does not record the answer).
"""

from __future__ import annotations

from typing import Any

from functions.common.http.api_keys import create_key, key_prefix, list_keys, revoke_key
from functions.common.store.db import Database

KEY_JOBS = ("create-key", "list-keys", "revoke-key")


def run_key_job(job: str, event: dict[str, Any], db: Database, now_ms: int) -> dict[str, Any]:
    if job == "create-key":
        scopes = event.get("scopes")
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ValueError('create-key needs "scopes": a list such as ["read", "ingest"]')
        record, key = create_key(db, scopes, str(event.get("name") or "unnamed"), now_ms)
        return {"key": key, "prefix": record.prefix, "name": record.name, "scopes": record.scopes}
    if job == "list-keys":
        return {
            "keys": [
                {
                    "prefix": k.prefix,
                    "name": k.name,
                    "scopes": list(k.scopes),
                    "created_ms": k.created_ms,
                    "last_used_ms": k.last_used_ms,
                    "revoked_ms": k.revoked_ms,
                }
                for k in list_keys(db)
            ]
        }
    prefix = event.get("prefix")
    if not isinstance(prefix, str) or not prefix:
        raise ValueError('revoke-key needs "prefix": the mrk_... prefix from list-keys')
    revoked = revoke_key(db, prefix, now_ms)
    return {"revoked": revoked, "prefix": key_prefix(prefix)}  # never a whole key echoed
