"""Production training, `mediarec train --split none`: a validated leave-last-out run first, then
the exported model trained on every interaction for the validated run's best epoch count."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from functions.common import clock
from functions.common.caches import reset_all
from functions.common.store.db import fetch_one
from functions.common.store.sqlite_engine import SqliteDatabase
from tests.conftest import FIXED_NOW_MS
from training import pipeline
from training.cli import build_parser, main
from training.cli import train as train_cli
from training.data import load_training_data
from training.datasets.synthetic.generation import generate_world
from training.datasets.synthetic.world import WorldConfig
from training.datasets.synthetic.write import write_world
from training.runs import list_runs
from training.split import Interactions, no_holdout

# what the validated run's validation reports as HR@10, epoch by epoch: best at epoch 2, so early
# stopping (patience 1) ends it after epoch 3 of at most 5
HR_SCHEDULE = (0.2, 0.6, 0.4, 0.3, 0.1)
FAST_FLAGS = ["--epochs", "5", "--patience", "1", "--batch-size", "2048", "--dim", "8", "--quiet"]


@dataclass
class Call:
    validated: bool
    epochs: int
    best_epoch: int


@dataclass
class Trained:
    db_path: Path
    runs_dir: Path
    out: str
    calls: list[Call]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("world") / "world.sqlite"
    database = SqliteDatabase(path)
    database.migrate()
    config = WorldConfig(seed=5, users=50, items=120, events=3000, end_ms=FIXED_NOW_MS)
    write_world(database, generate_world(config))
    database.close()
    return path


def _train(world: Path, folder: Path, *flags: str) -> Trained:
    """`mediarec train FLAGS` on a copy of ``world``, with validation HR@10 following
    HR_SCHEDULE and every train_model call recorded."""
    folder.mkdir(parents=True)
    db_path = folder / "world.sqlite"
    shutil.copy(world, db_path)
    calls: list[Call] = []
    real, real_config = pipeline.train_model, train_cli._train_config

    def small_config(args):  # a short history and a small network: quick to train
        return dataclasses.replace(real_config(args), history=10, hidden=(16,))

    def spy(data, config, validate, checkpoint_dir=None, progress=True):
        if validate is not None:
            inner, epochs_seen = validate, iter(HR_SCHEDULE)

            def validate(scorer, inner=inner, epochs_seen=epochs_seen):
                return {**inner(scorer), "hr@10": next(epochs_seen)}

        result = real(data, config, validate, checkpoint_dir, progress)
        calls.append(Call(validate is not None, config.epochs, result.best_epoch))
        return result

    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MEDIAREC_DATABASE_URL", raising=False)  # this file, on either engine
        patch.setenv("MEDIAREC_DB_PATH", str(db_path))
        patch.setenv("MEDIAREC_MODELS_URI", str(folder / "models"))
        patch.chdir(folder)
        patch.setattr(clock, "now_ms", lambda: FIXED_NOW_MS)
        patch.setattr(pipeline, "train_model", spy)
        patch.setattr(train_cli, "_train_config", small_config)
        reset_all()
        try:
            with contextlib.redirect_stdout(out):
                assert main(["train", *flags, *FAST_FLAGS]) == 0
        finally:
            reset_all()
    return Trained(db_path, folder / "runs", out.getvalue(), calls)


@pytest.fixture(scope="module")
def production(world, tmp_path_factory) -> Trained:
    folder = tmp_path_factory.mktemp("production") / "x"
    return _train(world, folder, "--split", "none", "--publish")


def _run_dirs(trained: Trained) -> tuple[Path, Path]:
    validated, everything = sorted(trained.runs_dir.iterdir())
    assert everything.name == f"{validated.name}-all"
    return validated, everything


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_no_holdout_trains_on_everything_in_user_then_time_order():
    rng = np.random.default_rng(1)
    pairs = Interactions.from_pairs(
        [f"u{n}" for n in rng.integers(0, 20, 300)],
        [f"i{n}" for n in rng.integers(0, 40, 300)],
        rng.integers(0, 5_000, 300),
    )
    order = rng.permutation(len(pairs))  # not the order from_pairs guarantees
    shuffled = Interactions(
        pairs.user_ids, pairs.item_ids, pairs.users[order], pairs.items[order], pairs.ts_ms[order]
    )
    split = no_holdout(shuffled)
    assert split.kind == "none" and len(split.valid) == len(split.test) == 0
    assert sorted(split.train.tolist()) == list(range(len(pairs)))
    users, _ = split.pairs("train")
    ts = shuffled.ts_ms[split.train]
    assert (np.diff(users) >= 0).all()
    same_user = np.diff(users) == 0
    assert (np.diff(ts)[same_user] >= 0).all()
    assert split.train_window_ms() == (int(pairs.ts_ms.min()), int(pairs.ts_ms.max()))


def test_the_production_model_is_trained_on_every_interaction(production):
    validated_dir, everything_dir = _run_dirs(production)
    validated = load_training_data(validated_dir)
    everything = load_training_data(everything_dir)
    inter = everything.split.data
    assert validated.split.kind == "leave-last-out" and everything.split.kind == "none"
    assert inter.fingerprint() == validated.split.data.fingerprint()  # the same read
    assert sorted(everything.split.train.tolist()) == list(range(len(inter)))
    assert len(everything.split.valid) == len(everything.split.test) == 0
    # each user's latest interaction (the validated run's test item) is in its training data
    test_users, test_items = validated.split.pairs("test")
    assert len(test_users) > 0
    held_out = set(zip(test_users.tolist(), test_items.tolist(), strict=True))
    assert not held_out & set(
        zip(*(a.tolist() for a in validated.split.pairs("train")), strict=True)
    )
    latest = dict(zip(test_users.tolist(), test_items.tolist(), strict=True))
    last_trained: dict[int, int] = {}
    for user, item in zip(*(a.tolist() for a in everything.split.pairs("train")), strict=True):
        last_trained[user] = item  # train is ordered by user, then time
    assert all(last_trained[user] == item for user, item in latest.items())
    # features as of the read, not the end of a training window
    assert everything.as_of_ms == FIXED_NOW_MS >= inter.ts_ms.max()
    assert validated.as_of_ms == int(inter.ts_ms[validated.split.train].max())


def test_it_trains_for_exactly_the_validated_best_epoch(production):
    validated_call, production_call = production.calls
    assert validated_call == Call(validated=True, epochs=5, best_epoch=2)  # stopped after 3
    assert production_call == Call(validated=False, epochs=2, best_epoch=2)
    _, everything_dir = _run_dirs(production)
    assert torch.load(everything_dir / "best.pt", weights_only=True)["epoch"] == 2
    assert len(_json(everything_dir / "history.json")) == 2
    assert "for 2 epochs" in production.out


def test_the_published_bundle_says_split_none_and_carries_the_validated_metrics(production):
    validated_dir, everything_dir = _run_dirs(production)
    manifest = _json(everything_dir / "bundle" / "manifest.json")
    validated_run = _json(validated_dir / "run.json")
    inter = load_training_data(everything_dir).split.data
    assert manifest["split"] == "none"
    window = manifest["training_window"]
    assert (window["from_ms"], window["to_ms"]) == (int(inter.ts_ms.min()), int(inter.ts_ms.max()))
    assert manifest["train_config"]["epochs"] == 2
    metrics = manifest["metrics"]
    assert metrics["measured_on"] == "validated_run" and "test" not in metrics
    assert metrics["validated_run"] == {
        "run_id": validated_dir.name,
        "split": "leave-last-out",
        "best_epoch": 2,
        "test": validated_run["metrics"]["test"],
    }
    assert metrics["epochs"] == 2 and validated_dir.name in metrics["note"]
    assert not (validated_dir / "bundle").exists()  # only the production model is exported
    database = SqliteDatabase(production.db_path, read_only=True)
    try:
        active = database.read(lambda c: fetch_one(c, "serving/models", "active_model"))
    finally:
        database.close()
    assert active is not None and active["version"] == f"mr-{everything_dir.name}"


def test_the_run_log_tells_the_two_runs_apart(production):
    validated_dir, everything_dir = _run_dirs(production)
    database = SqliteDatabase(production.db_path, read_only=True)
    try:
        runs = {run.run_id: run for run in list_runs(database)}
    finally:
        database.close()
    validated, everything = runs[validated_dir.name], runs[everything_dir.name]
    assert (validated.status, validated.params["split"]) == ("validated", "leave-last-out")
    assert validated.params["production_run"] == everything.run_id
    assert validated.bundle_path is None and validated.metrics["best_epoch"] == 2
    assert (everything.status, everything.params["split"]) == ("trained", "none")
    assert everything.params["validated_run"] == validated.run_id
    assert everything.params["epochs"] == 2 and everything.params["early_stopping"] is False
    assert everything.metrics["validated_run"]["test"] == validated.metrics["test"]
    assert everything.model_version == f"mr-{everything.run_id}"
    assert _json(everything_dir / "run.json")["params"] == everything.params


def test_runs_table_and_evaluate_know_a_model_with_no_holdout(production, capsys):
    _, everything_dir = _run_dirs(production)
    db = ["--db", str(production.db_path)]
    assert main(["runs", *db]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith(f"| {everything_dir.name} "))
    assert "| none " in row and "| (0." in row
    assert "(x): a --split none model's metrics, measured on its validated run" in out
    assert main(["evaluate", *db, "--run", str(everything_dir), "--quiet"]) == 2
    assert "--split none" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags",
    [
        ["--split", "none", "--cut", "2026-11-01T00:00:00Z"],
        ["--cut", "2026-11-01T00:00:00Z", "--split", "none"],
    ],
)
def test_cut_with_split_none_is_refused(flags, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *flags])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "mediarec train: error: --cut cannot be combined with --split none" in err


def test_split_defaults_to_leave_last_out_and_allows_cut():
    args = build_parser().parse_args(["train", "--cut", "2026-11-01T00:00:00Z"])
    assert (args.split, args.cut) == ("leave-last-out", "2026-11-01T00:00:00Z")
    assert build_parser().parse_args(["train", "--split", "none"]).cut is None


def test_the_default_path_is_unchanged(world, tmp_path):
    trained = _train(world, tmp_path / "default")
    (run_dir,) = trained.runs_dir.iterdir()
    assert trained.calls == [Call(validated=True, epochs=5, best_epoch=2)]
    manifest = _json(run_dir / "bundle" / "manifest.json")
    assert manifest["split"] == "leave-last-out"
    run = _json(run_dir / "run.json")
    assert manifest["metrics"] == {"test": run["metrics"]["test"], "best_epoch": 2}
    assert run["status"] == "trained" and run["params"]["split"] == "leave-last-out"
    assert run["model_version"] == f"mr-{run_dir.name}"
    assert "best epoch 2" in trained.out
