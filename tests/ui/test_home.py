"""The overview page in the browser: figures against DuckDB over the fixture
Parquet, and every contributor link carrying its filter into the pivot page."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import duckdb
import pytest
from dash.testing.wait import until


def _duck(trades_folder: Path, sql: str) -> list[tuple]:
    files = str(trades_folder / "trades_1d" / "*.parquet")
    con = duckdb.connect()
    try:
        con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{files}') "
                    "WHERE exposure_type IN ('Direct', 'ETF', 'ETC')")
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _by_id(dash_duo, id_: dict) -> list:
    # Dash renders a dict id as its sorted, compact JSON.
    key = json.dumps(id_, sort_keys=True, separators=(",", ":"))
    found = dash_duo.driver.execute_script("return document.getElementById(arguments[0]);", key)
    return [found] if found is not None else []


def test_overview_figures_and_links_match_the_data(dash_duo, deskboard_app, trades_folder: Path) -> None:
    [(latest,)] = _duck(trades_folder, "SELECT max(trade_date) FROM t")
    [(pnl, gross, net)] = _duck(trades_folder, f"SELECT sum(pnl), sum(abs(notional)), sum(notional) "
                                               f"FROM t WHERE trade_date = DATE '{latest}'")
    dash_duo.start_server(deskboard_app)
    dash_duo.wait_for_element("#overview-date", timeout=30)
    assert dash_duo.find_element("#overview-date").get_attribute("data-date") == latest.isoformat()

    for name, expected in (("pnl", pnl), ("gross_exposure", gross), ("net_exposure", net)):
        [figure] = _by_id(dash_duo, {"type": "overview-figure", "name": name})
        assert float(figure.get_attribute("data-value")) == pytest.approx(expected, rel=1e-9)
        assert figure.text.startswith(("$", "-$", "+$"))

    for dimension in ("symbol", "portfolio_manager_id"):
        ranked = [r[0] for r in _duck(trades_folder, f"SELECT {dimension}, sum(pnl) p FROM t "
                                                     f"WHERE trade_date = DATE '{latest}' GROUP BY 1 ORDER BY p DESC")]
        for side, expected_order in (("top", ranked[:5]), ("bottom", ranked[::-1][:5])):
            shown = []
            for rank in range(1, 6):
                [link] = _by_id(dash_duo, {"type": "overview-contributor", "dimension": dimension,
                                           "side": side, "rank": rank})
                query = parse_qs(urlsplit(link.get_attribute("href")).query)
                assert urlsplit(link.get_attribute("href")).path == "/pivot"
                assert query[f"f.{dimension}"] == [link.text]
                assert query["date"] == [latest.isoformat()]
                shown.append(link.text)
            assert shown == expected_order

    # Following a link opens the pivot filtered on that contributor.
    [first] = _by_id(dash_duo, {"type": "overview-contributor", "dimension": "symbol", "side": "top", "rank": 1})
    symbol = first.text
    first.click()
    until(lambda: urlsplit(dash_duo.driver.current_url).path == "/pivot", 20)
    assert parse_qs(urlsplit(dash_duo.driver.current_url).query)["f.symbol"] == [symbol]
    assert dash_duo.get_logs() == []


def test_overview_is_listed_first_and_served_at_the_root(dash_duo, deskboard_app) -> None:
    dash_duo.start_server(deskboard_app)
    dash_duo.wait_for_element("#overview-date", timeout=30)
    first_link = dash_duo.find_elements(".shell-nav-link")[0]
    assert first_link.text == "Overview"
    assert urlsplit(first_link.get_attribute("href")).path == "/"
    assert dash_duo.get_logs() == []
