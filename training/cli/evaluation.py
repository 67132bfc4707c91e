"""``mediarec compare``: the online evaluation's A/B comparison of two model versions over a
window of logged impressions (the computation of GET /metrics/compare, on the local database;
it refuses one version twice, which the API answers with a warning); ``mediarec simulate``:
the closed-loop simulator (training/simulation/loop.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from training.benchmarks.report import write_json
from training.cli.options import Commands, add_window_options, window_of


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
        start, end = window_of(args, clock.DAY_MS)
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
        write_json(args.out, result)
    return 1 if result["sample_ratio"].get("mismatch") else 0


def cmd_evaluate_offline(args: argparse.Namespace) -> int:
    from functions.common import clock
    from functions.common.serving.model_runtime import BundleError, load_model
    from functions.common.settings import get_settings
    from functions.common.store.db import get_database, store_errors
    from training.off_policy import TooLittleRandomisation, evaluate_offline

    try:
        start, end = window_of(args, clock.DAY_MS)
        model = load_model(args.bundle)
    except (ValueError, BundleError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        result = evaluate_offline(model, get_database(), get_settings(), start, end, args.k,
                                  args.clip)  # fmt: skip
    except TooLittleRandomisation as error:
        print(f"error: too little randomisation to estimate anything: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        # refused, or the store's own error on either engine (psycopg's once it is loaded,
        # which opening a PostgreSQL store does): a message, not a traceback
        if not isinstance(error, (ValueError, *store_errors())):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2
    print_offline_estimate(result)
    if args.out:
        write_json(args.out, result)
    return 0


def print_offline_estimate(result: dict[str, Any]) -> None:
    def shown(part: dict[str, Any]) -> str:
        ci = part["ci95"]
        if part["value"] is None:
            return "-"
        if not ci:
            return _percent(part["value"])
        return f"{_percent(part['value'])} [{_percent(ci[0])}, {_percent(ci[1])}]"

    bias = result["position_bias"]
    print(f"candidate {result['model_version']} on {result['feeds']} logged feeds of "
          f"{result['users']} users (k={result['k']})")  # fmt: skip
    print("| estimator | PaC [95% interval, users as the unit] |")
    print("|---|---|")
    print(f"| self-normalised IPS | {shown(result['snips'])} |")
    print(f"| clipped IPS (clip {result['clip']:g}) | {shown(result['ips'])} |")
    coverage = result["coverage"]
    print(
        f"coverage {'-' if coverage is None else f'{coverage:.1%}'} of the candidate's slots; "
        f"{result['explored_hits']} of {result['explored_slots']} exploration slots held one of "
        f"its items; position bias eta {bias['eta']:.2f}"
        f"{'' if bias['fitted'] else ' (not fitted)'}"
    )
    for warning in result["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)


def register(commands: Commands) -> None:
    register_simulate(commands)
    offline = commands.add(
        "evaluate-offline",
        "off-policy estimate of a candidate bundle's PaC on the logged traffic",
        func=cmd_evaluate_offline,
        description="Replays each logged feed of the window with the candidate bundle and "
        "estimates the PaC it would have earned: self-normalised and clipped inverse-propensity "
        "estimates over the logged propensities (exploration slots and ranked slots), a "
        "position-based click model fitted on the exploration slots, and 95%% intervals with "
        "the user as the unit. Exit status 2 when the logs carry no randomisation to estimate "
        "from. Assumptions: training/off_policy.py and the README.",
    )
    offline.add_argument("--bundle", type=Path, required=True, metavar="DIR",
                         help="the candidate's exported bundle folder")  # fmt: skip
    add_window_options(offline, "24 h")
    offline.add_argument("--k", type=int, default=10, help="the candidate's feed length")
    offline.add_argument(
        "--clip", type=float, default=500.0, help="the largest inverse-propensity weight"
    )
    offline.add_argument("--out", type=Path, metavar="PATH", help="also write the JSON here")
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
    add_window_options(compare, "24 h")
    compare.add_argument("--k", type=int, default=10, help="impressions up to this position")
    compare.add_argument("--platform", help="one platform only (default: all)")
    compare.add_argument(
        "--share", type=float, help="the configured share of arm b (default MEDIAREC_AB_SHARE)"
    )
    compare.add_argument("--out", type=Path, metavar="PATH", help="also write the JSON here")


def cmd_simulate(args: argparse.Namespace) -> int:
    import os
    import tempfile

    from training.simulation import SimulationConfig, simulate

    key: str = args.key or os.environ.get("MEDIAREC_API_KEY") or ""
    if args.url:
        in_process_only = [f for f in ("policy", "retrain", "keep") if getattr(args, f)]
        if in_process_only:
            flags = ", ".join(f"--{f}" for f in in_process_only)
            print(f"error: {flags}: in process only; with --url the server's own models "
                  "serve (train and publish them on its store)", file=sys.stderr)  # fmt: skip
            return 2
        if not key:
            print("error: --url needs --key (or MEDIAREC_API_KEY): a key with the admin scope",
                  file=sys.stderr)  # fmt: skip
            return 2
        if (args.seed_only or args.no_seed) and not args.tag:
            print("error: --seed-only and --no-seed need --tag, the ids the two runs share",
                  file=sys.stderr)  # fmt: skip
            return 2
    elif args.tag or args.seed_only or args.no_seed:
        print("error: --tag, --seed-only and --no-seed go with --url", file=sys.stderr)
        return 2
    config = SimulationConfig(
        users=args.users, days=args.days, policy=args.policy or "ab",
        retrain=args.retrain or "none", seed=args.seed, items=args.items,
    )  # fmt: skip
    if args.url:
        from training.simulation.remote import ApiError, simulate_remote

        try:
            result = simulate_remote(config, args.url, key, progress=not args.quiet,
                                     tag=args.tag, seed_server=not args.no_seed,
                                     visit=not args.seed_only)  # fmt: skip
        except (ApiError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        if args.seed_only:
            print(f"posted the catalog and history tagged {args.tag}; train and publish on the "
                  f"server's store, then run with --tag {args.tag} --no-seed")  # fmt: skip
            return 0
    else:
        with tempfile.TemporaryDirectory(prefix="mediarec-simulate-") as tmp:
            folder = args.keep or Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            result = simulate(config, folder, progress=not args.quiet)
    where = args.url or "in process"
    print(
        f"{result.feeds} feeds, {result.impressions} impressions, {result.events} events over "
        f"{config.days} days in {result.seconds:.0f} s "
        f"({'the server' + chr(39) + 's policy' if args.url else 'policy ' + config.policy}, "
        f"{where})"
    )
    print("| served version | PaC@10 | 95% interval | impressions |")
    print("|---|---|---|---|")
    for version, pac in result.pac.items():
        ci = pac["ci95"] or [None, None]
        print(f"| {version} | {_percent(pac['value'])} | [{_percent(ci[0])}, {_percent(ci[1])}] "
              f"| {pac['denominator']} |")  # fmt: skip
    expected = result.expected_pac()
    print("expected PaC@10 under the synthetic users' own click model (no click noise; by "
          "served version, users as the unit):")  # fmt: skip
    for version, part in expected.items():
        if version != "difference" and part["value"] is not None:
            se = part["se"]
            spread = "" if se is None else f" ± {100 * 1.959964 * se:.3f} points"
            print(f"  {version}: {_percent(part['value'])}{spread}")
    if "difference" in expected:
        diff = expected["difference"]
        print(f"  {diff['b']} - {diff['a']}: {_interval(diff)}")
    if result.comparison is not None:
        print_comparison(result.comparison)
    if args.out:
        payload = {"config": vars(config), "url": args.url, "feeds": result.feeds,
                   "impressions": result.impressions, "events": result.events,
                   "pac": result.pac, "expected_pac": expected,
                   "comparison": result.comparison,
                   "seconds": round(result.seconds, 1)}  # fmt: skip
        write_json(args.out, payload)
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
        "temporary database and models folder, or against a running server with --url.",
        parents=(PROGRESS,),
    )
    simulate.add_argument("--users", type=int, default=300, help="synthetic users")
    simulate.add_argument("--days", type=int, default=3, help="simulated days")
    simulate.add_argument(
        "--policy",
        choices=["popularity", "model", "ab"],
        help="popularity for everyone, a trained model for everyone, or half and half "
        "(default: ab; in process only)",
    )
    simulate.add_argument(
        "--retrain",
        choices=["none", "daily"],
        help="retrain and republish the model each simulated night (default: none; in "
        "process only)",
    )
    simulate.add_argument("--items", type=int, default=400, help="catalog size")
    simulate.add_argument("--seed", type=int, default=7, help="the world's and the users' seed")
    simulate.add_argument(
        "--keep", type=Path, metavar="DIR", help="keep the database and models in DIR"
    )
    simulate.add_argument("--out", type=Path, metavar="PATH", help="also write the JSON here")
    simulate.add_argument(
        "--url",
        metavar="URL",
        help="drive a running server through its HTTP API instead (e.g. http://127.0.0.1:8000 "
        "from mediarec serve): it posts a tagged synthetic catalog and history, then the "
        "rounds of visits; the server's own models serve",
    )
    simulate.add_argument(
        "--key", help="with --url: an admin-scope API key (default: $MEDIAREC_API_KEY)"
    )
    simulate.add_argument(
        "--tag", help="with --url: the prefix of every simulated id (default: a new one per run)"
    )
    simulate.add_argument(
        "--seed-only",
        action="store_true",
        help="with --url --tag: post the catalog and history, then stop (train and publish "
        "a model on the server's store before the visits)",
    )
    simulate.add_argument(
        "--no-seed",
        action="store_true",
        help="with --url --tag: the catalog and history are there (from --seed-only): visits only",
    )
