"""The overview page in the browser: figures and changes against DuckDB over the
fixture Parquet, each tile and chart bar opening its own pivot view, dark mode,
and warehouses with no trades or a single trade date."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import duckdb
import pytest
from dash.testing.errors import TestingTimeoutError
from dash.testing.wait import until
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from backend.pivot.view_state import parse_view
from components.overview_charts import DARK, LIGHT
from components.tiles import short_day

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
TOTALS = ("pnl", "gross_exposure", "net_exposure")
FARTHEST_BAR = """
const bars = Array.from(document.querySelectorAll('#overview-trend .bars path')).map(b => b.getBoundingClientRect());
const dots = Array.from(document.querySelectorAll('#overview-trend .scatterlayer .point'))
  .map(p => p.getBoundingClientRect()).map(r => [r.x + r.width / 2, r.y + r.height / 2]);
let best = 0, bestGap = -1;
bars.forEach((r, i) => {
  if (r.height < 12) { return; }
  const cx = r.x + r.width / 2, cy = r.y + r.height / 2;
  const gap = Math.min(...dots.map(d => Math.hypot(d[0] - cx, d[1] - cy)));
  if (gap > bestGap) { best = i; bestGap = gap; }
});
return best;
"""


def _duck(trades_folder: Path, sql: str) -> list[tuple]:
    files = str(trades_folder / "trades_1d" / "*.parquet")
    con = duckdb.connect()
    try:
        con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{files}') "
                    "WHERE exposure_type IN ('Direct', 'ETF', 'ETC')")
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _day_totals(trades_folder: Path, day) -> dict[str, float]:
    [row] = _duck(trades_folder, f"SELECT sum(pnl), sum(abs(notional)), sum(notional) FROM t "
                                 f"WHERE trade_date = DATE '{day}'")
    return dict(zip(TOTALS, row, strict=True))


def _by_id(dash_duo, id_: dict):
    # Dash renders a dict id as its sorted, compact JSON.
    key = json.dumps(id_, sort_keys=True, separators=(",", ":"))
    return dash_duo.driver.execute_script("return document.getElementById(arguments[0]);", key)


def _pivot_state(url: str):
    parts = urlsplit(url)
    assert parts.path == "/pivot"
    parsed = parse_view(parts.query)
    assert parsed.notices == []
    return parsed.state


def _pivot_shows_rows(dash_duo) -> None:
    until(lambda: dash_duo.driver.execute_script(
        "return document.querySelectorAll('#pivot-grid .ag-row').length") > 0, timeout=60)


def _rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def _chart_ink(dash_duo, graph_id: str) -> str:
    return dash_duo.driver.execute_script(
        "const t = document.querySelector(arguments[0] + ' .legendtext');"
        "return t ? getComputedStyle(t).fill : null;", f"#{graph_id}")


def test_figures_and_changes_match_the_data(dash_duo, deskboard_app, trades_folder: Path) -> None:
    latest, previous = [r[0] for r in _duck(trades_folder, "SELECT DISTINCT trade_date FROM t ORDER BY 1 DESC")][:2]
    today, before = _day_totals(trades_folder, latest), _day_totals(trades_folder, previous)
    dash_duo.start_server(deskboard_app)
    dash_duo.wait_for_element("#overview-date", timeout=30)
    assert dash_duo.find_element("#overview-date").get_attribute("data-date") == latest.isoformat()

    for name in TOTALS:
        figure = _by_id(dash_duo, {"type": "overview-figure", "name": name})
        assert float(figure.get_attribute("data-value")) == pytest.approx(today[name], rel=1e-9)
        assert figure.text.startswith(("$", "-$", "+$"))
        change = _by_id(dash_duo, {"type": "overview-change", "name": name})
        assert float(change.get_attribute("data-delta")) == pytest.approx(today[name] - before[name], rel=1e-9)
        assert float(change.get_attribute("data-pct")) == pytest.approx(
            (today[name] - before[name]) / abs(before[name]) * 100, rel=1e-9)
        assert change.get_attribute("data-previous-date") == previous.isoformat()
        assert change.text.startswith("▲" if today[name] > before[name] else "▼")
        assert change.text.endswith(f"vs {short_day(previous)}")
        # A change is not a gain: no profit/loss colour on any change line.
        assert "num-pos" not in change.get_attribute("class") and "num-neg" not in change.get_attribute("class")

    # Only P&L is coloured as profit or loss; net exposure is told long or short in words.
    pnl_class = _by_id(dash_duo, {"type": "overview-figure", "name": "pnl"}).get_attribute("class")
    assert ("num-pos" if today["pnl"] > 0 else "num-neg") in pnl_class
    net = _by_id(dash_duo, {"type": "overview-figure", "name": "net_exposure"})
    assert "num-pos" not in net.get_attribute("class") and "num-neg" not in net.get_attribute("class")
    assert not net.text.startswith(("+", "-"))
    side = "Net long" if today["net_exposure"] > 0 else "Net short"
    assert side.lower() in dash_duo.find_element(".overview-badge").text.lower()

    managers = dict(_duck(trades_folder, "SELECT portfolio_manager_id, any_value(portfolio_manager_name) FROM t "
                                         f"WHERE trade_date = DATE '{latest}' GROUP BY 1"))
    for dimension in ("symbol", "portfolio_manager_id"):
        ranked = [r[0] for r in _duck(trades_folder, f"SELECT {dimension}, sum(pnl) p FROM t "
                                                     f"WHERE trade_date = DATE '{latest}' GROUP BY 1 ORDER BY p DESC")]
        for side_name, expected_order in (("top", ranked[:5]), ("bottom", ranked[::-1][:5])):
            shown = []
            for rank in range(1, 6):
                link = _by_id(dash_duo, {"type": "overview-contributor", "dimension": dimension,
                                         "side": side_name, "rank": rank})
                query = parse_qs(urlsplit(link.get_attribute("href")).query)
                assert query[f"f.{dimension}"] == [link.text]
                assert query["date"] == [latest.isoformat()]
                shown.append(link.text)
                # A manager's name is beside the id (the id is what the link filters on).
                names = link.find_elements(By.XPATH, "following-sibling::span[@class='overview-name']")
                assert [n.text for n in names] == ([managers[link.text]] if dimension == "portfolio_manager_id" else [])
            assert shown == expected_order
    assert dash_duo.get_logs() == []


@pytest.mark.parametrize(("tile", "rows", "sort"), [
    ("pnl", ("portfolio_manager_id",), "pnl"),
    ("gross_exposure", ("desk", "asset_class"), "gross_exposure"),
    ("net_exposure", ("asset_class", "symbol"), "net_exposure"),
])
def test_a_tile_link_lands_on_the_matching_pivot_view(dash_duo, deskboard_app, tile: str, rows: tuple,
                                                      sort: str) -> None:
    dash_duo.start_server(deskboard_app)
    dash_duo.wait_for_element("#overview-date", timeout=30)
    day = dash_duo.find_element("#overview-date").get_attribute("data-date")
    _by_id(dash_duo, {"type": "overview-link", "name": tile}).click()
    until(lambda: urlsplit(dash_duo.driver.current_url).path == "/pivot", 20)
    _pivot_shows_rows(dash_duo)
    state = _pivot_state(dash_duo.driver.current_url)
    assert (state.rows, state.sort_field, state.sort_desc) == (rows, sort, True)
    assert state.date_from.isoformat() == state.date_to.isoformat() == day
    # The pivot page itself found nothing to complain about in the link.
    assert dash_duo.driver.find_elements(By.CSS_SELECTOR, ".pivot-notice") == []
    headers = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#pivot-grid .ag-header-cell')).map(e => e.getAttribute('col-id'))")
    assert sort in headers
    assert dash_duo.get_logs() == []


def test_a_bar_in_the_desk_trend_opens_that_desk_and_day(dash_duo, deskboard_app) -> None:
    dash_duo.start_server(deskboard_app)
    dash_duo.wait_for_element("#overview-trend .bars path", timeout=30)
    dash_duo.wait_for_element("#overview-desk-exposure .bars path", timeout=30)
    legend = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#overview-trend .legendtext')).map(e => e.textContent)")
    assert "Total" in legend and len(legend) >= 3
    bars = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#overview-trend .bars path")
    # Plotly's drag layer sits over the bars and turns a mouse click there into
    # plotly_click for the nearest point, so click, as a user's mouse would, the
    # middle of a bar far from the day's total marker (a click there opens the day).
    far = dash_duo.driver.execute_script(FARTHEST_BAR)
    ActionChains(dash_duo.driver).move_to_element(bars[far]).click().perform()
    until(lambda: "f.desk=" in dash_duo.driver.current_url, timeout=30)
    state = _pivot_state(dash_duo.driver.current_url)
    assert list(state.filters) == ["desk"] and state.filters["desk"][0] in legend
    assert state.date_from == state.date_to and state.rows == ("portfolio_manager_id", "symbol")
    _pivot_shows_rows(dash_duo)
    assert dash_duo.get_logs() == []


def test_dark_mode_recolours_the_charts(dash_duo, deskboard_app) -> None:
    dash_duo.start_server(deskboard_app)
    dash_duo.wait_for_element("#overview-trend .legendtext", timeout=30)
    until(lambda: _chart_ink(dash_duo, "overview-trend") == _rgb(LIGHT["ink"]), timeout=10)
    dash_duo.find_element("#shell-theme-toggle").click()
    until(lambda: dash_duo.driver.execute_script(
        "return document.documentElement.getAttribute('data-db-theme')") == "dark", timeout=10)
    for graph in ("overview-trend", "overview-desk-exposure"):
        until(lambda g=graph: _chart_ink(dash_duo, g) == _rgb(DARK["ink"]), timeout=10)
    # Reloaded, the page starts dark (the shell remembers the theme).
    dash_duo.driver.refresh()
    dash_duo.wait_for_element("#overview-trend .legendtext", timeout=30)
    until(lambda: _chart_ink(dash_duo, "overview-trend") == _rgb(DARK["ink"]), timeout=10)
    dash_duo.find_element("#shell-theme-toggle").click()
    until(lambda: _chart_ink(dash_duo, "overview-trend") == _rgb(LIGHT["ink"]), timeout=10)
    assert dash_duo.get_logs() == []


def _app_over(database: str, warehouse_url: str, tmp_path: Path):
    from app import create_app
    from backend.config import load_settings

    return create_app(load_settings(data_dir=tmp_path / "app-data", warehouse_dsn=warehouse_url,
                                    warehouse_database=database, demo_rows=0), market=False)


def test_an_empty_warehouse_says_so(dash_duo, fresh_warehouse, warehouse_url: str, tmp_path: Path) -> None:
    dash_duo.start_server(_app_over(fresh_warehouse.database, warehouse_url, tmp_path))
    dash_duo.wait_for_text_to_equal("h2", "Overview", timeout=30)
    assert "no trades" in dash_duo.find_element("#overview-empty").text
    assert dash_duo.driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot") == []
    assert dash_duo.get_logs() == []


def test_a_single_trade_date_shows_the_day_without_a_comparison(
    dash_duo, fresh_warehouse, warehouse_url: str, trades_folder: Path, tmp_path: Path
) -> None:
    from backend.warehouse.loader import load_folder

    [(day,)] = _duck(trades_folder, "SELECT max(trade_date) FROM t")
    folder = tmp_path / "one-day"
    (folder / "trades_1d").mkdir(parents=True)
    for name in ("instruments.parquet", "constituents.parquet"):
        shutil.copy(trades_folder / name, folder / name)
    files = str(trades_folder / "trades_1d" / "*.parquet")
    duckdb.execute(f"COPY (SELECT * FROM read_parquet('{files}') WHERE trade_date = DATE '{day}') "
                   f"TO '{folder / 'trades_1d' / 'part-00000.parquet'}' (FORMAT parquet)")
    load_folder(fresh_warehouse, folder)

    dash_duo.start_server(_app_over(fresh_warehouse.database, warehouse_url, tmp_path))
    dash_duo.wait_for_element("#overview-trend .bars path", timeout=30)
    assert dash_duo.find_element("#overview-date").get_attribute("data-date") == day.isoformat()
    for name in TOTALS:
        change = _by_id(dash_duo, {"type": "overview-change", "name": name})
        assert change.text == "No earlier trade date to compare"
    assert dash_duo.get_logs() == []


def test_overview_is_listed_first_and_served_at_the_root(dash_duo, deskboard_app) -> None:
    dash_duo.start_server(deskboard_app)
    dash_duo.wait_for_element("#overview-date", timeout=30)
    first_link = dash_duo.find_elements(".shell-nav-link")[0]
    assert first_link.text == "Overview"
    assert urlsplit(first_link.get_attribute("href")).path == "/"
    assert dash_duo.get_logs() == []


# -- kiosk: the wall display ----------------------------------------------------------
SCROLL = """
const d = document.documentElement;
return {sw: d.scrollWidth, sh: d.scrollHeight, w: innerWidth, h: innerHeight,
        charts: Array.from(document.querySelectorAll('.overview-chart .js-plotly-plot'))
          .map(p => p.getBoundingClientRect().height)};
"""


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_kiosk_fits_the_screen_without_scrolling(dash_duo, deskboard_app, size: tuple[int, int]) -> None:
    dash_duo.start_server(deskboard_app)
    # A kiosk is full screen: the viewport is the whole display (no window chrome).
    dash_duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False})
    dash_duo.driver.get(dash_duo.server_url + "/?kiosk=1")
    dash_duo.wait_for_element("#overview-trend .bars path", timeout=30)
    dash_duo.wait_for_element("#overview-desk-exposure .bars path", timeout=30)
    until(lambda: "db-kiosk" in dash_duo.driver.execute_script("return document.documentElement.className"),
          timeout=10)
    fit = dash_duo.driver.execute_script(SCROLL)
    assert (fit["w"], fit["h"]) == size, fit
    try:  # the charts settle into their boxes after the first paint
        until(lambda: (f := dash_duo.driver.execute_script(SCROLL))["sh"] <= f["h"] and f["sw"] <= f["w"], timeout=10)
    except TestingTimeoutError:
        pass
    fit = dash_duo.driver.execute_script(SCROLL)
    SHOTS.mkdir(parents=True, exist_ok=True)
    dash_duo.driver.save_screenshot(str(SHOTS / f"overview-kiosk-{size[0]}.png"))
    assert fit["sh"] <= fit["h"] and fit["sw"] <= fit["w"], fit
    # The charts are still charts, not slivers squeezed to fit.
    assert len(fit["charts"]) == 2 and min(fit["charts"]) >= 160, fit
    assert dash_duo.get_logs() == []


def _mark(dash_duo) -> None:
    dash_duo.driver.execute_script("document.getElementById('overview-date').dataset.seen = '1';")


def _redrawn(dash_duo) -> bool:
    return dash_duo.driver.execute_script("const e = document.getElementById('overview-date'); "
                                          "return Boolean(e && !e.dataset.seen);")


def test_kiosk_refreshes_by_itself_and_stays_dark_and_a_desk_overview_does_not(
        dash_duo, deskboard_app, monkeypatch) -> None:
    import sys

    page = sys.modules["pages.home"]
    monkeypatch.setattr(page, "REFRESH_MS", 1_000)
    versions = iter(range(10**6))
    # A new data version on each tick, as after a load: the page draws the overview again.
    monkeypatch.setattr(page, "data_version", lambda _stores: f"v{next(versions)}")
    dash_duo.start_server(deskboard_app)
    dash_duo.wait_for_element("#overview-trend .bars path", timeout=30)
    _mark(dash_duo)
    desk_tab = dash_duo.driver.current_window_handle
    dash_duo.driver.switch_to.new_window("tab")
    dash_duo.driver.get(dash_duo.server_url + "/?kiosk=1")
    dash_duo.wait_for_element("#overview-trend .legendtext", timeout=30)
    for _ in range(2):  # two refreshes in a row
        _mark(dash_duo)
        until(lambda: _redrawn(dash_duo), timeout=20)
        dash_duo.wait_for_element("#overview-trend .legendtext", timeout=30)
        for graph in ("overview-trend", "overview-desk-exposure"):
            until(lambda g=graph: _chart_ink(dash_duo, g) == _rgb(DARK["ink"]), timeout=10)
    # Meanwhile the overview at a desk (no ?kiosk=1) was left as it was drawn.
    dash_duo.driver.switch_to.window(desk_tab)
    assert not _redrawn(dash_duo)
    assert dash_duo.get_logs() == []


TABLES_INSIDE = """
return Array.from(document.querySelectorAll('.overview-contributors')).map(tile => {
  const box = tile.getBoundingClientRect();
  return Array.from(tile.querySelectorAll('table')).every(t => t.getBoundingClientRect().right <= box.right + 0.5);
});
"""


def test_at_a_desk_1366_wide_the_named_tables_stay_inside_their_tiles(dash_duo, deskboard_app) -> None:
    dash_duo.start_server(deskboard_app)
    dash_duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": 1366, "height": 768, "deviceScaleFactor": 1, "mobile": False})
    dash_duo.driver.get(dash_duo.server_url + "/")
    dash_duo.wait_for_element(".overview-name", timeout=30)
    assert dash_duo.driver.execute_script(TABLES_INSIDE) == [True, True]
    fit = dash_duo.driver.execute_script(SCROLL)
    assert fit["sw"] <= fit["w"], fit
    # A long name is cut with an ellipsis and kept whole in its tooltip.
    names = dash_duo.driver.find_elements(By.CSS_SELECTOR, ".overview-name")
    assert names and all(n.get_attribute("title") for n in names)
    assert dash_duo.get_logs() == []
