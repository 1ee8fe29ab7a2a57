"""The walk-forward pages in the browser, on a small random-walk dataset: the form queues a run,
the queue shows it complete, its page shows the folds on a timeline and the leakage audit;
hostile form values are named and queue nothing; the run browser serves ten thousand runs from
the server, sorted, filtered and searched there, and two runs compare — each ending with no
console errors."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from dash.testing.wait import until
from selenium.webdriver.common.keys import Keys
from sqlalchemy import insert

from backend.access.flags import FLAGS_KEY
from backend.measurements.frames import as_table
from backend.meta.models import MeasurementRecord
from backend.research.datasets import Bars
from backend.research.run_views import summary_frame
from backend.research.runtime import EXTENSION_KEY, PAGES_FLAG
from backend.research.walkforward.service import Runs
from tests.backend.research.walkforward.conftest import market
from tests.ui.test_research import _choose, _path

NEW = "/research/new"
SHOTS = os.environ.get("DESKBOARD_SHOTS")  # a folder for each page's picture at 1366 px, to look at
REQUEST = {"dataset": "walk", "features": ["ret1", "ret5"], "target": {"kind": "return", "horizon": 1},
           "model": {"kind": "ridge", "alpha": 1.0}, "folds": {"train": 200, "validation": 60, "test": 60},
           "seed": 1, "threads": 1}


@pytest.fixture
def runs_app(deskboard_app):
    server = deskboard_app.server
    server.extensions[FLAGS_KEY].create(PAGES_FLAG, enabled=True, rollout=100, actor="test")
    server.extensions[EXTENSION_KEY].add("walk", Bars(as_table(market(600)), "UTC"), created_by="test")
    return deskboard_app


def _runs(app) -> Runs:
    return Runs(app.server.extensions[EXTENSION_KEY])


def _jobs(app) -> list:
    from backend.jobs.runtime import jobs_of

    return jobs_of(app.server).list()


def _field(name: str, kind: str = "field") -> str:
    return f"[id='{json.dumps({'name': name, 'type': f'research-run-new-{kind}'}, separators=(',', ':'))}']"


def _type(dash_duo, css: str, text: str) -> None:
    field = dash_duo.find_element(css)
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", field)
    field.send_keys(Keys.CONTROL, "a")  # (clear() does not reach React's state)
    field.send_keys(Keys.BACKSPACE)
    if text:
        field.send_keys(text)


def _traces(dash_duo, graph: str) -> list:
    return dash_duo.driver.execute_script(
        f"const g = document.querySelector('#{graph} .js-plotly-plot');"
        "return g && g.data ? g.data.map(t => [t.type, t.name || '', (t.y || t.dimensions || []).length]) : [];")


def _shot(dash_duo, name: str) -> None:
    if SHOTS:
        dash_duo.driver.set_window_size(1366, 1000)
        dash_duo.driver.save_screenshot(f"{SHOTS}/{name}.png")


def test_the_form_queues_a_run_the_queue_completes_it_and_its_page_shows_folds_and_audit(dash_duo, runs_app):
    dash_duo.start_server(runs_app)
    dash_duo.wait_for_page(dash_duo.server_url + NEW + "?dataset=walk")
    dash_duo.wait_for_element(_field("features"), timeout=20)
    _choose(dash_duo, _field("features"), "ret1")
    _choose(dash_duo, _field("features"), "ret5")
    dash_duo.find_element("body").send_keys(Keys.ESCAPE)
    _type(dash_duo, _field("train"), "200")
    _shot(dash_duo, "new")
    dash_duo.find_element("#research-run-new-submit").click()
    until(lambda: len(_jobs(runs_app)) == 1, timeout=20)
    job = _jobs(runs_app)[0]
    assert job.kind == "walkforward" and job.parameters["request"]["features"] == ["ret1", "ret5"]
    assert job.parameters["request"]["folds"]["train"] == 200

    dash_duo.wait_for_page(dash_duo.server_url + "/research/jobs")
    row = f"tr[data-job='{job.id}']"
    # (the rows are drawn afresh every second while the job runs: read them in the page, not by handle)
    until(lambda: dash_duo.driver.execute_script(
        "const r = document.querySelector(arguments[0]); return r && r.dataset.state;", row) == "COMPLETED",
        timeout=60)
    until(lambda: "completed" in dash_duo.find_element(row + " .research-jobs-state").text.lower(), timeout=10)
    _shot(dash_duo, "jobs")
    name = _runs(runs_app).summaries()[0]["name"]
    link = dash_duo.find_element(f"tr[data-job='{job.id}'] .research-jobs-result")
    assert link.text == name
    link.click()
    until(lambda: _path(dash_duo) == f"/research/runs/{name}", timeout=20)
    record = _runs(runs_app).get(name)
    dash_duo.wait_for_contains_text(".research-run-audit", "Leakage audit passed", timeout=20)
    # the timeline: a trace per band kind, a bar per fold (two purges each)
    folds = len(record["folds"])
    until(lambda: [t[1] for t in _traces(dash_duo, "research-run-timeline")] ==
          ["train", "purge", "validation", "test"], timeout=30)
    assert [t[2] for t in _traces(dash_duo, "research-run-timeline")] == [folds, 2 * folds, folds, folds]
    assert len(dash_duo.find_elements(".research-run-metrics-table tbody tr")) == folds + 1
    assert len(dash_duo.find_elements(".research-run-thresholds tbody tr")) == folds
    until(lambda: _traces(dash_duo, "research-run-equity")[:1] == [["scatter", name, record["summary"]["test_bars"]]],
          timeout=20)
    _shot(dash_duo, "run")
    links = [a.get_attribute("href") for a in dash_duo.find_elements(".research-run-download")]
    assert [h.rsplit("/", 2)[-2:] for h in links] == [[name, f"predictions?format={f}"]
                                                      for f in ("csv", "parquet", "arrow")]
    status = dash_duo.driver.execute_async_script(
        "const done = arguments[arguments.length - 1]; fetch(arguments[0]).then(r => done(r.status));", links[0])
    assert status == 200
    dash_duo.driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    _shot(dash_duo, "run-lower")
    # "re-run with changes" fills the form from the run's request
    dash_duo.driver.execute_script("window.scrollTo(0, 0)")
    dash_duo.find_element(".research-run-rerun").click()
    until(lambda: _path(dash_duo) == f"{NEW}?from={name}", timeout=20)
    dash_duo.wait_for_contains_text("h2", f"Re-run {name} with changes", timeout=20)
    assert dash_duo.find_element(_field("train")).get_attribute("value") == "200"
    assert dash_duo.get_logs() == []


def test_combinatorial_folds_from_the_form_and_a_run_page_with_one_curve_per_path(dash_duo, runs_app):
    cpcv = {**REQUEST, "folds": {"validation": 40, "mode": "combinatorial", "groups": 5, "test_groups": 2}}
    name = _runs(runs_app).run(cpcv).name
    dash_duo.start_server(runs_app)
    dash_duo.wait_for_page(dash_duo.server_url + NEW + "?dataset=walk")
    dash_duo.wait_for_element(_field("features"), timeout=20)
    _choose(dash_duo, _field("features"), "ret1")
    dash_duo.find_element("body").send_keys(Keys.ESCAPE)
    assert dash_duo.find_element(_field("groups")).get_attribute("disabled") is not None
    _choose(dash_duo, _field("mode"), "combinatorial purged CV")
    until(lambda: dash_duo.find_element(_field("train")).get_attribute("disabled") is not None, timeout=10)
    assert dash_duo.find_element(_field("groups")).get_attribute("disabled") is None
    _type(dash_duo, _field("test_groups"), "9")  # more test groups than groups: said by the field
    dash_duo.find_element("#research-run-new-submit").click()
    dash_duo.wait_for_contains_text("#research-run-new-errors", "Test groups: 9 is outside [2, 5]", timeout=20)
    assert len(_jobs(runs_app)) == 0
    _type(dash_duo, _field("test_groups"), "3")
    dash_duo.find_element("#research-run-new-submit").click()
    until(lambda: len(_jobs(runs_app)) == 1, timeout=20)
    folds = _jobs(runs_app)[0].parameters["request"]["folds"]
    assert (folds["mode"], folds["groups"], folds["test_groups"], folds.get("train"), folds.get("test")) == \
        ("combinatorial", 6, 3, None, None)

    dash_duo.wait_for_page(dash_duo.server_url + f"/research/runs/{name}")
    dash_duo.wait_for_contains_text(".research-run-audit", "Leakage audit passed", timeout=20)
    record = _runs(runs_app).get(name)
    assert len(record["folds"]) == 20
    # four backtest paths over all 600 bars, each its own curve
    until(lambda: [t[1:] for t in _traces(dash_duo, "research-run-equity")] ==
          [[f"{name} · path {p}", 600] for p in range(4)], timeout=30)
    # training on both sides of a test group: more train bars than folds on the timeline, no purge bars
    until(lambda: "train" in [t[1] for t in _traces(dash_duo, "research-run-timeline")], timeout=30)
    traces = {t[1]: t[2] for t in _traces(dash_duo, "research-run-timeline")}
    assert traces["train"] > 20 and traces["test"] == 20 and "purge" not in traces
    _shot(dash_duo, "run-cpcv")
    assert dash_duo.get_logs() == []


@pytest.mark.parametrize(("fields", "said"), [
    ({"train": "-5"}, "Train bars: Input should be greater than or equal to 1"),
    ({"purge": "0", "horizon": "5"}, "Purge bars: 0 bars is below the label horizon of 5 bars"),
    ({"train": "5000"}, "Folds: 600 bars hold no fold"),
])
def test_hostile_form_values_are_named_and_nothing_is_queued(dash_duo, runs_app, fields, said) -> None:
    dash_duo.start_server(runs_app)
    dash_duo.wait_for_page(dash_duo.server_url + NEW + "?dataset=walk")
    dash_duo.wait_for_element(_field("features"), timeout=20)
    _choose(dash_duo, _field("features"), "ret1")
    dash_duo.find_element("body").send_keys(Keys.ESCAPE)
    for name, value in fields.items():
        _type(dash_duo, _field(name), value)
    dash_duo.find_element("#research-run-new-submit").click()
    dash_duo.wait_for_contains_text("#research-run-new-errors", said, timeout=20)
    assert "Nothing was queued" in dash_duo.find_element("#research-run-new-errors").text
    # the message sits by its field too
    first = next(iter(fields))
    box = dash_duo.find_element(_field(first)).find_element("xpath", "ancestor::div[contains(@class, 'mantine-InputWrapper-root')]")
    assert said.split(": ", 1)[1][:20] in box.text
    assert _jobs(runs_app) == [] and _runs(runs_app).summaries() == []
    _shot(dash_duo, "new-errors")
    assert dash_duo.get_logs() == []


def seed_summaries(app, n: int) -> pd.DataFrame:
    """``n`` runs' summaries written straight into the records store (no predictions behind them:
    the browser reads only the summaries)."""
    rng = np.random.default_rng(5)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(n):
        summary = {"dataset": "fake", "symbol": None, "model": "lightgbm_regressor", "target": "return 5",
                   "folds": 6, "seed": int(i % 7), "features": 12, "audit": ["passed", "flagged"][i % 9 == 0],
                   **{f"param.p{k:02d}": float(rng.uniform(0, 1)) for k in range(40)},
                   **{f"metric.m{k:02d}": float(rng.normal()) for k in range(45)},
                   "metric.sharpe": float(rng.normal()), "metric.ic": float(rng.normal(0, 0.05))}
        rows.append({"name": f"fake_run{i + 1}", "base": "fake", "kind": "run", "number": i + 1, "store": "parquet",
                     "created_by": "seed", "created_at": start + timedelta(minutes=i), "inputs": {},
                     "summary": summary})
    meta = app.server.extensions[EXTENSION_KEY].records.meta
    with meta.write() as conn:
        conn.execute(insert(MeasurementRecord.__table__), rows)
    return summary_frame(_runs(app).summaries())


def _grid_rows(dash_duo) -> list[str]:
    return dash_duo.driver.execute_script(
        "const api = dash_ag_grid.getApi('research-runs-grid'); const out = [];"
        "for (let i = 0; i < 5; i++) { const n = api.getDisplayedRowAtIndex(i); if (n && n.data) out.push(n.data.name); }"
        "return out;")


def _row_count(dash_duo) -> int:
    return dash_duo.driver.execute_script("return dash_ag_grid.getApi('research-runs-grid').getDisplayedRowCount()")


@pytest.mark.slow  # ten thousand records written and read back: about 20 s
def test_the_browser_sorts_filters_and_searches_ten_thousand_runs_on_the_server_and_compares_two(dash_duo, runs_app):
    runs = _runs(runs_app)
    real = [runs.run({**REQUEST, "model": {"kind": "ridge", "alpha": alpha}}).name for alpha in (0.5, 50.0)]
    frame = seed_summaries(runs_app, 10_000)
    assert len(frame) == 10_002 and len(frame.columns) > 95
    dash_duo.start_server(runs_app)
    dash_duo.wait_for_page(dash_duo.server_url + "/research/runs?hide=param.p03")
    dash_duo.wait_for_element("#research-runs-grid .ag-header-cell", timeout=20)
    # newest first, served a block at a time
    newest = frame.sort_values("created_at", ascending=False)["name"].head(5).tolist()
    until(lambda: _grid_rows(dash_duo) == newest, timeout=30)
    assert _row_count(dash_duo) <= 10_002
    assert dash_duo.driver.execute_script(
        "return dash_ag_grid.getApi('research-runs-grid').getColumn('param.p03').isVisible()") is False
    _shot(dash_duo, "runs")
    # hiding one more column keeps it in the address
    _choose(dash_duo, "#research-runs-columns", "metric.m00")
    until(lambda: "hide=metric.m00%2Cparam.p03" in _path(dash_duo) or "hide=param.p03%2Cmetric.m00" in _path(dash_duo),
          timeout=10)
    assert dash_duo.driver.execute_script(
        "return dash_ag_grid.getApi('research-runs-grid').getColumn('metric.m00').isVisible()") is False
    dash_duo.find_element("body").send_keys(Keys.ESCAPE)

    # sort by a metric's header: the server sorts
    dash_duo.driver.execute_script("dash_ag_grid.getApi('research-runs-grid').ensureColumnVisible('metric.sharpe')")
    header = dash_duo.wait_for_element("#research-runs-grid .ag-header-cell[col-id='metric.sharpe'] "
                                       ".ag-header-cell-label", timeout=10)
    header.click()
    by_sharpe = frame.sort_values("metric.sharpe", kind="stable")["name"].head(5).tolist()
    until(lambda: _grid_rows(dash_duo) == by_sharpe, timeout=30)

    # a number filter on a metric: the server filters, and the count is pandas'
    dash_duo.driver.execute_script(
        "dash_ag_grid.getApi('research-runs-grid').setFilterModel({'metric.ic': "
        "{filterType: 'number', type: 'greaterThan', filter: 0.1}})")
    kept = frame[frame["metric.ic"] > 0.1].sort_values("metric.sharpe", kind="stable")
    until(lambda: _grid_rows(dash_duo) == kept["name"].head(5).tolist(), timeout=30)
    until(lambda: _row_count(dash_duo) == len(kept), timeout=30)
    dash_duo.driver.execute_script("dash_ag_grid.getApi('research-runs-grid').setFilterModel(null)")

    # the quick search, kept in the address
    _type(dash_duo, "#research-runs-search", "walk")
    until(lambda: sorted(_grid_rows(dash_duo)) == sorted(real), timeout=30)
    until(lambda: "q=walk" in _path(dash_duo), timeout=10)
    dash_duo.driver.execute_script(
        "const api = dash_ag_grid.getApi('research-runs-grid');"
        "api.forEachNode(n => n.data && n.setSelected(arguments[0].includes(n.data.name)));", real)
    until(lambda: dash_duo.driver.execute_script(
        "return dash_ag_grid.getApi('research-runs-grid').getSelectedRows().length") == 2, timeout=10)
    dash_duo.find_element("#research-runs-compare").click()
    until(lambda: _path(dash_duo).startswith("/research/runs/compare?names="), timeout=20)
    # only the parameter that differs (alpha) is an axis, then the metric
    until(lambda: _traces(dash_duo, "research-runs-cmp-parcoords") == [["parcoords", "", 2]], timeout=30)
    labels = dash_duo.driver.execute_script(
        "return document.querySelector('#research-runs-cmp-parcoords .js-plotly-plot').data[0].dimensions"
        ".map(d => d.label)")
    assert labels == ["alpha", "sharpe"]
    until(lambda: len(_traces(dash_duo, "research-runs-cmp-equity")) == 2, timeout=30)
    assert len(_traces(dash_duo, "research-runs-cmp-folds")) == 2
    _shot(dash_duo, "compare")
    assert dash_duo.get_logs() == []


def test_simulating_a_run_trades_its_out_of_sample_signal_as_a_simulation(dash_duo, runs_app) -> None:
    from backend.research.simulation_service import Simulations

    name = _runs(runs_app).run({**REQUEST, "threshold_rule": {"kind": "quantile", "short": False}}).name
    dash_duo.start_server(runs_app)
    dash_duo.wait_for_page(dash_duo.server_url + f"/research/runs/{name}")
    dash_duo.wait_for_element("#research-run-simulate", timeout=20).click()
    until(lambda: _path(dash_duo).startswith("/research/simulations/walk_sim"), timeout=30)
    made = Simulations(runs_app.server.extensions[EXTENSION_KEY]).get(_path(dash_duo).rsplit("/", 1)[-1])
    assert made["request"]["strategy"] == {"kind": "threshold", "column": f"{name}_signal", "long_threshold": 0.5,
                                           "short_threshold": -0.5}
    # long only, and only inside the test windows: as many trades as the run, give or take the folds'
    # boundaries (the run closes at each fold's end; the simulation holds on across one)
    record = _runs(runs_app).get(name)
    assert made["stats"]["trades"] <= record["summary"]["trades"]
    assert made["stats"]["trades"] >= record["summary"]["trades"] - len(record["folds"])
    dash_duo.wait_for_contains_text(".research-sim-stats", "Sharpe ratio", timeout=20)
    assert dash_duo.get_logs() == []
