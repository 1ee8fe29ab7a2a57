"""A records store per test (SQLite, and PostgreSQL where the test command started one), a ledger
on a fixed calendar, and quotes built the way the board's rows describe a symbol."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from backend.market.events import Phase
from backend.market.reference import ceiling_price, floor_price
from backend.meta import open_meta
from backend.paper.calendar import TradingCalendar
from backend.paper.ledger import Ledger
from backend.paper.quotes import Quote

MONDAY = date(2026, 3, 2)  # a week with no holiday
CALENDAR = TradingCalendar({date(2026, 3, 4)})  # a Wednesday closed: T+2 from Monday is Thursday


def quote(symbol: str = "VCB", ref: int = 90_000, *, last: int | None = None, bids=None, asks=None,
          phase: Phase = Phase.CONTINUOUS, day: date = MONDAY, opened: int | None = None, stock: bool = True) -> Quote:
    """A quote around ``ref``: by default three bid levels one tick apart below it and three asks above."""
    tick = 100 if ref >= 50_000 else 50 if ref >= 10_000 else 10
    bids = ((ref - tick, 1_000), (ref - 2 * tick, 2_000), (ref - 3 * tick, 5_000)) if bids is None else tuple(bids)
    asks = ((ref + tick, 1_000), (ref + 2 * tick, 2_000), (ref + 3 * tick, 5_000)) if asks is None else tuple(asks)
    return Quote(symbol=symbol, ref=ref, ceiling=ceiling_price(ref), floor=floor_price(ref), last=last,
                 open=opened, bids=bids, asks=asks, phase=phase, day=day, stock=stock)


@pytest.fixture
def ledger(meta_url: str) -> Iterator[Ledger]:
    yield Ledger(open_meta(meta_url), calendar=CALENDAR)


@pytest.fixture
def sqlite_ledger(tmp_path) -> Ledger:
    return Ledger(open_meta(f"sqlite:///{tmp_path}/paper.db"), calendar=CALENDAR)
