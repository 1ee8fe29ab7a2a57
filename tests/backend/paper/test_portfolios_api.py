"""The portfolios API on a real app, with orders filled at the rows of the real live board: a
portfolio made, an order walked through the asks, retried with its key, resting and cancelled,
the books marked at the board's last price with both identities; every answer against the OpenAPI
document; hostile bodies and ids refused with nothing changed; a viewer may not trade and a trader
never sees another's portfolio."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from backend.api.spec import SPEC_URL
from backend.config import load_settings
from backend.market.runtime import install_market_service
from backend.paper.ledger import identities
from backend.stores import EXTENSION_KEY as STORES_KEY
from tests.backend.access.guard_support import build_app, make_users, sign_in, user_of
from tests.backend.research.test_research_api import _fits

API = "/api/v1/portfolios"
# a continuous-session row as the feed leaves it on the board (prices in đồng)
ROW = {"symbol": "FPT", "kind": "stock", "vn30": True, "ref": 120_000, "ceiling": 128_400, "floor": 111_600,
       "open": 120_000, "high": 121_000, "low": 119_500, "last": 120_500, "last_vol": 100,
       "bid1": 120_400, "bid1_vol": 1_000, "bid2": 120_300, "bid2_vol": 2_000, "bid3": 120_200, "bid3_vol": 3_000,
       "ask1": 120_500, "ask1_vol": 500, "ask2": 120_600, "ask2_vol": 1_000, "ask3": 120_700, "ask3_vol": 4_000,
       "total_vol": 1_000_000, "total_val": 120_300_000_000, "session": "LO", "ts": 0}


def _install_board(app) -> Any:
    service = install_market_service(app.server, app.server.extensions[STORES_KEY], start=False)
    service.board.publish([ROW, {**ROW, "symbol": "VN30F2612", "kind": "future"}])
    return service


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, warehouse_url: str, loaded_warehouse) -> Iterator[Any]:
    from app import create_app

    settings = load_settings(data_dir=tmp_path_factory.mktemp("paper-api"), warehouse_dsn=warehouse_url,
                             warehouse_database=loaded_warehouse.database, demo_rows=0, redis_url=None)
    app = create_app(settings, market=False)
    _install_board(app)
    yield app


@pytest.fixture(scope="module")
def client(app) -> Any:
    return app.server.test_client()


@pytest.fixture(scope="module")
def doc(client) -> dict:
    return client.get(SPEC_URL).get_json()


def test_a_portfolio_trades_at_the_boards_prices_end_to_end(client, doc) -> None:
    made = client.post(API, json={"name": "desk one", "cash": 500_000_000})
    assert made.status_code == 201, made.get_json()
    _fits(doc, API, "post", made)
    pid = made.get_json()["id"]
    assert made.headers["Location"] == f"{API}/{pid}"

    order = {"symbol": "FPT", "side": "buy", "quantity": 1_000, "type": "market", "idempotency_key": "t-1"}
    placed = client.post(f"{API}/{pid}/orders", json=order)
    assert placed.status_code == 201, placed.get_json()
    _fits(doc, f"{API}/{{pid}}/orders", "post", placed)
    body = placed.get_json()
    # asks: 500 at 120,500, then 500 of the 1,000 at 120,600
    assert [(f["price"], f["quantity"]) for f in body["fills"]] == [(120_500, 500), (120_600, 500)]
    assert body["order"]["status"] == "filled"
    again = client.post(f"{API}/{pid}/orders", json=order)
    assert again.status_code == 200 and again.get_json()["repeated"] and again.get_json()["order"] == body["order"]

    resting = client.post(f"{API}/{pid}/orders", json={"symbol": "FPT", "side": "buy", "quantity": 200,
                                                        "limit_price": 119_000}).get_json()["order"]
    assert resting["status"] == "open" and resting["reserved_cash"] == 23_800_000 + 35_700
    working = client.get(f"{API}/{pid}/orders?status=working")
    _fits(doc, f"{API}/{{pid}}/orders", "get", working)
    assert [o["id"] for o in working.get_json()["orders"]] == [resting["id"]]
    cancelled = client.delete(f"{API}/{pid}/orders/{resting['id']}")
    assert cancelled.status_code == 200 and cancelled.get_json()["orders"][0]["status"] == "cancelled"
    assert client.delete(f"{API}/{pid}/orders/{resting['id']}").status_code == 400

    held = client.get(f"{API}/{pid}")
    _fits(doc, f"{API}/{{pid}}", "get", held)
    book = held.get_json()
    assert identities(book) == (0, 0)
    [position] = book["positions"]
    # marked at the board's last price, 120,500; cost 500 × 120,500 + 500 × 120,600
    assert (position["quantity"], position["sellable_quantity"], position["market_price"]) == (1_000, 0, 120_500)
    assert position["unrealized_pnl"] == 1_000 * 120_500 - (60_250_000 + 60_300_000)
    fee = 90_375 + 90_450  # 0.15 % of each fill, half-up
    assert book["cash"] == 500_000_000 - 120_550_000 - fee and book["fees"] == fee
    history = client.get(f"{API}/{pid}/history")
    _fits(doc, f"{API}/{{pid}}/history", "get", history)
    assert [f["fee"] for f in history.get_json()["fills"]] == [90_375, 90_450]

    perf = client.get(f"{API}/{pid}/performance")
    _fits(doc, f"{API}/{{pid}}/performance", "get", perf)
    assert perf.get_json()["days"] == 1 and perf.get_json()["curve"][0]["equity"] == book["equity"]

    moved = client.post(f"{API}/{pid}/cash", json={"kind": "deposit", "amount": 1_000_000})
    assert moved.status_code == 200 and moved.get_json()["net_deposits"] == 501_000_000
    listed = client.get(API).get_json()["portfolios"]
    assert [p["name"] for p in listed if p["id"] == pid] == ["desk one"]
    reset = client.post(f"{API}/{pid}/reset")
    assert reset.status_code == 200 and reset.get_json()["cash"] == 500_000_000 and reset.get_json()["positions"] == []


HOSTILE = [
    ({"symbol": "FPT", "side": "buy", "quantity": 150, "type": "market"}, "quantity: whole lots of 100"),
    ({"symbol": "FPT", "side": "buy", "quantity": -100, "type": "market"}, "quantity"),
    ({"symbol": "FPT", "side": "buy", "quantity": 1e3, "type": "market"}, "quantity"),
    ({"symbol": "FPT", "side": "buy", "quantity": 100, "limit_price": 120_550}, "limit_price: 120,550 is off the tick"),
    ({"symbol": "FPT", "side": "buy", "quantity": 100, "limit_price": 130_000}, "outside today's band"),
    ({"symbol": "FPT", "side": "sell", "quantity": 100, "type": "market"}, "quantity: 100 shares of FPT to sell, 0"),
    ({"symbol": "FPT", "side": "buy", "quantity": 500_000, "type": "market"}, "cash:"),
    ({"symbol": "ZZZ", "side": "buy", "quantity": 100, "type": "market"}, "symbol: ZZZ is not on the board"),
    ({"symbol": "VN30F2612", "side": "buy", "quantity": 100, "type": "market"}, "is not a stock"),
    ({"symbol": "<img src=x>", "side": "buy", "quantity": 100, "type": "market"}, "symbol"),
    ({"symbol": "FPT", "side": "buy", "quantity": 100, "type": "market", "extra": 1}, "extra"),
    ({"symbol": "FPT", "side": "buy", "quantity": 10**30, "type": "market"}, "quantity"),
]


@pytest.mark.parametrize(("body", "said"), HOSTILE, ids=[h[1][:30] for h in HOSTILE])
def test_hostile_orders_are_refused_with_the_reason_and_nothing_changes(client, body, said) -> None:
    pid = client.post(API, json={"name": f"hostile {uuid.uuid4().hex[:8]}"}).get_json()["id"]
    before = client.get(f"{API}/{pid}").get_json()
    refused = client.post(f"{API}/{pid}/orders", json=body)
    assert refused.status_code == 400, refused.get_json()
    assert said in refused.get_json()["error"] and "<img" not in refused.get_json()["error"]
    assert client.get(f"{API}/{pid}").get_json() == before
    assert client.get(f"{API}/{pid}/orders").get_json()["orders"] == []


@pytest.mark.parametrize(("method", "url", "body", "status"), [
    ("post", API, {"name": ""}, 400),
    ("post", API, {"name": "x", "cash": -5}, 400),
    ("post", API, {"name": "x", "cash": 1.5}, 400),
    ("post", API, {"name": "x", "commission": "lots"}, 400),
    ("post", API, b"{nope", 400),
    ("post", API, b"x" * 5_000, 413),
    ("post", f"{API}/1/orders", b"x" * 5_000, 413),
    ("get", f"{API}/999999", None, 404),
    ("get", f"{API}/abc", None, 404),
    ("get", f"{API}/-1", None, 404),
    ("post", f"{API}/999999/orders", {"symbol": "FPT", "side": "buy", "quantity": 100, "type": "market"}, 404),
    ("delete", f"{API}/1/orders/999999", None, 404),
    ("post", f"{API}/1/cash", {"kind": "gift", "amount": 5}, 400),
    ("post", f"{API}/1/cash", {"kind": "withdrawal", "amount": 10**14}, 400),
    ("get", f"{API}/1/orders?status=everything", None, 400),
])
def test_hostile_requests_are_refused(client, method, url, body, status) -> None:
    client.post(API, json={"name": "first"})  # portfolio 1 exists (the module's first)
    kwargs = {"data": body, "content_type": "application/json"} if isinstance(body, bytes) else {"json": body}
    answer = getattr(client, method)(url, **(kwargs if body is not None else {}))
    assert answer.status_code == status, answer.get_data(as_text=True)[:300]
    assert set(answer.get_json()) == {"error"}


@pytest.fixture
def signed_in(tmp_path, warehouse_url: str, loaded_warehouse):
    app = build_app(tmp_path / "data", warehouse_url, loaded_warehouse.database)
    app.server.test_client().get("/health")
    _install_board(app)
    make_users(app)

    def client_of(user: str) -> Any:
        client = app.server.test_client()
        assert sign_in(client, user).status_code == 302
        return client

    return client_of


def _csrf(client) -> dict[str, str]:
    cookie = client.get_cookie("_csrf_token")
    return {"X-CSRFToken": cookie.value if cookie is not None else ""}


def test_a_viewer_may_not_trade_and_a_trader_never_sees_anothers_portfolio(signed_in) -> None:
    trader, admin, viewer = (signed_in(user_of(role)) for role in ("trader", "admin", "viewer"))
    pid = trader.post(API, json={"name": "mine"}, headers=_csrf(trader)).get_json()["id"]
    order = {"symbol": "FPT", "side": "buy", "quantity": 100, "type": "market"}
    assert trader.post(f"{API}/{pid}/orders", json=order, headers=_csrf(trader)).status_code == 201
    assert viewer.get(API).status_code == 403
    assert viewer.post(f"{API}/{pid}/orders", json=order, headers=_csrf(viewer)).status_code == 403
    for answer in (admin.get(f"{API}/{pid}"), admin.post(f"{API}/{pid}/orders", json=order, headers=_csrf(admin)),
                   admin.get(f"{API}/{pid}/history")):
        assert answer.status_code == 404
    assert admin.get(API).get_json()["portfolios"] == []
    assert len(trader.get(f"{API}/{pid}/history").get_json()["fills"]) == 1


def test_a_symbols_price_and_day_figures_from_the_board(client, doc) -> None:
    answer = client.get("/api/v1/symbols/FPT/price")
    _fits(doc, "/api/v1/symbols/{symbol}/price", "get", answer)
    body = answer.get_json()
    assert (body["last"], body["ceiling"], body["floor"], body["bid1"], body["ask1"]) == (
        120_500, 128_400, 111_600, 120_400, 120_500)
    assert (body["volume"], body["vwap"]) == (1_000_000, 120_300)  # 120,300,000,000 đồng over 1,000,000 shares
    for bad, status in (("ZZZZ", 404), ("fpt", 400), ("<x>", 400), ("A" * 30, 400)):
        refused = client.get(f"/api/v1/symbols/{bad}/price")
        assert refused.status_code == status and set(refused.get_json()) == {"error"}
        assert "<x>" not in refused.get_json()["error"]


def test_strategies_over_the_api(client, doc) -> None:
    pid = client.post(API, json={"name": "strategic"}).get_json()["id"]
    made = client.post("/api/v1/strategies", json={"portfolio_id": pid, "kind": "ma_cross",
                                                   "parameters": {"fast": 3, "slow": 8}, "symbols": ["FPT"]})
    assert made.status_code == 201, made.get_json()
    _fits(doc, "/api/v1/strategies", "post", made)
    sid = made.get_json()["id"]
    listed = client.get(f"/api/v1/strategies?portfolio={pid}")
    _fits(doc, "/api/v1/strategies", "get", listed)
    assert [s["id"] for s in listed.get_json()["strategies"]] == [sid]
    off = client.post(f"/api/v1/strategies/{sid}", json={"active": False, "lots": 3})
    assert off.status_code == 200 and (off.get_json()["active"], off.get_json()["lots"]) == (False, 3)
    signals = client.get(f"/api/v1/strategies/{sid}/signals")
    _fits(doc, "/api/v1/strategies/{sid}/signals", "get", signals)
    assert signals.get_json()["signals"] == []
    for body, said in (({"portfolio_id": pid, "kind": "momentum"}, "kind"),
                       ({"portfolio_id": pid, "kind": "ma_cross", "parameters": {"fast": 9, "slow": 2}},
                        "fast: 9 must be below slow"),
                       ({"portfolio_id": pid, "kind": "ma_cross", "symbols": ["<b>"]}, "symbols"),
                       ({"portfolio_id": 999_999, "kind": "ma_cross"}, "there is no portfolio")):
        refused = client.post("/api/v1/strategies", json=body)
        assert refused.status_code in (400, 404) and said in refused.get_json()["error"], refused.get_json()
        assert "<b>" not in refused.get_json()["error"]
    assert client.post(f"/api/v1/strategies/{sid}", json={"colour": "red"}).status_code == 400
    assert client.get("/api/v1/strategies/999999/signals").status_code == 404
    assert len(client.get(f"/api/v1/strategies?portfolio={pid}").get_json()["strategies"]) == 1
