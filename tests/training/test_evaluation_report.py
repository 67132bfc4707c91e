"""mediarec report: the charts and the Markdown summary hold the numbers GET /metrics and
/metrics/compare compute for the same range, and --s3 uploads them (moto)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from functions.common.clock import HOUR_MS
from functions.metrics.logic import Window, window_metrics
from tests.conftest import FIXED_NOW_MS
from tests.utils.factories import add_events, add_impressions, add_items
from training.cli import main
from training.evaluation_report import collect, upload, write_report

START = FIXED_NOW_MS - 12 * HOUR_MS
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def logged(db):
    """Two versions in two A/B arms over six hours, on two platforms: every user engages with
    the first item of each feed, arm b's users also with the second."""
    add_items(db, [{"item_id": f"i{n}", "categories": [f"c{n % 3}"]} for n in range(6)])
    for hour in range(6):
        for n in range(8):
            user, arm = f"u{n}", "a" if n % 2 == 0 else "b"
            version = "m-a" if arm == "a" else "m-b"
            served = START + hour * HOUR_MS + n * 1000
            rid = f"r{hour}-{n}"
            add_impressions(
                db,
                rid,
                user,
                ["i0", "i1", "i2"],
                served,
                platform="web" if n < 4 else "ios",
                model_version=version,
                arm=arm,
            )
            clicked = ["i0"] if arm == "a" else ["i0", "i1"]
            add_events(
                db,
                [
                    {
                        "user_id": user,
                        "item_id": item,
                        "event_type": "click",
                        "ts_ms": served + 5000,
                        "recommendation_id": rid,
                    }
                    for item in clicked
                ],
            )
    return db


def test_the_report_holds_the_metrics_of_the_range(logged, settings, tmp_path):
    data = collect(logged, settings, START, START + 6 * HOUR_MS, k=3)
    assert data["granularity"] == "hour"
    assert {(s["platform"], s["model_version"]) for s in data["series"]} == {
        ("web", "m-a"),
        ("web", "m-b"),
        ("ios", "m-a"),
        ("ios", "m-b"),
    }
    assert all(len(s["points"]) == 6 for s in data["series"])
    whole = logged.read(
        lambda c: window_metrics(c, Window(START, START + 6 * HOUR_MS), 3, None, settings)
    )
    assert data["whole"]["pac"] == whole["pac"]
    # the two most served versions are compared: b engages 2 of 3, a 1 of 3
    comparison = data["comparison"]
    assert {comparison["a"]["model_version"], comparison["b"]["model_version"]} == {"m-a", "m-b"}
    files = write_report(data, tmp_path / "report")
    names = sorted(f.name for f in files)
    assert names == ["ab_comparison.png", "pac_by_position.png", "pac_over_time.png", "summary.md"]
    for path in files:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 5000
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert f"| PaC@3 | {100 * whole['pac']['value']:.2f}% |" in summary
    assert (
        "users as the unit (delta method)" in summary
        and "![pac_over_time](pac_over_time.png)" in summary
    )
    for position in whole["by_position"]:
        assert f"| {position['position']} | {position['pac']['denominator']} |" in summary


def test_a_long_range_is_drawn_by_day_and_an_empty_one_still_renders(db, settings, tmp_path):
    data = collect(db, settings, START - 10 * 24 * HOUR_MS, START, k=10)
    assert data["granularity"] == "day" and data["comparison"] is None and data["series"] == []
    files = write_report(data, tmp_path / "empty")
    assert sorted(f.name for f in files) == [
        "pac_by_position.png",
        "pac_over_time.png",
        "summary.md",
    ]
    assert "nothing to compare" in (tmp_path / "empty" / "summary.md").read_text()


def test_the_command_writes_and_uploads_the_report(logged, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    args = [
        "report",
        "--from",
        "2026-11-22T00:00:00Z",
        "--to",
        "2026-11-22T06:00:00Z",
        "--k",
        "3",
        "--a",
        "m-a",
        "--b",
        "m-b",
        "--out",
        str(tmp_path / "out"),
    ]
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="reports")
        assert main([*args, "--s3", "s3://reports/daily/2026-11-22"]) == 0
        listed = s3.list_objects_v2(Bucket="reports")["Contents"]
        keys = {o["Key"] for o in listed}
        png = s3.head_object(Bucket="reports", Key="daily/2026-11-22/pac_over_time.png")
    assert keys == {
        f"daily/2026-11-22/{n}"
        for n in (
            "ab_comparison.png",
            "pac_by_position.png",
            "pac_over_time.png",
            "summary.md",
            "report.json",
        )
    }
    assert png["ContentType"] == "image/png"
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["comparison"]["a"]["model_version"] == "m-a"
    assert saved["comparison"]["pac"]["difference"]["value"] == pytest.approx(1 / 3)
    assert "uploaded s3://reports/daily/2026-11-22/summary.md" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--a", "m-a"], "go together"),
        (["--a", "m-a", "--b", "m-a"], "same version"),
        (["--from", "2026-11-22T06:00:00Z", "--to", "2026-11-22T00:00:00Z"], "before --to"),
        (["--from", "2025-01-01T00:00:00Z", "--to", "2026-11-22T00:00:00Z"], "at most 400"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, capsys, extra, message):
    assert main(["report", "--out", str(tmp_path / "x"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_an_s3_destination_must_name_a_bucket(tmp_path):
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        upload([], "reports/daily")


def test_the_windows_stay_inside_the_range(logged, settings):
    # feeds are served a second apart from each hour's start: cut three off the first hour and
    # keep five of the fourth
    data = collect(logged, settings, START + 2_500, START + 3 * HOUR_MS + 4_500, k=3)
    starts = [p["start_ms"] for p in data["series"][0]["points"]]
    assert starts[0] == START + 2_500  # cut at --from, not the hour before it
    shown = sum(p["impressions"] for s in data["series"] for p in s["points"])
    assert shown == data["whole"]["pac"]["denominator"] == 3 * (5 + 8 + 8 + 5)


def test_a_failed_upload_is_said_not_raised(logged, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():  # no such bucket
        code = main(["report", "--out", str(tmp_path / "r"), "--s3", "s3://missing-bucket/x"])
    assert code == 1 and "the upload to s3://missing-bucket/x failed" in capsys.readouterr().err
    assert (tmp_path / "r" / "summary.md").is_file()  # what was written stays
