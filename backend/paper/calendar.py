"""The trading calendar of the Vietnamese exchanges: weekdays less the days they are closed.

Shares bought on day D arrive on the second trading day after it (T+2) and can be sold from that
day. The closures below are the public holidays on which HOSE does not trade (New Year, the Lunar
New Year, the Hùng Kings' day, Reunification Day, Labour Day, National Day); a desk adds a year's
closures as the exchange announces them, by giving its own set to ``TradingCalendar``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Final

HOSE_CLOSURES: Final = frozenset({
    date(2026, 1, 1), date(2026, 2, 16), date(2026, 2, 17), date(2026, 2, 18), date(2026, 2, 19),
    date(2026, 2, 20), date(2026, 4, 27), date(2026, 4, 30), date(2026, 5, 1), date(2026, 9, 1), date(2026, 9, 2),
})
SETTLEMENT_DAYS: Final = 2


class TradingCalendar:
    def __init__(self, closures: Iterable[date] = HOSE_CLOSURES) -> None:
        self.closures = frozenset(closures)

    def is_trading_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.closures

    def add(self, day: date, days: int) -> date:
        """The ``days``-th trading day after ``day`` (before it, when negative)."""
        step = 1 if days >= 0 else -1
        left = abs(days)
        while left:
            day += timedelta(days=step)
            if self.is_trading_day(day):
                left -= 1
        return day

    def settles(self, traded: date) -> date:
        """The day shares bought on ``traded`` become sellable."""
        return self.add(traded, SETTLEMENT_DAYS)


__all__ = ["HOSE_CLOSURES", "SETTLEMENT_DAYS", "TradingCalendar"]
