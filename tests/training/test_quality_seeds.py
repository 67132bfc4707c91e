"""`mediarec benchmark quality --seeds N`: each model's metrics are the mean over the seeds, with
their sample sd beside them, every seed's own report kept, the table showing mean ± sd."""

from __future__ import annotations

import json
from typing import Any

import pytest

from training.benchmarks import quality
from training.benchmarks.quality import aggregate_seeds
from training.benchmarks.report import metrics_rows
from training.cli import main


def report(hr: float, *, epoch: int = 3, params: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "hr@10": hr,
        "ndcg@10": hr / 2,
        "recall@20": 0.1,
        "ndcg@20": None,  # a NaN metric, as json_ready writes it
        "auc": 0.9,
        "grouped_auc": 0.8,
        "users": 100,
        "cold_start": {"hr@10": hr / 4, "users": 10},
        "train_seconds": 2.0 * epoch,
    }
    if params is None:
        out["best_epoch"] = epoch
    else:
        out["params"] = params
    return out


def test_two_seeds_give_means_sample_sds_and_every_seed():
    runs = {
        7: {"mediarec": report(0.6, epoch=2), "peer": report(0.5, params={"seed": 7})},
        8: {"mediarec": report(0.8, epoch=4), "peer": report(0.5, params={"seed": 8})},
    }
    models = aggregate_seeds(runs)
    assert list(models) == ["mediarec", "peer"]
    mediarec = models["mediarec"]
    assert mediarec["hr@10"] == pytest.approx(0.7)
    assert mediarec["hr@10_sd"] == pytest.approx(0.1414, abs=1e-4)  # sample sd: 0.2 / sqrt(2)
    assert mediarec["ndcg@10"] == pytest.approx(0.35)
    assert mediarec["recall@20"] == pytest.approx(0.1) and mediarec["recall@20_sd"] == 0.0
    assert mediarec["ndcg@20"] is None and mediarec["ndcg@20_sd"] is None
    assert mediarec["users"] == 100 and isinstance(mediarec["users"], int)
    assert mediarec["best_epoch"] == pytest.approx(3.0)
    assert mediarec["train_seconds"] == pytest.approx(6.0)
    assert mediarec["cold_start"]["hr@10"] == pytest.approx(0.175)
    assert mediarec["cold_start"]["hr@10_sd"] == pytest.approx(0.0354, abs=1e-4)
    assert [run["seed"] for run in mediarec["per_seed"]] == [7, 8]
    assert mediarec["per_seed"][1]["hr@10"] == 0.8 and "per_seed" not in mediarec["per_seed"][0]
    peer = models["peer"]
    assert peer["params"] == {"seed": 7}  # the first seed's; each seed's under per_seed
    assert [run["params"]["seed"] for run in peer["per_seed"]] == [7, 8]
    assert peer["hr@10_sd"] == 0.0
    json.dumps(models)  # JSON-ready


def test_one_seed_keeps_the_report_as_it_was():
    run = report(0.6)
    models = aggregate_seeds({42: {"mediarec": run}})
    mediarec = models["mediarec"]
    for key, value in run.items():
        if key != "cold_start":
            assert mediarec[key] == value, key
    assert mediarec["hr@10_sd"] is None  # no spread from one run
    assert mediarec["per_seed"] == [{"seed": 42, **run}]
    with pytest.raises(ValueError, match="no runs"):
        aggregate_seeds({})


def test_the_table_shows_mean_plus_minus_sd():
    models = aggregate_seeds({1: {"m": report(0.6)}, 2: {"m": report(0.8)}})
    row = metrics_rows(models)[0]
    assert row[:3] == ["m", "0.7000 ± 0.1414", "0.3500 ± 0.0707"]
    assert row[4] == "-"  # ndcg@20: no value
    single = metrics_rows(aggregate_seeds({1: {"m": report(0.6)}}))[0]
    assert single[1] == "0.6000"


def test_seeds_run_the_whole_comparison_from_seed_on(tmp_path, monkeypatch, capsys):
    log = tmp_path / "log.csv"
    rows = [
        f"u{u},i{(u + step) % 12},{1_700_000_000 + 60 * step}"
        for u in range(8)
        for step in range(5)
    ]
    log.write_text("user_id,item_id,timestamp\n" + "\n".join(rows) + "\n")
    calls: list[tuple[int, bool, bool]] = []

    def fake_run(prepared: Any, seed: int, *, ablations: bool, peers: bool, progress: bool):
        calls.append((seed, ablations, peers))
        assert prepared.split.n_users == 8
        return {"mediarec": report(0.5 + (seed - 7) / 10), "popularity": report(0.3)}

    monkeypatch.setattr(quality, "run_one_seed", fake_run)
    out = tmp_path / "q.json"
    args = ["benchmark", "quality", "--dataset", "csv", "--path", str(log), "--out", str(out)]
    assert main([*args, "--seed", "7", "--seeds", "3", "--no-ablations"]) == 0
    assert calls == [(7, False, True), (8, False, True), (9, False, True)]
    printed = capsys.readouterr().out
    assert "0.6000 ± 0.1000" in printed and "over 3 seeds (7..9)" in printed
    result = json.loads(out.read_text())
    assert result["seeds"] == [7, 8, 9]
    mediarec = result["models"]["mediarec"]
    assert mediarec["hr@10"] == pytest.approx(0.6) and mediarec["hr@10_sd"] == pytest.approx(0.1)
    assert [run["seed"] for run in mediarec["per_seed"]] == [7, 8, 9]
    assert {"dataset", "protocol", "models", "data", "machine"} <= set(result)


def test_seeds_must_be_at_least_one(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark", "quality", "--seeds", "0"])
    assert exit_info.value.code == 2
    assert "at least 1" in capsys.readouterr().err
