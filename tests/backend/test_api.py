"""REST API on the real app and the fixture data, checked against DuckDB over the same Parquet."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from backend.config import load_settings


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse):
    from app import create_app

    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("api-data"),
        warehouse_dsn=warehouse_url,
        warehouse_database=loaded_warehouse.database,
        demo_rows=0,
    )
    return create_app(settings, market=False).server.test_client()


@pytest.fixture(scope="module")
def duck(trades_folder: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW trades AS SELECT * FROM read_parquet('{trades_folder}/trades_1d/*.parquet')")
    con.execute(f"CREATE VIEW constituents AS SELECT * FROM read_parquet('{trades_folder}/constituents.parquet')")
    con.execute(f"CREATE VIEW instruments AS SELECT * FROM read_parquet('{trades_folder}/instruments.parquet')")
    return con


def _close(a: float, b: float, scale: float = 1.0) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), scale)


def _latest(duck: duckdb.DuckDBPyConnection) -> str:
    return str(duck.execute("SELECT max(trade_date) FROM trades").fetchone()[0])


def _pivot(client, body: object, raw: bytes | None = None):
    data = raw if raw is not None else json.dumps(body)
    return client.post("/api/v1/pivot", data=data, content_type="application/json")


def test_health_reports_each_store_and_the_data_version(client, loaded_warehouse) -> None:
    resp = client.get("/health")
    body = resp.get_json()
    assert resp.status_code == 200 and body["status"] == "ok"
    assert body["stores"]["warehouse"]["ok"] and body["stores"]["cache"]["ok"]
    assert body["data_version"] == loaded_warehouse.data_version() != "empty"
    assert body["market"] is None  # this app serves no live market


def test_health_reports_the_live_feed_and_its_history_counts(tmp_path: Path, warehouse_url: str,
                                                             loaded_warehouse) -> None:
    from app import create_app
    from backend.market.runtime import install_market_service
    from backend.stores import EXTENSION_KEY

    settings = load_settings(data_dir=tmp_path, warehouse_dsn=warehouse_url,
                             warehouse_database=loaded_warehouse.database, demo_rows=0)
    app = create_app(settings, market=False)
    service = install_market_service(app.server, app.server.extensions[EXTENSION_KEY], start=False)
    assert service is not None
    service.store.dropped_rows = 3  # as after an outage longer than the buffer
    body = app.server.test_client().get("/health").get_json()
    assert body["market"]["state"] == service.status()["state"]
    assert body["market"]["history"]["dropped"] == 3 and body["market"]["history"]["pending"] == 0


def test_pivot_rows_and_totals_match_duckdb(client, duck) -> None:
    day = _latest(duck)
    body = {
        "dimensions": ["desk", "asset_class"],
        "metrics": ["notional", "pnl", "quantity"],
        "filters": {"trade_date": day},
        "cache": False,
    }
    resp = _pivot(client, body)
    assert resp.status_code == 200, resp.get_json()
    got = resp.get_json()
    want = duck.execute(
        "SELECT desk, asset_class, sum(notional), sum(pnl), sum(quantity) FROM trades "
        "WHERE trade_date = ? AND exposure_type IN ('Direct','ETF','ETC') GROUP BY ALL",
        [day],
    ).fetchall()
    assert len(got["rows"]) == len(want)
    by_key = {(r["desk"], r["asset_class"]): r for r in got["rows"]}
    scale = sum(abs(w[2]) for w in want)
    for desk, asset_class, notional, pnl, qty in want:
        row = by_key[(desk, asset_class)]
        assert _close(row["notional"], notional, scale) and _close(row["pnl"], pnl, scale)
        assert _close(row["quantity"], qty, 1.0)
    assert _close(got["totals"]["notional"], sum(w[2] for w in want), scale)
    assert got["meta"]["cached"] is False and got["meta"]["truncated"] is False
    assert got["meta"]["data_version"]


def test_pivot_answer_is_cached_until_bypassed(client, duck) -> None:
    body = {"dimensions": ["portfolio_manager_id"], "metrics": ["pnl"], "filters": {"trade_date": _latest(duck)}}
    first = _pivot(client, body).get_json()
    second = _pivot(client, {**body, "dimensions": ["portfolio_manager_id"]}).get_json()
    bypass = _pivot(client, {**body, "cache": False}).get_json()
    assert second["meta"]["cached"] is True and bypass["meta"]["cached"] is False
    assert first["rows"] == second["rows"] == bypass["rows"]


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"dimensions": ["desk; DROP TABLE trades_1d"], "metrics": ["pnl"]}, "dimensions"),
        ({"dimensions": ["desk"], "metrics": ["pnl) FROM system.users --"]}, "metrics"),
        ({"dimensions": ["desk"], "metrics": ["pnl"], "sort": {"field": "1; SELECT 1", "direction": "desc"}}, "sort"),
        ({"dimensions": ["desk"], "metrics": ["pnl"], "limit": 10**12}, "limit"),
        ({"dimensions": ["desk"], "metrics": ["pnl"], "limit": -1}, "limit"),
        ({"dimensions": ["desk"], "metrics": ["pnl"], "bogus": 1}, "bogus"),
        ({"dimensions": "desk", "metrics": ["pnl"]}, "dimensions"),
        ({"dimensions": ["desk"], "metrics": ["pnl"], "filters": {"trade_date": "2024-13-45"}}, "trade_date"),
        (
            {"dimensions": ["desk"], "metrics": ["pnl"], "filters": {"trade_date": {"from": "2024-02-01", "to": "2024-01-01"}}},
            "trade_date",
        ),
        ({"dimensions": ["desk"], "metrics": ["pnl"], "filters": {"no_such_column": "x"}}, "no_such_column"),
        ({"dimensions": ["desk"], "metrics": ["pnl"], "filters": {"exposure_type": ["ETF", "Constituent"]}}, "exposure"),
    ],
)
def test_bad_pivot_requests_get_400_naming_the_problem_without_sql(client, body, names: str) -> None:
    resp = _pivot(client, body)
    assert resp.status_code == 400
    message = resp.get_json()["error"]
    assert names.split("_")[0] in message.lower() or names in message
    for sql_word in ("SELECT ", "FROM ", "GROUP BY", "{db}"):
        assert sql_word not in message


@pytest.mark.parametrize(
    ("raw", "status"),
    [(b"", 400), (b"not json", 400), (b"[1,2]", 400), (b'"text"', 400), (b"{" * 5000, 400), (b" " * 1_100_000, 413)],
)
def test_malformed_and_oversized_bodies_are_refused(client, raw: bytes, status: int) -> None:
    resp = _pivot(client, None, raw=raw)
    assert resp.status_code == status and resp.get_json()["error"]


def test_hostile_filter_values_are_bound_not_executed(client, duck, loaded_warehouse) -> None:
    before = loaded_warehouse.table_counts()
    hostile = ["x'; DROP TABLE trades_1d; --", "Ω≈ç√∫", "\u0000", "' OR 1=1 --", "a" * 200]
    resp = _pivot(client, {"dimensions": ["symbol"], "metrics": ["pnl"], "filters": {"symbol": hostile}, "cache": False})
    assert resp.status_code == 200 and resp.get_json()["rows"] == []
    assert loaded_warehouse.table_counts() == before


def test_instruments_and_constituents_match_the_reference_data(client, duck) -> None:
    instruments = client.get("/api/v1/instruments").get_json()["instruments"]
    assert len(instruments) == duck.execute("SELECT count(*) FROM instruments").fetchone()[0] == 29
    parent = duck.execute("SELECT parent_symbol FROM constituents ORDER BY parent_symbol LIMIT 1").fetchone()[0]
    body = client.get(f"/api/v1/constituents?parent={parent}").get_json()
    want = dict(duck.execute("SELECT constituent_symbol, weight FROM constituents WHERE parent_symbol = ?", [parent]).fetchall())
    assert {c["symbol"]: c["weight"] for c in body["constituents"]} == pytest.approx(want)
    assert body["coverage"] == pytest.approx(sum(want.values()))


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/api/v1/constituents", 400),
        ("/api/v1/constituents?parent=NOPE", 404),
        ("/api/v1/constituents?parent=%27%3B%20DROP", 400),
        ("/api/v1/constituents?parent=" + "A" * 5000, 400),
        ("/api/v1/instruments?x=1", 400),
        ("/api/v1/exposure?by=desk;DROP", 400),
        ("/api/v1/exposure?trade_date=yesterday", 400),
        ("/api/v1/pnl?by=desk&by=symbol", 400),
        ("/api/v1/pnl?by=desk&exposure=both", 400),
        ("/api/v1/pnl?evil=%00", 400),
        ("/api/v1/nothing-here", 404),
    ],
)
def test_bad_query_parameters_get_clear_json_errors(client, url: str, status: int) -> None:
    resp = client.get(url)
    assert resp.status_code == status
    assert resp.get_json()["error"]


LOOK_THROUGH_SQL = """
    SELECT symbol, sum(notional) FROM (
        SELECT symbol, notional FROM trades
        WHERE trade_date = $day AND exposure_type IN ('Direct', 'Constituent')
        UNION ALL
        SELECT t.symbol, t.notional * (1 - c.coverage) FROM trades t
        JOIN (SELECT parent_symbol, sum(weight) AS coverage FROM constituents GROUP BY ALL) c
          ON c.parent_symbol = t.symbol
        WHERE t.trade_date = $day AND t.exposure_type IN ('ETF', 'ETC')
    ) GROUP BY symbol
"""
AS_HELD_SQL = """
    SELECT symbol, sum(notional) FROM trades
    WHERE trade_date = $day AND exposure_type IN ('Direct', 'ETF', 'ETC') GROUP BY symbol
"""


@pytest.mark.parametrize(("view", "sql"), [("as_held", AS_HELD_SQL), ("look_through", LOOK_THROUGH_SQL)])
def test_exposure_by_symbol_matches_duckdb_in_both_views(client, duck, view: str, sql: str) -> None:
    day = _latest(duck)
    got = client.get(f"/api/v1/exposure?trade_date={day}&by=symbol&exposure={view}").get_json()
    want = dict(duck.execute(sql, {"day": day}).fetchall())
    net = {r["symbol"]: r["net_exposure"] for r in got["rows"]}
    scale = sum(abs(v) for v in want.values())
    # A fund its constituents explain fully has no residual: a missing row is a zero.
    for symbol in set(net) | set(want):
        assert _close(net.get(symbol, 0.0), want.get(symbol, 0.0), scale), symbol
    assert {s for s, v in want.items() if abs(v) > 1e-9 * scale} <= set(net)
    # Nothing disappears when looking through: the totals of both views agree.
    held = sum(v for _, v in duck.execute(AS_HELD_SQL, {"day": day}).fetchall())
    assert _close(got["totals"]["net_exposure"], held, scale)


def test_pnl_by_symbol_matches_duckdb(client, duck) -> None:
    day = _latest(duck)
    got = client.get(f"/api/v1/pnl?trade_date={day}&by=symbol").get_json()
    want = dict(
        duck.execute(
            "SELECT symbol, sum(pnl) FROM trades WHERE trade_date = ? AND exposure_type IN ('Direct','ETF','ETC') GROUP BY symbol",
            [day],
        ).fetchall()
    )
    rows = got["rows"]
    assert [r["pnl"] for r in rows] == sorted((r["pnl"] for r in rows), reverse=True)
    scale = sum(abs(v) for v in want.values())
    assert {r["symbol"] for r in rows} == set(want)
    for r in rows:
        assert _close(r["pnl"], want[r["symbol"]], scale)


def test_openapi_document_describes_every_endpoint(client) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    assert {"/health", "/api/v1/pivot", "/api/v1/instruments", "/api/v1/constituents", "/api/v1/exposure", "/api/v1/pnl"} <= set(doc["paths"])
    assert "PivotRequest" in doc["components"]["schemas"]


# -- date ranges: flows summed, stocks as of the last date with data ------------------------


def _as_of(duck: duckdb.DuckDBPyConnection, start: str, end: str) -> str:
    return str(duck.execute(
        "SELECT max(trade_date) FROM trades WHERE trade_date BETWEEN ? AND ? AND exposure_type IN ('Direct','ETF','ETC')",
        [start, end]).fetchone()[0])


def test_exposure_over_a_range_is_the_exposure_of_its_last_date_with_data(client, duck) -> None:
    start, end = "2024-02-01", "2024-02-25"  # a Sunday: the last date with data is the Friday before
    day = _as_of(duck, start, end)
    assert day < end
    ranged = client.get(f"/api/v1/exposure?from={start}&to={end}&by=desk&cache=false").get_json()
    single = client.get(f"/api/v1/exposure?trade_date={day}&by=desk").get_json()
    assert ranged["meta"]["as_of"] == day and ranged["meta"]["stocks"] == "last"
    want = {d: (g, n) for d, g, n in duck.execute(
        "SELECT desk, sum(abs(notional)), sum(notional) FROM trades WHERE trade_date = ? "
        "AND exposure_type IN ('Direct','ETF','ETC') GROUP BY desk", [day]).fetchall()}
    scale = sum(g for g, _ in want.values())
    assert {r["desk"] for r in ranged["rows"]} == set(want)
    for row in ranged["rows"]:
        gross, net = want[row["desk"]]
        assert _close(row["gross_exposure"], gross, scale) and _close(row["net_exposure"], net, scale)
    assert ranged["rows"] == single["rows"] and ranged["totals"] == single["totals"]
    summed = duck.execute("SELECT sum(abs(notional)) FROM trades WHERE trade_date BETWEEN ? AND ? "
                          "AND exposure_type IN ('Direct','ETF','ETC')", [start, end]).fetchone()[0]
    assert ranged["totals"]["gross_exposure"] < summed / 10  # never the days added up


def test_pnl_over_a_range_adds_the_days_and_reads_unrealised_pnl_as_of_the_last(client, duck) -> None:
    start, end = "2024-01-15", "2024-02-14"
    day = _as_of(duck, start, end)
    got = client.get(f"/api/v1/pnl?from={start}&to={end}&by=portfolio_manager_id").get_json()
    flows = {pm: (p, r) for pm, p, r in duck.execute(
        "SELECT portfolio_manager_id, sum(pnl), sum(realized_pnl) FROM trades WHERE trade_date BETWEEN ? AND ? "
        "AND exposure_type IN ('Direct','ETF','ETC') GROUP BY 1", [start, end]).fetchall()}
    stocks = {pm: (u, g) for pm, u, g in duck.execute(
        "SELECT portfolio_manager_id, sum(unrealized_pnl), sum(abs(notional)) FROM trades WHERE trade_date = ? "
        "AND exposure_type IN ('Direct','ETF','ETC') GROUP BY 1", [day]).fetchall()}
    scale = sum(abs(p) for p, _ in flows.values())
    assert got["meta"]["as_of"] == day and len(got["rows"]) == len(flows)
    for row in got["rows"]:
        pm = row["portfolio_manager_id"]
        assert _close(row["pnl"], flows[pm][0], scale) and _close(row["realized_pnl"], flows[pm][1], scale)
        assert _close(row["unrealized_pnl"], stocks[pm][0], scale)
        assert _close(row["pnl_pct_gross"], 100 * flows[pm][0] / stocks[pm][1], 1.0)


def test_exposure_can_be_averaged_over_the_dates_with_data(client, duck) -> None:
    start, end = "2024-02-01", "2024-02-29"
    got = client.get(f"/api/v1/exposure?from={start}&to={end}&by=desk&stocks=average").get_json()
    days = duck.execute("SELECT count(DISTINCT trade_date) FROM trades WHERE trade_date BETWEEN ? AND ?",
                        [start, end]).fetchone()[0]
    want = dict(duck.execute(
        "SELECT desk, sum(notional) / ? FROM trades WHERE trade_date BETWEEN ? AND ? "
        "AND exposure_type IN ('Direct','ETF','ETC') GROUP BY desk", [days, start, end]).fetchall())
    assert got["meta"]["stocks"] == "average" and got["meta"]["stock_days"] == days
    scale = sum(abs(v) for v in want.values())
    for row in got["rows"]:
        assert _close(row["net_exposure"], want[row["desk"]], scale)


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/exposure?from=2024-13-01", "from"),
        ("/api/v1/exposure?to=2024-02-30", "to"),
        ("/api/v1/exposure?from=20240101", "from"),
        ("/api/v1/pnl?from=2024-02-10&to=2024-02-01", "to"),
        ("/api/v1/pnl?trade_date=2024-02-01&from=2024-01-01", "trade_date"),
        ("/api/v1/pnl?from=" + "9" * 5000, "from"),
        ("/api/v1/exposure?stocks=sum", "stocks"),
        ("/api/v1/exposure?stocks=last%27%3B%20DROP%20TABLE%20trades_1d", "stocks"),
        ("/api/v1/exposure?stocks=last&stocks=average", "stocks"),
        ("/api/v1/exposure?cache=maybe", "cache"),
    ],
)
def test_bad_dates_and_modes_on_the_summary_endpoints_name_the_parameter(client, url: str, field: str) -> None:
    resp = client.get(url)
    assert resp.status_code == 400
    message = resp.get_json()["error"]
    assert message.startswith(f"{field}: "), message
    assert "DROP" not in message and "9999" not in message and "SELECT" not in message


@pytest.mark.parametrize("key", ["x'; DROP TABLE trades_1d; --", "<script>alert(1)</script>", "a" * 300])
def test_hostile_parameter_and_field_names_are_never_echoed(client, key: str) -> None:
    from urllib.parse import quote

    resp = client.get(f"/api/v1/exposure?{quote(key)}=1")
    assert resp.status_code == 400 and key not in resp.get_json()["error"]
    assert "<unnamed>" in resp.get_json()["error"]
    body = {"dimensions": ["desk"], "metrics": ["pnl"], key: 1}
    resp = _pivot(client, body)
    assert resp.status_code == 400 and key not in resp.get_json()["error"]
    resp = client.post("/api/v1/trades/page", data=json.dumps({"request": body, key: 1}), content_type="application/json")
    assert resp.status_code == 400 and key not in resp.get_json()["error"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"stocks": "sum"}, "stocks"),
        ({"stocks": "average'); DROP TABLE trades_1d; --"}, "stocks"),
        ({"stocks": {"$ne": "last"}}, "stocks"),
        ({"sort": {"field": "pnl", "column": ["Buy"]}}, "sort.column"),
        ({"columns": ["side"], "sort": {"field": "pnl", "column": ["Buy", "x"]}}, "sort.column"),
        ({"columns": ["side"], "sort": {"field": "pnl", "column": ["x" * 5000]}}, "sort.column.0"),
        ({"columns": ["side"], "sort": {"field": "pnl", "column": [{"a": 1}]}}, "sort.column.0"),
    ],
)
def test_bad_stock_modes_and_sort_columns_get_400_naming_the_field(client, change: dict, field: str) -> None:
    resp = _pivot(client, {"dimensions": ["desk"], "metrics": ["pnl"], **change})
    assert resp.status_code == 400
    message = resp.get_json()["error"]
    assert message.startswith(f"{field}: "), message
    assert "DROP" not in message and "xxxxx" not in message and "SELECT" not in message


def test_the_cache_keeps_stock_modes_and_sort_columns_apart(client, duck) -> None:
    base = {"dimensions": ["desk", "symbol"], "columns": ["side"], "metrics": ["gross_exposure", "pnl"],
            "filters": {"trade_date": {"from": "2024-01-08", "to": "2024-02-20"}}}
    last = _pivot(client, base).get_json()
    again = _pivot(client, base).get_json()
    average = _pivot(client, {**base, "stocks": "average"}).get_json()
    assert again["meta"]["cached"] is True and average["meta"]["cached"] is False
    assert average["totals"]["gross_exposure"] != last["totals"]["gross_exposure"]
    assert average["totals"]["pnl"] == pytest.approx(last["totals"]["pnl"], rel=1e-12)
    buy = _pivot(client, {**base, "sort": {"field": "pnl", "direction": "desc", "column": ["Buy"]}}).get_json()
    sell = _pivot(client, {**base, "sort": {"field": "pnl", "direction": "desc", "column": ["Sell"]}}).get_json()
    assert buy["meta"]["cached"] is False and sell["meta"]["cached"] is False
    assert [r["symbol"] for r in buy["rows"]] != [r["symbol"] for r in sell["rows"]]


def test_openapi_document_describes_ranges_and_stock_modes(client) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/exposure", "/api/v1/pnl"):
        params = {p["name"]: p for p in doc["paths"][path]["get"]["parameters"]}
        assert {"trade_date", "from", "to", "stocks", "by", "exposure"} <= set(params)
        assert params["stocks"]["schema"]["enum"] == ["last", "average"]
    schema = doc["components"]["schemas"]["PivotRequest"]["properties"]
    assert schema["stocks"]["enum"] == ["last", "average"] and schema["stocks"]["default"] == "last"
    sort = doc["components"]["schemas"]["PivotSort"]["properties"]
    assert "column" in sort
    answer = _resolve(doc, doc["paths"]["/api/v1/pivot"]["post"]["responses"]["200"]["content"]["application/json"]["schema"])
    assert {"as_of", "stocks", "stock_days"} <= set(_resolve(doc, answer["properties"]["meta"])["properties"])


def _resolve(doc: dict, schema: dict) -> dict:
    """A schema with its ``$ref`` (into the document's components) followed."""
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_raw_trades_csv_names_its_as_of_date_and_marks_its_rows(client, duck) -> None:
    resp = client.get("/api/v1/trades.csv?rows=desk&m=pnl&date=2024-02-12..2024-02-25")
    assert resp.status_code == 200
    day = _as_of(duck, "2024-02-12", "2024-02-25")
    assert resp.headers["X-Deskboard-As-Of"] == day
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert rows and {r["is_as_of_date"] for r in rows} == {"0", "1"}
    assert all((r["is_as_of_date"] == "1") == (r["trade_date"] == day) for r in rows)
