"""How the simulator's market becomes SSI FastConnect messages (X-QUOTE, X-TRADE, R, F, MI).

:class:`MessageWriter` is the simulator's base: it turns books, matches, foreign totals,
statuses and index levels into provider messages stamped with the simulated clock and
queues them as (epoch seconds, raw message) pairs.
"""

from __future__ import annotations

from collections import deque

import orjson

from backend.market.events import Phase
from backend.market.feed.sim_flow import Future, Stock
from backend.market.feed.sim_model import Book
from backend.market.reference import phase_at

Message = tuple[float, str]  # (epoch seconds on the simulated clock, raw message)

_EMPTY = ((0, 0), (0, 0), (0, 0))
SESSION_CODES = {Phase.ATO: "ATO", Phase.ATC: "ATC", Phase.CONTINUOUS: "LO"}


class MessageWriter:
    """Queues messages at ``clock`` (epoch seconds) of the trading day that starts at ``_epoch``."""

    def __init__(self, *, send_side: bool = True) -> None:
        self.send_side = send_side
        self.clock = 0.0
        self._epoch = 0.0
        self._date = ""
        self._pending: deque[Message] = deque()
        self._times: dict[int, str] = {}

    def _new_day(self, epoch: float, trading_date: str) -> None:
        self._epoch, self._date = epoch, trading_date
        self._times.clear()

    @property
    def _session(self) -> str:
        return SESSION_CODES.get(phase_at(self.clock - self._epoch), "LO")

    def _head(self, rtype: str, symbol: str) -> dict[str, object]:
        t = int(self.clock - self._epoch)
        hhmmss = self._times.get(t)
        if hhmmss is None:
            hhmmss = self._times[t] = f"{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}"
        return {"RType": rtype, "TradingDate": self._date, "Time": hhmmss, "Symbol": symbol}

    def _push(self, channel: str, content: dict[str, object]) -> None:
        body = orjson.dumps(content).decode()
        self._pending.append((self.clock, orjson.dumps({"DataType": channel, "Content": body}).decode()))

    def _emit_quote(
        self, symbol: str, book: Book, holder: Stock | Future, exchange: str, *, force: bool = False,
        session: str | None = None,
    ) -> bool:  # fmt: skip
        """Send the book when it changed since the last quote sent (or always, with ``force``)."""
        signature = book.signature()
        if not force and signature == holder.shown:
            return False
        holder.shown = signature
        b, a = signature
        b += _EMPTY[: 3 - len(b)]
        a += _EMPTY[: 3 - len(a)]
        content = self._head("X-QUOTE", symbol) | {
            "BidPrice1": b[0][0], "BidVol1": b[0][1], "BidPrice2": b[1][0], "BidVol2": b[1][1],
            "BidPrice3": b[2][0], "BidVol3": b[2][1], "AskPrice1": a[0][0], "AskVol1": a[0][1],
            "AskPrice2": a[1][0], "AskVol2": a[1][1], "AskPrice3": a[2][0], "AskVol3": a[2][1],
            "TradingSession": session or self._session,
            "Exchange": exchange,
        }  # fmt: skip
        self._push("X-QUOTE", content)
        return True

    def _emit_status(self, session: str, stocks: list[Stock], futures: list[Future]) -> None:
        for s in stocks:
            content = self._head("F", s.symbol) | {
                "TradingSession": session, "TradingStatus": "N", "Exchange": "HOSE",
                "RefPrice": s.ref, "Ceiling": s.ceiling, "Floor": s.floor,
            }  # fmt: skip
            self._push("F", content)
        for f in futures:
            content = self._head("F", f.symbol) | {
                "TradingSession": session, "TradingStatus": "N", "Exchange": "DER",
                "RefPrice": f.ref, "Ceiling": f.ceiling, "Floor": f.floor,
            }  # fmt: skip
            self._push("F", content)

    def _emit_index(self, index_id: str, members: list[Stock], value: float, prior: float) -> None:
        """One MI message: the level and the members' breadth and traded totals."""
        session = SESSION_CODES.get(phase_at(self.clock - self._epoch), "C")
        adv = dec = ceilings = floors = qty = 0
        val = 0.0
        for s in members:
            last = s.last
            if last > s.ref:
                adv += 1
                ceilings += last >= s.ceiling
            elif last < s.ref:
                dec += 1
                floors += last <= s.floor
            qty += s.total_vol
            val += s.total_val
        content = self._head("MI", index_id)
        del content["Symbol"]
        content |= {
            "IndexId": index_id, "IndexValue": round(value, 2), "PriorIndexValue": prior,
            "Change": round(value - prior, 2), "RatioChange": round((value - prior) / prior * 100, 2),
            "Advances": adv, "Declines": dec, "NoChanges": len(members) - adv - dec,
            "Ceilings": ceilings, "Floors": floors, "AllQty": qty, "AllValue": val,
            "Exchange": "HOSE", "TradingSession": session,
        }  # fmt: skip
        self._push("MI", content)

    def _record_trade(self, s: Stock, price: int, volume: int, session: str, side: str | None) -> None:
        s.record(price, volume)
        content = self._head("X-TRADE", s.symbol) | {
            "Ceiling": s.ceiling, "Floor": s.floor, "RefPrice": s.ref,
            "LastPrice": price, "LastVol": volume, "TotalVol": s.total_vol, "TotalVal": s.total_val,
            "Highest": s.high, "Lowest": s.low, "TradingSession": session, "Exchange": "HOSE",
        }  # fmt: skip
        if side and self.send_side:
            content["Side"] = side
        self._push("X-TRADE", content)

    def _foreign_message(self, s: Stock) -> None:
        content = self._head("R", s.symbol) | {
            "FBuyVol": s.f_buy_vol, "FSellVol": s.f_sell_vol, "FBuyVal": s.f_buy_val, "FSellVal": s.f_sell_val,
            "TotalRoom": s.total_room, "CurrentRoom": s.total_room - s.foreign_held, "Exchange": "HOSE",
        }  # fmt: skip
        self._push("R", content)

    def _record_future(self, f: Future, price: float, volume: int, session: str, side: str | None) -> None:
        f.record(price, volume)
        content = self._head("X-TRADE", f.symbol) | {
            "Ceiling": f.ceiling, "Floor": f.floor, "RefPrice": f.ref,
            "LastPrice": price, "LastVol": volume, "TotalVol": f.total_vol, "TotalVal": f.total_val,
            "Highest": f.high, "Lowest": f.low, "TradingSession": session, "Exchange": "DER",
        }  # fmt: skip
        if side and self.send_side:
            content["Side"] = side
        self._push("X-TRADE", content)

