"""A symbol's quote as paper orders see it: the day's band, the matched price and the three
visible levels a side, read from a live board row, with the market's phase at that moment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from backend.market.events import Phase
from backend.market.reference import phase_at, phase_of_session, vn_day, vn_seconds_of_day

Level = tuple[int, int]  # price in đồng, shares


@dataclass(frozen=True)
class Quote:
    symbol: str
    ref: int
    ceiling: int
    floor: int
    last: int | None
    open: int | None
    bids: tuple[Level, ...]  # best first
    asks: tuple[Level, ...]
    phase: Phase
    day: date
    stock: bool = True

    @classmethod
    def from_row(cls, row: Mapping[str, Any], now: float) -> Quote:
        """A board row (``backend.market.core.ROW_KEYS``) at epoch time ``now``; a ``ValueError``
        when the row has no band (the symbol has not opened its day)."""
        if not row.get("ref") or not row.get("ceiling") or not row.get("floor"):
            raise ValueError(f"{row.get('symbol')}: no reference price yet today")

        def levels(side: str) -> tuple[Level, ...]:
            out = []
            for k in (1, 2, 3):
                price, volume = row.get(f"{side}{k}"), row.get(f"{side}{k}_vol")
                if price and volume and price > 0 and volume > 0:
                    out.append((round(price), int(volume)))
            return tuple(out)

        phase = phase_of_session(str(row.get("session") or "")) or phase_at(vn_seconds_of_day(now))
        last, opened = row.get("last"), row.get("open")
        return cls(symbol=str(row["symbol"]), ref=int(row["ref"]), ceiling=int(row["ceiling"]),
                   floor=int(row["floor"]), last=round(last) if last else None,
                   open=round(opened) if opened else None, bids=levels("bid"), asks=levels("ask"),
                   phase=phase, day=date.fromordinal(vn_day(now)), stock=row.get("kind", "stock") == "stock")


__all__ = ["Level", "Quote"]
