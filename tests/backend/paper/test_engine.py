"""Strategies switched on per portfolio and fed by the real board through the matcher: every signal
kept; a self-trading strategy places a market order only where the paper_auto flag is on for the
owner, and the signal points at its order (signal → order → fill); bad settings refused by name."""

from __future__ import annotations

import pytest

from backend.access.flags import Flags
from backend.market.board import BoardState
from backend.paper.engine import StrategyBook, StrategyEngine
from backend.paper.ledger import PortfolioNotFound
from backend.paper.matcher import Matcher
from backend.paper.runtime import AUTO_FLAG, auto_allowed

ROW = {"symbol": "VCB", "kind": "stock", "ref": 90_000, "ceiling": 96_300, "floor": 83_700, "open": 90_000,
       "bid1": 89_900, "bid1_vol": 10_000, "ask1": 90_100, "ask1_vol": 10_000, "session": "LO"}
NOW = 1_772_420_400.0  # 2026-03-02 10:00 in Hanoi: the quotes' trading day is the fixture calendar's Monday


def _feed(board: BoardState, matcher: Matcher, prices: list[int]) -> None:
    for i, price in enumerate(prices):
        board.publish([{**ROW, "last": price, "ts": NOW + i, "ask1": price + 100, "bid1": price - 100}])
        matcher.round()


def test_a_crossover_is_kept_and_traded_by_itself_where_the_flag_allows(sqlite_ledger):
    ledger = sqlite_ledger
    book = StrategyBook(ledger.meta)
    pid = ledger.create("ana", "main")["id"]
    strategy = book.add(pid, "ana", "ma_cross", {"fast": 2, "slow": 3}, symbols=["VCB"], auto_execute=True, lots=2)
    allowed = {"ana": True}
    engine = StrategyEngine(ledger.meta, ledger, auto_allowed=lambda owner: allowed.get(owner, False),
                            clock=lambda: NOW)
    board = BoardState()
    matcher = Matcher(ledger, board, clock=lambda: NOW, engine=engine)
    # falling, SMA(2) below SMA(3); then at 90,000 SMA(2) 89,700 is above SMA(3) 89,666.7: a buy
    _feed(board, matcher, [90_000, 89_800, 89_600, 89_400, 90_000, 90_600])
    [signal] = book.signals(strategy["id"], "ana")
    assert (signal["symbol"], signal["side"], signal["price"]) == ("VCB", "buy", 90_000)
    assert signal["order_id"] is not None and signal["outcome"].startswith(f"order {signal['order_id']}: filled")
    [order] = ledger.orders(pid, "ana")
    assert (order["id"], order["quantity"], order["idempotency_key"]) == (signal["order_id"], 200,
                                                                          f"signal-{signal['id']}")
    [fill] = ledger.history(pid, "ana")
    assert (fill["order_id"], fill["price"]) == (order["id"], 90_100)  # the ask at the signal
    # the owner's automatic orders switched off: the next signal is kept, not traded
    allowed["ana"] = False
    _feed(board, matcher, [90_000, 89_000])
    newest = book.signals(strategy["id"], "ana")[0]
    assert newest["side"] == "sell" and newest["order_id"] is None
    assert newest["outcome"] == "not traded: automatic orders are off (the paper_auto flag)"
    assert len(ledger.orders(pid, "ana")) == 1


def test_an_inactive_or_changed_strategy_is_picked_up_by_the_engine(sqlite_ledger):
    ledger = sqlite_ledger
    book = StrategyBook(ledger.meta)
    pid = ledger.create("ana", "main")["id"]
    strategy = book.add(pid, "ana", "vwap_deviation", {"threshold_pct": 1.0})
    clock = [NOW]
    engine = StrategyEngine(ledger.meta, ledger, clock=lambda: clock[0])
    assert engine.refresh() == 1
    book.change(strategy["id"], "ana", active=False)
    assert engine.refresh() == 1  # read again only every two seconds
    clock[0] += 2
    assert engine.refresh() == 0
    changed = book.change(strategy["id"], "ana", active=True, parameters={"threshold_pct": 2.0})
    assert changed["version"] == 3 and changed["parameters"] == {"threshold_pct": 2.0}
    assert engine.refresh(force=True) == 1
    row = {**ROW, "last": 88_000, "total_vol": 1_000, "total_val": 90_000_000}  # VWAP 90,000: −2.2 %
    [signal] = engine.on_row(row, None)
    assert signal["side"] == "buy" and signal["outcome"] == ""  # not a self-trading strategy


def test_the_paper_auto_flag_is_decided_for_the_owner(sqlite_ledger):
    meta = sqlite_ledger.meta
    allowed = auto_allowed(meta)
    assert not allowed("ana")  # no flag: off
    Flags(meta).create(AUTO_FLAG, enabled=True, rollout=100, actor="test")
    assert auto_allowed(meta)("ana")


@pytest.mark.parametrize(("arguments", "said"), [
    ({"kind": "momentum"}, "kind: one of"),
    ({"kind": "ma_cross", "parameters": {"fast": 9, "slow": 3}}, "fast: 9 must be below slow"),
    ({"kind": "ma_cross", "symbols": ["vcb"]}, "symbols: each 3 to 10 capital letters"),
    ({"kind": "ma_cross", "symbols": "VCB"}, "symbols: a list"),
    ({"kind": "ma_cross", "symbols": ["VCB"] * 501}, "symbols: a list of at most 500"),
    ({"kind": "ma_cross", "lots": 0}, "lots: a whole number from 1"),
    ({"kind": "ma_cross", "lots": 1.5}, "lots: a whole number"),
    ({"kind": "ma_cross", "auto_execute": "yes"}, "auto_execute: true or false"),
])
def test_bad_strategies_are_refused_by_name(sqlite_ledger, arguments, said):
    book = StrategyBook(sqlite_ledger.meta)
    pid = sqlite_ledger.create("ana", "main")["id"]
    kind = arguments.pop("kind")
    with pytest.raises(ValueError, match=said):
        book.add(pid, "ana", kind, **arguments)
    assert book.strategies("ana") == []


def test_strategies_are_their_owners(sqlite_ledger):
    book = StrategyBook(sqlite_ledger.meta)
    pid = sqlite_ledger.create("ana", "main")["id"]
    sid = book.add(pid, "ana", "volume_spike")["id"]
    for call in (lambda: book.add(pid, "bo", "ma_cross"), lambda: book.change(sid, "bo", active=False),
                 lambda: book.signals(sid, "bo")):
        with pytest.raises(PortfolioNotFound):
            call()
    assert book.strategies("bo") == [] and len(book.strategies("ana", pid)) == 1
    with pytest.raises(ValueError, match="colour: not something a strategy has"):
        book.change(sid, "ana", colour="red")
