"""/board in a real browser with /market open in another tab, on a scripted feed for exact assertions:
live updates and VN colours, the direction flash, the index strip and futures row, sorting, search,
pins and the detail drawer in the URL, bad URL values, watchlists and the stale-feed banner."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from dash.testing import errors as dash_errors
from dash.testing.wait import until
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from backend.market.board_view import index_strip
from backend.market.reference import VN_TZ
from backend.warehouse import Warehouse
from components.board_status import source_badge
from tests.backend.market_ui.feeds import foreign_message, quote_message
from tests.ui import board_support
from tests.ui.board_support import (
    FUTURES,
    LIMITS,
    cell,
    cell_text,
    colour,
    open_board,
    row_order,
    texts,
    tone_colours,
    wait_cell,
)


@pytest.fixture
def scripted_market(tmp_path: Path, warehouse_url: str, fresh_warehouse: Warehouse):
    with board_support.scripted_market(tmp_path, warehouse_url, fresh_warehouse) as market:
        yield market


def _seed(m, prices: dict[str, int]) -> None:
    m.send_limits()
    for symbol, price in prices.items():
        m.trade(symbol, price)


def test_the_board_updates_live_and_colours_ceiling_floor_up_down_and_reference(dash_duo, scripted_market) -> None:
    m = scripted_market
    _seed(m, {"ACB": 26_200, "BID": 44_700, "FPT": 131_000, "HPG": 26_500, "VNM": 66_000})
    open_board(dash_duo, m)
    wait_cell(dash_duo, "FPT", "last", "131.00")
    tones = tone_colours(dash_duo)
    expected = {"ACB": "ceiling", "BID": "floor", "FPT": "up", "HPG": "down", "VNM": "ref"}
    for symbol, tone in expected.items():
        for col in ("last", "change_pct", "symbol"):  # the price, its change and the symbol itself
            until(lambda symbol=symbol, col=col, tone=tone: colour(dash_duo, symbol, col) == tones[tone], timeout=10)
        for col in ("ref", "ceiling", "floor"):
            assert colour(dash_duo, symbol, col) == tones[col]
    assert cell_text(dash_duo, "FPT", "change_pct") == "+0.77%"
    # Breadth of the list: one each at ceiling, up, reference, down and floor; movers by % change.
    until(lambda: dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#board-breadth span')).map(e => e.getAttribute('data-count'))"
    ) == ["1"] * 5, timeout=10)
    movers = dash_duo.find_element("#board-movers").text
    assert "ACB +6.94%" in movers and "FPT +0.77%" in movers and "BID -6.88%" in movers
    assert cell_text(dash_duo, "ACB", "ceiling") == "26.20"

    # A live move: FPT falls below its reference; the same row turns red without a reload.
    m.scripted.send(quote_message("FPT", [(128_900, 1_000), (128_800, 25_400)], [(129_000, 300)]))
    m.trade("FPT", 129_000, total=1_100)
    wait_cell(dash_duo, "FPT", "last", "129.00")
    until(lambda: colour(dash_duo, "FPT", "last") == tones["down"], timeout=10)
    until(lambda: colour(dash_duo, "FPT", "symbol") == tones["down"], timeout=10)
    wait_cell(dash_duo, "FPT", "bid1", "128.90")
    # Volumes: exact below 10,000, three figures above, the exact number as the tooltip.
    assert cell_text(dash_duo, "FPT", "bid1_vol") == "1,000"
    assert cell_text(dash_duo, "FPT", "bid2_vol") == "25.4K"
    assert cell(dash_duo, "FPT", "bid2_vol").get_attribute("title") == "25,400"
    assert cell_text(dash_duo, "FPT", "total_vol") == "1,100"
    # Only the watchlist's rows are on screen: VN30 by default.
    assert set(row_order(dash_duo)) == set(LIMITS)
    # The movers and the grid come from one board snapshot; the page says when it was published.
    version, text = dash_duo.driver.execute_script(
        "const e = document.querySelector('#board-version .board-version'); return [e.dataset.version, e.textContent];")
    assert version and int(version) <= m.service.board.version
    # The feed's time of the latest change to the rows on screen, on the VN clock as the header's.
    as_of = max(m.service.board.row(s)["ts"] for s in LIMITS)
    assert text == "as of " + datetime.fromtimestamp(as_of, VN_TZ).strftime("%H:%M:%S")
    # A full foreign room reads 0, not blank.
    m.scripted.send(foreign_message("FPT", 1_000, 0, 129e6, 0.0, 10**6, 0))
    wait_cell(dash_duo, "FPT", "f_room", "0")
    assert dash_duo.get_logs() == []


COUNT_POLLS = """
window.__polls = 0;
const fetch0 = window.fetch;
window.fetch = function (input, init) {
  if (init && typeof init.body === 'string' && init.body.indexOf('board-grid.rowData') >= 0) window.__polls += 1;
  return fetch0.apply(this, arguments);
};
"""


# Counts the board's own ticks (Dash looks the clientside function up on every call).
COUNT_TICKS = """
window.__ticks = 0;
const board = window.dash_clientside.board, pace0 = board.pace;
board.pace = function () { window.__ticks += 1; return pace0.apply(this, arguments); };
"""


def test_a_hidden_board_asks_nothing_and_catches_up_when_shown(dash_duo, scripted_market) -> None:
    m = scripted_market
    _seed(m, {"FPT": 131_000})
    open_board(dash_duo, m)
    wait_cell(dash_duo, "FPT", "last", "131.00")
    driver = dash_duo.driver
    driver.execute_script(COUNT_POLLS)
    until(lambda: driver.execute_script("return window.__polls") >= 2, timeout=10)  # polling while shown
    driver.execute_script(COUNT_TICKS)
    driver.execute_script("Object.defineProperty(document, 'hidden', {value: true, configurable: true});")
    ticks = driver.execute_script("return window.__ticks")
    # Two of the page's own ticks: a poll already asked has landed or been given up by then.
    until(lambda: driver.execute_script("return window.__ticks") >= ticks + 2, timeout=10)
    asked = driver.execute_script("return window.__polls")
    m.trade("FPT", 131_500, total=1_100)
    ticks = driver.execute_script("return window.__ticks")
    until(lambda: driver.execute_script("return window.__ticks") >= ticks + 4, timeout=10)
    assert driver.execute_script("return window.__polls") == asked  # four ticks, no question
    assert cell_text(dash_duo, "FPT", "last") == "131.00"
    driver.execute_script("delete document.hidden;")  # shown again: the next tick asks
    wait_cell(dash_duo, "FPT", "last", "131.50", timeout=10)
    assert dash_duo.get_logs() == []


FLASH_OBSERVER = """
window.__flashes = [];
new MutationObserver((changes) => changes.forEach((c) => {
  const el = c.target;
  // A new flash: the class appears (a fading one is 'ag-cell-data-changed-animation', another class).
  if (!el.classList.contains('ag-cell-data-changed') || (c.oldValue || '').split(' ').includes('ag-cell-data-changed')) return;
  const row = el.closest('[row-id]');
  // The grid draws the cell's style in its next render: look a moment later, as the eye does.
  setTimeout(() => {
    const style = getComputedStyle(el);
    const flash = el.style.getPropertyValue('--db-flash');
    window.__flashes.push({row: row && row.getAttribute('row-id'), col: el.getAttribute('col-id'),
      up: flash.includes('flash-up'), down: flash.includes('flash-down'), still: el.classList.contains('ag-cell-data-changed'),
      bg: style.backgroundColor, color: style.color, style: el.getAttribute('style')});
  }, 60);
})).observe(document.querySelector('#board-grid'),
  {subtree: true, attributes: true, attributeFilter: ['class'], attributeOldValue: true});
"""


def _flashes(dash_duo, symbol: str) -> dict[str, dict]:
    found = dash_duo.driver.execute_script("const f = window.__flashes; window.__flashes = []; return f;")
    return {f["col"]: f for f in found if f["row"] == symbol}


def test_a_changed_cell_flashes_green_when_it_rose_and_red_when_it_fell_and_nothing_else_flashes(
        dash_duo, scripted_market) -> None:
    m = scripted_market
    _seed(m, {"FPT": 131_000, "HPG": 27_000})
    open_board(dash_duo, m)
    wait_cell(dash_duo, "FPT", "last", "131.00")
    wait_cell(dash_duo, "HPG", "last", "27.00")
    dash_duo.driver.execute_script(FLASH_OBSERVER)
    dash_duo.driver.execute_script(COUNT_TICKS)

    def moved(before: dict, after: dict) -> dict[str, int]:
        """Displayed numbers that changed between two board rows, and which way (computed here)."""
        shown = [f"{side}{i}{vol}" for side in ("bid", "ask") for i in (1, 2, 3) for vol in ("", "_vol")]
        shown += ["ref", "ceiling", "floor", "last", "last_vol", "change", "change_pct", "total_vol", "high", "low",
                  "f_buy_vol", "f_sell_vol", "f_room"]
        out = {f: 1 if after[f] > before[f] else -1 for f in shown if after[f] != before[f]}
        avg = (before["total_val"] / before["total_vol"], after["total_val"] / after["total_vol"])
        if avg[0] != avg[1]:
            out["avg"] = 1 if avg[1] > avg[0] else -1
        return out

    def flashes_after(price: int, total: int) -> tuple[dict[str, dict], dict[str, int]]:
        before = dict(m.service.board.row("FPT"))
        m.trade("FPT", price, total=total)
        until(lambda: m.service.board.row("FPT")["total_vol"] == total, timeout=10)
        want = moved(before, m.service.board.row("FPT"))
        seen: dict[str, dict] = {}
        try:
            until(lambda: seen.update(_flashes(dash_duo, "FPT")) or set(want) <= set(seen), timeout=15)
        except dash_errors.TestingTimeoutError:
            raise AssertionError(f"flashed {sorted(seen)}, expected {sorted(want)}; "
                                 f"last shows {cell_text(dash_duo, 'FPT', 'last')}") from None
        # Anything else that would flash has flashed once the page has ticked twice more.
        ticks = dash_duo.driver.execute_script("return window.__ticks")
        until(lambda: dash_duo.driver.execute_script("return window.__ticks") >= ticks + 2, timeout=10)
        seen.update(_flashes(dash_duo, "FPT"))
        return seen, want

    # Up: price, change, %, high, average, day volume. The reference, bands, last volume and book stay.
    seen_up, want = flashes_after(132_000, 1_100)
    assert {"last", "change", "change_pct", "total_vol", "high", "avg"} <= set(want)
    assert not {"ref", "ceiling", "floor", "last_vol", "bid1"} & set(want)
    assert set(seen_up) == set(want), (seen_up, want)
    assert all(seen_up[c]["up"] == (d > 0) and seen_up[c]["down"] == (d < 0) for c, d in want.items()), \
        {c: (f["up"], f["down"], f["style"]) for c, f in seen_up.items()}
    # Down: price, change, %, low, average fall; the day volume still rises.
    seen_down, want = flashes_after(129_500, 1_200)
    assert want["last"] == want["low"] == want["avg"] == -1 and want["total_vol"] == 1
    assert set(seen_down) == set(want), (seen_down, want)
    assert all(seen_down[c]["up"] == (d > 0) and seen_down[c]["down"] == (d < 0) for c, d in want.items())
    # Green and red tints (--db-flash-up / --db-flash-down) while the cell flashes; the text keeps
    # its VN colour: up green, then red once below the reference (--db-up / --db-down).
    tones = tone_colours(dash_duo)
    for seen, tint in ((seen_up, "rgb(227, 246, 234)"), (seen_down, "rgb(252, 233, 232)")):
        flashing = [f for c, f in seen.items() if f["still"] and c != "total_vol"]
        assert flashing, "every flash had ended before it was looked at"
        assert all(f["bg"] == tint for f in flashing), flashing
    assert seen_up["last"]["color"] == tones["up"] and seen_down["last"]["color"] == tones["down"]
    # No other row flashed.
    others = dash_duo.driver.execute_script("return window.__flashes.filter(f => f.row !== 'FPT')")
    assert others == []
    assert dash_duo.get_logs() == []


def _strip(dash_duo) -> dict[str, str]:
    return dash_duo.driver.execute_script(
        "const out = {}; document.querySelectorAll('#board-strip .board-index').forEach(e => "
        "out[e.getAttribute('data-id')] = e.textContent); return out;")


def _expected_strip(m) -> dict[str, str]:
    """The strip as text, formatted here from the service's summary and board row."""
    out = {}
    for item in index_strip(m.service.summary, m.service.board.snapshot(), FUTURES):
        digits = 1 if item["kind"] == "future" else 2
        text = f"{item['id']}{item['value']:,.{digits}f}{item['change']:+,.{digits}f}({item['change_pct']:+.2f}%)"
        if item.get("basis") is not None:
            text += f"basis {item['basis']:+.1f}"
        out[item["id"]] = text
    return out


def test_the_index_strip_and_the_futures_row_show_what_the_service_holds(dash_duo, scripted_market) -> None:
    m = scripted_market
    _seed(m, {"FPT": 131_000})
    m.trade(FUTURES, 1_302.5, total=10, volume=10)
    open_board(dash_duo, m)
    # The default board carries the front-month contract, in index points.
    wait_cell(dash_duo, FUTURES, "last", "1302.5")
    assert cell_text(dash_duo, FUTURES, "ref") == "1300.0"
    assert cell_text(dash_duo, FUTURES, "change") == "2.5"
    assert row_order(dash_duo)[0] == FUTURES  # futures first, then symbols A→Z
    summary = m.service.summary
    assert summary["indices"]["VN30"]["value"] == 1_301.5 and summary["basis"]["active"] == FUTURES
    until(lambda: _strip(dash_duo) == _expected_strip(m), timeout=10)
    strip = _strip(dash_duo)
    assert strip["VNINDEX"] == "VNINDEX1,250.25-1.75(-0.14%)"
    assert strip[FUTURES] == f"{FUTURES}1,302.5+2.5(+0.19%)basis +1.0"
    tones = dash_duo.driver.execute_script(
        "const out = {}; document.querySelectorAll('#board-strip .board-index').forEach(e => "
        "out[e.getAttribute('data-id')] = e.className); return out;")
    assert "board-down" in tones["VNINDEX"] and "board-up" in tones["VN30"] and "board-up" in tones[FUTURES]
    # A scripted feed is not an exchange: the page says the market is simulated.
    assert m.service.status()["simulated"]
    assert dash_duo.find_element("#board-source").text == "Simulated market"
    assert dash_duo.get_logs() == []


def test_columns_sort_the_sort_is_kept_in_the_url_and_pins_stay_on_top(dash_duo, scripted_market) -> None:
    m = scripted_market
    _seed(m, {"ACB": 25_000, "BID": 47_000, "FPT": 133_000, "HPG": 27_000, "VNM": 65_000})
    open_board(dash_duo, m, "?sort=change_pct:desc&pin=VNM")
    wait_cell(dash_duo, "VNM", "last", "65.00")
    by_change = sorted(LIMITS, key=lambda s: -m.service.board.row(s)["change_pct"])
    until(lambda: row_order(dash_duo) == ["VNM"] + [s for s in by_change if s != "VNM"], timeout=10)
    header = dash_duo.find_element(".ag-header-cell[col-id='symbol']")
    header.click()
    until(lambda: row_order(dash_duo) == ["VNM"] + sorted(set(LIMITS) - {"VNM"}), timeout=10)
    assert header.get_attribute("aria-sort") == "ascending"
    until(lambda: "sort=symbol%3Aasc" in dash_duo.driver.current_url
          or "sort=symbol:asc" in dash_duo.driver.current_url, timeout=10)
    assert "pin=VNM" in dash_duo.driver.current_url
    # A later tick keeps the user's order.
    m.trade("ACB", 26_000, total=2_000)
    wait_cell(dash_duo, "ACB", "last", "26.00")
    assert row_order(dash_duo) == ["VNM"] + sorted(set(LIMITS) - {"VNM"})
    assert dash_duo.get_logs() == []


def _pick(dash_duo, css: str, text: str, option: str) -> None:
    box = dash_duo.find_element(css)
    box.click()
    box.send_keys(text)
    dash_duo.wait_for_element(f"[role='option'][value='{option}']", timeout=10).click()


def test_search_finds_a_symbol_and_pins_live_in_the_url(dash_duo, scripted_market) -> None:
    m = scripted_market
    _seed(m, {s: LIMITS[s][0] for s in LIMITS})
    open_board(dash_duo, m)
    wait_cell(dash_duo, "VNM", "last", "66.00")
    _pick(dash_duo, "#board-search", "hp", "HPG")
    # The row is brought into view and highlighted for a moment.
    until(lambda: dash_duo.driver.find_elements(By.CSS_SELECTOR, "#board-grid .board-row-found[row-id='HPG']"),
          timeout=10)
    dash_duo.find_element("#board-pin").click()
    until(lambda: row_order(dash_duo)[0] == "HPG", timeout=10)
    until(lambda: "pin=HPG" in dash_duo.driver.current_url, timeout=10)
    # The star in the symbol cell pins another; the pin order is kept.
    dash_duo.find_element("#board-grid [row-id='VNM'] [col-id='symbol'] .board-pin").click()
    until(lambda: row_order(dash_duo)[:2] == ["HPG", "VNM"], timeout=10)
    until(lambda: "pin=HPG%2CVNM" in dash_duo.driver.current_url or "pin=HPG,VNM" in dash_duo.driver.current_url,
          timeout=10)
    star = dash_duo.find_element("#board-grid [row-id='VNM'] [col-id='symbol'] .board-pin")
    assert star.get_attribute("aria-pressed") == "true" and star.text == "★"
    # The URL is the view: opened again, the pins are there.
    dash_duo.wait_for_page(dash_duo.driver.current_url)
    wait_cell(dash_duo, "VNM", "last", "66.00")
    until(lambda: row_order(dash_duo)[:2] == ["HPG", "VNM"], timeout=10)
    # Unpin with the star.
    dash_duo.find_element("#board-grid [row-id='HPG'] [col-id='symbol'] .board-pin").click()
    until(lambda: row_order(dash_duo)[0] == "VNM" and "HPG" not in dash_duo.driver.current_url.split("pin=")[-1],
          timeout=10)
    assert dash_duo.get_logs() == []


def _table(dash_duo, css: str) -> list[list[str]]:
    return dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr')).map(r => "
        "Array.from(r.children).map(c => c.textContent))", css)


def test_clicking_a_symbol_opens_its_detail_with_the_stores_trades(dash_duo, scripted_market) -> None:
    m = scripted_market
    _seed(m, {"HPG": 27_000})
    for i, (price, side) in enumerate([(130_500, "BU"), (131_000, "BU"), (130_000, "SD"), (129_500, "SD")]):
        m.trade("FPT", price, total=1_000 + 100 * (i + 1), side=side)
    m.scripted.send(quote_message("FPT", [(129_400, 1_000), (129_300, 2_500)], [(129_500, 300)]),
                    foreign_message("FPT", 40_000, 60_000, 5.2e9, 7.9e9, 720_000_000, 280_000_000))
    open_board(dash_duo, m)
    wait_cell(dash_duo, "FPT", "last", "129.50")
    dash_duo.find_element("#board-grid [row-id='FPT'] [col-id='symbol'] .board-open").click()
    dash_duo.wait_for_element("#board-detail-head", timeout=10)
    until(lambda: "symbol=FPT" in dash_duo.driver.current_url, timeout=10)
    day = datetime.now(VN_TZ).date()
    # The store writes once a second: wait until all four trades are in the drawer.
    until(lambda: len(_table(dash_duo, "#board-detail-trades")) == 4, timeout=10)
    stored = sorted(m.service.store.history("trades", day, "FPT"), key=lambda r: (r["ts"], r["total_volume"]),
                    reverse=True)
    shown = _table(dash_duo, "#board-detail-trades")
    sides = {1: "Buy", -1: "Sell", 0: "—"}
    assert shown == [[(r["ts"].astimezone(VN_TZ)).strftime("%H:%M:%S"), f"{r['price'] / 1000:,.2f}",
                      f"{r['volume']:,}", sides[r["side"]]] for r in stored]
    assert [row[3] for row in shown] == ["Sell", "Sell", "Buy", "Buy"]
    # The book and foreign flow are the board row's.
    assert _table(dash_duo, "#board-detail-book") == [
        ["1", "1,000", "129.40", "129.50", "300"], ["2", "2,500", "129.30", "", ""], ["3", "", "", "", ""]]
    foreign = {r[0]: r[1:] for r in _table(dash_duo, "#board-detail-foreign")}
    assert foreign["Buy"][0] == "5.20 bn" and foreign["Net"] == ["-2.70 bn", "-20,000 shares"]
    assert foreign["Room"][0] == "280,000,000"
    # The chart: the minute volumes add up to the stored volume.
    chart_volume = ("const g = document.querySelector('#board-detail-chart .js-plotly-plot');"
                    "return g && g.data && g.data[1] ? g.data[1].y.filter(v => v !== null).reduce((a, b) => a + b, 0)"
                    " : null;")
    until(lambda: dash_duo.driver.execute_script(chart_volume) == sum(r["volume"] for r in stored), timeout=10)
    # Closing the drawer takes the symbol out of the URL.
    dash_duo.find_element(".mantine-Drawer-close").click()
    until(lambda: "symbol=" not in dash_duo.driver.current_url, timeout=10)
    assert dash_duo.get_logs() == []


def test_a_shared_link_opens_the_detail_and_bad_url_values_get_notices(dash_duo, scripted_market) -> None:
    m = scripted_market
    _seed(m, {"FPT": 131_000, "HPG": 27_000})
    open_board(dash_duo, m, "?symbol=hpg&pin=FPT,XYZ,%3Cscript%3E&sort=nonsense&watchlist=%3Cscript%3E")
    wait_cell(dash_duo, "FPT", "last", "131.00")
    dash_duo.wait_for_contains_text(".mantine-Drawer-title", "HPG", timeout=10)
    notes = texts(dash_duo, ".board-url-note")
    assert notes == ["There is no watchlist '<script>'; showing VN30.",
                     "Cannot sort by 'nonsense' (use COLUMN:asc or COLUMN:desc).",
                     "Cannot pin 'XYZ': it is not on this board.",
                     "Cannot pin '<script>': not a symbol."]
    assert row_order(dash_duo)[0] == "FPT"
    # Unknown and repeated values, and a long one.
    dash_duo.wait_for_page(dash_duo.server_url + "/board?symbol=NOPE&pin=FPT&pin=HPG&sort=" + "x" * 3000)
    wait_cell(dash_duo, "FPT", "last", "131.00")
    assert texts(dash_duo, ".board-url-note") == ["'sort' is too long; ignored.",
                                                  "'pin' was given more than once; ignored.",
                                                  "Cannot show 'NOPE': it is not on this board."]
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, ".mantine-Drawer-content")
    assert dash_duo.get_logs() == []


def test_a_stopped_feed_shows_the_stale_banner_then_disconnected(dash_duo, scripted_market) -> None:
    m = scripted_market
    _seed(m, {"FPT": 131_000})
    open_board(dash_duo, m)
    wait_cell(dash_duo, "FPT", "last", "131.00")
    until(lambda: not dash_duo.driver.find_elements(By.CSS_SELECTOR, ".board-banner"), timeout=10)
    # The feed stays connected but goes quiet: after stale_seconds the banner appears.
    m.pause()
    dash_duo.wait_for_contains_text(".board-banner-stale", "no market data", timeout=8)
    # Data again: the banner goes away.
    m.trade("FPT", 131_500, total=1_100)
    m.resume()
    wait_cell(dash_duo, "FPT", "last", "131.50")
    until(lambda: not dash_duo.driver.find_elements(By.CSS_SELECTOR, ".board-banner"), timeout=10)
    # The connection closes: a disconnected banner, prices stay on screen.
    m.scripted.close()
    dash_duo.wait_for_element(".board-banner-disconnected", timeout=10)
    assert cell_text(dash_duo, "FPT", "last") == "131.50"
    assert dash_duo.get_logs() == []


def test_a_user_watchlist_narrows_the_board_and_lives_in_the_url(dash_duo, scripted_market) -> None:
    m = scripted_market
    _seed(m, {s: LIMITS[s][0] for s in LIMITS})
    m.trade(FUTURES, 1_301.0, total=5, volume=5)
    saved = m.service.userdata.save_watchlist("Banks", ["ACB", "BID"])
    open_board(dash_duo, m, f"?watchlist={saved.id}")
    wait_cell(dash_duo, "ACB", "last", "24.50")
    until(lambda: set(row_order(dash_duo)) == {"ACB", "BID"}, timeout=10)  # a user list has no futures row
    assert f"watchlist={saved.id}" in dash_duo.driver.current_url
    # Create a list from the page.
    dash_duo.find_element("#board-lists-button").click()
    dash_duo.wait_for_element("#board-new-name", timeout=10).send_keys("Tech")
    _pick(dash_duo, "#board-new-symbols", "FPT", "FPT")
    dash_duo.find_element("#board-new-name").click()  # closes the option list, which covers the buttons
    dash_duo.find_element("#board-save").click()
    dash_duo.wait_for_contains_text("#board-message", "Saved Tech", timeout=10)
    until(lambda: set(row_order(dash_duo)) == {"FPT"}, timeout=10)
    tech = next(w for w in m.service.userdata.watchlists() if w.name == "Tech")
    until(lambda: f"watchlist={tech.id}" in dash_duo.driver.current_url, timeout=10)
    # Back to VN30: the futures row comes back with it.
    dash_duo.find_element("#board-lists-button").click()
    _pick(dash_duo, "#board-watchlist", "VN", "vn30")
    until(lambda: set(row_order(dash_duo)) == set(LIMITS) | {FUTURES}, timeout=10)
    assert "watchlist=" not in dash_duo.driver.current_url
    assert dash_duo.get_logs() == []


def test_the_first_layout_already_has_the_rows_of_the_shared_snapshot(scripted_market) -> None:
    """No round trip before prices: the page's layout carries the rows, breadth and movers."""
    from pages import board as page

    m = scripted_market
    m.service.board.publish([{"symbol": "FPT", "kind": "stock", "last": 131_000, "ref": 130_000,
                              "change_pct": 0.77}, {"symbol": "ZZZ", "kind": "stock", "last": 1}])
    with m.app.server.test_request_context("/board"):
        tree = page.layout()
    grid = _find(tree, "board-grid")
    client = _find(tree, "board-client")
    assert [r["symbol"] for r in grid.rowData] == ["FPT"]  # VN30 only
    assert client.data["v"] == m.service.board.version and client.data["known"] == ["FPT"]
    assert "FPT +0.77%" in str(_find(tree, "board-movers").children)


def _find(component, component_id: str):
    if getattr(component, "id", None) == component_id:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            found = _find(child, component_id)
            if found is not None:
                return found
    return None


@pytest.mark.parametrize(("status", "shown"), [
    ({"state": "live", "simulated": True, "source": "simulator"}, True),
    ({"state": "live", "simulated": True, "source": "simulator", "catching_up": True}, True),
    ({"state": "live", "simulated": False, "source": "ssi"}, False),
    ({"state": "live"}, False), (None, False),
])
def test_the_source_badge_names_a_simulated_market_only(status, shown) -> None:
    badge = source_badge(status)
    assert (badge is not None) == shown
    if shown:
        want = "Simulated market · catching up" if status.get("catching_up") else "Simulated market"
        assert badge.children == want


def test_the_detail_search_box_keeps_the_keyboard(dash_duo, scripted_market) -> None:
    """Details opens from the search box with the keyboard alone."""
    m = scripted_market
    _seed(m, {"FPT": 131_000})
    open_board(dash_duo, m)
    wait_cell(dash_duo, "FPT", "last", "131.00")
    box = dash_duo.find_element("#board-search")
    box.click()
    box.send_keys("FP")
    box.send_keys(Keys.ARROW_DOWN, Keys.ENTER)
    until(lambda: dash_duo.find_element("#board-search").get_attribute("value") == "FPT", timeout=10)
    dash_duo.find_element("#board-open-detail").click()
    dash_duo.wait_for_contains_text(".mantine-Drawer-title", "FPT", timeout=10)
    assert dash_duo.get_logs() == []


def _post_callback(client, app, output: str, inputs: list[dict], state: list[dict]):
    key = next(k for k in app.callback_map if output in k)
    outputs = [{"id": o.component_id, "property": o.component_property} for o in app.callback_map[key]["output"]]
    return client.post("/_dash-update-component", json={
        "output": key, "outputs": outputs, "inputs": inputs, "state": state,
        "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]})


@pytest.mark.parametrize(("selection", "state"), [
    ({"id": "vn30", "symbols": ["FPT"], "futures": True},
     {"v": "x", "known": [{"a": 1}, None, "FPT"], "list": "vn30", "strip": ["x"]}),
    ({"id": ["x"], "symbols": "FPT", "futures": "yes"}, "garbage"),
    (["not", "a", "dict"], None),
    ({"id": "vn30", "symbols": ["A" * 10] * 100_000, "futures": True},
     {"v": 10**30, "known": ["FPT"] * 100_000, "list": "vn30"}),
])
def test_a_screen_sending_back_hostile_state_gets_a_board_not_an_error(scripted_market, selection, state) -> None:
    m = scripted_market
    m.service.board.publish([{"symbol": "FPT", "kind": "stock", "last": 131_000, "ref": 130_000}])
    client = m.app.server.test_client()
    client.get("/")  # Dash registers its callbacks on the first request
    reply = _post_callback(client, m.app, "board-ack.data",
                           [{"id": "board-poll", "property": "data", "value": 3},
                            {"id": "board-symbols", "property": "data", "value": selection}],
                           [{"id": "board-client", "property": "data", "value": state}])
    assert reply.status_code == 200, reply.data[:300]
    answer = reply.get_json()["response"]
    assert answer["board-ack"]["data"] == 3
    if isinstance(selection, dict) and isinstance(selection.get("symbols"), list) and "FPT" in selection["symbols"]:
        assert [r["symbol"] for r in answer["board-grid"]["rowData"]] == ["FPT"]  # a full board, cleanly


@pytest.mark.parametrize("symbol", ["' OR 1=1 --", "FPT'; DROP TABLE market_trades; --", ["FPT"], {"a": 1}, "X" * 5000])
def test_the_detail_refuses_a_symbol_the_board_does_not_know(scripted_market, symbol) -> None:
    m = scripted_market
    client = m.app.server.test_client()
    client.get("/")
    reply = _post_callback(client, m.app, "board-detail-ack.data",
                           [{"id": "board-detail", "property": "data", "value": symbol},
                            {"id": "board-detail-poll", "property": "data", "value": 1}],
                           [{"id": "board-symbols", "property": "data", "value": {"id": "vn30", "symbols": ["FPT"]}}])
    assert reply.status_code == 200
    assert reply.get_json()["response"]["board-drawer"] == {"opened": False}
