"""Each user's training interactions as next-item windows: what the encoder trains on.

A user's training items in time order ``s_1 .. s_n`` give ``n - 1`` next-item targets: predict
``s_{t+1}`` from ``s_1 .. s_t``. A window holds ``length`` inputs and the targets one step ahead;
users with more than ``length + 1`` items get several windows, newest first, so every target is
used once per epoch (the earliest context of a long history is cut at the window's start).
Inputs are padded in front with ``padding`` and targets with -1 (no loss there), so the most
recent input is always the last position, as at serving time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.split import Split

NO_TARGET = -1


@dataclass
class Windows:
    users: np.ndarray  # (windows,) user index
    inputs: np.ndarray  # (windows, length) item indices, padded in front
    targets: np.ndarray  # (windows, length) the next item of each input, NO_TARGET where none

    def __len__(self) -> int:
        return len(self.users)


def user_sequences(split: Split, through: str = "train") -> list[list[int]]:
    """Per user index: their items in time order, from the train part (``through="train"``) or
    also the validation item (``through="valid"``, what the test item is predicted from)."""
    sequences: list[list[int]] = [[] for _ in range(split.n_users)]
    for user, item in zip(*(a.tolist() for a in split.pairs("train")), strict=True):
        sequences[user].append(item)
    if through == "valid":
        for user, item in zip(*(a.tolist() for a in split.pairs("valid")), strict=True):
            sequences[user].append(item)
    elif through != "train":
        raise ValueError(f"through is 'train' or 'valid', not {through!r}")
    return sequences


def last_inputs(sequences: list[list[int]], length: int, padding: int) -> np.ndarray:
    """Per user: the last ``length`` items, padded in front (what the state is computed from)."""
    out = np.full((len(sequences), length), padding, dtype=np.int64)
    for user, items in enumerate(sequences):
        tail = items[-length:]
        if tail:
            out[user, length - len(tail) :] = tail
    return out


def windows(split: Split, length: int) -> Windows:
    """Every training target of every user, in windows of ``length`` steps."""
    padding = split.n_items
    users: list[int] = []
    inputs: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    for user, items in enumerate(user_sequences(split)):
        sequence = np.asarray(items, dtype=np.int64)
        for end in range(len(sequence), 1, -length):
            chunk = sequence[max(0, end - length - 1) : end]
            row_in = np.full(length, padding, dtype=np.int64)
            row_out = np.full(length, NO_TARGET, dtype=np.int64)
            row_in[length - len(chunk) + 1 :] = chunk[:-1]
            row_out[length - len(chunk) + 1 :] = chunk[1:]
            users.append(user)
            inputs.append(row_in)
            targets.append(row_out)
    if not users:
        empty = np.zeros((0, length), dtype=np.int64)
        return Windows(np.zeros(0, dtype=np.int64), empty, empty.copy())
    return Windows(np.asarray(users, dtype=np.int64), np.stack(inputs), np.stack(targets))
