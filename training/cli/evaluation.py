"""``mediarec compare``: the online evaluation's A/B comparison of two model versions over a
window of logged impressions (the computation of GET /metrics/compare, on the local database;
it refuses one version twice, which the API answers with a warning); ``mediarec simulate``:
the closed-loop simulator (training/simulation/loop.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from training.cli.options import Commands


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.3f}%"


def _interval(part: dict[str, Any]) -> str:
    ci = part.get("ci95")
    if part.get("value") is None or not ci:
        return "-"
    return (
        f"{_percent(part['value'])} [{_percent(ci[0])}, {_percent(ci[1])}] p={part['p_value']:.3g}"
    )


def print_comparison(result: dict[str, Any]) -> None:
    a, b = result["a"], result["b"]
    print(f"{result['from']} .. {result['to']}  (k={result['k']})")
    print("| arm | model version | users | impressions | PaC | CTR |")
    print("|---|---|---|---|---|---|")
    for name, arm in (("a", a), ("b", b)):
        print(
            f"| {name} | {arm['model_version']} | {arm['users']} | {arm['impressions']} | "
            f"{_percent(arm['pac']['value'])} | {_percent(arm['ctr']['value'])} |"
        )
    for metric in ("pac", "ctr"):
        print(
            f"{metric.upper()} b - a, users as the unit: {_interval(result[metric]['difference'])}"
        )
        print(f"{metric.upper()} b - a, pooled z over impressions (overstates certainty): "
              f"{_interval(result[metric]['pooled_z_test'])}")  # fmt: skip
    ratio = result["sample_ratio"]
    if ratio.get("p_value") is not None:
        print(
            f"sample ratio: {ratio['users_per_arm']} users per logged arm, b share "
            f"{ratio['observed_b_share']:.4f} vs {ratio['expected_b_share']} configured "
            f"(p={ratio['p_value']:.3g})"
        )
    for warning in result["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)


def cmd_compare(args: argparse.Namespace) -> int:
    from functions.common import clock
    from functions.common.settings import get_settings
    from functions.common.store.db import get_database
    from functions.metrics.compare import compare_versions
    from functions.metrics.logic import Window

    if args.a == args.b:
        print("error: --a and --b name the same version", file=sys.stderr)
        return 2
    try:
        end = clock.parse_timestamp_text(args.to) if args.to else clock.now_ms() + 1
        start = clock.parse_timestamp_text(args.from_) if args.from_ else end - clock.DAY_MS
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    settings = get_settings()
    window = Window(min(start, end), end)
    result = get_database().read(
        lambda conn: compare_versions(
            conn, args.a, args.b, window, args.k, args.platform, settings, args.share
        )
    )
    print_comparison(result)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 1 if result["sample_ratio"].get("mismatch") else 0


def register(commands: Commands) -> None:
    register_simulate(commands)
    compare = commands.add(
        "compare",
        "A/B comparison of two model versions on the logged impressions",
        func=cmd_compare,
        description="Each arm's PaC and CTR, the difference b - a with a 95% interval and "
        "p-value with the user as the unit (delta method), the pooled impression z-test beside "
        "it, and a sample-ratio check of the logged arms (exit status 1 when it fails).",
    )
    compare.add_argument("--a", required=True, help="the control's model version")
    compare.add_argument("--b", required=True, help="the treatment's model version")
    compare.add_argument(
        "--from", dest="from_", metavar="TIME", help="ISO-8601 or epoch (default: to - 24 h)"
    )
    compare.add_argument("--to", metavar="TIME", help="ISO-8601 or epoch, exclusive (default: now)")
    compare.add_argument("--k", type=int, default=10, help="impressions up to this position")
    compare.add_argument("--platform", help="one platform only (default: all)")
    compare.add_argument(
        "--share", type=float, help="the configured share of arm b (default MEDIAREC_AB_SHARE)"
    )
    compare.add_argument("--out", type=Path, metavar="PATH", help="also write the JSON here")


def cmd_simulate(args: argparse.Namespace) -> int:
    import tempfile

    from training.simulation import SimulationConfig, simulate

    config = SimulationConfig(
        users=args.users, days=args.days, policy=args.policy, retrain=args.retrain,
        seed=args.seed, items=args.items,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="mediarec-simulate-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        result = simulate(config, folder, progress=not args.quiet)
    print(
        f"{result.feeds} feeds, {result.impressions} impressions, {result.events} events over "
        f"{config.days} days in {result.seconds:.0f} s (policy {config.policy})"
    )
    print("| served version | PaC@10 | 95% interval | impressions |")
    print("|---|---|---|---|")
    for version, pac in result.pac.items():
        ci = pac["ci95"] or [None, None]
        print(f"| {version} | {_percent(pac['value'])} | [{_percent(ci[0])}, {_percent(ci[1])}] "
              f"| {pac['denominator']} |")  # fmt: skip
    if result.comparison is not None:
        print_comparison(result.comparison)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        payload = {"config": vars(config), "feeds": result.feeds, "impressions": result.impressions,
                   "events": result.events, "pac": result.pac, "comparison": result.comparison,
                   "seconds": round(result.seconds, 1)}  # fmt: skip
        args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


def register_simulate(commands: Commands) -> None:
    from training.cli.options import PROGRESS

    simulate = commands.add(
        "simulate",
        "closed-loop simulation: synthetic users react to the real handlers' feeds",
        func=cmd_simulate,
        description="Synthetic users whose hidden tastes decide their clicks, views and likes "
        "on what the recommend handler actually shows them (with position bias), sent back "
        "through the ingest handler; then the scheduled evaluation and PaC per served version "
        "(and, for --policy ab, the user-level A/B comparison). Runs in process on its own "
        "temporary database and models folder.",
        parents=(PROGRESS,),
    )
    simulate.add_argument("--users", type=int, default=300, help="synthetic users")
    simulate.add_argument("--days", type=int, default=3, help="simulated days")
    simulate.add_argument(
        "--policy",
        choices=["popularity", "model", "ab"],
        default="ab",
        help="popularity for everyone, a trained model for everyone, or half and half",
    )
    simulate.add_argument(
        "--retrain",
        choices=["none", "daily"],
        default="none",
        help="retrain and republish the model each simulated night",
    )
    simulate.add_argument("--items", type=int, default=400, help="catalog size")
    simulate.add_argument("--seed", type=int, default=7, help="the world's and the users' seed")
    simulate.add_argument(
        "--keep", type=Path, metavar="DIR", help="keep the database and models in DIR"
    )
    simulate.add_argument("--out", type=Path, metavar="PATH", help="also write the JSON here")
