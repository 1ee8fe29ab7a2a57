"""Index tracker (value, change, breadth, one point a minute) and breadth from constituent prices."""

from __future__ import annotations

from dataclasses import dataclass, field

from backend.market.events import IndexUpdate
from backend.market.processors.classifier import Drop


@dataclass(slots=True)
class IndexState:
    index_id: str
    value: float = 0.0
    prior_value: float = 0.0
    high: float = 0.0
    low: float = 0.0
    advances: int | None = None
    declines: int | None = None
    unchanged: int | None = None
    ceilings: int | None = None
    floors: int | None = None
    total_volume: float | None = None
    total_value: float | None = None
    ts: float = 0.0
    # One point a minute: [minute start (epoch s), last value seen in that minute, the day's total
    # volume and value at the end of the minute, and at its first message] — so a chart can draw
    # what traded in each minute (the difference of day totals) without another pass over history.
    series: list[list[float | None]] = field(default_factory=list)

    @property
    def change(self) -> float:
        return self.value - self.prior_value if self.prior_value else 0.0

    @property
    def change_pct(self) -> float:
        return self.change / self.prior_value * 100.0 if self.prior_value else 0.0


class IndexTracker:
    def __init__(self) -> None:
        self._states: dict[str, IndexState] = {}

    def apply(self, event: IndexUpdate) -> IndexState | Drop:
        state = self._states.get(event.index_id)
        if state is None:
            state = self._states[event.index_id] = IndexState(event.index_id, high=event.value, low=event.value)
        elif event.ts < state.ts:
            return Drop.OUT_OF_ORDER
        state.value = event.value
        if event.prior_value:
            state.prior_value = event.prior_value
        state.high = max(state.high, event.value)
        state.low = min(state.low, event.value)
        for name in ("advances", "declines", "unchanged", "ceilings", "floors", "total_volume", "total_value"):
            value = getattr(event, name)
            if value is not None:
                setattr(state, name, value)
        state.ts = event.ts
        minute = event.ts - event.ts % 60
        series = state.series
        volume, value = state.total_volume, state.total_value
        if series and series[-1][0] == minute:
            last = series[-1]
            last[1], last[2], last[3] = event.value, volume, value
            if last[4] is None:  # the minute's first totals are the first the feed sent in it
                last[4], last[5] = volume, value
        else:
            series.append([minute, event.value, volume, value, volume, value])
        return state

    def get(self, index_id: str) -> IndexState | None:
        return self._states.get(index_id)

    def items(self) -> list[tuple[str, IndexState]]:
        return list(self._states.items())

    def reset(self) -> None:
        self._states.clear()


# Price states for breadth: each counted symbol is in exactly one.
UP, DOWN, FLAT, CEILING, FLOOR = "up", "down", "flat", "ceiling", "floor"


@dataclass(slots=True)
class Breadth:
    advances: int = 0  # including ceilings
    declines: int = 0  # including floors
    unchanged: int = 0
    ceilings: int = 0
    floors: int = 0

    @property
    def advance_share(self) -> float | None:
        moved = self.advances + self.declines
        return self.advances / moved if moved else None


def price_state(last: float, ref: float, ceiling: float | None, floor: float | None) -> str:
    if ceiling and last >= ceiling:
        return CEILING
    if floor and last <= floor:
        return FLOOR
    if last > ref:
        return UP
    if last < ref:
        return DOWN
    return FLAT


class BreadthTracker:
    """Advances/declines/unchanged/ceilings/floors of a set of symbols, kept incrementally."""

    def __init__(self, members: frozenset[str] | None = None) -> None:
        self.members = members
        self._states: dict[str, str] = {}
        self.breadth = Breadth()

    def apply(self, symbol: str, last: float, ref: float, ceiling: float | None, floor: float | None) -> Breadth:
        if self.members is not None and symbol not in self.members:
            return self.breadth
        new = price_state(last, ref, ceiling, floor)
        old = self._states.get(symbol)
        if new != old:
            if old is not None:
                self._count(old, -1)
            self._count(new, 1)
            self._states[symbol] = new
        return self.breadth

    def _count(self, state: str, step: int) -> None:
        b = self.breadth
        if state in (UP, CEILING):
            b.advances += step
        elif state in (DOWN, FLOOR):
            b.declines += step
        else:
            b.unchanged += step
        if state == CEILING:
            b.ceilings += step
        elif state == FLOOR:
            b.floors += step

    def reset(self) -> None:
        self._states.clear()
        self.breadth = Breadth()
