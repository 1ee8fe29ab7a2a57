"""Live market REST endpoints (blueprint ``market_api``, mounted under ``/api/v1/market``).

    GET  /api/v1/market/board?since=VERSION&symbols=A,B   rows changed since VERSION (all rows without it)
    GET  /api/v1/market/status                             feed state: live, stale, disconnected
    GET  /api/v1/market/summary                            what /market shows: indices, basis, foreign, movers
    GET  /api/v1/market/history?kind=trades&date=D&symbol=S&limit=N
    GET  /api/v1/market/alerts?date=D&symbol=S&unacked=1&limit=N
    POST /api/v1/market/alerts/<id>/ack                    body {"by": "name"} (optional)

Every query parameter is checked by the route's model: unknown names (named back,
quoted and cut short), repeats, malformed or oversized values get HTTP 400 with a
message naming the parameter. A well-formed board version the board cannot answer
exactly (unknown, future, too old) is not an error: the answer is the full board
with ``"full": true``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

import orjson
from flask import Blueprint, Response, current_app
from pydantic import AfterValidator, BeforeValidator, Field, StrictStr
from spectree import Response as Responses

from backend.access.current import current_principal
from backend.api import errors
from backend.api.errors import ApiError
from backend.api.market_models import (
    Acknowledged,
    Alerts,
    BasisSummary,
    Board,
    FeedStatusModel,
    ForeignSummary,
    History,
    IndexSummary,
    MarketClock,
    MarketSummary,
    Mover,
    Movers,
)
from backend.api.spec import TAGS, Body, ErrorBody, Query, spec
from backend.api.types import IsoDate, flag, whole_number
from backend.market.board import BoardChanges
from backend.market.service import EXTENSION_KEY, MarketService
from backend.market.store import KINDS, MAX_HISTORY_ROWS, StoreError

market_api = Blueprint("market_api", __name__, url_prefix="/api/v1/market")
errors.install(market_api)

TAG = TAGS["market"]
SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,19}$")
ALERT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._-]{0,79}$")
MAX_SYMBOLS = 500
NOT_RUNNING = (ErrorBody, "the live market service is not running on this server")


def current_market() -> MarketService:
    service = current_app.extensions.get(EXTENSION_KEY)
    if service is None:
        raise ApiError("the live market service is not running on this server", 503)
    return service


def parse_symbols(raw: str | None) -> frozenset[str] | None:
    """``A,B,C`` → a set of valid symbols; None when not given."""
    if raw is None or raw == "":
        return None
    items = [s.strip().upper() for s in raw.split(",") if s.strip()]
    if len(items) > MAX_SYMBOLS:
        raise ValueError(f"at most {MAX_SYMBOLS} symbols")
    bad = next((i for i, s in enumerate(items) if not SYMBOL.match(s)), None)
    if bad is not None:
        raise ValueError(f"item {bad + 1} is not a valid symbol (letters, digits, . _ -; at most 20)")
    return frozenset(items)


def _symbol(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    value = raw.strip().upper()
    if not SYMBOL.match(value):
        raise ValueError("not a valid symbol (letters, digits, . _ -; at most 20)")
    return value


def _since(raw: Any) -> Any:
    if isinstance(raw, str):
        if len(raw) > 20 or not raw.isascii() or not raw.isdigit():
            raise ValueError("expected a board version (a non-negative integer from an earlier answer)")
        return int(raw)
    return raw


Symbol = Annotated[str, BeforeValidator(_symbol), Field(description="a symbol, e.g. FPT (case does not matter)")]


class MarketQuery(Query):
    echo_unknown: ClassVar[bool] = True


class NoMarketQuery(MarketQuery):
    """No query parameters."""


class BoardQuery(MarketQuery):
    since: Annotated[int | None, BeforeValidator(_since)] = Field(
        None, ge=0, description="a version from an earlier answer: only the rows changed since")
    symbols: Annotated[str | None, AfterValidator(parse_symbols)] = Field(
        None, description=f"a watchlist: comma-separated symbols, at most {MAX_SYMBOLS}")


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS), status=status, mimetype="application/json")


def _board_body(changes: BoardChanges, symbols: frozenset[str] | None) -> bytes:
    """The JSON of an answer without its status, encoded once per answer and watchlist."""
    key = ("json", symbols)
    body = changes.memo.get(key)
    if body is None:
        rows = changes.rows if symbols is None else tuple(r for r in changes.rows if r["symbol"] in symbols)
        removed = changes.removed if symbols is None else tuple(s for s in changes.removed if s in symbols)
        body = orjson.dumps({"version": changes.version, "full": changes.full, "rows": rows, "removed": removed})
        if len(changes.memo) < 64:  # a few watchlists per tick; never grow without bound
            changes.memo[key] = body
    return body  # type: ignore[return-value]


@market_api.get("/board")
@spec.validate(resp=Responses(HTTP_200=Board, HTTP_400=ErrorBody, HTTP_503=NOT_RUNNING), tags=[TAG])
def board(query: BoardQuery) -> Response:
    """The live board: every row, or only the rows changed since an earlier answer's version."""
    symbols: frozenset[str] | None = query.symbols  # type: ignore[assignment] - parsed by the model
    service = current_market()
    shared = _board_body(service.board.changes_since(query.since), symbols)
    # The status (feed age) is per request; it is spliced into the shared body.
    body = shared[:-1] + b',"status":' + orjson.dumps(service.status()) + b"}"
    return Response(body, mimetype="application/json")


@market_api.get("/status")
@spec.validate(resp=Responses(HTTP_200=FeedStatusModel, HTTP_400=ErrorBody, HTTP_503=NOT_RUNNING), tags=[TAG])
def status(query: NoMarketQuery) -> Response:
    """The feed's state (live, stale, disconnected, ...), its age and message counts."""
    return _json(current_market().status())


@market_api.get("/summary")
@spec.validate(resp=Responses(HTTP_200=MarketSummary, HTTP_400=ErrorBody, HTTP_503=NOT_RUNNING), tags=[TAG])
def summary(query: NoMarketQuery) -> Response:
    """What the market page shows: indices with breadth, futures basis, foreign flow, movers.

    The numbers come from the same view every screen reads, with the feed status.
    """
    service = current_market()
    view = service.view
    shared = view.memo(("summary-json",), lambda: orjson.dumps(view.summary))
    # The status (feed age) is per request; it is spliced into the shared body.
    return Response(shared[:-1] + b',"status":' + orjson.dumps(service.status()) + b"}", mimetype="application/json")


class HistoryQuery(MarketQuery):
    kind: Literal[KINDS] = Field("trades", description="which stored messages")  # type: ignore[valid-type]
    day: IsoDate = Field(alias="date", description="the trading day as YYYY-MM-DD")
    symbol: Symbol | None = None
    limit: whole_number(1, MAX_HISTORY_ROWS, "rows at most") = 10_000  # type: ignore[valid-type]


@market_api.get("/history")
@spec.validate(resp=Responses(HTTP_200=History, HTTP_400=ErrorBody,
                              HTTP_503=(ErrorBody, "the market service or its history store is not running")),
               tags=[TAG])
def history(query: HistoryQuery) -> Response:
    """Stored market messages of one trading day (optionally one symbol), oldest first."""
    store = current_market().store
    if store is None:
        raise ApiError("market history is not stored on this server", 503)
    try:
        rows = store.history(query.kind, query.day, query.symbol, limit=query.limit)
    except StoreError as exc:
        raise ApiError(str(exc)) from None
    for row in rows:
        for key in ("ts", "acked_at"):
            if row.get(key) is not None:
                row[key] = row[key].isoformat()
        row["day"] = row["day"].isoformat()
    return _json({"kind": query.kind, "date": query.day.isoformat(), "symbol": query.symbol, "rows": rows})


class AlertsQuery(MarketQuery):
    day: IsoDate | None = Field(None, alias="date", description="the trading day (default: every day kept)")
    symbol: Symbol | None = None
    unacked: flag("1: only alerts not yet acknowledged") = False  # type: ignore[valid-type]
    limit: whole_number(1, 5_000, "alerts at most") = 200  # type: ignore[valid-type]


@market_api.get("/alerts")
@spec.validate(resp=Responses(HTTP_200=Alerts, HTTP_400=ErrorBody, HTTP_503=NOT_RUNNING), tags=[TAG])
def alerts(query: AlertsQuery) -> Response:
    """Alerts raised by the market rules, newest first."""
    items = current_market().alerts(day=query.day, symbol=query.symbol, unacked=query.unacked, limit=query.limit)
    return _json({"alerts": items})


class AckBody(Body):
    max_body_bytes: ClassVar[int] = 10_000
    body_optional: ClassVar[bool] = True

    by: StrictStr = Field("api", min_length=1, max_length=64,
                          description="who acknowledged it; ignored when users sign in (the caller is recorded)")


@market_api.post("/alerts/<alert_id>/ack")
@spec.validate(resp=Responses(HTTP_200=Acknowledged, HTTP_400=ErrorBody, HTTP_404=(ErrorBody, "no such open alert today"),
                              HTTP_413=ErrorBody, HTTP_503=NOT_RUNNING),
               tags=[TAG], path_parameter_descriptions={"alert_id": "the alert's id, as listed"})
def acknowledge(alert_id: str, query: NoMarketQuery, json: AckBody) -> Response:
    """Acknowledge an open alert of today; the body is optional."""
    if not ALERT_ID.match(alert_id):
        raise ApiError("alert id: not a valid alert id")
    # A signed-in caller is recorded by who they are; the body's name is kept only for the
    # single local user (sign-in off), where it names the desk.
    principal = current_principal()
    by = json.by if principal.via == "local" else principal.id
    if not current_market().acknowledge(alert_id, by=by):
        raise ApiError(f"no open alert {alert_id} today", 404)
    return _json({"id": alert_id, "acknowledged": True, "by": by})


__all__ = [
    "BasisSummary", "ForeignSummary", "IndexSummary", "MarketClock", "MarketSummary", "Mover", "Movers",
    "current_market", "market_api", "parse_symbols",
]
