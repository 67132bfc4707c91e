"""Interactions and their temporal split: what every model trains on and is evaluated against.

An *interaction* is a distinct (user, item) pair that has at least one event of the chosen types,
stamped with the time of its first such event. Users and items are addressed by dense indices;
``user_ids[u]`` and ``item_ids[i]`` give back the ids stored in the database.

Leave-last-out (the protocol of the Neural Collaborative Filtering paper): per user, the latest
interaction is the test item and the one before it the validation item; everything earlier is
training. Ties in time are broken by item id, so the split is deterministic. Users with fewer than
three interactions stay entirely in training. ``time_cut`` instead puts every interaction at or
after a global instant into test (validation: the last training interaction of each test user).
``no_holdout`` holds nothing out: the production model trains on every interaction, for the
epoch count a validated (leave-last-out) run chose, and has no metrics of its own.

Negatives for the sampled protocol are drawn (seeded) from the items a user never interacted with
at all, in any part of the split.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

SplitKind = Literal["leave-last-out", "time-cut", "none"]


@dataclass
class Interactions:
    """Distinct (user, item) interactions in time order."""

    user_ids: list[str]
    item_ids: list[str]
    users: np.ndarray  # int64 user index per interaction
    items: np.ndarray  # int64 item index per interaction
    ts_ms: np.ndarray  # int64 time of the first event of the pair
    # when they were read from the database (epoch ms; None: not read from one): a user deleted
    # from then on may be in a model trained on them (functions/common/store/tombstones.py)
    read_ms: int | None = None

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.users)

    @classmethod
    def from_pairs(
        cls, user_ids: list[str], item_ids: list[str], ts_ms: list[int] | np.ndarray
    ) -> Interactions:
        """Build from parallel lists of ids (one row per pair; duplicates keep the earliest)."""
        users_sorted = sorted(set(user_ids))
        items_sorted = sorted(set(item_ids))
        user_index = {u: n for n, u in enumerate(users_sorted)}
        item_index = {i: n for n, i in enumerate(items_sorted)}
        users = np.array([user_index[u] for u in user_ids], dtype=np.int64)
        items = np.array([item_index[i] for i in item_ids], dtype=np.int64)
        ts = np.asarray(ts_ms, dtype=np.int64)
        order = np.lexsort((items, ts, users))  # by user, then time, then item
        users, items, ts = users[order], items[order], ts[order]
        first = np.ones(len(users), dtype=bool)
        if len(users):
            key = users * (len(items_sorted) + 1) + items
            _, keep = np.unique(key, return_index=True)
            first[:] = False
            first[keep] = True
        return cls(users_sorted, items_sorted, users[first], items[first], ts[first])

    def fingerprint(self) -> str:
        """A short hash of the interaction data (ids, pairs, times): the data version of a run."""
        digest = hashlib.sha256()
        digest.update("\x1f".join(self.user_ids).encode())
        digest.update("\x1e".join(self.item_ids).encode())
        for array in (self.users, self.items, self.ts_ms):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:16]


@dataclass
class Split:
    """Train / validation / test interactions over one id space."""

    data: Interactions
    kind: SplitKind
    train: np.ndarray  # indices into data for training
    valid: np.ndarray  # indices into data, at most one per user (early stopping); may be empty
    test: np.ndarray  # indices into data, one per test user (leave-last-out); may be empty
    seen: list[set[int]] = field(default_factory=list)  # per user: every item in any part

    @property
    def n_users(self) -> int:
        return self.data.n_users

    @property
    def n_items(self) -> int:
        return self.data.n_items

    def pairs(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        """(users, items) of ``train``, ``valid`` or ``test``."""
        index = getattr(self, part)
        return self.data.users[index], self.data.items[index]

    def train_items_by_user(self) -> list[np.ndarray]:
        users, items = self.pairs("train")
        order = np.argsort(users, kind="stable")
        bounds = np.searchsorted(users[order], np.arange(self.n_users + 1))
        sorted_items = items[order]
        return [sorted_items[bounds[u] : bounds[u + 1]] for u in range(self.n_users)]

    def train_window_ms(self) -> tuple[int, int]:
        ts = self.data.ts_ms[self.train]
        return (int(ts.min()), int(ts.max())) if len(ts) else (0, 0)

    def sample_negatives(self, part: str, count: int, seed: int) -> np.ndarray:
        """For each pair of ``part``: ``count`` distinct items the user never interacted with
        (sampled uniformly, seeded). Shape (n_pairs, count)."""
        rng = np.random.default_rng(seed)
        users, _ = self.pairs(part)
        out = np.empty((len(users), count), dtype=np.int64)
        for row, user in enumerate(users):
            seen = self.seen[user]
            available = self.n_items - len(seen)
            if available < count:
                raise ValueError(
                    f"user {self.data.user_ids[user]} has only {available} unseen items; "
                    f"{count} negatives are needed"
                )
            chosen: set[int] = set()
            while len(chosen) < count:
                for item in rng.integers(0, self.n_items, size=2 * count):
                    if int(item) not in seen and int(item) not in chosen:
                        chosen.add(int(item))
                        if len(chosen) == count:
                            break
            out[row] = sorted(chosen)
        return out


def seen_sets(data: Interactions) -> list[set[int]]:
    seen: list[set[int]] = [set() for _ in range(data.n_users)]
    for user, item in zip(data.users.tolist(), data.items.tolist(), strict=True):
        seen[user].add(item)
    return seen


def leave_last_out(data: Interactions) -> Split:
    """Per user: last interaction = test, the one before = validation, the rest = training."""
    # data is sorted by user, then time, then item (Interactions.from_pairs)
    bounds = np.searchsorted(data.users, np.arange(data.n_users + 1))
    train: list[int] = []
    valid: list[int] = []
    test: list[int] = []
    for user in range(data.n_users):
        start, end = int(bounds[user]), int(bounds[user + 1])
        if end - start >= 3:
            test.append(end - 1)
            valid.append(end - 2)
            train.extend(range(start, end - 2))
        else:
            train.extend(range(start, end))
    return Split(
        data,
        "leave-last-out",
        np.array(train, dtype=np.int64),
        np.array(valid, dtype=np.int64),
        np.array(test, dtype=np.int64),
        seen_sets(data),
    )


def no_holdout(data: Interactions) -> Split:
    """Every interaction is training (ordered by user, then time, then item, as leave_last_out's
    training part is); validation and test are empty."""
    train = np.lexsort((data.items, data.ts_ms, data.users)).astype(np.int64)
    empty = np.array([], dtype=np.int64)
    return Split(data, "none", train, empty, empty.copy(), seen_sets(data))


def time_cut(data: Interactions, cut_ms: int) -> Split:
    """Interactions at or after ``cut_ms`` are test; each test user's last earlier one is
    validation; the rest is training. Test items the model never saw in training are dropped."""
    before = np.flatnonzero(data.ts_ms < cut_ms)
    after = np.flatnonzero(data.ts_ms >= cut_ms)
    test_users = set(data.users[after].tolist())
    last_before: dict[int, int] = {}
    for index in before.tolist():
        user = int(data.users[index])
        if user in test_users:
            last_before[user] = index  # data is time-ordered within a user
    valid = np.array(sorted(last_before.values()), dtype=np.int64)
    train = np.setdiff1d(before, valid)
    trained_items = set(data.items[train].tolist())
    trained_users = set(data.users[train].tolist())
    test = np.array(
        [
            i
            for i in after.tolist()
            if int(data.items[i]) in trained_items and int(data.users[i]) in trained_users
        ],
        dtype=np.int64,
    )
    return Split(data, "time-cut", train, valid, test, seen_sets(data))
