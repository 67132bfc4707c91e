"""Export a trained model as a bundle: one self-contained ONNX file, retrieval vectors and a
manifest, after proving that ONNX Runtime gives PyTorch's scores (max abs difference <= 1e-5)."""

from __future__ import annotations

import io
import json
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

from functions.common.clock import to_iso
from functions.common.serving.bundle import (
    FORMAT_VERSION,
    MANIFEST,
    MODEL_FILE,
    RETRIEVAL_FILE,
    sha256_file,
)
from training.data import TrainingData, last_items
from training.network import MediaRecModel

OPSET = 17  # loads in every onnxruntime >= 1.15
INPUTS = ("user_index", "item_index", "history", "user_features", "item_features")
PARITY_PAIRS = 10_000
PARITY_TOLERANCE = 1e-5


class ExportError(RuntimeError):
    """The exported model does not reproduce the trained one; nothing was written."""


def _example_inputs(model: MediaRecModel, data: TrainingData) -> tuple[torch.Tensor, ...]:
    history = last_items(data.split, model.config.history)[:1].repeat(2, 0)
    return (
        torch.tensor([0, 0]),
        torch.tensor([0, 0]),
        torch.from_numpy(history),
        torch.from_numpy(data.user_features[:1].repeat(2, 0)),
        torch.from_numpy(data.item_features[:1].repeat(2, 0)),
    )


def onnx_bytes(model: MediaRecModel, data: TrainingData) -> bytes:
    """The model as one ONNX file (weights embedded, batch dimension dynamic)."""
    model.eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter: the torch.export one needs onnxscript, a dependency we avoid.
        warnings.simplefilter("ignore", DeprecationWarning)
        # padding_idx is a constant of the model, which is what the tracer warns about.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            model,
            _example_inputs(model, data),
            buffer,  # type: ignore[arg-type]
            input_names=list(INPUTS),
            output_names=["logit"],
            opset_version=OPSET,
            dynamo=False,
            dynamic_axes={n: {0: "batch"} for n in (*INPUTS, "logit")},
        )
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    return buffer.getvalue()


def parity_check(
    model: MediaRecModel,
    data: TrainingData,
    onnx_model: bytes,
    pairs: int = PARITY_PAIRS,
    seed: int = 0,
) -> float:
    """Max |ONNX Runtime - PyTorch| over random (user, item) pairs with their real features and
    histories (short, full and empty ones alike)."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, data.split.n_users, size=pairs)
    items = rng.integers(0, data.split.n_items, size=pairs)
    history = last_items(data.split, model.config.history)[users]
    history[: pairs // 10] = model.config.padding_item  # some users with no history at all
    feeds = {
        "user_index": users.astype(np.int64),
        "item_index": items.astype(np.int64),
        "history": history.astype(np.int64),
        "user_features": data.user_features[users],
        "item_features": data.item_features[items],
    }
    session = ort.InferenceSession(onnx_model, providers=["CPUExecutionProvider"])
    served = session.run(["logit"], feeds)[0]
    with torch.no_grad():
        tensors = (torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in INPUTS)
        trained = model(*tensors).numpy()
    return float(np.max(np.abs(served.astype(np.float64) - trained.astype(np.float64))))


def export_bundle(
    model: MediaRecModel,
    data: TrainingData,
    out: Path,
    *,
    model_version: str,
    metrics: dict[str, Any],
    train_config: dict[str, Any],
    tolerance: float = PARITY_TOLERANCE,
    replace: bool = False,
) -> Path:
    """Write the bundle folder ``out``; raises ExportError (writing nothing) on a parity failure."""
    model_bytes = onnx_bytes(model, data)
    difference = parity_check(model, data, model_bytes)
    if not difference <= tolerance:
        raise ExportError(
            f"ONNX Runtime differs from PyTorch by {difference:.3g} on "
            f"{PARITY_PAIRS} pairs (tolerance {tolerance:g}); bundle not written"
        )
    if out.exists():
        if not replace:
            raise FileExistsError(f"{out} exists; pass --replace to overwrite it")
        shutil.rmtree(out)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / MODEL_FILE).write_bytes(model_bytes)
    arrays = {name: tensor.numpy() for name, tensor in model.retrieval_arrays().items()}
    if arrays:
        np.savez(staging / RETRIEVAL_FILE, **arrays)  # type: ignore[arg-type]
    proto = onnx.load_from_string(model_bytes)
    window = data.split.train_window_ms()
    manifest = {
        "format_version": FORMAT_VERSION,
        "model_version": model_version,
        "created_at": to_iso(int(time.time() * 1000)),
        "onnx": {
            "file": MODEL_FILE,
            "opset": OPSET,
            "ir_version": proto.ir_version,
            "inputs": list(INPUTS),
            "outputs": ["logit"],
            "output_is": "logit",
        },
        "parity": {"pairs": PARITY_PAIRS, "max_abs_diff": difference, "tolerance": tolerance},
        "training_window": {
            "from": to_iso(window[0]),
            "to": to_iso(window[1]),
            "from_ms": window[0],
            "to_ms": window[1],
        },
        "features_as_of_ms": data.as_of_ms,
        # when training read the events (None: not from the database); serving treats users
        # deleted from then on as unknown to this model (functions/common/store/tombstones.py)
        "data_read_ms": data.split.data.read_ms,
        "data_fingerprint": data.split.data.fingerprint(),
        "split": data.split.kind,
        "metrics": metrics,
        "model_config": model.config.to_dict(),
        "train_config": train_config,
        "features": data.spec.to_dict(),
        "user_ids": data.split.data.user_ids,
        "item_ids": data.split.data.item_ids,
        "files": {name.name: sha256_file(name) for name in sorted(staging.iterdir())},
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    staging.rename(out)
    return out
