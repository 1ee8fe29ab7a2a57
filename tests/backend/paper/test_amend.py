"""Amending a working order — cancel it and place its replacement as one change — on SQLite and on
PostgreSQL: new prices and quantities, the cancelled order's hold counted as free for its
replacement, a replacement refused with nothing changed, a partly filled order amended on what is
left, finished orders refused, a retried amend done once, hostile amends refused, and two amends of
the same order at once leaving exactly one replacement. Every number is worked in the comments."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import date
from typing import Any

import pytest

from backend.market.events import Phase
from backend.meta import open_meta
from backend.paper.ledger import Ledger, Placed, PortfolioNotFound, identities
from backend.paper.orders import OrderError, OrderNotWorking

from .conftest import CALENDAR, MONDAY, quote

OWNER = "ana"
THURSDAY = date(2026, 3, 5)  # Monday's buys settle (T+2, Wednesday closed)


def buy(quantity: int, **more: Any) -> dict:
    return {"symbol": "VCB", "side": "buy", "quantity": quantity, **more}


def sell(quantity: int, **more: Any) -> dict:
    return {"symbol": "VCB", "side": "sell", "quantity": quantity, **more}


def board(**more: Any):
    """The board ``amend`` reads a symbol's quote from: VCB's around 90,000 (asks 90,100 × 1,000,
    90,200 × 2,000, 90,300 × 5,000; bids a tick apart below), band 83,700 to 96,300."""
    return lambda symbol: quote(symbol, **more) if symbol == "VCB" else None


def state(ledger: Ledger, pid: int, today: date = MONDAY) -> tuple[dict, list[dict], list[dict]]:
    """The books (with both identities checked), every order and every fill."""
    held = ledger.positions(pid, OWNER, lambda symbol: 90_000, today)
    assert identities(held) == (0, 0)
    return held, ledger.orders(pid, OWNER), ledger.history(pid, OWNER)


def test_amending_the_price_cancels_the_order_and_places_a_replacement_that_names_it(ledger):
    pid = ledger.create(OWNER, "main")["id"]
    resting = ledger.place(pid, OWNER, buy(1_000, limit_price=89_500), quote()).order
    amended = ledger.amend(pid, OWNER, resting["id"], {"limit_price": 89_000}, board())
    new, old = amended.order, amended.replaced
    assert (new["replaces"], new["symbol"], new["side"], new["type"], new["time_in_force"]) == (
        resting["id"], "VCB", "buy", "limit", "day")
    assert (new["quantity"], new["limit_price"], new["status"]) == (1_000, 89_000, "open")
    # it holds 89,000,000 and its fee 133,500; the cancelled order holds nothing
    assert new["reserved_cash"] == 89_133_500
    assert (old["status"], old["reserved_cash"], old["reason"]) == (
        "cancelled", 0, f"amended: replaced by order {new['id']}")
    assert amended.fills == [] and not amended.repeated
    _, orders, _ = state(ledger, pid)
    assert [(o["id"], o["status"]) for o in orders] == [(new["id"], "open"), (resting["id"], "cancelled")]
    assert ledger.orders(pid, OWNER, working=True) == [new]


def test_an_amend_to_a_marketable_price_fills_on_the_board_like_a_new_order(ledger):
    pid = ledger.create(OWNER, "main")["id"]
    resting = ledger.place(pid, OWNER, buy(2_000, limit_price=89_500), quote()).order
    amended = ledger.amend(pid, OWNER, resting["id"], {"limit_price": 90_200}, board())
    # asks 90,100 × 1,000 then 90,200 × 1,000 of its 2,000
    assert [(f["price"], f["quantity"], f["order_id"]) for f in amended.fills] == [
        (90_100, 1_000, amended.order["id"]), (90_200, 1_000, amended.order["id"])]
    assert (amended.order["status"], amended.order["reserved_cash"]) == ("filled", 0)
    held, _, fills = state(ledger, pid)
    fees = 135_150 + 135_300  # 0.15 % of 90,100,000 and of 90,200,000
    assert held["cash"] == 1_000_000_000 - 90_100_000 - 90_200_000 - fees and len(fills) == 2


def test_an_amend_changes_the_quantity_up_or_down(ledger):
    pid = ledger.create(OWNER, "main")["id"]
    first = ledger.place(pid, OWNER, buy(1_000, limit_price=89_500), quote()).order
    bigger = ledger.amend(pid, OWNER, first["id"], {"quantity": 3_000}, board()).order
    assert (bigger["quantity"], bigger["limit_price"], bigger["reserved_cash"]) == (3_000, 89_500, 268_902_750)
    smaller = ledger.amend(pid, OWNER, bigger["id"], {"quantity": 500, "limit_price": 89_400}, board()).order
    # 500 × 89,400 = 44,700,000 with its fee 67,050
    assert (smaller["quantity"], smaller["limit_price"], smaller["reserved_cash"]) == (500, 89_400, 44_767_050)
    assert smaller["replaces"] == bigger["id"] and bigger["replaces"] == first["id"]
    assert [o["id"] for o in ledger.orders(pid, OWNER, working=True)] == [smaller["id"]]


def test_what_the_cancelled_order_held_is_free_for_its_replacement(ledger):
    # 100,000,000 đồng: the resting buy holds 89,634,250, leaving 10,365,750 free — yet its
    # replacement at 90,000 (90,135,000 with the fee) is placed, because the hold it replaces is freed
    pid = ledger.create(OWNER, "tight", 100_000_000)["id"]
    resting = ledger.place(pid, OWNER, buy(1_000, limit_price=89_500), quote()).order
    assert resting["reserved_cash"] == 89_634_250
    with pytest.raises(OrderError, match="cash:"):
        ledger.place(pid, OWNER, buy(1_000, limit_price=90_000), quote())
    replaced = ledger.amend(pid, OWNER, resting["id"], {"limit_price": 90_000}, board()).order
    assert replaced["reserved_cash"] == 90_135_000


def test_an_amend_that_would_overspend_is_refused_and_nothing_changes(ledger):
    pid = ledger.create(OWNER, "tight", 100_000_000)["id"]
    resting = ledger.place(pid, OWNER, buy(1_000, limit_price=89_500), quote()).order
    before = state(ledger, pid)
    # 2,000 at 89,500 needs 179,268,500 with the fee; 100,000,000 is all there is
    with pytest.raises(OrderError, match=r"cash: this order needs up to 179,268,500 đồng with fees, "
                                         r"100,000,000 is free"):
        ledger.amend(pid, OWNER, resting["id"], {"quantity": 2_000}, board())
    assert state(ledger, pid) == before
    assert ledger.orders(pid, OWNER, working=True) == [resting]


def test_a_sell_amend_counts_the_shares_its_order_held_and_no_more(ledger):
    pid = ledger.create(OWNER, "main")["id"]
    ledger.place(pid, OWNER, buy(1_000, type="market"), quote())
    resting = ledger.place(pid, OWNER, sell(1_000, limit_price=91_000), quote(day=THURSDAY)).order
    higher = ledger.amend(pid, OWNER, resting["id"], {"limit_price": 92_000}, board(day=THURSDAY)).order
    assert (higher["side"], higher["quantity"], higher["limit_price"]) == ("sell", 1_000, 92_000)
    before = state(ledger, pid, THURSDAY)
    with pytest.raises(OrderError, match="quantity: 1,100 shares of VCB to sell, 1,000 can be sold now"):
        ledger.amend(pid, OWNER, higher["id"], {"quantity": 1_100}, board(day=THURSDAY))
    assert state(ledger, pid, THURSDAY) == before


def test_a_partly_filled_order_is_amended_on_what_is_left_and_keeps_its_fills(ledger):
    pid = ledger.create(OWNER, "main")["id"]
    # 3,000 at 90,100: the 1,000 offered at 90,100 fill, 2,000 rest
    partly = ledger.place(pid, OWNER, buy(3_000, limit_price=90_100), quote())
    assert (partly.order["status"], partly.order["filled_quantity"]) == ("partially_filled", 1_000)
    amended = ledger.amend(pid, OWNER, partly.order["id"], {"limit_price": 90_000}, board())
    assert (amended.order["quantity"], amended.order["filled_quantity"], amended.order["status"]) == (2_000, 0, "open")
    assert (amended.replaced["status"], amended.replaced["filled_quantity"]) == ("cancelled", 1_000)
    _, _, fills = state(ledger, pid)
    assert [(f["order_id"], f["quantity"]) for f in fills] == [(partly.order["id"], 1_000)]
    # a quantity names what the replacement trades, not the original's whole size
    smaller = ledger.amend(pid, OWNER, amended.order["id"], {"quantity": 500}, board()).order
    assert (smaller["quantity"], smaller["limit_price"], smaller["reserved_cash"]) == (500, 90_000, 45_067_500)
    held, _, _ = state(ledger, pid)
    assert held["positions"][0]["quantity"] == 1_000


def test_what_is_left_in_part_lots_must_be_sized_by_the_amend(ledger):
    pid = ledger.create(OWNER, "main")["id"]
    odd = quote(asks=((90_100, 150), (90_200, 2_000)))
    partly = ledger.place(pid, OWNER, buy(1_000, limit_price=90_100), odd).order  # 150 fill, 850 rest
    with pytest.raises(OrderError, match="quantity: 850 shares are left of order .*say how many"):
        ledger.amend(pid, OWNER, partly["id"], {"limit_price": 90_000}, board())
    assert ledger.amend(pid, OWNER, partly["id"], {"quantity": 800, "limit_price": 90_000},
                        board()).order["quantity"] == 800


@pytest.mark.parametrize("end", ["filled", "cancelled", "expired"])
def test_a_finished_order_cannot_be_amended(ledger, end):
    pid = ledger.create(OWNER, "main")["id"]
    if end == "filled":
        oid = ledger.place(pid, OWNER, buy(1_000, type="market"), quote()).order["id"]
    else:
        oid = ledger.place(pid, OWNER, buy(1_000, limit_price=89_500), quote()).order["id"]
        if end == "cancelled":
            ledger.cancel(pid, OWNER, oid)
        else:
            ledger.expire_day(MONDAY)
    before = state(ledger, pid)
    with pytest.raises(OrderNotWorking, match=f"order {oid} is {end}: only a working order can be amended"):
        ledger.amend(pid, OWNER, oid, {"limit_price": 89_000}, board())
    assert state(ledger, pid) == before


def test_a_market_orders_rest_is_amended_as_the_limit_it_became_and_a_stop_keeps_its_type(ledger):
    pid = ledger.create(OWNER, "main")["id"]
    # 9,000 at market take all three levels (8,000) and rest 1,000 at 90,300
    rest = ledger.place(pid, OWNER, buy(9_000, type="market"), quote()).order
    amended = ledger.amend(pid, OWNER, rest["id"], {"limit_price": 89_000}, board()).order
    assert (amended["type"], amended["quantity"], amended["limit_price"]) == ("limit", 1_000, 89_000)
    stop = ledger.place(pid, OWNER, buy(100, type="stop", stop_price=91_000), quote()).order
    moved = ledger.amend(pid, OWNER, stop["id"], {"stop_price": 91_500}, board()).order
    assert (moved["type"], moved["stop_price"], moved["limit_price"], moved["status"]) == (
        "stop", 91_500, None, "pending")
    with pytest.raises(OrderError, match="limit_price: not taken by a stop order"):
        ledger.amend(pid, OWNER, moved["id"], {"limit_price": 91_500}, board())


def test_an_amend_outside_the_sessions_waits_for_the_next_one(ledger):
    pid = ledger.create(OWNER, "main")["id"]
    resting = ledger.place(pid, OWNER, buy(1_000, limit_price=89_500), quote()).order
    amended = ledger.amend(pid, OWNER, resting["id"], {"limit_price": 90_200}, board(phase=Phase.LUNCH))
    assert (amended.order["status"], amended.order["session"], amended.fills) == ("pending", "queued", [])
    fills = ledger.on_quote(quote())  # the afternoon opens: it reaches the asks
    assert [(f["price"], f["quantity"]) for f in fills] == [(90_100, 1_000)]


def test_an_amend_retried_with_its_key_is_done_once(ledger):
    pid = ledger.create(OWNER, "main")["id"]
    resting = ledger.place(pid, OWNER, buy(1_000, limit_price=89_500), quote()).order
    change = {"limit_price": 89_000, "idempotency_key": "amend-1"}
    first = ledger.amend(pid, OWNER, resting["id"], change, board())
    again = ledger.amend(pid, OWNER, resting["id"], change, board())
    assert again.repeated and not first.repeated
    assert again.order == first.order and again.replaced == first.replaced
    _, orders, _ = state(ledger, pid)
    assert len(orders) == 2 and [o["replaces"] for o in orders].count(resting["id"]) == 1
    # the key is the replacement's: amending another order with it is refused
    other = ledger.place(pid, OWNER, buy(100, limit_price=89_000), quote()).order
    with pytest.raises(OrderError, match=f"idempotency_key: already used by order {first.order['id']}"):
        ledger.amend(pid, OWNER, other["id"], change, board())
    # without a key, a second amend of the cancelled order is refused
    with pytest.raises(OrderNotWorking):
        ledger.amend(pid, OWNER, resting["id"], {"limit_price": 89_000}, board())


HOSTILE = [
    ({}, "amend: change at least one of quantity, limit_price and stop_price"),
    ({"quantity": None, "limit_price": None}, "amend: change at least one"),
    ({"idempotency_key": "only-a-key"}, "amend: change at least one"),
    ({"quantity": 150}, "quantity: whole lots of 100 shares, got 150"),
    ({"quantity": -100}, "quantity: Input should be greater than or equal to 100"),
    ({"quantity": 0}, "quantity: Input should be greater than or equal to 100"),
    ({"quantity": 100.5}, "quantity: Input should be a valid integer"),
    ({"quantity": "1000"}, "quantity: Input should be a valid integer"),
    ({"quantity": True}, "quantity: Input should be a valid integer"),
    ({"quantity": 10**30}, "quantity: Input should be less than or equal to 500000"),
    ({"limit_price": 90_050}, "limit_price: 90,050 is off the tick grid (100 đồng at this price): 90,000 or 90,100"),
    ({"limit_price": 96_400}, "limit_price: 96,400 is outside today's band for VCB, floor 83,700 to ceiling 96,300"),
    ({"limit_price": -1}, "limit_price: Input should be greater than 0"),
    ({"limit_price": 10**20}, "limit_price: Input should be less than or equal to 10000000"),
    ({"limit_price": "90000"}, "limit_price: Input should be a valid integer"),
    ({"stop_price": 91_000}, "stop_price: not taken by a limit order"),
    ({"limit_price": 89_000, "side": "sell"}, "side: Extra inputs are not permitted"),
    ({"limit_price": 89_000, "symbol": "HPG"}, "symbol: Extra inputs are not permitted"),
    ({"limit_price": 89_000, "type": "market"}, "type: Extra inputs are not permitted"),
    ({"limit_price": 89_000, "idempotency_key": "x" * 65}, "idempotency_key: String should have at most 64"),
    ({"limit_price": 89_000, "idempotency_key": "'; DROP TABLE paper_orders;--"}, "idempotency_key: String should"),
    ({"limit_price": 89_000, "idempotency_key": ""}, "idempotency_key: String should have at least 1"),
]


@pytest.mark.parametrize(("change", "said"), HOSTILE, ids=[h[1][:40] for h in HOSTILE])
def test_hostile_amends_are_refused_and_nothing_changes(sqlite_ledger, change, said):
    ledger = sqlite_ledger
    pid = ledger.create(OWNER, "main")["id"]
    resting = ledger.place(pid, OWNER, buy(1_000, limit_price=89_500), quote()).order
    before = state(ledger, pid)
    with pytest.raises(OrderError) as refused:
        ledger.amend(pid, OWNER, resting["id"], change, board())
    assert str(refused.value).startswith(said) and not isinstance(refused.value, OrderNotWorking)
    assert "DROP" not in str(refused.value)
    assert state(ledger, pid) == before


@pytest.mark.parametrize("bad", [None, [], "limit 89000", 7, [{"limit_price": 89_000}]])
def test_an_amend_that_is_not_an_object_is_refused(sqlite_ledger, bad):
    pid = sqlite_ledger.create(OWNER, "main")["id"]
    oid = sqlite_ledger.place(pid, OWNER, buy(1_000, limit_price=89_500), quote()).order["id"]
    with pytest.raises(OrderError, match="amend: a JSON object"):
        sqlite_ledger.amend(pid, OWNER, oid, bad, board())
    assert len(sqlite_ledger.orders(pid, OWNER, working=True)) == 1


def test_an_order_off_the_board_or_not_the_callers_is_not_amended(sqlite_ledger):
    ledger = sqlite_ledger
    pid = ledger.create(OWNER, "main")["id"]
    oid = ledger.place(pid, OWNER, buy(1_000, limit_price=89_500), quote()).order["id"]
    theirs = ledger.create("bo", "theirs")["id"]
    for args in ((pid, "bo", oid), (theirs, "bo", oid), (pid, OWNER, oid + 99), (pid, OWNER, 2**31),
                 (pid, OWNER, -1), (10**20, OWNER, oid), (0, OWNER, oid)):
        with pytest.raises(PortfolioNotFound):
            ledger.amend(*args, {"limit_price": 89_000}, board())
    with pytest.raises(OrderError, match="symbol: VCB is not on the board"):
        ledger.amend(pid, OWNER, oid, {"limit_price": 89_000}, lambda symbol: None)
    assert [o["id"] for o in ledger.orders(pid, OWNER, working=True)] == [oid]


def _amend_at_once(ledger: Ledger, pid: int, oid: int, prices: list[int]) -> list[object]:
    results: list[object] = [None] * len(prices)
    barrier = threading.Barrier(len(prices))

    def amend(i: int) -> None:
        barrier.wait()
        try:
            results[i] = ledger.amend(pid, OWNER, oid, {"limit_price": prices[i]}, board())
        except OrderError as exc:
            results[i] = exc

    threads = [threading.Thread(target=amend, args=(i,)) for i in range(len(prices))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def _one_replacement_survives(ledger: Ledger, pid: int, oid: int) -> dict:
    _, orders, _ = state(ledger, pid)
    working = [o for o in orders if o["status"] in ("open", "pending", "partially_filled")]
    assert len(working) == 1 and [o["replaces"] for o in orders].count(oid) == 1
    assert working[0]["replaces"] == oid
    return working[0]


def test_two_amends_of_the_same_order_at_once_leave_one_replacement(ledger):
    pid = ledger.create(OWNER, "race")["id"]
    oid = ledger.place(pid, OWNER, buy(1_000, limit_price=89_500), quote()).order["id"]
    results = _amend_at_once(ledger, pid, oid, [89_000, 88_900])
    done = [r for r in results if isinstance(r, Placed)]
    refused = [r for r in results if isinstance(r, OrderError)]
    assert len(done) == 1 and len(refused) == 1 and isinstance(refused[0], OrderNotWorking)
    survivor = _one_replacement_survives(ledger, pid, oid)
    assert survivor == done[0].order
    # the cash held is the survivor's alone: 1,000 at its limit with the fee
    assert survivor["reserved_cash"] == 1_000 * survivor["limit_price"] * 10_015 // 10_000


def _amend_in_process(url: str, pid: int, oid: int, price: int, results) -> None:
    ledger = Ledger(open_meta(url), calendar=CALENDAR)
    try:
        results.put(ledger.amend(pid, OWNER, oid, {"limit_price": price}, board()).order["limit_price"])
    except OrderNotWorking as exc:
        results.put(str(exc))


def test_two_processes_amending_the_same_order_on_postgresql_leave_one_replacement(postgres_url, meta_url):
    if not meta_url.startswith("postgresql"):
        pytest.skip("the two-process race is PostgreSQL's (SQLite is one file on one machine)")
    ledger = Ledger(open_meta(meta_url), calendar=CALENDAR)
    pid = ledger.create(OWNER, "race")["id"]
    oid = ledger.place(pid, OWNER, buy(1_000, limit_price=89_500), quote()).order["id"]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_amend_in_process, args=(meta_url, pid, oid, price, results))
               for price in (89_000, 88_900)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    got = [results.get(timeout=5) for _ in workers]
    won = [g for g in got if isinstance(g, int)]
    assert len(won) == 1 and [g for g in got if isinstance(g, str)] == [
        f"order {oid} is cancelled: only a working order can be amended"]
    assert _one_replacement_survives(ledger, pid, oid)["limit_price"] == won[0]
