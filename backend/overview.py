"""The overview on the home page: what needs attention on the latest trade date.

Numbers come from the pivot engine (the same queries the pivot page runs), as
held (Direct + ETF + ETC, so no fund is counted twice):

* the day's P&L and gross/net/long/short exposure, each with its change against
  the previous trade date that has data;
* the top and bottom contributors to the day's P&L by symbol and by manager;
* P&L by desk over the last ``TREND_DAYS`` trade dates and exposure by desk on
  the day.

P&L is a flow and exposure a stock (DESIGN.md, "Measures and time"): the trend
asks only for P&L, grouped by date and desk in one query, and exposure is only
ever asked for one day at a time, so levels are never added up across days and
a day's change compares two levels. Each figure equals the total of the pivot
view its link opens.

Every figure is over the rows the caller's data scope allows (the scope goes to
each pivot query, and into the cache key): a user limited to some desks sees
their desks' day, their contributors and their trend.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Final, Literal

from backend.access.principal import EVERYTHING, DataScope
from backend.access.scope_sql import scope_key
from backend.cache import cached_call, request_key
from backend.pivot import DIMENSIONS, PivotRequest, run_pivot
from backend.pivot.catalog import MAX_VALUE_CHARS
from backend.pivot.view_state import ViewState, to_query
from backend.warehouse import Warehouse

PIVOT_PATH: Final = "/pivot"
TOP_N: Final = 5
TREND_DAYS: Final = 20
# Bump when the cached payload's shape changes, so an older payload is never read back.
PAYLOAD_VERSION: Final = 3
Exposure = Literal["as_held", "look_through"]

SUMMARY_METRICS: Final = ("pnl", "gross_exposure", "net_exposure", "long_exposure", "short_exposure")
# Contributors are ranked by these pivot dimensions; the pivot link drills into
# the next level down so the analyst lands on "what made this number".
CONTRIBUTOR_DIMENSIONS: Final[dict[str, tuple[str, ...]]] = {
    "symbol": ("portfolio_manager_id",),
    "portfolio_manager_id": ("asset_class", "symbol"),
}
_CONTRIBUTOR_METRICS: Final = ("pnl", "gross_exposure", "net_exposure")
# Contributors are ranked from one answer of up to this many values (best and worst from its two ends).
RANK_LIMIT = 1000
# A contributor shown by an id is named beside it: the id is what links and filters use, the name is
# what a trader reads.
NAME_OF: Final[dict[str, str]] = {"portfolio_manager_id": "portfolio_manager_name"}


@dataclass(frozen=True)
class PivotView:
    """The pivot view a figure opens: row hierarchy, metrics and sort (descending)."""

    rows: tuple[str, ...]
    metrics: tuple[str, ...]
    sort: str


# The view behind each tile: where a trader goes next from that number.
TILE_VIEWS: Final[dict[str, PivotView]] = {
    "pnl": PivotView(("portfolio_manager_id",), ("pnl",), "pnl"),
    "gross_exposure": PivotView(("desk", "asset_class"), ("gross_exposure", "long_exposure", "short_exposure"),
                                "gross_exposure"),
    "net_exposure": PivotView(("asset_class", "symbol"), ("net_exposure", "long_exposure", "short_exposure"),
                              "net_exposure"),
}
# The views behind a desk's bar in each chart (filtered on the desk and the bar's date).
CHART_VIEWS: Final[dict[str, PivotView]] = {
    "pnl": PivotView(("portfolio_manager_id", "symbol"), ("pnl", "gross_exposure", "net_exposure"), "pnl"),
    "exposure": PivotView(("asset_class", "symbol"),
                          ("gross_exposure", "long_exposure", "short_exposure", "net_exposure"), "gross_exposure"),
}

# The views behind a day's total in each chart: the whole day, one level down.
DAY_VIEWS: Final[dict[str, PivotView]] = {
    "pnl": PivotView(("desk", "portfolio_manager_id"), ("pnl", "gross_exposure", "net_exposure"), "pnl"),
    "exposure": TILE_VIEWS["gross_exposure"],
}


@dataclass(frozen=True)
class Change:
    """A figure against the previous trade date: absolute and relative change."""

    previous: float
    delta: float
    pct: float | None  # relative to |previous|; None when previous is 0

    @classmethod
    def between(cls, current: float, previous: float) -> Change:
        delta = current - previous
        return cls(previous=previous, delta=delta, pct=None if previous == 0 else delta / abs(previous) * 100.0)


@dataclass(frozen=True)
class Contributor:
    value: str
    pnl: float
    gross_exposure: float
    href: str
    name: str = ""  # beside an id (a manager's name); "" for a value that names itself


@dataclass(frozen=True)
class Contributors:
    dimension: str
    label: str
    top: list[Contributor]
    bottom: list[Contributor]


@dataclass(frozen=True)
class DeskTrend:
    """P&L per desk and trade date, oldest date first; a desk without trades on a day made 0."""

    dates: list[date] = field(default_factory=list)
    desks: list[str] = field(default_factory=list)
    pnl: dict[str, list[float]] = field(default_factory=dict)
    total: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class DeskExposure:
    """One desk's exposure levels on the overview's day."""

    desk: str
    gross: float
    long: float
    short: float
    net: float


@dataclass(frozen=True)
class Overview:
    trade_date: date | None
    exposure: Exposure
    previous_date: date | None = None
    totals: dict[str, float] = field(default_factory=dict)
    previous_totals: dict[str, float] = field(default_factory=dict)
    contributors: list[Contributors] = field(default_factory=list)
    trend: DeskTrend = field(default_factory=DeskTrend)
    desk_exposure: list[DeskExposure] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)

    @property
    def has_data(self) -> bool:
        return self.trade_date is not None

    def change(self, metric: str) -> Change | None:
        """``metric`` on the day against the previous trade date (None without one)."""
        if metric not in self.totals or metric not in self.previous_totals:
            return None
        return Change.between(self.totals[metric], self.previous_totals[metric])

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["trade_date"] = _iso(self.trade_date)
        out["previous_date"] = _iso(self.previous_date)
        out["trend"]["dates"] = [d.isoformat() for d in self.trend.dates]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Overview:
        groups = [
            Contributors(
                dimension=g["dimension"], label=g["label"],
                top=[Contributor(**c) for c in g["top"]], bottom=[Contributor(**c) for c in g["bottom"]],
            )
            for g in data["contributors"]
        ]
        trend = dict(data["trend"])
        trend["dates"] = [date.fromisoformat(d) for d in trend["dates"]]
        return cls(
            trade_date=_day(data["trade_date"]), exposure=data["exposure"], previous_date=_day(data["previous_date"]),
            totals=data["totals"], previous_totals=data["previous_totals"], contributors=groups,
            trend=DeskTrend(**trend), desk_exposure=[DeskExposure(**d) for d in data["desk_exposure"]],
            links=data["links"],
        )


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


# -- links ---------------------------------------------------------------------------
def pivot_href(day: date, view: PivotView, *, filters: dict[str, str] | None = None,
               exposure: Exposure = "as_held") -> str:
    """A link to the pivot page showing ``view`` on ``day``, filtered as asked."""
    state = ViewState(
        rows=view.rows,
        metrics=view.metrics,
        filters={dim: (value,) for dim, value in (filters or {}).items()},
        date_from=day,
        date_to=day,
        exposure=exposure,
        sort_field=view.sort,
        sort_desc=True,
    )
    return PIVOT_PATH + to_query(state)


def desk_href(chart: str, desk: str, day: date, exposure: Exposure = "as_held") -> str:
    """The pivot behind one desk's bar on ``day`` in chart ``chart`` ('pnl' or 'exposure')."""
    return pivot_href(day, CHART_VIEWS[chart], filters={"desk": desk}, exposure=exposure)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def chart_click_href(chart: str, click: Any, exposure: Exposure = "as_held") -> str | None:
    """The pivot link for a click on an overview chart, or None when the click names no desk or day.

    ``click`` is Plotly's ``clickData`` as the browser sent it, so anything may be
    in it. A desk's bar carries ``customdata = [desk, "YYYY-MM-DD"]`` and opens
    that desk on that day; a day's total carries ``[day]`` and opens the day by desk.
    """
    if chart not in CHART_VIEWS or exposure not in ("as_held", "look_through") or not isinstance(click, dict):
        return None
    points = click.get("points")
    if not isinstance(points, list) or not points or not isinstance(points[0], dict):
        return None
    data = points[0].get("customdata")
    if not isinstance(data, list) or len(data) not in (1, 2) or not all(isinstance(v, str) for v in data):
        return None
    day = _iso_day(data[-1])
    if day is None:
        return None
    if len(data) == 1:
        return pivot_href(day, DAY_VIEWS[chart], exposure=exposure)
    desk = data[0]
    if not desk or len(desk) > MAX_VALUE_CHARS or _CONTROL.search(desk):
        return None
    return desk_href(chart, desk, day, exposure)


def _iso_day(text: str) -> date | None:
    if len(text) != 10:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


# -- queries -------------------------------------------------------------------------
def _run(wh: Warehouse, body: dict[str, Any], scope: DataScope) -> Any:
    return run_pivot(wh, PivotRequest.model_validate(body), scope=scope)


def recent_trade_dates(wh: Warehouse, *, count: int, up_to: date | None = None,
                       exposure: Exposure = "as_held", scope: DataScope = EVERYTHING) -> list[date]:
    """The last ``count`` trade dates with data in the view and ``scope`` (on or before ``up_to``), newest first."""
    body: dict[str, Any] = {
        "dimensions": ["trade_date"], "metrics": ["trade_count"], "limit": count, "exposure": exposure,
        "sort": {"field": "trade_date", "direction": "desc"},
    }
    if up_to is not None:
        body["filters"] = {"trade_date": {"to": up_to.isoformat()}}
    return [date.fromisoformat(r["trade_date"]) for r in _run(wh, body, scope).rows if not r.get("_other")]


def _pnl_by_date_and_desk(wh: Warehouse, dates: list[date], exposure: Exposure, scope: DataScope) -> Any:
    """One query for the trend: P&L (a flow) per trade date (level-1 subtotals) and per date and desk."""
    return _run(wh, {
        "dimensions": ["trade_date", "desk"],
        "metrics": ["pnl"],
        "filters": {"trade_date": {"from": min(dates).isoformat(), "to": max(dates).isoformat()}},
        "exposure": exposure,
    }, scope)


def _by_desk_on(wh: Warehouse, day: date, exposure: Exposure, scope: DataScope) -> Any:
    """Every summary metric per desk on one day: exposure is only ever asked for as a day's level."""
    return _run(wh, {
        "dimensions": ["desk"],
        "metrics": list(SUMMARY_METRICS),
        "filters": {"trade_date": day.isoformat()},
        "sort": {"field": "gross_exposure", "direction": "desc"},
        "exposure": exposure,
    }, scope)


def _desk_name(row: dict[str, Any]) -> str:
    return "Other" if row.get("_other") else str(row["desk"])


def _trend(result: Any, dates: list[date]) -> DeskTrend:
    ordered = sorted(dates)
    index = {d.isoformat(): i for i, d in enumerate(ordered)}
    desks = sorted({_desk_name(r) for r in result.rows})
    pnl = {desk: [0.0] * len(ordered) for desk in desks}
    for row in result.rows:
        pnl[_desk_name(row)][index[row["trade_date"]]] += float(row["pnl"] or 0.0)
    total = [0.0] * len(ordered)
    for sub in result.subtotals:
        if sub.get("_level") == 1 and sub.get("trade_date") in index:
            total[index[sub["trade_date"]]] = float(sub["pnl"] or 0.0)
    return DeskTrend(dates=ordered, desks=desks, pnl=pnl, total=total)


def _totals(result: Any) -> dict[str, float]:
    return {m: float(result.totals.get(m) or 0.0) for m in SUMMARY_METRICS}


def _desk_exposure(result: Any) -> list[DeskExposure]:
    return [
        DeskExposure(desk=_desk_name(r), gross=float(r["gross_exposure"] or 0.0), long=float(r["long_exposure"] or 0.0),
                     short=float(r["short_exposure"] or 0.0), net=float(r["net_exposure"] or 0.0))
        for r in result.rows
    ]


def _ranked(wh: Warehouse, day: date, dimension: str, n: int, exposure: Exposure,
            scope: DataScope) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``n`` best and worst by the day's P&L: one query, a second only when the values overflow it."""
    body: dict[str, Any] = {
        "dimensions": [dimension],
        "metrics": ["pnl", "gross_exposure"],
        "filters": {"trade_date": day.isoformat()},
        "sort": {"field": "pnl", "direction": "desc"},
        "limit": RANK_LIMIT,
        "exposure": exposure,
    }
    rows = _run(wh, body, scope).rows
    kept = [row for row in rows if not row.get("_other")]
    if len(kept) == len(rows):
        return kept[:n], kept[::-1][:n]
    # More values than one answer holds: the worst are folded into "Other", so ask for them.
    worst = _run(wh, {**body, "sort": {"field": "pnl", "direction": "asc"}, "limit": n}, scope).rows
    return kept[:n], [row for row in worst if not row.get("_other")]


def _names(wh: Warehouse, day: date, dimension: str, values: set[str], exposure: Exposure,
           scope: DataScope) -> dict[str, str]:
    """The name of each id in ``values`` on ``day`` (several names of one id joined with " / ")."""
    name_dim = NAME_OF.get(dimension)
    if name_dim is None or not values:
        return {}
    rows = _run(wh, {
        "dimensions": [dimension, name_dim], "metrics": ["trade_count"], "limit": len(values), "exposure": exposure,
        "filters": {"trade_date": day.isoformat(), dimension: sorted(values)},
    }, scope).rows
    found: dict[str, list[str]] = {}
    for row in rows:
        if not row.get("_other") and row.get(name_dim):
            found.setdefault(str(row[dimension]), []).append(str(row[name_dim]))
    return {value: " / ".join(sorted(set(names))) for value, names in found.items()}


def _contributors(wh: Warehouse, day: date, dimension: str, n: int, exposure: Exposure,
                  scope: DataScope) -> Contributors:
    view = PivotView(CONTRIBUTOR_DIMENSIONS[dimension], _CONTRIBUTOR_METRICS, "pnl")
    top, bottom = _ranked(wh, day, dimension, n, exposure, scope)
    names = _names(wh, day, dimension, {str(r[dimension]) for r in top + bottom}, exposure, scope)

    def item(row: dict[str, Any]) -> Contributor:
        value = str(row[dimension])
        return Contributor(
            value=value, pnl=float(row["pnl"]), gross_exposure=float(row["gross_exposure"]),
            href=pivot_href(day, view, filters={dimension: value}, exposure=exposure), name=names.get(value, ""),
        )

    return Contributors(dimension=dimension, label=DIMENSIONS[dimension].label,
                        top=[item(r) for r in top], bottom=[item(r) for r in bottom])


def build_overview(wh: Warehouse, *, day: date | None = None, n: int = TOP_N,
                   exposure: Exposure = "as_held", days: int = TREND_DAYS,
                   scope: DataScope = EVERYTHING) -> Overview:
    """The overview of the latest trade date on or before ``day`` (the latest of all by default),
    over the rows ``scope`` allows."""
    for name, value, top in (("n", n, 50), ("days", days, 250)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise ValueError(f"{name}: expected a whole number from 1 to {top}")
    if exposure not in ("as_held", "look_through"):
        raise ValueError("exposure: expected as_held or look_through")
    if day is not None and not isinstance(day, date):
        raise ValueError("day: expected a date")
    # At least two dates, so the day has a previous trade date to compare with.
    dates = recent_trade_dates(wh, count=max(days, 2), up_to=day, exposure=exposure, scope=scope)
    if not dates:
        return Overview(trade_date=None, exposure=exposure)
    latest = dates[0]
    previous = dates[1] if len(dates) > 1 else None
    today = _by_desk_on(wh, latest, exposure, scope)
    return Overview(
        trade_date=latest,
        exposure=exposure,
        previous_date=previous,
        totals=_totals(today),
        previous_totals=_totals(_by_desk_on(wh, previous, exposure, scope)) if previous else {},
        contributors=[_contributors(wh, latest, dim, n, exposure, scope) for dim in CONTRIBUTOR_DIMENSIONS],
        trend=_trend(_pnl_by_date_and_desk(wh, dates[:days], exposure, scope), dates[:days]),
        desk_exposure=_desk_exposure(today),
        links={name: pivot_href(latest, view, exposure=exposure) for name, view in TILE_VIEWS.items()},
    )


def cached_overview(wh: Warehouse, cache: Any, *, scope: DataScope, exposure: Exposure = "as_held") -> Overview:
    """``build_overview`` of ``scope`` for the latest day, reused until the next data load (per scope)."""
    key = request_key("overview", {"exposure": exposure, "n": TOP_N, "days": TREND_DAYS, "v": PAYLOAD_VERSION,
                                   "scope": scope_key(scope)}, wh.data_version())
    payload, _ = cached_call(cache, key, lambda: build_overview(wh, exposure=exposure, scope=scope).to_dict())
    try:
        return Overview.from_dict(payload)
    except (KeyError, TypeError, ValueError):
        # A payload that does not read back (a damaged or foreign cache entry) is recomputed.
        return build_overview(wh, exposure=exposure, scope=scope)
