"""``mediarec import csv`` and ``mediarec import movielens-100k``: flags, exit codes, the
summary line they print."""

from __future__ import annotations

import argparse

import pytest

from tests.utils.import_files import T0, events, movielens_folder, write
from training.cli import build_parser
from training.datasets.report import ImportReport


def cli_parser() -> argparse.ArgumentParser:
    """The real ``mediarec`` parser; the tests call ``args.func`` themselves, so ``--db`` is parsed
    but not applied (the fixture's database is used)."""
    return build_parser()


def test_cli_imports_a_csv_with_flags(db, tmp_path, capsys):
    log = write(tmp_path / "log.tsv", f"uid\tmid\twhen\tstars\nu1\tm1\t{T0}\t4.5\n")
    args = cli_parser().parse_args(
        [
            "import",
            "csv",
            str(log),
            "--user-col",
            "uid",
            "--item-col",
            "mid",
            "--timestamp-col",
            "when",
            "--rating-col",
            "stars",
            "--like-threshold",
            "5",
            "--platform",
            "ios",
            "--quiet",
            "--db",
            str(tmp_path / "ignored-here.sqlite"),
        ]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "1 row -> 1 view event (0 duplicates), 1 user, 1 item (1 new in the catalog)" in out
    assert [(e["event_type"], e["platform"]) for e in events(db)] == [("view", "ios")]


def test_cli_reports_malformed_input_and_missing_files_with_exit_code_2(db, tmp_path, capsys):
    parser = cli_parser()
    log = write(tmp_path / "bad.csv", f"user_id,item_id,timestamp\nu1,i1,{T0}\nu2,i2,soon\n")
    args = parser.parse_args(["import", "csv", str(log), "--quiet"])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "line 3: timestamp 'soon'" in err

    args = parser.parse_args(["import", "csv", str(log), "--quiet", "--skip-invalid"])
    assert args.func(args) == 0
    captured = capsys.readouterr()
    assert "1 malformed row skipped" in captured.out
    assert "line 3: timestamp 'soon'" in captured.err

    args = parser.parse_args(["import", "movielens-100k", str(tmp_path / "none"), "--quiet"])
    assert args.func(args) == 2
    assert "error: " in capsys.readouterr().err


def test_cli_imports_a_movielens_folder(db, tmp_path, capsys):
    folder = movielens_folder(tmp_path)
    args = cli_parser().parse_args(["import", "movielens-100k", str(folder), "--quiet"])
    assert args.func(args) == 0
    assert "4 ratings -> 4 view + 2 like events" in capsys.readouterr().out


@pytest.mark.parametrize("command", [["import", "csv"], ["import", "movielens-100k"]])
def test_cli_import_commands_have_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_parser().parse_args([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--db" in out and "--skip-invalid" in out


def test_the_like_threshold_flag_accepts_none():
    args = cli_parser().parse_args(["import", "csv", "f.csv", "--like-threshold", "none"])
    assert args.like_threshold is None and args.delimiter is None
    args = cli_parser().parse_args(["import", "csv", "f.csv", "--delimiter", "tab"])
    assert args.delimiter == "\t"


def test_report_summary_reads_well():
    report = ImportReport(
        source="u.data",
        rows_read=100_000,
        users=943,
        items=1682,
        events_stored=155_375,
        events_by_type={"view": 100_000, "like": 55_375},
        seconds=4.06,
        row_label="rating",
    )
    assert report.summary() == (
        "loaded u.data: 100000 ratings -> 100000 view + 55375 like events (0 duplicates), "
        "943 users, 1682 items in 4.1 s"
    )
