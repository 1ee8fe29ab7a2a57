"""/market in a real browser with /board live in another tab of the same browser.

On the seeded simulator (accelerated clock, crossing the lunch break): the charts draw, keep
extending, leave the lunch break as a gap, hold what the server's view holds and follow the
theme. On a scripted feed (exact prices): a refused price rule says why, a valid one raises an
alert, and acknowledging acts on the clicked row while new alerts keep arriving.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from dash import no_update as dash_no_update
from dash.testing.wait import until
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from backend.config import load_settings
from backend.market.feed.simulated import SimulatorFeed
from backend.market.reference import LUNCH_END, LUNCH_START, vn_day
from backend.market.runtime import install_market_service
from backend.market.service import ServiceSettings
from backend.stores import EXTENSION_KEY as STORES_KEY
from backend.warehouse import Warehouse
from components.market_charts import GRAPHS, THEMES, TONE_NAMES
from tests.backend.market_ui.feeds import ScriptedFeed, index_message, status_message, trade_message
from tests.ui.board_support import set_viewport

# A folder to save what the layout tests see (DESKBOARD_TEST_SCREENS=/some/dir), for a look by eye.
SCREENS = os.environ.get("DESKBOARD_TEST_SCREENS")


def _app(tmp_path: Path, warehouse_url: str, database: str, feed_factory):
    from app import create_app

    settings = load_settings(data_dir=tmp_path / "app-data", warehouse_dsn=warehouse_url,
                             warehouse_database=database, demo_rows=0)
    app = create_app(settings, market=False)  # the test starts the service with its own feed
    service = install_market_service(app.server, app.server.extensions[STORES_KEY], feed_factory=feed_factory,
                                     settings=ServiceSettings(stale_seconds=5.0, tick_seconds=0.2), start=False)
    return app, service


@pytest.fixture
def simulated_app(tmp_path: Path, warehouse_url: str, fresh_warehouse: Warehouse):
    """The simulator, seed 7, 60 simulated seconds per wall second, from 11:24 VN: the morning so far
    is replayed at once, then the lunch break comes after a few seconds."""
    app, service = _app(tmp_path, warehouse_url, fresh_warehouse.database,
                        lambda: SimulatorFeed(rate=400, speed=60, seed=7, start_time="11:24"))
    yield app, service
    service.stop()


@pytest.fixture
def scripted_app(tmp_path: Path, warehouse_url: str, fresh_warehouse: Warehouse):
    feed = ScriptedFeed()
    app, service = _app(tmp_path, warehouse_url, fresh_warehouse.database, lambda: feed)
    yield app, service, feed
    service.stop()


def _start(dash_duo, app, service) -> None:
    """Serve the app, then start the market threads (the test server's retries would stop them)."""
    dash_duo.start_server(app)
    service.start(service.pipeline)


def _with_board_in_another_tab(dash_duo) -> None:
    """Open /board, live, in a second tab of the same browser, and come back to the first."""
    driver = dash_duo.driver
    first = driver.current_window_handle
    driver.switch_to.new_window("tab")
    driver.get(dash_duo.server_url + "/board")
    until(lambda: driver.find_elements(By.CSS_SELECTOR, "#board-grid .ag-row"), timeout=30)
    driver.switch_to.window(first)


def _text(dash_duo, css: str) -> str:
    try:
        return dash_duo.find_element(css).text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def _graph(dash_duo, graph: str, script: str):
    return dash_duo.driver.execute_script(
        f"const g = document.querySelector('#{graph} .js-plotly-plot'); if (!g || !g.data) return null; {script}")


def _points(dash_duo, graph: str = "market-vn30") -> int:
    return _graph(dash_duo, graph, "return (g.data[0].x || []).length;") or 0


def test_the_charts_draw_keep_extending_and_follow_the_theme_with_the_board_open(dash_duo, simulated_app) -> None:
    app, service = simulated_app
    _start(dash_duo, app, service)
    until(lambda: len(service.view.series["vn30"]) > 30, timeout=60)  # the morning so far is in place
    dash_duo.wait_for_page(dash_duo.server_url + "/market")
    _with_board_in_another_tab(dash_duo)

    # The first render already carries today's data: every chart has points, nothing says "waiting".
    until(lambda: all(_points(dash_duo, g) > 0 for g in GRAPHS), timeout=30)
    assert "waiting" not in dash_duo.find_element(".market-page").text
    # Prices are not the live exchange (once the morning so far is replayed the badge stops saying so).
    until(lambda: _text(dash_duo, "#market-source") == "Simulated market", timeout=30)
    # Navigating to the page from the board (in this tab): time until the numbers are drawn.
    dash_duo.find_element("a.shell-nav-link[href='/board']").click()
    until(lambda: dash_duo.driver.find_elements(By.CSS_SELECTOR, "#board-grid .ag-row"), timeout=30)
    started = time.monotonic()
    dash_duo.find_element("a.shell-nav-link[href='/market']").click()
    until(lambda: _points(dash_duo) > 0, timeout=30, poll=0.02)
    print(f"\n/market first data drawn {time.monotonic() - started:.2f} s after navigating from /board")

    # How long after the server built a view its points are on the screen (each figure carries its
    # view's version, the server's clock in ms, as datarevision): printed, not asserted.
    dash_duo.driver.execute_script(
        "window.__lag = []; const g = document.querySelector('#market-vn30 .js-plotly-plot');"
        "g.on('plotly_afterplot', () => { const v = g.layout.datarevision;"
        " if (v > 1e12 && v !== g.__last) { g.__last = v; window.__lag.push(Date.now() - v); } });")
    # The charts keep extending as the simulated day moves on, across the lunch break.
    for graph in ("market-vn30", "market-foreign-speed", "market-basis"):
        before = _points(dash_duo, graph)
        until(lambda graph=graph, before=before: _points(dash_duo, graph) > before + 2, timeout=30)
    afternoon = (LUNCH_END + 5 * 60) * 1000
    until(lambda: (_graph(dash_duo, "market-vn30", "return g.data[0].x[g.data[0].x.length - 1];") or 0)
          % 86_400_000 >= afternoon, timeout=60)
    x, y = _graph(dash_duo, "market-vn30", "return [g.data[0].x, g.data[0].y];")
    gaps = [i for i, v in enumerate(y) if v is None]
    assert len(gaps) == 1  # the lunch break, and nothing else, is a gap in the line
    morning, after = x[gaps[0] - 1] % 86_400_000, x[gaps[0] + 1] % 86_400_000
    assert morning < LUNCH_START * 1000 and after >= LUNCH_END * 1000
    assert _graph(dash_duo, "market-vn30", "return g.layout.xaxis.rangebreaks.length;") == 1
    # What is drawn is what the server's view holds (every minute but the last is final).
    drawn = _graph(dash_duo, "market-vn30", "return [g.data[0].y, g.data[1].y];")
    held = service.view.series["vn30"]
    n = len(drawn[0]) - 1
    assert drawn[0][:n] == list(held.cols["value"][:n]) and drawn[1][:n] == pytest.approx(list(held.cols["flow"][:n]))
    assert _graph(dash_duo, "market-vn30", "return g.data[1].type;") == "bar"  # traded value under the index
    lag = sorted(dash_duo.driver.execute_script("return window.__lag"))
    if len(lag) > 1:
        print(f"VN30 points drawn after the server had them: p50 {lag[len(lag) // 2]} ms, "
              f"p95 {lag[int(len(lag) * 0.95)]} ms over {len(lag)} updates")

    # Dark mode reaches the charts without a reload, titles included; and back again.
    def themed(name: str) -> bool:
        colours = THEMES[name]
        return all(_graph(dash_duo, g, "const L = g.layout; return [L.meta, L.font.color, L.xaxis.tickfont.color, "
                                       "L.yaxis.gridcolor, L.annotations[0].font.color];")
                   == [name, colours["font"], colours["font"], colours["grid"], colours["muted"]] for g in GRAPHS) and (
            # VN tones follow the theme too: buying and selling, the index's change, the basis's sign.
            _graph(dash_duo, "market-foreign-speed", "return [g.data[0].line.color, g.data[1].line.color];")
            == [colours["up"], colours["down"]]
            and _graph(dash_duo, "market-vn30", "return g.data[0].line.color;") in {colours[t] for t in TONE_NAMES}
            and set(_graph(dash_duo, "market-basis", "return g.data[2].marker.color;") or [colours["up"]])
            <= {colours["up"], colours["down"]})

    assert themed("light")
    dash_duo.find_element("#shell-theme-toggle").click()
    until(lambda: themed("dark"), timeout=10)
    before = _points(dash_duo)
    until(lambda: _points(dash_duo) > before, timeout=30)  # still extending in the dark
    assert themed("dark")
    dash_duo.find_element("#shell-theme-toggle").click()
    until(lambda: themed("light"), timeout=10)
    # A kiosk is always dark, whatever the theme chosen in this browser.
    dash_duo.driver.get(dash_duo.server_url + "/market?kiosk=1")
    until(lambda: _points(dash_duo) > 0 and themed("dark"), timeout=30)
    until(lambda: dash_duo.driver.find_elements(By.CSS_SELECTOR, "#market-alerts .market-alert"), timeout=30)
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, "#market-alerts button, #market-rule-add")
    assert dash_duo.get_logs() == []


FIT = """
const doc = document.documentElement;
const box = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
const alerts = document.getElementById('market-alerts');
return {
  page: [doc.scrollWidth, doc.scrollHeight, window.innerWidth, window.innerHeight],
  cards: Array.from(document.querySelectorAll('.market-card')).map(box),
  plots: Array.from(document.querySelectorAll('.market-graph .main-svg:first-of-type')).map(
    (e) => e.getBoundingClientRect().height),
  alerts: [getComputedStyle(alerts).overflowY, alerts.scrollHeight, alerts.clientHeight],
};
"""


@pytest.mark.parametrize(("query", "width", "height"), [
    ("?kiosk=1", 1920, 1080), ("?kiosk=1", 1366, 768), ("", 1366, 768)])
def test_the_page_fits_the_screen(dash_duo, simulated_app, query: str, width: int, height: int) -> None:
    """The kiosk wall fits the screen with nothing to scroll (its alert list scrolls in its panel);
    the page itself shows VN30 and VNINDEX whole on a 1366×768 screen."""
    app, service = simulated_app
    _start(dash_duo, app, service)
    until(lambda: len(service.view.series["vn30"]) > 30, timeout=60)
    set_viewport(dash_duo.driver, width, height)
    dash_duo.wait_for_page(dash_duo.server_url + "/market" + query)
    _with_board_in_another_tab(dash_duo)
    until(lambda: all(_points(dash_duo, g) > 0 for g in GRAPHS), timeout=30)
    # The charts resize themselves after the first draw: measure once two readings agree.
    reading: dict[str, object] = {}

    def settled() -> bool:
        now = dash_duo.driver.execute_script(FIT)
        same, reading["m"] = now == reading.get("m"), now
        return same

    until(settled, timeout=15, poll=0.3)
    m = reading["m"]
    if SCREENS:
        dash_duo.driver.save_screenshot(str(Path(SCREENS) / f"market{query.replace('?', '-').replace('=', '')}-{width}.png"))
    page_width, page_height, view_width, view_height = m["page"]
    assert (view_width, view_height) == (width, height)
    assert page_width <= width, m  # nothing to scroll sideways
    assert len(m["cards"]) == 6 and len(m["plots"]) == len(GRAPHS), m
    whole = m["cards"] if query else m["cards"][:2]  # the wall: everything; the page: the two indices
    assert all(left >= 0 and right <= width and bottom <= height for left, _top, right, bottom in whole), m
    assert all(h >= (120 if query else 190) for h in m["plots"]), m  # shrunk, still charts
    if query:
        assert page_height <= height, m
        assert m["alerts"][0] in ("auto", "scroll"), m  # a long list scrolls inside its panel
    assert dash_duo.get_logs() == []


LOW_CONTRAST = """
function rgba(s) { const m = (s.match(/[\\d.]+/g) || []).map(Number); return m.length > 3 ? m : m.concat([1]); }
function over(top, under) {  // top composited over an opaque colour
  return [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3])).concat([1]);
}
function ground(el) {
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const c = rgba(getComputedStyle(e).backgroundColor);
    if (c[3] > 0) layers.push(c);
    if (c[3] > 0.99) break;
  }
  return layers.reverse().reduce((under, top) => over(top, under), [255, 255, 255, 1]);
}
function lum(c) {
  const lin = c.slice(0, 3).map((v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
  return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
}
const out = [];
document.querySelectorAll('.market-page *').forEach((el) => {
  if (el.closest('svg') || !el.getClientRects().length) return;
  const own = Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own) return;
  const style = getComputedStyle(el);
  if (style.visibility === 'hidden' || parseFloat(style.opacity) === 0) return;
  const bg = ground(el);
  const fg = over(rgba(style.color), bg);
  const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
  const ratio = (hi + 0.05) / (lo + 0.05);
  if (ratio < 4.5) out.push([el.textContent.trim().slice(0, 40), el.className.toString().slice(0, 60), style.color,
                             ratio.toFixed(2)]);
});
return out;
"""


def test_every_text_on_the_light_page_meets_wcag_contrast(dash_duo, simulated_app) -> None:
    app, service = simulated_app
    _start(dash_duo, app, service)
    until(lambda: len(service.view.series["vn30"]) > 30, timeout=60)
    dash_duo.wait_for_page(dash_duo.server_url + "/market")
    _with_board_in_another_tab(dash_duo)
    until(lambda: all(_points(dash_duo, g) > 0 for g in GRAPHS), timeout=30)
    until(lambda: dash_duo.driver.find_elements(By.CSS_SELECTOR, "#market-alerts .market-alert"), timeout=30)
    assert dash_duo.driver.execute_script(
        "return document.documentElement.getAttribute('data-mantine-color-scheme')") == "light"
    low = dash_duo.driver.execute_script(LOW_CONTRAST)
    assert low == [], "\n".join(map(str, low))
    assert dash_duo.get_logs() == []


FPT = (130_000, 139_100, 120_900)


def _add_rule(dash_duo, symbol: str, price: str, *, first: bool = False) -> None:
    if first:
        field = dash_duo.wait_for_element("#market-rule-symbol", timeout=15)
        field.click()
        field.send_keys(symbol)
        dash_duo.wait_for_element(f"[role='option'][value='{symbol}']", timeout=5).click()
    box = dash_duo.find_element("#market-rule-price")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    box.send_keys(price)
    box.send_keys(Keys.TAB)
    dash_duo.find_element("#market-rule-add").click()


def test_a_refused_rule_says_why_and_a_valid_one_alerts_within_five_seconds(dash_duo, scripted_app) -> None:
    app, service, feed = scripted_app
    feed.send(status_message("FPT", *FPT), trade_message("FPT", *FPT, 130_500, 100, 100))
    _start(dash_duo, app, service)
    until(lambda: service.board.row("FPT") is not None, timeout=10)
    dash_duo.wait_for_page(dash_duo.server_url + "/market")
    _with_board_in_another_tab(dash_duo)

    _add_rule(dash_duo, "FPT", "150", first=True)
    dash_duo.wait_for_contains_text(
        "#market-rule-message", "150.00 is above FPT's ceiling: today's band is 120.90–139.10; "
        "the nearest valid price is 139.10", timeout=10)
    _add_rule(dash_duo, "FPT", "131.25")
    dash_duo.wait_for_contains_text(
        "#market-rule-message", "131.25 is not on FPT's price grid (tick 100 VND at this price); "
        "the nearest valid prices are 131.20 or 131.30", timeout=10)
    assert service.rules() == []
    _add_rule(dash_duo, "FPT", "131")
    dash_duo.wait_for_contains_text("#market-rule-message", "Alert when FPT trades above 131.00", timeout=10)
    assert [(r.symbol, r.op, r.price) for r in service.rules()] == [("FPT", "above", 131_000.0)]
    assert "FPT above 131.00" in _text(dash_duo, "#market-rules")

    sent = time.monotonic()
    feed.send(trade_message("FPT", *FPT, 131_500, 200, 300), index_message("VN30", 1300.0, 1300.0))
    until(lambda: "FPT" in _text(dash_duo, "#market-alerts .market-alert"), timeout=5)
    assert time.monotonic() - sent < 5
    dash_duo.find_element("#market-alerts .market-alert button").click()
    dash_duo.wait_for_contains_text("#market-alerts .market-alert", "acked by", timeout=5)
    assert service.alerts(unacked=True) == []
    dash_duo.find_element("#market-rules button").click()
    until(lambda: service.rules() == [], timeout=5)
    assert dash_duo.get_logs() == []


def test_the_badge_says_while_the_simulated_market_catches_up_on_both_pages(dash_duo, scripted_app) -> None:
    app, service, feed = scripted_app
    feed._set_state(feed.status.state, catching_up=True)  # replaying the session so far, as the simulator does
    feed.send(status_message("FPT", *FPT), trade_message("FPT", *FPT, 130_500, 100, 100))
    _start(dash_duo, app, service)
    until(lambda: service.board.row("FPT") is not None, timeout=10)
    dash_duo.wait_for_page(dash_duo.server_url + "/market")
    _with_board_in_another_tab(dash_duo)
    driver = dash_duo.driver
    market_tab, board_tab = driver.window_handles[0], driver.window_handles[-1]
    dash_duo.wait_for_text_to_equal("#market-source", "Simulated market · catching up", timeout=10)
    driver.switch_to.window(board_tab)
    dash_duo.wait_for_text_to_equal("#board-source", "Simulated market · catching up", timeout=10)
    feed._set_state(feed.status.state, catching_up=False)  # live from here on
    dash_duo.wait_for_text_to_equal("#board-source", "Simulated market", timeout=10)
    driver.switch_to.window(market_tab)
    dash_duo.wait_for_text_to_equal("#market-source", "Simulated market", timeout=10)
    assert dash_duo.get_logs() == []


SYMBOLS = [f"T{i:02d}" for i in range(24)]
REF, CEIL, FLOOR = 20_000, 21_400, 18_600


def test_acknowledging_acts_on_the_clicked_alert_while_new_alerts_arrive(dash_duo, scripted_app) -> None:
    app, service, feed = scripted_app
    feed.send(status_message("FPT", *FPT), trade_message("FPT", *FPT, 130_500, 100, 100))  # for the board's VN30
    for s in SYMBOLS:
        feed.send(status_message(s, REF, CEIL, FLOOR), trade_message(s, REF, CEIL, FLOOR, REF, 100, 100))
    _start(dash_duo, app, service)
    until(lambda: all(service.board.row(s) for s in SYMBOLS), timeout=10)
    for s in SYMBOLS:
        service.add_rule(s, "above", REF + 100)

    def cross(symbol: str) -> None:
        feed.send(trade_message(symbol, REF, CEIL, FLOOR, REF + 100, 100, 200))

    for s in SYMBOLS[:5]:
        cross(s)
    dash_duo.wait_for_page(dash_duo.server_url + "/market")
    _with_board_in_another_tab(dash_duo)
    until(lambda: len(dash_duo.driver.find_elements(By.CSS_SELECTOR, "#market-alerts .market-alert")) >= 5,
          timeout=10)
    # Record which row each click really lands on, as the page sees it.
    dash_duo.driver.execute_script(
        "window.__clicked = []; document.addEventListener('click', e => { const r = e.target.closest("
        "'[data-alert-id]'); if (r) window.__clicked.push(r.dataset.alertId); }, true);")

    stop = threading.Event()

    def keep_alerting() -> None:  # a new alert row on top every 150 ms: the list keeps shifting
        for s in SYMBOLS[5:]:
            if stop.wait(0.15):
                return
            cross(s)

    sender = threading.Thread(target=keep_alerting, daemon=True)
    sender.start()
    clicked: list[str] = []
    try:
        for _ in range(3):
            def click_third_open_row() -> bool:
                try:
                    rows = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#market-alerts .market-alert")
                    open_rows = [r for r in rows if r.find_elements(By.CSS_SELECTOR, "button:not([disabled])")]
                    open_rows[2].find_element(By.CSS_SELECTOR, "button").click()
                    return True
                except (IndexError, StaleElementReferenceException, NoSuchElementException):
                    return False

            before = len(dash_duo.driver.execute_script("return window.__clicked"))
            until(click_third_open_row, timeout=10)
            until(lambda before=before: len(dash_duo.driver.execute_script("return window.__clicked")) > before,
                  timeout=5)
            clicked.append(dash_duo.driver.execute_script("return window.__clicked")[-1])
            until(lambda: {a["id"] for a in service.alerts() if a["acked_at"]} == set(clicked), timeout=5)
    finally:
        stop.set()
        sender.join(timeout=10)
    # Exactly the rows clicked are acknowledged — in the service, on the screen and in the store.
    assert len(set(clicked)) == 3
    acked = {a["id"]: a["acked_by"] for a in service.alerts() if a["acked_at"]}
    assert acked == dict.fromkeys(clicked, "market page")
    until(lambda: set(dash_duo.driver.execute_script(
        "return [...document.querySelectorAll('#market-alerts .market-alert-acked')].map(r => r.dataset.alertId);"))
        == set(clicked), timeout=5)
    day = service.alerts()[0]["day"]
    stored = {a["id"]: a["acked_by"] for a in service.store.history("alerts", date.fromordinal(day))
              if a["acked_by"]}
    assert stored == acked and vn_day(time.time()) == day
    assert dash_duo.get_logs() == []


def test_the_page_answers_malformed_requests_with_everything_or_nothing(scripted_app) -> None:
    """What a screen sends is not trusted: a request that is not one gets nothing, a cursor that is
    not one gets the whole view, and an acknowledgement needs an alert id."""
    import sys

    app, service, _feed = scripted_app
    page = sys.modules["pages.market"]
    with app.server.test_request_context("/market"):
        assert all(x is dash_no_update for x in page.answer(None).values())
        assert all(x is dash_no_update for x in page.answer(["seq", 1]).values())
        for request in ({"seq": "1; drop", "cursor": "garbage"}, {"seq": True, "cursor": {"run": 5, "v": -1, "n": []}},
                        {"seq": 2**80, "cursor": {"run": "x" * 10_000, "v": 10**30, "n": {"vn30": 10**9}}}, {}):
            answer = page.answer(request)["answer"]
            assert answer["full"] is True and answer["v"] == service.view.version
            assert answer["ack"] is None and answer["status"] == "stopped"
        for bad in (None, {}, {"id": 5}, {"id": ["a"]}, "a"):
            assert page.acknowledge(bad) is dash_no_update
        assert page.acknowledge({"id": "x" * 10_000, "upto": {"a": 1}})["acked"] is False


def test_without_a_market_service_the_page_says_so(dash_duo, tmp_path: Path, warehouse_url: str,
                                                   fresh_warehouse: Warehouse) -> None:
    from app import create_app

    app = create_app(load_settings(data_dir=tmp_path / "app-data", warehouse_dsn=warehouse_url,
                                   warehouse_database=fresh_warehouse.database, demo_rows=0), market=False)
    dash_duo.start_server(app)
    dash_duo.wait_for_page(dash_duo.server_url + "/market")
    dash_duo.wait_for_contains_text("#market-banner", "Live market service is not running", timeout=15)
    dash_duo.find_element("#shell-theme-toggle").click()  # re-colouring empty charts is no error either
    until(lambda: _graph(dash_duo, "market-vn30", "return g.layout.meta;") == "dark", timeout=10)
    assert dash_duo.get_logs() == []
