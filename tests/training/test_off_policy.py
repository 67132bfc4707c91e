"""mediarec evaluate-offline: the inverse-propensity estimates on hand-computed logs, the
position-bias fit, the refusal when the logs carry no randomisation, and the estimate of the
serving model on its own simulated logs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.off_policy import (
    LoggedFeed,
    LoggedSlot,
    TooLittleRandomisation,
    estimate,
    evaluate_offline,
    fit_position_bias,
    logged_feeds,
    replay_feeds,
)


def _feed(rid: str, user: str, slots: list[tuple[str, int, float, int]]) -> LoggedFeed:
    feed = LoggedFeed(rid, user, "web", 0, 3, {})
    feed.slots = [
        LoggedSlot(item, position, propensity, engaged)
        for item, position, propensity, engaged in slots
    ]
    return feed


def test_the_estimates_match_a_hand_computation():
    feeds = [
        # a ranked slot the candidate also shows (weight 1), an explored one it shows at
        # position 1 (weight 1 / 0.25 = 4), one it does not show
        _feed("r1", "u1", [("a", 1, 1.0, 1), ("x", 2, 0.25, 1), ("b", 3, 1.0, 1)]),
        _feed("r2", "u2", [("c", 1, 1.0, 0), ("y", 3, 0.5, 1)]),
    ]
    lists = {"r1": ["x", "a", "d"], "r2": ["c", "y", "e"]}
    result = estimate(feeds, lists, eta=0.0, clip=500.0)
    # u1: y = 1 (a) + 4 (x) = 5, w = 1 + 4 = 5, slots 3; u2: y = 0 (c) + 2 (y), w = 1 + 2 = 3
    assert result["ips"]["value"] == pytest.approx(7 / 6)
    assert result["snips"]["value"] == pytest.approx(7 / 8)
    assert result["coverage"] == pytest.approx(8 / 6)
    assert result["explored_slots"] == 2 and result["explored_hits"] == 2
    # a position effect moves each logged engagement to the candidate's slot: (q / p) ** eta
    moved = estimate(feeds, lists, eta=1.0, clip=500.0)
    # u1: a logged at 1, shown at 2: 1/2; x logged at 2, shown at 1: 4 x 2; u2: y 3 -> 2: 2 x 3/2
    assert moved["snips"]["value"] == pytest.approx((0.5 + 8 + 3) / 8)
    clipped = estimate(feeds, lists, eta=0.0, clip=3.0)  # x's weight 4 becomes 3
    assert clipped["clipped_weights"] == 1
    assert clipped["snips"]["value"] == pytest.approx((1 + 3 + 2) / (1 + 3 + 1 + 2))


def test_the_interval_is_over_users():
    rng = np.random.default_rng(0)
    feeds, lists = [], {}
    for n in range(400):
        user = f"u{n % 40}"  # 40 users, 10 feeds each
        hits = int(rng.random() < 0.3)
        feeds.append(
            _feed(f"r{n}", user, [("a", 1, 1.0, hits), ("b", 2, 0.1, int(rng.random() < 0.1))])
        )
        lists[f"r{n}"] = ["a", "b"]
    result = estimate(feeds, lists, eta=0.0, clip=500.0)
    low, high = result["snips"]["ci95"]
    assert low < result["snips"]["value"] < high and result["users"] == 40
    # the truth: (0.3 + 10 x 0.1) / 11 per unit weight
    assert low < (0.3 + 1.0) / 11 < high


def test_the_position_bias_fit_recovers_a_power_law():
    rng = np.random.default_rng(1)
    positions = rng.integers(1, 11, size=40_000)
    engaged = rng.random(positions.size) < 0.2 * positions.astype(float) ** -0.7
    fit = fit_position_bias(
        list(zip(positions.tolist(), engaged.astype(int).tolist(), strict=True))
    )
    assert fit["fitted"] and abs(fit["eta"] - 0.7) < 0.1
    few = fit_position_bias([(1, 1), (2, 0), (3, 1)])
    assert (
        not few["fitted"]
        and few["eta"] == 0.0
        and few["per_position"][1] == {"shown": 1, "engaged": 1}
    )


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A small closed-loop simulation served by a trained model (with exploration), kept."""
    from training.simulation import SimulationConfig, simulate

    folder = tmp_path_factory.mktemp("ope")
    config = SimulationConfig(
        users=150, days=2, policy="model", items=200, history_events=9000, epochs=2, click_base=0.2
    )
    result = simulate(config, folder, progress=False)
    return result, folder


def _open(path):
    from functions.common import caches
    from functions.common.settings import Settings
    from functions.common.store.sqlite_engine import SqliteDatabase

    caches.reset_all()
    return SqliteDatabase(path), Settings.from_env(env_file=None)


def test_the_serving_model_estimated_on_its_own_logs_finds_its_pac(simulated):
    from functions.common.serving.model_runtime import load_model
    from training.simulation.loop import DAY_MS, START_MS

    result, folder = simulated
    (version, actual), *_ = result.pac.items()
    database, settings = _open(folder / "simulation.sqlite")
    end = START_MS + 2 * DAY_MS
    try:
        model = load_model(result.bundles[version])
        found = evaluate_offline(model, database, settings, START_MS, end)
        traffic = logged_feeds(database, START_MS, end, 10, settings)
        lists = replay_feeds(model, database, settings, traffic.feeds, START_MS, 10, folder)
    finally:
        database.close()
    assert found["feeds"] == result.feeds and found["feeds_without_propensity"] == 0
    assert found["explored_slots"] == result.feeds  # one drawn slot in each feed of ten
    # on its own logs the replay serves the logged ranked slots again (the snapshots it rebuilds
    # hourly, not every 5 minutes, may move an item at the edge)
    ranked = [(f, s) for f in traffic.feeds for s in f.slots if s.propensity == 1]
    again = sum(s.item_id in lists[f.recommendation_id] for f, s in ranked)
    assert again >= 0.99 * len(ranked)
    # coverage is exactly those slots plus the weight of the drawn slots the replay also drew
    # (a Poisson handful, each weighing the pool's size: that part is noise, not a bound)
    drawn = sum(1 / s.propensity for f in traffic.feeds for s in f.slots
                if s.propensity < 1 and s.item_id in lists[f.recommendation_id])  # fmt: skip
    slots = sum(len(items) for items in lists.values())
    assert found["coverage"] == pytest.approx((again + drawn) / slots)
    low, high = found["snips"]["ci95"]
    assert low <= actual["value"] <= high
    assert math.isclose(found["snips"]["value"], actual["value"], rel_tol=0.25)


def test_logs_without_randomisation_are_refused(simulated, tmp_path):
    import shutil

    from functions.common.serving.model_runtime import load_model
    from training.simulation.loop import DAY_MS, START_MS

    result, folder = simulated
    (version, _), *_ = result.pac.items()
    shutil.copy(folder / "simulation.sqlite", tmp_path / "copy.sqlite")
    database, settings = _open(tmp_path / "copy.sqlite")

    def estimate_two_days() -> None:
        model = load_model(result.bundles[version])
        evaluate_offline(model, database, settings, START_MS, START_MS + 2 * DAY_MS)

    try:
        database.conn.execute("UPDATE impressions SET propensity = 1.0")
        database.conn.commit()
        with pytest.raises(TooLittleRandomisation, match="no randomised slot"):
            estimate_two_days()
        database.conn.execute("UPDATE impressions SET propensity = NULL")
        database.conn.commit()
        with pytest.raises(TooLittleRandomisation, match="without propensities"):
            estimate_two_days()
    finally:
        database.close()


def test_the_command_prints_the_estimate_and_says_when_it_cannot(simulated, tmp_path, capsys):
    import json
    import shutil

    from training.cli import main

    result, folder = simulated
    (version, _), *_ = result.pac.items()
    copy = tmp_path / "copy.sqlite"
    shutil.copy(folder / "simulation.sqlite", copy)
    args = [
        "evaluate-offline",
        "--db",
        str(copy),
        "--bundle",
        str(result.bundles[version]),
        "--from",
        "2026-11-22T00:00:00Z",
        "--to",
        "2026-11-24T00:00:00Z",
    ]
    assert main([*args, "--out", str(tmp_path / "ope.json")]) == 0
    out = capsys.readouterr().out
    assert "self-normalised IPS" in out and "clipped IPS" in out and "coverage" in out
    saved = json.loads((tmp_path / "ope.json").read_text())
    assert saved["model_version"] == version and saved["snips"]["ci95"]
    assert main([*args[:-4], "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-02T00:00:00Z"]) == 2
    assert "too little randomisation" in capsys.readouterr().err
    assert main([*args[:4], str(tmp_path / "nowhere")]) == 2
