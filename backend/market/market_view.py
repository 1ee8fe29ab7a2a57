"""What the /market page and ``GET /api/v1/market/summary`` show, computed once per tick.

The pipeline builds one immutable :class:`MarketView` per tick from the core's summary and
the board rows; every screen and the REST API read that same object, so a request costs a
dictionary lookup. A screen keeps a *cursor* — the view's run, the version it last saw and
how many points of each chart series it holds — and asks for what changed since: the points
from its last one on (the current minute is still moving) and the headline parts that
changed. Answers are memoised per cursor, so screens at the same place share one answer.

Series are sampled in event time (the minute of the event), one point a minute, and only
their last point ever changes. Chart x values are the VN wall clock in epoch milliseconds
(what a Plotly date axis draws as local time); the lunch break is a ``None`` point, so no
line is drawn across it.
"""

from __future__ import annotations

import secrets
import threading
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from backend.market.processors.index import price_state
from backend.market.reference import (
    ATC_END,
    ATO_START,
    LUNCH_END,
    LUNCH_START,
    VN30_SYMBOLS,
    is_vn30_future,
    vn_day,
    vn_seconds_of_day,
)

Row = Mapping[str, Any]

VN_OFFSET_S: Final = 7 * 3600
# The chart series a screen extends, and the columns each carries besides x.
SERIES: Final[dict[str, tuple[str, ...]]] = {
    "vn30": ("value", "flow"),
    "vnindex": ("value", "flow"),
    "foreign": ("buy", "sell"),
    "basis": ("index", "futures", "basis"),
}
PARTS: Final[tuple[str, ...]] = ("vn30", "vnindex", "foreign", "basis", "leaders", "movers", "clock")
INDEX_IDS: Final[dict[str, str]] = {"vn30": "VN30", "vnindex": "VNINDEX"}
MOVERS: Final[int] = 5
LEADERS: Final[int] = 8
_MEMO_SIZE: Final[int] = 64
_MAX_POINTS: Final[int] = 100_000
_RECENT_VERSIONS: Final[int] = 256  # a minute of ticks: enough to say how late a screen is


def chart_x(epoch: float) -> int:
    """Epoch seconds → the VN wall clock as epoch milliseconds (a Plotly date axis shows it as is)."""
    return int((epoch + VN_OFFSET_S) * 1000)


def vn_clock_text(epoch: float | None) -> str | None:
    if not epoch:
        return None
    return (datetime.fromtimestamp(epoch, UTC) + timedelta(seconds=VN_OFFSET_S)).strftime("%H:%M:%S")


@dataclass(frozen=True, slots=True)
class ChartSeries:
    """One chart's points: x (VN wall-clock ms) and named columns of the same length."""

    x: tuple[int, ...] = ()
    cols: Mapping[str, tuple[float | None, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.x)

    def tail(self, start: int) -> dict[str, Any]:
        return {"from": start, "x": list(self.x[start:]), "cols": {k: list(v[start:]) for k, v in self.cols.items()}}


def _with_lunch_gap(points: Sequence[Sequence[Any]]) -> list[Sequence[Any] | None]:
    """The points, with ``None`` between the last morning and the first afternoon minute."""
    out: list[Sequence[Any] | None] = []
    previous = None
    for point in points:
        if previous is not None and vn_seconds_of_day(previous) < LUNCH_START <= LUNCH_END <= vn_seconds_of_day(
            point[0]
        ):
            out.append(None)
        out.append(point)
        previous = point[0]
    return out


def _lunch_x(points: Sequence[Sequence[Any]]) -> int:
    """The middle of the lunch break on the day of ``points`` (where the gap point sits)."""
    first = points[0][0]
    midnight = first - vn_seconds_of_day(first)
    return chart_x(midnight + (LUNCH_START + LUNCH_END) / 2)


PointValues = Callable[[Sequence[Any], Sequence[Any] | None], Sequence[float | None]]


def _columns(points: Sequence[Sequence[Any]], names: Sequence[str], values: PointValues) -> ChartSeries:
    """Build x and columns from ``points``; ``values(point, previous)`` gives one value per name."""
    if not points:
        return ChartSeries(cols={n: () for n in names})
    gap_x = _lunch_x(points)
    xs: list[int] = []
    cols: list[list[float | None]] = [[] for _ in names]
    previous = None
    for point in _with_lunch_gap(points):
        if point is None:
            xs.append(gap_x)
            for col in cols:
                col.append(None)
            continue
        xs.append(chart_x(point[0]))
        for col, value in zip(cols, values(point, previous), strict=True):
            col.append(value)
        previous = point
    return ChartSeries(tuple(xs), {n: tuple(c) for n, c in zip(names, cols, strict=True)})


def index_series(points: Sequence[Sequence[Any]]) -> tuple[ChartSeries, str]:
    """An index's minute series with what traded in each minute: matched value (bn VND) when the
    feed sends the day's value, else volume (millions of shares); returns the series and the unit.

    A minute's trade is the rise of the day's total from the end of the previous minute (for the
    first minute, from its first message). A value the feed left out while the day's volume was
    still zero is zero: nothing had traded.
    """
    by_value = any(len(p) > 3 and p[3] is not None for p in points)
    scale, unit = (1e9, "bn VND") if by_value else (1e6, "m shares")

    def total(point: Sequence[Any] | None, at: int) -> float | None:
        """The day's total at the end (``at`` = 2) or the start (``at`` = 4) of a minute."""
        if point is None or len(point) <= at + 1:
            return None
        volume, value = point[at], point[at + 1]
        if not by_value:
            return volume
        return 0.0 if value is None and volume == 0 else value

    def values(point: Sequence[Any], previous: Sequence[Any] | None) -> tuple[float, float | None]:
        end = total(point, 2)
        base = total(previous, 2)
        if base is None:
            base = total(point, 4)  # the first minute with totals: what traded since its first message
        flow = (end - base) / scale if end is not None and base is not None and end >= base else None
        return point[1], flow

    return _columns(points, SERIES["vn30"], values), unit


def foreign_series(points: Sequence[Sequence[float]]) -> ChartSeries:
    """Foreign buy and sell speed in bn VND per minute; sell is negative so it draws below zero."""
    return _columns(points, SERIES["foreign"], lambda p, _prev: (p[1] / 1e9, -p[2] / 1e9))


def index_view(summary: Mapping[str, Any], index_id: str) -> dict[str, Any] | None:
    """An index's minute series, level, change and breadth; None until the feed has sent it."""
    state = (summary.get("indices") or {}).get(index_id)
    if not state:
        return None
    series = state.get("series") or []
    return {
        "id": index_id,
        "times": [p[0] for p in series],
        "values": [p[1] for p in series],
        "value": state.get("value"),
        "prior": state.get("prior"),
        "change": state.get("change"),
        "change_pct": state.get("change_pct"),
        "breadth": {k: state.get(k) or 0 for k in ("ceilings", "advances", "unchanged", "declines", "floors")},
    }


def basis_view(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """Futures against VN30 by minute: the futures line is the index plus the basis of that minute."""
    basis = summary.get("basis") or {}
    index = index_view(summary, "VN30")
    series = basis.get("series") or []
    if not series or index is None:
        return None
    at_minute = dict(zip(index["times"], index["values"], strict=True))
    times, futures, spot, gaps = [], [], [], []
    for minute, value in series:
        level = at_minute.get(minute)
        if level is None:
            continue
        times.append(minute)
        spot.append(level)
        futures.append(level + value)
        gaps.append(value)
    return {"symbol": basis.get("active"), "times": times, "futures": futures, "index": spot, "basis": gaps,
            "last_basis": basis.get("basis"), "basis_pct": basis.get("basis_pct"), "stance": basis.get("stance")}


def foreign_leaders(rows: Iterable[Row], n: int = LEADERS) -> dict[str, list[dict[str, Any]]]:
    """Top foreign net buyers and net sellers by value today."""
    flows = [
        {"symbol": r["symbol"], "net_val": r["f_net_val"], "buy_val": r.get("f_buy_val") or 0.0,
         "sell_val": r.get("f_sell_val") or 0.0}
        for r in rows if r.get("f_net_val")
    ]
    buyers = sorted((f for f in flows if f["net_val"] > 0), key=lambda f: (-f["net_val"], f["symbol"]))
    sellers = sorted((f for f in flows if f["net_val"] < 0), key=lambda f: (f["net_val"], f["symbol"]))
    return {"buyers": buyers[:n], "sellers": sellers[:n]}


def movers(rows: Iterable[Row], n: int = MOVERS) -> dict[str, list[dict[str, Any]]]:
    """The stocks up and down the most today by % change (futures are not stocks)."""
    traded = [r for r in rows if r.get("kind") != "future" and r.get("change_pct") is not None and r.get("last")]
    up = sorted((r for r in traded if r["change_pct"] > 0), key=lambda r: (-r["change_pct"], r["symbol"]))
    down = sorted((r for r in traded if r["change_pct"] < 0), key=lambda r: (r["change_pct"], r["symbol"]))
    return {side: [{"symbol": r["symbol"], "change_pct": r["change_pct"]} for r in chosen[:n]]
            for side, chosen in (("up", up), ("down", down))}


_BREADTH_KEYS: Final = ("advances", "declines", "unchanged", "ceilings", "floors")


def breadth_of_rows(rows: Iterable[Row], members: frozenset[str] | None = None) -> dict[str, int]:
    """Advances (incl. ceilings), declines (incl. floors), unchanged, ceilings, floors of stock rows."""
    out = dict.fromkeys(_BREADTH_KEYS, 0)
    for r in rows:
        if r.get("kind") == "future" or (members is not None and r["symbol"] not in members):
            continue
        last, ref = r.get("last"), r.get("ref")
        if not last or not ref:
            continue
        state = price_state(last, ref, r.get("ceiling"), r.get("floor"))
        key = {"up": "advances", "ceiling": "advances", "down": "declines", "floor": "declines"}.get(state, "unchanged")
        out[key] += 1
        if state in ("ceiling", "floor"):
            out[state + "s"] += 1
    return out


def rule_price(symbol: str, shown: float) -> float:
    """A price typed as the board shows it (thousands of VND; index points for futures) in feed units."""
    return float(shown) if is_vn30_future(symbol) else round(float(shown) * 1000)


# -- the view ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarketView:
    """Everything the page and the summary endpoint show at one version. Never mutated."""

    version: int
    run: str  # one run of series (a day in one process); a cursor from another run gets everything
    day: int
    series: Mapping[str, ChartSeries]
    series_versions: Mapping[str, int]
    parts: Mapping[str, Any]
    part_versions: Mapping[str, int]
    summary: Mapping[str, Any]  # the REST summary, without the per-request feed status
    session: tuple[int, int] | None  # the trading day on the chart x axis: 09:00 → 14:45 VN
    recent_versions: tuple[int, ...] = ()  # this run's latest view versions, oldest first, this one last
    _memo: dict[object, dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)
    _memo_lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def cursor(self) -> dict[str, Any]:
        """The cursor of a screen that holds everything in this view."""
        return {"run": self.run, "v": self.version, "n": {k: len(s) for k, s in self.series.items()}}

    def memo(self, key: object, make: Callable[[], Any]) -> Any:
        """``make()`` once per view and key (e.g. an encoding every reader of this version shares)."""
        found = self._memo.get(key)
        if found is None:
            found = make()
            with self._memo_lock:
                if len(self._memo) < _MEMO_SIZE:
                    self._memo[key] = found
        return found

    def changes(self, cursor: object) -> dict[str, Any]:
        """What a screen at ``cursor`` needs to show this view (everything for an unusable cursor)."""
        parsed = parse_cursor(cursor)
        if parsed is not None and (parsed[0] != self.run or parsed[1] > self.version or any(
                n > len(self.series[k]) for k, n in parsed[2].items())):
            parsed = None
        key = ("changes", None if parsed is None else (parsed[1], tuple(sorted(parsed[2].items()))))
        return self.memo(key, lambda: self._answer(parsed))

    def _answer(self, parsed: tuple[str, int, dict[str, int]] | None) -> dict[str, Any]:
        full = parsed is None
        since = -1 if parsed is None else parsed[1]
        held = {} if parsed is None else parsed[2]
        series = {}
        for name, s in self.series.items():
            n = held.get(name, 0)
            if full or self.series_versions[name] > since or n != len(s):
                # The screen's last point may have moved since: send from it on.
                series[name] = s.tail(0 if full else max(n - 1, 0))
        parts = {name: self.parts[name] for name in PARTS if full or self.part_versions[name] > since}
        # The version (server clock, ms) of the earliest view the screen has not seen: how long ago
        # the server had the oldest thing this answer brings.
        recent = self.recent_versions
        first = recent[min(bisect_right(recent, since), len(recent) - 1)] if recent else self.version
        return {"v": self.version, "first": self.version if full else first, "run": self.run, "full": full,
                "session": self.session, "series": series, "parts": parts,
                "n": {k: len(s) for k, s in self.series.items()}}


def parse_cursor(raw: object) -> tuple[str, int, dict[str, int]] | None:
    """A screen's cursor as (run, version, points held per series); None when it is not one."""
    if not isinstance(raw, dict) or set(raw) != {"run", "v", "n"}:
        return None
    run, version, held = raw["run"], raw["v"], raw["n"]
    if not isinstance(run, str) or not 0 < len(run) <= 40:
        return None
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version < 2**53:
        return None
    if not isinstance(held, dict) or set(held) != set(SERIES):
        return None
    for n in held.values():
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= _MAX_POINTS:
            return None
    return run, version, dict(held)


def empty_view() -> MarketView:
    """The view before the feed has sent anything."""
    return MarketViewBuilder().build({}, ())


class MarketViewBuilder:
    """Makes one :class:`MarketView` per tick, keeping versions of the parts that did not change."""

    def __init__(self, clock_ms: Callable[[], int] | None = None) -> None:
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self.view: MarketView | None = None
        self._run_day: int | None = None
        self._run = ""
        self._versions: deque[int] = deque(maxlen=_RECENT_VERSIONS)

    def build(self, summary: Mapping[str, Any], rows: Iterable[Row]) -> MarketView:
        rows = list(rows)
        day = _day_of(summary)
        if day != self._run_day or not self._run:
            self._run_day, self._run = day, f"{day}-{secrets.token_hex(4)}"
            self._versions.clear()
        series, parts, api = _contents(summary, rows)
        previous = self.view if self.view is not None and self.view.run == self._run else None
        version = max((self.view.version + 1) if self.view else 0, self._clock_ms())
        if previous is not None and previous.parts == parts and all(
                previous.series[k] == s for k, s in series.items()) and previous.summary == {
                **api, "version": previous.version}:
            return previous  # nothing a screen shows has changed: no new version
        series_versions = {k: previous.series_versions[k] if previous is not None and previous.series[k] == s
                           else version for k, s in series.items()}
        part_versions = {k: previous.part_versions[k] if previous is not None and previous.parts.get(k) == p
                         else version for k, p in parts.items()}
        self._versions.append(version)
        self.view = MarketView(version=version, run=self._run, day=day, series=series,
                               series_versions=series_versions, parts=parts, part_versions=part_versions,
                               summary=api | {"version": version}, session=_session(summary),
                               recent_versions=tuple(self._versions))
        return self.view


def _day_of(summary: Mapping[str, Any]) -> int:
    clock = summary.get("clock") or 0
    return vn_day(clock) if clock else 0


def _session(summary: Mapping[str, Any]) -> tuple[int, int] | None:
    clock = summary.get("clock") or 0
    if not clock:
        return None
    midnight = clock - vn_seconds_of_day(clock)
    return chart_x(midnight + ATO_START), chart_x(midnight + ATC_END)


def _tone(change: float | None) -> str:
    return "up" if (change or 0) > 0 else "down" if (change or 0) < 0 else "ref"


def _index_part(index_id: str, state: Mapping[str, Any] | None, breadth: Mapping[str, int], unit: str) -> dict:
    if not state:
        return {"title": index_id, "note": f"no {index_id} values from the feed yet today", "tone": "ref",
                "prior": None, "unit": unit, "breadth": _bar_counts(breadth)}
    title = f"{index_id} {state['value']:,.2f}  {state['change']:+,.2f} ({state['change_pct']:+.2f}%)"
    return {"title": title, "note": None, "tone": _tone(state.get("change")), "prior": state.get("prior") or None,
            "unit": unit, "breadth": _bar_counts(breadth)}


def _bar_counts(b: Mapping[str, int]) -> dict[str, int]:
    """Breadth as the breadth bar counts it: each symbol in exactly one of five states."""
    return {"ceiling": b["ceilings"], "up": b["advances"] - b["ceilings"], "ref": b["unchanged"],
            "down": b["declines"] - b["floors"], "floor": b["floors"]}


def _index_breadth(index_id: str, state: Mapping[str, Any] | None, rows: list[Row]) -> dict[str, int]:
    """The exchange's counts when the feed sends them, else counted from the board rows."""
    if state and all(state.get(k) is not None for k in ("advances", "declines", "unchanged")):
        return {k: int(state.get(k) or 0) for k in _BREADTH_KEYS}
    return breadth_of_rows(rows, VN30_SYMBOLS if index_id == "VN30" else None)


def _contents(summary: Mapping[str, Any], rows: list[Row]) -> tuple[dict, dict, dict]:
    indices = summary.get("indices") or {}
    series: dict[str, ChartSeries] = {}
    parts: dict[str, Any] = {}
    api_indices: dict[str, Any] = {}
    for key, index_id in INDEX_IDS.items():
        state = indices.get(index_id)
        series[key], unit = index_series((state or {}).get("series") or [])
        breadth = _index_breadth(index_id, state, rows)
        parts[key] = _index_part(index_id, state, breadth, unit)
        if state:
            api_indices[index_id] = {
                "value": state.get("value"), "prior": state.get("prior"), "change": state.get("change"),
                "change_pct": state.get("change_pct"), "high": state.get("high"), "low": state.get("low"),
                **breadth, "total_volume": state.get("total_volume"), "total_value": state.get("total_value"),
            }
    foreign = summary.get("foreign") or {}
    series["foreign"] = foreign_series(foreign.get("series") or [])
    parts["foreign"] = _foreign_part(foreign, bool(len(series["foreign"])))
    basis = summary.get("basis") or {}
    series["basis"] = _basis_series(summary)
    parts["basis"] = _basis_part(basis, bool(len(series["basis"])))
    leaders = foreign_leaders(rows)
    parts["leaders"] = _leaders_part(leaders)
    top = movers(rows)
    parts["movers"] = top
    parts["clock"] = {"clock": summary.get("clock") or None, "vn_time": vn_clock_text(summary.get("clock")),
                      "phase": summary.get("phase") or "closed"}
    api = {
        "clock": parts["clock"],
        "indices": api_indices,
        "basis": {"contract": basis.get("active"), "futures": basis.get("futures"), "index": basis.get("index"),
                  "basis": basis.get("basis"), "basis_pct": basis.get("basis_pct"), "stance": basis.get("stance")},
        "foreign": {k: foreign.get(k, 0.0) for k in ("buy_val", "sell_val", "net_val", "speed_buy_val",
                                                     "speed_sell_val")},
        "movers": top,
    }
    return series, parts, api


def _foreign_part(foreign: Mapping[str, Any], drawn: bool) -> dict[str, Any]:
    if not drawn:
        return {"title": "Foreign buy / sell speed", "note": "no foreign flow reported yet today"}
    net = (foreign.get("net_val") or 0.0) / 1e9
    title = (f"Foreign net {net:+,.1f} bn VND today · last 5 min buying {foreign.get('speed_buy_val', 0) / 1e9:,.2f}"
             f" / selling {foreign.get('speed_sell_val', 0) / 1e9:,.2f} bn VND/min")
    return {"title": title, "note": None}


def _basis_series(summary: Mapping[str, Any]) -> ChartSeries:
    view = basis_view(summary)
    if view is None:
        return ChartSeries(cols={n: () for n in SERIES["basis"]})
    points = list(zip(view["times"], view["index"], view["futures"], view["basis"], strict=True))
    return _columns(points, SERIES["basis"], lambda p, _prev: (p[1], p[2], p[3]))


def _basis_part(basis: Mapping[str, Any], drawn: bool) -> dict[str, Any]:
    symbol = basis.get("active")
    if not drawn:
        return {"title": "Futures vs VN30", "note": "no futures trades with a VN30 value yet today",
                "symbol": symbol}
    last, pct = basis.get("basis"), basis.get("basis_pct")
    stance = f" — {basis.get('stance')} {last:+.1f} pts ({pct:+.2f}%)" if last is not None and pct is not None else ""
    return {"title": f"{symbol or 'Futures'} vs VN30{stance}", "note": None, "symbol": symbol}


def _leaders_part(leaders: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    # Drawn bottom-up: the biggest seller at the bottom, the biggest buyer at the top.
    rows = leaders["sellers"] + leaders["buyers"][::-1]
    return {
        "title": "Top foreign net buyers / sellers today (bn VND)",
        "note": None if rows else "no foreign net flow in any symbol yet today",
        "symbols": [r["symbol"] for r in rows],
        "values": [r["net_val"] / 1e9 for r in rows],
        "tones": ["up" if r["net_val"] > 0 else "down" for r in rows],
    }
