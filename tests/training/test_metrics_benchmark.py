"""mediarec benchmark metrics on a tiny log: it runs, its JSON has the promised shape, and its
numbers come from the log it wrote."""

from __future__ import annotations

import json

from training.cli import main


def test_the_metrics_benchmark_writes_its_json(tmp_path, capsys):
    out = tmp_path / "metrics.json"
    argv = ["benchmark", "metrics", "--impressions", "3000", "--engagements", "300",
            "--days", "2", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(out.read_text())
    assert {"scheduled_run_s", "day_query_ms", "compare_ms", "impressions", "engagements"} <= set(
        result
    )
    assert result["impressions"] == 3000
    assert 200 <= result["engagements"] <= 450  # about 300, 5% duplicated
    # two days of hours and the two days themselves, plus the hours of the day after
    assert result["windows"]["catch_up"] >= 48 + 2
    assert "GET /metrics, one day" in capsys.readouterr().out
