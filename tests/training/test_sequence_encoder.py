"""The history encoder is causal, and the training windows hold each target once, after the
inputs that precede it (no future item reaches a prediction)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.network import MediaRecModel, ModelConfig
from training.sequences import NO_TARGET, last_inputs, user_sequences, windows
from training.split import Interactions, leave_last_out

N_ITEMS = 30


def model_of(encoder: str, history: int = 8) -> MediaRecModel:
    config = ModelConfig(
        n_users=4,
        n_items=N_ITEMS,
        n_user_features=2,
        n_item_features=2,
        n_categories=3,
        history=history,
        history_encoder=encoder,
        dot_dim=16,
        mlp_dim=8,
        hidden=(16,),
    )
    torch.manual_seed(0)
    model = MediaRecModel(config, torch.zeros(N_ITEMS).long(), torch.zeros(N_ITEMS, 3))
    return model.eval()


@pytest.mark.parametrize("encoder", ["attention", "mean"])
def test_a_state_depends_only_on_items_at_or_before_it(encoder):
    model = model_of(encoder)
    history = torch.tensor([[N_ITEMS, N_ITEMS, 3, 7, 1, 9, 4, 2]])
    with torch.no_grad():
        states = model.history_states(history)
        for position in range(2, 8):
            changed = history.clone()
            changed[0, position:] = torch.tensor([5] * (8 - position))
            other = model.history_states(changed)
            assert torch.allclose(states[0, :position], other[0, :position], atol=1e-6)
            assert not torch.allclose(states[0, position], other[0, position])


def test_the_attention_state_depends_on_order_and_the_mean_does_not():
    forward = torch.tensor([[N_ITEMS, 3, 7, 1]])
    backward = torch.tensor([[N_ITEMS, 1, 7, 3]])
    with torch.no_grad():
        attention = model_of("attention", history=4)
        assert not torch.allclose(
            attention.history_vector(forward), attention.history_vector(backward)
        )
        mean = model_of("mean", history=4)
        assert torch.allclose(mean.history_vector(forward), mean.history_vector(backward))


def test_padding_is_masked_and_an_empty_history_is_a_number():
    model = model_of("attention")
    short = torch.tensor([[N_ITEMS] * 5 + [3, 7, 1]])
    with torch.no_grad():
        state = model.history_vector(short)
        empty = model.history_vector(torch.full((1, 8), N_ITEMS))
        model.history_item.weight[N_ITEMS] = torch.randn(16)  # what padding would look like
        assert torch.allclose(model.history_vector(short), state, atol=1e-6)
    assert torch.isfinite(state).all() and torch.isfinite(empty).all()


def _split(sequences: dict[str, list[str]]):
    users, items, ts = [], [], []
    for user, sequence in sequences.items():
        for n, item in enumerate(sequence):
            users.append(user)
            items.append(item)
            ts.append(1_000 * (n + 1))
    return leave_last_out(Interactions.from_pairs(users, items, ts))


def test_windows_hold_every_training_target_once_after_its_inputs():
    long = [f"i{n:02d}" for n in range(25)]
    split = _split({"a": long, "b": ["i00", "i05", "i09", "i11"], "c": ["i03", "i04", "i07"]})
    built = windows(split, length=6)
    sequences = user_sequences(split)
    targets = {
        (int(u), int(t)) for u, row in zip(built.users, built.targets, strict=True) for t in row
    }
    expected = {(u, i) for u, s in enumerate(sequences) for i in s[1:]}
    assert {(u, t) for u, t in targets if t != NO_TARGET} == expected
    counted = sum(int((row != NO_TARGET).sum()) for row in built.targets)
    assert counted == sum(max(len(s) - 1, 0) for s in sequences)
    for user, inputs, row in zip(built.users, built.inputs, built.targets, strict=True):
        sequence = sequences[user]
        for position in np.flatnonzero(row != NO_TARGET):
            target_at = sequence.index(int(row[position]))
            # the input at this position is the item just before the target, and no input at
            # or before it comes later than the target
            assert sequence.index(int(inputs[position])) == target_at - 1
            earlier = [int(i) for i in inputs[: position + 1] if i != split.n_items]
            assert all(sequence.index(i) < target_at for i in earlier)


def test_validation_and_test_items_never_enter_training_and_test_reads_the_validation_item():
    split = _split({"a": ["i1", "i2", "i3", "i4", "i5"]})
    built = windows(split, length=4)
    (valid_item,), (test_item,) = split.pairs("valid")[1], split.pairs("test")[1]
    assert valid_item not in built.inputs and valid_item not in built.targets
    assert test_item not in built.inputs and test_item not in built.targets
    through_valid = last_inputs(user_sequences(split, "valid"), 4, split.n_items)
    assert through_valid[0, -1] == valid_item
    assert last_inputs(user_sequences(split), 4, split.n_items)[0, -1] != valid_item
