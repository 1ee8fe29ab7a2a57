"""``GET /health``: each store reachable, schema and data version."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, jsonify
from pydantic import BaseModel, ConfigDict
from spectree import Response

from backend.api import errors
from backend.api.spec import TAGS, ErrorBody, Query, spec
from backend.market.service import current_market_service
from backend.sources import store_checks
from backend.stores import current_stores

health_bp = Blueprint("health", __name__)
errors.install(health_bp)


class StoreCheck(BaseModel):
    """One store: reachable or not, how long the probe took, and which backend answered."""

    model_config = ConfigDict(extra="allow")

    ok: bool
    ms: float
    backend: str | None = None
    error: str | None = None  # the exception's type name only
    reason: str | None = None  # said for users by the error itself (e.g. which server is down), never a query


class MarketHealth(BaseModel):
    """The live feed as this process sees it; informational: a closed market is not a sick server."""

    model_config = ConfigDict(extra="allow")

    state: str
    source: str | None = None
    history: dict[str, Any] | None = None  # rows waiting for the warehouse, dropped at the cap, refused


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    stores: dict[str, StoreCheck]  # warehouse, meta, cache
    data_version: str | None
    market: MarketHealth | None = None  # absent when this process serves no live market


class HealthQuery(Query):
    """No query parameters."""


@health_bp.get("/health")
@spec.validate(resp=Response(HTTP_200=(Health, "every store answered"), HTTP_503=(Health, "a store is down"),
                             HTTP_400=ErrorBody), tags=[TAGS["health"]])
def health(query: HealthQuery):
    """Each store reachable (warehouse, metadata, cache), its backend, and the data version."""
    stores = current_stores()
    wh = stores.warehouse
    checks = store_checks(stores)
    healthy = all(c["ok"] for c in checks.values())
    version = wh.data_version() if checks["warehouse"]["ok"] else None
    body = {"status": "ok" if healthy else "degraded", "stores": checks, "data_version": version,
            "market": _market()}
    return jsonify(body), 200 if healthy else 503


def _market() -> dict[str, Any] | None:
    service = current_market_service()
    if service is None:
        return None
    try:
        status = service.status()
        history = getattr(service, "history_status", None)
        return {"state": str(status.get("state")), "source": status.get("source"),
                "history": history() if callable(history) else None}
    except Exception as exc:  # noqa: BLE001 - health reports, it does not raise
        return {"state": "unknown", "error": type(exc).__name__}
