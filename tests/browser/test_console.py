"""The web console end to end, in headless Chromium (Debian's package, driven by Playwright with
its executable path: no browser download), against `mediarec serve` started as a subprocess on
a simulated demo world (`mediarec simulate --policy ab`: a trained model in an A/B test beside
popularity, four days of feeds, clicks and stored metrics).

Where no Chromium or Playwright is installed the test skips and says so; `.ci/run` installs both
and sets MEDIAREC_REQUIRE_BROWSER=1, under which a missing browser fails instead. Screenshots go
to MEDIAREC_CONSOLE_SCREENSHOTS (default test-artifacts/console/ in the checkout); the README's
are copies of these (docs/console/).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.utils.paths import ROOT

try:
    from playwright.sync_api import expect
except ImportError:  # the test skips (or fails under MEDIAREC_REQUIRE_BROWSER=1) and says why
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WRONG_KEY = "mrk_000000000000_" + "x" * 43


def _browser_or_skip() -> tuple[object, str]:
    chromium = os.environ.get("MEDIAREC_CHROMIUM") or shutil.which("chromium")
    try:
        from playwright import sync_api
    except ImportError:
        sync_api = None
    missing = []
    if sync_api is None:
        missing.append("the playwright package (make install)")
    if chromium is None:
        missing.append("Chromium (apt-get install chromium, or MEDIAREC_CHROMIUM=PATH)")
    if missing:
        message = "no browser for the console test: needs " + " and ".join(missing)
        if os.environ.get("MEDIAREC_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (MEDIAREC_REQUIRE_BROWSER=1: CI may not skip it)")
        pytest.skip(message)
    assert chromium is not None
    return sync_api, chromium


@pytest.fixture(scope="module")
def demo(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[dict]:
    if request.config.getoption("--engine") == "postgresql":
        pytest.skip("the console's browser test runs once, in the SQLite suite")
    sync_api, chromium = _browser_or_skip()
    from functions.common.http.api_keys import create_key
    from functions.common.store.sqlite_engine import SqliteDatabase
    from training.simulation.loop import START_MS, SimulationConfig, simulate

    folder = tmp_path_factory.mktemp("console-world")
    config = SimulationConfig(users=120, days=4, items=200, history_events=8000, epochs=3,
                              click_base=0.3)  # fmt: skip
    result = simulate(config, folder, progress=False)
    version = next(v for v in result.versions if v.startswith("mr-sim-"))
    store = folder / "simulation.sqlite"
    database = SqliteDatabase(str(store))
    key = create_key(database, ["admin"], "console test", int(time.time() * 1000))[1]
    database.close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAREC_")}
    env.update(
        MEDIAREC_DB_PATH=str(store),
        MEDIAREC_MODELS_URI=str(folder / "models"),
        MEDIAREC_AB_MODEL_VERSION=version,
        MEDIAREC_AB_SHARE="0.5",
        MEDIAREC_LOG_LEVEL="WARNING",
    )
    log = (folder / "server.log").open("w")
    command = [
        sys.executable,
        "-m",
        "training.cli",
        "serve",
        "--port",
        str(port),
        "--log-level",
        "info",
    ]  # fmt: skip (access lines: a key in a URL shows there)
    server = subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/health", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail("mediarec serve did not start: " + (folder / "server.log").read_text())
            time.sleep(0.2)
    shots = Path(
        os.environ.get("MEDIAREC_CONSOLE_SCREENSHOTS", ROOT / "test-artifacts" / "console")
    )
    shots.mkdir(parents=True, exist_ok=True)
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
            )
            yield {"base": base, "key": key, "store": store, "version": version,
                   "start_ms": START_MS, "days": config.days, "browser": browser,
                   "shots": shots}  # fmt: skip
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


@pytest.fixture
def page(demo):
    context = demo["browser"].new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console_errors: list[str] = []
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console_errors.append(str(e)))
    page.goto(demo["base"] + "/console/")
    yield page
    context.close()
    assert not [url for url in requested if demo["key"] in url or "mrk_" in url]  # never in a URL
    script_errors = [e for e in console_errors if "Failed to load resource" not in e]
    assert not script_errors, script_errors  # no script error on any page


def use_key(page, key: str, base: str = "") -> None:
    page.fill("#api-base", base)
    page.fill("#api-key", key)
    page.click("#connect button[type=submit]")
    expect(page.locator("#key-state")).to_contain_text("in use")


def day(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))


def stored_events(store: Path, user_id: str) -> list[tuple]:
    with sqlite3.connect(store) as conn:
        return conn.execute(
            "SELECT event_type, item_id, recommendation_id, position FROM events "
            "WHERE user_id = ? AND recommendation_id IS NOT NULL ORDER BY received_ms DESC",
            (user_id,),
        ).fetchall()


def event_count(store: Path, user_id: str) -> int:
    with sqlite3.connect(store) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events WHERE user_id = ?", (user_id,))
                   .fetchone()[0])  # fmt: skip


def test_a_click_on_a_card_is_stored_with_its_recommendation(demo, page):
    use_key(page, demo["key"])
    page.goto(demo["base"] + "/console/#/feed")
    page.fill("#feed-user", "u00007")
    page.select_option("#feed-platform", "web")
    page.click("#feed-form button[type=submit]")
    page.wait_for_selector("#feed-cards .card")
    cards = page.locator("#feed-cards .card")
    assert cards.count() == 10
    assert page.locator("#feed-cards .card .reason").first.inner_text() in (
        "model", "popular", "exploration", "fresh", "fallback",
    )  # fmt: skip
    assert page.locator("#feed-cards .card h3").first.inner_text().strip()  # a title
    meta = page.inner_text("#feed-meta")
    recommendation_id = meta.rsplit("recommendation ", 1)[1].rstrip(")")
    page.screenshot(path=str(demo["shots"] / "feed.png"), full_page=True)
    first = cards.first
    item_id = first.get_attribute("data-item")
    first.locator("button.act-click").click()
    expect(page.locator("#notice")).to_contain_text("stored")
    assert ("click", item_id, recommendation_id, 1) in stored_events(demo["store"], "u00007")
    page.click("#feed-form button[type=submit]")  # the feed again, after the click
    expect(page.locator("#feed-meta")).not_to_contain_text(recommendation_id)
    assert page.locator(f"#feed-cards .card[data-item='{item_id}']").count() == 0  # seen: left out


def test_the_metrics_page_draws_pac_over_time_and_the_ab_panel(demo, page):
    use_key(page, demo["key"])
    page.goto(demo["base"] + "/console/#/metrics")
    page.fill("#metrics-from", day(demo["start_ms"]))
    page.fill("#metrics-to", day(demo["start_ms"] + (demo["days"] - 1) * 86_400_000))
    page.click("#metrics-form button[type=submit]")
    page.wait_for_selector("#chart-pac svg circle.point")
    assert page.locator("#chart-pac svg circle.point").count() >= demo["days"]
    assert page.locator("#chart-pac svg polygon.band").count() >= 1  # the interval drawn
    assert page.locator("#chart-position svg rect.bar").count() == 10
    assert page.locator("#chart-pac .legend li").count() == 2  # one line per version
    page.select_option("#metrics-lines", "platform")
    assert page.locator("#chart-pac .legend li").count() == 6  # 3 platforms x 2 versions
    page.select_option("#metrics-lines", "version")
    assert "of 200 items shown" in page.inner_text("#metrics-summary")
    page.screenshot(path=str(demo["shots"] / "metrics.png"), full_page=True)
    page.select_option("#ab-a", "popularity-v1")
    page.select_option("#ab-b", demo["version"])
    page.fill("#ab-share", "0.5")
    page.click("#ab-form button[type=submit]")
    page.wait_for_selector("#ab-view table")
    panel = page.inner_text("#ab-view")
    assert "Difference b \u2212 a" in panel and "p-value" in panel and "Sample ratio" in panel
    assert re.search(r"PAC\s+-?\d+\.\d+ pt\s+\[-?\d+\.\d+, -?\d+\.\d+\] pt\s+\d", panel), panel
    page.locator("#ab").screenshot(path=str(demo["shots"] / "ab.png"))


def test_the_models_page_shows_the_registry_and_the_ab_arms(demo, page):
    use_key(page, demo["key"])
    page.goto(demo["base"] + "/console/#/models")
    page.wait_for_selector("#models-view table")
    text = page.inner_text("#models-view")
    assert demo["version"] in text and "A/B arm b" in text and "50.0%" in text
    assert "hr@10" in text  # the manifest's held-out metrics
    page.screenshot(path=str(demo["shots"] / "models.png"), full_page=True)


def test_the_user_page_shows_activity_and_deletes_behind_a_confirmation(demo, page):
    use_key(page, demo["key"])
    page.goto(demo["base"] + "/console/#/user")
    page.fill("#user-id", "u00003")
    page.click("#user-form button[type=submit]")
    page.wait_for_selector("#user-view table")
    assert "Recent events" in page.inner_text("#user-view")
    page.screenshot(path=str(demo["shots"] / "user.png"), full_page=True)
    page.click("#user-delete")
    page.click("#delete-dialog button[value=cancel]")  # a change of mind deletes nothing
    expect(page.locator("#notice")).to_contain_text("Nothing was deleted")
    assert event_count(demo["store"], "u00003") > 0
    page.click("#user-delete")
    page.click("#delete-confirm")
    expect(page.locator("#notice")).to_contain_text("Deleted u00003")
    assert "events" in page.inner_text("#user-view") and event_count(demo["store"], "u00003") == 0


def test_errors_are_shown_never_swallowed(demo, page):
    use_key(page, WRONG_KEY)
    page.goto(demo["base"] + "/console/#/feed")
    page.fill("#feed-user", "u00001")
    page.click("#feed-form button[type=submit]")
    page.wait_for_selector("#error:not([hidden])")
    assert "401 unauthorized" in page.inner_text("#error-text")
    page.screenshot(path=str(demo["shots"] / "wrong-key.png"))

    use_key(page, demo["key"])
    page.fill("#feed-user", "a/b")  # an id may not hold '/': the API's 422 body is shown
    page.click("#feed-form button[type=submit]")
    expect(page.locator("#error-text")).to_contain_text("422 validation_error")
    expect(page.locator("#error-text")).to_contain_text("user_id")  # the feed's field, named

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    use_key(page, demo["key"], base=f"http://127.0.0.1:{closed}")
    page.click("#feed-form button[type=submit]")
    expect(page.locator("#error-text")).to_contain_text("unreachable")


def test_keyboard_phone_width_and_the_key_kept_out_of_urls(demo, page):
    use_key(page, demo["key"])
    page.reload()  # the key stays with the tab (session storage), not with a URL
    expect(page.locator("#key-state")).to_contain_text("in use")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('data-page')") == "feed"
    assert demo["key"] not in (demo["store"].parent / "server.log").read_text()  # nor in a log
    assert page.evaluate("sessionStorage.getItem('mediarec.console.key')") == demo["key"]
    page.set_viewport_size({"width": 390, "height": 844})
    page.fill("#feed-user", "u00009")
    page.keyboard.press("Enter")  # the form submits from the keyboard
    page.wait_for_selector("#feed-cards .card")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(demo["shots"] / "feed-phone.png"), full_page=True)
