"""Models of the live market API's answers, for the OpenAPI document and the tests that
check real answers against it (the views build their JSON directly, for speed)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IndexSummary(_Model):
    """One index: its level and change against the prior close, breadth and the day's totals."""

    value: float | None
    prior: float | None
    change: float | None
    change_pct: float | None
    high: float | None
    low: float | None
    advances: int  # including ceilings
    declines: int  # including floors
    unchanged: int
    ceilings: int
    floors: int
    total_volume: float | None
    total_value: float | None  # VND


class BasisSummary(_Model):
    """The most traded VN30 futures contract against the VN30 index (index points)."""

    contract: str | None
    futures: float | None
    index: float | None
    basis: float | None  # futures − index
    basis_pct: float | None
    stance: Literal["premium", "discount", "flat"] | None


class ForeignSummary(_Model):
    """Foreign investors today (VND) and their speed over the last five minutes (VND per minute)."""

    buy_val: float
    sell_val: float
    net_val: float
    speed_buy_val: float
    speed_sell_val: float


class Mover(_Model):
    symbol: str
    change_pct: float


class Movers(_Model):
    up: list[Mover]
    down: list[Mover]


class MarketClock(_Model):
    clock: float | None  # the feed's latest event time, epoch seconds
    vn_time: str | None  # the same on the VN wall clock, HH:MM:SS
    phase: str


class FeedStatusModel(_Model):
    state: Literal["starting", "live", "stale", "disconnected", "stopped"]
    age_seconds: float | None
    stale_after_seconds: float
    messages: int
    rejected: int
    market_ts: float | None
    error: str | None
    source: str | None  # "simulator", "replay" or "ssi"
    simulated: bool
    catching_up: bool  # the simulator still replays the session so far, faster than real time


class MarketSummary(_Model):
    version: int
    clock: MarketClock
    indices: dict[str, IndexSummary]  # by index id: VN30, VNINDEX
    basis: BasisSummary
    foreign: ForeignSummary
    movers: Movers
    status: FeedStatusModel


class Board(_Model):
    """The board rows changed since a version (all rows when ``full``), and the feed status."""

    version: int = Field(description="pass as ?since= to get only the rows changed after this answer")
    full: bool = Field(description="every row of the board (no or unknown ?since=)")
    rows: list[dict[str, Any]]
    removed: list[str] = Field(description="symbols no longer on the board")
    status: FeedStatusModel


class History(_Model):
    kind: str
    date: str
    symbol: str | None
    rows: list[dict[str, Any]]


class Alerts(_Model):
    alerts: list[dict[str, Any]] = Field(description="newest first")


class Acknowledged(_Model):
    id: str
    acknowledged: bool
    by: str
