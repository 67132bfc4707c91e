"""The training loop over next-item windows (training/sequences.py): cross-entropy of the
retrieval part over the whole catalog at every step, BCE of the full model on each target and
sampled negatives, AdamW, early stopping on validation HR@10, checkpoints, a progress bar, and a
per-epoch history (JSON + PNG)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from training.catalog_loss import FULL_SOFTMAX_ITEMS, SOFTMAX_SAMPLES, CatalogLoss
from training.data import TrainingData
from training.network import Architecture, MediaRecModel, ModelConfig
from training.sequences import NO_TARGET, Windows, last_inputs, user_sequences, windows

Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class TrainConfig(Architecture):
    """How to train, and the architecture to train (see training.network.Architecture)."""

    seed: int = 42
    epochs: int = 30
    batch_size: int = 6400  # next-item targets per step
    lr: float = 3e-3
    weight_decay: float = 1e-4
    negatives: int = 4
    negative_sampling: Literal["uniform", "popularity"] = "uniform"
    patience: int = 4
    threads: int = 2
    full_softmax_items: int = FULL_SOFTMAX_ITEMS  # larger catalogs: sampled softmax
    softmax_samples: int = SOFTMAX_SAMPLES


@dataclass
class TrainResult:
    model: MediaRecModel
    model_config: ModelConfig
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


def build_model(data: TrainingData, config: TrainConfig) -> MediaRecModel:
    model_config = ModelConfig(
        n_users=data.split.n_users,
        n_items=data.split.n_items,
        n_user_features=data.user_features.shape[1],
        n_item_features=data.item_features.shape[1],
        n_categories=data.item_categories.shape[1],
        **config.architecture(),
    )
    return MediaRecModel(
        model_config, torch.from_numpy(data.item_kinds), torch.from_numpy(data.item_categories)
    )


def make_scorer(
    model: MediaRecModel, data: TrainingData, chunk: int = 262_144, through: str = "train"
) -> Scorer:
    """Scores for (user, item) index pairs with the training features, in eval mode. Each
    user's history is their training items (``through="train"``: what validation is predicted
    from) or those and the validation item (``through="valid"``: what the test item follows)."""
    user_features = torch.from_numpy(data.user_features)
    item_features = torch.from_numpy(data.item_features)
    states = user_states(model, data, through)

    def score(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        model.eval()
        out = np.empty(len(users), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, len(users), chunk):
                u = torch.from_numpy(np.ascontiguousarray(users[start : start + chunk], np.int64))
                i = torch.from_numpy(np.ascontiguousarray(items[start : start + chunk], np.int64))
                out[start : start + len(u)] = model.score_state(
                    u, i, states[u], user_features[u], item_features[i]
                ).numpy()
        return out

    return score


def make_session_scorer(model: MediaRecModel, data: TrainingData, through: str = "train") -> Scorer:
    """What a user the model never saw is served (``rank_by_session``): the retrieval score
    from their history state alone, item bias + state·history target, no user embedding and no
    ranker. Evaluated on known users' sequences, it measures the cold start of the encoder."""
    states = user_states(model, data, through).numpy()
    arrays = {name: tensor.numpy() for name, tensor in model.retrieval_arrays().items()}
    bias = arrays.get("item_bias", np.zeros(data.split.n_items, dtype=np.float32))
    targets = arrays.get("history_targets")

    def score(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        out = bias[items].astype(np.float32)
        if targets is not None:
            out = out + np.einsum("nd,nd->n", states[users], targets[items])
        return out

    return score


def user_histories(data: TrainingData, length: int, through: str = "train") -> np.ndarray:
    """Per user: the encoder's input, their last ``length`` items (see :func:`make_scorer`)."""
    return last_inputs(user_sequences(data.split, through), length, data.split.n_items)


def user_states(
    model: MediaRecModel, data: TrainingData, through: str = "train", chunk: int = 1024
) -> torch.Tensor:
    """Every user's history state (eval mode): (n_users, dot_dim)."""
    model.eval()
    history = torch.from_numpy(user_histories(data, model.config.history, through))
    with torch.no_grad():
        return torch.cat(
            [model.history_vector(history[s : s + chunk]) for s in range(0, len(history), chunk)]
            or [torch.zeros(0, model.config.dot_dim)]
        )


class NegativeSampler:
    """Items a user has no training interaction with, uniform or popularity^0.75-weighted."""

    def __init__(self, data: TrainingData, kind: str, rng: np.random.Generator) -> None:
        users, items = data.split.pairs("train")
        self.n_items = data.split.n_items
        self.known = np.unique(users * self.n_items + items)
        self.rng = rng
        self.weights: np.ndarray | None = None
        if kind == "popularity":
            counts = np.bincount(items, minlength=self.n_items).astype(np.float64) ** 0.75 + 1e-3
            self.weights = np.cumsum(counts / counts.sum())

    def _draw(self, size: int) -> np.ndarray:
        if self.weights is None:
            return self.rng.integers(0, self.n_items, size=size)
        drawn = np.searchsorted(self.weights, self.rng.random(size))
        return np.minimum(drawn, self.n_items - 1)

    def sample(self, users: np.ndarray) -> np.ndarray:
        items = self._draw(len(users))
        for _ in range(20):  # resample the (rare) draws that hit a training positive
            keys = users * self.n_items + items
            position = np.minimum(np.searchsorted(self.known, keys), len(self.known) - 1)
            clash = self.known[position] == keys
            if not clash.any():
                break
            items[clash] = self._draw(int(clash.sum()))
        return items


def window_batch_size(config: TrainConfig, columns: int) -> int:
    """Windows per step: ``batch_size`` targets, at most ~8M logits (``columns`` per target:
    the catalog, or the sampled softmax's samples) held at once."""
    by_targets = max(1, config.batch_size // max(config.history, 1))
    by_memory = max(1, 8_000_000 // max(config.history * columns, 1))
    return max(1, min(by_targets, by_memory))


def window_loss(
    model: MediaRecModel,
    batch: Windows,
    catalog_loss: CatalogLoss,
    sampler: NegativeSampler,
    negatives: int,
    user_features: torch.Tensor,
    item_features: torch.Tensor,
) -> torch.Tensor:
    """Cross-entropy of the retrieval logits over the catalog (``catalog_loss``: full or
    sampled softmax) at every target of the windows, plus BCE of the full logit (retrieval +
    MLP) on each target and ``negatives`` sampled items with the same state."""
    inputs = torch.from_numpy(batch.inputs)
    targets = torch.from_numpy(batch.targets)
    present = targets != NO_TARGET
    states = model.history_states(inputs)[present] if model.config.use_history else None
    users = torch.from_numpy(batch.users).unsqueeze(1).expand_as(targets)[present]
    items = targets[present]
    if states is None:
        states = torch.zeros(len(items), model.config.dot_dim)
    loss = catalog_loss(model, users, states, items)
    negative_items = torch.from_numpy(sampler.sample(np.repeat(users.numpy(), negatives)))
    rows_users = torch.cat([users, users.repeat_interleave(negatives)])
    rows_items = torch.cat([items, negative_items])
    rows_states = torch.cat([states, states.repeat_interleave(negatives, dim=0)])
    labels = torch.cat([torch.ones(len(items)), torch.zeros(len(negative_items))])
    logits = model.score_state(
        rows_users, rows_items, rows_states, user_features[rows_users], item_features[rows_items]
    )
    return loss + nn.functional.binary_cross_entropy_with_logits(logits, labels)


def impression_loss(
    model: MediaRecModel,
    data: TrainingData,
    histories: torch.Tensor,
    user_features: torch.Tensor,
    item_features: torch.Tensor,
) -> torch.Tensor | None:
    """BCE on the impressions that drew no engagement, as negatives with the user's latest
    history; None when there are none."""
    users_np, items_np = data.impression_negatives
    if not len(users_np):
        return None
    users, items = torch.from_numpy(users_np), torch.from_numpy(items_np)
    logits = model(users, items, histories[users], user_features[users], item_features[items])
    return nn.functional.binary_cross_entropy_with_logits(logits, torch.zeros(len(items)))


def train_model(
    data: TrainingData,
    config: TrainConfig,
    validate: Callable[[Scorer], dict[str, float]] | None,
    checkpoint_dir: Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train with early stopping on ``validate(scorer)["hr@10"]``, keeping the best epoch; with
    ``validate=None``, exactly ``config.epochs`` epochs, keeping the last (production training
    on every interaction, for the epoch count a validated run chose)."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    model = build_model(data, config)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    sampler = NegativeSampler(data, config.negative_sampling, rng)
    all_windows = windows(data.split, config.history)
    train_items = data.split.pairs("train")[1]
    catalog_loss = CatalogLoss(
        np.bincount(train_items, minlength=data.split.n_items),
        samples=config.softmax_samples,
        full_up_to=config.full_softmax_items,
        seed=config.seed,
    )
    step = window_batch_size(config, catalog_loss.columns)
    latest = torch.from_numpy(user_histories(data, config.history))
    user_features = torch.from_numpy(data.user_features)
    item_features = torch.from_numpy(data.item_features)
    result = TrainResult(model=model, model_config=model.config)
    best, best_state, stale = -1.0, None, 0
    started = time.perf_counter()
    # Early stopping decides how many epochs run, so the bar shows the pace and the ceiling but
    # no time remaining (which would assume all of --epochs run).
    bar = tqdm(
        total=config.epochs,
        desc="training",
        unit="epoch",
        disable=not progress,
        bar_format="{desc}: epoch {n_fmt} of at most {total_fmt} "
        "[{elapsed}, {rate_inv_fmt}{postfix}]",
    )
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        model.train()
        total, batches = 0.0, 0
        order = rng.permutation(len(all_windows))
        for start in range(0, len(order), step):
            chosen = order[start : start + step]
            batch = Windows(
                all_windows.users[chosen], all_windows.inputs[chosen], all_windows.targets[chosen]
            )
            optimiser.zero_grad()
            loss = window_loss(
                model, batch, catalog_loss, sampler, config.negatives, user_features, item_features
            )
            loss.backward()
            optimiser.step()
            total += float(loss.item())
            batches += 1
        shown = impression_loss(model, data, latest, user_features, item_features)
        if shown is not None:
            optimiser.zero_grad()
            shown.backward()
            optimiser.step()
        record: dict[str, float] = {"epoch": epoch, "train_loss": total / max(batches, 1)}
        metrics = validate(make_scorer(model, data)) if validate is not None else {}
        record.update({f"valid_{k}": v for k, v in metrics.items()})
        record["seconds"] = time.perf_counter() - epoch_start
        result.history.append(record)
        bar.set_postfix(
            loss=f"{record['train_loss']:.4f}",
            **({"hr10": f"{metrics['hr@10']:.4f}"} if metrics else {}),
        )
        bar.update(1)
        if validate is None:
            result.best_epoch = epoch
            continue
        if metrics["hr@10"] > best + 1e-9:
            best, stale, result.best_epoch = metrics["hr@10"], 0, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if checkpoint_dir is not None:
                save_checkpoint(checkpoint_dir / "best.pt", model, config, epoch)
        else:
            stale += 1
            if stale >= config.patience:
                bar.set_postfix_str(f"stopped early: best epoch {result.best_epoch}")
                break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    elif validate is None and checkpoint_dir is not None:
        save_checkpoint(checkpoint_dir / "best.pt", model, config, result.best_epoch)
    model.eval()
    result.seconds = time.perf_counter() - started
    return result


def save_checkpoint(path: Path, model: MediaRecModel, config: TrainConfig, epoch: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "state_dict": model.state_dict(),
            "model_config": model.config.to_dict(),
            "train_config": config.to_dict(),
            "epoch": epoch,
        },
        path,
    )


def save_history(history: list[dict[str, float]], folder: Path) -> tuple[Path, Path]:
    """history.json and history.png (train loss and validation metrics per epoch)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    json_path, png_path = folder / "history.json", folder / "history.png"
    json_path.write_text(json.dumps(history, indent=2) + "\n", encoding="utf-8")
    epochs = [h["epoch"] for h in history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [h["train_loss"] for h in history], marker="o")
    left.set(title="training loss (catalog cross-entropy + BCE)", xlabel="epoch")
    validated = sorted(k for k in history[0] if k.startswith("valid_")) if history else []
    for key in validated:
        right.plot(epochs, [h[key] for h in history], marker="o", label=key.removeprefix("valid_"))
    right.set(title="validation" if validated else "no validation (trained on everything)")
    right.set(xlabel="epoch")
    if validated:
        right.legend()
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    plt.close(figure)
    return json_path, png_path
