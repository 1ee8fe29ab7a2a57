"""Exports, drill-through, the REST API and the trades CSV job under a data scope: the same rows as
DuckDB over the fixture's Parquet files restricted to the scope, through the real app with a
principal set on each request; cached API answers kept apart per scope; a job carries its
submitter's scope to where it runs and cannot widen it."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from backend.access.principal import EVERYTHING, DataScope
from backend.config import load_settings
from backend.pivot.drill import count_trades, drill_scope, fetch_page
from backend.pivot.export import export_as_of, stream_trades_csv
from backend.warehouse import Warehouse
from tests.backend.access.test_scopes_support import (
    AS_HELD,
    HOSTILE_VALUES,
    SCOPES,
    PrincipalSwitch,
    close,
    duck_connection,
    duck_rows,
)

KEY = ["trade_id", "symbol", "exposure_type"]
BODY = {"dimensions": ["desk", "portfolio_manager_id"], "metrics": ["pnl"],
        "filters": {"trade_date": {"from": "2024-02-05", "to": "2024-02-16"}}}
IN_RANGE = "trade_date BETWEEN DATE '2024-02-05' AND DATE '2024-02-16'"


@pytest.fixture(scope="module")
def duck(trades_folder: Path) -> duckdb.DuckDBPyConnection:
    return duck_connection(trades_folder)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse: Warehouse) -> Iterator[Any]:
    from app import create_app
    from tests.conftest import stop_app_services

    settings = load_settings(data_dir=tmp_path_factory.mktemp("scopes-api"), warehouse_dsn=warehouse_url,
                             warehouse_database=loaded_warehouse.database, demo_rows=0)
    dash_app = create_app(settings, market=False)
    switch = PrincipalSwitch()
    switch.install(dash_app.server)
    dash_app.switch = switch
    yield dash_app
    stop_app_services(dash_app.server)


def _keys(frame: pd.DataFrame) -> list[tuple]:
    return sorted(map(tuple, frame[KEY].astype(str).values.tolist()))


def _expected(duck: duckdb.DuckDBPyConnection, scope: DataScope, where: str = IN_RANGE) -> pd.DataFrame:
    cond_rows = duck_rows(duck, f"SELECT trade_id, symbol, exposure_type, pnl, trade_date FROM trades "
                                f"WHERE {AS_HELD} AND {where} AND {{scope}}", scope)
    return pd.DataFrame(cond_rows, columns=[*KEY, "pnl", "trade_date"])


# -- drill-through and the streamed export, as services --------------------------------------
@pytest.mark.parametrize("name", list(SCOPES))
def test_drill_through_and_raw_export_hold_only_the_allowed_trades(
    loaded_warehouse: Warehouse, duck: duckdb.DuckDBPyConnection, name: str,
) -> None:
    scope = SCOPES[name]
    want = _expected(duck, scope)
    whole = drill_scope(BODY, [], scope=scope)
    assert count_trades(loaded_warehouse, whole) == len(want)
    got = pd.read_csv(io.BytesIO(b"".join(stream_trades_csv(loaded_warehouse, whole, chunk_rows=700))))
    assert _keys(got) == _keys(want)
    assert close(got.pnl.sum(), want.pnl.sum(), want.pnl.abs().sum() or 1.0)
    as_of = export_as_of(loaded_warehouse, whole)
    assert as_of == (max(want.trade_date) if len(want) else None)
    if len(want):
        assert set(got.loc[got.is_as_of_date == 1, "trade_date"]) == {as_of.isoformat()}
    # One cell: a desk the scope may or may not allow.
    cell = drill_scope(BODY, ["Global Macro"], scope=scope)
    in_cell = _on_desks(duck, want, {"Global Macro"})
    page = fetch_page(loaded_warehouse, cell, offset=0, limit=5_000, sort=[{"colId": "pnl", "sort": "desc"}])
    assert page.total == len(in_cell) == count_trades(loaded_warehouse, cell)
    assert sorted((str(r["trade_id"]), r["symbol"], r["exposure_type"]) for r in page.rows) == _keys(in_cell)


def _on_desks(duck: duckdb.DuckDBPyConnection, frame: pd.DataFrame, desks: set[str]) -> pd.DataFrame:
    """The rows of ``frame`` (trades by key) whose desk is one of ``desks``."""
    if frame.empty:
        return frame
    desk_of = dict(duck.execute("SELECT DISTINCT trade_id::VARCHAR || '|' || symbol || '|' || exposure_type, desk "
                                f"FROM trades WHERE {IN_RANGE}").fetchall())
    mask = [desk_of["|".join(key)] in desks for key in frame[KEY].astype(str).values.tolist()]
    return frame.loc[mask]


def test_the_unrestricted_drill_scope_is_the_plain_one(loaded_warehouse: Warehouse) -> None:
    assert drill_scope(BODY, ["Rates"]).where(loaded_warehouse) == \
        drill_scope(BODY, ["Rates"], scope=EVERYTHING).where(loaded_warehouse)


# -- the REST API with a scoped principal -------------------------------------------------------
@pytest.mark.parametrize("name", ["pm", "desk", "book", "combined", "empty", "unknown"])
def test_api_pivot_pnl_and_exposure_answer_over_the_callers_rows(
    app: Any, duck: duckdb.DuckDBPyConnection, name: str,
) -> None:
    scope, client = SCOPES[name], app.server.test_client()
    want = dict(duck_rows(duck, f"SELECT desk, sum(pnl) FROM trades WHERE {AS_HELD} AND {IN_RANGE} AND {{scope}} "
                                "GROUP BY desk", scope))
    with app.switch.use(scope):
        answer = client.post("/api/v1/pivot", json={**BODY, "dimensions": ["desk"]})
        pnl = client.get("/api/v1/pnl?from=2024-02-05&to=2024-02-16&by=desk")
        exposure = client.get("/api/v1/exposure?by=portfolio_manager_id")
    for resp in (answer, pnl):
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        assert {r["desk"]: r["pnl"] for r in body["rows"]}.keys() == want.keys()
        for row in body["rows"]:
            assert close(row["pnl"], want[row["desk"]], 1.0)
        assert close(body["totals"]["pnl"], sum(want.values()), 1.0)
    [(latest,)] = duck_rows(duck, "SELECT max(trade_date) FROM trades WHERE {scope}", scope)
    if latest is None:
        assert exposure.status_code == 404  # nothing the caller may see, so no latest date of theirs
        return
    body = exposure.get_json()
    gross = dict(duck_rows(duck, f"SELECT portfolio_manager_id, sum(abs(notional)) FROM trades WHERE {AS_HELD} "
                                 "AND trade_date = $day AND {scope} GROUP BY 1", scope, {"day": latest}))
    assert body["meta"]["as_of"] == latest.isoformat()
    assert {r["portfolio_manager_id"] for r in body["rows"]} == set(gross)
    assert close(body["totals"]["gross_exposure"], sum(gross.values()), 1.0)


def test_api_cache_never_hands_one_scope_another_scopes_answer(app: Any) -> None:
    client = app.server.test_client()
    body = {"dimensions": ["portfolio_manager_id"], "metrics": ["pnl", "trade_count"],
            "filters": {"trade_date": {"from": "2024-01-10", "to": "2024-01-19"}}}
    answers = {}
    for name in ("pm", "desk", "pm", "empty", "desk"):
        with app.switch.use(SCOPES[name]):
            answers.setdefault(name, []).append(client.post("/api/v1/pivot", json=body).get_json())
    first_pm, second_pm = answers["pm"]
    assert first_pm["meta"]["cached"] is False and second_pm["meta"]["cached"] is True
    assert answers["desk"][0]["meta"]["cached"] is False and answers["desk"][1]["meta"]["cached"] is True
    assert answers["empty"][0]["meta"]["cached"] is False and answers["empty"][0]["rows"] == []
    assert {r["portfolio_manager_id"] for r in first_pm["rows"]} == {"PM11", "PM03"}
    assert {r["portfolio_manager_id"] for r in answers["desk"][0]["rows"]} == {"PM08", "PM09", "PM10", "PM14",
                                                                             "PM15", "PM16"}
    everyone = client.post("/api/v1/pivot", json=body).get_json()  # the local user, unrestricted
    assert len(everyone["rows"]) == 20 and everyone["meta"]["cached"] is False


@pytest.mark.parametrize("name", ["pm", "book", "empty"])
def test_api_trades_csv_and_pages_hold_only_the_callers_trades(
    app: Any, duck: duckdb.DuckDBPyConnection, name: str,
) -> None:
    scope, client = SCOPES[name], app.server.test_client()
    want = _expected(duck, scope)
    with app.switch.use(scope):
        csv = client.get("/api/v1/trades.csv?date=2024-02-05..2024-02-16&rows=desk&f.desk=Global%20Macro"
                         "&f.desk=US%20Equities&f.desk=Commodities")
        page = client.post("/api/v1/trades/page", json={"request": BODY, "path": ["Global Macro"], "limit": 5_000})
    assert csv.status_code == 200
    got = pd.read_csv(io.BytesIO(csv.get_data()))
    filtered = _on_desks(duck, want, {"Global Macro", "US Equities", "Commodities"})
    assert _keys(got) == _keys(filtered)
    assert page.status_code == 200
    in_cell = _on_desks(duck, want, {"Global Macro"})
    assert page.get_json()["total"] == len(in_cell)
    assert sorted((str(r["trade_id"]), r["symbol"], r["exposure_type"]) for r in page.get_json()["rows"]) == \
        _keys(in_cell)


# -- the trades CSV job ------------------------------------------------------------------------
def _finished(client: Any, job_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").get_json()
        if job["state"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.mark.parametrize(("name", "given", "allowed"), [
    ("pm", None, {"PM11", "PM03"}),  # the submitter's own scope
    ("pm", {"portfolio_managers": ["PM11"]}, {"PM11"}),  # narrowed by the caller
    ("desk", None, {"PM08", "PM09", "PM10", "PM14", "PM15", "PM16"}),
    ("empty", None, set()),
])
def test_the_export_job_carries_its_submitters_scope_to_where_it_runs(
    app: Any, duck: duckdb.DuckDBPyConnection, name: str, given: dict | None, allowed: set[str],
) -> None:
    client = app.server.test_client()
    parameters: dict[str, Any] = {"view": "?date=2024-02-05..2024-02-16"}
    if given is not None:
        parameters["scope"] = given
    with app.switch.use(SCOPES[name]):
        submitted = client.post("/api/v1/jobs", json={"kind": "trades_csv", "parameters": parameters})
    assert submitted.status_code == 202, submitted.get_json()
    stored = submitted.get_json()["parameters"]["scope"]
    assert DataScope.from_dict(stored) == (SCOPES[name] if given is None else DataScope.from_dict(given))
    job = _finished(client, submitted.get_json()["id"])  # runs on the job runner's thread: no request there
    assert job["state"] == "COMPLETED", job
    got = pd.read_csv(io.BytesIO(client.get(f"/api/v1/jobs/{job['id']}/result").get_data()))
    want = _expected(duck, DataScope(portfolio_managers=frozenset(allowed)))
    assert set(got.portfolio_manager_id) <= allowed and _keys(got) == _keys(want)


@pytest.mark.parametrize("given", [
    {},  # every row
    {"portfolio_managers": ["PM11", "PM12"]},  # PM12 is not the caller's
    {"desks": ["Commodities"]},  # the caller's managers are limited; desks alone would widen that
    {"portfolio_managers": ["PM11"], "books": None, "extra": 1},
    {"portfolio_managers": "PM11"},
    {"portfolio_managers": ["x" * 1_000]},
    {"portfolio_managers": list(HOSTILE_VALUES) + ["PM11' OR 1=1"]},
])
def test_an_export_job_cannot_reach_rows_outside_its_submitters_scope(app: Any, given: dict) -> None:
    client = app.server.test_client()
    with app.switch.use(SCOPES["pm"]):
        before = client.get("/api/v1/jobs?kind=trades_csv&limit=500").get_json()["jobs"]
        resp = client.post("/api/v1/jobs", json={"kind": "trades_csv",
                                                 "parameters": {"view": "?date=2024-02-05", "scope": given}})
        after = client.get("/api/v1/jobs?kind=trades_csv&limit=500").get_json()["jobs"]
    assert resp.status_code == 400 and "parameters" in resp.get_json()["error"]
    assert len(after) == len(before)


def test_a_job_without_a_scope_does_not_run(loaded_warehouse: Warehouse) -> None:
    from types import SimpleNamespace

    from backend.jobs.export import run_trades_csv
    from backend.jobs.params import TradesCsvParams
    from backend.jobs.states import JobError

    ctx: Any = SimpleNamespace(warehouse=lambda: loaded_warehouse)
    with pytest.raises(JobError, match="data scope"):
        run_trades_csv(ctx, TradesCsvParams(view="?date=2024-02-05"))
