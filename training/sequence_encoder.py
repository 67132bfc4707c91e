"""The history encoders: what the user engaged with, in order, as one vector per position.

``attention`` is a causal self-attention encoder (SASRec-style: item embedding + a learned
position embedding counted from the most recent item, pre-norm blocks of single-matrix attention
and a feed-forward layer, a final layer norm). ``mean`` is the running mean of the item
embeddings, the model's former history part, kept as the ablation.

Inputs are item indices, oldest first, padded in front with ``padding`` (the most recent item is
always the last position), shape (batch, length). ``encode_all`` returns (batch, length, dim):
row t depends on positions <= t only (causal), so one pass over a user's sequence gives the
state after every prefix, which is what training needs; serving needs only the last row.
"""

from __future__ import annotations

import math

import torch
from torch import nn

ENCODERS = ("attention", "mean")
MASKED = -1e9  # additive attention mask (finite: an all-masked row stays a number)


class CausalBlock(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"the embedding size {dim} is not a multiple of {heads} heads")
        self.heads = heads
        self.attention_norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.project = nn.Linear(dim, dim)
        self.feed_norm = nn.LayerNorm(dim)
        self.feed = nn.Sequential(
            nn.Linear(dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        head_dim = dim // self.heads
        qkv = self.qkv(self.attention_norm(x)).reshape(batch, length, 3, self.heads, head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (batch, heads, length, head_dim)
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(head_dim) + mask, dim=-1)
        attended = (self.dropout(weights) @ v).transpose(1, 2).reshape(batch, length, dim)
        x = x + self.dropout(self.project(attended))
        return x + self.dropout(self.feed(self.feed_norm(x)))


class AttentionEncoder(nn.Module):
    causal: torch.Tensor
    eye: torch.Tensor

    def __init__(
        self, items: nn.Embedding, length: int, blocks: int, heads: int, dropout: float
    ) -> None:
        super().__init__()
        dim = items.embedding_dim
        self.items = items
        self.padding = int(items.padding_idx if items.padding_idx is not None else -1)
        self.positions = nn.Embedding(length, dim)
        nn.init.normal_(self.positions.weight, std=0.05)
        self.blocks = nn.ModuleList(CausalBlock(dim, heads, dropout) for _ in range(blocks))
        self.final_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.scale = math.sqrt(dim)
        # constants of the graph (no EyeLike/Trilu on booleans, which ONNX Runtime lacks)
        causal = torch.ones(length, length).tril().bool()
        self.register_buffer("causal", causal, persistent=False)
        self.register_buffer("eye", torch.eye(length).bool(), persistent=False)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        length = history.shape[1]
        present = (history != self.padding).unsqueeze(-1).float()
        positions = torch.arange(length, device=history.device)
        x = self.items(history) * self.scale + self.positions(positions).unsqueeze(0)
        x = self.dropout(x) * present
        # position t attends to the present items at positions <= t, and always to itself (so a
        # padded position's row is defined; no loss or score reads it)
        keys = present.squeeze(-1).bool().unsqueeze(1)  # (batch, 1, length)
        allowed = (self.causal[:length, :length] & keys) | self.eye[:length, :length]
        mask = (~allowed).float() * MASKED
        mask = mask.unsqueeze(1)  # (batch, 1, length, length): the same for every head
        for block in self.blocks:
            x = block(x, mask) * present
        return self.final_norm(x)


class MeanEncoder(nn.Module):
    """Row t: the mean embedding of the present items at positions <= t (zeros before any)."""

    def __init__(self, items: nn.Embedding) -> None:
        super().__init__()
        self.items = items
        self.padding = int(items.padding_idx if items.padding_idx is not None else -1)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        present = (history != self.padding).unsqueeze(-1).float()
        summed = torch.cumsum(self.items(history) * present, dim=1)
        return summed / torch.cumsum(present, dim=1).clamp(min=1.0)
