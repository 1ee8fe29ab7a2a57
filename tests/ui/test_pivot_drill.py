"""Drill-through and export on the pivot page, in headless Chromium.

What a double-click opens and what an export writes are checked against DuckDB
over the generator's Parquet files.
"""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import duckdb
import pytest
from dash.testing.wait import until
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.ui.pivot_support import HELD, api, latest, open_pivot, rows, view_state


@pytest.fixture
def pivot_app(deskboard_app):
    return deskboard_app


@pytest.fixture(scope="module")
def duck(trades_folder: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW trades AS SELECT * FROM read_parquet('{trades_folder}/trades_1d/*.parquet')")
    return con


# -- drill-through ---------------------------------------------------------------
DRILL_READ = """
const grid = document.querySelector('.pivot-drill-grid');
if (!grid) return null;
const heads = Array.from(grid.querySelectorAll('.ag-header-cell')).map(h => [h.getAttribute('col-id'), h.innerText.trim()]);
const rows = Array.from(grid.querySelectorAll('.ag-center-cols-container .ag-row'))
  .sort((a, b) => a.getAttribute('row-index') - b.getAttribute('row-index'))
  .map(r => Object.fromEntries(Array.from(r.querySelectorAll('.ag-cell')).map(c => [c.getAttribute('col-id'), c.innerText])));
return {heads: heads, rows: rows};
"""


def _drill(dash_duo, selector: str) -> dict:
    cell = dash_duo.driver.find_element(By.CSS_SELECTOR, selector)
    ActionChains(dash_duo.driver).double_click(cell).perform()
    dash_duo.wait_for_element(".pivot-drill-count", timeout=30)
    # The infinite row model draws empty stub rows until the page of trades arrives.
    until(lambda: ((dash_duo.driver.execute_script(DRILL_READ) or {}).get("rows") or [{}])[0].get("side"),
          timeout=30)
    return dash_duo.driver.execute_script(DRILL_READ)


def _csv_of(dash_duo, href: str) -> list[dict]:
    with urllib.request.urlopen(dash_duo.server_url + urlsplit(href)._replace(scheme="", netloc="").geturl()) as r:
        return list(csv.DictReader(io.StringIO(r.read().decode())))


def test_drill_through_reads_like_a_blotter_with_a_count_and_an_export(dash_duo, pivot_app, duck) -> None:
    open_pivot(dash_duo, pivot_app, "?rows=desk,asset_class&m=pnl")
    desk = json.loads(rows(dash_duo)[0]["id"])[0]
    seen = _drill(dash_duo, "#pivot-grid .ag-row[row-index='0'] .ag-cell[col-id='pnl']")
    day = latest(duck)
    expected = duck.execute(f"SELECT trade_id, exposure_type FROM trades WHERE trade_date = '{day}' AND {HELD} "
                            "AND desk = ?", [desk]).fetchall()
    count = dash_duo.find_element(".pivot-drill-count").text
    assert count == f"{len(expected):,} trades"
    assert [h for _, h in seen["heads"][:4]] == ["Side", "Quantity", "Price", "P&L"]
    assert all(not re.fullmatch(r"[a-z_]+", h) for _, h in seen["heads"])  # labels, not field names
    first = seen["rows"][0]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", first["trade_time"]), first["trade_time"]
    assert first["trade_date"] == day
    assert first["side"] in ("Buy", "Sell") and re.fullmatch(r"-?[\d,]+", first["quantity"])
    # The export link holds exactly the drilled trades.
    href = dash_duo.find_element(".pivot-drill-export").get_attribute("href")
    got = _csv_of(dash_duo, href)
    assert sorted((int(r["trade_id"]), r["exposure_type"]) for r in got) == sorted(expected)
    assert dash_duo.get_logs() == []


def test_drill_through_of_a_split_cell_counts_and_exports_that_cell(dash_duo, pivot_app, duck) -> None:
    open_pivot(dash_duo, pivot_app, "?rows=desk&cols=exposure_type&m=pnl")
    colvals = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#pivot-grid .ag-header-group-cell'))"
        ".map(e => e.innerText.trim()).filter(t => t && t !== 'Total')")
    index = colvals.index("Direct")
    desk = rows(dash_duo)[0]["label"]
    _drill(dash_duo, f"#pivot-grid .ag-row[row-index='0'] .ag-cell[col-id='pnl__c{index}']")
    expected = duck.execute(f"SELECT trade_id, exposure_type FROM trades WHERE trade_date = '{latest(duck)}' "
                            "AND desk = ? AND exposure_type = 'Direct'", [desk]).fetchall()
    assert dash_duo.find_element(".pivot-drill-count").text == f"{len(expected):,} trades"
    href = dash_duo.find_element(".pivot-drill-export").get_attribute("href")
    assert parse_qs(urlsplit(href).query)["types"] == ["Direct"]
    got = _csv_of(dash_duo, href)
    assert sorted((int(r["trade_id"]), r["exposure_type"]) for r in got) == sorted(expected)
    assert dash_duo.get_logs() == []

def _range_start(duck) -> str:
    return str(duck.execute("SELECT min(trade_date) FROM trades WHERE trade_date >= DATE '2024-02-01'").fetchone()[0])


def _title(dash_duo) -> str:
    return dash_duo.driver.execute_script(
        "const t = document.querySelector('.mantine-Modal-title'); return t ? t.innerText : '';")


def test_drill_of_a_stock_cell_over_a_range_opens_the_as_of_date_and_a_flow_every_date(
        dash_duo, pivot_app, duck) -> None:
    start, last = _range_start(duck), latest(duck)
    # The range runs past the data: the stock is the level on the last date with trades.
    open_pivot(dash_duo, pivot_app, f"?rows=desk&m=pnl,gross_exposure&date={start}..2024-03-31")
    desk = rows(dash_duo)[0]["label"]
    seen = _drill(dash_duo, "#pivot-grid .ag-row[row-index='0'] .ag-cell[col-id='gross_exposure']")
    on_day = duck.execute(f"SELECT trade_id, exposure_type FROM trades WHERE trade_date = '{last}' AND {HELD} "
                          "AND desk = ?", [desk]).fetchall()
    assert _title(dash_duo) == f"Trades · {desk} · as of {last}"
    assert dash_duo.find_element(".pivot-drill-count").text == f"{len(on_day):,} trades"
    assert {r["trade_date"] for r in seen["rows"] if r.get("trade_date")} == {last}
    assert f"the level on {last}" in dash_duo.find_element(".pivot-drill-note").text
    href = dash_duo.find_element(".pivot-drill-export").get_attribute("href")
    assert parse_qs(urlsplit(href).query)["date"] == [last]
    got = _csv_of(dash_duo, href)
    assert sorted((int(r["trade_id"]), r["exposure_type"]) for r in got) == sorted(on_day)

    # The same row's P&L (a flow) opens every date of the range.
    dash_duo.find_element("body").send_keys(Keys.ESCAPE)
    until(lambda: not dash_duo.driver.find_elements(By.CSS_SELECTOR, ".pivot-drill-count"), timeout=20)
    seen = _drill(dash_duo, "#pivot-grid .ag-row[row-index='0'] .ag-cell[col-id='pnl']")
    every = duck.execute(f"SELECT count(*), count(DISTINCT trade_date) FROM trades WHERE trade_date >= '{start}' "
                         f"AND {HELD} AND desk = ?", [desk]).fetchone()
    assert every[1] > 1
    assert _title(dash_duo) == f"Trades · {desk}"
    assert dash_duo.find_element(".pivot-drill-count").text == f"{every[0]:,} trades"
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, ".pivot-drill-note")
    assert dash_duo.get_logs() == []


# -- export of the screen ---------------------------------------------------------
def test_export_csv_matches_the_api_answer_and_says_the_as_of_date(dash_duo, pivot_app, duck, tmp_path: Path) -> None:
    from backend.pivot.export import screen_csv
    from backend.pivot.result import tree_rows
    from components.pivot_grid import metric_fields

    dash_duo.driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    start, last = _range_start(duck), latest(duck)
    open_pivot(dash_duo, pivot_app, f"?rows=desk,asset_class&m=pnl,gross_exposure&date={start}..2024-03-31")
    dash_duo.find_element("#pivot-export").click()
    until(lambda: list(tmp_path.glob("*.csv")), timeout=30)
    got = list(csv.reader(io.StringIO(next(tmp_path.glob("*.csv")).read_text())))
    state = view_state(dash_duo)
    answer = api(pivot_app, state.to_request())
    fields = metric_fields(answer["metrics"], answer["columns"], answer["column_values"])
    want = list(csv.reader(io.StringIO(screen_csv(tree_rows(answer), answer["totals"], state.expansion,
                                                  answer["dimensions"], fields, meta=answer["meta"]))))
    assert got == want
    # The stock column's header names the last date with data (from DuckDB), as the screen does.
    assert got[0][-1] == f"Gross exposure (as of {last})" and got[0][-2] == "P&L"
    gross = duck.execute(f"SELECT sum(abs(notional)) FROM trades WHERE trade_date = '{last}' AND {HELD}").fetchone()[0]
    assert float(got[-1][-1]) == pytest.approx(gross, rel=1e-9)
    assert len(got) == 2 + len({r["desk"] for r in answer["rows"]})
    assert dash_duo.get_logs() == []


def test_drill_through_times_are_on_the_readers_clock_which_the_header_names(dash_duo, pivot_app, duck) -> None:
    import pandas as pd

    from backend.access.user_settings import UserSettingsService
    from backend.stores import EXTENSION_KEY

    zone = "America/New_York"
    UserSettingsService(pivot_app.server.extensions[EXTENSION_KEY].meta).update("local", 0, time_zone=zone)
    open_pivot(dash_duo, pivot_app, "?rows=desk&m=pnl")
    seen = _drill(dash_duo, "#pivot-grid .ag-row[row-index='0'] .ag-cell[col-id='pnl']")
    assert dict(seen["heads"])["trade_time"] == "Time (New York)"
    # the grid's own rows (columns off to the right are not drawn): trade id and the time text shown
    loaded = dash_duo.driver.execute_script(
        "const api = dash_ag_grid.getApi(document.querySelector('.pivot-drill-grid').id); const out = [];"
        "api.forEachNode(n => n.data && out.push({trade_id: n.data.trade_id, trade_time: n.data.trade_time}));"
        "return out.slice(0, 20);")
    assert {r["trade_time"] for r in loaded} >= {r["trade_time"] for r in seen["rows"][:5]}
    checked = 0
    for row in loaded:
        stored = duck.execute("SELECT trade_time FROM trades WHERE trade_id = ? LIMIT 1",
                              [row["trade_id"]]).fetchone()[0]
        stamp = pd.Timestamp(stored)
        utc = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        assert row["trade_time"] == utc.tz_convert(zone).strftime("%Y-%m-%d %H:%M:%S"), row
        checked += 1
    assert checked >= 5
    assert dash_duo.get_logs() == []
