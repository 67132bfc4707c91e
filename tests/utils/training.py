"""Training settings shared by the tests that need a real, quickly trained model."""

from __future__ import annotations

from training.train import TrainConfig

FAST = TrainConfig(
    seed=3,
    epochs=3,
    patience=2,
    batch_size=4096,
    dot_dim=16,
    mlp_dim=16,
    hidden=(32, 16),
    history=20,
)
"""A few epochs of a small network: enough to serve, fast enough for the default suite."""
