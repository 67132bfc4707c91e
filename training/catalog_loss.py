"""The retrieval part's cross-entropy over the catalog: a full softmax, or, for a catalog too
large for one, a sampled softmax with the log-frequency (logQ) correction.

Sampled: each step draws ``samples`` items (with replacement, shared by every row of the step)
from the proposal ``Q(i) ∝ (count_i + 1)^0.75`` over the training item counts. Each drawn item's
logit has ``log(samples · Q(i))`` subtracted (the log-frequency correction), and a drawn item
that is the row's own target is masked out of that row; the target's own logit enters as it
is. Then ``exp(target) + Σ exp(corrected drawn)`` is an unbiased estimate of the full
softmax's normaliser, so the loss estimates the full cross-entropy, instead of punishing popular
items for being drawn often (importance sampling: Bengio & Senécal 2008; Jean et al. 2015).
A step then holds ``rows * samples`` logits instead of ``rows * n_items``, so an epoch grows
with the number of targets, not with the catalog.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from training.network import MediaRecModel

FULL_SOFTMAX_ITEMS = 50_000  # catalogs up to this size get the exact, full softmax
SOFTMAX_SAMPLES = 8192  # items drawn per step by the sampled softmax


class CatalogLoss:
    def __init__(
        self,
        item_counts: np.ndarray,
        *,
        samples: int = SOFTMAX_SAMPLES,
        full_up_to: int = FULL_SOFTMAX_ITEMS,
        seed: int = 0,
    ) -> None:
        if samples < 1:
            raise ValueError(f"the sampled softmax needs at least 1 sample, got {samples}")
        self.n_items = len(item_counts)
        self.sampled = self.n_items > full_up_to
        self.samples = samples
        weights = (np.asarray(item_counts, dtype=np.float64) + 1.0) ** 0.75
        proposal = weights / weights.sum()
        self.proposal = torch.from_numpy(proposal)
        self.log_expected = torch.from_numpy(np.log(samples * proposal)).float()
        self.generator = torch.Generator().manual_seed(seed)

    @property
    def columns(self) -> int:
        """Logits per row of a step (what sizes the step's memory)."""
        return self.samples if self.sampled else self.n_items

    def __call__(
        self, model: MediaRecModel, users: torch.Tensor, states: torch.Tensor, items: torch.Tensor
    ) -> torch.Tensor:
        """Mean cross-entropy of each row's target ``items[n]`` (rows: users and states)."""
        if not self.sampled:
            return nn.functional.cross_entropy(model.retrieval_logits(users, states), items)
        drawn = torch.multinomial(
            self.proposal, self.samples, replacement=True, generator=self.generator
        )
        negative = model.retrieval_logits(users, states, drawn) - self.log_expected[drawn]
        negative = negative.masked_fill(drawn.unsqueeze(0) == items.unsqueeze(1), float("-inf"))
        positive = model.target_logits(users, states, items)
        logits = torch.cat([positive.unsqueeze(1), negative], dim=1)
        return nn.functional.cross_entropy(logits, torch.zeros(len(items), dtype=torch.long))
