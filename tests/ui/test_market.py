"""/market and the live board on the seeded simulator (accelerated clock), and alerts end to end."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from dash.testing.wait import until
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from backend.config import load_settings
from backend.market.feed.simulated import SimulatorFeed
from backend.market.runtime import install_market_service
from backend.market.service import ServiceSettings
from backend.stores import EXTENSION_KEY as STORES_KEY
from backend.warehouse import Warehouse
from tests.backend.market_ui.feeds import ScriptedFeed, index_message, status_message, trade_message


def _app(tmp_path: Path, warehouse_url: str, database: str, feed_factory):
    from app import create_app

    settings = load_settings(data_dir=tmp_path / "app-data", warehouse_dsn=warehouse_url,
                             warehouse_database=database, demo_rows=0)
    app = create_app(settings, market=False)  # the test starts the service with its own feed
    service = install_market_service(app.server, app.server.extensions[STORES_KEY], feed_factory=feed_factory,
                                     settings=ServiceSettings(stale_seconds=5.0, tick_seconds=0.2))
    return app, service


@pytest.fixture
def simulated_app(tmp_path: Path, warehouse_url: str, fresh_warehouse: Warehouse):
    """The app with the simulator: seed 7, 60 simulated seconds per wall second, from 09:20 VN."""
    app, service = _app(tmp_path, warehouse_url, fresh_warehouse.database,
                        lambda: SimulatorFeed(rate=400, speed=60, seed=7, start_time="09:20"))
    yield app, service
    service.stop()


@pytest.fixture
def scripted_app(tmp_path: Path, warehouse_url: str, fresh_warehouse: Warehouse):
    feed = ScriptedFeed()
    app, service = _app(tmp_path, warehouse_url, fresh_warehouse.database, lambda: feed)
    yield app, service, feed
    service.stop()


def _text(dash_duo, css: str) -> str:
    try:
        return dash_duo.find_element(css).text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def test_the_board_follows_the_simulated_market_live(dash_duo, simulated_app) -> None:
    app, service = simulated_app
    dash_duo.start_server(app)
    dash_duo.wait_for_page(dash_duo.server_url + "/board")
    cell = "#board-grid .ag-center-cols-container [row-id='ACB'] [col-id='total_vol']"
    until(lambda: _text(dash_duo, cell) not in ("", "0"), timeout=20)
    first = _text(dash_duo, cell)
    until(lambda: _text(dash_duo, cell) not in ("", first), timeout=20)  # moved without a reload
    # The VN30 list (the grid only draws the rows in view, so ask the grid).
    count = "return dash_ag_grid.getApi('board-grid').getDisplayedRowCount()"
    assert dash_duo.driver.execute_script(count) == 30
    # What the screen shows is what the shared board holds (the board moves on, so allow a later value).
    shown = int(_text(dash_duo, cell).replace(",", ""))
    assert 0 < shown <= service.board.row("ACB")["total_vol"]
    until(lambda: "VN" in _text(dash_duo, "#board-clock"), timeout=5)
    assert service.status()["state"] == "live"
    assert dash_duo.get_logs() == []


def test_market_page_draws_indices_foreign_flow_and_basis(dash_duo, simulated_app) -> None:
    app, _service = simulated_app
    dash_duo.start_server(app)
    dash_duo.wait_for_page(dash_duo.server_url + "/market")

    def traces(graph: str) -> int:
        return dash_duo.driver.execute_script(
            f"const g = document.querySelector('#{graph} .js-plotly-plot');"
            "return g && g.data ? g.data.filter(t => (t.x || []).length > 0).length : 0;")

    for graph in ("market-vn30", "market-vnindex", "market-foreign-leaders"):
        until(lambda graph=graph: traces(graph) > 0, timeout=30)
    until(lambda: traces("market-foreign-speed") == 2, timeout=30)
    until(lambda: traces("market-basis") == 3, timeout=30)
    title = dash_duo.driver.execute_script(
        "return document.querySelector('#market-vn30 .js-plotly-plot').layout.title.text")
    assert title.startswith("VN30 ")
    assert dash_duo.driver.find_elements(By.CSS_SELECTOR, "#market-vn30-breadth span")
    assert dash_duo.get_logs() == []


def test_a_price_rule_made_in_the_page_raises_an_alert_within_five_seconds(dash_duo, scripted_app) -> None:
    app, service, feed = scripted_app
    ref, ceiling, floor = 130_000, 139_100, 120_900
    feed.send(status_message("FPT", ref, ceiling, floor), trade_message("FPT", ref, ceiling, floor, 130_500, 100, 100))
    dash_duo.start_server(app)
    dash_duo.wait_for_page(dash_duo.server_url + "/market")
    symbol = dash_duo.wait_for_element("#market-rule-symbol", timeout=15)
    symbol.click()
    symbol.send_keys("FPT")
    dash_duo.wait_for_element("[role='option'][value='FPT']", timeout=5).click()
    price = dash_duo.find_element("#market-rule-price")
    price.send_keys("131")
    price.send_keys(Keys.TAB)
    dash_duo.find_element("#market-rule-add").click()
    dash_duo.wait_for_contains_text("#market-rule-message", "Alert when FPT trades above 131", timeout=10)
    assert [(r.symbol, r.op, r.price) for r in service.rules()] == [("FPT", "above", 131_000.0)]
    assert "FPT above 131.00" in _text(dash_duo, "#market-rules")

    sent = time.monotonic()
    feed.send(trade_message("FPT", ref, ceiling, floor, 131_500, 200, 300),
              index_message("VN30", 1300.0, 1300.0))
    until(lambda: "FPT" in _text(dash_duo, "#market-alerts .market-alert"), timeout=5)
    assert time.monotonic() - sent < 5
    dash_duo.find_element("#market-alerts .market-alert button").click()
    dash_duo.wait_for_contains_text("#market-alerts .market-alert", "acked by", timeout=5)
    assert service.alerts(unacked=True) == []
    # The rule can be deleted from the page.
    dash_duo.find_element("#market-rules button").click()
    until(lambda: service.rules() == [], timeout=5)
    assert dash_duo.get_logs() == []
