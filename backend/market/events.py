"""Typed market events: what provider messages become after normalisation.

Prices of stocks are VND, prices of futures and indices are index points,
volumes are shares (contracts for futures). ``ts`` is epoch seconds (UTC) and
``day`` the trading date as a proleptic ordinal in the VN calendar, so a new
day is one integer comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Channel(StrEnum):
    """SSI FastConnect streaming channels."""

    STATUS = "F"
    QUOTE = "X-QUOTE"
    TRADE = "X-TRADE"
    SNAPSHOT = "X"
    FOREIGN = "R"
    INDEX = "MI"
    BAR = "B"


class Side(IntEnum):
    """Aggressor side of a trade: who crossed the spread."""

    SELL = -1
    NEUTRAL = 0
    BUY = 1


class Phase(StrEnum):
    """Trading phases of a HOSE day on the VN clock."""

    PRE_OPEN = "pre_open"
    ATO = "ato"
    CONTINUOUS = "continuous"
    LUNCH = "lunch"
    ATC = "atc"
    PUT_THROUGH = "put_through"
    CLOSED = "closed"


@dataclass(slots=True)
class SecurityStatus:
    """Channel F: a security's session, status and price limits."""

    symbol: str
    ts: float
    day: int
    session: str
    status: str
    exchange: str
    ref: float | None = None
    ceiling: float | None = None
    floor: float | None = None


@dataclass(slots=True)
class Quote:
    """Best three (or more) bid and ask levels; prices 0 mean an empty level."""

    symbol: str
    ts: float
    day: int
    bid_prices: tuple[float, ...]
    bid_vols: tuple[int, ...]
    ask_prices: tuple[float, ...]
    ask_vols: tuple[int, ...]
    session: str = ""


@dataclass(slots=True)
class Trade:
    """One match (channel X-TRADE) with the day's running totals.

    ``side`` is the feed's aggressor side when it sends one, else None.
    """

    symbol: str
    ts: float
    day: int
    price: float
    volume: int
    total_volume: int
    total_value: float
    side: Side | None
    session: str = ""
    ref: float | None = None
    ceiling: float | None = None
    floor: float | None = None
    high: float | None = None
    low: float | None = None


@dataclass(slots=True)
class Snapshot:
    """Channel X: quote and last trade in one message, re-sent on every change."""

    quote: Quote
    trade: Trade | None


@dataclass(slots=True)
class ForeignFlow:
    """Channel R: foreign investors' cumulative buying and selling and room."""

    symbol: str
    ts: float
    day: int
    buy_vol: int
    sell_vol: int
    buy_val: float
    sell_val: float
    total_room: int | None
    current_room: int | None


@dataclass(slots=True)
class IndexUpdate:
    """Channel MI: an index value with the exchange's breadth counts."""

    index_id: str
    ts: float
    day: int
    value: float
    prior_value: float
    advances: int | None = None
    declines: int | None = None
    unchanged: int | None = None
    ceilings: int | None = None
    floors: int | None = None
    total_volume: float | None = None
    total_value: float | None = None
    session: str = ""


@dataclass(slots=True)
class Bar:
    """Channel B: a one-minute OHLCV bar."""

    symbol: str
    ts: float
    day: int
    open: float
    high: float
    low: float
    close: float
    volume: int
    value: float


MarketEvent = SecurityStatus | Quote | Trade | Snapshot | ForeignFlow | IndexUpdate | Bar


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertKind(StrEnum):
    FOREIGN_BUY_ACCELERATION = "foreign_buy_acceleration"
    FOREIGN_SELL_ACCELERATION = "foreign_sell_acceleration"
    BASIS_PREMIUM = "basis_premium"
    BASIS_DISCOUNT = "basis_discount"
    BREADTH_EXTREME = "breadth_extreme"
    PRICE_RULE = "price_rule"


@dataclass(slots=True, frozen=True)
class Alert:
    """One alert episode. ``id`` is unique per process and stable for storage."""

    id: str
    ts: float
    kind: AlertKind
    symbol: str
    message: str
    severity: Severity
    value: float
    threshold: float
    rule_id: str | None = None
