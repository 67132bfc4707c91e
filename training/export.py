"""Export a trained model as a bundle: the ranker and the history encoder as self-contained ONNX
files, retrieval vectors and a manifest, after proving that ONNX Runtime gives PyTorch's history
states and scores (max abs difference <= 1e-5 each)."""

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
    ENCODER_FILE,
    FORMAT_VERSION,
    MANIFEST,
    MODEL_FILE,
    RETRIEVAL_FILE,
    sha256_file,
)
from training.data import TrainingData
from training.network import MediaRecModel
from training.train import user_histories, user_states

OPSET = 17  # loads in every onnxruntime >= 1.15
INPUTS = ("user_index", "item_index", "history_state", "user_features", "item_features")
ENCODER_INPUTS = ("history",)
PARITY_PAIRS = 10_000
PARITY_TOLERANCE = 1e-5


class ExportError(RuntimeError):
    """The exported model does not reproduce the trained one; nothing was written."""


class _Ranker(torch.nn.Module):
    """The exported ranker: the model's logit with the history state as an input."""

    def __init__(self, model: MediaRecModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model.score_state(*inputs)


class _Encoder(torch.nn.Module):
    """The exported encoder: a user's latest items (1..batch rows) to their history state."""

    def __init__(self, model: MediaRecModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        return self.model.history_vector(history)


def _to_onnx(
    module: torch.nn.Module,
    example: tuple[torch.Tensor, ...],
    inputs: tuple[str, ...],
    output: str,
) -> bytes:
    """One self-contained ONNX file (weights embedded, batch dimension dynamic), checked."""
    module.eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter: the torch.export one needs onnxscript, a dependency we avoid.
        warnings.simplefilter("ignore", DeprecationWarning)
        # padding_idx and the sequence length are constants of the model, which is what the
        # tracer warns about.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            module,
            example,
            buffer,  # type: ignore[arg-type]
            input_names=list(inputs),
            output_names=[output],
            opset_version=OPSET,
            dynamo=False,
            dynamic_axes={n: {0: "batch"} for n in (*inputs, output)},
        )
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    return buffer.getvalue()


def onnx_bytes(model: MediaRecModel, data: TrainingData) -> bytes:
    """The ranker as one ONNX file."""
    states = user_states(model, data)[:1].repeat(2, 1)
    example = (
        torch.tensor([0, 0]),
        torch.tensor([0, 0]),
        states,
        torch.from_numpy(data.user_features[:1].repeat(2, 0)),
        torch.from_numpy(data.item_features[:1].repeat(2, 0)),
    )
    return _to_onnx(_Ranker(model), example, INPUTS, "logit")


def encoder_bytes(model: MediaRecModel, data: TrainingData) -> bytes:
    """The history encoder as one ONNX file."""
    history = torch.from_numpy(user_histories(data, model.config.history)[:1].repeat(2, 0))
    return _to_onnx(_Encoder(model), (history,), ENCODER_INPUTS, "history_state")


def _session(onnx_model: bytes) -> Any:
    return ort.InferenceSession(onnx_model, providers=["CPUExecutionProvider"])


def encoder_parity(model: MediaRecModel, data: TrainingData, encoder: bytes) -> float:
    """Max |ONNX Runtime - PyTorch| of the history states of every user (up to 2,000), with a
    tenth of them given no history at all."""
    history = user_histories(data, model.config.history)[:2000].copy()
    history[: max(1, len(history) // 10)] = model.config.padding_item
    served = _session(encoder).run(["history_state"], {"history": history})[0]
    with torch.no_grad():
        trained = model.history_vector(torch.from_numpy(history)).numpy()
    return float(np.max(np.abs(served.astype(np.float64) - trained.astype(np.float64))))


def parity_check(
    model: MediaRecModel,
    data: TrainingData,
    onnx_model: bytes,
    pairs: int = PARITY_PAIRS,
    seed: int = 0,
) -> float:
    """Max |ONNX Runtime - PyTorch| of the ranker over random (user, item) pairs with their real
    features and history states (a tenth of them the state of an empty history)."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, data.split.n_users, size=pairs)
    items = rng.integers(0, data.split.n_items, size=pairs)
    states = user_states(model, data).numpy()[users]
    with torch.no_grad():
        empty = torch.full((1, model.config.history), model.config.padding_item)
        states[: pairs // 10] = model.history_vector(empty).numpy()
    feeds = {
        "user_index": users.astype(np.int64),
        "item_index": items.astype(np.int64),
        "history_state": states.astype(np.float32),
        "user_features": data.user_features[users],
        "item_features": data.item_features[items],
    }
    served = _session(onnx_model).run(["logit"], feeds)[0]
    with torch.no_grad():
        tensors = (torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in INPUTS)
        trained = model.score_state(*tensors).numpy()
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
    encoder = encoder_bytes(model, data) if model.config.use_history else None
    encoder_difference = encoder_parity(model, data, encoder) if encoder else 0.0
    if not encoder_difference <= tolerance:
        raise ExportError(
            f"the ONNX history encoder differs from PyTorch by {encoder_difference:.3g} "
            f"(tolerance {tolerance:g}); bundle not written"
        )
    if out.exists():
        if not replace:
            raise FileExistsError(f"{out} exists; pass --replace to overwrite it")
        shutil.rmtree(out)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / MODEL_FILE).write_bytes(model_bytes)
    if encoder is not None:
        (staging / ENCODER_FILE).write_bytes(encoder)
    arrays = {name: tensor.numpy() for name, tensor in model.retrieval_arrays().items()}
    if arrays:
        np.savez(staging / RETRIEVAL_FILE, **arrays)
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
            "encoder": {
                "file": ENCODER_FILE if encoder is not None else None,
                "inputs": list(ENCODER_INPUTS),
                "outputs": ["history_state"],
                "history_length": model.config.history,
            },
        },
        "parity": {
            "pairs": PARITY_PAIRS,
            "max_abs_diff": difference,
            "encoder_max_abs_diff": encoder_difference,
            "tolerance": tolerance,
        },
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
