"""Orders at the board's prices, case by case: walking three levels, market-to-limit remainders,
resting limits and stops, auctions, lunch and the close, T+2 on the calendar, fees and tax in
whole đồng, idempotency — on SQLite and on PostgreSQL. Every number is worked in the comments."""

from __future__ import annotations

from datetime import date

import pytest

from backend.market.events import Phase
from backend.paper.ledger import Ledger, PortfolioNotFound, identities
from backend.paper.orders import OrderError

from .conftest import MONDAY, quote

OWNER = "ana"


def buy(quantity: int, **more) -> dict:
    return {"symbol": "VCB", "side": "buy", "quantity": quantity, **more}


def sell(quantity: int, **more) -> dict:
    return {"symbol": "VCB", "side": "sell", "quantity": quantity, **more}


def books(ledger: Ledger, pid: int, price: int | None = None, today: date = MONDAY) -> dict:
    held = ledger.positions(pid, OWNER, lambda symbol: price, today)
    assert identities(held) == (0, 0)
    return held


def test_a_market_buy_walks_the_asks_and_rests_the_remainder_at_the_last_price(ledger):
    pid = ledger.create(OWNER, "main")["id"]
    # asks 90,100 × 1,000, 90,200 × 2,000, 90,300 × 5,000: 9,000 shares take all three, 1,000 are left
    placed = ledger.place(pid, OWNER, buy(9_000, type="market"), quote())
    assert [(f["price"], f["quantity"]) for f in placed.fills] == [(90_100, 1_000), (90_200, 2_000), (90_300, 5_000)]
    order = placed.order
    assert (order["status"], order["filled_quantity"], order["limit_price"]) == ("partially_filled", 8_000, 90_300)
    assert "market to limit" in order["reason"]
    # fees at 0.15 %: 90,100,000 → 135,150; 180,400,000 → 270,600; 451,500,000 → 677,250
    assert [f["fee"] for f in placed.fills] == [135_150, 270_600, 677_250]
    assert [f["tax"] for f in placed.fills] == [0, 0, 0]
    held = books(ledger, pid, 90_000)
    spent = 90_100_000 + 180_400_000 + 451_500_000 + 135_150 + 270_600 + 677_250
    assert held["cash"] == 1_000_000_000 - spent
    # the resting 1,000 at 90,300 holds 90,300,000 + its fee 135,450
    assert ledger.orders(pid, OWNER, working=True)[0]["reserved_cash"] == 90_300_000 + 135_450
    [position] = held["positions"]
    assert position["quantity"] == 8_000 and position["sellable_quantity"] == 0  # bought today: T+2
    assert position["unrealized_pnl"] == 8_000 * 90_000 - (90_100_000 + 180_400_000 + 451_500_000)


def test_a_limit_buy_takes_the_levels_inside_its_limit_and_rests_the_rest(ledger):
    pid = ledger.create(OWNER, "main")["id"]
    placed = ledger.place(pid, OWNER, buy(2_500, limit_price=90_200), quote())
    assert [(f["price"], f["quantity"]) for f in placed.fills] == [(90_100, 1_000), (90_200, 1_500)]
    assert placed.order["status"] == "filled" and placed.order["reserved_cash"] == 0
    placed = ledger.place(pid, OWNER, buy(1_000, limit_price=89_500), quote())
    assert placed.fills == [] and placed.order["status"] == "open"
    # the board trades down to 89,500: the resting buy fills whole at its own price
    assert ledger.on_quote(quote(last=89_600)) == []
    [fill] = ledger.on_quote(quote(last=89_500))
    assert (fill["price"], fill["quantity"]) == (89_500, 1_000)
    assert ledger.orders(pid, OWNER, working=True) == []
    books(ledger, pid, 89_500)


def test_a_best_opposite_quote_reaching_a_resting_limit_fills_it(ledger):
    pid = ledger.create(OWNER, "main")["id"]
    ledger.place(pid, OWNER, buy(2_000, type="market"), quote())  # 1,000 at 90,100 and 1,000 at 90,200
    thursday = date(2026, 3, 5)
    placed = ledger.place(pid, OWNER, sell(1_500, limit_price=90_500), quote(day=thursday))
    assert placed.fills == [] and placed.order["status"] == "open"  # the best bid is 89,900
    with pytest.raises(OrderError, match="2,000 shares of VCB to sell, 500 can be sold now"):
        ledger.place(pid, OWNER, sell(2_000, type="market"), quote(day=thursday))  # 1,500 are already offered
    # no trade at 90,500, but a bid there: the resting sell fills whole at its price
    [fill] = ledger.on_quote(quote(ref=90_600, last=90_400, day=thursday))
    assert (fill["price"], fill["quantity"]) == (90_500, 1_500)
    # FIFO: 1,000 from the lot at 90,100 and 500 from the lot at 90,200
    assert fill["realized_pnl"] == 400 * 1_000 + 300 * 500
    held = books(ledger, pid, 90_400, thursday)
    assert held["positions"][0]["quantity"] == 500 and held["positions"][0]["avg_price"] == 90_200


def test_a_sell_needs_settled_shares_t_plus_2_on_the_calendar(ledger):
    pid = ledger.create(OWNER, "main")["id"]
    ledger.place(pid, OWNER, buy(1_000, limit_price=90_100), quote())
    tuesday, thursday = date(2026, 3, 3), date(2026, 3, 5)  # Wednesday the 4th is closed
    with pytest.raises(OrderError, match=r"1,000 shares of VCB to sell, 0 can be sold now; 1,000 more become "
                                         r"sellable on 2026-03-05"):
        ledger.place(pid, OWNER, sell(1_000, limit_price=90_000), quote(day=tuesday))
    assert books(ledger, pid, 90_000, tuesday)["positions"][0]["sellable_quantity"] == 0
    assert books(ledger, pid, 90_000, thursday)["positions"][0]["sellable_quantity"] == 1_000
    placed = ledger.place(pid, OWNER, sell(1_000, type="market"), quote(ref=92_000, day=thursday))
    # bids 91,900 × 1,000: gross 91,900,000, fee 137,850, tax 0.1 % 91,900
    [fill] = placed.fills
    assert (fill["price"], fill["gross"], fill["fee"], fill["tax"]) == (91_900, 91_900_000, 137_850, 91_900)
    assert fill["realized_pnl"] == (91_900 - 90_100) * 1_000
    assert fill["cash"] == 91_900_000 - 137_850 - 91_900
    held = books(ledger, pid, 92_000, thursday)
    assert held["realized_pnl"] == 1_800_000 and held["positions"][0]["quantity"] == 0


def test_fees_and_tax_round_half_up_to_the_dong(ledger):
    # 0.15 % of 100 × 23,350 = 2,335,000 is 3,502.5: rounded up to 3,503; the tax 0.1 % is 2,335
    pid = ledger.create(OWNER, "main", commission="0.0015", sales_tax="0.001")["id"]
    placed = ledger.place(pid, OWNER, {"symbol": "HPG", "side": "buy", "quantity": 100, "limit_price": 23_350},
                          quote("HPG", 23_300))
    assert placed.fills[0]["fee"] == 3_503
    none = ledger.create(OWNER, "no fees", commission=0, sales_tax=0)["id"]
    assert ledger.place(none, OWNER, buy(100, type="market"), quote()).fills[0]["fee"] == 0


def test_a_stop_waits_for_the_matched_price_then_goes_to_the_market(ledger):
    pid = ledger.create(OWNER, "main")["id"]
    placed = ledger.place(pid, OWNER, buy(1_000, type="stop", stop_price=91_000), quote())
    assert placed.order["status"] == "pending" and placed.fills == []
    assert ledger.on_quote(quote(last=90_900)) == []
    fills = ledger.on_quote(quote(ref=91_000, last=91_000))
    assert [(f["price"], f["quantity"]) for f in fills] == [(91_100, 1_000)]  # the best ask after the trigger
    assert ledger.orders(pid, OWNER)[0]["reason"] == "stop 91,000 reached at 91,000"
    limit = ledger.place(pid, OWNER, buy(1_000, type="stop_limit", stop_price=91_000, limit_price=91_000),
                         quote()).order
    assert ledger.on_quote(quote(ref=91_000, last=91_000)) == []  # triggered; the asks are above its limit
    assert ledger.orders(pid, OWNER, working=True)[0]["id"] == limit["id"]
    assert ledger.orders(pid, OWNER, working=True)[0]["status"] == "open"
    books(ledger, pid, 91_000)


def test_auction_orders_fill_at_the_auction_price(ledger):
    pid = ledger.create(OWNER, "main")["id"]
    ato = quote(phase=Phase.ATO)
    market = ledger.place(pid, OWNER, buy(1_000, type="market"), ato).order
    low = ledger.place(pid, OWNER, buy(1_000, limit_price=89_000), ato).order
    assert (market["session"], market["status"], low["session"]) == ("ato", "pending", "ato")
    assert ledger.on_quote(quote(phase=Phase.ATO)) == []  # the auction has not printed yet
    fills = ledger.on_quote(quote(opened=89_800, last=89_800))  # continuous: the open was 89,800
    assert [(f["order_id"], f["price"], f["quantity"]) for f in fills] == [(market["id"], 89_800, 1_000)]
    rest = ledger.orders(pid, OWNER, working=True)
    assert [(o["id"], o["session"], o["status"]) for o in rest] == [(low["id"], "continuous", "open")]
    books(ledger, pid, 89_800)


def test_outside_the_sessions_an_order_waits_or_is_refused_as_asked(ledger):
    pid = ledger.create(OWNER, "main")["id"]
    lunch = quote(phase=Phase.LUNCH)
    with pytest.raises(OrderError, match="outside_hours: the market is at its lunch break; the order was not placed"):
        ledger.place(pid, OWNER, buy(1_000, type="market", outside_hours="reject"), lunch)
    assert ledger.orders(pid, OWNER) == []
    waiting = ledger.place(pid, OWNER, buy(1_000, type="market"), lunch)
    assert waiting.fills == [] and (waiting.order["session"], waiting.order["status"]) == ("queued", "pending")
    assert ledger.on_quote(quote(phase=Phase.LUNCH)) == []  # still at lunch: no fill
    fills = ledger.on_quote(quote())  # the afternoon session opens
    assert [(f["price"], f["quantity"]) for f in fills] == [(90_100, 1_000)]
    books(ledger, pid, 90_100)


def test_day_orders_expire_and_good_till_cancelled_ones_stay(ledger):
    pid = ledger.create(OWNER, "main")["id"]
    day = ledger.place(pid, OWNER, buy(1_000, limit_price=85_000), quote()).order
    gtc = ledger.place(pid, OWNER, buy(1_000, limit_price=85_000, time_in_force="gtc"), quote()).order
    free = ledger.portfolio(pid, OWNER)["cash"]
    ledger.on_quote(quote(day=date(2026, 3, 3)))
    statuses = {o["id"]: o["status"] for o in ledger.orders(pid, OWNER)}
    assert statuses == {day["id"]: "expired", gtc["id"]: "open"}
    assert ledger.portfolio(pid, OWNER)["cash"] == free  # holding cash never moved it
    cancelled = ledger.cancel(pid, OWNER, gtc["id"])
    assert cancelled["status"] == "cancelled" and cancelled["reserved_cash"] == 0
    with pytest.raises(OrderError, match="is cancelled: there is nothing left to cancel"):
        ledger.cancel(pid, OWNER, gtc["id"])


def test_a_day_order_expires_at_its_close_and_one_sent_after_the_close_waits_for_the_next_day(ledger):
    pid = ledger.create(OWNER, "main")["id"]
    day = ledger.place(pid, OWNER, buy(1_000, limit_price=85_000), quote()).order
    gtc = ledger.place(pid, OWNER, buy(1_000, limit_price=85_000, time_in_force="gtc"), quote()).order
    ledger.on_quote(quote(phase=Phase.PUT_THROUGH))  # 14:45: the continuous session and ATC are over
    statuses = {o["id"]: o["status"] for o in ledger.orders(pid, OWNER)}
    assert statuses == {day["id"]: "expired", gtc["id"]: "open"}
    late = ledger.place(pid, OWNER, buy(1_000, type="market"), quote(phase=Phase.CLOSED)).order
    assert (late["session"], late["status"], late["trading_day"]) == ("queued", "pending", "2026-03-02")
    tuesday = date(2026, 3, 3)
    ledger.on_quote(quote(phase=Phase.ATO, day=tuesday))  # not expired: it joins Tuesday's opening auction
    waiting = next(o for o in ledger.orders(pid, OWNER) if o["id"] == late["id"])
    assert (waiting["session"], waiting["status"], waiting["trading_day"]) == ("ato", "pending", "2026-03-03")
    [fill] = ledger.on_quote(quote(day=tuesday, opened=90_200, last=90_200))
    assert (fill["order_id"], fill["price"]) == (late["id"], 90_200)


def test_held_cash_and_shares_cannot_be_spent_twice(ledger):
    pid = ledger.create(OWNER, "small", 100_000_000)["id"]
    # 1,000 at 90,000 holds 90,000,000 + 135,000: 9,865,000 is left free
    ledger.place(pid, OWNER, buy(1_000, limit_price=90_000), quote())
    with pytest.raises(OrderError, match=r"cash: this order needs up to 18,027,000 đồng with fees, 9,865,000 is free"):
        ledger.place(pid, OWNER, buy(200, limit_price=90_000), quote())
    with pytest.raises(OrderError, match="amount: 10,000,000 đồng is more than the 9,865,000 free to withdraw"):
        ledger.move_cash(pid, OWNER, 10_000_000, "withdrawal")
    assert ledger.move_cash(pid, OWNER, 9_865_000, "withdrawal")["cash"] == 90_135_000
    books(ledger, pid)


def test_an_idempotency_key_never_trades_twice(ledger):
    pid = ledger.create(OWNER, "main")["id"]
    first = ledger.place(pid, OWNER, buy(1_000, type="market", idempotency_key="ticket-7"), quote())
    again = ledger.place(pid, OWNER, buy(1_000, type="market", idempotency_key="ticket-7"), quote())
    assert again.repeated and again.order == first.order and again.fills == first.fills
    assert len(ledger.orders(pid, OWNER)) == 1 and len(ledger.history(pid, OWNER)) == 1
    other = ledger.create(OWNER, "other")["id"]  # a key is a portfolio's own
    assert not ledger.place(other, OWNER, buy(1_000, type="market", idempotency_key="ticket-7"), quote()).repeated


def test_deposits_withdrawals_and_a_reset(ledger):
    pid = ledger.create(OWNER, "main", 500_000_000)["id"]
    ledger.move_cash(pid, OWNER, 250_000_000, "deposit")
    ledger.place(pid, OWNER, buy(1_000, type="market"), quote())
    held = books(ledger, pid, 95_000)
    assert held["net_deposits"] == 750_000_000 and held["unrealized_pnl"] == (95_000 - 90_100) * 1_000
    again = ledger.reset(pid, OWNER)
    assert (again["cash"], again["net_deposits"], again["fees"]) == (500_000_000, 500_000_000, 0)
    assert ledger.history(pid, OWNER) == [] and books(ledger, pid)["positions"] == []


def test_another_users_portfolio_is_not_found(ledger):
    pid = ledger.create(OWNER, "main")["id"]
    for call in (lambda: ledger.portfolio(pid, "bo"), lambda: ledger.place(pid, "bo", buy(100, type="market"), quote()),
                 lambda: ledger.cancel(pid, "bo", 1), lambda: ledger.history(pid, "bo")):
        with pytest.raises(PortfolioNotFound):
            call()
    assert ledger.portfolios("bo") == []


def test_the_matcher_fills_resting_orders_as_the_live_board_moves(sqlite_ledger):
    from backend.market.board import BoardState
    from backend.paper.matcher import Matcher

    ledger = sqlite_ledger
    pid = ledger.create(OWNER, "main")["id"]
    row = {"symbol": "VCB", "kind": "stock", "ref": 90_000, "ceiling": 96_300, "floor": 83_700, "last": 90_000,
           "open": 90_000, "bid1": 89_900, "bid1_vol": 1_000, "ask1": 90_100, "ask1_vol": 1_000, "session": "LO"}
    board = BoardState()
    board.publish([row, {**row, "symbol": "FPT"}])
    matcher = Matcher(ledger, board, clock=lambda: 1_772_420_400.0)  # 2026-03-02 10:00 in Hanoi
    resting = ledger.place(pid, OWNER, buy(1_000, limit_price=89_500), quote()).order
    assert matcher.round() == 0  # nothing reaches 89,500 yet
    board.publish([{**row, "symbol": "FPT", "last": 80_000}])  # another symbol moves: not this order's
    assert matcher.round() == 0
    board.publish([{**row, "last": 89_500, "ask1": 89_600}])
    assert matcher.round() == 1 and matcher.fills == 1
    assert ledger.history(pid, OWNER)[0]["order_id"] == resting["id"]
    assert ledger.orders(pid, OWNER)[0]["status"] == "filled"
    assert matcher.round() == 0  # nothing changed: nothing more to do
