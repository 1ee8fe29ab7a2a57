"""/portfolio in Chromium, on the real live board (rows published as the feed publishes them):
a trader makes a portfolio, buys at the market from the ticket (the confirmation shows cost, fee
and tax), sees the holding's P&L move as the board moves, and sells a holding bought two trading
days earlier and reads its realised P&L; bad prices are named under the field as they are typed."""

from __future__ import annotations

import json
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.keys import Keys

from backend.access.current import LOCAL_USER
from backend.access.flags import FLAGS_KEY
from backend.market.events import Phase
from backend.market.reference import vn_day
from backend.market.runtime import install_market_service
from backend.paper.ledger import Ledger
from backend.paper.quotes import Quote
from backend.stores import EXTENSION_KEY as STORES_KEY
from tests.ui.test_research import _choose

ROW = {"symbol": "FPT", "kind": "stock", "vn30": True, "ref": 120_000, "ceiling": 128_400, "floor": 111_600,
       "open": 120_000, "high": 121_000, "low": 119_500, "last": 120_500, "last_vol": 100,
       "bid1": 120_400, "bid1_vol": 1_000, "bid2": 120_300, "bid2_vol": 2_000, "bid3": 120_200, "bid3_vol": 3_000,
       "ask1": 120_500, "ask1_vol": 500, "ask2": 120_600, "ask2_vol": 1_000, "ask3": 120_700, "ask3_vol": 4_000,
       "session": "LO", "ts": 0}


@pytest.fixture
def paper_app(deskboard_app):
    server = deskboard_app.server
    server.extensions[FLAGS_KEY].create("paper", enabled=True, rollout=100, actor="test")
    market = install_market_service(server, server.extensions[STORES_KEY], start=False)
    market.board.publish([ROW, {**ROW, "symbol": "HPG", "ref": 25_000, "ceiling": 26_750, "floor": 23_250,
                                "open": 25_000, "high": 25_150, "low": 24_950, "last": 25_100,
                                "bid1": 25_050, "bid1_vol": 5_000, "bid2": 25_000, "bid3": 24_950,
                                "ask1": 25_100, "ask2": 25_150, "ask3": 25_200}])
    return deskboard_app, market


def _cell(dash_duo, grid: str, column: str) -> list[str]:
    """A column's cells in row order (pinned columns live in their own container)."""
    return dash_duo.driver.execute_script(
        "const cells = [...document.querySelectorAll(arguments[0] + ' .ag-cell[col-id=\"' + arguments[1] + '\"]')];"
        "const at = c => +c.closest('[row-index]').getAttribute('row-index');"
        "return cells.sort((a, b) => at(a) - at(b)).map(c => c.textContent.replace('\u2212', '-'));", f"#{grid}",
        column)


def _type(dash_duo, css: str, text: str) -> None:
    field = dash_duo.find_element(css)
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.BACKSPACE)
    field.send_keys(text)


def test_buy_from_the_ticket_watch_the_pnl_move_then_sell_a_settled_holding(dash_duo, paper_app) -> None:
    app, market = paper_app
    ledger = Ledger(app.server.extensions[STORES_KEY].meta)
    dash_duo.start_server(app)
    dash_duo.wait_for_page(dash_duo.server_url + "/portfolio")
    dash_duo.wait_for_contains_text("#paper-summary", "Create a portfolio", timeout=20)
    _type(dash_duo, "#paper-new-name", "desk one")
    dash_duo.find_element("#paper-create").click()
    dash_duo.wait_for_contains_text("#paper-summary", "1,000,000,000", timeout=20)
    owner = LOCAL_USER  # sign-in is off: the local user
    until(lambda: ledger.portfolios(owner), timeout=10)
    pid = ledger.portfolios(owner)[0]["id"]
    assert dash_duo.driver.execute_script("return location.search") == f"?p={pid}"

    # the ticket: FPT, buy 10 lots at the market; the confirmation says what it costs
    _choose(dash_duo, "#paper-symbol", "FPT")
    _type(dash_duo, "#paper-lots", "10")
    _choose(dash_duo, "#paper-type", "market")
    dash_duo.wait_for_contains_text("#paper-band", "ceiling 128,400", timeout=10)
    until(lambda: dash_duo.find_element("#paper-review").is_enabled(), timeout=10)
    dash_duo.find_element("#paper-review").click()
    # 500 at 120,500 and 500 at 120,600: 120,550,000; fees 90,375 + 90,450
    dash_duo.wait_for_contains_text(".paper-confirm-lines", "gross 120,550,000", timeout=10)
    assert "Fee 180,825" in dash_duo.find_element(".paper-confirm-lines").text
    dash_duo.find_element("#paper-place").click()
    dash_duo.wait_for_contains_text("#paper-notices", "filled, 1,000 shares filled", timeout=10)
    until(lambda: _cell(dash_duo, "paper-holdings", "symbol") == ["FPT"], timeout=10)
    # marked at the last price 120,500: −50,000 against a cost of 120,550,000
    until(lambda: _cell(dash_duo, "paper-holdings", "unrealized_pnl") == ["-50,000"], timeout=10)
    assert _cell(dash_duo, "paper-holdings", "sellable_quantity") == ["0"]  # T+2
    market.board.publish([{**ROW, "last": 121_500}])
    until(lambda: _cell(dash_duo, "paper-holdings", "unrealized_pnl") == ["+950,000"], timeout=10)

    # HPG bought two trading days ago, now sellable: sell it from the ticket and read its realised P&L
    bought = ledger.calendar.add(date.fromordinal(vn_day(time.time())), -2)
    ledger.place(pid, owner, {"symbol": "HPG", "side": "buy", "quantity": 2_000, "limit_price": 24_000},
                 Quote("HPG", 25_000, 26_750, 23_250, 24_000, 24_000, (), ((24_000, 5_000),), Phase.CONTINUOUS,
                       bought))
    until(lambda: "HPG" in _cell(dash_duo, "paper-holdings", "symbol"), timeout=10)
    _choose(dash_duo, "#paper-symbol", "HPG")
    dash_duo.find_element("#paper-side").find_element("xpath", ".//label[normalize-space()='Sell']").click()
    _type(dash_duo, "#paper-lots", "20")
    _choose(dash_duo, "#paper-type", "limit")
    _type(dash_duo, "#paper-limit", "25020")  # off the 50-đồng grid: said under the field
    until(lambda: "off the tick grid" in dash_duo.find_element("#paper-band").text, timeout=10)
    assert not dash_duo.find_element("#paper-review").is_enabled()
    _type(dash_duo, "#paper-limit", "25050")
    until(lambda: dash_duo.find_element("#paper-review").is_enabled(), timeout=10)
    dash_duo.find_element("#paper-review").click()
    dash_duo.wait_for_contains_text(".paper-confirm-lines", "tax", timeout=10)
    dash_duo.find_element("#paper-place").click()
    dash_duo.wait_for_contains_text("#paper-notices", "filled", timeout=10)
    # 2,000 × (25,050 − 24,000) = +2,100,000 realised on the fill
    until(lambda: "+2,100,000" in _cell(dash_duo, "paper-fills", "realized_pnl"), timeout=10)
    until(lambda: "1 trading day · return" in dash_duo.find_element("#paper-figures").text, timeout=10)
    # fill times on the trader's clock (Vietnam's by default), not the stored UTC
    header = dash_duo.find_element("#paper-fills .ag-header-cell[col-id='at']").text
    assert "Asia/Ho_Chi_Minh" in header
    shown = datetime.strptime(_cell(dash_duo, "paper-fills", "at")[0], "%Y-%m-%d %H:%M:%S")
    assert abs(shown - datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).replace(tzinfo=None)) < timedelta(minutes=2)
    hpg = _cell(dash_duo, "paper-holdings", "symbol").index("HPG")
    assert _cell(dash_duo, "paper-holdings", "realized_pnl")[hpg] == "+2,100,000"
    assert json.dumps(dash_duo.get_logs()) == "[]"


def test_a_price_in_the_boards_book_opens_the_ticket_filled_in(dash_duo, paper_app) -> None:
    app, _market = paper_app
    dash_duo.start_server(app)
    dash_duo.wait_for_page(dash_duo.server_url + "/board?symbol=FPT")
    dash_duo.wait_for_element("#board-detail-book .board-detail-trade", timeout=30)
    # (the drawer is drawn afresh every two seconds: read it in the page, not by handle)
    links = dash_duo.driver.execute_script(
        "return [...document.querySelectorAll('#board-detail-book .board-detail-trade')].map(a => a.href);")
    ask = next(href for href in links if "side=buy" in href and "price=120500" in href)
    assert any("side=sell&price=120400" in href for href in links)
    dash_duo.driver.get(ask)  # what the click opens
    dash_duo.wait_for_element("#paper-symbol", timeout=20)
    until(lambda: dash_duo.find_element("#paper-symbol").get_attribute("value") == "FPT", timeout=10)
    assert dash_duo.find_element("#paper-limit").get_attribute("value") == "120,500"
    assert dash_duo.find_element("#paper-type").get_attribute("value") == "limit"
    assert json.dumps(dash_duo.get_logs()) == "[]"


def test_strategies_switched_on_and_off_and_their_signals(dash_duo, paper_app) -> None:
    from backend.paper.engine import StrategyBook, StrategyEngine

    app, _market = paper_app
    meta = app.server.extensions[STORES_KEY].meta
    ledger = Ledger(meta)
    pid = ledger.create(LOCAL_USER, "quant")["id"]
    dash_duo.start_server(app)
    dash_duo.wait_for_page(dash_duo.server_url + f"/portfolio?p={pid}")
    dash_duo.wait_for_element("#paper-strategy-add", timeout=20)
    _choose(dash_duo, "#paper-strategy-kind", "VWAP deviation")
    dash_duo.find_element("#paper-strategy-add").click()
    until(lambda: _cell(dash_duo, "paper-strategies", "kind") == ["vwap_deviation"], timeout=10)
    assert _cell(dash_duo, "paper-strategies", "active") == ["on"]
    dash_duo.find_element("#paper-strategies .ag-row .ag-checkbox-input").click()  # tick it
    dash_duo.find_element("#paper-strategy-toggle").click()
    until(lambda: _cell(dash_duo, "paper-strategies", "active") == ["off"], timeout=10)
    # switched on again, the board moves 2 % under its VWAP: the engine keeps a buy signal
    sid = StrategyBook(meta).strategies(LOCAL_USER, pid)[0]["id"]
    StrategyBook(meta).change(sid, LOCAL_USER, active=True)
    engine = StrategyEngine(meta, ledger)
    engine.refresh(force=True)
    engine.on_row({**ROW, "last": 117_500, "total_vol": 1_000, "total_val": 120_000_000}, None)
    dash_duo.wait_for_page(dash_duo.server_url + f"/portfolio?p={pid}")
    until(lambda: _cell(dash_duo, "paper-signals", "side") == ["buy"], timeout=20)
    assert "from VWAP 120,000.0" in _cell(dash_duo, "paper-signals", "reason")[0]
    assert json.dumps(dash_duo.get_logs()) == "[]"
