"""Live market REST endpoints (blueprint ``market_api``, mounted under ``/api/v1/market``).

    GET  /api/v1/market/board?since=VERSION&symbols=A,B   rows changed since VERSION (all rows without it)
    GET  /api/v1/market/status                             feed state: live, stale, disconnected
    GET  /api/v1/market/summary                            what /market shows: indices, basis, foreign, movers
    GET  /api/v1/market/history?kind=trades&date=D&symbol=S&limit=N
    GET  /api/v1/market/alerts?date=D&symbol=S&unacked=1&limit=N
    POST /api/v1/market/alerts/<id>/ack                    body {"by": "name"} (optional)

Every query parameter is checked: unknown names, repeats, malformed or oversized
values get HTTP 400 with a message naming the parameter. A well-formed board
version the board cannot answer exactly (unknown, future, too old) is not an
error: the answer is the full board with ``"full": true``.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

import orjson
from flask import Blueprint, Response, current_app, request
from pydantic import BaseModel, ConfigDict

from backend.api import errors
from backend.api.errors import ApiError, json_body
from backend.market.board import BoardChanges
from backend.market.service import EXTENSION_KEY, MarketService
from backend.market.store import KINDS, MAX_HISTORY_ROWS, StoreError

market_api = Blueprint("market_api", __name__, url_prefix="/api/v1/market")
errors.install(market_api)

SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,19}$")
ALERT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._-]{0,79}$")
MAX_SYMBOLS = 500
MAX_PARAM_CHARS = 4_000


def current_market() -> MarketService:
    service = current_app.extensions.get(EXTENSION_KEY)
    if service is None:
        raise ApiError("the live market service is not running on this server", 503)
    return service


def _args(allowed: set[str]) -> dict[str, str]:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise ApiError(f"unknown query parameter {unknown[0][:40]!r}; allowed: {', '.join(sorted(allowed))}")
    for name in request.args:
        if len(request.args.getlist(name)) > 1:
            raise ApiError(f"{name}: give the parameter once")
        if len(request.args[name]) > MAX_PARAM_CHARS:
            raise ApiError(f"{name}: longer than {MAX_PARAM_CHARS:,} characters")
    return dict(request.args.items())


def _since(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if len(raw) > 20 or not raw.isascii() or not raw.isdigit():
        raise ApiError("since: expected a board version (a non-negative integer from an earlier answer)")
    return int(raw)


def parse_symbols(raw: str | None) -> frozenset[str] | None:
    """``A,B,C`` → a set of valid symbols; None when not given."""
    if raw is None or raw == "":
        return None
    items = [s.strip().upper() for s in raw.split(",") if s.strip()]
    if len(items) > MAX_SYMBOLS:
        raise ApiError(f"symbols: at most {MAX_SYMBOLS} symbols")
    bad = next((s for s in items if not SYMBOL.match(s)), None)
    if bad is not None:
        raise ApiError(f"symbols: {bad[:24]!r} is not a valid symbol")
    return frozenset(items)


def _symbol(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    value = raw.strip().upper()
    if not SYMBOL.match(value):
        raise ApiError("symbol: not a valid symbol (letters, digits, . _ -; at most 20)")
    return value


def _date(raw: str | None, name: str = "date") -> date | None:
    if raw is None or raw == "":
        return None
    if len(raw) != 10:
        raise ApiError(f"{name}: expected a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(f"{name}: expected a date as YYYY-MM-DD") from None


def _int(raw: str | None, name: str, low: int, high: int, default: int) -> int:
    if raw is None or raw == "":
        return default
    if len(raw) > 9 or not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(f"{name}: expected a whole number from {low} to {high:,}")
    return int(raw)


def _flag(raw: str | None, name: str) -> bool:
    if raw in (None, "", "0", "false"):
        return False
    if raw in ("1", "true"):
        return True
    raise ApiError(f"{name}: expected 1 or 0")


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
def board() -> Response:
    args = _args({"since", "symbols"})
    since = _since(args.get("since"))
    symbols = parse_symbols(args.get("symbols"))
    service = current_market()
    shared = _board_body(service.board.changes_since(since), symbols)
    # The status (feed age) is per request; it is spliced into the shared body.
    body = shared[:-1] + b',"status":' + orjson.dumps(service.status()) + b"}"
    return Response(body, mimetype="application/json")


@market_api.get("/status")
def status() -> Response:
    _args(set())
    return _json(current_market().status())


@market_api.get("/summary")
def summary() -> Response:
    """The numbers /market shows, from the same view every screen reads, with the feed status."""
    _args(set())
    service = current_market()
    view = service.view
    shared = view.memo(("summary-json",), lambda: orjson.dumps(view.summary))
    # The status (feed age) is per request; it is spliced into the shared body.
    return Response(shared[:-1] + b',"status":' + orjson.dumps(service.status()) + b"}", mimetype="application/json")


@market_api.get("/history")
def history() -> Response:
    args = _args({"kind", "date", "symbol", "limit"})
    kind = args.get("kind", "trades")
    if kind not in KINDS:
        raise ApiError(f"kind: choose one of {', '.join(KINDS)}")
    day = _date(args.get("date"))
    if day is None:
        raise ApiError("date: give the trading day as YYYY-MM-DD")
    symbol = _symbol(args.get("symbol"))
    limit = _int(args.get("limit"), "limit", 1, MAX_HISTORY_ROWS, 10_000)
    store = current_market().store
    if store is None:
        raise ApiError("market history is not stored on this server", 503)
    try:
        rows = store.history(kind, day, symbol, limit=limit)
    except StoreError as exc:
        raise ApiError(str(exc)) from None
    for row in rows:
        for key in ("ts", "acked_at"):
            if row.get(key) is not None:
                row[key] = row[key].isoformat()
        row["day"] = row["day"].isoformat()
    return _json({"kind": kind, "date": day.isoformat(), "symbol": symbol, "rows": rows})


@market_api.get("/alerts")
def alerts() -> Response:
    args = _args({"date", "symbol", "unacked", "limit"})
    items = current_market().alerts(
        day=_date(args.get("date")),
        symbol=_symbol(args.get("symbol")),
        unacked=_flag(args.get("unacked"), "unacked"),
        limit=_int(args.get("limit"), "limit", 1, 5_000, 200),
    )
    return _json({"alerts": items})


@market_api.post("/alerts/<alert_id>/ack")
def acknowledge(alert_id: str) -> Response:
    _args(set())
    if not ALERT_ID.match(alert_id):
        raise ApiError("alert id: not a valid alert id")
    by = "api"
    if request.content_length:
        body = json_body(max_bytes=10_000)
        unknown = sorted(set(body) - {"by"})
        if unknown:
            raise ApiError(f"{unknown[0][:40]}: unknown field")
        by = body.get("by", by)
        if not isinstance(by, str) or not 1 <= len(by) <= 64:
            raise ApiError("by: expected a name of 1 to 64 characters")
    if not current_market().acknowledge(alert_id, by=by):
        raise ApiError(f"no open alert {alert_id} today", 404)
    return _json({"id": alert_id, "acknowledged": True, "by": by})


# -- the summary's schema, for the OpenAPI document ----------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IndexSummary(_Model):
    """One index: its level and change against the prior close, breadth and the day's totals."""

    value: float | None
    prior: float | None
    change: float | None
    change_pct: float | None
    high: float | None
    low: float | None
    advances: int  # including ceilings
    declines: int  # including floors
    unchanged: int
    ceilings: int
    floors: int
    total_volume: float | None
    total_value: float | None  # VND


class BasisSummary(_Model):
    """The most traded VN30 futures contract against the VN30 index (index points)."""

    contract: str | None
    futures: float | None
    index: float | None
    basis: float | None  # futures − index
    basis_pct: float | None
    stance: Literal["premium", "discount", "flat"] | None


class ForeignSummary(_Model):
    """Foreign investors today (VND) and their speed over the last five minutes (VND per minute)."""

    buy_val: float
    sell_val: float
    net_val: float
    speed_buy_val: float
    speed_sell_val: float


class Mover(_Model):
    symbol: str
    change_pct: float


class Movers(_Model):
    up: list[Mover]
    down: list[Mover]


class MarketClock(_Model):
    clock: float | None  # the feed's latest event time, epoch seconds
    vn_time: str | None  # the same on the VN wall clock, HH:MM:SS
    phase: str


class FeedStatusModel(_Model):
    state: Literal["starting", "live", "stale", "disconnected", "stopped"]
    age_seconds: float | None
    stale_after_seconds: float
    messages: int
    rejected: int
    market_ts: float | None
    error: str | None
    source: str | None  # "simulator", "replay" or "ssi"
    simulated: bool


class MarketSummary(_Model):
    version: int
    clock: MarketClock
    indices: dict[str, IndexSummary]  # by index id: VN30, VNINDEX
    basis: BasisSummary
    foreign: ForeignSummary
    movers: Movers
    status: FeedStatusModel


def openapi_paths() -> tuple[dict[str, Any], dict[str, Any]]:
    """(paths, component schemas) of the market routes documented in the OpenAPI document."""
    schema = MarketSummary.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    error = {"description": "the message names the problem",
             "content": {"application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}},
                                                         "required": ["error"]}}}}
    paths = {
        "/api/v1/market/summary": {
            "get": {
                "summary": "What the market page shows: indices with breadth, futures basis, foreign flow, movers",
                "responses": {
                    "200": {"description": "the market now",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketSummary"}}}},
                    "400": error,
                    "503": error,
                },
            }
        }
    }
    return paths, {"MarketSummary": schema, **defs}
