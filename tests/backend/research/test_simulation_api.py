"""The simulations API on a real app and real stores: a simulation made over HTTP has the statistics
the service gives for the same request (and a return equal to its own equity curve's), its trades and
bars come back as JSON, CSV and Parquet alike, a sweep's cell opens as a simulation, a large request
becomes a job that completes, the list sorts, filters and pages, a reader may look but not run, and
every hostile request is refused with the error body naming the field — nothing recorded."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from backend.api.spec import SPEC_URL
from backend.config import load_settings
from backend.jobs import JobSettings
from backend.jobs.runtime import install_jobs
from backend.measurements.frames import as_table
from backend.research.datasets import Bars
from backend.research.runtime import EXTENSION_KEY
from backend.research.simulation_service import Simulations
from backend.research.simulator import requests as sim_requests
from backend.research.simulator.requests import SimulationRequest, parse
from backend.research.simulator.strategies import GRID_CELLS_MAX
from backend.stores import EXTENSION_KEY as STORES_KEY
from tests.backend.access.guard_support import build_app, make_users, sign_in, user_of
from tests.backend.jobs.conftest import HEARTBEAT_SECONDS, wait_for
from tests.backend.research.test_research_api import _fits

API = "/api/v1/research/simulations"
SMA = {"dataset": "walk", "strategy": {"kind": "sma_cross", "fast": 5, "slow": 20},
       "costs": {"fees": 0.001, "init_cash": 10_000}}


def _walk(n: int = 600, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
    opening = np.r_[close[0], close[:-1]]
    return pd.DataFrame({"timestamp": pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC"),
                         "open": opening, "high": np.maximum(opening, close) * 1.004,
                         "low": np.minimum(opening, close) * 0.996, "close": close, "volume": 1_000.0})


def _panel() -> pd.DataFrame:
    frames = []
    for k, symbol in enumerate(("AAA", "BBB")):
        frame = _walk(300, seed=10 + k)
        frame.insert(1, "symbol", symbol)
        frame["score"] = np.sin(np.arange(300) / 7.0 + k)
        frames.append(frame)
    return pd.concat(frames).sort_values(["timestamp", "symbol"]).reset_index(drop=True)


def _add_datasets(server: Any) -> None:
    datasets = server.extensions[EXTENSION_KEY]
    datasets.add("walk", Bars(as_table(_walk()), "UTC"), created_by="test")
    datasets.add("panel", Bars(as_table(_panel()), "UTC", ("AAA", "BBB")), created_by="test")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse) -> Iterator[Any]:
    from app import create_app

    settings = load_settings(data_dir=tmp_path_factory.mktemp("simulations-api"), warehouse_dsn=warehouse_url,
                             warehouse_database=loaded_warehouse.database, demo_rows=0, redis_url=None)
    app = create_app(settings, market=False)
    runner = install_jobs(app.server, app.server.extensions[STORES_KEY],
                          JobSettings(runner="embedded", concurrency=1, heartbeat_seconds=HEARTBEAT_SECONDS),
                          replace=True)
    _add_datasets(app.server)
    yield app
    runner.stop(5.0)


@pytest.fixture(scope="module")
def client(app) -> Any:
    return app.server.test_client()


@pytest.fixture(scope="module")
def doc(client) -> dict:
    return client.get(SPEC_URL).get_json()


def _records(app) -> list[str]:
    return sorted(r.name for r in app.server.extensions[EXTENSION_KEY].records.list(include_deleted=True))


def _strict_json(resp) -> Any:
    # Python's json reads NaN and Infinity; an answer holding them is refused here.
    def refuse(value: str) -> None:
        raise AssertionError(f"{value} in a JSON answer")

    return json.loads(resp.get_data(as_text=True), parse_constant=refuse)


def _watch(client, url: str, timeout: float = 120) -> dict:
    def finished() -> dict | None:
        job = client.get(url).get_json()
        return job if job["state"] in ("COMPLETED", "FAILED", "CANCELLED") else None

    return wait_for(finished, timeout, f"{url} to finish")  # type: ignore[return-value]


def test_a_simulation_round_trip_matches_the_service_and_its_own_equity(app, client, doc) -> None:
    made = client.post(API, json=SMA)
    assert made.status_code == 201, made.get_json()
    _fits(doc, API, "post", made)
    body = _strict_json(made)
    name = body["name"]
    assert name.startswith("walk_sim") and made.headers["Location"] == f"{API}/{name}"
    assert body["type"] == "simulation" and body["label"] == "SMA 5/20 cross" and body["trials"]["count"] >= 1
    one = client.get(f"{API}/{name}")
    _fits(doc, f"{API}/{{name}}", "get", one)
    assert _strict_json(one) == body

    # the same request through the service (not recorded): the same figures
    want = Simulations(app.server.extensions[EXTENSION_KEY]).run(parse(SimulationRequest, SMA), record=False).stats
    for key in ("return_pct", "sharpe", "sortino", "max_drawdown_pct", "trades", "win_rate_pct", "equity_final"):
        assert body["stats"][key] == pytest.approx(want[key], nan_ok=True), key

    equity = client.get(f"{API}/{name}/equity")
    _fits(doc, f"{API}/{{name}}/equity", "get", equity)
    rows = pd.DataFrame(_strict_json(equity)["rows"])
    assert len(rows) == 600 and {"timestamp", "equity", "benchmark", "drawdown_pct", "position"} <= set(rows)
    assert body["stats"]["return_pct"] == pytest.approx((rows["equity"].iloc[-1] / 10_000 - 1) * 100)
    assert pd.Timestamp(rows["timestamp"].iloc[0]) == pd.Timestamp("2020-01-01", tz="UTC")
    for fmt, read in (("csv", pd.read_csv), ("parquet", pd.read_parquet)):
        got = client.get(f"{API}/{name}/equity?format={fmt}")
        assert got.status_code == 200 and "attachment" in got.headers["Content-Disposition"]
        np.testing.assert_allclose(read(io.BytesIO(got.data))["equity"].to_numpy(), rows["equity"].to_numpy())

    page = client.get(f"{API}/{name}/trades?limit=3&sort=pnl&order=desc")
    _fits(doc, f"{API}/{{name}}/trades", "get", page)
    trades = _strict_json(page)
    assert trades["total"] >= 3 and len(trades["trades"]) == 3
    pnl = [t["pnl"] for t in trades["trades"]]
    assert pnl == sorted(pnl, reverse=True)
    every = pd.DataFrame(_strict_json(client.get(f"{API}/{name}/trades?limit=1000"))["trades"])
    assert len(every) == trades["total"] and every["pnl"].max() == pnl[0]
    for fmt, read in (("csv", pd.read_csv), ("parquet", pd.read_parquet)):
        got = client.get(f"{API}/{name}/trades?format={fmt}")
        assert got.status_code == 200, got.get_json()
        frame = read(io.BytesIO(got.data))
        assert len(frame) == len(every)
        np.testing.assert_allclose(frame["pnl"].to_numpy(), every["pnl"].to_numpy())
        np.testing.assert_allclose(frame["entry_price"].to_numpy(), every["entry_price"].to_numpy())


def test_a_sweep_answered_at_once_and_a_cell_opened(app, client, doc) -> None:
    body = {**SMA, "grid": {"x": {"param": "fast", "values": [3, 5, 8]}, "y": {"param": "slow", "values": [20, 40]}}}
    made = client.post(API, json=body)
    assert made.status_code == 201, made.get_json()
    _fits(doc, API, "post", made)
    sweep = _strict_json(made)
    assert sweep["type"] == "sweep" and len(sweep["cells"]) == 6 and sweep["best_cell"] is not None
    best = sweep["cells"][sweep["best_cell"]]
    assert sweep["stats"]["sharpe"] == max(c["stats"]["sharpe"] for c in sweep["cells"] if c["stats"]["sharpe"])

    opened = client.post(f"{API}/{sweep['name']}/cells/{sweep['best_cell']}")
    _fits(doc, f"{API}/{{name}}/cells/{{index}}", "post", opened)
    assert opened.status_code == 201, opened.get_json()
    cell = opened.get_json()
    again = client.post(f"{API}/{sweep['name']}/cells/{sweep['best_cell']}")
    assert again.status_code == 200 and again.get_json()["name"] == cell["name"]
    record = client.get(cell["links"]["self"]).get_json()
    assert record["sweep"] == sweep["name"] and record["cell"] == sweep["best_cell"]
    assert record["stats"]["return_pct"] == pytest.approx(best["stats"]["return_pct"])
    assert client.get(cell["links"]["trades"]).status_code == 200

    sweep_trades = client.get(f"{API}/{sweep['name']}/trades")
    assert sweep_trades.status_code == 400 and "open one of its cells" in sweep_trades.get_json()["error"]
    for url, status, says in ((f"{API}/{sweep['name']}/cells/6", 404, "cells 0 to 5"),
                              (f"{API}/{sweep['name']}/cells/-1", 404, "index"),
                              (f"{API}/{cell['name']}/cells/0", 400, "not a sweep"),
                              (f"{API}/walk_sim999/cells/0", 404, "no simulation")):
        resp = client.post(url)
        assert resp.status_code == status and says in resp.get_json()["error"], (url, resp.get_json())


def test_a_large_request_becomes_a_job_that_completes(app, client, doc, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim_requests, "DIRECT_BARS_MAX", 100)
    queued = client.post(API, json={**SMA, "strategy": {"kind": "sma_cross", "fast": 7, "slow": 30}})
    assert queued.status_code == 202, queued.get_json()
    _fits(doc, API, "post", queued)
    job = queued.get_json()
    assert job["kind"] == "simulation" and queued.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    done = _watch(client, job["links"]["self"])
    assert done["state"] == "COMPLETED", done["error"]
    name = done["result"]["simulation"]
    record = client.get(f"{API}/{name}").get_json()
    assert record["label"] == "SMA 7/30 cross" and record["created_by"] == job["owner"]

    # a small sweep asked to run in the background
    body = {**SMA, "grid": {"x": {"param": "fast", "values": [2, 4]}}, "background": True}
    queued = client.post(API, json=body)
    assert queued.status_code == 202 and queued.get_json()["kind"] == "sweep"
    done = _watch(client, queued.get_json()["links"]["self"])
    assert done["state"] == "COMPLETED", done["error"]
    assert len(client.get(f"{API}/{done['result']['simulation']}").get_json()["cells"]) == 2


def test_the_list_sorts_filters_and_pages(client, doc) -> None:
    for symbol, fast in (("AAA", 4), ("BBB", 6)):
        made = client.post(API, json={"dataset": "panel", "symbol": symbol,
                                      "strategy": {"kind": "sma_cross", "fast": fast, "slow": 15}})
        assert made.status_code == 201, made.get_json()
    threshold = {"dataset": "panel", "symbol": "AAA",
                 "strategy": {"kind": "threshold", "column": "score", "long_threshold": 0.5, "short_threshold": -0.5}}
    assert client.post(API, json=threshold).status_code == 201

    listed = client.get(API)
    _fits(doc, API, "get", listed)
    everything = _strict_json(listed)
    assert everything["total"] == len(everything["simulations"]) >= 4
    panel = client.get(f"{API}?dataset=panel&sort=return_pct&order=asc").get_json()
    assert panel["total"] == 3 and {r["dataset"] for r in panel["simulations"]} == {"panel"}
    returns = [r["return_pct"] for r in panel["simulations"]]
    assert returns == sorted(returns)
    assert {r["kind"] for r in panel["simulations"]} == {"sma_cross", "threshold"}
    by_sharpe = client.get(f"{API}?sort=sharpe&order=desc&limit=1000").get_json()["simulations"]
    sharpes = [r["sharpe"] for r in by_sharpe if r["sharpe"] is not None]
    assert sharpes == sorted(sharpes, reverse=True) and by_sharpe[:len(sharpes)] == [r for r in by_sharpe
                                                                                     if r["sharpe"] is not None]
    pages = [client.get(f"{API}?sort=name&order=asc&limit=2&offset={k}").get_json() for k in range(0, 10, 2)]
    names = [r["name"] for p in pages for r in p["simulations"]]
    assert names == sorted(r["name"] for r in everything["simulations"])
    assert client.get(f"{API}?dataset=nope").get_json() == {"simulations": [], "total": 0, "offset": 0, "limit": 100}


HUGE_GRID = {"x": {"param": "fast", "values": list(range(1, 51))}, "y": {"param": "slow", "values": list(range(60, 111))}}
HOSTILE_BODIES = [
    ("not json", b"{nope", 400, "not valid JSON"),
    ("a list", b"[1]", 400, "JSON object"),
    ("empty", b"", 400, "empty"),
    ("NaN", b'{"dataset": "walk", "strategy": {"kind": "sma_cross"}, "costs": {"fees": NaN}}', 400, "not valid JSON"),
    ("Infinity", b'{"dataset": "walk", "strategy": {"kind": "sma_cross"}, "costs": {"init_cash": Infinity}}', 400,
     "not valid JSON"),
    ("1e400", b'{"dataset": "walk", "strategy": {"kind": "sma_cross"}, "periods_per_year": 1e400}', 400,
     "not valid JSON"),
    ("unknown field", {**SMA, "zz": 1}, 400, "zz: unknown field"),
    ("unknown strategy field", {**SMA, "strategy": {"kind": "sma_cross", "zz": 1}}, 400, "unknown field"),
    ("wrong type", {**SMA, "strategy": {"kind": "sma_cross", "fast": "five"}}, 400, "fast"),
    ("bool as cash", {**SMA, "costs": {"init_cash": "lots"}}, 400, "costs.init_cash"),
    ("fast above slow", {**SMA, "strategy": {"kind": "sma_cross", "fast": 30, "slow": 20}}, 400, "fast (30)"),
    ("unknown kind", {**SMA, "strategy": {"kind": "magic"}}, 400, "strategy"),
    ("unknown dataset", {**SMA, "dataset": "nope"}, 400, "dataset: there is no dataset 'nope'"),
    ("path in dataset", {**SMA, "dataset": "../etc/passwd"}, 400, "dataset:"),
    ("a simulation as dataset", {**SMA, "dataset": "walk_sim1"}, 400, "dataset:"),
    ("script in dataset", {**SMA, "dataset": "<script>"}, 400, "dataset:"),
    ("10 KB dataset", {**SMA, "dataset": "x" * 10_000}, 400, "dataset"),
    ("unknown symbol", {**SMA, "dataset": "panel", "symbol": "ZZZ"}, 400, "symbol: panel has no symbol 'ZZZ'"),
    ("panel without symbol", {**SMA, "dataset": "panel"}, 400, "symbol:"),
    ("symbol of one series", {**SMA, "symbol": "AAA"}, 400, "symbol:"),
    ("unknown column", {**SMA, "strategy": {"kind": "threshold", "column": "nope", "long_threshold": 1}}, 400,
     "strategy.column: walk has no column 'nope'"),
    ("unknown indicator", {**SMA, "strategy": {"kind": "indicator_rule", "indicator": {"function": "NOPE"},
                                               "entry": {"op": "above", "value": 1},
                                               "exit": {"op": "below", "value": 0}}}, 400, "indicator"),
    ("negative fees", {**SMA, "costs": {"fees": -1}}, 400, "costs.fees"),
    ("huge grid", {**SMA, "grid": HUGE_GRID}, 400, "grid"),
    ("grid of 51", {**SMA, "grid": {"x": {"param": "fast", "values": list(range(1, 52))}}}, 400, "grid.x.values"),
    ("unknown grid param", {**SMA, "grid": {"x": {"param": "nope", "values": [1, 2]}}}, 400, "nope"),
    ("background not a flag", {**SMA, "background": "yes"}, 400, "background"),
    ("oversized body", {**SMA, "symbol": "x" * 70_000}, 413, "larger than 65,536 bytes"),
]


@pytest.mark.parametrize(("what", "body", "status", "says"), HOSTILE_BODIES, ids=[h[0] for h in HOSTILE_BODIES])
def test_hostile_bodies_are_refused_and_nothing_is_recorded(app, client, what, body, status, says) -> None:
    before, jobs_before = _records(app), len(client.get("/api/v1/jobs?limit=500").get_json()["jobs"])
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    resp = client.post(API, data=raw, content_type="application/json")
    assert resp.status_code == status, (what, resp.get_data(as_text=True)[:300])
    error = resp.get_json()
    assert set(error) == {"error"} and says in error["error"], error
    assert "<script>" not in error["error"] and "xxxxxxxx" not in error["error"]
    assert _records(app) == before
    assert len(client.get("/api/v1/jobs?limit=500").get_json()["jobs"]) == jobs_before
    assert GRID_CELLS_MAX < 50 * 51


@pytest.mark.parametrize(("url", "status", "says"), [
    (f"{API}/spx_sim0", 404, "no simulation 'spx_sim0'"),
    (f"{API}/walk", 404, "no simulation 'walk'"),
    (f"{API}/..%2Fetc%2Fpasswd", 404, ""),
    (f"{API}/..%2F..%2Fetc", 404, ""),
    (f"{API}/{'x' * 10_000}", 404, "no simulation"),
    (f"{API}/%3Cscript%3E/trades", 404, "no simulation"),
    (f"{API}/spx_sim0/equity", 404, "no simulation"),
    (f"{API}?offset=-1", 400, "offset:"),
    (f"{API}?offset=99999999999", 400, "offset:"),
    (f"{API}?limit=0", 400, "limit:"),
    (f"{API}?limit=100000", 400, "limit:"),
    (f"{API}?limit=1e3", 400, "limit:"),
    (f"{API}?sort=nope", 400, "sort:"),
    (f"{API}?sort=return_pct&sort=sharpe", 400, "sort: give the parameter once"),
    (f"{API}?order=sideways", 400, "order:"),
    (f"{API}?dataset={'x' * 10_000}", 400, "dataset:"),
    (f"{API}?zz=1", 400, "zz: unknown query parameter"),
])
def test_hostile_queries_and_names_are_refused(app, client, url, status, says) -> None:
    before = _records(app)
    resp = client.get(url)
    assert resp.status_code == status, (url, resp.get_data(as_text=True)[:300])
    error = resp.get_json()
    assert set(error) == {"error"} and says in error["error"], error
    assert "<script>" not in error["error"] and "xxxxxxxx" not in error["error"]
    assert _records(app) == before


def test_hostile_paging_of_trades_is_refused(client) -> None:
    name = client.post(API, json={**SMA, "strategy": {"kind": "sma_cross", "fast": 9, "slow": 21}}).get_json()["name"]
    for query, says in (("limit=1001", "limit:"), ("limit=0", "limit:"), ("offset=-5", "offset:"),
                        ("sort=nope", "sort:"), ("format=xlsx", "format:"), ("order=up", "order:")):
        resp = client.get(f"{API}/{name}/trades?{query}")
        assert resp.status_code == 400 and resp.get_json()["error"].startswith(says), (query, resp.get_json())
    far = client.get(f"{API}/{name}/trades?offset=1000000000").get_json()
    assert far["trades"] == [] and far["total"] > 0


@pytest.fixture
def signed_in(tmp_path: Path, warehouse_url: str, loaded_warehouse):
    app = build_app(tmp_path / "data", warehouse_url, loaded_warehouse.database)
    app.server.test_client().get("/health")
    install_jobs(app.server, app.server.extensions[STORES_KEY], start=False)
    _add_datasets(app.server)
    make_users(app)
    from tests.backend.access.guard_support import services

    access = services(app)
    access.roles.create("research_reader", ["research.view", "account.self"], "reads research", actor="test")
    access.accounts.create_user("reader", password="correct horse battery staple 9", roles=("research_reader",),
                                actor="reader")  # chose their own password: no change asked

    def client_of(user: str, password: str | None = None) -> Any:
        client = app.server.test_client()
        answer = sign_in(client, user, password) if password else sign_in(client, user)
        assert answer.status_code == 302, answer.get_data(as_text=True)[:300]
        return client

    return app, client_of


def test_a_reader_may_look_but_not_run_and_a_viewer_neither(signed_in) -> None:
    app, client_of = signed_in
    analyst = client_of(user_of("analyst"))
    made = analyst.post(API, json=SMA, headers={"X-CSRFToken": _csrf(analyst)})
    assert made.status_code == 201, made.get_data(as_text=True)[:300]
    name = made.get_json()["name"]
    assert made.get_json()["created_by"] == user_of("analyst")

    reader = client_of("reader", "correct horse battery staple 9")
    for url in (API, f"{API}/{name}", f"{API}/{name}/trades", f"{API}/{name}/equity?format=csv"):
        got = reader.get(url)
        assert got.status_code == 200, (url, got.get_data(as_text=True)[:300])
    before = _records(app)
    for url in (API, f"{API}/{name}/cells/0"):
        refused = reader.post(url, json=SMA, headers={"X-CSRFToken": _csrf(reader)})
        assert refused.status_code == 403, (url, refused.get_data(as_text=True)[:300])
    viewer = client_of(user_of("viewer"))  # the built-in viewer sees no research at all
    assert viewer.get(API).status_code == 403
    assert viewer.post(API, json=SMA, headers={"X-CSRFToken": _csrf(viewer)}).status_code == 403
    assert app.server.test_client().get(API).status_code == 401
    assert _records(app) == before


def _csrf(client) -> str:
    cookie = client.get_cookie("_csrf_token")
    return cookie.value if cookie is not None else ""
