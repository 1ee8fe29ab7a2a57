"""Trades behind the pivot: drill-through pages and the streamed raw-trades CSV.

    GET  /api/v1/trades.csv?<pivot view query>    every trade of the view's filters, streamed;
                                                  is_as_of_date marks the last date's rows
    POST /api/v1/trades/page                      {"request": <pivot request>, "path": [...],
                                                   "column_path": [...], "offset": 0, "limit": 100,
                                                   "sort": [{"colId": "pnl", "sort": "desc"}]}

The CSV route reads the same query string as the pivot page, so the page's
export link is its own URL pointed here.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, jsonify, request, stream_with_context

from backend.api.errors import ApiError, install, json_body, safe_name
from backend.pivot.drill import DrillError, drill_scope, fetch_page
from backend.pivot.engine import latest_trade_date
from backend.pivot.export import export_as_of, stream_trades_csv
from backend.pivot.view_state import parse_view
from backend.stores import current_stores

trades_api = Blueprint("trades_api", __name__, url_prefix="/api/v1")
install(trades_api)


@trades_api.get("/trades.csv")
def trades_csv() -> Response:
    wh = current_stores().warehouse
    parsed = parse_view(request.query_string.decode("utf-8", "replace"), latest_date=latest_trade_date(wh))
    if parsed.state.date_from is None:
        raise ApiError("there is no data in the warehouse yet", 404)
    try:
        scope = drill_scope(parsed.state.to_request(), [])
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


@trades_api.post("/trades/page")
def trades_page() -> Response:
    body = json_body()
    unknown = sorted(set(body) - {"request", "path", "column_path", "offset", "limit", "sort"})
    if unknown:
        raise ApiError(f"{safe_name(unknown[0])}: unknown field")
    req, path, column_path = body.get("request"), body.get("path", []), body.get("column_path", [])
    sort = body.get("sort", [])
    if not isinstance(req, dict) or not isinstance(path, list) or not isinstance(column_path, list):
        raise ApiError("request must be an object; path and column_path lists")
    if not isinstance(sort, list) or not all(isinstance(s, dict) for s in sort):
        raise ApiError("sort must be a list of {colId, sort}")
    try:
        scope = drill_scope(req, path, column_path)
        page = fetch_page(current_stores().warehouse, scope, offset=body.get("offset", 0),
                          limit=body.get("limit", 100), sort=sort)
    except DrillError as exc:
        raise ApiError(str(exc)) from None
    return jsonify({"rows": page.rows, "total": page.total})
