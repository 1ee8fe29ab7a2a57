"""/board on the live simulator with /market open in another tab: every column fits at 1366 and 1920 px,
the kiosk wall shows every cell of every row uncut, and the VN colours keep WCAG contrast on screen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.by import By

from backend.market.reference import VN30_SYMBOLS
from backend.warehouse import Warehouse
from tests.ui import board_support
from tests.ui.board_support import FUTURES, cell_text, open_board, row_order, tone_colours

# A classic (non-overlay) vertical scrollbar, as on Windows; headless Chromium draws none.
SCROLLBAR_PX = 17
# A folder to save what the layout tests see (DESKBOARD_TEST_SCREENS=/some/dir), for a look by eye.
SCREENS = os.environ.get("DESKBOARD_TEST_SCREENS")

MEASURE = """
const grid = document.querySelector('#board-grid');
const api = dash_ag_grid.getApi('board-grid');
const body = grid.querySelector('.ag-body-horizontal-scroll-viewport');
const center = grid.querySelector('.ag-center-cols-viewport');
const pinned = grid.querySelector('.ag-pinned-left-cols-container');
const cut = Array.from(grid.querySelectorAll('.ag-cell')).filter(c => c.scrollWidth > c.clientWidth + 0.5)
  .map(c => c.closest('[row-id]').getAttribute('row-id') + '/' + c.getAttribute('col-id') + ': ' + c.textContent);
const cols = api.getColumns().filter(c => c.isVisible());
return {
  scroll: [body.scrollWidth, body.clientWidth], center: center.clientWidth,
  minWidths: cols.filter(c => !c.isPinned()).reduce((a, c) => a + c.getMinWidth(), 0),
  pinned: pinned.getBoundingClientRect().width,
  cut: cut, cells: grid.querySelectorAll('.ag-cell').length, columns: cols.length,
  gridRight: grid.getBoundingClientRect().right, page: [document.documentElement.scrollWidth, window.innerWidth],
};
"""


@pytest.fixture
def simulated_market(tmp_path: Path, warehouse_url: str, fresh_warehouse: Warehouse):
    with board_support.simulated_market(tmp_path, warehouse_url, fresh_warehouse) as market:
        yield market


def _wait_for_the_market(dash_duo, market) -> None:
    until(lambda: (cell_text(dash_duo, "ACB", "total_vol") or "") not in ("",), timeout=30)
    until(lambda: len(row_order(dash_duo)) == len(VN30_SYMBOLS) + 1, timeout=20)  # the basket and its futures


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (1920, 1080)])
def test_every_column_is_visible_without_horizontal_scrolling(dash_duo, simulated_market, width, height) -> None:
    open_board(dash_duo, simulated_market, width=width, height=height)
    _wait_for_the_market(dash_duo, simulated_market)
    m = dash_duo.driver.execute_script(MEASURE)
    assert m["columns"] == 28
    assert m["scroll"][0] <= m["scroll"][1], m  # no horizontal scrolling in the grid
    assert m["page"][0] <= m["page"][1], m  # nor on the page
    assert m["gridRight"] <= width
    # Still true with a classic scrollbar taking its width from the grid body.
    assert m["minWidths"] + SCROLLBAR_PX <= m["center"], m
    assert m["cut"] == [], m["cut"][:10]  # every number fits its cell
    assert dash_duo.find_element("#board-source").text == "Simulated market"
    assert dash_duo.get_logs() == []


def _contrast(dash_duo) -> dict[str, float]:
    """Lowest on-screen contrast ratio of each VN colour against the background behind its cells."""
    found = dash_duo.driver.execute_script("""
      function rgb(s) { const m = s.match(/[\\d.]+/g).map(Number); return m.length > 3 ? m : m.concat([1]); }
      function back(el) {
        for (let e = el; e; e = e.parentElement) {
          const c = rgb(getComputedStyle(e).backgroundColor);
          if (c[3] > 0.99) return c;
        }
        return [255, 255, 255, 1];
      }
      const out = [];
      document.querySelectorAll('#board-grid .ag-cell').forEach(el => {
        if (el.classList.contains('ag-cell-data-changed')) return;  // mid-flash: a tint, checked in base.css
        out.push([getComputedStyle(el).color, back(el)]);
      });
      return out;""")
    tones = {v: k for k, v in tone_colours(dash_duo).items()}
    found = [(tones[fg], [int(x) for x in fg[4:-1].split(",")], bg) for fg, bg in found if fg in tones]
    def lum(c: list[float]) -> float:
        channels = [v / 255 for v in c[:3]]
        lin = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    lowest: dict[str, float] = {}
    for tone, fg, bg in found:
        hi, lo = sorted((lum(fg), lum(bg)), reverse=True)
        ratio = (hi + 0.05) / (lo + 0.05)
        lowest[tone] = min(lowest.get(tone, 99.0), ratio)
    return lowest


def test_light_mode_reference_and_floor_colours_meet_wcag_contrast_on_screen(dash_duo, simulated_market) -> None:
    open_board(dash_duo, simulated_market)
    _wait_for_the_market(dash_duo, simulated_market)
    assert dash_duo.driver.execute_script(
        "return document.documentElement.getAttribute('data-mantine-color-scheme')") == "light"
    ratios = _contrast(dash_duo)
    assert {"ref", "ceiling", "floor"} <= set(ratios), ratios  # every row has those three cells
    assert all(r >= 4.5 for r in ratios.values()), ratios
    assert dash_duo.get_logs() == []


@pytest.mark.parametrize(("width", "height", "type_px"), [(1920, 1080, 18), (1366, 768, 12)])
def test_the_kiosk_wall_shows_every_cell_of_every_row(dash_duo, simulated_market, width, height, type_px) -> None:
    open_board(dash_duo, simulated_market, "?kiosk=1", width=width, height=height)
    _wait_for_the_market(dash_duo, simulated_market)
    if SCREENS:
        dash_duo.driver.save_screenshot(str(Path(SCREENS) / f"board-kiosk-{width}.png"))
    m = dash_duo.driver.execute_script(MEASURE)
    rows = len(VN30_SYMBOLS) + 1
    assert m["cells"] == rows * m["columns"], m  # every row drawn (no virtual scrolling on the wall)
    assert m["scroll"][0] <= m["scroll"][1] and m["page"][0] <= m["page"][1], m
    assert m["cut"] == [], m["cut"][:10]
    # The last row ends on the screen and nothing scrolls vertically either.
    bottom, height, page = dash_duo.driver.execute_script(
        "const rows = Array.from(document.querySelectorAll('#board-grid .ag-center-cols-container [row-id]'));"
        "return [Math.max(...rows.map(r => r.getBoundingClientRect().bottom)), window.innerHeight,"
        " document.documentElement.scrollHeight];")
    assert bottom <= height and page <= height, (bottom, height, page)
    assert m["page"][0] <= width, m  # nothing to the right of the screen either
    assert row_order(dash_duo)[0] == FUTURES
    # Type as large as the screen allows, dark, nothing to type into or click.
    size = dash_duo.driver.execute_script(
        "return parseFloat(getComputedStyle(document.querySelector('#board-grid .ag-cell')).fontSize)")
    assert size >= type_px
    assert dash_duo.driver.execute_script(
        "return document.documentElement.getAttribute('data-mantine-color-scheme')") == "dark"
    shown = [e for e in dash_duo.driver.find_elements(By.CSS_SELECTOR, "input, select, textarea, button")
             if e.is_displayed()]
    assert shown == [], [e.get_attribute("outerHTML")[:80] for e in shown]
    assert all(r >= 4.5 for r in _contrast(dash_duo).values())
    assert dash_duo.get_logs() == []
