"""Model bundles: a folder with ``model.onnx``, ``encoder.onnx``, ``retrieval.npz`` and
``manifest.json``.

Format 2: ``encoder.onnx`` turns the user's latest items into their history state, which the
ranker ``model.onnx`` takes with each candidate. Format 1 (bundles made before the sequence
encoder) has no encoder: its ranker takes the items themselves and serving computes the mean
history vector for retrieval. Both are read.

The manifest names the model version, the id-to-index maps, the feature specification and
normalisation, the training window, when the training data was read, the offline metrics and the
SHA-256 of every other file. :func:`verify_bundle` refuses a bundle whose files do not match
their checksums, so a truncated copy or a tampered file is never served. No torch here: serving
and publishing read bundles.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions.common.clock import parse_timestamp

MANIFEST = "manifest.json"
MODEL_FILE = "model.onnx"
RETRIEVAL_FILE = "retrieval.npz"
ENCODER_FILE = "encoder.onnx"
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)


class BundleError(ValueError):
    """A bundle that is missing, incomplete, of an unknown format or fails its checksums."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Manifest:
    folder: Path
    data: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.data["model_version"])

    @property
    def checksum(self) -> str:
        """The ONNX file's SHA-256: the identity recorded in the models table."""
        return str(self.data["files"][MODEL_FILE])

    @property
    def user_ids(self) -> list[str]:
        return list(self.data["user_ids"])

    @property
    def item_ids(self) -> list[str]:
        return list(self.data["item_ids"])

    @property
    def data_read_ms(self) -> int | None:
        """When training read the events this model learnt from (epoch ms; ``data_read_ms``).
        Bundles written before that field give their export time (``created_at``), which is
        later than the read; None when neither is there."""
        if self.data.get("data_read_ms") is not None:
            return int(self.data["data_read_ms"])
        if self.data.get("created_at"):
            return parse_timestamp(self.data["created_at"])
        return None

    def path(self, name: str) -> Path:
        return self.folder / name


def read_manifest(folder: Path) -> Manifest:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise BundleError(f"{folder} is not a model bundle: {MANIFEST} is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise BundleError(f"{path} is not readable JSON: {error}") from None
    if data.get("format_version") not in READABLE_FORMATS:
        raise BundleError(f"{path}: unsupported bundle format {data.get('format_version')!r}")
    for key in ("model_version", "files", "user_ids", "item_ids", "features"):
        if key not in data:
            raise BundleError(f"{path}: the manifest has no {key!r}")
    if MODEL_FILE not in data["files"]:
        raise BundleError(f"{path}: the manifest lists no {MODEL_FILE}")
    return Manifest(Path(folder), data)


class ChecksumCheck:
    """The SHA-256 of every file a manifest lists, each computed on its own thread (hashing
    releases the GIL), so that a caller can load the files meanwhile; :meth:`result` waits and
    raises :class:`BundleError` for the first file, in manifest order, that is missing or fails.
    """

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self._problems: dict[str, str] = {}
        files = manifest.data["files"]
        self._threads = [
            threading.Thread(target=self._check, args=(name, expected), daemon=True)
            for name, expected in files.items()
        ]
        for thread in self._threads:
            thread.start()

    def _check(self, name: str, expected: str) -> None:
        path = self.manifest.folder / name
        if not path.is_file():
            self._problems[name] = f"{self.manifest.folder}: {name} is missing"
            return
        try:
            actual = sha256_file(path)
        except BaseException as error:  # unreadable: a failure, never a silent pass
            self._problems[name] = f"{self.manifest.folder}: {name} could not be read: {error}"
            return
        if actual != expected:
            self._problems[name] = (
                f"{self.manifest.folder}: {name} fails its checksum (manifest {expected[:12]}…, "
                f"file {actual[:12]}…): the bundle is corrupt or was modified"
            )

    def result(self) -> Manifest:
        for thread in self._threads:
            thread.join()
        for name in self.manifest.data["files"]:
            if name in self._problems:
                raise BundleError(self._problems[name])
        return self.manifest


def start_verification(folder: Path) -> ChecksumCheck:
    """Read the manifest and start checking the files' checksums in the background."""
    return ChecksumCheck(read_manifest(Path(folder)))


def verify_bundle(folder: Path) -> Manifest:
    """The bundle's manifest, after checking every listed file against its SHA-256."""
    return start_verification(folder).result()
