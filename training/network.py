"""mediarec's model: dot-product parts for retrieval plus an MLP over ids, history and features.

    logit(u, i, H) = <p_u, q_i> + b_i + <h(H), r_i>                  (retrieval part)
                   + MLP([e_u, f_i, h(H), kind_i, W c_i, x_u, x_i])  (ranking part)

``p, q, b``: user and item ID embeddings and an item bias. ``H`` is the user's most recent items
(at most ``history`` of them, padded), ``h(H)`` their encoding (``training/sequence_encoder.py``:
a causal self-attention encoder, or the mean embedding as the ablation): what the user engaged
with just before, in order, which is most of what predicts the next item in a media feed, and
which also serves users the model has never seen. ``h(H)`` is the *history state*: computed once
per user and request, then shared by every candidate. ``e_u, f_i``: separate ID embeddings for the
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

from training.sequence_encoder import ENCODERS, AttentionEncoder, MeanEncoder


@dataclass(kw_only=True)
class Architecture:
    """The model's shape and which parts it has: chosen at training, fixed in the bundle."""

    dot_dim: int = 64  # item, history-state and dot-product size
    mlp_dim: int = 32
    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.1
    history: int = 50
    history_encoder: str = "attention"  # or "mean" (the ablation, and bundles before it)
    blocks: int = 2
    heads: int = 1
    encoder_dropout: float = 0.2
    tie_history: bool = True  # the encoder's input item table is also the output one (SASRec)
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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """A stored config; one saved before the encoder existed is a mean-history model."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "history_encoder" not in values:  # saved before the encoder: mean, untied
            values.update(history_encoder="mean", tie_history=False)
        values["hidden"] = tuple(values.get("hidden", (128, 64)))
        return cls(**values)


class MediaRecModel(nn.Module):
    item_kinds: torch.Tensor
    item_categories: torch.Tensor

    def __init__(
        self, config: ModelConfig, item_kinds: torch.Tensor, item_categories: torch.Tensor
    ) -> None:
        super().__init__()
        if not (config.use_features or config.use_embeddings or config.use_history):
            raise ValueError("a model needs features, embeddings, history, or several")
        if config.history_encoder not in ENCODERS:
            raise ValueError(f"unknown history encoder {config.history_encoder!r}: {ENCODERS}")
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
            if not config.tie_history:
                self.history_target = nn.Embedding(config.n_items, config.dot_dim)
            nn.init.normal_(self.history_item.weight, std=0.05)
            if not config.tie_history:
                nn.init.normal_(self.history_target.weight, std=0.05)
            with torch.no_grad():
                self.history_item.weight[config.padding_item].zero_()
            self.encoder: nn.Module = (
                AttentionEncoder(
                    self.history_item,
                    config.history,
                    config.blocks,
                    config.heads,
                    config.encoder_dropout,
                )
                if config.history_encoder == "attention"
                else MeanEncoder(self.history_item)
            )
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

    def history_states(self, history: torch.Tensor) -> torch.Tensor:
        """The history state after every prefix of each row: (batch, length, dot_dim)."""
        states: torch.Tensor = self.encoder(history)
        return states

    def history_vector(self, history: torch.Tensor) -> torch.Tensor:
        """The history state of each row of ``history`` (after its most recent item)."""
        if not self.config.use_history:
            return torch.zeros(history.shape[0], self.config.dot_dim)
        return self.history_states(history)[:, -1]

    def forward(
        self,
        user_index: torch.Tensor,
        item_index: torch.Tensor,
        history: torch.Tensor,
        user_features: torch.Tensor,
        item_features: torch.Tensor,
    ) -> torch.Tensor:
        """Logits, shape (batch,). Row n of every input belongs to the same (user, item) pair."""
        return self.score_state(
            user_index, item_index, self.history_vector(history), user_features, item_features
        )

    def score_state(
        self,
        user_index: torch.Tensor,
        item_index: torch.Tensor,
        history_state: torch.Tensor,
        user_features: torch.Tensor,
        item_features: torch.Tensor,
    ) -> torch.Tensor:
        """:meth:`forward` with the history already encoded (``history_state``: batch x dot_dim),
        which is what the exported ranker takes."""
        parts: list[torch.Tensor] = []
        logit = torch.zeros(item_index.shape[0], dtype=torch.float32)
        if self.config.use_embeddings or self.config.use_history:
            logit = logit + self.item_bias(item_index).squeeze(-1)
        if self.config.use_embeddings:
            logit = logit + (self.dot_user(user_index) * self.dot_item(item_index)).sum(-1)
            parts += [self.mlp_user(user_index), self.mlp_item(item_index)]
        if self.config.use_history:
            logit = logit + (history_state * self.target_table()[item_index]).sum(-1)
            parts.append(history_state)
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

    def target_table(self) -> torch.Tensor:
        """The item vectors a history state is dotted with: (n_items, dot_dim)."""
        if self.config.tie_history:
            return self.history_item.weight[: self.config.n_items]
        weight: torch.Tensor = self.history_target.weight
        return weight

    def retrieval_logits(
        self, user_index: torch.Tensor, states: torch.Tensor, items: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The retrieval part's logit of every catalog item (or of ``items`` only, a 1-D index)
        for each (user, state) row: (rows, n_items or len(items)). What the cross-entropy loss
        of training is taken over (a sampled softmax passes its sampled ``items``)."""
        columns = self.config.n_items if items is None else len(items)
        logits = torch.zeros(states.shape[0], columns)
        if self.config.use_embeddings or self.config.use_history:
            bias = self.item_bias.weight.squeeze(-1)
            logits = logits + (bias if items is None else bias[items])
        if self.config.use_embeddings:
            table = self.dot_item.weight if items is None else self.dot_item(items)
            logits = logits + self.dot_user(user_index) @ table.T
        if self.config.use_history:
            targets = self.target_table() if items is None else self.target_table()[items]
            logits = logits + states @ targets.T
        return logits

    def target_logits(
        self, user_index: torch.Tensor, states: torch.Tensor, items: torch.Tensor
    ) -> torch.Tensor:
        """The retrieval logit of row n's own item ``items[n]``: (rows,)."""
        logits = torch.zeros(states.shape[0])
        if self.config.use_embeddings or self.config.use_history:
            logits = logits + self.item_bias(items).squeeze(-1)
        if self.config.use_embeddings:
            logits = logits + (self.dot_user(user_index) * self.dot_item(items)).sum(-1)
        if self.config.use_history:
            logits = logits + (states * self.target_table()[items]).sum(-1)
        return logits

    def retrieval_arrays(self) -> dict[str, torch.Tensor]:
        """The dot-product part's tables, for candidate retrieval outside the ONNX graphs:
        score(u, i, H) = item_bias[i] + user_vectors[u]·item_vectors[i] + h(H)·history_targets[i]
        with h(H) from the exported encoder (``history_vectors``, the item table of the mean
        encoder, only for that one)."""
        arrays: dict[str, torch.Tensor] = {}
        if self.config.use_embeddings or self.config.use_history:
            arrays["item_bias"] = self.item_bias.weight.detach().squeeze(-1)
        if self.config.use_embeddings:
            arrays["user_vectors"] = self.dot_user.weight.detach()
            arrays["item_vectors"] = self.dot_item.weight.detach()
        if self.config.use_history:
            if self.config.history_encoder == "mean":
                arrays["history_vectors"] = self.history_item.weight.detach()
            arrays["history_targets"] = self.target_table().detach()
        return arrays
