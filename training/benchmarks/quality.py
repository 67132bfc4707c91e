"""`mediarec benchmark quality`: mediarec against its ablations and peers, same split, same run.

Protocol (the Neural Collaborative Filtering paper's): every interaction counts (for rating data,
every rating); each user's latest interaction is the test item and the one before it the
validation item; HR@10 and NDCG@10 rank the test item among 99 items the user never interacted
with (sampled with a fixed seed); Recall@20 and NDCG@20 rank it against the whole catalog minus
the user's other items; AUC pools all sampled pairs, grouped AUC averages per user.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from training.benchmarks.report import METRIC_COLUMNS, machine, print_metrics, write_json

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
    seeds: int = 1,
    ablations: bool = True,
    peers: bool = True,
    progress: bool = True,
    columns: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The comparison on one split, run ``seeds`` times with the seeds ``seed``, ``seed + 1``,
    ...: each run trains every model (mediarec's initialisation and training, the peers' seeds
    and tuning negatives) with its seed; the split, its test negatives and, for ``synthetic``,
    the world (``seed``) stay fixed. Each model's metrics are the mean over the runs, with
    ``<metric>_sd`` (sample standard deviation; None for a single run) and every run under
    ``per_seed``."""
    from functions.common.settings import Settings
    from functions.common.store.sqlite_engine import SqliteDatabase
    from training import pipeline

    if seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {seeds}")
    settings = Settings.from_env(env_file=None)
    run_seeds = list(range(seed, seed + seeds))
    runs: dict[int, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="mediarec-quality-") as tmp:
        database = SqliteDatabase(Path(tmp) / "quality.sqlite")
        database.migrate()
        started = time.perf_counter()
        loaded = load_dataset(database, dataset, path, seed, columns)
        import_seconds = time.perf_counter() - started
        print(loaded)
        prepared = pipeline.prepare(database, settings)
        split = prepared.split
        for number, run_seed in enumerate(run_seeds, start=1):
            if seeds > 1:
                print(f"seed {run_seed} ({number}/{seeds})")
            runs[run_seed] = run_one_seed(
                prepared, run_seed, ablations=ablations, peers=peers, progress=progress
            )
        database.close()
    reports = aggregate_seeds(runs)
    if seeds > 1:
        print(f"mean ± sample sd over {seeds} seeds ({run_seeds[0]}..{run_seeds[-1]})")
    print_metrics(reports)
    print(
        f"{split.n_users} users, {split.n_items} items, {len(split.train)} training / "
        f"{len(split.valid)} validation / {len(split.test)} test interactions"
    )
    result_json = {
        "dataset": dataset,
        "protocol": PROTOCOL,
        "seeds": run_seeds,
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


def run_one_seed(
    prepared: Any, seed: int, *, ablations: bool, peers: bool, progress: bool
) -> dict[str, dict[str, Any]]:
    """Every model trained with ``seed`` and evaluated on ``prepared``'s test part, by name."""
    from training import peers as peer_models
    from training import peers_sequential, pipeline
    from training.train import TrainConfig

    reports: dict[str, dict[str, Any]] = {}
    config = TrainConfig(seed=seed)
    variants = {"mediarec": config}
    if ablations:
        variants |= {f"mediarec-no-{w}": pipeline.ablated(config, w) for w in pipeline.ABLATIONS}
    for name, variant in variants.items():
        result = pipeline.train(prepared, variant, progress=progress)
        metrics = pipeline.json_ready(pipeline.evaluate_model(prepared, result))
        reports[name] = {
            **metrics,
            "train_seconds": round(result.seconds, 2),
            "best_epoch": result.best_epoch,
        }
        if name == "mediarec":  # the same model, serving users it never saw (no training)
            fresh = pipeline.json_ready(pipeline.evaluate_as_new_users(prepared, result))
            reports["mediarec-as-new-users"] = {**fresh, "train_seconds": 0.0}
    if peers:
        split = prepared.split
        trained = peer_models.default_peers(split, seed=seed)
        if peers_sequential.sasrec_available():
            trained |= peers_sequential.sequential_peers(split, seed=seed)
        else:
            print('rectools is not installed: no SASRec peer (pip install -e ".[peers]" brings it)')
        for name, peer in trained.items():
            metrics = pipeline.json_ready(pipeline.evaluate_scorer(prepared, peer.scorer))
            reports[name] = {
                **metrics,
                "train_seconds": round(peer.train_seconds, 2),
                "params": pipeline.json_ready(peer.params),
            }
    return reports


def _mean_and_sd(values: list[Any]) -> tuple[Any, float | None]:
    """The mean of the numbers among ``values`` (None where there are none: a NaN metric) and
    their sample standard deviation (None with fewer than two). Equal values stay as they are
    (an int stays an int: ``users``)."""
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not numbers:
        return None, None
    sd = statistics.stdev(numbers) if len(numbers) > 1 else None
    if all(v == numbers[0] for v in numbers) and len(numbers) == len(values):
        return numbers[0], sd
    return statistics.fmean(numbers), sd


def aggregate_seeds(runs: Mapping[int, Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Per model, the runs of :func:`run_one_seed` (``{seed: {model: report}}``) folded into one
    report of the same shape: every number is the mean over the seeds; each metric of
    :data:`~training.benchmarks.report.METRIC_COLUMNS` (also in ``cold_start``) gets a
    ``<metric>_sd``; ``params`` are the first seed's (tuning may pick others for other seeds);
    ``per_seed`` lists each seed's own report, ``{"seed": s, ...}``."""
    if not runs:
        raise ValueError("no runs to aggregate")
    names = list(next(iter(runs.values())))
    return {
        name: {
            **_fold([run[name] for run in runs.values()]),
            "per_seed": [{"seed": s, **run[name]} for s, run in runs.items()],
        }
        for name in names
    }


def _fold(reports: list[Mapping[str, Any]]) -> dict[str, Any]:
    folded: dict[str, Any] = {}
    for key, first in reports[0].items():
        values = [report.get(key) for report in reports]
        if key == "params" or isinstance(first, str):
            folded[key] = first
        elif isinstance(first, Mapping):
            folded[key] = _fold([v for v in values if isinstance(v, Mapping)])
        else:
            folded[key], sd = _mean_and_sd(values)
            if key in METRIC_COLUMNS:
                folded[f"{key}_sd"] = sd
    return folded
