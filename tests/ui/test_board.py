"""/board in a real browser: live updates, VN colours, sorting, watchlists, kiosk and the stale-feed banner."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dash.testing.wait import until
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By

from backend.config import load_settings
from backend.market.runtime import install_market_service
from backend.market.service import MarketService, ServiceSettings
from backend.stores import EXTENSION_KEY as STORES_KEY
from backend.warehouse import Warehouse
from tests.backend.market_ui.feeds import ScriptedFeed, index_message, quote_message, status_message, trade_message

# (symbol, ref, ceiling, floor) from the HOSE ±7% band.
LIMITS = {
    "ACB": (24_500, 26_200, 22_800),
    "BID": (48_000, 51_300, 44_700),
    "FPT": (130_000, 139_100, 120_900),
    "HPG": (27_000, 28_850, 25_150),
    "VNM": (66_000, 70_600, 61_400),
}


@pytest.fixture
def market_app(tmp_path: Path, warehouse_url: str, fresh_warehouse: Warehouse):
    """The real app on its own database, with a scripted feed the test writes messages into."""
    from app import create_app

    settings = load_settings(data_dir=tmp_path / "app-data", warehouse_dsn=warehouse_url,
                             warehouse_database=fresh_warehouse.database, demo_rows=0)
    app = create_app(settings, market=False)  # the test starts the service with its own feed
    feed = ScriptedFeed()
    service = install_market_service(
        app.server, app.server.extensions[STORES_KEY], feed_factory=lambda: feed,
        settings=ServiceSettings(stale_seconds=2.0, tick_seconds=0.1),
    )
    market = Market(app, service, feed)
    market.resume()
    yield market
    market.pause()
    service.stop()


@dataclass
class Market:
    app: Any
    service: MarketService
    feed: ScriptedFeed
    beat: threading.Event | None = None

    def resume(self) -> None:
        """Index updates several times a second, as a live feed sends them."""
        self.beat = threading.Event()
        threading.Thread(target=_heartbeat, args=(self.feed, self.beat), daemon=True).start()

    def pause(self) -> None:
        """The feed stays connected but goes quiet."""
        if self.beat is not None:
            self.beat.set()


def _heartbeat(feed: ScriptedFeed, stop: threading.Event) -> None:
    value = 1_300.0
    while not stop.wait(0.3):
        value += 0.1
        feed.send(index_message("VN30", value, 1_300.0))


def _send_limits(feed: ScriptedFeed) -> None:
    feed.send(*(status_message(s, *limits) for s, limits in LIMITS.items()))


def _trade(feed: ScriptedFeed, symbol: str, price: int, total: int = 1_000) -> None:
    feed.send(trade_message(symbol, *LIMITS[symbol], price, 100, total))


def _cell(dash_duo, symbol: str, col: str):
    return dash_duo.find_element(f"#board-grid .ag-center-cols-container [row-id='{symbol}'] [col-id='{col}'], "
                                 f"#board-grid .ag-pinned-left-cols-container [row-id='{symbol}'] [col-id='{col}']")


def _wait_cell(dash_duo, symbol: str, col: str, text: str, timeout: float = 15) -> None:
    def ok() -> bool:
        try:
            return _cell(dash_duo, symbol, col).text == text
        except (NoSuchElementException, StaleElementReferenceException):  # the row is not drawn yet
            return False
    until(ok, timeout=timeout)


def test_the_board_updates_live_and_colours_ceiling_floor_up_down_and_reference(dash_duo, market_app) -> None:
    m = market_app
    app, feed = m.app, m.feed
    _send_limits(feed)
    _trade(feed, "ACB", 26_200)  # ceiling
    _trade(feed, "BID", 44_700)  # floor
    _trade(feed, "FPT", 131_000)  # up
    _trade(feed, "HPG", 26_500)  # down
    _trade(feed, "VNM", 66_000)  # reference
    dash_duo.start_server(app)
    dash_duo.wait_for_page(dash_duo.server_url + "/board")
    _wait_cell(dash_duo, "FPT", "last", "131.00")
    expected = {"ACB": "board-ceiling", "BID": "board-floor", "FPT": "board-up", "HPG": "board-down",
                "VNM": "board-ref"}
    for symbol, css in expected.items():
        for col in ("last", "change_pct"):
            classes = _cell(dash_duo, symbol, col).get_attribute("class").split()
            assert css in classes, (symbol, col, classes)
        row = dash_duo.find_element(f"#board-grid .ag-pinned-left-cols-container [row-id='{symbol}']")
        assert css.replace("board-", "board-row-") in row.get_attribute("class").split()
        assert "board-ceiling" in _cell(dash_duo, symbol, "ceiling").get_attribute("class")
        assert "board-floor" in _cell(dash_duo, symbol, "floor").get_attribute("class")
        assert "board-ref" in _cell(dash_duo, symbol, "ref").get_attribute("class")
    assert _cell(dash_duo, "FPT", "change_pct").text == "+0.77%"
    # Breadth of the list: one each at ceiling, up, reference, down and floor; movers by % change.
    until(lambda: len(dash_duo.driver.find_elements(By.CSS_SELECTOR, "#board-breadth span")) == 5, timeout=5)
    # Read in one script: the live feed redraws the bar between two element reads.
    counts = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#board-breadth span')).map(e => e.getAttribute('data-count'))")
    assert counts == ["1"] * 5
    movers = dash_duo.find_element("#board-movers").text
    assert "ACB +6.94%" in movers and "FPT +0.77%" in movers and "BID -6.88%" in movers
    assert _cell(dash_duo, "ACB", "ceiling").text == "26.20"

    # A live move: FPT falls below its reference; the same row turns red without a reload.
    feed.send(quote_message("FPT", [(128_900, 1_000), (128_800, 500)], [(129_000, 300)]))
    _trade(feed, "FPT", 129_000, total=1_100)
    _wait_cell(dash_duo, "FPT", "last", "129.00")
    until(lambda: "board-down" in _cell(dash_duo, "FPT", "last").get_attribute("class"), timeout=4)
    pinned = "#board-grid .ag-pinned-left-cols-container [row-id='FPT']"
    until(lambda: "board-row-down" in dash_duo.find_element(pinned).get_attribute("class"), timeout=4)
    _wait_cell(dash_duo, "FPT", "bid1", "128.90")
    assert _cell(dash_duo, "FPT", "bid1_vol").text == "1,000"
    assert _cell(dash_duo, "FPT", "total_vol").text == "1,100"
    # Only the watchlist's rows are on screen: VN30 by default.
    rows = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#board-grid .ag-center-cols-container [row-id]")
    assert {r.get_attribute("row-id") for r in rows} == set(LIMITS)
    assert dash_duo.get_logs() == []


def test_columns_sort_and_the_sort_is_kept_in_the_url(dash_duo, market_app) -> None:
    m = market_app
    app, feed = m.app, m.feed
    _send_limits(feed)
    for symbol, price in (("ACB", 25_000), ("BID", 47_000), ("FPT", 133_000), ("HPG", 27_000), ("VNM", 65_000)):
        _trade(feed, symbol, price)
    dash_duo.start_server(app)
    dash_duo.wait_for_page(dash_duo.server_url + "/board?sort=change_pct:desc")
    _wait_cell(dash_duo, "VNM", "last", "65.00")

    def order() -> list[str]:
        rows = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#board-grid .ag-center-cols-container [row-id]")
        return [r.get_attribute("row-id") for r in sorted(rows, key=lambda r: int(r.get_attribute("row-index")))]

    by_change = sorted(LIMITS, key=lambda s: -m.service.board.row(s)["change_pct"])
    until(lambda: order() == by_change, timeout=4)
    header = dash_duo.find_element(".ag-header-cell[col-id='symbol']")
    header.click()
    until(lambda: order() == sorted(LIMITS), timeout=4)
    assert header.get_attribute("aria-sort") == "ascending"
    until(lambda: "sort=symbol%3Aasc" in dash_duo.driver.current_url
                        or "sort=symbol:asc" in dash_duo.driver.current_url, timeout=4)
    # A later tick keeps the user's order.
    _trade(feed, "ACB", 26_000, total=2_000)
    _wait_cell(dash_duo, "ACB", "last", "26.00")
    assert order() == sorted(LIMITS)
    assert dash_duo.get_logs() == []


def test_a_stopped_feed_shows_the_stale_banner_then_disconnected(dash_duo, market_app) -> None:
    m = market_app
    app, feed = m.app, m.feed
    _send_limits(feed)
    _trade(feed, "FPT", 131_000)
    dash_duo.start_server(app)
    dash_duo.wait_for_page(dash_duo.server_url + "/board")
    _wait_cell(dash_duo, "FPT", "last", "131.00")
    until(lambda: not dash_duo.driver.find_elements(By.CSS_SELECTOR, ".board-banner"), timeout=4)
    # The feed stays connected but goes quiet: after stale_seconds the banner appears.
    m.pause()
    dash_duo.wait_for_contains_text(".board-banner-stale", "no market data", timeout=8)
    # Data again: the banner goes away.
    _trade(feed, "FPT", 131_500, total=1_100)
    m.resume()
    _wait_cell(dash_duo, "FPT", "last", "131.50")
    until(lambda: not dash_duo.driver.find_elements(By.CSS_SELECTOR, ".board-banner"), timeout=6)
    # The connection closes: a disconnected banner, prices stay on screen.
    feed.close()
    dash_duo.wait_for_element(".board-banner-disconnected", timeout=6)
    assert _cell(dash_duo, "FPT", "last").text == "131.50"
    assert dash_duo.get_logs() == []


def test_a_user_watchlist_narrows_the_board_and_lives_in_the_url(dash_duo, market_app) -> None:
    m = market_app
    app, feed = m.app, m.feed
    _send_limits(feed)
    for symbol in LIMITS:
        _trade(feed, symbol, LIMITS[symbol][0])
    saved = m.service.userdata.save_watchlist("Banks", ["ACB", "BID"])
    dash_duo.start_server(app)
    dash_duo.wait_for_page(dash_duo.server_url + f"/board?watchlist={saved.id}")
    _wait_cell(dash_duo, "ACB", "last", "24.50")

    def shown() -> set[str]:
        rows = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#board-grid .ag-center-cols-container [row-id]")
        return {r.get_attribute("row-id") for r in rows}

    until(lambda: shown() == {"ACB", "BID"}, timeout=4)
    assert f"watchlist={saved.id}" in dash_duo.driver.current_url
    # Create a list from the page.
    dash_duo.find_element("#board-new-name").send_keys("Tech")
    symbols = dash_duo.find_element("#board-new-symbols")
    symbols.click()
    symbols.send_keys("FPT")
    dash_duo.wait_for_element("[role='option'][value='FPT']", timeout=4).click()
    dash_duo.find_element("#board-save").click()
    dash_duo.wait_for_contains_text("#board-message", "Saved Tech", timeout=10)
    until(lambda: shown() == {"FPT"}, timeout=10)
    tech = next(w for w in m.service.userdata.watchlists() if w.name == "Tech")
    until(lambda: f"watchlist={tech.id}" in dash_duo.driver.current_url, timeout=4)
    assert dash_duo.get_logs() == []


def test_kiosk_mode_has_no_inputs_and_large_type(dash_duo, market_app) -> None:
    m = market_app
    app, feed = m.app, m.feed
    _send_limits(feed)
    _trade(feed, "FPT", 131_000)
    dash_duo.start_server(app)
    dash_duo.wait_for_page(dash_duo.server_url + "/board?kiosk=1")
    _wait_cell(dash_duo, "FPT", "last", "131.00")
    assert dash_duo.driver.find_elements(By.CSS_SELECTOR, "input, select, textarea, button:not(.ag-header-cell *)") == [] \
        or all(not e.is_displayed() for e in dash_duo.driver.find_elements(By.CSS_SELECTOR, "input, select, textarea"))
    size = dash_duo.driver.execute_script(
        "return parseFloat(getComputedStyle(document.querySelector('#board-grid .ag-cell')).fontSize)")
    assert size >= 18, dash_duo.driver.execute_script(
        "const c = document.querySelector('#board-grid .ag-cell');"
        "return [document.documentElement.className, c.className, c.closest('.board-grid') && 'in-grid']")
    time.sleep(0.5)
    assert dash_duo.get_logs() == []


def test_a_bad_watchlist_or_sort_in_the_url_says_so_and_shows_vn30(dash_duo, market_app) -> None:
    m = market_app
    _send_limits(m.feed)
    _trade(m.feed, "FPT", 131_000)
    dash_duo.start_server(m.app)
    dash_duo.wait_for_page(dash_duo.server_url + "/board?watchlist=%3Cscript%3E&sort=nonsense")
    _wait_cell(dash_duo, "FPT", "last", "131.00")
    notes = [e.text for e in dash_duo.driver.find_elements(By.CSS_SELECTOR, ".board-url-note")]
    assert notes == ["There is no watchlist '<script>'; showing VN30.",
                     "Cannot sort by 'nonsense' (use COLUMN:asc or COLUMN:desc)."]
    assert dash_duo.get_logs() == []
