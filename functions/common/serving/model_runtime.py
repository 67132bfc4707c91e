"""The served models: the active bundle (and an A/B version) from the models table.

:func:`serving_models` returns the container's :class:`ModelRegistry`: the active model and,
when ``MEDIAREC_AB_MODEL_VERSION`` is set, a second one, each with its state. A slot holds an
ONNX session with what it needs to score (id maps, feature spec, retrieval tables) or nothing and
the reason, so the recommend function falls back to popularity instead of failing. The registry
is re-read at most every ``model_check_seconds``; a newly activated version is loaded and swapped
in whole (a request in flight keeps the object it started with). Load errors are logged once
per version.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from functions.common import caches
from functions.common.serving.bundle import (
    ENCODER_FILE,
    MODEL_FILE,
    RETRIEVAL_FILE,
    BundleError,
    Manifest,
    start_verification,
)
from functions.common.serving.features import FeatureSpec
from functions.common.settings import Settings
from functions.common.store.db import Database, fetch_one

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
    # when its training data was read (see data_read_ms): users deleted since are unknown to it
    data_read_ms: int = 0
    encoder: Any = None  # onnxruntime.InferenceSession of encoder.onnx (format 2), or None

    @property
    def padding_item(self) -> int:
        return len(self.item_ids)

    @property
    def has_history(self) -> bool:
        """Whether the model reads the user's latest items (all but the no-history ablation)."""
        return "history_targets" in self.retrieval

    def history_state(self, history: np.ndarray) -> np.ndarray:
        """The history state of each row of ``history`` (item indices, padded in front): the
        encoder's output, or for a format-1 bundle the mean history vector (zeros if empty)."""
        history = np.ascontiguousarray(history, dtype=np.int64)
        if self.encoder is not None:
            state: np.ndarray = self.encoder.run(["history_state"], {"history": history})[0]
            return state
        targets = self.retrieval.get("history_targets")
        width = targets.shape[1] if targets is not None else 0
        states = np.zeros((len(history), width), dtype=np.float32)
        vectors = self.retrieval.get("history_vectors")
        if vectors is not None:
            for row, items in enumerate(history):
                present = items[items != self.padding_item]
                if len(present):
                    states[row] = vectors[present].mean(axis=0)
        return states

    def score(
        self,
        users: np.ndarray,
        items: np.ndarray,
        history: np.ndarray,
        history_state: np.ndarray,
        user_features: np.ndarray,
        item_features: np.ndarray,
    ) -> np.ndarray:
        """Logits for (user index, item index) pairs with their history (the items, which a
        format-1 ranker reads), history state (which a format-2 ranker reads) and feature rows."""
        feeds = {
            "user_index": users.astype(np.int64),
            "item_index": items.astype(np.int64),
            "user_features": np.ascontiguousarray(user_features, dtype=np.float32),
            "item_features": np.ascontiguousarray(item_features, dtype=np.float32),
        }
        if self.encoder is not None:
            feeds["history_state"] = np.ascontiguousarray(history_state, dtype=np.float32)
        else:
            feeds["history"] = history.astype(np.int64)
        result: np.ndarray = self.session.run(["logit"], feeds)[0]
        return result


@dataclass
class ModelSlot:
    """One served version: the loaded model, or none and why."""

    model: ServingModel | None = None
    status: str = "none"  # none | active | error
    error: str | None = None
    version: str | None = None  # the registry version this slot last tried

    def sync(self, row: Any, threads: int) -> None:
        """Follow the registry row (None: nothing to serve); loads a version once."""
        if row is None:
            self.model, self.status, self.error, self.version = None, "none", None, None
            return
        if row["version"] == self.version:
            return
        self.version = row["version"]
        try:
            folder = local_bundle(row["uri"], row["version"])
            self.model = load_model(folder, row["checksum"], threads)
            self.model.data_read_ms = data_read_ms(self.model.manifest, row["created_ms"])
            self.status, self.error = "active", None
            logger.info("serving model %s from %s", self.version, row["uri"])
        except Exception as error:
            self.model, self.status, self.error = None, "error", str(error)
            logger.error("model %s unusable, serving the fallback: %s", self.version, error)


@dataclass
class ModelRegistry:
    active: ModelSlot = field(default_factory=ModelSlot)
    ab: ModelSlot = field(default_factory=ModelSlot)
    checked_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def for_user(self, user_id: str, settings: Settings) -> ModelSlot:
        """The slot serving ``user_id``: the A/B version for its share of users (when loaded)."""
        use_ab = self.ab.model is not None and ab_arm(user_id, settings) == "b"
        return self.ab if use_ab else self.active


def data_read_ms(manifest: Manifest, registered_ms: int | None) -> int:
    """When the model's training data was read: the manifest's time, or for an older bundle the
    earliest of its export and its registration (both after the read); 0 if none is known, so
    that every deletion tombstone applies to the model."""
    known = [t for t in (manifest.data_read_ms, registered_ms) if t is not None]
    return int(min(known)) if known else 0


def ab_arm(user_id: str, settings: Settings) -> str | None:
    """The user's arm while an A/B test is configured: "b" (MEDIAREC_AB_MODEL_VERSION) for the
    ``ab_share`` of users with the lowest :func:`ab_bucket`, else "a"; None without a test."""
    if not settings.ab_model_version:
        return None
    return "b" if ab_bucket(user_id) < settings.ab_share else "a"


def ab_bucket(user_id: str) -> float:
    """A stable number in [0, 1) per user: the same user always lands in the same arm."""
    digest = hashlib.sha256(user_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


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
        import boto3  # in the Lambda runtime; only needed for s3:// bundles

        client = boto3.client("s3")
    DOWNLOAD_ROOT.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{version}.", dir=DOWNLOAD_ROOT))
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/"):
        for entry in page.get("Contents", []):
            name = entry["Key"].rsplit("/", 1)[-1]
            client.download_file(bucket, entry["Key"], str(staging / name))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def load_model(
    folder: Path, expected_checksum: str | None = None, threads: int = 2
) -> ServingModel:
    """Verify and load a bundle; raises BundleError on any mismatch. The checksums are computed
    while the files load (see ChecksumCheck): nothing is returned before they all match, and a
    file that fails its checksum is reported as such even if loading it failed first."""
    check = start_verification(folder)
    manifest = check.manifest
    try:
        model = _load_files(folder, manifest, threads)
    except Exception:
        check.result()  # a checksum failure explains a load failure better than the loader
        raise
    check.result()
    if expected_checksum and manifest.checksum != expected_checksum:
        raise BundleError(
            f"{folder}: its ONNX checksum {manifest.checksum[:12]}… is not the "
            f"registered {expected_checksum[:12]}…"
        )
    return model


def _load_files(folder: Path, manifest: Manifest, threads: int) -> ServingModel:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # no busy-waiting between requests: spinning workers would take the CPU from the rest of
    # the request (SQLite, numpy) on a 2-vCPU function
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(
        str(folder / MODEL_FILE), sess_options=options, providers=["CPUExecutionProvider"]
    )
    encoder = None
    if ENCODER_FILE in manifest.data["files"]:
        encoder = ort.InferenceSession(
            str(folder / ENCODER_FILE), sess_options=options, providers=["CPUExecutionProvider"]
        )
    item_ids = manifest.item_ids
    model = ServingModel(
        version=manifest.version,
        manifest=manifest,
        session=session,
        spec=FeatureSpec.from_dict(manifest.data["features"]),
        user_index={u: n for n, u in enumerate(manifest.data["user_ids"])},
        item_index={i: n for n, i in enumerate(item_ids)},
        item_ids=item_ids,
        history_length=int(manifest.data.get("model_config", {}).get("history", 0)),
        encoder=encoder,
    )
    if (folder / RETRIEVAL_FILE).is_file():
        with np.load(folder / RETRIEVAL_FILE) as arrays:
            model.retrieval = {n: arrays[n].astype(np.float32, copy=False) for n in arrays.files}
    return model


_registry = ModelRegistry()


def serving_models(db: Database, settings: Settings) -> ModelRegistry:
    """The container's registry, re-read at most every ``model_check_seconds``. Never raises."""
    now = time.monotonic()
    if _registry.checked_at and now - _registry.checked_at < settings.model_check_seconds:
        return _registry
    with _registry.lock:
        if _registry.checked_at and now - _registry.checked_at < settings.model_check_seconds:
            return _registry
        _registry.checked_at = now
        try:
            active = db.read(lambda c: fetch_one(c, "serving/models", "active_model"))
            ab = None
            if settings.ab_model_version:
                params = {"version": settings.ab_model_version}
                ab = db.read(lambda c: fetch_one(c, "serving/models", "model_by_version", params))
                if ab is None:
                    logger.warning("A/B version %s is not registered", settings.ab_model_version)
        except Exception as error:  # registry unreadable: keep serving what is loaded
            logger.warning("model registry unreadable: %s", error)
            return _registry
        _registry.active.sync(active, settings.ort_threads)
        _registry.ab.sync(ab, settings.ort_threads)
        return _registry


@caches.register
def reset_model_state() -> None:
    with _registry.lock:
        _registry.active, _registry.ab, _registry.checked_at = ModelSlot(), ModelSlot(), 0.0
