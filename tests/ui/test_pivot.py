"""The pivot explorer as an analyst uses it, in headless Chromium."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture
def pivot_app(deskboard_app):
    return deskboard_app


def rows(dash_duo) -> list[dict]:
    """Grid rows in display order: id, label, kind (read by row-index, AG Grid keeps DOM order)."""
    script = """
      const out = [];
      document.querySelectorAll('#pivot-grid .ag-pinned-left-cols-container .ag-row').forEach(r => {
        out.push({i: +r.getAttribute('row-index'), id: r.getAttribute('row-id'),
                  label: r.innerText.trim(), cls: r.className});
      });
      return out.sort((a, b) => a.i - b.i);
    """
    found = dash_duo.driver.execute_script(script)
    # AG Grid escapes the row id it writes into the row-id attribute.
    for row in found:
        row["id"] = html.unescape(row["id"] or "")
    return found


def open_pivot(dash_duo, app, query: str = "") -> None:
    dash_duo.start_server(app)
    dash_duo.driver.get(dash_duo.server_url + "/pivot" + query)
    until(lambda: len(rows(dash_duo)) > 0, timeout=90)


def test_default_view_shows_the_top_level_and_a_total(dash_duo, pivot_app) -> None:
    open_pivot(dash_duo, pivot_app)
    shown = rows(dash_duo)
    assert all(json.loads(r["id"]).__len__() == 1 for r in shown)
    dash_duo.wait_for_contains_text("#pivot-grid .ag-floating-bottom", "Total", timeout=5)
    assert "date=" in dash_duo.driver.current_url
    SHOTS.mkdir(parents=True, exist_ok=True)
    dash_duo.driver.save_screenshot(str(SHOTS / "pivot-light.png"))
    assert dash_duo.get_logs() == []


def _state(dash_duo) -> dict:
    from urllib.parse import urlsplit

    from backend.pivot.view_state import parse_view

    return parse_view(urlsplit(dash_duo.driver.current_url).query).state


def _api(app, body: dict) -> dict:
    with app.server.test_client() as client:
        reply = client.post("/api/v1/pivot", json=body)
    assert reply.status_code == 200, reply.json
    return reply.json


def test_expand_collapse_and_expand_all_live_in_the_url(dash_duo, pivot_app) -> None:
    open_pivot(dash_duo, pivot_app)
    top = rows(dash_duo)
    first = dash_duo.driver.find_element(By.CSS_SELECTOR, "#pivot-grid .pivot-chevron")
    first.click()
    until(lambda: len(rows(dash_duo)) > len(top), timeout=10)
    opened = rows(dash_duo)
    assert {len(json.loads(r["id"])) for r in opened} == {1, 2}
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
    header = dash_duo.find_element("#pivot-grid .ag-header-cell[col-id='pnl'] .ag-header-cell-label")
    header.click()
    until(lambda: "sort=-pnl" in dash_duo.driver.current_url, timeout=30)
    state = _state(dash_duo)
    expected = _api(pivot_app, state.to_request())
    want = [r["desk"] for r in expected["rows"]]
    until(lambda: [r["label"] for r in rows(dash_duo)] == want, timeout=30)
    pnl = [r["pnl"] for r in expected["rows"]]
    assert pnl == sorted(pnl, reverse=True)
    assert dash_duo.get_logs() == []


def test_look_through_changes_totals_and_double_counting_is_refused(dash_duo, pivot_app) -> None:
    open_pivot(dash_duo, pivot_app, "?rows=exposure_type&m=pnl,gross_exposure")
    assert {r["label"] for r in rows(dash_duo)} <= {"Direct", "ETF", "ETC"}
    dash_duo.driver.find_element(By.XPATH, "//label[normalize-space()='Look-through']").click()
    until(lambda: "exposure=look_through" in dash_duo.driver.current_url, timeout=30)
    until(lambda: "Constituent" in {r["label"] for r in rows(dash_duo)}, timeout=30)
    assert not {"ETF", "ETC"} & {r["label"] for r in rows(dash_duo)}
    held = _api(pivot_app, {**_state(dash_duo).to_request(), "exposure": "as_held"})
    looked = _api(pivot_app, _state(dash_duo).to_request())
    # Look-through re-labels fund money, it does not create or lose any P&L.
    assert looked["totals"]["pnl"] == pytest.approx(held["totals"]["pnl"], rel=1e-9, abs=1e-6)
    # Choose types that count a fund twice: refused with an explanation, view unchanged.
    url = dash_duo.driver.current_url
    dash_duo.driver.find_element(By.XPATH, "//label[normalize-space()='ETF']").click()
    dash_duo.wait_for_contains_text("#pivot-types-refused", "count the same funds twice", timeout=30)
    assert dash_duo.driver.current_url == url
    assert dash_duo.get_logs() == []


def test_bad_url_parameters_load_a_default_view_with_a_notice(dash_duo, pivot_app) -> None:
    query = "?rows=desk,not_a_dim&date=2024-13-99&sort=%27%3B%20DROP%20TABLE%20x&f.evil%3B--=1"
    open_pivot(dash_duo, pivot_app, query)
    dash_duo.wait_for_contains_text("#pivot-notices", "Unknown dimension 'not_a_dim'", timeout=30)
    text = dash_duo.find_element("#pivot-notices").text
    assert "is not a date" in text and "unknown dimension" in text
    assert _state(dash_duo).rows == ("desk",)
    assert dash_duo.get_logs() == []


def test_drill_through_pages_the_leaf_trades(dash_duo, pivot_app) -> None:
    open_pivot(dash_duo, pivot_app, "?rows=desk&m=pnl")
    from selenium.webdriver.common.action_chains import ActionChains

    cell = dash_duo.driver.find_element(By.CSS_SELECTOR, "#pivot-grid .ag-row[row-index='0'] .ag-cell[col-id='pnl']")
    ActionChains(dash_duo.driver).double_click(cell).perform()
    dash_duo.wait_for_element(".pivot-drill-grid .ag-row", timeout=30)
    desk = rows(dash_duo)[0]["label"]
    # Read in one script: the infinite row model redraws rows as their page arrives.
    script = ("return Array.from(document.querySelectorAll(\".pivot-drill-grid .ag-cell[col-id='desk']\"))"
              ".map(c => c.innerText).filter(t => t)")
    until(lambda: dash_duo.driver.execute_script(script), timeout=30)
    texts = dash_duo.driver.execute_script(script)
    assert texts and all(t == desk for t in texts)
    assert dash_duo.get_logs() == []


def test_export_csv_matches_the_api_answer(dash_duo, pivot_app, tmp_path: Path) -> None:
    import csv
    import io

    from backend.pivot.export import screen_csv
    from backend.pivot.result import tree_rows
    from components.pivot_grid import metric_fields

    dash_duo.driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    open_pivot(dash_duo, pivot_app, "?rows=desk,asset_class&m=pnl,notional")
    dash_duo.find_element("#pivot-export").click()
    until(lambda: list(tmp_path.glob("*.csv")), timeout=30)
    got = list(csv.reader(io.StringIO(next(tmp_path.glob("*.csv")).read_text())))
    state = _state(dash_duo)
    answer = _api(pivot_app, state.to_request())
    fields = metric_fields(answer["metrics"], answer["columns"], answer["column_values"])
    want = list(csv.reader(io.StringIO(
        screen_csv(tree_rows(answer), answer["totals"], state.expansion, answer["dimensions"], fields))))
    assert got == want
    # Nothing is expanded: one line per desk, plus the header and the total.
    assert len(got) == 2 + len({r["desk"] for r in answer["rows"]})
    assert float(got[-1][-2]) == pytest.approx(answer["totals"]["pnl"])
    assert dash_duo.get_logs() == []


def test_charts_follow_the_view_and_a_bar_click_drills_in(dash_duo, pivot_app) -> None:
    open_pivot(dash_duo, pivot_app, "?rows=desk,symbol&m=pnl&view=chart")
    dash_duo.wait_for_element("#pivot-pnl-chart .bars path", timeout=30)
    bar = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#pivot-pnl-chart .bars path")[0]
    # Plotly's drag layer sits over the bars and turns a mouse click there into
    # plotly_click, so click where the bar is, as a user's mouse would.
    ActionChains(dash_duo.driver).move_to_element(bar).click().perform()
    until(lambda: "f.desk=" in dash_duo.driver.current_url, timeout=30)
    assert _state(dash_duo).rows == ("symbol",)
    assert dash_duo.get_logs() == []


def test_a_copied_link_restores_the_view_and_screenshots_in_each_mode(dash_duo, pivot_app) -> None:
    query = "?rows=desk,asset_class&cols=exposure_type&m=pnl&exposure=as_held&sort=-pnl&depth=1"
    open_pivot(dash_duo, pivot_app, query)
    first = rows(dash_duo)
    url = dash_duo.driver.current_url
    dash_duo.driver.get("about:blank")
    dash_duo.driver.get(url)
    until(lambda: rows(dash_duo) == first, timeout=60)
    headers = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#pivot-grid .ag-header-group-text')).map(e => e.innerText)")
    assert "Total" in headers and len(headers) >= 2
    SHOTS.mkdir(parents=True, exist_ok=True)
    dash_duo.find_element("#shell-theme-toggle").click()
    until(lambda: dash_duo.driver.execute_script(
        "return document.documentElement.getAttribute('data-db-theme')") == "dark", timeout=10)
    dash_duo.driver.save_screenshot(str(SHOTS / "pivot-dark.png"))
    dash_duo.driver.get(url + "&kiosk=1")
    until(lambda: len(rows(dash_duo)) > 0, timeout=60)
    dash_duo.driver.save_screenshot(str(SHOTS / "pivot-kiosk.png"))
    assert dash_duo.get_logs() == []


def test_a_saved_view_keeps_the_changes_made_in_the_page_and_restores_in_a_fresh_page(dash_duo, pivot_app) -> None:
    open_pivot(dash_duo, pivot_app, "?rows=desk,asset_class&m=pnl")
    dash_duo.find_element("#pivot-expand-all").click()  # a change the page writes with pushState
    until(lambda: "depth=" in dash_duo.driver.current_url, timeout=30)
    shown = rows(dash_duo)
    changed_url = dash_duo.driver.current_url
    name = dash_duo.find_element("[id*='\"part\":\"name\"']")
    name.send_keys("Desks expanded")
    dash_duo.find_element("[id*='\"part\":\"save\"']").click()
    until(lambda: "Saved" in dash_duo.find_element("[id*='\"part\":\"message\"']").text, timeout=30)

    # The view just saved is the one selected, and its link is shown, ready to copy.
    until(lambda: dash_duo.find_element("[id*='\"part\":\"select\"']").get_attribute("value") == "Desks expanded",
          timeout=20)
    until(lambda: dash_duo.find_element("[id*='\"part\":\"link\"']").get_attribute("value"), timeout=20)
    link = dash_duo.find_element("[id*='\"part\":\"link\"']").get_attribute("value")
    assert _state_of(link) == _state_of(changed_url)

    dash_duo.driver.get("about:blank")
    dash_duo.driver.get(link)

    def same_rows() -> bool:
        return [(r["id"], r["label"]) for r in rows(dash_duo)] == [(r["id"], r["label"]) for r in shown]

    until(same_rows, timeout=60)
    assert dash_duo.get_logs() == []


def _state_of(url: str):
    from urllib.parse import urlsplit

    from backend.pivot.view_state import parse_view

    return parse_view(urlsplit(url).query).state
