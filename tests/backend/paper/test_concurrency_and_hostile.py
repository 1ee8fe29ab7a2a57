"""Two buyers racing for the same cash, and sellers for the same shares — threads on SQLite and on
PostgreSQL, and two processes on PostgreSQL — never spend what is not there; a key retried at
once trades once. Hostile orders are refused with a clear reason and change nothing."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import date

import pytest

from backend.meta import open_meta
from backend.paper.ledger import Ledger, identities
from backend.paper.orders import OrderError

from .conftest import CALENDAR, quote

OWNER = "ana"


def _race(ledger: Ledger, pid: int, orders: list[dict], board) -> list[object]:
    """Place ``orders`` at once, one thread each; what each got (an order or its refusal)."""
    results: list[object] = [None] * len(orders)
    barrier = threading.Barrier(len(orders))

    def place(i: int) -> None:
        barrier.wait()
        try:
            results[i] = ledger.place(pid, OWNER, orders[i], board)
        except OrderError as exc:
            results[i] = exc

    threads = [threading.Thread(target=place, args=(i,)) for i in range(len(orders))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_threads_racing_for_the_same_cash_fill_only_what_it_pays_for(ledger):
    # 100,000,000 đồng pays for one 1,000-share buy at 90,100 (90,235,150 with its fee), not two
    pid = ledger.create(OWNER, "race", 100_000_000)["id"]
    orders = [{"symbol": "VCB", "side": "buy", "quantity": 1_000, "type": "market"} for _ in range(4)]
    results = _race(ledger, pid, orders, quote(asks=((90_100, 100_000),)))
    refused = [r for r in results if isinstance(r, OrderError)]
    assert len(refused) == 3 and all(str(r).startswith("cash:") for r in refused)
    held = ledger.positions(pid, OWNER, lambda s: 90_100)
    assert identities(held) == (0, 0) and held["cash"] == 100_000_000 - 90_235_150
    assert len(ledger.history(pid, OWNER)) == 1


def test_threads_racing_to_sell_the_same_shares_sell_them_once(ledger):
    pid = ledger.create(OWNER, "race")["id"]
    ledger.place(pid, OWNER, {"symbol": "VCB", "side": "buy", "quantity": 1_000, "type": "market"}, quote())
    thursday = date(2026, 3, 5)
    orders = [{"symbol": "VCB", "side": "sell", "quantity": 1_000, "type": "market"} for _ in range(3)]
    results = _race(ledger, pid, orders, quote(day=thursday))
    assert sum(not isinstance(r, OrderError) for r in results) == 1
    assert ledger.positions(pid, OWNER, lambda s: 90_000, thursday)["positions"][0]["quantity"] == 0


def test_a_key_retried_at_once_trades_once(ledger):
    pid = ledger.create(OWNER, "race")["id"]
    order = {"symbol": "VCB", "side": "buy", "quantity": 1_000, "type": "market", "idempotency_key": "k-1"}
    results = _race(ledger, pid, [order] * 4, quote())
    assert not any(isinstance(r, OrderError) for r in results)
    assert len({r.order["id"] for r in results}) == 1 and sum(not r.repeated for r in results) == 1
    assert len(ledger.history(pid, OWNER)) == 1


def _buy_in_process(url: str, pid: int, results) -> None:
    ledger = Ledger(open_meta(url), calendar=CALENDAR)
    try:
        ledger.place(pid, OWNER, {"symbol": "VCB", "side": "buy", "quantity": 1_000, "type": "market"},
                     quote(asks=((90_100, 100_000),)))
        results.put("filled")
    except OrderError as exc:
        results.put(str(exc))


def test_two_processes_racing_for_the_same_cash_on_postgresql(postgres_url, meta_url):
    if not meta_url.startswith("postgresql"):
        pytest.skip("the two-process race is PostgreSQL's (SQLite is one file on one machine)")
    ledger = Ledger(open_meta(meta_url), calendar=CALENDAR)
    pid = ledger.create(OWNER, "race", 100_000_000)["id"]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_buy_in_process, args=(meta_url, pid, results)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    got = sorted(results.get(timeout=5) for _ in workers)
    assert got[0].startswith("cash:") and got[1] == "filled"
    assert ledger.positions(pid, OWNER, lambda s: 90_100)["cash"] == 100_000_000 - 90_235_150


HOSTILE = [
    ({"quantity": -100}, "quantity: Input should be greater than or equal to 100"),
    ({"quantity": 150}, "quantity: whole lots of 100 shares, got 150"),
    ({"quantity": 100.5}, "quantity: Input should be a valid integer"),
    ({"quantity": "100"}, "quantity: Input should be a valid integer"),
    ({"quantity": 10**12}, "quantity: Input should be less than or equal to 500000"),
    ({"limit_price": 90_050}, "limit_price: 90,050 is off the tick grid (100 đồng at this price): 90,000 or 90,100"),
    ({"limit_price": 96_400}, "limit_price: 96,400 is outside today's band for VCB, floor 83,700 to ceiling 96,300"),
    ({"limit_price": -1}, "limit_price: Input should be greater than 0"),
    ({"symbol": "vcb'; DROP TABLE paper_orders;--"}, "symbol: String should match pattern"),
    ({"symbol": "<script>"}, "symbol: String should match pattern"),
    ({"symbol": "ZZZ"}, "symbol: ZZZ is not on the board"),
    ({"symbol": "VN30F2612"}, "symbol: VN30F2612 is not on the board"),
    ({"side": "short"}, "side: Input should be 'buy' or 'sell'"),
    ({"type": "iceberg"}, "type: Input should be 'market', 'limit', 'stop' or 'stop_limit'"),
    ({"type": "market"}, "limit_price: not taken by a market order"),
    ({"type": "stop"}, "limit_price: not taken by a stop order"),
    ({"type": "stop_limit"}, "stop_price: needed by a stop_limit order"),
    ({"time_in_force": "ioc"}, "time_in_force: Input should be 'day' or 'gtc'"),
    ({"idempotency_key": "x" * 65}, "idempotency_key: String should have at most 64 characters"),
    ({"idempotency_key": "a b"}, "idempotency_key: String should match pattern"),
    ({"note": "hi"}, "note: Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("change", "said"), HOSTILE, ids=[h[1][:40] for h in HOSTILE])
def test_hostile_orders_are_refused_and_nothing_changes(sqlite_ledger, change, said):
    ledger = sqlite_ledger
    pid = ledger.create(OWNER, "main")["id"]
    before = ledger.positions(pid, OWNER, lambda s: None)
    order = {"symbol": "VCB", "side": "buy", "quantity": 100, "type": "limit", "limit_price": 90_000, **change}
    board = {"VCB": quote()}.get(order["symbol"] if isinstance(order["symbol"], str) else "")
    with pytest.raises(OrderError) as refused:
        ledger.place(pid, OWNER, order, board)
    assert str(refused.value).startswith(said)
    assert ledger.positions(pid, OWNER, lambda s: None) == before and ledger.orders(pid, OWNER) == []


@pytest.mark.parametrize("bad", [None, [], "buy VCB", 7])
def test_an_order_that_is_not_an_object_is_refused(sqlite_ledger, bad):
    pid = sqlite_ledger.create(OWNER, "main")["id"]
    with pytest.raises(OrderError, match="order: a JSON object"):
        sqlite_ledger.place(pid, OWNER, bad, quote())


def test_a_futures_contract_is_not_traded(sqlite_ledger):
    pid = sqlite_ledger.create(OWNER, "main")["id"]
    with pytest.raises(OrderError, match="symbol: VN30F2612 is not a stock"):
        sqlite_ledger.place(pid, OWNER, {"symbol": "VN30F2612", "side": "buy", "quantity": 100, "type": "market"},
                            quote("VN30F2612", stock=False))


@pytest.mark.parametrize(("arguments", "said"), [
    ({"name": ""}, "name: 1 to 80 letters"),
    ({"name": "a\nb"}, "name: 1 to 80 letters"),
    ({"name": "x" * 81}, "name: 1 to 80 letters"),
    ({"name": "'; DROP TABLE paper_orders;--"}, "name: 1 to 80 letters"),
    ({"name": "<b>desk</b>"}, "name: 1 to 80 letters"),
    ({"cash": -1}, "cash: from 0 to"),
    ({"cash": 1.5}, "cash: a whole number of đồng"),
    ({"cash": True}, "cash: a whole number of đồng"),
    ({"cash": 10**16}, "cash: from 0 to"),
    ({"commission": "0.5"}, "commission: from 0 to 0.05"),
    ({"commission": "NaN"}, "commission: from 0 to 0.05"),
    ({"sales_tax": "ten"}, "sales_tax: a rate such as 0.0015"),
])
def test_hostile_portfolios_are_refused(sqlite_ledger, arguments, said):
    with pytest.raises(OrderError, match=said.replace("(", r"\(")):
        sqlite_ledger.create(OWNER, **{"name": "main", **arguments})
    assert sqlite_ledger.portfolios(OWNER) == []


def test_a_name_is_once_per_owner(sqlite_ledger):
    sqlite_ledger.create(OWNER, "main")
    with pytest.raises(OrderError, match="name: you already have a portfolio called 'main'"):
        sqlite_ledger.create(OWNER, " main ")
    assert sqlite_ledger.create("bo", "main")["owner"] == "bo"
