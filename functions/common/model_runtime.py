"""The served model: the active bundle from the models table, loaded once per container.

:func:`get_serving_model` returns the ONNX session with everything needed to score (id maps,
feature spec, retrieval vectors) or ``None`` with the reason when no usable model is active, so
the recommend function falls back to popularity instead of failing. A model is re-checked
against the registry at most every ``model_check_seconds``; a newly activated version is loaded
and swapped in whole (requests in flight keep the object they started with).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from functions.common.bundle import (
    MODEL_FILE,
    RETRIEVAL_FILE,
    BundleError,
    Manifest,
    verify_bundle,
)
from functions.common.db import Database, fetch_one
from functions.common.features import FeatureSpec

logger = logging.getLogger(__name__)
DOWNLOAD_ROOT = Path(tempfile.gettempdir()) / "mediarec-models"


@dataclass
class ServingModel:
    version: str
    manifest: Manifest
    session: Any  # onnxruntime.InferenceSession
    spec: FeatureSpec
    user_index: dict[str, int]
    item_index: dict[str, int]
    item_ids: list[str]
    history_length: int = 0
    retrieval: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def padding_item(self) -> int:
        return len(self.item_ids)

    def score(
        self,
        users: np.ndarray,
        items: np.ndarray,
        history: np.ndarray,
        user_features: np.ndarray,
        item_features: np.ndarray,
    ) -> np.ndarray:
        """Logits for (user index, item index) pairs with their history and feature rows."""
        feeds = {
            "user_index": users.astype(np.int64),
            "item_index": items.astype(np.int64),
            "history": history.astype(np.int64),
            "user_features": np.ascontiguousarray(user_features, dtype=np.float32),
            "item_features": np.ascontiguousarray(item_features, dtype=np.float32),
        }
        result: np.ndarray = self.session.run(["logit"], feeds)[0]
        return result


@dataclass
class ModelState:
    """What the container serves: a model, or nothing and why (for /health and responses)."""

    model: ServingModel | None = None
    status: str = "none"  # none | active | error
    error: str | None = None
    checked_at: float = 0.0
    active_version: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def local_bundle(uri: str, version: str, s3_client: Any = None) -> Path:
    """A folder holding the bundle: ``uri`` itself, or its S3 copy downloaded once to /tmp."""
    if not uri.startswith("s3://"):
        return Path(uri)
    target = DOWNLOAD_ROOT / version
    if (target / "manifest.json").is_file():
        return target
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    client = s3_client
    if client is None:
        import boto3  # present in the Lambda runtime; only needed for s3:// bundles

        client = boto3.client("s3")
    staging = Path(tempfile.mkdtemp(prefix=f"{version}.", dir=_download_root()))
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/"):
        for entry in page.get("Contents", []):
            name = entry["Key"].rsplit("/", 1)[-1]
            client.download_file(bucket, entry["Key"], str(staging / name))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def _download_root() -> Path:
    DOWNLOAD_ROOT.mkdir(parents=True, exist_ok=True)
    return DOWNLOAD_ROOT


def load_model(
    folder: Path, expected_checksum: str | None = None, threads: int = 2
) -> ServingModel:
    """Verify and load a bundle; raises BundleError on any mismatch."""
    import onnxruntime as ort

    manifest = verify_bundle(folder)
    if expected_checksum and manifest.checksum != expected_checksum:
        raise BundleError(
            f"{folder}: its ONNX checksum {manifest.checksum[:12]}… is not the "
            f"registered {expected_checksum[:12]}…"
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(folder / MODEL_FILE), sess_options=options, providers=["CPUExecutionProvider"]
    )
    model = ServingModel(
        version=manifest.version,
        manifest=manifest,
        session=session,
        spec=FeatureSpec.from_dict(manifest.data["features"]),
        user_index={u: n for n, u in enumerate(manifest.user_ids)},
        item_index={i: n for n, i in enumerate(manifest.item_ids)},
        item_ids=manifest.item_ids,
    )
    model.history_length = int(manifest.data.get("model_config", {}).get("history", 0))
    if (folder / RETRIEVAL_FILE).is_file():
        with np.load(folder / RETRIEVAL_FILE) as arrays:
            model.retrieval = {name: arrays[name].astype(np.float32) for name in arrays.files}
    return model


_state = ModelState()


def get_serving_model(db: Database, check_seconds: float, threads: int = 2) -> ModelState:
    """The container's model state, refreshed from the registry at most every ``check_seconds``.

    Never raises: a missing, corrupt or mismatched bundle leaves ``status="error"`` (logged once
    per version) and ``model=None`` so the caller serves its fallback."""
    now = time.monotonic()
    if _state.checked_at and now - _state.checked_at < check_seconds:
        return _state
    with _state.lock:
        if _state.checked_at and now - _state.checked_at < check_seconds:
            return _state
        _state.checked_at = now
        try:
            row = db.read(lambda c: fetch_one(c, "models", "active_model"))
        except Exception as error:  # registry unreadable: keep what we serve
            logger.warning("model registry unreadable: %s", error)
            return _state
        if row is None:
            _state.model, _state.status, _state.error, _state.active_version = (
                None,
                "none",
                None,
                None,
            )
            return _state
        if row["version"] == _state.active_version:
            return _state  # unchanged (loaded, or already failed and logged)
        _state.active_version = row["version"]
        try:
            folder = local_bundle(row["uri"], row["version"])
            model = load_model(folder, row["checksum"], threads)
            _state.model, _state.status, _state.error = model, "active", None
            logger.info("serving model %s from %s", model.version, row["uri"])
        except Exception as error:
            _state.model, _state.status, _state.error = None, "error", str(error)
            logger.error("model %s unusable, serving the fallback: %s", row["version"], error)
        return _state


def reset_model_state() -> None:
    with _state.lock:
        _state.model, _state.status, _state.error = None, "none", None
        _state.checked_at, _state.active_version = 0.0, None
