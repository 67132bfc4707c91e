"""``mediarec report``: the online evaluation of a time range as PNG charts and a Markdown summary
in a folder, optionally uploaded to S3 (training/evaluation_report.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from training.cli.options import Commands, add_window_options, window_of


def cmd_report(args: argparse.Namespace) -> int:
    from functions.common import clock
    from functions.common.settings import get_settings
    from functions.common.store.db import get_database
    from training.evaluation_report import collect, upload, write_report

    if (args.a is None) != (args.b is None):
        print("error: --a and --b go together (or neither: the two most served)", file=sys.stderr)
        return 2
    if args.a is not None and args.a == args.b:
        print("error: --a and --b name the same version", file=sys.stderr)
        return 2
    try:
        start, end = window_of(args, 7 * clock.DAY_MS)
        if start >= end:
            raise ValueError("--from must come before --to")
        versions = (args.a, args.b) if args.a is not None else None
        data = collect(
            get_database(), get_settings(), start, end, args.k, args.platform, versions, args.share
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        files = write_report(data, args.out)
        (args.out / "report.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        print(f"error: cannot write the report to {args.out}: {error}", file=sys.stderr)
        return 2
    files.append(args.out / "report.json")
    for path in files:
        print(f"wrote {path}")
    if args.s3:
        try:
            keys = upload(files, args.s3)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except Exception as error:  # boto3's credential, network and service errors alike
            print(f"error: the upload to {args.s3} failed: {error}", file=sys.stderr)
            return 1
        bucket = args.s3.removeprefix("s3://").split("/", 1)[0]
        for key in keys:
            print(f"uploaded s3://{bucket}/{key}")
    return 0


def register(commands: Commands) -> None:
    report = commands.add(
        "report",
        "PNG charts and a Markdown summary of the online evaluation over a time range",
        func=cmd_report,
        description="PaC per hour (ranges up to 3 days) or day for each platform x model "
        "version with Wilson bands, PaC by position, and the A/B comparison of two versions "
        "(user-level intervals, the pooled test beside them, the sample-ratio check), as "
        "pac_over_time.png, pac_by_position.png, ab_comparison.png, summary.md and "
        "report.json in --out; --s3 also uploads them.",
    )
    add_window_options(report, "7 days")
    report.add_argument("--out", type=Path, required=True, metavar="DIR", help="where files go")
    report.add_argument("--k", type=int, default=10, help="impressions up to this position")
    report.add_argument("--platform", help="one platform only (default: all)")
    report.add_argument("--a", help="the control's model version (default: the most served)")
    report.add_argument("--b", help="the treatment's model version (default: the next)")
    report.add_argument(
        "--share", type=float, help="the configured share of arm b (default MEDIAREC_AB_SHARE)"
    )
    report.add_argument("--s3", metavar="URI", help="also upload to s3://bucket/prefix")
