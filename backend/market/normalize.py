"""Provider messages → typed events.

Accepts the SSI FastConnect envelope (``{"DataType": "X-TRADE", "Content": "<json>"}``,
Content as a JSON string or an object), a bare content object, or an already-decoded
dict; both spellings the provider uses for a field (``FBuyVol``/``BuyVol``,
``IndexID``/``IndexId``, ``NoChanges``/``Nochanges``, index ``Ceilings``/``Ceiling``,
``Time``/``TradingTime``, camelCase), channel names in both forms (``"Trade"``/``"X-TRADE"``)
and numbers sent as strings. ``"NaN"``, ``null`` and an empty string are "no value";
so is a price of 0 (the provider sends 0.0 for "no trade yet"), which never reaches a
price field as a price (book levels keep 0.0, the Quote event's "empty level"). Anything it cannot turn into a valid event raises
:class:`MessageError` with a short reason, which the core counts; it never raises
anything else. Odd-lot messages (channel OL) are recognised and refused with the reason
``odd_lot``: their match price is not a board price and their day totals include the
board's volume, so applying them would corrupt the board's last price and volume.
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Callable, Mapping
from datetime import date
from types import MappingProxyType
from typing import Any, ClassVar

import orjson

from backend.market.events import (
    Bar,
    Channel,
    ForeignFlow,
    IndexUpdate,
    MarketEvent,
    Quote,
    SecurityStatus,
    Side,
    Snapshot,
    Trade,
)
from backend.market.reference import vn_day

MAX_MESSAGE_CHARS = 64 * 1024
# Levels of the book kept per side. The provider sends ten (HOSE fills three and sends 0.0
# for the rest); the board shows three, and levels beyond them are not read at all.
QUOTE_LEVELS = 3
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_VN_OFFSET = 7 * 3600


class MessageError(ValueError):
    """A message that cannot become an event; ``reason`` is a short counter key."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def _aliases(*names: str) -> tuple[str, ...]:
    out: list[str] = []
    for name in names:
        for variant in (name, name[0].lower() + name[1:]):
            if variant not in out:
                out.append(variant)
    return tuple(out)


_CHANNELS: dict[str, Channel] = {
    "F": Channel.STATUS, "SECURITYSTATUS": Channel.STATUS, "STATUS": Channel.STATUS,
    "X-QUOTE": Channel.QUOTE, "QUOTE": Channel.QUOTE, "XQUOTE": Channel.QUOTE,
    "X-TRADE": Channel.TRADE, "TRADE": Channel.TRADE, "XTRADE": Channel.TRADE,
    "X": Channel.SNAPSHOT, "SNAPSHOT": Channel.SNAPSHOT,
    "R": Channel.FOREIGN, "FOREIGNROOM": Channel.FOREIGN, "FOREIGN": Channel.FOREIGN,
    "MI": Channel.INDEX, "INDEX": Channel.INDEX, "MARKETINDEX": Channel.INDEX,
    "B": Channel.BAR, "BAR": Channel.BAR, "OHLC": Channel.BAR,
}  # fmt: skip
# Channel codes that are recognised but never become an event (see the module docstring).
_REFUSED: dict[str, str] = {"OL": "odd_lot", "ODDLOT": "odd_lot"}

_SIDES: dict[str, Side] = {
    "BU": Side.BUY, "B": Side.BUY, "BUY": Side.BUY,
    "SD": Side.SELL, "S": Side.SELL, "SELL": Side.SELL,
}  # fmt: skip

# "Datatype" is the spelling of the B sample in the provider's documentation.
F_DATATYPE = _aliases("DataType", "Datatype")
F_CONTENT = _aliases("Content")
F_RTYPE = _aliases("RType")
F_SYMBOL = _aliases("Symbol", "StockSymbol")
F_DATE = _aliases("TradingDate")
# Bars (channel B) carry the time of day as TradingTime.
F_TIME = _aliases("Time", "TradingTime")
F_SESSION = _aliases("TradingSession")
F_STATUS = _aliases("TradingStatus")
F_EXCHANGE = _aliases("Exchange", "MarketId", "MarketID")
F_REF = _aliases("RefPrice", "Reference")
F_CEIL = _aliases("Ceiling", "CeilingPrice")
F_FLOOR = _aliases("Floor", "FloorPrice")
F_LAST = _aliases("LastPrice", "MatchPrice")
F_LASTVOL = _aliases("LastVol", "LastVolume", "MatchVol")
F_TOTALVOL = _aliases("TotalVol", "TotalVolume")
F_TOTALVAL = _aliases("TotalVal", "TotalValue")
F_HIGH = _aliases("Highest", "High")
F_LOW = _aliases("Lowest", "Low")
F_SIDE = _aliases("Side")
F_BUYVOL = _aliases("FBuyVol", "BuyVol")
F_SELLVOL = _aliases("FSellVol", "SellVol")
F_BUYVAL = _aliases("FBuyVal", "BuyVal")
F_SELLVAL = _aliases("FSellVal", "SellVal")
F_TOTALROOM = _aliases("TotalRoom", "FTotalRoom")
F_CURROOM = _aliases("CurrentRoom", "FCurrentRoom")
F_INDEXID = _aliases("IndexId", "IndexID")
F_INDEXVAL = _aliases("IndexValue", "IndexVal")
F_PRIORVAL = _aliases("PriorIndexValue", "PriorIndexVal")
F_ADV = _aliases("Advances", "Advance")
F_DEC = _aliases("Declines", "Decline")
# Index breadth: the documentation's sample says NoChanges/Ceilings/Floors, its field table and the
# provider's .NET client Nochanges/Ceiling/Floor. "Ceiling"/"Floor" are price fields on every other
# channel, so the index parser falls back to them explicitly instead of aliasing them here.
F_UNCH = _aliases("NoChanges", "Nochanges", "NoChange", "Unchanged")
F_CEILS = _aliases("Ceilings")
F_FLOORS = _aliases("Floors")
# AllQty/AllValue include put-through deals; TotalQtty/TotalValue (matched only) stand in when absent.
F_IDXVOL = _aliases("AllQty", "TotalQtty")
F_IDXVAL = _aliases("AllValue")
F_OPEN = _aliases("Open")
F_CLOSE = _aliases("Close")
F_VOLUME = _aliases("Volume")
F_VALUE = _aliases("Value")
F_BID_P = tuple(_aliases(f"BidPrice{i}") for i in range(1, QUOTE_LEVELS + 1))
F_BID_V = tuple(_aliases(f"BidVol{i}") for i in range(1, QUOTE_LEVELS + 1))
F_ASK_P = tuple(_aliases(f"AskPrice{i}") for i in range(1, QUOTE_LEVELS + 1))
F_ASK_V = tuple(_aliases(f"AskVol{i}") for i in range(1, QUOTE_LEVELS + 1))


_ALL_FIELDS = tuple(v for k, v in list(globals().items()) if k.startswith("F_") and isinstance(v, tuple))
_FIELD_GROUPS: tuple[tuple[str, ...], ...] = tuple(
    g for v in _ALL_FIELDS for g in (v if isinstance(v[0], tuple) else (v,))
)
# Every other spelling → the canonical one. Messages are rewritten to canonical keys once,
# so each field is then a single dict lookup.
_ALIASES: dict[str, str] = {alias: names[0] for names in _FIELD_GROUPS for alias in names[1:]}
_ALIAS_KEYS = frozenset(_ALIASES)
_INF = math.inf


def _canonical(d: dict[str, Any]) -> dict[str, Any]:
    if _ALIAS_KEYS.isdisjoint(d):
        return d
    out: dict[str, Any] = {}
    for key, value in d.items():
        canonical = _ALIASES.get(key)
        if canonical is None:
            if value is not None or key not in out:
                out[key] = value
        elif value is not None and out.get(canonical) is None:
            out[canonical] = value
    return out


def _get(d: dict[str, Any], names: tuple[str, ...]) -> Any:
    return d.get(names[0])


def _num(d: dict[str, Any], names: tuple[str, ...], *, required: bool = False) -> float | None:
    value = d.get(names[0])
    kind = type(value)
    if (kind is float or kind is int) and 0 <= value < _INF:
        return value
    return _num_slow(value, names[0], required)


def _num_slow(value: Any, field: str, required: bool) -> float | None:
    kind = type(value)
    result: float | None
    if kind is float or kind is int:
        result = float(value)
    elif value is None:
        result = None
    elif kind is str:
        text = value.strip().replace(",", "")
        if text == "" or text.lower() == "nan":
            result = None
        else:
            try:
                result = float(text)
            except ValueError:
                raise MessageError("bad_value", f"{field} is not a number") from None
    else:
        raise MessageError("bad_value", f"{field} is not a number")
    if result is not None and not math.isfinite(result):
        result = None  # the provider sends NaN for "no value" (e.g. AvgPrice before the first trade)
    if result is None:
        if required:
            raise MessageError("missing_field", field)
        return None
    if result < 0:
        raise MessageError("bad_value", f"{field} is negative")
    return result


def _price(d: dict[str, Any], names: tuple[str, ...], *, required: bool = False) -> float | None:
    """A price, or None for "no value": NaN, null, empty and 0 (no VN security trades at 0)."""
    value = _num(d, names, required=required)
    if value == 0:
        if required:
            raise MessageError("missing_field", f"{names[0]} is zero")
        return None
    return value


def _count(d: dict[str, Any], names: tuple[str, ...], *, required: bool = False) -> int | None:
    value = d.get(names[0])
    if type(value) is int and 0 <= value < 1e15:
        return value
    value = _num(d, names, required=required)
    if value is None:
        return None
    if value != int(value) or value > 1e15:
        raise MessageError("bad_value", f"{names[0]} is not a whole number")
    return int(value)


def _text(d: dict[str, Any], names: tuple[str, ...]) -> str:
    value = _get(d, names)
    if value is None:
        return ""
    if type(value) is not str or len(value) > 40:
        raise MessageError("bad_value", f"{names[0]} is not a short text")
    return value


def _symbol(d: dict[str, Any], names: tuple[str, ...] = F_SYMBOL) -> str:
    value = _get(d, names)
    if value is None:
        raise MessageError("missing_field", names[0])
    if type(value) is not str or not (0 < len(value) <= 20) or not value.isascii() or not value.isalnum():
        raise MessageError("bad_value", f"{names[0]} is not a symbol")
    return value.upper()


def _index_value(d: dict[str, Any]) -> float | None:
    """The index's traded value: AllValue, else TotalValue only when AllValue is absent.

    An AllValue of 0.0 (nothing traded yet) is a value, not a missing one.
    """
    value = _num(d, F_IDXVAL)
    return _num(d, F_TOTALVAL) if value is None else value


class Normalizer:
    """Turns raw provider messages into events. Keeps only parse caches (no market state).

    ``now`` supplies the day for messages that carry a time but no date.
    """

    def __init__(self, *, now: Callable[[], float] = _time.time) -> None:
        self._now = now
        self._dates: dict[str, tuple[int, float]] = {}
        self._times: dict[str, int] = {}
        self._last_date: tuple[int, float] | None = None

    def parse(self, raw: str | bytes | dict[str, Any]) -> MarketEvent:
        msg = raw if type(raw) is dict else self._decode(raw)
        if not _ALIAS_KEYS.isdisjoint(msg):
            msg = _canonical(msg)
        channel_code = msg.get("DataType")
        if channel_code is not None:
            content = msg.get("Content")
            if type(content) is str and len(content) <= MAX_MESSAGE_CHARS:
                try:
                    content = orjson.loads(content)
                except orjson.JSONDecodeError:
                    raise MessageError("malformed", "Content is not JSON") from None
                if type(content) is not dict:
                    raise MessageError("malformed", "Content is not a JSON object")
            elif content is None:
                raise MessageError("missing_field", "Content")
            else:
                content = self._decode(content)
            if not _ALIAS_KEYS.isdisjoint(content):
                content = _canonical(content)
        else:
            content = msg
            channel_code = msg.get("RType")
        if type(channel_code) is not str:
            raise MessageError("unknown_channel", "no DataType or RType")
        channel = _CHANNELS.get(channel_code) or _CHANNELS.get(channel_code.upper())
        if channel is None:
            refused = _REFUSED.get(channel_code.upper())
            if refused is not None:
                raise MessageError(refused, channel_code[:20])
            raise MessageError("unknown_channel", channel_code[:20])
        return self._parsers[channel](self, content)

    @staticmethod
    def _decode(raw: Any) -> dict[str, Any]:
        if type(raw) is dict:
            return raw
        if isinstance(raw, (str, bytes, bytearray)):
            if len(raw) > MAX_MESSAGE_CHARS:
                raise MessageError("oversized", f"{len(raw)} characters")
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise MessageError("malformed", "not JSON") from None
            if type(value) is not dict:
                raise MessageError("malformed", "not a JSON object")
            return value
        raise MessageError("malformed", f"unsupported message type {type(raw).__name__}")

    # --- time -------------------------------------------------------------------------
    def _when(self, d: dict[str, Any]) -> tuple[float, int]:
        """(epoch seconds, day ordinal) from TradingDate + Time on the VN clock."""
        day_key = _get(d, F_DATE)
        if day_key is None:
            day = self._last_date
            if day is None:
                ordinal = vn_day(self._now())
                day = (ordinal, (ordinal - _EPOCH_ORDINAL) * 86_400.0 - _VN_OFFSET)
        else:
            day = self._dates.get(day_key) if type(day_key) is str else None
            if day is None:
                day = self._parse_date(day_key)
            self._last_date = day
        time_key = _get(d, F_TIME)
        if time_key is None:
            raise MessageError("missing_field", "Time")
        seconds = self._times.get(time_key) if type(time_key) is str else None
        if seconds is None:
            seconds = self._parse_time(time_key)
        return day[1] + seconds, day[0]

    def _parse_date(self, value: Any) -> tuple[int, float]:
        if type(value) is not str or len(value) != 10:
            raise MessageError("bad_value", "TradingDate")
        try:
            if value[2] == "/":
                parsed = date(int(value[6:10]), int(value[3:5]), int(value[0:2]))
            else:
                parsed = date.fromisoformat(value)
        except ValueError:
            raise MessageError("bad_value", "TradingDate") from None
        ordinal = parsed.toordinal()
        result = (ordinal, (ordinal - _EPOCH_ORDINAL) * 86_400.0 - _VN_OFFSET)
        if len(self._dates) > 1_000:
            self._dates.clear()
        self._dates[value] = result
        return result

    def _parse_time(self, value: Any) -> int:
        # HH:MM:SS (every sample; a fraction after it is ignored) or HHMMSS (the F field table).
        if type(value) is not str:
            raise MessageError("bad_value", "Time")
        if len(value) >= 8 and value[2] == ":" and value[5] == ":":
            parts = value[0:2], value[3:5], value[6:8]
        elif len(value) == 6:
            parts = value[0:2], value[2:4], value[4:6]
        else:
            raise MessageError("bad_value", "Time")
        if not all(p.isascii() and p.isdigit() for p in parts):
            raise MessageError("bad_value", "Time")
        h, m, s = int(parts[0]), int(parts[1]), int(parts[2])
        if not (0 <= h < 24 and 0 <= m < 60 and 0 <= s < 60):
            raise MessageError("bad_value", "Time")
        seconds = h * 3600 + m * 60 + s
        if len(self._times) > 100_000:  # hostile input cannot grow the cache without bound
            self._times.clear()
        self._times[value] = seconds
        return seconds

    # --- channels ---------------------------------------------------------------------
    def _status(self, d: dict[str, Any]) -> SecurityStatus:
        ts, day = self._when(d)
        return SecurityStatus(
            symbol=_symbol(d), ts=ts, day=day,
            session=_text(d, F_SESSION), status=_text(d, F_STATUS), exchange=_text(d, F_EXCHANGE),
            ref=_price(d, F_REF), ceiling=_price(d, F_CEIL), floor=_price(d, F_FLOOR),
        )  # fmt: skip

    def _quote(self, d: dict[str, Any], symbol: str | None = None, when: tuple[float, int] | None = None) -> Quote:
        ts, day = when or self._when(d)
        g = d.get
        levels = (
            g("BidPrice1"), g("BidPrice2"), g("BidPrice3"), g("BidVol1"), g("BidVol2"), g("BidVol3"),
            g("AskPrice1"), g("AskPrice2"), g("AskPrice3"), g("AskVol1"), g("AskVol2"), g("AskVol3"),
        )  # fmt: skip
        # Fast path: every level a plain non-negative JSON number (NaN fails the comparison).
        try:
            fast = min(levels) >= 0 and sum(levels) < _INF  # type: ignore[type-var,arg-type]
        except TypeError:
            fast = False
        if not fast:
            return self._quote_checked(d, symbol, ts, day)
        bv, av = levels[3:6], levels[9:12]
        if not all(type(x) is int for x in (*bv, *av)):
            bv, av = tuple(map(int, bv)), tuple(map(int, av))
            if bv != levels[3:6] or av != levels[9:12]:
                return self._quote_checked(d, symbol, ts, day)
        return Quote(
            symbol or _symbol(d), ts, day, levels[0:3], bv, levels[6:9], av,  # type: ignore[arg-type]
            _text(d, F_SESSION),
        )

    def _quote_checked(self, d: dict[str, Any], symbol: str | None, ts: float, day: int) -> Quote:
        return Quote(
            symbol=symbol or _symbol(d), ts=ts, day=day,
            bid_prices=tuple(_num(d, f) or 0.0 for f in F_BID_P),
            bid_vols=tuple(_count(d, f) or 0 for f in F_BID_V),
            ask_prices=tuple(_num(d, f) or 0.0 for f in F_ASK_P),
            ask_vols=tuple(_count(d, f) or 0 for f in F_ASK_V),
            session=_text(d, F_SESSION),
        )  # fmt: skip

    def _trade(self, d: dict[str, Any], symbol: str | None = None, when: tuple[float, int] | None = None) -> Trade:
        ts, day = when or self._when(d)
        price = _num(d, F_LAST, required=True)
        if not price:
            raise MessageError("bad_value", "LastPrice is zero")
        side_code = _get(d, F_SIDE)
        side = _SIDES.get(side_code.upper()) if type(side_code) is str else None
        return Trade(
            symbol=symbol or _symbol(d), ts=ts, day=day, price=price,
            volume=_count(d, F_LASTVOL, required=True),  # type: ignore[arg-type]
            total_volume=_count(d, F_TOTALVOL, required=True),  # type: ignore[arg-type]
            # 0.0 when the provider sends no value: the classifier then values the volume at the price.
            total_value=_num(d, F_TOTALVAL) or 0.0,
            side=side, session=_text(d, F_SESSION),
            ref=_price(d, F_REF), ceiling=_price(d, F_CEIL), floor=_price(d, F_FLOOR),
            high=_price(d, F_HIGH), low=_price(d, F_LOW),
        )  # fmt: skip

    def _snapshot(self, d: dict[str, Any]) -> Snapshot:
        symbol = _symbol(d)
        when = self._when(d)
        quote = self._quote(d, symbol, when)
        has_trade = _num(d, F_LAST) and _count(d, F_LASTVOL) and _get(d, F_TOTALVOL) is not None
        return Snapshot(quote=quote, trade=self._trade(d, symbol, when) if has_trade else None)

    def _foreign(self, d: dict[str, Any]) -> ForeignFlow:
        ts, day = self._when(d)
        buy_vol = _count(d, F_BUYVOL, required=True)
        sell_vol = _count(d, F_SELLVOL, required=True)
        # Values are day totals too: a missing value beside a non-zero volume would make the next
        # message's delta the whole day's value, so it is refused; with no volume it is exactly 0.
        return ForeignFlow(
            symbol=_symbol(d), ts=ts, day=day,
            buy_vol=buy_vol, sell_vol=sell_vol,  # type: ignore[arg-type]
            buy_val=_num(d, F_BUYVAL, required=bool(buy_vol)) or 0.0,
            sell_val=_num(d, F_SELLVAL, required=bool(sell_vol)) or 0.0,
            total_room=_count(d, F_TOTALROOM), current_room=_count(d, F_CURROOM),
        )  # fmt: skip

    def _index(self, d: dict[str, Any]) -> IndexUpdate:
        ts, day = self._when(d)
        value = _num(d, F_INDEXVAL, required=True)
        if not value:
            raise MessageError("bad_value", "IndexValue is zero")
        return IndexUpdate(
            index_id=_symbol(d, F_INDEXID), ts=ts, day=day, value=value,  # type: ignore[arg-type]
            prior_value=_num(d, F_PRIORVAL) or 0.0,
            advances=_count(d, F_ADV), declines=_count(d, F_DEC), unchanged=_count(d, F_UNCH),
            ceilings=_count(d, F_CEILS if _get(d, F_CEILS) is not None else F_CEIL),
            floors=_count(d, F_FLOORS if _get(d, F_FLOORS) is not None else F_FLOOR),
            total_volume=_num(d, F_IDXVOL), total_value=_index_value(d),
            session=_text(d, F_SESSION),
        )  # fmt: skip

    def _bar(self, d: dict[str, Any]) -> Bar:
        ts, day = self._when(d)
        return Bar(
            symbol=_symbol(d), ts=ts, day=day,
            open=_price(d, F_OPEN, required=True), high=_price(d, F_HIGH, required=True),  # type: ignore[arg-type]
            low=_price(d, F_LOW, required=True), close=_price(d, F_CLOSE, required=True),  # type: ignore[arg-type]
            volume=_count(d, F_VOLUME) or 0, value=_num(d, F_VALUE) or 0.0,
        )  # fmt: skip

    _parsers: ClassVar[Mapping[Channel, Callable[[Normalizer, dict[str, Any]], MarketEvent]]] = MappingProxyType({
        Channel.STATUS: _status,
        Channel.QUOTE: _quote,
        Channel.TRADE: _trade,
        Channel.SNAPSHOT: _snapshot,
        Channel.FOREIGN: _foreign,
        Channel.INDEX: _index,
        Channel.BAR: _bar,
    })
