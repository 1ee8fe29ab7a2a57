"""Versioned REST endpoints under ``/api/v1``."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import Blueprint, jsonify, request

from backend.api import errors
from backend.api.errors import ApiError, json_body
from backend.api.openapi import openapi_document
from backend.pivot import DIMENSIONS, PivotRequestError, latest_trade_date, service
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
        raise ApiError(f"unknown query parameter: {unknown[0][:40]!r}")
    for name in request.args:
        if len(request.args.getlist(name)) > 1:
            raise ApiError(f"{name}: give the parameter once")
    return {k: v for k, v in request.args.items()}


def _trade_date(args: dict[str, str]) -> str:
    raw = args.get("trade_date")
    if raw is None or raw == "":
        latest = latest_trade_date(current_stores().warehouse)
        if latest is None:
            raise ApiError("trade_date: there is no data in the warehouse yet", 404)
        return latest.isoformat()
    try:
        return date.fromisoformat(raw[:10] if len(raw) == 10 else raw).isoformat()
    except ValueError:
        raise ApiError("trade_date: expected a date as YYYY-MM-DD") from None


def _by(args: dict[str, str]) -> str:
    by = args.get("by", "portfolio_manager_id")
    if by not in DIMENSIONS or by == "trade_date":
        raise ApiError(f"by: unknown dimension (choose one of {', '.join(sorted(DIMENSIONS))})")
    return by


def _exposure(args: dict[str, str]) -> str:
    exposure = args.get("exposure", "as_held")
    if exposure not in ("as_held", "look_through"):
        raise ApiError("exposure: expected as_held or look_through")
    return exposure


@api_v1.get("/exposure")
def exposure():
    args = _query_args({"trade_date", "by", "exposure", "cache"})
    body = {
        "dimensions": [_by(args)],
        "metrics": ["gross_exposure", "net_exposure", "long_exposure", "short_exposure"],
        "filters": {"trade_date": _trade_date(args)},
        "exposure": _exposure(args),
        "sort": {"field": "gross_exposure", "direction": "desc"},
        "cache": args.get("cache", "true") != "false",
    }
    return jsonify(pivot_answer(body))


@api_v1.get("/pnl")
def pnl():
    args = _query_args({"trade_date", "by", "exposure", "cache"})
    body = {
        "dimensions": [_by(args)],
        "metrics": ["pnl", "realized_pnl", "unrealized_pnl", "pnl_pct_gross"],
        "filters": {"trade_date": _trade_date(args)},
        "exposure": _exposure(args),
        "sort": {"field": "pnl", "direction": "desc"},
        "cache": args.get("cache", "true") != "false",
    }
    return jsonify(pivot_answer(body))


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
