"""The training loop: BCE-with-logits on positives and sampled negatives, AdamW, early stopping on
validation HR@10, checkpoints, a progress bar, and a per-epoch history (JSON + PNG)."""

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

from training.data import TrainingData, causal_history, last_items
from training.network import Architecture, MediaRecModel, ModelConfig

Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class TrainConfig(Architecture):
    """How to train, and the architecture to train (see training.network.Architecture)."""

    seed: int = 42
    epochs: int = 30
    batch_size: int = 1024
    lr: float = 2e-3
    weight_decay: float = 1e-4
    negatives: int = 4
    negative_sampling: Literal["uniform", "popularity"] = "uniform"
    patience: int = 3
    threads: int = 2


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


def make_scorer(model: MediaRecModel, data: TrainingData, chunk: int = 262_144) -> Scorer:
    """Scores for (user, item) index pairs with the training features and each user's last
    training items as history, in eval mode."""
    user_features = torch.from_numpy(data.user_features)
    item_features = torch.from_numpy(data.item_features)
    history = torch.from_numpy(last_items(data.split, model.config.history))

    def score(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        model.eval()
        out = np.empty(len(users), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, len(users), chunk):
                u = torch.from_numpy(np.ascontiguousarray(users[start : start + chunk], np.int64))
                i = torch.from_numpy(np.ascontiguousarray(items[start : start + chunk], np.int64))
                out[start : start + len(u)] = model(
                    u, i, history[u], user_features[u], item_features[i]
                ).numpy()
        return out

    return score


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


@dataclass
class Histories:
    """The recent-items inputs: causal per training pair, and each user's latest."""

    per_pair: np.ndarray
    per_user: np.ndarray

    @classmethod
    def of(cls, data: TrainingData, length: int) -> Histories:
        return cls(causal_history(data.split, length), last_items(data.split, length))


def epoch_samples(
    data: TrainingData,
    sampler: NegativeSampler,
    negatives: int,
    rng: np.random.Generator,
    histories: Histories,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One epoch's (users, items, histories, labels): every training positive with the items
    its user had before it, ``negatives`` sampled negatives each (same history), and the
    impressions that drew no engagement (with the user's latest history) as further negatives."""
    pos_users, pos_items = data.split.pairs("train")
    neg_users = np.repeat(pos_users, negatives)
    neg_items = sampler.sample(neg_users)
    shown_users, shown_items = data.impression_negatives
    users = np.concatenate([pos_users, neg_users, shown_users])
    items = np.concatenate([pos_items, neg_items, shown_items])
    history = np.concatenate(
        [
            histories.per_pair,
            np.repeat(histories.per_pair, negatives, 0),
            histories.per_user[shown_users],
        ]
    )
    labels = np.concatenate([np.ones(len(pos_users)), np.zeros(len(neg_users) + len(shown_users))])
    order = rng.permutation(len(users))
    return users[order], items[order], history[order], labels[order].astype(np.float32)


def train_model(
    data: TrainingData,
    config: TrainConfig,
    validate: Callable[[Scorer], dict[str, float]],
    checkpoint_dir: Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train with early stopping on ``validate(scorer)["hr@10"]``; keeps the best epoch."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    model = build_model(data, config)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    loss_fn = nn.BCEWithLogitsLoss()
    sampler = NegativeSampler(data, config.negative_sampling, rng)
    histories = Histories.of(data, config.history)
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
        users, items, history, labels = epoch_samples(
            data, sampler, config.negatives, rng, histories
        )
        model.train()
        total, batches = 0.0, 0
        for start in range(0, len(users), config.batch_size):
            u = torch.from_numpy(users[start : start + config.batch_size])
            i = torch.from_numpy(items[start : start + config.batch_size])
            y = torch.from_numpy(labels[start : start + config.batch_size])
            h = torch.from_numpy(history[start : start + config.batch_size])
            optimiser.zero_grad()
            loss = loss_fn(model(u, i, h, user_features[u], item_features[i]), y)
            loss.backward()
            optimiser.step()
            total += float(loss.item())
            batches += 1
        metrics = validate(make_scorer(model, data))
        record = {
            "epoch": epoch,
            "train_loss": total / max(batches, 1),
            **{f"valid_{k}": v for k, v in metrics.items()},
            "seconds": time.perf_counter() - epoch_start,
        }
        result.history.append(record)
        bar.set_postfix(loss=f"{record['train_loss']:.4f}", hr10=f"{metrics['hr@10']:.4f}")
        bar.update(1)
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
    left.set(title="training loss (BCE)", xlabel="epoch")
    for key in sorted(k for k in history[0] if k.startswith("valid_")) if history else []:
        right.plot(epochs, [h[key] for h in history], marker="o", label=key.removeprefix("valid_"))
    right.set(title="validation", xlabel="epoch")
    right.legend()
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    plt.close(figure)
    return json_path, png_path
