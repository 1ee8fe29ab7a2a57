"""Versioned REST endpoints under ``/api/v1``."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import Blueprint, jsonify, request

from backend.api import errors
from backend.api.errors import ApiError, json_body, safe_name
from backend.api.openapi import openapi_document
from backend.pivot import DIMENSIONS, PivotRequestError, latest_trade_date, service
from backend.pivot.catalog import STOCK_MODES
from backend.stores import current_stores

api_v1 = Blueprint("api_v1", __name__, url_prefix="/api/v1")
errors.install(api_v1)

_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


def pivot_answer(body: dict[str, Any]) -> dict[str, Any]:
    """The pivot service's answer; a request the engine refuses is a 400 naming the field."""
    try:
        return service.pivot_answer(current_stores(), body)
    except PivotRequestError as exc:
        raise ApiError(str(exc)) from None


@api_v1.post("/pivot")
def pivot():
    return jsonify(pivot_answer(json_body()))


def _query_args(allowed: set[str]) -> dict[str, str]:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        # The caller's text: named back only when it looks like a parameter name.
        raise ApiError(f"{safe_name(unknown[0])}: unknown query parameter (use {', '.join(sorted(allowed))})")
    for name in request.args:
        if len(request.args.getlist(name)) > 1:
            raise ApiError(f"{name}: give the parameter once")
    return {k: v for k, v in request.args.items()}


def _date_arg(args: dict[str, str], name: str) -> date | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) != 10:
        raise ApiError(f"{name}: expected a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(f"{name}: expected a date as YYYY-MM-DD") from None


def _trade_dates(args: dict[str, str]) -> str | dict[str, str]:
    """One date (``trade_date``, default the latest) or a range (``from`` and/or ``to``)."""
    day, start, end = _date_arg(args, "trade_date"), _date_arg(args, "from"), _date_arg(args, "to")
    if day is not None and (start is not None or end is not None):
        raise ApiError("trade_date: give one date, or a range with from and to, not both")
    if start is not None and end is not None and end < start:
        raise ApiError(f"to: {end} is before from {start}")
    if start is not None or end is not None:
        return {k: v.isoformat() for k, v in (("from", start), ("to", end)) if v is not None}
    if day is None:
        day = latest_trade_date(current_stores().warehouse)
        if day is None:
            raise ApiError("trade_date: there is no data in the warehouse yet", 404)
    return day.isoformat()


def _by(args: dict[str, str]) -> str:
    by = args.get("by", "portfolio_manager_id")
    if by not in DIMENSIONS or by == "trade_date":
        raise ApiError(f"by: unknown dimension (choose one of {', '.join(sorted(DIMENSIONS))})")
    return by


def _choice(args: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = args.get(name, choices[0])
    if value not in choices:
        raise ApiError(f"{name}: expected {' or '.join(choices)}")
    return value


_SUMMARY_ARGS = {"trade_date", "from", "to", "by", "exposure", "stocks", "cache"}


def _summary(args: dict[str, str], metrics: list[str], sort: str) -> dict[str, Any]:
    """The pivot body behind /exposure and /pnl: stocks over a range follow the pivot's rule."""
    return {
        "dimensions": [_by(args)],
        "metrics": metrics,
        "filters": {"trade_date": _trade_dates(args)},
        "exposure": _choice(args, "exposure", ("as_held", "look_through")),
        "stocks": _choice(args, "stocks", STOCK_MODES),
        "sort": {"field": sort, "direction": "desc"},
        "cache": _choice(args, "cache", ("true", "false")) == "true",
    }


@api_v1.get("/exposure")
def exposure():
    args = _query_args(_SUMMARY_ARGS)
    metrics = ["gross_exposure", "net_exposure", "long_exposure", "short_exposure"]
    return jsonify(pivot_answer(_summary(args, metrics, "gross_exposure")))


@api_v1.get("/pnl")
def pnl():
    args = _query_args(_SUMMARY_ARGS)
    metrics = ["pnl", "realized_pnl", "unrealized_pnl", "pnl_pct_gross"]
    return jsonify(pivot_answer(_summary(args, metrics, "pnl")))


@api_v1.get("/instruments")
def instruments():
    _query_args(set())
    df = current_stores().warehouse.query_df("SELECT * FROM {db}.instruments FINAL ORDER BY symbol")
    return jsonify({"instruments": df.to_dict(orient="records")})


@api_v1.get("/constituents")
def constituents():
    args = _query_args({"parent"})
    parent = args.get("parent", "")
    if not parent:
        raise ApiError("parent: give the ETF/ETC symbol, e.g. ?parent=SPY")
    if not _SYMBOL.match(parent):
        raise ApiError("parent: not a valid symbol")
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


@api_v1.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
