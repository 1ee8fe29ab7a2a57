"""No path reads the trades without the caller's data scope.

Two checks that fail when a new query path forgets the scope:

* every function of the app whose SQL names a warehouse table (``{db}.…``) is listed below, either
  as a scoped read of the trades or with the reason it reads no user's trades; a new query
  fails here until it is scoped (or shown to need no scope);
* a scoped user walks the app — every page's layout, the pivot and overview callbacks as the
  browser calls them, every API route, the trades CSV job — while a log records each statement
  the warehouse runs: every read of ``trades_1d`` or a rollup must carry the scope's conditions
  with its values bound, and each listed scoped read must have been reached by the walk.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import dash
import pytest

from backend.access.principal import DataScope
from backend.config import load_settings
from backend.pivot.engine import distinct_values
from backend.pivot.view_state import parse_view
from backend.warehouse import Warehouse
from tests.backend.access.test_scopes_support import ROOT, PrincipalSwitch, dash_call, spy_on_warehouse

SCOPED = "scoped"
# Every function whose SQL names a warehouse table: a scoped read of trades, or why it needs no scope.
REVIEWED: dict[str, str] = {
    "backend.pivot.sql:build_query": SCOPED,
    "backend.pivot.engine:distinct_values": SCOPED,
    "backend.pivot.engine:latest_trade_date": SCOPED,
    "backend.pivot.names:id_names": SCOPED,
    "backend.pivot.drill:count_trades": SCOPED,
    "backend.pivot.drill:fetch_page": SCOPED,
    "backend.pivot.export:export_chunks": SCOPED,
    "backend.pivot.export:stream_trades_csv": SCOPED,
    "backend.pivot.export:export_as_of": SCOPED,
    "backend.jobs.export:_day_counts": SCOPED,
    "backend.datagen.demo:ensure_demo_data": "start-up: counts the trades to load demo data into an empty warehouse",
    "backend.warehouse.schema:_rollup_select": "schema: the rollups' materialized views",
    "backend.warehouse.schema:_trades_ddl": "schema: the trades table",
    "backend.pivot.where:load_fund_coverage": "reference data: the funds' constituent weights",
    "backend.api.v1:instruments": "reference data: instruments",
    "backend.api.v1:constituents": "reference data: a fund's constituents",
}
# Functions that build a query another one runs: the walk reaches them through the runner.
RUN_BY: dict[str, str] = {"backend.pivot.sql:build_query": "backend.pivot.engine:run_pivot"}
# Whole modules whose statements read no user's trades (a function there that names trades_1d is still flagged).
REVIEWED_MODULES: dict[str, str] = {
    "backend.warehouse.*": "schema, loads, migrations and the data version",
    "backend.backup.*": "backups and restores copy whole tables, for administrators",
    "backend.market.*": "live market history",
    "backend.access.usage*": "usage events",
    "backend.measurements.*": "research series (m_<name> tables), never the trades",
}

# The walk's scope restricts every dimension, so every read must carry all three conditions.
WALK_SCOPE = DataScope(portfolio_managers=frozenset({"PM11", "PM17", "PM01"}),
                       desks=frozenset({"Global Macro", "ETF Arbitrage"}),
                       books=frozenset({"MACRO-PM11-CORE", "MACRO-PM11-TACTICAL", "ETFARB-PM17-CORE"}))
VIEW = "rows=desk,portfolio_manager_id&m=pnl,gross_exposure&date=2024-02-05..2024-02-16"
BODY = {"dimensions": ["desk", "book"], "metrics": ["pnl"],
        "filters": {"trade_date": {"from": "2024-02-05", "to": "2024-02-16"}}, "cache": False}
PAGE_ROUTER = ".._pages_content.children..._pages_store.data.."
DRILL_GRID = json.dumps({"n": ["MATCH"], "type": "pivot-drill-grid"}, sort_keys=True)


def _sql_functions() -> dict[str, str]:
    """``module:function`` → the text of its SQL constants, for every function naming ``{db}.…``."""
    found: dict[str, list[str]] = {}
    for top in ("backend", "pages", "components"):
        for path in sorted((ROOT / top).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)

            def visit(node: ast.AST, names: list[str], module: str = module) -> None:
                for child in ast.iter_child_nodes(node):
                    if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        visit(child, [*names, child.name])
                        continue
                    if isinstance(child, ast.Constant) and isinstance(child.value, str) and "{db}." in child.value:
                        found.setdefault(f"{module}:{'.'.join(names) or '<module>'}", []).append(child.value)
                    visit(child, names)

            visit(ast.parse(path.read_text()), [])
    return {name: "\n".join(texts) for name, texts in found.items()}


@pytest.mark.slow
def test_every_query_of_the_app_is_reviewed_for_the_data_scope() -> None:
    unreviewed = []
    for name, sql in _sql_functions().items():
        if name in REVIEWED:
            continue
        module = name.split(":")[0]
        exempt = any(fnmatch.fnmatch(module, pattern) for pattern in REVIEWED_MODULES)
        if not exempt or re.search(r"trades_1d", sql):
            unreviewed.append(name)
    assert unreviewed == [], (
        "new warehouse queries: add the caller's DataScope (backend.access.scope_sql) to every read of the trades, "
        f"then list them in REVIEWED: {unreviewed}")
    gone = [name for name in REVIEWED if name not in _sql_functions()]
    assert gone == [], f"REVIEWED lists functions that hold no query any more: {gone}"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse: Warehouse) -> Iterator[Any]:
    from app import create_app
    from tests.conftest import stop_app_services

    settings = load_settings(data_dir=tmp_path_factory.mktemp("scopes-walk"), warehouse_dsn=warehouse_url,
                             warehouse_database=loaded_warehouse.database, demo_rows=0)
    dash_app = create_app(settings, market=False)
    switch = PrincipalSwitch(scope=WALK_SCOPE)
    switch.install(dash_app.server)
    yield dash_app
    stop_app_services(dash_app.server)


def _key(app: Any, start: str) -> str:
    [key] = [k for k in app.callback_map if k.startswith(start)]
    return key


def _walk_api(client: Any, app: Any) -> list[Any]:
    answers = [
        client.post("/api/v1/pivot", json=BODY),
        client.get("/api/v1/pnl?by=desk"),
        client.get("/api/v1/exposure?by=book&from=2024-02-01&to=2024-02-29"),
        client.get("/api/v1/trades.csv"),
        client.post("/api/v1/trades/page", json={"request": BODY, "path": ["Global Macro"], "limit": 50}),
    ]
    job = client.post("/api/v1/jobs", json={"kind": "trades_csv", "parameters": {"view": "?" + VIEW}})
    answers.append(job)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = client.get(f"/api/v1/jobs/{job.get_json()['id']}").get_json()["state"]
        if state in ("COMPLETED", "FAILED", "CANCELLED"):
            assert state == "COMPLETED"
            break
        time.sleep(0.1)
    # Every other route, as it comes: whatever it answers, it must not read trades unscoped.
    for rule in app.server.url_map.iter_rules():
        if rule.rule.startswith(("/_dash", "/static", "/assets", "/_reload")) or "path" in rule.arguments:
            continue
        url = rule.rule
        for argument in rule.arguments:
            url = url.replace(f"<{argument}>", "1")
        if "GET" in rule.methods:
            client.get(url)
        elif "POST" in rule.methods and url != "/api/v1/jobs":
            client.post(url, json={})
    return answers


def _walk_pages(client: Any, app: Any) -> list[Any]:
    state = parse_view(VIEW).state
    state_json, request = state.model_dump(mode="json"), state.to_request()
    answers = []
    for page in dash.page_registry.values():
        search = "?" + VIEW if page["path"] == "/pivot" else ""
        answer = dash_call(client, app, PAGE_ROUTER, {"_pages_location.pathname": page["path"],
                                                      "_pages_location.search": search},
                           triggered=["_pages_location.pathname"])
        if page["path"] in ("/", "/pivot"):  # other pages are walked for their queries, whatever they answer
            answers.append(answer)
    common = {"pivot-state.data": state_json, "pivot-request.data": request}
    calls = [
        ("..pivot-filter-values.data", {"pivot-filter-dim.value": "book", "pivot-filter-values.searchValue": "",
                                        "pivot-filter-values.dropdownOpened": True}, ["pivot-filter-dim.value"]),
        ("..pivot-pnl-chart.figure", {"pivot-chart-kick.data": 1, "pivot-chart-by.value": "symbol",
                                      "pivot-view.value": "chart"}, ["pivot-chart-kick.data"]),
        ("..pivot-drill-modal.opened", {"pivot-grid.cellDoubleClicked": {"rowId": json.dumps(["Global Macro"]),
                                                                         "colId": "pnl"},
                                        "pivot-meta.data": {"as_of": "2024-02-16"}}, ["pivot-grid.cellDoubleClicked"]),
        ("..pivot-download.data", {"pivot-export.n_clicks": 1}, ["pivot-export.n_clicks"]),
        ("..pivot-result.data", {"pivot-kiosk-tick.n_intervals": 1}, ["pivot-kiosk-tick.n_intervals"]),
        ("..pivot-state.data", {"pivot-rows.value": ["book", "symbol"]}, ["pivot-rows.value"]),
        ("..overview.children", {"overview-kiosk-tick.n_intervals": 1, "overview-drawn.data": "another"},
         ["overview-kiosk-tick.n_intervals"]),
    ]
    for start, values, triggered in calls:
        answers.append(dash_call(client, app, _key(app, start), {**common, **values}, triggered=triggered))
    drill = {"request": request, "path": ["Global Macro"], "column_path": [], "total": None, "as_of": None}
    grid = {"type": "pivot-drill-grid", "n": "walk"}
    answers.append(dash_call(
        client, app, _key(app, '{"n":["MATCH"],"type":"pivot-drill-grid"}'),
        {f"{DRILL_GRID}.getRowsRequest": {"startRow": 0, "endRow": 100, "sortModel": []},
         "pivot-drill-scope.data": drill},
        triggered=[f"{json.dumps(grid, separators=(',', ':'))}.getRowsRequest"], ids={DRILL_GRID: grid}))
    return answers


def test_a_scoped_user_walking_the_app_reads_no_trade_outside_the_scope(app: Any, monkeypatch: Any) -> None:
    log = spy_on_warehouse(monkeypatch)
    client = app.server.test_client()
    answers = _walk_api(client, app) + _walk_pages(client, app)
    failed = [(a.request.path, a.status_code, a.get_data(as_text=True)[:300]) for a in answers if a.status_code >= 300]
    assert failed == []
    reads = log.trades_reads()
    assert len(reads) > 20
    unscoped = [(q.sql[:300], q.callers[-3:]) for q in log.unscoped(WALK_SCOPE)]
    assert unscoped == [], "reads of the trades without the caller's scope"
    reached = {caller for q in reads for caller in q.callers}
    missed = [name for name, why in REVIEWED.items() if why == SCOPED and RUN_BY.get(name, name) not in reached]
    assert missed == [], f"the walk did not reach these scoped reads (extend it): {missed}"


def test_the_query_log_catches_a_read_without_the_scope(loaded_warehouse: Warehouse, monkeypatch: Any) -> None:
    log = spy_on_warehouse(monkeypatch)
    distinct_values(loaded_warehouse, "desk")  # what a forgotten scope looks like
    distinct_values(loaded_warehouse, "desk", scope=DataScope(desks=frozenset({"Global Macro"})))  # a narrower one
    distinct_values(loaded_warehouse, "desk", scope=WALK_SCOPE)
    assert len(log.trades_reads()) == 3
    assert [q.params.get("scope_desk") for q in log.unscoped(WALK_SCOPE)] == [None, ["Global Macro"]]
