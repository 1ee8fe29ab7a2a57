"""Strategies that watch the board's metrics and say when to act: ``on_metric(symbol, metrics)``
is called with each update of a symbol (its last price, the day's VWAP and cumulative volume)
and answers a ``Signal`` or None.

Three are built in, each keeping what it needs per symbol and signalling on a change of state
only (a signal is a decision, not a level):

- ``MovingAverageCross(fast, slow)``: the mean of the last ``fast`` prices crossing the mean of
  the last ``slow`` — above: buy, below: sell (each mean over the updates seen, once ``slow``
  of them have been);
- ``VwapDeviation(threshold_pct)``: the price ``threshold_pct`` % or more below the day's VWAP
  — buy (back towards it); as far above — sell; a signal each time the price leaves the band;
- ``VolumeSpike(window, multiple)``: the shares traded in one update at least ``multiple``
  times their mean over the ``window`` updates before it — a buy when the price rose on it, a
  sell when it fell, nothing when it did not move.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Final, Literal, Protocol

KINDS: Final = ("ma_cross", "vwap_deviation", "volume_spike")


@dataclass(frozen=True)
class Signal:
    strategy: str
    symbol: str
    side: Literal["buy", "sell"]
    price: float
    reason: str
    ts: float | None = None


class Strategy(Protocol):
    name: str

    def on_metric(self, symbol: str, metrics: Mapping[str, Any]) -> Signal | None: ...


def _whole(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name}: a whole number from {low} to {high}, got {str(value)[:30]!r}")
    return value


def _number(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low < float(value) <= high:
        raise ValueError(f"{name}: a number above {low:g} and at most {high:g}, got {str(value)[:30]!r}")
    return float(value)


def _price(metrics: Mapping[str, Any]) -> float | None:
    last = metrics.get("last")
    return float(last) if isinstance(last, int | float) and not isinstance(last, bool) and last > 0 else None


@dataclass
class MovingAverageCross:
    fast: int = 5
    slow: int = 20
    name: str = "ma_cross"
    _prices: dict[str, deque[float]] = field(default_factory=dict, repr=False)
    _above: dict[str, bool] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.fast = _whole("fast", self.fast, 1, 500)
        self.slow = _whole("slow", self.slow, 2, 1_000)
        if self.fast >= self.slow:
            raise ValueError(f"fast: {self.fast} must be below slow ({self.slow})")

    def on_metric(self, symbol: str, metrics: Mapping[str, Any]) -> Signal | None:
        price = _price(metrics)
        if price is None:
            return None
        prices = self._prices.get(symbol)
        if prices is None:
            prices = self._prices[symbol] = deque(maxlen=self.slow)
        prices.append(price)
        if len(prices) < self.slow:
            return None
        # Summed afresh each time, oldest first, rather than kept as running sums: the same
        # float sums on every update, so equal means stay equal and no drift builds up.
        fast = sum(islice(prices, self.slow - self.fast, None)) / self.fast
        slow = sum(prices) / self.slow
        if fast == slow:
            return None
        above = fast > slow
        before = self._above.get(symbol)
        self._above[symbol] = above
        if before is None or before == above:
            return None
        return Signal(self.name, symbol, "buy" if above else "sell", price,
                      f"SMA({self.fast}) {fast:,.1f} crossed {'above' if above else 'below'} SMA({self.slow}) "
                      f"{slow:,.1f}", metrics.get("ts"))


@dataclass
class VwapDeviation:
    threshold_pct: float = 1.0
    name: str = "vwap_deviation"
    _state: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.threshold_pct = _number("threshold_pct", self.threshold_pct, 0.0, 50.0)

    def on_metric(self, symbol: str, metrics: Mapping[str, Any]) -> Signal | None:
        price, vwap = _price(metrics), metrics.get("vwap")
        if price is None or not isinstance(vwap, int | float) or vwap <= 0:
            return None
        gap = (price / vwap - 1.0) * 100
        state = -1 if gap <= -self.threshold_pct else 1 if gap >= self.threshold_pct else 0
        before = self._state.get(symbol, 0)
        self._state[symbol] = state
        if state == 0 or state == before:
            return None
        side: Literal["buy", "sell"] = "buy" if state < 0 else "sell"
        return Signal(self.name, symbol, side, price, f"{gap:+.2f} % from VWAP {vwap:,.1f}", metrics.get("ts"))


@dataclass
class VolumeSpike:
    window: int = 20
    multiple: float = 3.0
    name: str = "volume_spike"
    _volumes: dict[str, deque[float]] = field(default_factory=dict, repr=False)
    _last: dict[str, tuple[float, float]] = field(default_factory=dict, repr=False)  # price, cumulative volume

    def __post_init__(self) -> None:
        self.window = _whole("window", self.window, 2, 10_000)
        self.multiple = _number("multiple", self.multiple, 1.0, 1_000.0)

    def on_metric(self, symbol: str, metrics: Mapping[str, Any]) -> Signal | None:
        price, total = _price(metrics), metrics.get("volume")
        if price is None or not isinstance(total, int | float) or isinstance(total, bool):
            return None
        before = self._last.get(symbol)
        self._last[symbol] = (price, float(total))
        if before is None or total < before[1]:
            return None  # the first update, or a new day's volume
        traded = float(total) - before[1]
        seen = self._volumes.get(symbol)
        if seen is None:
            seen = self._volumes[symbol] = deque(maxlen=self.window)
        if len(seen) < self.window:  # still filling its window: no mean to compare with yet
            seen.append(traded)
            return None
        mean = sum(seen) / self.window
        seen.append(traded)
        if mean <= 0 or traded < self.multiple * mean or price == before[0]:
            return None
        side: Literal["buy", "sell"] = "buy" if price > before[0] else "sell"
        return Signal(self.name, symbol, side, price, f"{traded:,.0f} shares, {traded / mean:.1f}× the mean of "
                      f"the last {self.window} updates", metrics.get("ts"))


def make_strategy(kind: str, parameters: Mapping[str, Any] | None = None) -> Strategy:
    """A built-in strategy by kind with its parameters (a ``ValueError`` naming a bad one)."""
    classes: dict[str, type] = {"ma_cross": MovingAverageCross, "vwap_deviation": VwapDeviation,
                                "volume_spike": VolumeSpike}
    if kind not in classes:
        raise ValueError(f"kind: one of {', '.join(KINDS)}, got {str(kind)[:30]!r}")
    given = dict(parameters or {})
    allowed = {f for f in classes[kind].__dataclass_fields__ if not f.startswith("_") and f != "name"}
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ValueError(f"{unknown[0][:30]}: not a parameter of {kind} ({', '.join(sorted(allowed))})")
    return classes[kind](**given)  # type: ignore[no-any-return]


def metrics_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """A board row's metrics as strategies read them: last, VWAP (value / volume), volume, time."""
    volume, value = row.get("total_vol"), row.get("total_val")
    return {"last": row.get("last"), "volume": volume, "ts": row.get("ts"),
            "vwap": (value / volume) if volume and value else None}


__all__ = ["KINDS", "MovingAverageCross", "Signal", "Strategy", "VolumeSpike", "VwapDeviation", "make_strategy",
           "metrics_of"]
