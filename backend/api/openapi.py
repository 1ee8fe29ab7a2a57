"""The OpenAPI 3.1 document for the REST API, built from the request models."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from backend.pivot import DIMENSIONS, PivotRequest
from backend.pivot.catalog import STOCK_MODES

_ERROR = {
    "description": "Bad request: the message names the field",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}},
                "required": ["error"],
            }
        }
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query(name: str, description: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    from backend.api.market import openapi_paths as market_openapi

    market_paths, market_schemas = market_openapi()
    request_schema = PivotRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = request_schema.pop("$defs", {})
    by = _query("by", "dimension to group by", {"type": "string", "enum": sorted(d for d in DIMENSIONS if d != "trade_date")})
    trade_date = _query("trade_date", "one date (default: the latest in the data); not with from/to",
                        {"type": "string", "format": "date"})
    start = _query("from", "first date of a range", {"type": "string", "format": "date"})
    end = _query("to", "last date of a range", {"type": "string", "format": "date"})
    exposure = _query("exposure", "exposure view", {"type": "string", "enum": ["as_held", "look_through"]})
    stocks = _query(
        "stocks",
        "over a range, stocks (exposure, market value, unrealised P&L, delta) as of the last date with data "
        "under the filters, or their daily average over the dates with data; flows (P&L, fees, notional) are summed",
        {"type": "string", "enum": list(STOCK_MODES), "default": "last"},
    )
    cache = _query("cache", "false to bypass the result cache", {"type": "string", "enum": ["true", "false"]})
    summary_params = [trade_date, start, end, by, exposure, stocks, cache]
    meta = {
        "type": "object",
        "properties": {
            "source": {"type": "string", "description": "table that answered (trades_1d or a rollup)"},
            "as_of": {"type": ["string", "null"], "format": "date",
                      "description": "the one date every stock of the answer is read at (null: no rows)"},
            "stocks": {"type": "string", "enum": list(STOCK_MODES)},
            "stock_days": {"type": "integer", "description": "dates with data under the filters"},
            "stock_metrics": {"type": "array", "items": {"type": "string"},
                              "description": "requested metrics that read a stock (P&L % of gross: its denominator)"},
            "stocks_by_date": {"type": "boolean",
                               "description": "trade_date is a row or column key: a dated group shows its own day"},
            "data_version": {"type": "string"},
            "cached": {"type": "boolean"},
            "truncated": {"type": "boolean"},
        },
    }
    pivot_response = {
        "type": "object",
        "properties": {
            "rows": {"type": "array", "items": {"type": "object"}},
            "subtotals": {"type": "array", "items": {"type": "object"}},
            "totals": {"type": "object"},
            "column_values": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
            "meta": meta,
        },
        "required": ["rows", "totals", "meta"],
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Deskboard API",
            "version": "1",
            "description": "Pivot, exposure and P&L over the desk's daily trades, with ETF/ETC look-through.",
        },
        "paths": {
            **market_paths,
            "/health": {
                "get": {
                    "summary": "Each store reachable, and the data version",
                    "responses": {"200": {"description": "healthy"}, "503": {"description": "a store is down"}},
                }
            },
            "/api/v1/pivot": {
                "post": {
                    "summary": "Pivot the trades: rows at full depth, subtotals, totals",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PivotRequest"}}},
                    },
                    "responses": {"200": _json(pivot_response, "pivot result"), "400": _ERROR, "413": _ERROR},
                }
            },
            "/api/v1/instruments": {
                "get": {"summary": "All instruments", "responses": {"200": {"description": "instruments"}}}
            },
            "/api/v1/constituents": {
                "get": {
                    "summary": "Constituents of an ETF or ETC with weights and coverage",
                    "parameters": [_query("parent", "fund symbol", {"type": "string"}, required=True)],
                    "responses": {"200": {"description": "constituents"}, "400": _ERROR, "404": _ERROR},
                }
            },
            "/api/v1/exposure": {
                "get": {
                    "summary": "Gross, net, long and short exposure by a dimension, as of a date",
                    "parameters": summary_params,
                    "responses": {"200": _json(pivot_response, "exposure"), "400": _ERROR},
                }
            },
            "/api/v1/pnl": {
                "get": {
                    "summary": "P&L by a dimension over a date or a range",
                    "parameters": summary_params,
                    "responses": {"200": _json(pivot_response, "P&L"), "400": _ERROR},
                }
            },
        },
        "components": {"schemas": {"PivotRequest": request_schema, **defs, **market_schemas}},
    }
