"""`mediarec train | evaluate | export | publish | runs | models`: the offline model commands."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.benchmarks.report import print_metrics, table
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


def _load_run(run_dir: Path) -> tuple[Any, Any, dict[str, Any]]:
    import torch

    from training.data import load_training_data
    from training.train import TrainConfig, build_model

    if not (run_dir / "best.pt").is_file():
        raise FileNotFoundError(
            f"{run_dir} holds no best.pt: is it a run folder of `mediarec train`?"
        )
    data = load_training_data(run_dir)
    checkpoint = torch.load(run_dir / "best.pt", weights_only=True)
    train_config = dict(checkpoint["train_config"])
    train_config["hidden"] = tuple(train_config["hidden"])
    if "history_encoder" not in train_config:  # a run from before the encoder
        train_config.update(history_encoder="mean", tie_history=False)
    config = TrainConfig(**train_config)
    model = build_model(data, config)
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    return model, data, {"config": config, "epoch": checkpoint["epoch"]}


def cmd_export(args: argparse.Namespace) -> int:
    from training.export import export_bundle

    model, data, info = _load_run(args.run)
    run = (
        json.loads((args.run / "run.json").read_text()) if (args.run / "run.json").is_file() else {}
    )
    version = args.model_version or run.get("model_version") or f"mr-{args.run.name}"
    out = args.out or args.run / "bundle"
    bundle = export_bundle(
        model,
        data,
        out,
        model_version=version,
        metrics=run.get("metrics", {}),
        train_config=info["config"].to_dict(),
        replace=args.replace,
    )
    manifest = json.loads((bundle / "manifest.json").read_text())
    print(
        f"exported {bundle} (version {version}); parity max |onnx - torch| = "
        f"{manifest['parity']['max_abs_diff']:.2e} over {manifest['parity']['pairs']} pairs"
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from training import peers, pipeline
    from training.train import make_scorer

    model, data, info = _load_run(args.run)
    if data.split.kind == "none":
        print(
            f"error: {args.run} was trained on every interaction (--split none) and has no "
            "held-out test; evaluate the validated run its run.json names (params.validated_run)",
            file=sys.stderr,
        )
        return 2
    prepared = pipeline.with_negatives(data)
    reports: dict[str, dict[str, Any]] = {
        "mediarec": pipeline.json_ready(
            pipeline.evaluate_scorer(
                prepared, make_scorer(model, data, through="valid"), args.cold_max_train
            )
        )
    }
    for what in args.ablate or []:
        result = pipeline.train(
            prepared, pipeline.ablated(info["config"], what), progress=not args.quiet
        )
        metrics = pipeline.json_ready(
            pipeline.evaluate_model(prepared, result, args.cold_max_train)
        )
        reports[f"mediarec-no-{what}"] = {**metrics, "train_seconds": result.seconds}
    if args.peers:
        for name, peer in peers.default_peers(prepared.split, seed=info["config"].seed).items():
            reports[name] = {
                **pipeline.json_ready(
                    pipeline.evaluate_scorer(prepared, peer.scorer, args.cold_max_train)
                ),
                "train_seconds": peer.train_seconds,
            }
    print_metrics(reports)
    cold = {name: r.get("cold_start", {}) for name, r in reports.items()}
    print(f"\ncold-start slice (users with <= {args.cold_max_train} training interactions):")
    print_metrics(cold)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(reports, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from functions.common.clock import now_ms
    from functions.common.serving.bundle import BundleError
    from functions.common.settings import get_settings
    from functions.common.store.db import get_database
    from training.publish import publish

    settings = get_settings()
    target = args.to or settings.models_uri
    try:
        result = publish(
            get_database(), args.bundle, target, activate=args.activate, now_ms=now_ms()
        )
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    state = "active" if result["active"] else "registered (not active: pass --activate)"
    print(f"published {result['version']} to {result['uri']}: {state}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from functions.common.store.db import get_database
    from training.runs import list_runs, runs_table

    runs = list_runs(get_database(), args.limit)
    if not runs:
        print("no training runs recorded yet: run `mediarec train`")
        return 0
    print(
        table(
            [
                "run",
                "started (UTC)",
                "train s",
                "status",
                "split",
                "data",
                "hr@10",
                "ndcg@10",
                "auc",
                "model version",
            ],
            runs_table(runs),
        )
    )
    if any("validated_run" in run.metrics and "test" not in run.metrics for run in runs):
        print("(x): a --split none model's metrics, measured on its validated run")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from functions.common.clock import to_iso
    from functions.common.store.db import get_database
    from training.publish import list_models

    models = list_models(get_database())
    if not models:
        print(
            "no model published yet: run `mediarec train`, then "
            "`mediarec publish BUNDLE --activate`"
        )
        return 0
    print(
        table(
            ["version", "active", "created (UTC)", "uri", "checksum"],
            [
                [
                    m["version"],
                    "yes" if m["active"] else "",
                    to_iso(m["created_ms"])[:19],
                    m["uri"],
                    m["checksum"][:12],
                ]
                for m in models
            ],
        )
    )
    return 0


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

    evaluate = commands.add(
        "evaluate",
        "evaluate a trained run: HR/NDCG@10 (100 sampled), Recall/NDCG@20 (full catalog), AUC, "
        "grouped AUC",
        func=cmd_evaluate,
        parents=(DATABASE, PROGRESS),
    )
    evaluate.add_argument("--run", type=Path, required=True, help="a run folder of mediarec train")
    evaluate.add_argument(
        "--ablate",
        action="append",
        choices=["features", "embeddings", "history", "encoder"],
        help="also train and evaluate the model without this part (repeat for several)",
    )
    evaluate.add_argument("--peers", action="store_true", help="also popularity, implicit ALS/BPR")
    evaluate.add_argument(
        "--cold-max-train",
        type=int,
        default=20,
        help="users with at most this many training events count as cold",
    )
    evaluate.add_argument("--out", type=Path, help="write the metrics as JSON")

    export = commands.add(
        "export",
        "export a run as an ONNX bundle (parity-checked against PyTorch)",
        func=cmd_export,
    )
    export.add_argument("--run", type=Path, required=True, help="a run folder of mediarec train")
    export.add_argument("--out", type=Path, help="bundle folder (default RUN/bundle)")
    export.add_argument("--model-version", help="the bundle's version (default: the run's)")
    export.add_argument("--replace", action="store_true", help="overwrite an existing bundle")

    publish = commands.add(
        "publish",
        "copy a bundle to the models location (folder or s3://) and register it",
        func=cmd_publish,
    )
    publish.add_argument("bundle", type=Path, help="the bundle folder (mediarec export)")
    publish.add_argument("--to", help="models location (default $MEDIAREC_MODELS_URI)")
    publish.add_argument("--activate", action="store_true", help="make it the served model")

    runs = commands.add("runs", "list logged training runs", func=cmd_runs)
    runs.add_argument("--limit", type=int, default=20, help="most recent runs shown")

    commands.add("models", "list published model bundles", func=cmd_models)
