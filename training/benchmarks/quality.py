"""`mediarec benchmark quality`: mediarec against its ablations and peers, same split, same run.

Protocol (the Neural Collaborative Filtering paper's): every interaction counts (for rating data,
every rating); each user's latest interaction is the test item and the one before it the
validation item; HR@10 and NDCG@10 rank the test item among 99 items the user never interacted
with (sampled with a fixed seed); Recall@20 and NDCG@20 rank it against the whole catalog minus
the user's other items; AUC pools all sampled pairs, grouped AUC averages per user.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from training.benchmarks.report import machine, print_metrics, write_json

PROTOCOL = (
    "leave-last-out; HR@10/NDCG@10 against 99 sampled negatives (seed 2); "
    "Recall@20/NDCG@20 over the full catalog minus the user's other items; "
    "every interaction (rating) counts"
)


def load_dataset(
    database: Any, dataset: str, path: Path | None, seed: int, columns: dict[str, str] | None = None
) -> str:
    """Fill ``database`` with the dataset; returns a description."""
    from training.datasets import csv_log, movielens

    if dataset == "movielens-100k":
        if path is None or not (path / "u.data").is_file():
            raise FileNotFoundError(
                f"MovieLens 100K not found at {path} (expected u.data, u.item, u.user there); "
                "pass --path to the ml-100k folder"
            )
        return movielens.import_movielens_100k(database, path).summary()
    if dataset == "csv":
        if path is None or not path.is_file():
            raise FileNotFoundError(f"no CSV file at {path}")
        return csv_log.import_csv(database, path, columns=columns).summary()
    if dataset == "synthetic":
        from training.datasets.synthetic.generation import generate_world
        from training.datasets.synthetic.world import WorldConfig
        from training.datasets.synthetic.write import write_world

        counts = write_world(
            database, generate_world(WorldConfig(seed=seed, end_ms=1_795_348_800_000))
        )
        return "synthetic world: " + ", ".join(f"{v} {k}" for k, v in counts.items())
    raise ValueError(f"unknown dataset {dataset!r}")


def run_quality_benchmark(
    dataset: str,
    path: Path | None,
    out: Path,
    *,
    seed: int = 42,
    ablations: bool = True,
    peers: bool = True,
    progress: bool = True,
    columns: dict[str, str] | None = None,
) -> dict[str, Any]:
    from functions.common.settings import Settings
    from functions.common.store.db import Database
    from training import peers as peer_models
    from training import pipeline
    from training.train import TrainConfig

    settings = Settings.from_env(env_file=None)
    reports: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="mediarec-quality-") as tmp:
        database = Database(Path(tmp) / "quality.sqlite")
        database.migrate()
        started = time.perf_counter()
        loaded = load_dataset(database, dataset, path, seed, columns)
        import_seconds = time.perf_counter() - started
        print(loaded)
        prepared = pipeline.prepare(database, settings)
        split = prepared.split
        config = TrainConfig(seed=seed)
        variants = {"mediarec": config}
        if ablations:
            variants |= {
                f"mediarec-no-{w}": pipeline.ablated(config, w) for w in pipeline.ABLATIONS
            }
        for name, variant in variants.items():
            result = pipeline.train(prepared, variant, progress=progress)
            metrics = pipeline.json_ready(pipeline.evaluate_model(prepared, result))
            reports[name] = {
                **metrics,
                "train_seconds": round(result.seconds, 2),
                "best_epoch": result.best_epoch,
            }
        if peers:
            for name, peer in peer_models.default_peers(split, seed=seed).items():
                metrics = pipeline.json_ready(pipeline.evaluate_scorer(prepared, peer.scorer))
                reports[name] = {
                    **metrics,
                    "train_seconds": round(peer.train_seconds, 2),
                    "params": pipeline.json_ready(peer.params),
                }
        database.close()
    print_metrics(reports)
    print(
        f"{split.n_users} users, {split.n_items} items, {len(split.train)} training / "
        f"{len(split.valid)} validation / {len(split.test)} test interactions"
    )
    result_json = {
        "dataset": dataset,
        "protocol": PROTOCOL,
        "models": reports,
        "data": {
            "users": split.n_users,
            "items": split.n_items,
            "train": len(split.train),
            "valid": len(split.valid),
            "test": len(split.test),
            "fingerprint": split.data.fingerprint(),
            "import_seconds": round(import_seconds, 2),
            "features_seconds": round(prepared.seconds, 2),
        },
        "machine": machine(),
    }
    write_json(out, result_json)
    return result_json
