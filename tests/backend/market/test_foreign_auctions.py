"""Foreign flow matched in an auction (ATO, ATC) counts in the day but fires no acceleration alert."""

from __future__ import annotations

from datetime import date, time

import pytest

from backend.market.core import MarketCore
from backend.market.events import AlertKind, ForeignFlow, SecurityStatus
from backend.market.processors.foreign import ForeignTracker, is_auction_flow
from backend.market.reference import vn_day, vn_epoch

DAY = date(2024, 3, 4)
DAY_ORD = vn_day(vn_epoch(DAY, time(12)))


def at(h: int, m: int, s: float = 0.0) -> float:
    return vn_epoch(DAY) + h * 3600 + m * 60 + s


class Flow:
    """Cumulative foreign buying of one symbol, sent as the provider does (day totals)."""

    def __init__(self, core: MarketCore, symbol: str = "FPT") -> None:
        self.core, self.symbol = core, symbol
        self.buy_val = 0.0
        self.buy_vol = 0

    def buy(self, ts: float, value: float) -> list[AlertKind]:
        self.buy_val += value
        self.buy_vol += max(int(value // 130_000), 1)
        self.core.apply(ForeignFlow(self.symbol, ts, DAY_ORD, self.buy_vol, 0, self.buy_val, 0.0, 10**9, 10**8))
        return [a.kind for a in self.core.drain_alerts()]

    def steady(self, start: float, end: float, per_minute: float) -> list[AlertKind]:
        fired = []
        ts = start
        while ts < end:
            fired += self.buy(ts, per_minute / 3)  # a message every 20 s
            ts += 20
        return fired


def _session(core: MarketCore, ts: float, code: str) -> None:
    core.apply(SecurityStatus("FPT", ts, DAY_ORD, code, "N", "HOSE", 130_000, 139_100, 120_900))


def test_a_big_closing_auction_print_fires_nothing() -> None:
    core = MarketCore()
    flow = Flow(core)
    fired = flow.buy(at(9, 15, 5), 300e9)  # the opening auction's print, stamped just after 09:15
    fired += flow.steady(at(9, 16), at(11, 30), 2e9)
    fired += flow.steady(at(13, 0), at(14, 30), 2e9)
    _session(core, at(14, 30), "ATC")
    fired += flow.buy(at(14, 45, 3), 500e9)  # the closing auction: 250 minutes' flow in one print
    fired += flow.buy(at(14, 52), 80e9)  # a put-through after the close
    assert fired == []
    row = core.rows["FPT"]
    # The day's totals keep every print; only what the alerts compare leaves the auctions out.
    assert row["f_buy_val"] == pytest.approx(flow.buy_val)
    assert core.foreign.market.auction_buy_val == pytest.approx(300e9 + 500e9 + 80e9)


def test_flow_reported_while_the_session_code_says_atc_is_the_auction_s() -> None:
    core = MarketCore()
    flow = Flow(core)
    fired = flow.steady(at(9, 16), at(11, 30), 2e9) + flow.steady(at(13, 0), at(14, 29), 2e9)
    _session(core, at(14, 29, 30), "ATC")  # the exchange moved to the ATC a little early
    fired += flow.buy(at(14, 29, 40), 400e9)
    assert fired == []


def test_continuous_acceleration_still_fires_after_an_auction_print() -> None:
    core = MarketCore()
    flow = Flow(core)
    fired = flow.buy(at(9, 15, 5), 300e9)  # a huge ATO print must not lift the "normal" rate
    fired += flow.steady(at(9, 16), at(10, 30), 2e9)
    assert fired == []
    fired = flow.steady(at(10, 30), at(10, 40), 8e9)  # four times the session's pace
    assert fired.count(AlertKind.FOREIGN_BUY_ACCELERATION) == 2  # the symbol and the market, once each
    # Measured against the continuous flow only: with the ATO print in it, 8bn a minute would be
    # well under twice the average and nothing would have fired.
    market = core.foreign.market
    normal_with_auction = market.buy_val / ((at(10, 40) - at(9, 15, 5)) / 60)
    assert market.continuous_speed_buy_val < 2 * normal_with_auction


@pytest.mark.parametrize(("ts", "session", "auction"), [
    (at(9, 10), None, True),  # ATO
    (at(9, 15, 10), None, True),  # the ATO's print, stamped late
    (at(9, 15, 31), None, False),
    (at(11, 29, 59), None, False),
    (at(11, 45), None, True),  # lunch: nothing continuous
    (at(13, 0), None, False),
    (at(14, 29, 59), None, False),
    (at(14, 29, 59), "ATC", True),
    (at(10, 0), "ATO", True),
    (at(14, 30), None, True),
    (at(14, 50), None, True),  # put-through
])
def test_what_counts_as_auction_flow(ts: float, session: str | None, auction: bool) -> None:
    assert is_auction_flow(ts, session) is auction


def test_the_speed_shown_keeps_the_auction_print() -> None:
    tracker = ForeignTracker()
    tracker.apply(ForeignFlow("FPT", at(9, 10), DAY_ORD, 0, 0, 0.0, 0.0, None, None))
    state = tracker.apply(ForeignFlow("FPT", at(9, 15, 5), DAY_ORD, 1_000, 0, 50e9, 0.0, None, None))
    assert state.speed_buy_val == pytest.approx(10e9)  # 50bn over the 5-minute window
    assert state.continuous_speed_buy_val == 0.0


def test_a_session_joined_mid_morning_measures_the_normal_pace_over_the_morning() -> None:
    core = MarketCore()
    flow = Flow(core)
    fired = flow.buy(at(11, 0), 2e9 * 105)  # the first totals seen: 09:15–11:00 at 2bn a minute
    fired += flow.steady(at(11, 0, 20), at(11, 20), 2e9)
    assert fired == []  # the same pace is no acceleration
    fired = flow.steady(at(11, 20), at(11, 30), 8e9)
    assert fired.count(AlertKind.FOREIGN_BUY_ACCELERATION) == 2
