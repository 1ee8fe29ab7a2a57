"""Versioned REST endpoints under ``/api/v1``: pivot, exposure, P&L, instruments, constituents.

Answers over the trades (pivot, exposure, P&L) are over the rows the caller's data
scope allows (``current_scope()``), totals included; instruments and constituents
are reference data, the same for everyone.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from flask import Blueprint, jsonify
from pydantic import BaseModel, ConfigDict, Field, model_validator
from spectree import Response

from backend.access.current import current_scope
from backend.access.usage import note_pivot
from backend.api import errors
from backend.api.errors import ApiError
from backend.api.spec import TAGS, ErrorBody, Query, spec
from backend.api.types import IsoDate
from backend.pivot import DIMENSIONS, PivotRequest, PivotRequestError, latest_trade_date, service
from backend.pivot.catalog import STOCK_MODES
from backend.stores import current_stores

api_v1 = Blueprint("api_v1", __name__, url_prefix="/api/v1")
errors.install(api_v1)

TAG = TAGS["pivot"]
# trade_date is the range itself, not a grouping of a summary.
BY_CHOICES = tuple(d for d in DIMENSIONS if d != "trade_date")


class PivotMeta(BaseModel):
    """How the answer was made."""

    model_config = ConfigDict(extra="allow")

    source: str | None = Field(None, description="table that answered (trades_1d or a rollup)")
    as_of: date | None = Field(None, description="the one date every stock of the answer is read at (null: no rows)")
    stocks: Literal[STOCK_MODES] | None = None  # type: ignore[valid-type]
    stock_days: int | None = Field(None, description="dates with data under the filters")
    stock_metrics: list[str] | None = Field(
        None, description="requested metrics that read a stock (P&L % of gross: its denominator)")
    stocks_by_date: bool | None = Field(
        None, description="trade_date is a row or column key: a dated group shows its own day")
    data_version: str | None = None
    cached: bool = Field(description="answered from the result cache")
    truncated: bool = Field(description="a level kept only its first `limit` children")
    response_ms: float | None = None


class PivotAnswer(BaseModel):
    """Rows at full depth, subtotals of every level above, totals and the split columns' values."""

    dimensions: list[str]
    columns: list[str]
    metrics: list[str]
    rows: list[dict[str, Any]]
    subtotals: list[dict[str, Any]]
    totals: dict[str, Any]
    column_values: list[list[str | None]]
    truncated: bool
    meta: PivotMeta


ANSWER = Response(HTTP_200=PivotAnswer, HTTP_400=ErrorBody, HTTP_413=ErrorBody)


def pivot_answer(body: dict[str, Any] | PivotRequest) -> dict[str, Any]:
    """The pivot service's answer over the caller's rows; a request the engine refuses is a 400 naming the field."""
    try:
        return service.pivot_answer(current_stores(), body, current_scope())
    except PivotRequestError as exc:
        raise ApiError(str(exc)) from None


@api_v1.post("/pivot")
@spec.validate(resp=ANSWER, tags=[TAG])
def pivot(json: PivotRequest):
    """Pivot the trades: rows at full depth, subtotals, totals.

    The body names the row dimensions, column dimensions, metrics, filters, sort and
    limit; at most 1,000,000 bytes. The answer is cached per request and data version
    unless ``"cache": false``.
    """
    note_pivot([*json.dimensions, *json.columns], json.metrics)  # usage: which dimensions and metrics are asked for
    return jsonify(pivot_answer(json))


class SummaryQuery(Query):
    trade_date: IsoDate | None = Field(None, description="one date (default: the latest in the data); not with from/to")
    start: IsoDate | None = Field(None, alias="from", description="first date of a range")
    end: IsoDate | None = Field(None, alias="to", description="last date of a range")
    by: Literal[BY_CHOICES] = Field("portfolio_manager_id", description="dimension to group by")  # type: ignore[valid-type]
    exposure: Literal["as_held", "look_through"] = Field("as_held", description="exposure view")
    stocks: Literal[STOCK_MODES] = Field(  # type: ignore[valid-type]
        "last",
        description="over a range, stocks (exposure, market value, unrealised P&L, delta) as of the last date with "
        "data under the filters, or their daily average over the dates with data; flows (P&L, fees, notional) "
        "are summed",
    )
    cache: Literal["true", "false"] = Field("true", description="false to bypass the result cache")

    @model_validator(mode="after")
    def _one_date_or_a_range(self) -> SummaryQuery:
        if self.trade_date is not None and (self.start is not None or self.end is not None):
            raise ValueError("trade_date: give one date, or a range with from and to, not both")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"to: {self.end} is before from {self.start}")
        return self


def _summary(query: SummaryQuery, metrics: list[str], sort: str) -> dict[str, Any]:
    """The pivot body behind /exposure and /pnl: stocks over a range follow the pivot's rule."""
    if query.start is not None or query.end is not None:
        dates: str | dict[str, str] = {k: v.isoformat() for k, v in (("from", query.start), ("to", query.end))
                                       if v is not None}
    else:
        # The latest date with data the caller may see: another desk's later day is not theirs.
        day = query.trade_date or latest_trade_date(current_stores().warehouse, current_scope())
        if day is None:
            raise ApiError("trade_date: there is no data in the warehouse yet", 404)
        dates = day.isoformat()
    return {
        "dimensions": [query.by],
        "metrics": metrics,
        "filters": {"trade_date": dates},
        "exposure": query.exposure,
        "stocks": query.stocks,
        "sort": {"field": sort, "direction": "desc"},
        "cache": query.cache == "true",
    }


SUMMARY = Response(HTTP_200=PivotAnswer, HTTP_400=ErrorBody, HTTP_404=(ErrorBody, "no data in the warehouse yet"))


@api_v1.get("/exposure")
@spec.validate(resp=SUMMARY, tags=[TAG])
def exposure(query: SummaryQuery):
    """Gross, net, long and short exposure by a dimension, as of a date.

    Over a range the exposure is that of the range's last date with data (or the daily
    average with ``stocks=average``).
    """
    metrics = ["gross_exposure", "net_exposure", "long_exposure", "short_exposure"]
    return jsonify(pivot_answer(_summary(query, metrics, "gross_exposure")))


@api_v1.get("/pnl")
@spec.validate(resp=SUMMARY, tags=[TAG])
def pnl(query: SummaryQuery):
    """P&L by a dimension over a date or a range.

    Realised P&L is summed over the range; unrealised P&L is read as of its last date with data.
    """
    metrics = ["pnl", "realized_pnl", "unrealized_pnl", "pnl_pct_gross"]
    return jsonify(pivot_answer(_summary(query, metrics, "pnl")))


class Instrument(BaseModel):
    model_config = ConfigDict(extra="allow")

    symbol: str


class Instruments(BaseModel):
    instruments: list[Instrument]


class NoQuery(Query):
    """No query parameters."""


@api_v1.get("/instruments")
@spec.validate(resp=Response(HTTP_200=Instruments, HTTP_400=ErrorBody), tags=[TAG])
def instruments(query: NoQuery):
    """All instruments, by symbol."""
    df = current_stores().warehouse.query_df("SELECT * FROM {db}.instruments FINAL ORDER BY symbol")
    return jsonify({"instruments": df.to_dict(orient="records")})


class ConstituentsQuery(Query):
    parent: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$",
                        description="the ETF or ETC symbol, e.g. SPY")


class Constituent(BaseModel):
    symbol: str
    weight: float
    as_of: str
    name: str | None
    asset_class: str | None


class Constituents(BaseModel):
    parent: str
    as_of: str
    coverage: float = Field(description="sum of the weights: the share of the fund its constituents explain")
    constituents: list[Constituent]


@api_v1.get("/constituents")
@spec.validate(resp=Response(HTTP_200=Constituents, HTTP_400=ErrorBody,
                             HTTP_404=(ErrorBody, "not an ETF or ETC with constituents")), tags=[TAG])
def constituents(query: ConstituentsQuery):
    """Constituents of an ETF or ETC with their weights, as of the latest holdings date."""
    parent = query.parent
    wh = current_stores().warehouse
    rows = wh.query_rows(
        "SELECT c.constituent_symbol, c.weight, toString(c.as_of), i.name, i.asset_class "
        "FROM {db}.constituents AS c FINAL "
        "LEFT JOIN {db}.instruments AS i ON i.symbol = c.constituent_symbol "
        "WHERE c.parent_symbol = {parent:String} "
        "AND c.as_of = (SELECT max(as_of) FROM {db}.constituents WHERE parent_symbol = {parent:String}) "
        "ORDER BY c.weight DESC, c.constituent_symbol",
        {"parent": parent},
    )
    if not rows:
        raise ApiError(f"parent: {parent} is not an ETF or ETC with constituents", 404)
    items = [
        {"symbol": s, "weight": w, "as_of": a, "name": n, "asset_class": ac}
        for s, w, a, n, ac in rows
    ]
    coverage = sum(item["weight"] for item in items)
    return jsonify({"parent": parent, "as_of": items[0]["as_of"], "coverage": coverage, "constituents": items})
