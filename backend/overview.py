"""The overview on the home page: the latest day's P&L and exposure at a glance.

Numbers come from the pivot engine (the same queries the pivot page runs), as
held (Direct + ETF + ETC, so no fund is counted twice), and every figure comes
with a link into the pivot page filtered to what it summarises.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

from backend.cache import cached_call, request_key
from backend.pivot import DIMENSIONS, PivotRequest, latest_trade_date, run_pivot
from backend.pivot.view_state import ViewState, to_query
from backend.warehouse import Warehouse

PIVOT_PATH = "/pivot"
TOP_N = 5
# Contributors are ranked by these pivot dimensions; the pivot link drills into
# the next level down so the analyst lands on "what made this number".
CONTRIBUTOR_DIMENSIONS: dict[str, tuple[str, ...]] = {
    "symbol": ("portfolio_manager_id",),
    "portfolio_manager_id": ("asset_class", "symbol"),
}
SUMMARY_METRICS = ("pnl", "gross_exposure", "net_exposure", "long_exposure", "short_exposure")
_LINK_METRICS = ("pnl", "gross_exposure", "net_exposure")
Exposure = Literal["as_held", "look_through"]


@dataclass(frozen=True)
class Contributor:
    value: str
    pnl: float
    gross_exposure: float
    href: str


@dataclass(frozen=True)
class Contributors:
    dimension: str
    label: str
    top: list[Contributor]
    bottom: list[Contributor]


@dataclass(frozen=True)
class Overview:
    trade_date: date | None
    exposure: Exposure
    totals: dict[str, float] = field(default_factory=dict)
    contributors: list[Contributors] = field(default_factory=list)
    pivot_href: str = PIVOT_PATH

    @property
    def has_data(self) -> bool:
        return self.trade_date is not None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["trade_date"] = self.trade_date.isoformat() if self.trade_date else None
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
        day = date.fromisoformat(data["trade_date"]) if data["trade_date"] else None
        return cls(trade_date=day, exposure=data["exposure"], totals=data["totals"],
                   contributors=groups, pivot_href=data["pivot_href"])


def pivot_href(day: date, *, rows: tuple[str, ...] | None = None, filters: dict[str, str] | None = None,
               sort: str = "pnl", exposure: Exposure = "as_held") -> str:
    """A link to the pivot page showing ``day``, filtered and grouped as asked."""
    state = ViewState(
        **({"rows": rows} if rows else {}),
        metrics=_LINK_METRICS,
        filters={dim: (value,) for dim, value in (filters or {}).items()},
        date_from=day,
        date_to=day,
        exposure=exposure,
        sort_field=sort,
        sort_desc=True,
    )
    return PIVOT_PATH + to_query(state)


def _ranked(wh: Warehouse, day: date, dimension: str, direction: str, n: int,
            exposure: Exposure) -> list[dict[str, Any]]:
    req = PivotRequest.model_validate({
        "dimensions": [dimension],
        "metrics": ["pnl", "gross_exposure"],
        "filters": {"trade_date": day.isoformat()},
        "sort": {"field": "pnl", "direction": direction},
        "limit": n,
        "exposure": exposure,
    })
    return [row for row in run_pivot(wh, req).rows if not row.get("_other")]


def _contributors(wh: Warehouse, day: date, dimension: str, n: int, exposure: Exposure) -> Contributors:
    def item(row: dict[str, Any]) -> Contributor:
        value = str(row[dimension])
        return Contributor(
            value=value, pnl=float(row["pnl"]), gross_exposure=float(row["gross_exposure"]),
            href=pivot_href(day, rows=CONTRIBUTOR_DIMENSIONS[dimension], filters={dimension: value},
                            exposure=exposure),
        )

    return Contributors(
        dimension=dimension,
        label=DIMENSIONS[dimension].label,
        top=[item(r) for r in _ranked(wh, day, dimension, "desc", n, exposure)],
        bottom=[item(r) for r in _ranked(wh, day, dimension, "asc", n, exposure)],
    )


def build_overview(wh: Warehouse, *, day: date | None = None, n: int = TOP_N,
                   exposure: Exposure = "as_held") -> Overview:
    """The overview for ``day`` (the latest trade date by default)."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 50:
        raise ValueError("n: expected a whole number from 1 to 50")
    if exposure not in ("as_held", "look_through"):
        raise ValueError("exposure: expected as_held or look_through")
    day = day or latest_trade_date(wh)
    if day is None:
        return Overview(trade_date=None, exposure=exposure)
    summary = run_pivot(wh, PivotRequest.model_validate({
        "dimensions": ["portfolio_manager_id"],
        "metrics": list(SUMMARY_METRICS),
        "filters": {"trade_date": day.isoformat()},
        "exposure": exposure,
    }))
    totals = {m: float(summary.totals.get(m) or 0.0) for m in SUMMARY_METRICS}
    return Overview(
        trade_date=day,
        exposure=exposure,
        totals=totals,
        contributors=[_contributors(wh, day, dim, n, exposure) for dim in CONTRIBUTOR_DIMENSIONS],
        pivot_href=pivot_href(day, exposure=exposure),
    )


def cached_overview(wh: Warehouse, cache: Any, *, exposure: Exposure = "as_held") -> Overview:
    """``build_overview`` for the latest day, reused until the next data load."""
    key = request_key("overview", {"exposure": exposure, "n": TOP_N}, wh.data_version())
    payload, _ = cached_call(cache, key, lambda: build_overview(wh, exposure=exposure).to_dict())
    return Overview.from_dict(payload)
