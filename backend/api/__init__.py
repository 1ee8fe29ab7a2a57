"""REST API: blueprints mounted on the Dash server, validated and documented by spectree.

    GET  /health                       each store reachable, data version
    /api/v1/...                        pivot, exposure, P&L, instruments, constituents (v1.py),
                                       trades drill-through and CSV (trades.py), jobs (jobs.py),
                                       live market (market.py), feature flags and signed
                                       links (flags.py), research datasets (research.py),
                                       simulations and sweeps (research_simulations.py),
                                       walk-forward runs and research jobs (research_runs.py),
                                       paper portfolios and strategies (portfolios.py), a symbol's
                                       price (symbols.py), the event stream (stream.py), users'
                                       alert rules (alerts.py)
    GET  /api/v1/openapi.json          the OpenAPI document, made from the routes' models
    GET  /api/v1/docs                  Swagger UI over that document, every asset served locally

Requests are checked by the models each route declares (``backend.api.spec``); every
refusal is a 4xx with the body ``{"error": "..."}``.
"""

from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from backend.api import errors
from backend.api.alerts import alerts_api
from backend.api.flags import access_api
from backend.api.health import health_bp
from backend.api.jobs import jobs_api
from backend.api.market import market_api
from backend.api.portfolios import portfolios_api
from backend.api.research import research_api
from backend.api.research_runs import runs_api
from backend.api.research_simulations import simulations_api
from backend.api.spec import register_spec
from backend.api.stream import stream_api
from backend.api.symbols import symbols_api
from backend.api.trades import trades_api
from backend.api.v1 import api_v1


def register_api(server: Flask) -> None:
    server.register_blueprint(health_bp)
    server.register_blueprint(api_v1)
    server.register_blueprint(trades_api)
    server.register_blueprint(market_api)
    server.register_blueprint(jobs_api)
    server.register_blueprint(access_api)
    server.register_blueprint(research_api)
    server.register_blueprint(simulations_api)
    server.register_blueprint(portfolios_api)
    server.register_blueprint(symbols_api)
    server.register_blueprint(runs_api)
    server.register_blueprint(stream_api)
    server.register_blueprint(alerts_api)
    register_spec(server)

    # Dash's page routing answers every unknown path with the app's HTML; under /api
    # an unknown path is a JSON 404, and routing errors (405, ...) are JSON too.
    def unknown_api_path(rest: str):
        adapter = server.url_map.bind_to_environ(request.environ)
        allowed = []
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            try:
                endpoint, _ = adapter.match(request.path, method=method)
            except HTTPException:
                continue
            if endpoint != "api_unknown":
                allowed.append(method)
        if allowed:
            raise MethodNotAllowed(valid_methods=allowed, description=f"use {' or '.join(allowed)} here")
        raise NotFound(f"no such API endpoint: /api/{rest[:80]}")

    server.add_url_rule("/api/<path:rest>", "api_unknown", unknown_api_path,
                        methods=["GET", "POST", "PUT", "PATCH", "DELETE"])

    @server.errorhandler(HTTPException)
    def _api_http_error(exc: HTTPException):
        if request.path.startswith("/api/") or request.path == "/health":
            return errors.error_response(exc.description or exc.name, exc.code or 500)
        return exc
