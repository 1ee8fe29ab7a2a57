"""Trades behind the pivot: drill-through pages and the streamed raw-trades CSV.

    GET  /api/v1/trades.csv?<pivot view query>    every trade of the view's filters, streamed;
                                                  is_as_of_date marks the last date's rows
    POST /api/v1/trades/page                      {"request": <pivot request>, "path": [...],
                                                   "column_path": [...], "offset": 0, "limit": 100,
                                                   "sort": [{"colId": "pnl", "sort": "desc"}]}

The CSV route reads the same query string as the pivot page, with the page's own
lenient parser (what it ignores is counted in ``X-Deskboard-Notices``), so the page's
export link is its own URL pointed here. Both routes read only the trades the
caller's data scope allows (``current_scope()``), whatever the view's filters say.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from flask import Blueprint, Response, jsonify, request, stream_with_context
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr
from spectree import Response as Responses

from backend.access.current import current_scope
from backend.api.errors import ApiError, install
from backend.api.spec import TAGS, Body, ErrorBody, ViewQuery, spec
from backend.pivot.catalog import MAX_COLUMN_DIMENSIONS, MAX_DIMENSIONS, MAX_VALUE_CHARS
from backend.pivot.drill import (
    DRILL_COLUMNS,
    LOOK_THROUGH_FACTOR,
    MAX_OFFSET,
    MAX_PAGE,
    DrillError,
    drill_scope,
    fetch_page,
)
from backend.pivot.engine import latest_trade_date
from backend.pivot.export import export_as_of, stream_trades_csv
from backend.pivot.view_state import parse_view
from backend.stores import current_stores

trades_api = Blueprint("trades_api", __name__, url_prefix="/api/v1")
install(trades_api)

TAG = TAGS["trades"]
CSV_ANSWER = ("text/csv: every trade under the view's filters, streamed; header X-Deskboard-As-Of names the "
              "as-of date, X-Deskboard-Notices counts the view's parameters that were ignored")


class TradesCsvQuery(ViewQuery):
    """The pivot page's own query string; the main parameters are listed, see the page for all."""

    rows: str | None = Field(None, description="row dimensions, comma-separated (they do not narrow the export)")
    m: str | None = Field(None, description="metrics, comma-separated")
    date: str | None = Field(None, description="one day YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD "
                                               "(default: the latest date with data)")
    exposure: str | None = Field(None, description="as_held, look_through or custom (with types=Direct,ETF,...)")
    types: str | None = Field(None, description="exposure types for exposure=custom, comma-separated")
    stocks: str | None = Field(None, description="last or average")


@trades_api.get("/trades.csv")
@spec.validate(resp=Responses(HTTP_200=(None, CSV_ANSWER),
                              HTTP_400=ErrorBody, HTTP_404=(ErrorBody, "no data in the warehouse yet"),
                              HTTP_414=(ErrorBody, "the query string is too long")),
               tags=[TAG])
def trades_csv(query: TradesCsvQuery) -> Response:
    """Every trade of a pivot view's filters and dates as CSV (filters are the f.<dimension>=value parameters).

    Over a range, stocks (exposure, market value, unrealised P&L, delta) are those of the
    range's last date with data: the ``is_as_of_date`` column marks those rows.
    """
    wh = current_stores().warehouse
    data = current_scope()
    parsed = parse_view(request.query_string.decode("utf-8", "replace"), latest_date=latest_trade_date(wh, data))
    if parsed.state.date_from is None:
        raise ApiError("there is no data in the warehouse yet", 404)
    try:
        scope = drill_scope(parsed.state.to_request(), [], scope=data)
    except DrillError as exc:
        raise ApiError(str(exc)) from None
    day = parsed.state.date_from or date.today()
    name = f"trades-{day.isoformat()}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "X-Content-Type-Options": "nosniff"}
    if parsed.notices:
        headers["X-Deskboard-Notices"] = str(len(parsed.notices))
    as_of = export_as_of(wh, scope)
    if as_of is not None:
        # Stocks (exposure, market value, unrealised P&L, delta) over the range are the
        # sums over the rows of this date: the CSV's is_as_of_date column marks them.
        headers["X-Deskboard-As-Of"] = as_of.isoformat()
    return Response(stream_with_context(stream_trades_csv(wh, scope)), mimetype="text/csv", headers=headers)


PathValue = Annotated[StrictStr, Field(max_length=MAX_VALUE_CHARS)] | StrictInt | StrictFloat | StrictBool | None
SortColumn = Literal[(*DRILL_COLUMNS, LOOK_THROUGH_FACTOR)]  # type: ignore[valid-type]


class TradeSort(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    colId: SortColumn  # the grid's own name
    sort: Literal["asc", "desc"] = "asc"


class TradesPageBody(Body):
    request: dict[str, Any] = Field(description="the pivot request, as sent to POST /api/v1/pivot")
    path: list[PathValue] = Field(
        default_factory=list, max_length=MAX_DIMENSIONS, description="the row's values, one per row dimension")
    column_path: list[PathValue] = Field(
        default_factory=list, max_length=MAX_COLUMN_DIMENSIONS,
        description="the split column's values, one per column dimension")
    offset: StrictInt = Field(0, ge=0, le=MAX_OFFSET)
    limit: StrictInt = Field(100, ge=1, le=MAX_PAGE)
    sort: list[TradeSort] = Field(default_factory=list, max_length=3)


class TradesPage(BaseModel):
    rows: list[dict[str, Any]]
    total: int = Field(description="trades in the scope")


@trades_api.post("/trades/page")
@spec.validate(resp=Responses(HTTP_200=TradesPage, HTTP_400=ErrorBody, HTTP_413=ErrorBody), tags=[TAG])
def trades_page(json: TradesPageBody) -> Response:
    """One page of the trades behind a pivot cell (row ``path``, split column ``column_path``)."""
    try:
        scope = drill_scope(json.request, json.path, json.column_path, scope=current_scope())
        page = fetch_page(current_stores().warehouse, scope, offset=json.offset, limit=json.limit,
                          sort=[s.model_dump() for s in json.sort])
    except DrillError as exc:
        raise ApiError(str(exc)) from None
    return jsonify({"rows": page.rows, "total": page.total})
