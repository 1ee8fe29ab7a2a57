"""The simulation pages in the browser, on the real S&P 500 demo history: the form runs an SMA
crossover and opens it (statistics, charts, trades paged from the server); a sweep draws its
heatmap and a click opens a cell's simulation; the list sorts by a statistic and compares two;
hostile form values are refused with the field named and nothing recorded — each ending with no
console errors."""

from __future__ import annotations

import json

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.keys import Keys

from backend.access.flags import FLAGS_KEY
from backend.measurements.frames import as_table
from backend.research.datasets import Bars
from backend.research.demo import demo_bars
from backend.research.runtime import EXTENSION_KEY, PAGES_FLAG
from backend.research.simulation_service import Simulations
from backend.research.simulation_views import format_stat
from backend.research.simulator.requests import SimulationRequest, SweepRequest, parse
from components.simulation_charts import thinned
from tests.ui.test_research import _choose, _path, minute_bars

NEW = "/research/simulations/new"


@pytest.fixture
def sim_app(deskboard_app):
    server = deskboard_app.server
    server.extensions[FLAGS_KEY].create(PAGES_FLAG, enabled=True, rollout=100, actor="test")
    server.extensions[EXTENSION_KEY].add("sp500", demo_bars("sp500"), created_by="test")
    return deskboard_app


def _simulations(app) -> Simulations:
    return Simulations(app.server.extensions[EXTENSION_KEY])


def _type(dash_duo, css: str, text: str) -> None:
    field = dash_duo.find_element(css)
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", field)
    field.send_keys(Keys.CONTROL, "a")  # (clear() does not reach React's state)
    field.send_keys(Keys.BACKSPACE)
    if text:
        field.send_keys(text)


def _field(name: str, kind: str = "field") -> str:
    return f"[id='{json.dumps({'name': name, 'type': f'research-new-{kind}'}, separators=(',', ':'))}']"


def _traces(dash_duo, graph: str) -> list:
    return dash_duo.driver.execute_script(
        f"const g = document.querySelector('#{graph} .js-plotly-plot');"
        "return g && g.data ? g.data.map(t => [t.type, t.name || '', (t.x || []).length]) : [];")


def _paging(dash_duo) -> str:
    return dash_duo.find_element("#research-sim-trades .ag-paging-row-summary-panel").text


def _run_form(dash_duo) -> None:
    dash_duo.find_element("#research-new-submit").click()


def test_the_form_runs_an_sma_crossover_and_its_page_shows_it(dash_duo, sim_app) -> None:
    dash_duo.start_server(sim_app)
    dash_duo.wait_for_page(dash_duo.server_url + NEW + "?dataset=sp500")
    dash_duo.wait_for_element(_field("fast"), timeout=20)
    _type(dash_duo, _field("fast"), "3")
    _type(dash_duo, _field("slow"), "10")
    _run_form(dash_duo)
    until(lambda: _path(dash_duo).startswith("/research/simulations/sp500_sim"), timeout=30)
    name = _path(dash_duo).rsplit("/", 1)[-1]
    record = _simulations(sim_app).get(name)
    assert record["request"]["strategy"] == {"kind": "sma_cross", "fast": 3, "slow": 10, "short": False}
    assert record["request"]["costs"]["fees"] == pytest.approx(0.0005)

    # the statistics, as recorded
    dash_duo.wait_for_contains_text(".research-sim-stats", "Sharpe ratio", timeout=20)
    stats = {row.find_elements("css selector", "td")[0].text: row.find_elements("css selector", "td")[1].text
             for row in dash_duo.find_elements(".research-sim-stats tbody tr")}
    assert stats["Sharpe ratio"] == format_stat("sharpe", record["stats"]["sharpe"])
    assert stats["Trades"] == format_stat("trades", record["stats"]["trades"])
    assert "Deflated Sharpe" in dash_duo.find_element(".research-sim-trace").text

    # the charts: equity, buy & hold and drawdown; price with entries and exits; months; rolling Sharpe
    bars = record["stats"]["bars"]
    until(lambda: [t[:2] for t in _traces(dash_duo, "research-sim-equity")] ==
          [["scatter", "strategy"], ["scatter", "buy & hold"], ["scatter", "drawdown %"]], timeout=30)
    # each curve through its slices' extremes: the rows thinning keeps, the same for all three
    kept = len(thinned(_simulations(sim_app).equity(name), ("equity", "benchmark", "drawdown_pct")))
    assert 0 < kept <= bars
    assert all(t[2] == kept for t in _traces(dash_duo, "research-sim-equity"))
    trades = _simulations(sim_app).trades(name)
    price = _traces(dash_duo, "research-sim-price")
    assert [t[1] for t in price] == ["close", "entry", "exit"]
    assert price[1][2] == len(trades) and price[2][2] == int((~trades["is_open"]).sum())
    until(lambda: _traces(dash_duo, "research-sim-monthly")[:1] == [["heatmap", "", 12]], timeout=20)
    assert 0 < _traces(dash_duo, "research-sim-rolling")[0][2] <= bars

    # the trades, a hundred to a page from the server
    assert len(trades) > 200
    until(lambda: _paging(dash_duo).replace("\n", " ").startswith("1 to 100 of"), timeout=30)
    assert f"{len(trades):,}" in _paging(dash_duo)
    next_page = dash_duo.find_element("#research-sim-trades .ag-paging-button[aria-label='Next Page']")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", next_page)
    next_page.click()
    until(lambda: _paging(dash_duo).replace("\n", " ").startswith("101 to 200 of"), timeout=30)
    first = trades.iloc[100]["entry_time"].isoformat()[:16].replace("T", " ")
    until(lambda: first in dash_duo.find_element("#research-sim-trades").text, timeout=20)
    links = [a.get_attribute("href") for a in dash_duo.find_elements(".research-sim-download")]
    assert any(h.endswith(f"/simulations/{name}/trades?format=csv") for h in links)
    assert dash_duo.get_logs() == []


def _cell_click(dash_duo, graph: str, column: int, row: int) -> None:
    """A click on one cell of a heatmap (categories: the j-th column, the i-th row), as mouse events
    at that cell's pixel: Plotly hovers the cell, then reports the click with its data."""
    dash_duo.driver.execute_script(
        f"const g = document.querySelector('#{graph} .js-plotly-plot'); const fl = g._fullLayout;"
        "const drag = g.querySelector('.nsewdrag'); const r = drag.getBoundingClientRect();"
        "const x = r.left + fl.xaxis.l2p(arguments[0]), y = r.top + fl.yaxis.l2p(arguments[1]);"
        "const at = {clientX: x, clientY: y, bubbles: true, cancelable: true, view: window};"
        "drag.dispatchEvent(new MouseEvent('mousemove', at));"
        "setTimeout(() => { drag.dispatchEvent(new MouseEvent('mousedown', at));"
        "  document.dispatchEvent(new MouseEvent('mouseup', at)); drag.dispatchEvent(new MouseEvent('click', at)); },"
        " 200);", column, row)


def test_a_sweep_draws_its_heatmap_and_a_cell_opens_its_simulation(dash_duo, sim_app) -> None:
    dash_duo.start_server(sim_app)
    dash_duo.wait_for_page(dash_duo.server_url + NEW + "?dataset=sp500")
    dash_duo.wait_for_element(_field("sweep", "toggle"), timeout=20)
    toggle = dash_duo.find_element(_field("sweep", "toggle"))
    dash_duo.driver.execute_script("arguments[0].click()", toggle)
    _run_form(dash_duo)  # fast 5..20 by 5 × slow 30..120 by 30: 16 cells
    until(lambda: _path(dash_duo).startswith("/research/simulations/sp500_sim"), timeout=30)
    name = _path(dash_duo).rsplit("/", 1)[-1]
    record = _simulations(sim_app).get(name)
    assert record["type"] == "sweep" and len(record["cells"]) == 16
    until(lambda: _traces(dash_duo, "research-sim-heatmap")[:1] == [["heatmap", "", 4]], timeout=30)
    best = dash_duo.find_element(".research-sim-best").text
    assert "Trials" in best and "Probabilistic Sharpe ratio" in best

    _choose(dash_duo, "#research-sim-stat", "Return %")
    until(lambda: "stat=return_pct" in _path(dash_duo), timeout=20)
    z = dash_duo.driver.execute_script(
        "return document.querySelector('#research-sim-heatmap .js-plotly-plot').data[0].z")
    cell = next(c for c in record["cells"] if c["x"] == 10 and c["y"] == 60)
    assert z[1][1] == pytest.approx(cell["stats"]["return_pct"])

    _cell_click(dash_duo, "research-sim-heatmap", 1, 1)  # fast 10, slow 60
    until(lambda: not _path(dash_duo).startswith(f"/research/simulations/{name}"), timeout=30)
    opened = _path(dash_duo).rsplit("/", 1)[-1]
    assert _simulations(sim_app).get(opened)["request"]["strategy"]["fast"] == 10
    assert _simulations(sim_app).get(opened)["request"]["strategy"]["slow"] == 60
    dash_duo.wait_for_contains_text(".research-sim-trace", name, timeout=20)  # "From the sweep"
    until(lambda: len(_traces(dash_duo, "research-sim-equity")) == 3, timeout=30)
    assert dash_duo.get_logs() == []


def test_the_list_sorts_by_a_statistic_and_compares_two(dash_duo, sim_app) -> None:
    simulations = _simulations(sim_app)
    names = [simulations.run(parse(SimulationRequest, {"dataset": "sp500", "strategy": {
        "kind": "sma_cross", "fast": fast, "slow": slow}})).name for fast, slow in ((10, 50), (20, 100), (5, 30))]
    sweep = simulations.sweep(parse(SweepRequest, {"dataset": "sp500", "strategy": {"kind": "sma_cross"}, "grid": {
        "x": {"param": "fast", "values": [5, 10]}}}))["name"]
    dash_duo.start_server(sim_app)
    dash_duo.wait_for_page(dash_duo.server_url + "/research/simulations")
    dash_duo.wait_for_element("#research-sims-grid .ag-header-cell", timeout=20)

    def shown() -> list[str]:
        return dash_duo.driver.execute_script(
            "const api = dash_ag_grid.getApi('research-sims-grid'); const out = [];"
            "api.forEachNodeAfterFilterAndSort(n => out.push(n.data.name)); return out;")

    until(lambda: len(shown()) == 4, timeout=20)
    # the grid draws only the columns in view: bring the Sharpe column there, then click its header
    dash_duo.driver.execute_script("dash_ag_grid.getApi('research-sims-grid').ensureColumnVisible('sharpe')")
    dash_duo.wait_for_element("#research-sims-grid .ag-header-cell[col-id='sharpe']", timeout=10)
    header = dash_duo.find_element("#research-sims-grid .ag-header-cell[col-id='sharpe'] .ag-header-cell-label")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'center'})", header)
    header.click()
    by_sharpe = [r["name"] for r in sorted(simulations.summaries(), key=lambda r: r["sharpe"])]
    until(lambda: shown() == by_sharpe, timeout=10)
    # the quick search keeps its words in the address
    _type(dash_duo, "#research-sims-search", sweep)
    until(lambda: shown() == [sweep], timeout=10)
    until(lambda: f"q={sweep}" in _path(dash_duo), timeout=10)
    _type(dash_duo, "#research-sims-search", "")
    until(lambda: len(shown()) == 4, timeout=10)

    dash_duo.find_element("#research-sims-compare").click()
    dash_duo.wait_for_contains_text("#research-sims-notices", "Tick 2 to 5 rows", timeout=10)
    dash_duo.driver.execute_script(
        "const api = dash_ag_grid.getApi('research-sims-grid');"
        "api.forEachNode(n => n.setSelected(arguments[0].includes(n.data.name)));", names[:2])
    until(lambda: dash_duo.driver.execute_script(
        "return dash_ag_grid.getApi('research-sims-grid').getSelectedRows().length") == 2, timeout=10)
    dash_duo.find_element("#research-sims-compare").click()
    until(lambda: _path(dash_duo).startswith("/research/simulations/compare?names="), timeout=20)
    assert sorted(_path(dash_duo).split("=", 1)[1].split(",")) == sorted(names[:2])
    until(lambda: len(_traces(dash_duo, "research-compare-chart")) == 2, timeout=20)
    table = dash_duo.find_element(".research-compare-table").text
    assert "Sharpe ratio" in table and names[0] in table and names[1] in table
    best = dash_duo.find_elements(".research-compare-best")
    assert best  # the better side of each row is marked
    sharpes = {n: simulations.get(n)["stats"]["sharpe"] for n in names[:2]}
    row = next(r for r in dash_duo.find_elements(".research-compare-table tbody tr") if r.text.startswith("Sharpe ratio "))
    marked = row.find_elements("css selector", ".research-compare-best")
    assert [m.text for m in marked] == [format_stat("sharpe", max(sharpes.values()))]
    # a name that is not a simulation says so; "new" and "compare" are pages, not names
    dash_duo.wait_for_page(dash_duo.server_url + "/research/simulations/compare?names=" + names[0] + ",nope")
    dash_duo.wait_for_contains_text(".research-page", "There is no simulation 'nope'", timeout=20)
    dash_duo.wait_for_page(dash_duo.server_url + "/research/simulations/nope_sim9")
    dash_duo.wait_for_contains_text(".research-page", "There is no simulation 'nope_sim9'", timeout=20)
    assert dash_duo.get_logs() == []


@pytest.mark.parametrize(("fields", "said"), [
    ({"fast": "60", "slow": "50"}, "Strategy: fast (60) must be shorter than slow (50)"),
    ({"fees": "-0.01"}, "Fees: Input should be greater than or equal to 0"),
    ({"fast": ""}, "Fast SMA: give a number"),
])
def test_hostile_form_values_are_named_and_nothing_is_recorded(dash_duo, sim_app, fields, said) -> None:
    dash_duo.start_server(sim_app)
    dash_duo.wait_for_page(dash_duo.server_url + NEW + "?dataset=sp500")
    dash_duo.wait_for_element(_field("fast"), timeout=20)
    for name, value in fields.items():
        _type(dash_duo, _field(name), value)
    _run_form(dash_duo)
    dash_duo.wait_for_contains_text("#research-new-errors", said, timeout=20)
    assert "Nothing was run" in dash_duo.find_element("#research-new-errors").text
    assert _path(dash_duo).startswith(NEW)
    assert _simulations(sim_app).summaries() == []
    assert dash_duo.get_logs() == []


def test_letters_in_a_number_and_an_unknown_symbol_are_refused(dash_duo, sim_app) -> None:
    frames = []
    for symbol in ("AAA", "BBB"):
        one = minute_bars(300, seed=len(frames))
        one.insert(1, "symbol", symbol)
        frames.append(one)
    import pandas as pd

    panel = pd.concat(frames).sort_values(["timestamp", "symbol"], kind="stable").reset_index(drop=True)
    sim_app.server.extensions[EXTENSION_KEY].add("panel", Bars(as_table(panel), "UTC", ("AAA", "BBB")))
    dash_duo.start_server(sim_app)
    dash_duo.wait_for_page(dash_duo.server_url + NEW + "?dataset=panel&symbol=NOPE")
    dash_duo.wait_for_contains_text(".research-new-page", "panel has no symbol 'NOPE'", timeout=20)
    _run_form(dash_duo)  # no symbol is chosen for it
    dash_duo.wait_for_contains_text("#research-new-errors", "Symbol: panel holds 2 symbols; choose one", timeout=20)
    # letters typed into a number field never reach the request as a number
    _type(dash_duo, _field("slow"), "abc")
    _run_form(dash_duo)
    dash_duo.wait_for_contains_text("#research-new-errors", "Slow SMA: give a number", timeout=20)
    assert _simulations(sim_app).summaries() == []
    assert dash_duo.get_logs() == []
