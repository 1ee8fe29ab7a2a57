"""The pivot page's view (``ViewState``) and how it is written into a URL query string.

``to_query`` is the one writer of the link format; ``backend.pivot.view_state``
reads it back (``parse_view``), checking everything, and is where the format is
described. The two stay in step through a round-trip test over random views.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any, Final, Literal
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field

from backend.pivot.catalog import DEFAULT_LIMIT, DIMENSIONS, FUND_TYPES, VIEW_TYPES, StockMode
from backend.pivot.tree_view import Expansion

DEFAULT_ROWS: Final = ("portfolio_manager_id", "asset_class", "symbol")
DEFAULT_METRICS: Final = ("notional", "pnl", "quantity")
DEFAULT_CHART_BY: Final = "asset_class"
DEFAULT_TOP: Final = 10
EXPOSURE_TYPES: Final = ("Direct", "ETF", "ETC", "Constituent", "Residual")
# Dimensions with their own controls (date picker, exposure toggle), not generic filters.
FILTERABLE: Final = tuple(d for d in DIMENSIONS if d not in ("trade_date", "exposure_type"))

ExposureMode = Literal["as_held", "look_through", "custom"]


class ViewState(BaseModel):
    """One pivot view: what is asked of the engine plus how it is shown."""

    model_config = ConfigDict(frozen=True)

    rows: tuple[str, ...] = DEFAULT_ROWS
    cols: tuple[str, ...] = ()
    metrics: tuple[str, ...] = DEFAULT_METRICS
    filters: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    date_from: date | None = None
    date_to: date | None = None
    exposure: ExposureMode = "as_held"
    types: tuple[str, ...] = ()
    sort_field: str | None = "pnl"
    sort_desc: bool = True
    # With a column split: the values of the split column that ``sort_field`` is read in.
    sort_column: tuple[str, ...] = ()
    stocks: StockMode = "last"
    expansion: Expansion = Expansion()
    view: Literal["table", "chart"] = "table"
    chart_by: str = DEFAULT_CHART_BY
    top: int = DEFAULT_TOP
    limit: int = DEFAULT_LIMIT
    embed: bool = False
    kiosk: bool = False

    def engine_exposure(self) -> Literal["as_held", "look_through"]:
        if self.exposure == "custom":
            return "as_held" if set(self.types) <= set(VIEW_TYPES["as_held"]) else "look_through"
        return self.exposure

    def engine_filters(self) -> dict[str, Any]:
        """The request's ``filters``: the date, the chosen values and custom exposure types."""
        out: dict[str, Any] = {}
        if self.date_from is not None and self.date_to is not None and self.date_from != self.date_to:
            out["trade_date"] = {"from": self.date_from.isoformat(), "to": self.date_to.isoformat()}
        elif self.date_from is not None:
            out["trade_date"] = self.date_from.isoformat()
        for dim, values in self.filters.items():
            if values:
                out[dim] = list(values)
        if self.exposure == "custom" and self.types:
            out["exposure_type"] = list(self.types)
        return out

    def to_request(self, **overrides: Any) -> dict[str, Any]:
        """The JSON body for ``PivotRequest.model_validate`` / ``POST /api/v1/pivot``."""
        body: dict[str, Any] = {
            "dimensions": list(self.rows),
            "columns": list(self.cols),
            "metrics": list(self.metrics),
            "filters": self.engine_filters(),
            "limit": self.limit,
            "exposure": self.engine_exposure(),
        }
        if self.sort_field:
            body["sort"] = {"field": self.sort_field, "direction": "desc" if self.sort_desc else "asc"}
            if self.sort_column:
                body["sort"]["column"] = list(self.sort_column)
        body["stocks"] = self.stocks
        body.update(overrides)
        return body



# -- exposure ----------------------------------------------------------------------
def exposure_conflict(types: Iterable[str]) -> str | None:
    """Why a set of exposure types cannot be shown together, or None when it can."""
    chosen = [t for t in EXPOSURE_TYPES if t in set(types)]
    funds = [t for t in chosen if t in FUND_TYPES]
    if not chosen:
        return "Choose at least one exposure type."
    if funds and ("Constituent" in chosen or "Residual" in chosen):
        inner = "Constituent" if "Constituent" in chosen else "Residual"
        return (
            f"{' and '.join(funds)} with {inner} would count the same funds twice — once as held "
            "and again through their constituents. Use Direct/ETF/ETC (as held) or "
            "Direct/Constituent/Residual (look-through)."
        )
    return None


def types_for(state: ViewState) -> tuple[str, ...]:
    """The exposure types a view shows, for the exposure toggle."""
    if state.exposure == "custom":
        return state.types
    return VIEW_TYPES[state.exposure]



# -- serialising -------------------------------------------------------------------
def _items(state: ViewState) -> Iterator[tuple[str, str]]:
    yield "rows", ",".join(state.rows)
    if state.cols:
        yield "cols", ",".join(state.cols)
    yield "m", ",".join(state.metrics)
    for dim in sorted(state.filters):
        for value in state.filters[dim]:
            yield f"f.{dim}", value
    if state.date_from is not None:
        to = state.date_to or state.date_from
        yield "date", state.date_from.isoformat() if to == state.date_from else f"{state.date_from}..{to}"
    yield "exposure", state.exposure
    if state.exposure == "custom":
        yield "types", ",".join(state.types)
    yield "sort", "" if state.sort_field is None else ("-" if state.sort_desc else "") + state.sort_field
    for value in state.sort_column:
        yield "sortcol", value
    if state.stocks != "last":
        yield "stocks", state.stocks
    if state.expansion.depth:
        yield "depth", str(state.expansion.depth)
    for group_id in state.expansion.open:
        yield "open", group_id
    for group_id in state.expansion.closed:
        yield "closed", group_id
    if state.view != "table":
        yield "view", state.view
    if state.chart_by != DEFAULT_CHART_BY:
        yield "by", state.chart_by
    if state.top != DEFAULT_TOP:
        yield "top", str(state.top)
    if state.limit != DEFAULT_LIMIT:
        yield "limit", str(state.limit)
    if state.embed:
        yield "embed", "1"
    if state.kiosk:
        yield "kiosk", "1"


def to_query(state: ViewState) -> str:
    """The query string (with its leading '?') that ``parse_view`` turns back into ``state``."""
    return "?" + urlencode(list(_items(state)), safe=",.-")

