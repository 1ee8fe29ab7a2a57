"""What the explorer hands the page to draw: candles, lines and notices for one window (plain data,
no store behind it, so the chart components can name it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from backend.research.description import DatasetInfo


@dataclass(frozen=True)
class Series:
    name: str
    overlay: bool
    x: list[str]
    y: list[float | None]


@dataclass(frozen=True)
class ExplorerWindow:
    info: DatasetInfo
    symbol: str | None
    rows: int  # bars in the window
    x: list[str] = field(default_factory=list)  # candle times, dataset wall clock
    open: list[float | None] = field(default_factory=list)
    high: list[float | None] = field(default_factory=list)
    low: list[float | None] = field(default_factory=list)
    close: list[float | None] = field(default_factory=list)
    volume: list[float | None] = field(default_factory=list)
    lines: list[Series] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    merged: int = 1  # bars per candle at most
