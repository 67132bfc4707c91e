"""mediarec benchmark concurrency on a tiny world: it runs writers and a reader in fresh
processes, its JSON has the promised shape, and the postgres engine needs a server."""

from __future__ import annotations

import json

import pytest

from tests.utils.postgres import server_url
from training.cli import main

TINY = ["--writers", "0,2", "--items", "300", "--events", "3000", "--users", "60",
        "--duration", "0.5"]  # fmt: skip


def _check_cells(result, engines):
    for engine in engines:
        cell = result[engine]["2"]
        assert {"events_per_s", "p50_ms", "p99_ms", "recommend_p99_ms"} <= set(cell)
        for shape in ("batch50", "single"):
            assert cell[shape]["requests"] > 0 and cell[shape]["failed_requests"] == 0
            assert cell[shape]["recommend_requests"] > 0
            assert cell[shape]["recommend_failed"] == 0
        assert cell["events_per_s"] == cell["batch50"]["events_per_s"] > 0
        assert cell["p50_ms"] <= cell["p99_ms"]
    alone = result[engines[0]]["0"]  # the baseline: recommend without writers
    assert alone["events_per_s"] == 0 and alone["p50_ms"] is None
    assert alone["batch50"]["recommend_requests"] > 0 and alone["recommend_p99_ms"] > 0


def test_the_concurrency_benchmark_writes_its_json(tmp_path, capsys):
    out = tmp_path / "concurrency.json"
    argv = ["benchmark", "concurrency", "--engines", "sqlite-wal", *TINY, "--out", str(out)]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    _check_cells(result, ["sqlite-wal"])
    assert result["config"]["writers"] == [0, 2]
    assert "sqlite-wal" in capsys.readouterr().out


def test_the_postgres_engine_runs_on_the_server_it_is_given(tmp_path):
    server = server_url()
    if server is None:
        pytest.skip("no PostgreSQL server: set MEDIAREC_TEST_POSTGRES_URL (bash .ci/run does)")
    out = tmp_path / "concurrency.json"
    argv = ["benchmark", "concurrency", "--engines", "postgres", "--postgres-url", server, *TINY,
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    _check_cells(json.loads(out.read_text()), ["postgres"])


def test_the_postgres_engine_without_a_server_says_how_to_get_one(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MEDIAREC_BENCH_POSTGRES_URL", raising=False)
    argv = ["benchmark", "concurrency", "--engines", "postgres", "--postgres-url", "",
            "--out", str(tmp_path / "c.json")]  # fmt: skip
    assert main(argv) == 2
    assert "needs a server" in capsys.readouterr().err


def test_an_unknown_engine_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["benchmark", "concurrency", "--engines", "sqlite-wal,oracle"])
    assert "comma-separated subset" in capsys.readouterr().err
