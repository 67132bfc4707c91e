"""`mediarec evaluate | export | publish | runs | models`: what happens to a trained run."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from training.benchmarks.report import print_metrics, table
from training.cli.options import DATABASE, PROGRESS, Commands


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
    from training import peers, peers_sequential, pipeline
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
        seed = info["config"].seed
        trained = peers.default_peers(prepared.split, seed=seed)
        if peers_sequential.sasrec_available():
            trained |= peers_sequential.sequential_peers(prepared.split, seed=seed)
        else:
            print('rectools is not installed: no SASRec peer (pip install -e ".[peers]" brings it)')
        for name, peer in trained.items():
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


def register(commands: Commands) -> None:
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
    evaluate.add_argument(
        "--peers",
        action="store_true",
        help="also popularity, implicit ALS/BPR and (with the peers extra) RecTools' SASRec, "
        "each tuned on validation",
    )
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
