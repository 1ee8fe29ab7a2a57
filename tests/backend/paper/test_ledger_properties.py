"""The ledger over random order sequences (hypothesis): after every order and every board move
both identities hold exactly, and every fill's realised P&L, cash, fee and tax equal what a FIFO
book kept by hand in this test gives — lots in a list, fractions rounded half-up with integers."""

from __future__ import annotations

from collections import deque
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.meta import open_meta
from backend.paper.ledger import Ledger, identities
from backend.paper.orders import OrderError

from .conftest import CALENDAR, MONDAY, quote

SYMBOLS = ("VCB", "HPG")
REFS = {"VCB": 90_000, "HPG": 25_000}


def half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half-up, for non-negative integers."""
    return (2 * numerator + denominator) // (2 * denominator)


def fee_of(gross: int) -> int:
    return half_up(gross * 15, 10_000)  # 0.15 %


def tax_of(gross: int) -> int:
    return half_up(gross, 1_000)  # 0.1 %


def trading_day(n: int) -> date:
    day = MONDAY
    for _ in range(n):
        day += timedelta(days=1)
        while not CALENDAR.is_trading_day(day):
            day += timedelta(days=1)
    return day


step = st.tuples(
    st.sampled_from(SYMBOLS), st.sampled_from(("buy", "sell")), st.integers(1, 40).map(lambda lots: lots * 100),
    st.sampled_from(("market", "limit")), st.integers(-3, 3),  # the limit, in ticks from the reference
    st.integers(-4, 4),  # where the board's reference moves, in ticks
    st.booleans(),  # the next step is a trading day later
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=25))
def test_both_identities_hold_after_every_fill_and_fifo_pnl_matches_a_hand_kept_book(tmp_path_factory, steps):
    folder = tmp_path_factory.mktemp("ledger")
    ledger = Ledger(open_meta(f"sqlite:///{folder}/paper.db"), calendar=CALENDAR)
    pid = ledger.create("ana", "props", 2_000_000_000)["id"]
    refs = dict(REFS)
    days = 0
    lots: dict[str, deque] = {s: deque() for s in SYMBOLS}  # [quantity, price, sellable from]
    seen = 0
    for symbol, side, quantity, kind, ticks, move, later in steps:
        today = trading_day(days)
        tick = 100 if refs[symbol] >= 50_000 else 50
        refs[symbol] += move * tick
        board = quote(symbol, refs[symbol], day=today, last=refs[symbol])
        ledger.on_quote(board)  # resting orders first, as the board moves
        order = {"symbol": symbol, "side": side, "quantity": quantity, "type": kind}
        if kind == "limit":
            order["limit_price"] = refs[symbol] + ticks * tick
        try:
            ledger.place(pid, "ana", order, board)
        except OrderError:
            pass  # refused (no cash, nothing sellable): nothing may have changed, the books below say
        history = ledger.history(pid, "ana")
        for fill in history[seen:]:
            gross = fill["price"] * fill["quantity"]
            assert (fill["gross"], fill["fee"]) == (gross, fee_of(gross))
            queue = lots[fill["symbol"]]
            if fill["side"] == "buy":
                assert fill["tax"] == 0 and fill["cash"] == -(gross + fee_of(gross))
                queue.append([fill["quantity"], fill["price"], CALENDAR.add(date.fromisoformat(fill["trading_day"]), 2)])
                continue
            assert fill["tax"] == tax_of(gross) and fill["cash"] == gross - fee_of(gross) - tax_of(gross)
            left, realised = fill["quantity"], 0
            while left:
                lot = queue[0]
                assert lot[2] <= date.fromisoformat(fill["trading_day"])  # only settled shares are sold
                take = min(left, lot[0])
                realised += (fill["price"] - lot[1]) * take
                lot[0] -= take
                left -= take
                if lot[0] == 0:
                    queue.popleft()
            assert fill["realized_pnl"] == realised
        seen = len(history)
        held = ledger.positions(pid, "ana", lambda s: refs[s], today)
        assert identities(held) == (0, 0)
        assert held["cash"] == 2_000_000_000 + sum(f["cash"] for f in history)
        assert held["realized_pnl"] == sum(f["realized_pnl"] for f in history)
        for position in held["positions"]:
            queue = lots[position["symbol"]]
            assert position["quantity"] == sum(q for q, _, _ in queue)
            assert position["sellable_quantity"] == sum(q for q, _, when in queue if when <= today)
            assert position["cost"] == sum(q * p for q, p, _ in queue)
        assert held["cash"] >= 0
        if later:
            days += 1
