"""mediarec simulate: synthetic users drive the real recommend and ingest handlers, the
scheduled evaluation scores what they did, and the process's settings are left as they were."""

from __future__ import annotations

import os
import time

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
    # the expected PaC under the users' own click model, per served version, as logged
    expected = result.expected_pac()
    assert set(expected) == set(result.pac) | {"difference"}
    assert expected["difference"]["a"] == "popularity-v1" and expected["difference"]["ci95"]
    for version, part in result.pac.items():
        assert expected[version]["denominator"] == part["denominator"]
        assert 0 < expected[version]["value"] < 1
        # the clicks the users drew agree with the click model the expectation sums
        expected_hits = expected[version]["numerator"]
        assert abs(part["numerator"] - expected_hits) < 4 * expected_hits**0.5 + 2


def test_an_unknown_policy_is_refused(tmp_path):
    with pytest.raises(ValueError, match="--policy"):
        simulate(SimulationConfig(policy="random"), tmp_path, progress=False)


@pytest.fixture
def live_server(monkeypatch):
    """`mediarec serve`'s app on a free 127.0.0.1 port in a thread, on the real clock."""
    import socket
    import threading
    import time

    import uvicorn

    from functions.common import clock
    from training.local.server import build_app

    monkeypatch.setattr(clock, "now_ms", lambda: int(time.time() * 1000))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(build_app(), host="127.0.0.1", port=port,
                                           log_level="error"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_the_loop_runs_against_a_live_server_through_its_api(live_server, db):
    from tests.utils.factories import count
    from training.local.lambda_invoke import EXAMPLE_API_KEY
    from training.simulation.remote import simulate_remote

    config = SimulationConfig(users=60, days=2, items=200, history_events=3000, click_base=0.3)
    result = simulate_remote(config, live_server, EXAMPLE_API_KEY, progress=False)
    assert result.feeds > 30 and result.events > 0
    assert count(db, "items") == 200 and count(db, "recommendations") == result.feeds
    assert count(db, "impressions") == result.impressions
    # every reaction came back through POST /events with its feed's recommendation_id
    assert count(db, "events", "recommendation_id IS NOT NULL") == result.events
    assert list(result.pac) == ["popularity-v1"]
    assert result.pac["popularity-v1"]["denominator"] == result.impressions
    assert result.pac["popularity-v1"]["numerator"] > 0


def test_a_live_server_that_serves_another_catalog_is_reported(live_server, monkeypatch):
    import time

    from functions.common.caches import reset_all
    from functions.common.serving.snapshot_refresh import refresh_all
    from functions.common.settings import get_settings
    from functions.common.store.db import get_database
    from tests.utils.factories import add_events, add_items
    from training.local.lambda_invoke import EXAMPLE_API_KEY
    from training.simulation.remote import ApiError, simulate_remote

    # the server already holds a catalog whose popularity snapshot it never rebuilds
    monkeypatch.setenv("MEDIAREC_SNAPSHOT_MAX_AGE_SECONDS", "0")  # 0: only when missing
    reset_all()
    db = get_database()
    now = int(time.time() * 1000)
    add_items(db, [{"item_id": f"other-{n}"} for n in range(30)], now_ms=now - 60_000)
    add_events(db, [{"user_id": f"x{n}", "item_id": f"other-{n % 30}", "event_type": "view",
                     "ts_ms": now - 30_000} for n in range(300)])  # fmt: skip
    refresh_all(db, get_settings(), now)
    config = SimulationConfig(users=60, days=1, items=200, history_events=3000)
    with pytest.raises(ApiError, match="not in the simulated catalog"):
        simulate_remote(config, live_server, EXAMPLE_API_KEY, progress=False)
    with pytest.raises(ApiError, match="401"):
        simulate_remote(config, live_server, "mrk_00000000dead_" + "x" * 40, progress=False)


def test_the_command_refuses_in_process_flags_with_a_url(capsys, monkeypatch):
    from training.cli import main

    monkeypatch.delenv("MEDIAREC_API_KEY", raising=False)
    assert main(["simulate", "--url", "http://127.0.0.1:9", "--key", "k", "--policy", "ab"]) == 2
    assert "--policy: in process only" in capsys.readouterr().err
    assert main(["simulate", "--url", "http://127.0.0.1:9"]) == 2
    assert "needs --key" in capsys.readouterr().err
    assert main(["simulate", "--url", "http://127.0.0.1:9", "--key", "k", "--no-seed"]) == 2
    assert "need --tag" in capsys.readouterr().err
    assert main(["simulate", "--tag", "t"]) == 2
    assert "go with --url" in capsys.readouterr().err
    assert main(["simulate", "--url", "http://127.0.0.1:9", "--key", "k", "--users", "5"]) == 1
    assert "error:" in capsys.readouterr().err  # nothing listens there: said, not a traceback


def test_seed_then_train_then_serve_lets_the_server_model_serve(live_server, tmp_path):
    from functions.common.caches import reset_all
    from functions.common.settings import Settings
    from functions.common.store.db import get_database
    from tests.utils.training import FAST
    from training import pipeline
    from training.export import export_bundle
    from training.local.lambda_invoke import EXAMPLE_API_KEY
    from training.publish import publish
    from training.simulation.remote import simulate_remote

    config = SimulationConfig(users=60, days=1, items=200, history_events=3000, click_base=0.3)
    seeded = simulate_remote(config, live_server, EXAMPLE_API_KEY, False, "t1", visit=False)
    assert seeded.feeds == 0
    database = get_database()  # the server's store: train and publish as an operator would
    prepared = pipeline.prepare(database, Settings.from_env(env_file=None))
    trained = pipeline.train(prepared, FAST, progress=False)
    bundle = export_bundle(trained.model, prepared.data, tmp_path / "b", model_version="m-live",
                           metrics={}, train_config=FAST.to_dict())  # fmt: skip
    publish(
        database, bundle, str(tmp_path / "models"), activate=True, now_ms=int(time.time() * 1000)
    )
    reset_all()  # the server looks for the new model now, not in 30 s
    served = simulate_remote(config, live_server, EXAMPLE_API_KEY, False, "t1", seed_server=False)
    assert "m-live" in served.pac and served.pac["m-live"]["denominator"] > 0
