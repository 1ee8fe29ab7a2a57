"""A scripted feed for market tests (the test writes provider messages into it) and message builders."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from datetime import datetime, timedelta

import orjson

from backend.market.feed.base import ConnectionState, MarketFeed
from backend.market.reference import VN_TZ


class ScriptedFeed(MarketFeed):
    """A connected feed that yields exactly the messages a test sends, when it sends them."""

    source = "scripted"

    def __init__(self) -> None:
        super().__init__()
        self._queue: queue.Queue[str] = queue.Queue()

    def send(self, *messages: str) -> None:
        for message in messages:
            self._queue.put(message)

    def messages(self) -> Iterator[str]:
        self._set_state(ConnectionState.CONNECTED)
        while not self.closed:
            try:
                message = self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
            self._count()
            yield message


def _head(rtype: str, symbol: str, when: datetime | None = None) -> dict[str, object]:
    when = (when or datetime.now(VN_TZ)).astimezone(VN_TZ)
    return {"RType": rtype, "TradingDate": when.strftime("%d/%m/%Y"), "Time": when.strftime("%H:%M:%S"),
            "Symbol": symbol}


def _wrap(channel: str, content: dict[str, object]) -> str:
    return orjson.dumps({"DataType": channel, "Content": orjson.dumps(content).decode()}).decode()


def status_message(symbol: str, ref: int, ceiling: int, floor: int) -> str:
    return _wrap("F", _head("F", symbol) | {"TradingSession": "LO", "TradingStatus": "N", "Exchange": "HOSE",
                                            "RefPrice": ref, "Ceiling": ceiling, "Floor": floor})


def trade_message(symbol: str, ref: int, ceiling: int, floor: int, price: int, volume: int, total: int,
                  *, side: str = "BU", seconds_ago: float = 0.0) -> str:
    when = datetime.now(VN_TZ) - timedelta(seconds=seconds_ago)
    return _wrap("X-TRADE", _head("X-TRADE", symbol, when) | {
        "Ceiling": ceiling, "Floor": floor, "RefPrice": ref, "LastPrice": price, "LastVol": volume,
        "TotalVol": total, "TotalVal": float(price * total), "Highest": price, "Lowest": price,
        "TradingSession": "LO", "Exchange": "HOSE", "Side": side,
    })


def quote_message(symbol: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> str:
    content = _head("X-QUOTE", symbol)
    for i in range(3):
        content[f"BidPrice{i + 1}"], content[f"BidVol{i + 1}"] = bids[i] if i < len(bids) else (0, 0)
        content[f"AskPrice{i + 1}"], content[f"AskVol{i + 1}"] = asks[i] if i < len(asks) else (0, 0)
    content["TradingSession"], content["Exchange"] = "LO", "HOSE"
    return _wrap("X-QUOTE", content)


def index_message(index_id: str, value: float, prior: float) -> str:
    return _wrap("MI", {"IndexId": index_id, "IndexValue": value, "PriorIndexValue": prior,
                        "TradingDate": datetime.now(VN_TZ).strftime("%d/%m/%Y"),
                        "Time": datetime.now(VN_TZ).strftime("%H:%M:%S"), "TradingSession": "LO"})


def foreign_message(symbol: str, buy_vol: int, sell_vol: int, buy_val: float, sell_val: float,
                    total_room: int, current_room: int) -> str:
    return _wrap("R", _head("R", symbol) | {"FBuyVol": buy_vol, "FSellVol": sell_vol, "FBuyVal": buy_val,
                                            "FSellVal": sell_val, "TotalRoom": total_room,
                                            "CurrentRoom": current_room, "Exchange": "HOSE"})
