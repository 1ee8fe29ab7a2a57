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
