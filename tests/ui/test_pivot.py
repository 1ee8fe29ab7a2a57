"""The pivot explorer as an analyst uses it, in headless Chromium.

Numbers on screen are checked against DuckDB over the generator's Parquet files,
not against the app's own answers.
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pytest
from dash.testing.wait import until
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.ui.pivot_support import HELD, api, cell_texts, latest, number, open_pivot, rows, total_text, view_state

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
EMPTY_TEXT = "No trades match this view"
# Records whether the grid ever says "no trades", from before the page's first script runs.
WATCH_EMPTY = """
window.__emptySeen = false;
new MutationObserver(function () {
  const grid = document.getElementById('pivot-grid');
  if (grid && grid.innerText.indexOf('EMPTY') >= 0) { window.__emptySeen = true; }
}).observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
""".replace("EMPTY", EMPTY_TEXT)


@pytest.fixture
def pivot_app(deskboard_app):
    return deskboard_app


@pytest.fixture(scope="module")
def duck(trades_folder: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW trades AS SELECT * FROM read_parquet('{trades_folder}/trades_1d/*.parquet')")
    return con


def _spy_on_answers(monkeypatch) -> list[str]:
    """Names of the page functions that ask the pivot service, in call order."""
    page = sys.modules["pages.pivot"]
    real, calls = page.pivot_answer, []

    def spy(body: dict) -> dict:
        calls.append(inspect.stack()[1].function)
        return real(body)

    monkeypatch.setattr(page, "pivot_answer", spy)
    return calls


# -- first rows, loading, empty ---------------------------------------------------
def test_first_render_carries_the_rows_and_the_total(dash_duo, pivot_app, duck, monkeypatch) -> None:
    calls = _spy_on_answers(monkeypatch)
    open_pivot(dash_duo, pivot_app, "?rows=desk&m=pnl,notional")
    day = latest(duck)
    want = dict(duck.execute(f"SELECT desk, sum(pnl) FROM trades WHERE trade_date = '{day}' AND {HELD} "
                             "GROUP BY desk").fetchall())
    labels = [r["label"] for r in rows(dash_duo)]
    assert labels == sorted(want, key=lambda d: -want[d])  # sorted by P&L, descending
    assert [number(t) for t in cell_texts(dash_duo, "pnl")] == pytest.approx([round(want[d]) for d in labels], abs=1)
    assert number(total_text(dash_duo, "pnl")) == pytest.approx(sum(want.values()), abs=1)
    # The rows came with the page: the query callback never ran.
    dash_duo.wait_for_contains_text("#pivot-freshness", "rows from", timeout=10)
    assert calls == ["_first_answer"]
    assert "date=" in dash_duo.driver.current_url
    assert dash_duo.get_logs() == []


def test_the_empty_text_shows_only_for_an_empty_answer(dash_duo, pivot_app) -> None:
    dash_duo.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_EMPTY})
    open_pivot(dash_duo, pivot_app, "?rows=desk,asset_class&m=pnl")
    before = rows(dash_duo)
    dash_duo.find_element("#pivot-expand-all").click()
    until(lambda: len(rows(dash_duo)) > len(before), timeout=30)
    # A new hierarchy: the old rows stay under the loading veil until the new answer is drawn.
    dash_duo.find_element("[aria-label='Remove Desk']").click()
    until(lambda: "rows=asset_class&" in dash_duo.driver.current_url, timeout=30)
    until(lambda: rows(dash_duo) and json.loads(rows(dash_duo)[0]["id"]) and
          all(len(json.loads(r["id"])) == 1 for r in rows(dash_duo)), timeout=30)
    dash_duo.driver.find_element(By.XPATH, "//label[normalize-space()='Look-through']").click()
    until(lambda: "Constituent" in {r["label"] for r in rows(dash_duo)} or
          "exposure=look_through" in dash_duo.driver.current_url, timeout=30)
    assert dash_duo.driver.execute_script("return window.__emptySeen") is False
    # The same watcher does see the text when nothing matches: the check above can fail.
    dash_duo.driver.get(dash_duo.server_url + "/pivot?rows=desk&f.desk=No%20such%20desk")
    dash_duo.wait_for_contains_text("#pivot-grid", EMPTY_TEXT, timeout=60)
    assert dash_duo.driver.execute_script("return window.__emptySeen") is True
    assert dash_duo.get_logs() == []


# -- the tree, sorting -------------------------------------------------------------
def test_expand_collapse_and_expand_all_live_in_the_url(dash_duo, pivot_app) -> None:
    open_pivot(dash_duo, pivot_app)
    top = rows(dash_duo)
    assert all(len(json.loads(r["id"])) == 1 for r in top)
    dash_duo.driver.find_element(By.CSS_SELECTOR, "#pivot-grid .pivot-chevron").click()
    until(lambda: len(rows(dash_duo)) > len(top), timeout=10)
    assert {len(json.loads(r["id"])) for r in rows(dash_duo)} == {1, 2}
    assert "open=" in dash_duo.driver.current_url
    dash_duo.find_element("#pivot-collapse-all").click()
    until(lambda: len(rows(dash_duo)) == len(top), timeout=10)
    dash_duo.find_element("#pivot-expand-all").click()
    until(lambda: "depth=2" in dash_duo.driver.current_url, timeout=10)
    until(lambda: any(len(json.loads(r["id"])) == 3 for r in rows(dash_duo)), timeout=10)
    dash_duo.driver.back()
    until(lambda: "depth=2" not in dash_duo.driver.current_url, timeout=10)
    assert dash_duo.get_logs() == []


def test_sort_by_pnl_asks_the_engine_and_keeps_the_hierarchy(dash_duo, pivot_app) -> None:
    open_pivot(dash_duo, pivot_app, "?rows=desk&m=pnl,notional&sort=-notional")
    dash_duo.find_element("#pivot-grid .ag-header-cell[col-id='pnl'] .ag-header-cell-label").click()
    until(lambda: "sort=-pnl" in dash_duo.driver.current_url, timeout=30)
    expected = api(pivot_app, view_state(dash_duo).to_request())
    want = [r["desk"] for r in expected["rows"]]
    until(lambda: [r["label"] for r in rows(dash_duo)] == want, timeout=30)
    pnl = [r["pnl"] for r in expected["rows"]]
    assert pnl == sorted(pnl, reverse=True)
    assert dash_duo.get_logs() == []


def test_sorting_by_a_split_column_sorts_by_that_column_and_keeps_it_in_the_url(dash_duo, pivot_app, duck) -> None:
    open_pivot(dash_duo, pivot_app, "?rows=desk&cols=exposure_type&m=pnl")
    headers = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#pivot-grid .ag-header-group-cell'))"
        ".map(e => [e.getAttribute('col-id') || '', e.innerText.trim()])")
    assert any(text == "Total" for _, text in headers)
    header = dash_duo.find_element("#pivot-grid .ag-header-cell[col-id='pnl__c1'] .ag-header-cell-label")
    header.click()
    until(lambda: "sortcol=" in dash_duo.driver.current_url, timeout=30)
    state = view_state(dash_duo)
    assert state.sort_field == "pnl" and state.sort_desc and len(state.sort_column) == 1
    split = state.sort_column[0]
    by_desk = dict(duck.execute(
        f"SELECT desk, sum(pnl) FROM trades WHERE trade_date = '{latest(duck)}' AND {HELD} "
        f"AND exposure_type = ? GROUP BY desk", [split]).fetchall())
    want = sorted(by_desk, key=lambda d: -by_desk[d])
    until(lambda: [r["label"] for r in rows(dash_duo)][: len(want)] == want, timeout=30)
    # Never the "link not understood" notice for a click in the page.
    assert dash_duo.find_element("#pivot-notices").text == ""
    sorted_cols = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#pivot-grid .ag-header-cell[aria-sort]'))"
        ".filter(e => e.getAttribute('aria-sort') !== 'none').map(e => e.getAttribute('col-id'))")
    assert sorted_cols == ["pnl__c1"]
    # The link restores the same order.
    url = dash_duo.driver.current_url
    dash_duo.driver.get("about:blank")
    dash_duo.driver.get(url)
    until(lambda: [r["label"] for r in rows(dash_duo)][: len(want)] == want, timeout=60)
    assert dash_duo.get_logs() == []


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("?rows=desk&cols=exposure_type&m=pnl&sort=-pnl&sortcol=ETF&sortcol=Equity", "has 2 value(s)"),
        ("?rows=desk&m=pnl&sort=-pnl__c0", "Sort by 'pnl__c0' is not possible"),
        ("?rows=desk&cols=exposure_type&m=pnl&sort=desk&sortcol=ETF", "needs a metric"),
        ("?rows=desk&cols=exposure_type&m=pnl&sort=-pnl&sortcol=%01%02", "not a valid value"),
        ("?rows=desk&m=pnl&stocks=median", "Stocks 'median' is unknown"),
    ],
)
def test_bad_sort_and_stock_values_in_a_link_are_named_and_fall_back(dash_duo, pivot_app, query, needle) -> None:
    open_pivot(dash_duo, pivot_app, query)
    dash_duo.wait_for_contains_text("#pivot-notices", needle, timeout=30)
    state = view_state(dash_duo)
    assert state.sort_column == () and state.stocks == "last"
    assert dash_duo.get_logs() == []


def test_bad_url_parameters_load_a_default_view_with_a_notice(dash_duo, pivot_app) -> None:
    query = "?rows=desk,not_a_dim&date=2024-13-99&sort=%27%3B%20DROP%20TABLE%20x&f.evil%3B--=1"
    open_pivot(dash_duo, pivot_app, query)
    dash_duo.wait_for_contains_text("#pivot-notices", "Unknown dimension 'not_a_dim'", timeout=30)
    text = dash_duo.find_element("#pivot-notices").text
    assert "is not a date" in text and "unknown dimension" in text
    assert view_state(dash_duo).rows == ("desk",)
    assert dash_duo.get_logs() == []


def test_look_through_changes_totals_and_double_counting_is_refused(dash_duo, pivot_app) -> None:
    open_pivot(dash_duo, pivot_app, "?rows=exposure_type&m=pnl,gross_exposure")
    assert {r["label"] for r in rows(dash_duo)} <= {"Direct", "ETF", "ETC"}
    dash_duo.driver.find_element(By.XPATH, "//label[normalize-space()='Look-through']").click()
    until(lambda: "exposure=look_through" in dash_duo.driver.current_url, timeout=30)
    until(lambda: "Constituent" in {r["label"] for r in rows(dash_duo)}, timeout=30)
    assert not {"ETF", "ETC"} & {r["label"] for r in rows(dash_duo)}
    held = api(pivot_app, {**view_state(dash_duo).to_request(), "exposure": "as_held"})
    looked = api(pivot_app, view_state(dash_duo).to_request())
    # Look-through re-labels fund money, it does not create or lose any P&L.
    assert looked["totals"]["pnl"] == pytest.approx(held["totals"]["pnl"], rel=1e-9, abs=1e-6)
    url = dash_duo.driver.current_url
    dash_duo.driver.find_element(By.XPATH, "//label[normalize-space()='ETF']").click()
    dash_duo.wait_for_contains_text("#pivot-types-refused", "count the same funds twice", timeout=30)
    assert dash_duo.driver.current_url == url
    assert dash_duo.get_logs() == []


# -- time: stocks over a range ----------------------------------------------------
def test_a_range_shows_stock_columns_as_of_the_last_date_with_data(dash_duo, pivot_app, duck) -> None:
    last = latest(duck)
    start = str(duck.execute("SELECT min(trade_date) FROM trades WHERE trade_date >= DATE '2024-02-01'").fetchone()[0])
    # The range runs past the data: stocks are taken on the last day that has trades.
    open_pivot(dash_duo, pivot_app, f"?rows=desk&m=pnl,gross_exposure&date={start}..2024-03-31")
    header = dash_duo.find_element("#pivot-grid .ag-header-cell[col-id='gross_exposure']").text
    assert f"as of {last}" in header
    assert "as of" not in dash_duo.find_element("#pivot-grid .ag-header-cell[col-id='pnl']").text
    dash_duo.wait_for_contains_text("#pivot-freshness", f"Positions as of {last}", timeout=10)
    gross = dict(duck.execute(f"SELECT desk, sum(abs(notional)) FROM trades WHERE trade_date = '{last}' AND {HELD} "
                              "GROUP BY desk").fetchall())
    pnl = dict(duck.execute(f"SELECT desk, sum(pnl) FROM trades WHERE trade_date BETWEEN '{start}' AND '{last}' "
                            f"AND {HELD} GROUP BY desk").fetchall())
    labels = [r["label"] for r in rows(dash_duo)]
    assert [number(t) for t in cell_texts(dash_duo, "gross_exposure")] == pytest.approx(
        [round(gross[d]) for d in labels], abs=1)
    assert [number(t) for t in cell_texts(dash_duo, "pnl")] == pytest.approx([round(pnl[d]) for d in labels], abs=1)
    assert number(total_text(dash_duo, "gross_exposure")) == pytest.approx(sum(gross.values()), abs=1)

    # Average instead: a URL-backed control; the headers lose "as of", the freshness line says so.
    dash_duo.driver.find_element(By.XPATH, "//label[normalize-space()='Average']").click()
    until(lambda: "stocks=average" in dash_duo.driver.current_url, timeout=30)
    days = duck.execute(f"SELECT count(DISTINCT trade_date) FROM trades WHERE trade_date BETWEEN '{start}' "
                        f"AND '2024-03-31' AND {HELD}").fetchone()[0]
    dash_duo.wait_for_contains_text("#pivot-freshness", f"averaged over {days:,} dates", timeout=30)
    until(lambda: "as of" not in dash_duo.find_element(
        "#pivot-grid .ag-header-cell[col-id='gross_exposure']").text, timeout=10)
    assert dash_duo.get_logs() == []


def test_picking_a_day_in_the_date_picker_shows_that_day(dash_duo, pivot_app, duck) -> None:
    from datetime import date

    last = date.fromisoformat(latest(duck))
    day = str(duck.execute("SELECT max(trade_date) FROM trades WHERE trade_date < ? AND month(trade_date) = ?",
                           [last, last.month]).fetchone()[0])
    open_pivot(dash_duo, pivot_app, "?rows=desk&m=pnl")
    label = f"{date.fromisoformat(day).day} {date.fromisoformat(day):%B %Y}"
    dash_duo.find_element("#pivot-dates").click()
    for _ in range(2):  # a single day in a range picker: the same day twice
        dash_duo.find_element(f"button[aria-label='{label}']").click()
    until(lambda: f"date={day}&" in dash_duo.driver.current_url, timeout=30)
    want = dict(duck.execute(f"SELECT desk, sum(pnl) FROM trades WHERE trade_date = '{day}' AND {HELD} "
                             "GROUP BY desk").fetchall())
    ordered = sorted(want, key=lambda d: -want[d])
    until(lambda: [r["label"] for r in rows(dash_duo)] == ordered, timeout=30)
    assert [number(t) for t in cell_texts(dash_duo, "pnl")] == pytest.approx([round(want[d]) for d in ordered], abs=1)
    assert dash_duo.get_logs() == []


# -- help and keys -----------------------------------------------------------------
def test_help_opens_from_the_button_and_the_key_and_shortcuts_work(dash_duo, pivot_app) -> None:
    open_pivot(dash_duo, pivot_app, "?rows=desk,asset_class&m=pnl")
    dash_duo.find_element("#pivot-help").click()
    dash_duo.wait_for_contains_text(".pivot-help-table", "Expand all", timeout=10)
    keys = [k.text for k in dash_duo.driver.find_elements(By.CSS_SELECTOR, ".pivot-help-table kbd")]
    assert keys == ["/", "e", "c", "t", "x", "?"]
    ActionChains(dash_duo.driver).send_keys(Keys.ESCAPE).perform()
    until(lambda: not dash_duo.driver.find_elements(By.CSS_SELECTOR, ".pivot-help-table"), timeout=10)
    body = dash_duo.driver.find_element(By.TAG_NAME, "body")
    body.send_keys("?")
    dash_duo.wait_for_contains_text(".pivot-help-table", "Collapse all", timeout=10)
    ActionChains(dash_duo.driver).send_keys(Keys.ESCAPE).perform()
    until(lambda: not dash_duo.driver.find_elements(By.CSS_SELECTOR, ".pivot-help-table"), timeout=10)
    top = len(rows(dash_duo))
    body.send_keys("e")
    until(lambda: "depth=1" in dash_duo.driver.current_url and len(rows(dash_duo)) > top, timeout=20)
    body.send_keys("c")
    until(lambda: "depth=" not in dash_duo.driver.current_url and len(rows(dash_duo)) == top, timeout=20)
    body.send_keys("t")
    until(lambda: "view=chart" in dash_duo.driver.current_url, timeout=20)
    dash_duo.wait_for_element("#pivot-pnl-chart .bars path", timeout=30)
    assert dash_duo.get_logs() == []


def test_pnl_chart_shows_the_biggest_winners_and_losers(dash_duo, pivot_app, duck) -> None:
    dash_duo.start_server(pivot_app)
    dash_duo.driver.get(dash_duo.server_url + "/pivot?rows=symbol&m=pnl&view=chart&top=3")
    dash_duo.wait_for_element("#pivot-pnl-chart .bars path", timeout=60)
    bars = dash_duo.driver.execute_script(
        "const d = document.querySelector('#pivot-pnl-chart .js-plotly-plot').data[0];"
        "return {x: Array.from(d.x), y: Array.from(d.y)};")
    pnl = dict(duck.execute(f"SELECT symbol, sum(pnl) FROM trades WHERE trade_date = '{latest(duck)}' AND {HELD} "
                            "GROUP BY symbol").fetchall())
    ranked = sorted(pnl, key=lambda s: -pnl[s])
    assert len(ranked) > 6
    middle = ranked[3:-3]
    assert bars["x"] == [*ranked[:3], f"Other ({len(middle)})", *ranked[-3:]]
    assert bars["y"] == pytest.approx([pnl[s] for s in ranked[:3]] + [sum(pnl[s] for s in middle)]
                                      + [pnl[s] for s in ranked[-3:]], rel=1e-9, abs=1e-6)
    assert min(bars["y"]) < 0  # the losers are drawn, not folded away
    assert dash_duo.get_logs() == []


def test_charts_follow_the_view_and_a_bar_click_drills_in(dash_duo, pivot_app) -> None:
    dash_duo.start_server(pivot_app)
    dash_duo.driver.get(dash_duo.server_url + "/pivot?rows=desk,symbol&m=pnl&view=chart")
    dash_duo.wait_for_element("#pivot-pnl-chart .bars path", timeout=60)
    bar = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#pivot-pnl-chart .bars path")[0]
    # Plotly's drag layer turns a mouse click where the bar is into plotly_click.
    ActionChains(dash_duo.driver).move_to_element(bar).click().perform()
    until(lambda: "f.desk=" in dash_duo.driver.current_url, timeout=30)
    assert view_state(dash_duo).rows == ("symbol",)
    assert dash_duo.get_logs() == []


# -- kiosk, phone, links, screenshots ----------------------------------------------
def test_kiosk_names_the_view_in_large_type(dash_duo, pivot_app, duck) -> None:
    open_pivot(dash_duo, pivot_app, "?rows=desk&m=pnl,gross_exposure&kiosk=1")
    title = dash_duo.find_element("#pivot-kiosk-title")
    until(lambda: title.is_displayed(), timeout=10)
    assert "P&L, Gross exposure by Desk" in title.text
    assert latest(duck) in title.text and "As held" in title.text
    size = dash_duo.driver.execute_script(
        "return parseFloat(getComputedStyle(document.querySelector('.pivot-kiosk-heading')).fontSize)")
    assert size >= 28
    assert not dash_duo.find_element("#pivot-panel-toggle").is_displayed()  # no inputs on a kiosk
    SHOTS.mkdir(parents=True, exist_ok=True)
    dash_duo.driver.save_screenshot(str(SHOTS / "pivot-kiosk.png"))
    assert dash_duo.get_logs() == []


def test_at_phone_width_the_grid_comes_first_and_controls_open_in_a_drawer(dash_duo, pivot_app) -> None:
    dash_duo.driver.set_window_size(390, 844)
    open_pivot(dash_duo, pivot_app, "?rows=desk,asset_class&m=pnl")
    grid_top = dash_duo.driver.execute_script("return document.getElementById('pivot-grid').getBoundingClientRect().top")
    assert grid_top < 260
    until(lambda: not dash_duo.driver.find_elements(By.CSS_SELECTOR, ".pivot-panel #pivot-rows"), timeout=20)
    dash_duo.find_element("#pivot-panel-toggle").click()
    dash_duo.wait_for_element(".pivot-drawer #pivot-rows", timeout=20)
    dash_duo.driver.find_element(By.XPATH, "//div[contains(@class,'pivot-drawer')]//label[normalize-space()='Look-through']").click()
    until(lambda: "exposure=look_through" in dash_duo.driver.current_url, timeout=30)
    SHOTS.mkdir(parents=True, exist_ok=True)
    dash_duo.driver.save_screenshot(str(SHOTS / "pivot-phone-drawer.png"))
    assert dash_duo.get_logs() == []


def test_a_copied_link_restores_the_view_and_totals_stay_in_view_with_a_split(dash_duo, pivot_app) -> None:
    query = "?rows=desk,asset_class&cols=exposure_type&m=pnl,notional,quantity&exposure=as_held&sort=-pnl&depth=1"
    open_pivot(dash_duo, pivot_app, query)
    first = rows(dash_duo)
    url = dash_duo.driver.current_url
    dash_duo.driver.get("about:blank")
    dash_duo.driver.get(url)
    until(lambda: rows(dash_duo) == first, timeout=60)
    # The totals are pinned right and the grand total is a pinned bottom row: both stay in view.
    pinned = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#pivot-grid .ag-pinned-right-header .ag-header-cell'))"
        ".map(e => e.getAttribute('col-id'))")
    assert pinned == ["pnl", "notional", "quantity"]
    dash_duo.driver.execute_script(
        "document.querySelector('#pivot-grid .ag-body-horizontal-scroll-viewport').scrollLeft = 100000")
    assert dash_duo.find_element("#pivot-grid .ag-floating-bottom .ag-pinned-right-floating-bottom").is_displayed()
    assert total_text(dash_duo, "pnl")
    SHOTS.mkdir(parents=True, exist_ok=True)
    dash_duo.driver.save_screenshot(str(SHOTS / "pivot-light.png"))
    dash_duo.find_element("#shell-theme-toggle").click()
    until(lambda: dash_duo.driver.execute_script(
        "return document.documentElement.getAttribute('data-db-theme')") == "dark", timeout=10)
    dash_duo.driver.save_screenshot(str(SHOTS / "pivot-dark.png"))
    assert dash_duo.get_logs() == []


def test_a_saved_view_keeps_the_changes_made_in_the_page_and_restores_in_a_fresh_page(dash_duo, pivot_app) -> None:
    open_pivot(dash_duo, pivot_app, "?rows=desk,asset_class&m=pnl")
    dash_duo.find_element("#pivot-expand-all").click()  # a change the page writes with pushState
    until(lambda: "depth=" in dash_duo.driver.current_url, timeout=30)
    shown = rows(dash_duo)
    changed_url = dash_duo.driver.current_url
    dash_duo.find_element("[id*='\"part\":\"name\"']").send_keys("Desks expanded")
    dash_duo.find_element("[id*='\"part\":\"save\"']").click()
    until(lambda: "Saved" in dash_duo.find_element("[id*='\"part\":\"message\"']").text, timeout=30)
    until(lambda: dash_duo.find_element("[id*='\"part\":\"select\"']").get_attribute("value") == "Desks expanded",
          timeout=20)
    until(lambda: dash_duo.find_element("[id*='\"part\":\"link\"']").get_attribute("value"), timeout=20)
    link = dash_duo.find_element("[id*='\"part\":\"link\"']").get_attribute("value")
    assert _state_of(link) == _state_of(changed_url)
    dash_duo.driver.get("about:blank")
    dash_duo.driver.get(link)
    until(lambda: [(r["id"], r["label"]) for r in rows(dash_duo)] == [(r["id"], r["label"]) for r in shown],
          timeout=60)
    assert dash_duo.get_logs() == []


def _state_of(url: str):
    from backend.pivot.view_state import parse_view

    return parse_view(urlsplit(url).query).state


# -- names beside ids ---------------------------------------------------------------
def test_managers_are_named_beside_their_ids(dash_duo, pivot_app, duck) -> None:
    open_pivot(dash_duo, pivot_app, "?rows=portfolio_manager_id,symbol&m=pnl")
    names = dict(duck.execute("SELECT portfolio_manager_id, any_value(portfolio_manager_name) FROM trades "
                              "GROUP BY 1").fetchall())
    shown = rows(dash_duo)
    managers = [r for r in shown if len(json.loads(r["id"])) == 1]
    assert managers and all(r["name"] == names[json.loads(r["id"])[0]] for r in managers)
    assert all(r["label"].endswith(json.loads(r["id"])[0]) for r in managers)  # the id is still the label
    assert dash_duo.get_logs() == []


# -- laptop widths ----------------------------------------------------------------
HEADER_FIT = """
const cell = document.querySelector("#pivot-grid .ag-header-cell[col-id='_tree']");
const text = cell && cell.querySelector('.ag-header-cell-text');
if (!text) return null;
const c = cell.getBoundingClientRect(), t = text.getBoundingClientRect();
return {text: text.innerText, sw: text.scrollWidth, cw: text.clientWidth, sh: text.scrollHeight, ch: text.clientHeight,
        inside: t.left >= c.left - 1 && t.right <= c.right + 1 && t.top >= c.top - 1 && t.bottom <= c.bottom + 1,
        width: innerWidth};
"""


@pytest.mark.parametrize("query", [
    "?rows=portfolio_manager_id,asset_class,symbol&m=notional,pnl,quantity",
    "?rows=portfolio_manager_id,desk,asset_class,sector,symbol&cols=exposure_type&m=notional,pnl,quantity,gross_exposure",
])
def test_the_hierarchy_header_is_whole_at_1366_pixels(dash_duo, pivot_app, query: str) -> None:
    from backend.pivot.catalog import DIMENSIONS

    dash_duo.start_server(pivot_app)
    dash_duo.driver.set_window_size(1366, 768)
    open_pivot(dash_duo, pivot_app, query, started=True)
    levels = view_state(dash_duo).rows
    until(lambda: (dash_duo.driver.execute_script(HEADER_FIT) or {}).get("text"), timeout=20)
    fit = dash_duo.driver.execute_script(HEADER_FIT)
    assert fit["width"] >= 1300
    assert fit["text"].replace("\n", " ") == " › ".join(DIMENSIONS[d].label for d in levels)
    # Nothing cut: the text needs no more room than it has, and stays inside its header cell.
    assert fit["sw"] <= fit["cw"] + 1 and fit["sh"] <= fit["ch"] + 1 and fit["inside"], fit
    SHOTS.mkdir(parents=True, exist_ok=True)
    dash_duo.driver.save_screenshot(str(SHOTS / f"pivot-1366-{len(levels)}-levels.png"))
    assert dash_duo.get_logs() == []
