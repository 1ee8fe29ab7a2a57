"""What the /pivot browser tests share: fixtures, readers of the grid, and the pivot API as a
reference (numbers on screen are checked against DuckDB over the generator's Parquet files)."""

from __future__ import annotations

import html
from urllib.parse import urlsplit

import duckdb
from dash.testing.wait import until

HELD = "exposure_type IN ('Direct', 'ETF', 'ETC')"


def latest(duck: duckdb.DuckDBPyConnection) -> str:
    return str(duck.execute("SELECT max(trade_date) FROM trades").fetchone()[0])


def rows(dash_duo) -> list[dict]:
    """Grid rows in display order: id, label, name beside it, class (read by row-index: AG Grid keeps DOM order)."""
    script = """
      const out = [];
      document.querySelectorAll('#pivot-grid .ag-pinned-left-cols-container .ag-row').forEach(r => {
        const n = r.querySelector('.pivot-tree-name');
        out.push({i: +r.getAttribute('row-index'), id: r.getAttribute('row-id'), name: n ? n.innerText.trim() : null,
                  label: (n ? r.innerText.replace(n.innerText, '') : r.innerText).trim(), cls: r.className});
      });
      return out.sort((a, b) => a.i - b.i);
    """
    found = dash_duo.driver.execute_script(script)
    # AG Grid escapes the row id it writes into the row-id attribute.
    for row in found:
        row["id"] = html.unescape(row["id"] or "")
    return found


def cell_texts(dash_duo, col_id: str) -> list[str]:
    return dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll(\"#pivot-grid .ag-center-cols-container .ag-row\"))"
        ".sort((a, b) => a.getAttribute('row-index') - b.getAttribute('row-index'))"
        f".map(r => (r.querySelector(\"[col-id='{col_id}']\") || {{}}).innerText || '')")


def total_text(dash_duo, col_id: str) -> str:
    return dash_duo.driver.execute_script(
        f"const c = document.querySelector(\"#pivot-grid .ag-floating-bottom [col-id='{col_id}']\");"
        "return c ? c.innerText : null;")


def number(text: str) -> float:
    return float(text.replace(",", "").replace("%", ""))


def open_pivot(dash_duo, app, query: str = "", *, started: bool = False) -> None:
    if not started:
        dash_duo.start_server(app)
    dash_duo.driver.get(dash_duo.server_url + "/pivot" + query)
    until(lambda: len(rows(dash_duo)) > 0, timeout=90)


def view_state(dash_duo):
    from backend.pivot.view_state import parse_view

    return parse_view(urlsplit(dash_duo.driver.current_url).query).state


def api(app, body: dict) -> dict:
    with app.server.test_client() as client:
        reply = client.post("/api/v1/pivot", json=body)
    assert reply.status_code == 200, reply.json
    return reply.json
