"""CLI failure paths: clear one-line errors and exit status 2, never a traceback."""

from __future__ import annotations

import pytest

from training.cli import main


def test_quality_benchmark_reports_a_bad_csv_header(tmp_path, capsys):
    log = tmp_path / "log.csv"
    log.write_text("userId,movieId,timestamp\n1,2,880000000\n")
    assert (
        main(
            [
                "benchmark",
                "quality",
                "--dataset",
                "csv",
                "--path",
                str(log),
                "--out",
                str(tmp_path / "q.json"),
            ]
        )
        == 2
    )
    assert "missing columns user_id, item_id" in capsys.readouterr().err


def test_quality_benchmark_reports_a_missing_dataset(tmp_path, capsys):
    assert (
        main(
            [
                "benchmark",
                "quality",
                "--path",
                str(tmp_path / "nowhere"),
                "--out",
                str(tmp_path / "q.json"),
            ]
        )
        == 2
    )
    assert "MovieLens 100K not found" in capsys.readouterr().err


def test_publish_refuses_a_folder_that_is_not_a_bundle(tmp_path, capsys):
    assert main(["publish", str(tmp_path)]) == 2
    assert "not a model bundle" in capsys.readouterr().err


def test_train_publish_runs_models_evaluate_export(tmp_path, capsys, monkeypatch):
    """The offline commands end to end on a tiny world, as `make demo` uses them."""
    from pathlib import Path

    from tests.conftest import FIXED_NOW_MS

    monkeypatch.chdir(tmp_path)
    db = ["--db", str(tmp_path / "cli.sqlite")]
    assert (
        main(
            [
                "seed",
                *db,
                "--users",
                "60",
                "--items",
                "150",
                "--events",
                "4000",
                "--end-ms",
                str(FIXED_NOW_MS),
                "--quiet",
            ]
        )
        == 0
    )
    assert main(["train", *db, "--epochs", "2", "--dim", "8", "--publish", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "published and activated" in out
    runs = sorted(Path("runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "bundle" / "model.onnx").is_file()
    assert (runs[0] / "history.png").is_file() and (runs[0] / "run.json").is_file()
    assert main(["train", *db, "--skip-if-active", "--quiet"]) == 0
    assert "not training" in capsys.readouterr().out
    assert main(["runs", *db]) == 0 and runs[0].name in capsys.readouterr().out
    assert main(["models", *db]) == 0 and "yes" in capsys.readouterr().out
    assert main(["evaluate", *db, "--run", str(runs[0]), "--out", "eval.json", "--quiet"]) == 0
    assert "mediarec" in capsys.readouterr().out and Path("eval.json").is_file()
    assert main(["export", *db, "--run", str(runs[0]), "--out", "again"]) == 0
    assert "parity" in capsys.readouterr().out and Path("again/manifest.json").is_file()


def test_quality_benchmark_takes_the_importers_column_flags():
    from training.cli import build_parser
    from training.cli.imports import column_map

    args = build_parser().parse_args(
        [
            "benchmark",
            "quality",
            "--dataset",
            "csv",
            "--path",
            "x",
            "--user-col",
            "userId",
            "--item-col",
            "movieId",
        ]
    )
    assert column_map(args) == {"user_id": "userId", "item_id": "movieId"}


def test_seed_refuses_an_impossible_world_in_one_line(db, capsys):
    assert main(["seed", "--users", "0", "--quiet"]) == 2
    assert capsys.readouterr().err == "error: --users must be at least 1\n"
    assert main(["seed", "--users", "2", "--items", "2", "--events", "100000", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "(--events, --users, --items)" in err
    assert err.count("\n") == 1


def test_subcommand_groups_name_what_is_missing(capsys):
    for command, missing in [("import", "FORMAT"), ("benchmark", "BENCHMARK"), ("keys", "ACTION")]:
        with pytest.raises(SystemExit) as exit_info:
            main([command])
        assert exit_info.value.code == 2
        assert f"the following arguments are required: {missing}" in capsys.readouterr().err
