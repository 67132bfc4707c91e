"""mediarec simulate: synthetic users drive the real recommend and ingest handlers, the
scheduled evaluation scores what they did, and the process's settings are left as they were."""

from __future__ import annotations

import os

import pytest

from training.simulation import SimulationConfig, position_bias, simulate


def test_position_bias_falls_with_the_position():
    assert position_bias(1) == 1.0 and position_bias(2) > position_bias(5) > position_bias(10)


def test_a_small_ab_simulation_logs_both_arms_and_compares_them(tmp_path):
    before = {k: v for k, v in os.environ.items() if k.startswith("MEDIAREC_")}
    config = SimulationConfig(users=80, days=1, policy="ab", items=120, history_events=6000,
                              epochs=2, click_base=0.3)  # fmt: skip
    result = simulate(config, tmp_path, progress=False)
    assert result.feeds > 20 and result.impressions == 10 * result.feeds and result.events > 0
    assert "popularity-v1" in result.pac and any(v.startswith("mr-sim-") for v in result.pac)
    assert sum(p["denominator"] for p in result.pac.values()) == result.impressions
    comparison = result.comparison
    assert comparison is not None and comparison["a"]["model_version"] == "popularity-v1"
    users = comparison["sample_ratio"]["users_per_arm"]
    assert users["a"] + users["b"] == comparison["a"]["users"] + comparison["b"]["users"]
    assert {k: v for k, v in os.environ.items() if k.startswith("MEDIAREC_")} == before


def test_an_unknown_policy_is_refused(tmp_path):
    with pytest.raises(ValueError, match="--policy"):
        simulate(SimulationConfig(policy="random"), tmp_path, progress=False)
