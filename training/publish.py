"""`mediarec publish`: copy a verified bundle to the models location and register it.

The location is ``MEDIAREC_MODELS_URI``: a folder (the bundle goes to ``<folder>/<version>/``) or
``s3://bucket/prefix`` (objects under ``<prefix>/<version>/``). The models table records the
version, where it lives and the ONNX checksum; ``activate`` makes it the one the recommend
function serves (at most one is active: a unique partial index enforces it).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from functions.common.serving.bundle import Manifest, verify_bundle
from functions.common.serving.features import FeatureSpec
from functions.common.serving.snapshot_refresh import refresh_item_features
from functions.common.store.db import Database, execute, fetch_all


def _manifest_summary(manifest: Manifest) -> str:
    keep = (
        "model_version",
        "created_at",
        "training_window",
        "data_read_ms",
        "metrics",
        "data_fingerprint",
        "split",
        "parity",
        "onnx",
        "files",
        "features",  # the snapshot refresh reads the feature SQL parameters from the registry
    )
    summary = {k: manifest.data[k] for k in keep if k in manifest.data}
    summary["users"], summary["items"] = len(manifest.user_ids), len(manifest.item_ids)
    return json.dumps(summary)


def copy_bundle(manifest: Manifest, models_uri: str, s3_client: Any = None) -> str:
    """Copy the bundle's files under ``models_uri``; returns the bundle's URI there."""
    version = manifest.version
    names = [*manifest.data["files"], "manifest.json"]
    if models_uri.startswith("s3://"):
        bucket, _, prefix = models_uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {models_uri!r}")
        key_prefix = f"{prefix.strip('/')}/{version}".lstrip("/")
        client = s3_client or _s3()
        for name in names:  # manifest last: a reader that sees it finds every file in place
            client.upload_file(str(manifest.path(name)), bucket, f"{key_prefix}/{name}")
        return f"s3://{bucket}/{key_prefix}"
    target = Path(models_uri) / version
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in names:
        shutil.copy2(manifest.path(name), staging / name)
    verify_bundle(staging)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    return str(target.resolve())


def _s3() -> Any:
    import boto3

    return boto3.client("s3")


def publish(
    database: Database,
    bundle: Path,
    models_uri: str,
    *,
    activate: bool,
    now_ms: int,
    s3_client: Any = None,
) -> dict[str, Any]:
    """Verify, copy, register and optionally activate a bundle."""
    manifest = verify_bundle(bundle)
    uri = copy_bundle(manifest, models_uri, s3_client)

    def register(conn: sqlite3.Connection) -> None:
        execute(
            conn,
            "training/models",
            "register_model",
            {
                "version": manifest.version,
                "uri": uri,
                "checksum": manifest.checksum,
                "manifest": _manifest_summary(manifest),
                "created_ms": now_ms,
            },
        )

    def make_active(conn: sqlite3.Connection) -> None:
        execute(conn, "training/models", "deactivate_models")
        params = {"version": manifest.version, "now_ms": now_ms}
        execute(conn, "training/models", "activate_model", params)

    # registered first, so that the scheduled refresh counts the model's features as in use;
    # then the item-feature snapshot it reads; only then can requests be routed to it
    database.write(register)
    refresh_item_features(database, FeatureSpec.from_dict(manifest.data["features"]), now_ms)
    if activate:
        database.write(make_active)
    return {
        "version": manifest.version,
        "uri": uri,
        "checksum": manifest.checksum,
        "active": activate,
    }


def list_models(database: Database) -> list[dict[str, Any]]:
    return [
        dict(r) for r in database.read(lambda c: fetch_all(c, "training/models", "list_models"))
    ]
