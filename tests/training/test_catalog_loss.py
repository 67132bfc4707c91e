"""The catalog cross-entropy: the full softmax on catalogs up to its limit, the sampled softmax
(logQ-corrected, accidental hits masked) above it. Training with it: test_training.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.training.test_sequence_encoder import N_ITEMS, model_of
from training.catalog_loss import CatalogLoss


def rows(n: int = 6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    return torch.zeros(n, dtype=torch.long), torch.randn(n, 16), torch.arange(n) % N_ITEMS


def test_a_catalog_within_the_limit_gets_the_exact_full_softmax():
    model = model_of("attention")
    users, states, items = rows()
    loss = CatalogLoss(np.ones(N_ITEMS), full_up_to=N_ITEMS)
    assert not loss.sampled and loss.columns == N_ITEMS
    expected = torch.nn.functional.cross_entropy(model.retrieval_logits(users, states), items)
    assert torch.allclose(loss(model, users, states, items), expected)


def test_the_sampled_logits_are_the_full_ones_at_the_drawn_items():
    model = model_of("attention")
    users, states, items = rows()
    drawn = torch.tensor([3, 0, 3, 17])
    full = model.retrieval_logits(users, states)
    assert torch.allclose(model.retrieval_logits(users, states, drawn), full[:, drawn], atol=1e-6)
    own = model.target_logits(users, states, items)
    assert torch.allclose(own, full[torch.arange(len(items)), items], atol=1e-6)


def test_a_drawn_item_that_is_the_target_is_masked_out_of_its_row():
    model = model_of("attention")
    users, states, _ = rows()
    items = torch.full((len(users),), 5)
    counts = np.zeros(N_ITEMS)
    counts[5] = 1e12  # the proposal draws item 5 (the target) essentially every time
    loss = CatalogLoss(counts, samples=64, full_up_to=0, seed=2)
    assert loss.sampled and loss.columns == 64
    # every negative is the target itself and masked: only the positive is left, loss 0
    assert loss(model, users, states, items).item() == pytest.approx(0.0, abs=1e-6)


def test_the_corrected_sampled_softmax_tracks_the_full_one():
    model = model_of("attention")
    users, states, items = rows(40)
    counts = np.random.default_rng(0).zipf(1.5, N_ITEMS).astype(float)
    full = CatalogLoss(counts, full_up_to=N_ITEMS)(model, users, states, items).item()
    sampled = CatalogLoss(counts, samples=4096, full_up_to=0, seed=3)
    estimate = np.mean([sampled(model, users, states, items).item() for _ in range(5)])
    assert estimate == pytest.approx(full, rel=0.05)
