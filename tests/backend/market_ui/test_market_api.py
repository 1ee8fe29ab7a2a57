"""The live market REST endpoints over a real board and a real embedded warehouse."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest
from flask import Flask

from backend.api.market import market_api
from backend.market.board import BoardState
from backend.market.service import EXTENSION_KEY, MarketService, ServiceSettings
from backend.market.store import MarketStore
from backend.warehouse import Warehouse


@pytest.fixture
def market(fresh_warehouse: Warehouse) -> MarketService:
    return MarketService(
        settings=ServiceSettings(stale_seconds=5), board=BoardState(), store=MarketStore(fresh_warehouse)
    )


@pytest.fixture
def client(market: MarketService):
    app = Flask(__name__)
    app.register_blueprint(market_api)
    app.extensions[EXTENSION_KEY] = market
    return app.test_client()


def _error(resp, status: int = 400) -> str:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.is_json
    message = resp.get_json()["error"]
    assert "SELECT" not in message and "Traceback" not in message
    return message


def test_board_without_a_version_is_the_full_board_and_with_one_only_the_changes(client, market) -> None:
    market.board.publish([{"symbol": s, "last": 10_000} for s in ("ACB", "FPT", "HPG")])
    first = client.get("/api/v1/market/board").get_json()
    assert first["full"] is True
    assert [r["symbol"] for r in first["rows"]] == ["ACB", "FPT", "HPG"]
    market.board.publish([{"symbol": "FPT", "last": 10_100}, {"symbol": "ACB", "last": 10_000}])
    diff = client.get(f"/api/v1/market/board?since={first['version']}").get_json()
    assert diff["full"] is False
    assert [(r["symbol"], r["last"]) for r in diff["rows"]] == [("FPT", 10_100)]
    assert diff["version"] > first["version"]
    same = client.get(f"/api/v1/market/board?since={diff['version']}").get_json()
    assert same["rows"] == [] and same["full"] is False
    assert same["status"]["state"] == "stopped"


def test_an_unknown_or_future_version_gets_the_full_board(client, market) -> None:
    market.board.publish([{"symbol": "FPT", "last": 1}])
    for since in ("0", "1", str(market.board.version + 1), "9" * 20):
        body = client.get(f"/api/v1/market/board?since={since}").get_json()
        assert body["full"] is True and [r["symbol"] for r in body["rows"]] == ["FPT"]


def test_the_board_can_be_narrowed_to_a_watchlist(client, market) -> None:
    market.board.publish([{"symbol": s, "last": 1} for s in ("ACB", "FPT", "HPG", "VNM")])
    body = client.get("/api/v1/market/board?symbols=fpt,VNM").get_json()
    assert [r["symbol"] for r in body["rows"]] == ["FPT", "VNM"]


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("since=abc", "since"),
        ("since=-1", "since"),
        ("since=1e5", "since"),
        ("since=1.0", "since"),
        ("since=" + "9" * 21, "since"),
        ("since=%00", "since"),
        ("since=1&since=2", "since"),
        ("symbols=FPT,%27%3BDROP", "symbols"),
        ("symbols=" + ",".join(f"S{i}" for i in range(501)), "symbols"),
        ("symbols=" + "A" * 5000, "symbols"),
        ("sinse=1", "sinse"),
        ("<script>=1", "script"),
    ],
)
def test_bad_board_parameters_are_a_400_naming_the_parameter(client, market, query: str, names: str) -> None:
    market.board.publish([{"symbol": "FPT", "last": 1}])
    before = market.board.version
    assert names in _error(client.get(f"/api/v1/market/board?{query}"))
    assert market.board.version == before


def test_history_returns_the_stored_rows_of_a_day_and_symbol(client, market) -> None:
    day = datetime.now(UTC).date()
    now = time.time()
    market.store.add("trades", [
        {"ts": now + i, "symbol": s, "price": 1000.0 + i, "volume": 100, "total_volume": 100 * i,
         "total_value": 1.0} for i, s in enumerate(["FPT", "HPG", "FPT"])
    ])
    market.store.flush()
    body = client.get(f"/api/v1/market/history?kind=trades&date={day}&symbol=FPT").get_json()
    assert [r["price"] for r in body["rows"]] == [1000.0, 1002.0]
    assert body["rows"][0]["day"] == day.isoformat()
    everything = client.get(f"/api/v1/market/history?date={day}").get_json()
    assert len(everything["rows"]) == 3
    assert client.get("/api/v1/market/history?date=2001-01-01").get_json()["rows"] == []


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("", "date"),
        ("date=2024-13-01", "date"),
        ("date=yesterday", "date"),
        ("date=2024-01-01T00:00", "date"),
        ("date=2024-01-01&kind=orders", "kind"),
        ("date=2024-01-01&kind=trades;DROP", "kind"),
        ("date=2024-01-01&symbol=FPT%27%20OR%201=1", "symbol"),
        ("date=2024-01-01&symbol=" + "A" * 30, "symbol"),
        ("date=2024-01-01&limit=0", "limit"),
        ("date=2024-01-01&limit=50001", "limit"),
        ("date=2024-01-01&limit=ten", "limit"),
        ("date=2024-01-01&table=market_trades", "table"),
    ],
)
def test_bad_history_parameters_are_a_400_naming_the_parameter(client, query: str, name: str) -> None:
    assert name in _error(client.get(f"/api/v1/market/history?{query}"))


def _alert(alert_id: str, symbol: str = "FPT") -> dict:
    now = time.time()
    return {"id": alert_id, "ts": now, "day": date.today().toordinal(), "symbol": symbol, "kind": "price_rule",
            "severity": "warning", "message": f"{symbol} crossed 130", "value": 131.0, "threshold": 130.0}


def test_alerts_are_listed_newest_first_and_can_be_acknowledged(client, market) -> None:
    market.record_alert(_alert("r1:1", "FPT"))
    market.record_alert(_alert("r2:1", "HPG"))
    listed = client.get("/api/v1/market/alerts").get_json()["alerts"]
    assert [a["id"] for a in listed] == ["r2:1", "r1:1"]
    resp = client.post("/api/v1/market/alerts/r1:1/ack", json={"by": "desk-1"})
    assert resp.status_code == 200 and resp.get_json()["acknowledged"] is True
    open_ = client.get("/api/v1/market/alerts?unacked=1").get_json()["alerts"]
    assert [a["id"] for a in open_] == ["r2:1"]
    assert [a["id"] for a in client.get("/api/v1/market/alerts?symbol=FPT").get_json()["alerts"]] == ["r1:1"]
    # The acknowledgement reached history too.
    stored = client.get(f"/api/v1/market/history?kind=alerts&date={date.today()}").get_json()["rows"]
    assert {(a["id"], a["acked_by"]) for a in stored} == {("r1:1", "desk-1"), ("r2:1", "")}
    assert client.post("/api/v1/market/alerts/r2:1/ack").status_code == 200


@pytest.mark.parametrize(
    ("path", "kwargs", "status"),
    [
        ("/api/v1/market/alerts/nope/ack", {}, 404),
        ("/api/v1/market/alerts/%3Cscript%3E/ack", {}, 400),
        ("/api/v1/market/alerts/r1:1/ack", {"data": "{not json", "content_type": "application/json"}, 400),
        ("/api/v1/market/alerts/r1:1/ack", {"json": ["by"]}, 400),
        ("/api/v1/market/alerts/r1:1/ack", {"json": {"by": ""}}, 400),
        ("/api/v1/market/alerts/r1:1/ack", {"json": {"by": "x" * 65}}, 400),
        ("/api/v1/market/alerts/r1:1/ack", {"json": {"by": "a", "admin": True}}, 400),
        ("/api/v1/market/alerts/r1:1/ack", {"data": "x" * 20_000, "content_type": "application/json"}, 413),
    ],
)
def test_bad_acknowledgements_are_refused_and_leave_the_alert_open(client, market, path, kwargs, status) -> None:
    market.record_alert(_alert("r1:1"))
    _error(client.post(path, **kwargs), status)
    assert market.alerts(unacked=True)[0]["id"] == "r1:1"


@pytest.mark.parametrize(
    "query", ["date=2024-02-30", "symbol=%E2%80%AE", "unacked=yes", "limit=-3", "limit=5001", "x=1"]
)
def test_bad_alert_list_parameters_are_a_400(client, query: str) -> None:
    _error(client.get(f"/api/v1/market/alerts?{query}"))


def test_status_reports_the_feed_state(client, market) -> None:
    body = client.get("/api/v1/market/status").get_json()
    assert body["state"] == "stopped"
    _error(client.get("/api/v1/market/status?verbose=1"))


def test_without_a_running_service_the_endpoints_say_so() -> None:
    app = Flask(__name__)
    app.register_blueprint(market_api)
    resp = app.test_client().get("/api/v1/market/board")
    assert "not running" in _error(resp, 503)


# -- the summary: what /market shows ---------------------------------------------------------

STOCKS = {  # symbol: (ref, ceiling, floor, last)
    "ACB": (26_500, 28_350, 24_650, 27_000), "FPT": (108_000, 115_500, 100_500, 115_500),
    "HPG": (27_500, 29_400, 25_600, 25_600), "VNM": (61_500, 65_800, 57_200, 61_500),
    "MWG": (84_000, 89_800, 78_200, 83_100), "SSI": (36_000, 38_500, 33_500, 36_400),
    "TCB": (35_000, 37_450, 32_550, 34_000), "ZZZ": (10_000, 10_700, 9_300, 10_500),  # not in VN30
}


def _mi(index_id: str, value: float, prior: float, **counts: int) -> str:
    from datetime import datetime

    import orjson

    from backend.market.reference import VN_TZ

    now = datetime.now(VN_TZ)
    content = {"IndexId": index_id, "IndexValue": value, "PriorIndexValue": prior, "TradingSession": "LO",
               "TradingDate": now.strftime("%d/%m/%Y"), "Time": now.strftime("%H:%M:%S"), "AllQty": 5_000,
               "AllValue": 2.5e9, **counts}
    return orjson.dumps({"DataType": "MI", "Content": orjson.dumps(content).decode()}).decode()


def _live(messages: list[str]) -> MarketService:
    """A service whose pipeline has applied ``messages`` and ticked once."""
    from backend.market.core import MarketCore
    from backend.market.pipeline import BOARD_FIELDS, FeedPipeline

    service = MarketService(board=BoardState(fields=BOARD_FIELDS))
    core = MarketCore()
    service.attach_core(core)
    core.process_many(messages)
    FeedPipeline(service, core, lambda: None).tick()  # type: ignore[arg-type, return-value]
    return service


def _summary_of(service: MarketService) -> dict:
    from backend.api.market import MarketSummary

    app = Flask(__name__)
    app.register_blueprint(market_api)
    app.extensions[EXTENSION_KEY] = service
    resp = app.test_client().get("/api/v1/market/summary")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    MarketSummary.model_validate(body)  # every field the document promises, no more
    return body


def _stock_messages() -> list[str]:
    from tests.backend.market_ui.feeds import foreign_message, status_message, trade_message

    out = []
    for i, (symbol, (ref, ceiling, floor, last)) in enumerate(STOCKS.items()):
        out += [status_message(symbol, ref, ceiling, floor), trade_message(symbol, ref, ceiling, floor, last, 100, 100)]
        out.append(foreign_message(symbol, 1000 * (i + 1), 500 * i, 2e8 * (i + 1), 1e8 * i, 10**7, 10**7 - 1000))
    return out


def test_the_summary_is_what_the_board_rows_say() -> None:
    import pandas as pd

    from backend.market.reference import VN30_SYMBOLS
    from tests.backend.market_ui.feeds import trade_message

    service = _live([*_stock_messages(), _mi("VN30", 2_085.5, 2_080.0), _mi("VNINDEX", 1_890.0, 1_880.0),
                     trade_message("VN30F2412", 2_080, 0, 0, 2_090, 10, 10)])
    body = _summary_of(service)
    rows = pd.DataFrame(service.board.rows())
    stocks = rows[rows["kind"] == "stock"]
    # Breadth recomputed from the board rows (no counts in the index messages): VN30 members only.
    vn30 = stocks[stocks["symbol"].isin(VN30_SYMBOLS)]
    at_ceiling, at_floor = vn30["last"] >= vn30["ceiling"], vn30["last"] <= vn30["floor"]
    want = {"advances": int((vn30["last"] > vn30["ref"]).sum()), "declines": int((vn30["last"] < vn30["ref"]).sum()),
            "unchanged": int((vn30["last"] == vn30["ref"]).sum()), "ceilings": int(at_ceiling.sum()),
            "floors": int(at_floor.sum())}
    assert {k: body["indices"]["VN30"][k] for k in want} == want == {
        "advances": 3, "declines": 3, "unchanged": 1, "ceilings": 1, "floors": 1}
    assert body["indices"]["VNINDEX"]["advances"] == int((stocks["last"] > stocks["ref"]).sum()) == 4
    assert body["indices"]["VN30"]["value"] == 2_085.5
    assert body["indices"]["VN30"]["change"] == pytest.approx(5.5)
    assert body["indices"]["VN30"]["change_pct"] == pytest.approx(5.5 / 2_080 * 100)
    # Movers: the stocks up and down the most, by % change against the reference.
    stocks = stocks.assign(pct=(stocks["last"] - stocks["ref"]) / stocks["ref"] * 100)
    up = stocks[stocks["pct"] > 0].sort_values(["pct", "symbol"], ascending=[False, True]).head(5)
    down = stocks[stocks["pct"] < 0].sort_values(["pct", "symbol"]).head(5)
    assert [m["symbol"] for m in body["movers"]["up"]] == up["symbol"].tolist()
    assert [m["symbol"] for m in body["movers"]["down"]] == down["symbol"].tolist()
    assert [m["change_pct"] for m in body["movers"]["up"]] == pytest.approx(up["pct"].tolist())
    # Basis: the futures price minus the index, in points and as a share of the index.
    assert body["basis"]["contract"] == "VN30F2412"
    assert body["basis"]["basis"] == pytest.approx(2_090 - 2_085.5)
    assert body["basis"]["basis_pct"] == pytest.approx(4.5 / 2_085.5 * 100)
    # Foreign totals are the sums of every symbol's day totals.
    foreign = stocks.assign(net=stocks["f_buy_val"] - stocks["f_sell_val"])
    assert body["foreign"]["buy_val"] == pytest.approx(foreign["f_buy_val"].sum())
    assert body["foreign"]["net_val"] == pytest.approx(foreign["net"].sum())
    assert body["status"]["state"] == "stopped" and body["status"]["simulated"] is False
    assert body["clock"]["phase"] and body["clock"]["vn_time"]


def test_the_summary_reports_the_exchange_breadth_when_the_feed_sends_it() -> None:
    counts = {"Advances": 12, "Declines": 15, "NoChanges": 3, "Ceilings": 1, "Floors": 2}
    body = _summary_of(_live([*_stock_messages(), _mi("VNINDEX", 1_890.0, 1_880.0, **counts)]))
    assert {k: body["indices"]["VNINDEX"][k] for k in ("advances", "declines", "unchanged", "ceilings", "floors")} \
        == {"advances": 12, "declines": 15, "unchanged": 3, "ceilings": 1, "floors": 2}


def test_the_summary_before_the_feed_sent_anything_and_its_bad_requests(client, market) -> None:
    body = client.get("/api/v1/market/summary").get_json()
    assert body["indices"] == {} and body["movers"] == {"up": [], "down": []}
    assert body["basis"]["basis"] is None and body["status"]["state"] == "stopped"
    for query in ("?x=1", "?indices=VN30", "?" + "a" * 5000 + "=1"):
        _error(client.get("/api/v1/market/summary" + query))
    app = Flask(__name__)
    app.register_blueprint(market_api)
    assert "not running" in _error(app.test_client().get("/api/v1/market/summary"), 503)


def _document() -> dict:
    from backend.api import register_api

    app = Flask(__name__)
    register_api(app)
    return app.test_client().get("/api/v1/openapi.json").get_json()


def test_the_served_openapi_document_describes_the_summary() -> None:
    doc = _document()
    ref = doc["paths"]["/api/v1/market/summary"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ref["$ref"] == "#/components/schemas/MarketSummary"
    schemas = doc["components"]["schemas"]
    summary = schemas["MarketSummary"]
    assert set(summary["required"]) == {"version", "clock", "indices", "basis", "foreign", "movers", "status"}
    assert set(schemas["IndexSummary"]["properties"]) >= {
        "value", "change", "change_pct", "advances", "declines", "unchanged", "ceilings", "floors", "total_volume",
        "total_value"}
    assert set(schemas["BasisSummary"]["properties"]) == {"contract", "futures", "index", "basis", "basis_pct",
                                                          "stance"}
    assert set(schemas["ForeignSummary"]["properties"]) == {"buy_val", "sell_val", "net_val", "speed_buy_val",
                                                            "speed_sell_val"}
    assert "PivotRequest" in schemas  # the market part adds to, never replaces
