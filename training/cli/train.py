"""`mediarec train`: split, train, evaluate, export and log a run (``--split none``: then train the
served model on every interaction). What happens to a trained run afterwards is in ``runs.py``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.benchmarks.report import print_metrics
from training.cli.options import DATABASE, PROGRESS, Commands

if TYPE_CHECKING:
    from functions.common.store.db import Database
    from training.runs import RunRecord


def _train_config(args: argparse.Namespace) -> Any:
    from training.train import TrainConfig

    return TrainConfig(
        seed=args.seed,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        negatives=args.negatives,
        negative_sampling=args.negative_sampling,
        patience=args.patience,
        dot_dim=args.dim,
        history=args.history,
    )


def cmd_train(args: argparse.Namespace) -> int:
    from functions.common.clock import now_ms
    from functions.common.settings import get_settings
    from functions.common.store.db import fetch_one, get_database
    from training import pipeline
    from training.data import save_training_data
    from training.export import export_bundle
    from training.publish import publish
    from training.runs import RunRecord

    settings, database = get_settings(), get_database()
    if args.skip_if_active:
        active = database.read(lambda c: fetch_one(c, "serving/models", "active_model"))
        if active is not None:
            print(f"model {active['version']} is active; not training (--skip-if-active)")
            return 0
    run_id = pipeline.new_run_id()
    run_dir = args.runs_dir / run_id
    config = _train_config(args)
    started_ms = int(time.time() * 1000)
    prepared = pipeline.prepare(database, settings, cut=args.cut)
    split = prepared.split
    print(
        f"{split.n_users} users, {split.n_items} items, {len(split.train)} training "
        f"interactions ({split.kind}); features in {prepared.seconds:.1f} s"
    )
    result = pipeline.train(prepared, config, run_dir, progress=not args.quiet)
    metrics = pipeline.json_ready(pipeline.evaluate_model(prepared, result))
    metrics["train_seconds"] = round(result.seconds, 2)
    save_training_data(prepared.data, run_dir)
    data, params = prepared.data, {**config.to_dict(), "cut": args.cut, "split": args.split}
    logged_metrics: dict[str, Any] = {"test": metrics}
    bundle_metrics: dict[str, Any] = {"test": metrics, "best_epoch": result.best_epoch}
    if args.split == "none":
        # The validated run is logged (no bundle); the production model is trained on every
        # interaction of the same read, for the epochs early stopping chose, and exported.
        validated_id, best_epoch = run_id, result.best_epoch
        run_id = f"{validated_id}-all"
        validated = RunRecord(
            run_id=validated_id,
            started_ms=started_ms,
            seconds=round(result.seconds, 2),
            status="validated",
            params={**params, "split": split.kind, "production_run": run_id},
            data_fingerprint=split.data.fingerprint(),
            metrics={"test": metrics, "best_epoch": best_epoch},
            run_dir=str(run_dir),
        )
        _log_run(database, validated, run_dir)
        print_metrics({"mediarec (validated run)": metrics})
        print(f"validated run {run_dir}: best epoch {best_epoch}")
        run_dir, started_ms = args.runs_dir / run_id, int(time.time() * 1000)
        config = pipeline.production_config(config, result)
        data = pipeline.prepare_production(database, settings, split.data)
        print(
            f"training on all {len(data.split.train)} interactions for {_epochs(config.epochs)} "
            "(the validated run's best; no early stopping)"
        )
        result = pipeline.train_production(data, config, run_dir, progress=not args.quiet)
        save_training_data(data, run_dir)
        params = {**config.to_dict(), "cut": None, "split": "none", "early_stopping": False}
        params["validated_run"] = validated_id
        bundle_metrics = logged_metrics = {
            "measured_on": "validated_run",
            "note": (
                f"held-out metrics of the validated run {validated_id} ({split.kind} split, "
                f"best epoch {best_epoch}); this model was then trained on every interaction "
                f"for {_epochs(config.epochs)} and has no held-out metrics of its own"
            ),
            "validated_run": {
                "run_id": validated_id,
                "split": split.kind,
                "best_epoch": best_epoch,
                "test": metrics,
            },
            "epochs": config.epochs,
        }
    version = args.model_version or f"mr-{run_id}"
    bundle = export_bundle(
        result.model,
        data,
        run_dir / "bundle",
        model_version=version,
        metrics=bundle_metrics,
        train_config=config.to_dict(),
    )
    record = RunRecord(
        run_id=run_id,
        started_ms=started_ms,
        seconds=round(result.seconds, 2),
        status="trained",
        params=params,
        data_fingerprint=data.split.data.fingerprint(),
        metrics=logged_metrics,
        run_dir=str(run_dir),
        bundle_path=str(bundle),
        model_version=version,
    )
    _log_run(database, record, run_dir)
    if args.split == "none":
        print(
            f"trained on every interaction for {_epochs(config.epochs)}; run {run_dir}; bundle "
            f"{bundle} (version {version}; its metrics are the validated run's)"
        )
    else:
        print_metrics({"mediarec": metrics})
        print(f"best epoch {result.best_epoch}; run {run_dir}; bundle {bundle} (version {version})")
    if args.publish:
        published = publish(database, bundle, settings.models_uri, activate=True, now_ms=now_ms())
        print(f"published and activated {version} at {published['uri']}")
    else:
        print(f"publish it with: mediarec publish {bundle} --activate")
    return 0


def _epochs(count: int) -> str:
    return f"{count} epoch" if count == 1 else f"{count} epochs"


def _log_run(database: Database, record: RunRecord, folder: Path) -> None:
    """run.json in the run's folder, and its row in the experiment log."""
    from training.runs import record_run

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps(record.__dict__, indent=2) + "\n", "utf-8")
    record_run(database, record)


def add_train_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=42, help="random seed of split and training")
    parser.add_argument("--epochs", type=int, default=30, help="at most; early stopping decides")
    parser.add_argument("--patience", type=int, default=4, help="epochs without a better val HR@10")
    parser.add_argument(
        "--batch-size", type=int, default=6400, help="next-item targets per training step"
    )
    parser.add_argument("--lr", type=float, default=3e-3, help="AdamW learning rate")
    parser.add_argument("--weight-decay", type=float, default=1e-4, help="Adam weight decay")
    parser.add_argument(
        "--dim", type=int, default=64, help="size of the item embeddings and history states"
    )
    parser.add_argument(
        "--history",
        type=int,
        default=50,
        choices=range(2, 201),
        metavar="N",
        help="latest interactions the sequence encoder reads (2-200)",
    )
    parser.add_argument("--negatives", type=int, default=4, help="sampled negatives per positive")
    parser.add_argument(
        "--negative-sampling",
        choices=["uniform", "popularity"],
        default="uniform",
        help="how negatives are drawn from the catalog",
    )


class _SplitOrCut(argparse.Action):
    """Stores --split or --cut and refuses both --split none and --cut, in either order (every
    default is in the namespace before the first flag is read)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        if getattr(namespace, "split", None) == "none" and getattr(namespace, "cut", None):
            parser.error(
                "--cut cannot be combined with --split none: the validated run of --split none "
                "is leave-last-out, and the model it exports trains on every interaction"
            )


def register(commands: Commands) -> None:
    train = commands.add(
        "train",
        "train the model on the database's events, evaluate it, export a bundle, log the run",
        func=cmd_train,
        parents=(DATABASE, PROGRESS),
    )
    add_train_options(train)
    train.add_argument(
        "--split",
        choices=["leave-last-out", "none"],
        default="leave-last-out",
        action=_SplitOrCut,
        help="none: validate with leave-last-out as usual, then train the exported model on "
        "every interaction for the validated run's best epoch count (no early stopping)",
    )
    train.add_argument(
        "--cut",
        metavar="TIME",
        action=_SplitOrCut,
        help="global time cut instead of leave-last-out (not with --split none)",
    )
    train.add_argument(
        "--runs-dir", type=Path, default=Path("runs"), help="folder of the run folders"
    )
    train.add_argument("--model-version", help="the bundle's version (default: mr-<run id>)")
    train.add_argument(
        "--publish",
        action="store_true",
        help="publish the bundle to $MEDIAREC_MODELS_URI and activate it",
    )
    train.add_argument(
        "--skip-if-active",
        action="store_true",
        help="do nothing when a model is already active (make demo)",
    )
