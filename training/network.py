"""mediarec's model: dot-product parts for retrieval plus an MLP over ids, history and features.

    logit(u, i, H) = <p_u, q_i> + b_i + <h(H), r_i>                  (retrieval part)
                   + MLP([e_u, f_i, h(H), kind_i, W c_i, x_u, x_i])  (ranking part)

``p, q, b``: user and item ID embeddings and an item bias. ``H`` is the user's most recent items
(at most ``history`` of them, padded), ``h(H)`` the mean of their history embeddings: what the
user engaged with just before, which is most of what predicts the next item in a media feed, and
which also serves users the model has never seen. ``e_u, f_i``: separate ID embeddings for the
MLP. ``kind_i`` and ``c_i`` (the item's kind and multi-hot categories) are stored in the model as
buffers; ``x_u, x_i`` are the normalised SQL features (``serving/features.py``), passed in at
call time. The dot-product part alone ranks a whole catalog with one matrix product (candidate
retrieval); the MLP re-ranks the candidates.

Ablations: ``use_features=False`` drops kind, categories and numeric features;
``use_embeddings=False`` drops the user and item ID embeddings; ``use_history=False`` drops the
recent-items part.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn


@dataclass(kw_only=True)
class Architecture:
    """The model's shape and which parts it has: chosen at training, fixed in the bundle."""

    dot_dim: int = 32
    mlp_dim: int = 32
    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.1
    history: int = 20
    use_features: bool = True
    use_embeddings: bool = True
    use_history: bool = True

    def architecture(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(Architecture)}

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-ready values (what checkpoints and manifests store)."""
        data = asdict(self)
        data["hidden"] = list(self.hidden)
        return data


@dataclass(kw_only=True)
class ModelConfig(Architecture):
    """An architecture sized for one dataset."""

    n_users: int
    n_items: int
    n_user_features: int
    n_item_features: int
    n_categories: int

    @property
    def padding_item(self) -> int:
        """The history index that means "no item" (histories shorter than ``history``)."""
        return self.n_items


class MediaRecModel(nn.Module):
    item_kinds: torch.Tensor
    item_categories: torch.Tensor

    def __init__(
        self, config: ModelConfig, item_kinds: torch.Tensor, item_categories: torch.Tensor
    ) -> None:
        super().__init__()
        if not (config.use_features or config.use_embeddings or config.use_history):
            raise ValueError("a model needs features, embeddings, history, or several")
        self.config = config
        self.register_buffer("item_kinds", item_kinds.long().clone())
        self.register_buffer("item_categories", item_categories.float().clone())
        inputs = 0
        if config.use_embeddings:
            self.dot_user = nn.Embedding(config.n_users, config.dot_dim)
            self.dot_item = nn.Embedding(config.n_items, config.dot_dim)
            self.mlp_user = nn.Embedding(config.n_users, config.mlp_dim)
            self.mlp_item = nn.Embedding(config.n_items, config.mlp_dim)
            for table in (self.dot_user, self.dot_item, self.mlp_user, self.mlp_item):
                nn.init.normal_(table.weight, std=0.05)
            inputs += 2 * config.mlp_dim
        if config.use_embeddings or config.use_history:
            self.item_bias = nn.Embedding(config.n_items, 1)
            nn.init.zeros_(self.item_bias.weight)
        if config.use_history:
            self.history_item = nn.Embedding(
                config.n_items + 1, config.dot_dim, padding_idx=config.padding_item
            )
            self.history_target = nn.Embedding(config.n_items, config.dot_dim)
            nn.init.normal_(self.history_item.weight, std=0.05)
            nn.init.normal_(self.history_target.weight, std=0.05)
            with torch.no_grad():
                self.history_item.weight[config.padding_item].zero_()
            inputs += config.dot_dim
        if config.use_features:
            self.kind_embedding = nn.Embedding(4, 8)
            self.category_projection = nn.Linear(max(config.n_categories, 1), 16, bias=False)
            inputs += 8 + 16 + config.n_user_features + config.n_item_features
        layers: list[nn.Module] = []
        for width in config.hidden:
            layers += [nn.Linear(inputs, width), nn.ReLU(), nn.Dropout(config.dropout)]
            inputs = width
        layers.append(nn.Linear(inputs, 1))
        self.mlp = nn.Sequential(*layers)

    def history_vector(self, history: torch.Tensor) -> torch.Tensor:
        """Mean history embedding of each row of ``history`` (padding ignored; zeros if empty)."""
        present = (history != self.config.padding_item).float()
        summed = self.history_item(history).sum(dim=1)
        return summed / present.sum(dim=1, keepdim=True).clamp(min=1.0)

    def forward(
        self,
        user_index: torch.Tensor,
        item_index: torch.Tensor,
        history: torch.Tensor,
        user_features: torch.Tensor,
        item_features: torch.Tensor,
    ) -> torch.Tensor:
        """Logits, shape (batch,). Row n of every input belongs to the same (user, item) pair."""
        parts: list[torch.Tensor] = []
        logit = torch.zeros(item_index.shape[0], dtype=torch.float32)
        if self.config.use_embeddings or self.config.use_history:
            logit = logit + self.item_bias(item_index).squeeze(-1)
        if self.config.use_embeddings:
            logit = logit + (self.dot_user(user_index) * self.dot_item(item_index)).sum(-1)
            parts += [self.mlp_user(user_index), self.mlp_item(item_index)]
        if self.config.use_history:
            recent = self.history_vector(history)
            logit = logit + (recent * self.history_target(item_index)).sum(-1)
            parts.append(recent)
        if self.config.use_features:
            categories = self.item_categories[item_index]
            if self.config.n_categories == 0:
                categories = torch.zeros(item_index.shape[0], 1)
            parts += [
                self.kind_embedding(self.item_kinds[item_index]),
                self.category_projection(categories),
                user_features,
                item_features,
            ]
        return logit + self.mlp(torch.cat(parts, dim=-1)).squeeze(-1)

    def retrieval_arrays(self) -> dict[str, torch.Tensor]:
        """The dot-product part's tables, for candidate retrieval outside the ONNX graph:
        score(u, i, H) = item_bias[i] + user_vectors[u]·item_vectors[i]
                         + mean(history_vectors[H])·history_targets[i]."""
        arrays: dict[str, torch.Tensor] = {}
        if self.config.use_embeddings or self.config.use_history:
            arrays["item_bias"] = self.item_bias.weight.detach().squeeze(-1)
        if self.config.use_embeddings:
            arrays["user_vectors"] = self.dot_user.weight.detach()
            arrays["item_vectors"] = self.dot_item.weight.detach()
        if self.config.use_history:
            arrays["history_vectors"] = self.history_item.weight.detach()
            arrays["history_targets"] = self.history_target.weight.detach()
        return arrays
