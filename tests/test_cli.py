"""CLI failure paths: clear one-line errors and exit status 2, never a traceback."""

from __future__ import annotations

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
