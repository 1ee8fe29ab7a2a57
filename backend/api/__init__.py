"""REST API: a Flask blueprint mounted on the Dash server.

    GET  /health
    POST /api/v1/pivot
    GET  /api/v1/instruments
    GET  /api/v1/constituents?parent=SYMBOL
    GET  /api/v1/exposure?trade_date=D&by=DIMENSION
    GET  /api/v1/pnl?trade_date=D&by=DIMENSION
    GET  /api/v1/openapi.json
"""

from __future__ import annotations

from flask import Flask

from backend.api import errors
from backend.api.health import health_bp
from backend.api.v1 import api_v1


def register_api(server: Flask) -> None:
    errors.install(api_v1)
    errors.install(health_bp)
    server.register_blueprint(health_bp)
    server.register_blueprint(api_v1)
