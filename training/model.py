"""mediarec's model: a dot-product part for retrieval plus an MLP over ids and features for ranking.

    logit(u, i) = <p_u, q_i> + b_i                                   (retrieval part)
                + MLP([e_u, f_i, kind_i, W c_i, x_u, x_i])           (ranking part)

``p, q, b``: ID embeddings and item bias, usable alone for fast candidate retrieval (a dot product
over every item). ``e_u, f_i``: separate ID embeddings for the MLP. ``kind_i`` and ``c_i`` (the
item's kind and multi-hot categories) are stored in the model as buffers; ``x_u, x_i`` are the
normalised SQL features (functions/common/features.py), passed in at call time because they
change between trainings. Ablations switch parts off: ``use_features=False`` drops kind,
categories and numeric features; ``use_embeddings=False`` drops every ID embedding (a pure
feature model, which is what a never-seen user falls back to).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass
class ModelConfig:
    n_users: int
    n_items: int
    n_user_features: int
    n_item_features: int
    n_categories: int
    dot_dim: int = 32
    mlp_dim: int = 32
    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.1
    use_features: bool = True
    use_embeddings: bool = True

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["hidden"] = list(self.hidden)
        return data


class MediaRecModel(nn.Module):
    item_kinds: torch.Tensor
    item_categories: torch.Tensor

    def __init__(
        self, config: ModelConfig, item_kinds: torch.Tensor, item_categories: torch.Tensor
    ) -> None:
        super().__init__()
        if not (config.use_features or config.use_embeddings):
            raise ValueError("a model needs features, embeddings or both")
        self.config = config
        self.register_buffer("item_kinds", item_kinds.long().clone())
        self.register_buffer("item_categories", item_categories.float().clone())
        inputs = 0
        if config.use_embeddings:
            self.dot_user = nn.Embedding(config.n_users, config.dot_dim)
            self.dot_item = nn.Embedding(config.n_items, config.dot_dim)
            self.item_bias = nn.Embedding(config.n_items, 1)
            self.mlp_user = nn.Embedding(config.n_users, config.mlp_dim)
            self.mlp_item = nn.Embedding(config.n_items, config.mlp_dim)
            for table in (self.dot_user, self.dot_item, self.mlp_user, self.mlp_item):
                nn.init.normal_(table.weight, std=0.05)
            nn.init.zeros_(self.item_bias.weight)
            inputs += 2 * config.mlp_dim
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

    def forward(
        self,
        user_index: torch.Tensor,
        item_index: torch.Tensor,
        user_features: torch.Tensor,
        item_features: torch.Tensor,
    ) -> torch.Tensor:
        """Logits, shape (batch,). Feature rows belong to the same (user, item) pairs."""
        parts: list[torch.Tensor] = []
        logit = torch.zeros(user_index.shape[0], dtype=torch.float32, device=user_index.device)
        if self.config.use_embeddings:
            logit = (self.dot_user(user_index) * self.dot_item(item_index)).sum(-1)
            logit = logit + self.item_bias(item_index).squeeze(-1)
            parts += [self.mlp_user(user_index), self.mlp_item(item_index)]
        if self.config.use_features:
            categories = self.item_categories[item_index]
            if self.config.n_categories == 0:
                categories = torch.zeros(item_index.shape[0], 1, device=item_index.device)
            parts += [
                self.kind_embedding(self.item_kinds[item_index]),
                self.category_projection(categories),
                user_features,
                item_features,
            ]
        return logit + self.mlp(torch.cat(parts, dim=-1)).squeeze(-1)

    def retrieval_vectors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """(user vectors, item vectors, item bias) of the dot-product part, if it has one."""
        if not self.config.use_embeddings:
            return None
        return (
            self.dot_user.weight.detach(),
            self.dot_item.weight.detach(),
            self.item_bias.weight.detach().squeeze(-1),
        )
