"""The dashboard in a real headless Chromium (Debian's, through its chromedriver: nothing is downloaded)
against a running daemon with a secret: the browser signs in, the page shows the open position with its
stop, a rejected signal with its reason, a decision's step log and the exchange's streams in its health
panel, loads nothing from elsewhere and logs no console error; pausing from the page pauses the daemon
after its confirmation (a cancelled one changes nothing), and the position's Close button closes it.

Without the browser the test is skipped, except under CI=true, where a missing browser is a failure
(`make browser` installs it).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from harness.e2e import (
    SYMBOL,
    Daemon,
    DaemonFactory,
    Sim,
    decided,
    eventually,
    flat_view,
    market_signal,
    protected_view,
)

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SECRET = "e2e-dashboard-secret-0123456789"
SCREENSHOT_ENV = "EXECUTOR_DASHBOARD_SCREENSHOTS"
"""A directory to also save the screenshots to (docs/img when refreshing the documentation's)."""
WAIT = 15


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[webdriver.Chrome]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        message = f"{CHROMIUM} and {CHROMEDRIVER} are needed: `make browser` installs them"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    # Selenium Manager must never fetch a driver or a browser: both are given.
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1600"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


async def closed_db(daemon: Daemon) -> Any:
    db = await daemon.db()
    return db if db.closed_positions() and not db.open_positions() else None


def console_errors(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """What the page logged at error level (failed loads, script errors) since the last call."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(driver: webdriver.Chrome, tmp_path: Path, name: str) -> None:
    driver.save_screenshot(str(tmp_path / name))
    target = os.environ.get(SCREENSHOT_ENV)
    if target:
        driver.save_screenshot(str(Path(target) / name))


def sign_in(driver: webdriver.Chrome, url: str) -> None:
    """Opening the page without a session lands on the login form; the secret leads back to the page."""
    driver.get(url + "/")
    WebDriverWait(driver, WAIT).until(expected_conditions.url_contains("/login"))
    driver.find_element(By.ID, "secret").send_keys("not-the-secret")
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    # A click does not wait for the form's answer: on a loaded machine the 401 page comes later.
    refused = WebDriverWait(driver, WAIT).until(
        expected_conditions.presence_of_element_located((By.ID, "login-error"))
    )
    assert "not the secret" in refused.text
    console_errors(driver)  # the 401 of the wrong secret is the browser's own log line, on purpose
    driver.find_element(By.ID, "secret").send_keys(SECRET)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    WebDriverWait(driver, WAIT).until(expected_conditions.presence_of_element_located((By.ID, "positions")))


def confirm(driver: webdriver.Chrome, button: WebElement, question: str, *, accept: bool) -> None:
    """Press a lever, see its question in the dialog, and confirm or cancel it."""
    button.click()
    dialog = driver.find_element(By.ID, "confirm")
    WebDriverWait(driver, WAIT).until(lambda _: dialog.get_attribute("open") is not None)
    assert question in driver.find_element(By.ID, "confirm-text").text
    driver.find_element(By.ID, "confirm-ok" if accept else "confirm-cancel").click()


def cancel_pause(driver: webdriver.Chrome) -> None:
    confirm(driver, driver.find_element(By.ID, "pause"), "Pause new entries?", accept=False)


def pause_from_page(driver: webdriver.Chrome) -> None:
    confirm(driver, driver.find_element(By.ID, "pause"), "Pause new entries?", accept=True)
    WebDriverWait(driver, WAIT).until(expected_conditions.presence_of_element_located((By.ID, "unpause")))


def close_from_page(driver: webdriver.Chrome) -> None:
    row = driver.find_element(By.CSS_SELECTOR, f'tr.position[data-symbol="{SYMBOL}"]')
    confirm(
        driver,
        row.find_element(By.CSS_SELECTOR, "button.close"),
        f"Close long {SYMBOL} at market?",
        accept=True,
    )


async def test_the_page_shows_the_position_with_its_stop_and_pauses_the_daemon_after_confirmation(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    daemon = daemons(sqlite_url, EXECUTOR__INGRESS__SECRET=SECRET)
    await daemon.start()
    await daemon.ws_send([market_signal("dash-open-1")], token=SECRET)
    await eventually(lambda: protected_view(sim), what="the position with its stop on the exchange")
    await daemon.ws_send([market_signal("dash-wide-1", stop="1")], token=SECRET)
    rejected = await decided(daemon, "dash-wide-1")
    assert rejected["accepted"] is False

    await asyncio.to_thread(sign_in, browser, daemon.http_url)
    row = browser.find_element(By.CSS_SELECTOR, f'tr.position[data-symbol="{SYMBOL}"]')
    assert "147.00" in row.find_element(By.CSS_SELECTOR, "td.stop").text, row.text
    assert "resting" in row.text and "long" in row.text, row.text
    signal = browser.find_element(By.CSS_SELECTOR, 'tr.signal[data-signal="dash-wide-1"]')
    assert rejected["reason"] in signal.text, signal.text
    assert browser.find_element(By.ID, "breaker-status").text == "active"
    shown = {row.get_attribute("data-stream") for row in browser.find_elements(By.CSS_SELECTOR, "tr.stream")}
    assert shown == {"mark_price", "book_ticker", "user_data"}, shown
    opened = browser.find_element(By.CSS_SELECTOR, 'tr.signal[data-signal="dash-open-1"]')
    opened.find_element(By.TAG_NAME, "summary").click()
    steps = opened.find_elements(By.CSS_SELECTOR, "table.steps tr")
    assert len(steps) > 5 and "risk_budget" in opened.text and "liquidation" in opened.text, opened.text
    # Offline: everything the page needs is in the page itself.
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert console_errors(browser) == []
    await asyncio.to_thread(screenshot, browser, tmp_path, "dashboard.png")

    await asyncio.to_thread(cancel_pause, browser)
    await asyncio.sleep(1)  # a request the page wrongly sent would have landed by now
    assert (await daemon.status())["pause"]["paused"] is False
    await asyncio.to_thread(pause_from_page, browser)
    report = await daemon.status()
    assert report["pause"]["paused"] is True and report["pause"]["by"] == "http:dashboard", report["pause"]
    assert "PAUSED" in browser.find_element(By.ID, "pause-state").text
    assert console_errors(browser) == []
    await asyncio.to_thread(screenshot, browser, tmp_path, "dashboard-paused.png")

    # Paused, the held position is still the operator's to close: from the page, with its symbol's
    # slash and colon in the route.
    await asyncio.to_thread(close_from_page, browser)
    await eventually(lambda: flat_view(sim), what="the position closed from the page")
    closed = await eventually(lambda: closed_db(daemon), what="the close booked")
    assert closed.closed_positions()[0].symbol == SYMBOL
    assert console_errors(browser) == []
