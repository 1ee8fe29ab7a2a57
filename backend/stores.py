"""The stores one process uses, opened once from settings.

The web server keeps one ``Stores`` on its Flask app (``server.extensions``);
callbacks and API views reach it through ``current_stores()``. Background-job
processes never open the warehouse (chDB's lock belongs to the server process).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app

from backend.config import Settings
from backend.meta import MetaStore, open_meta
from backend.warehouse import Warehouse, open_warehouse

EXTENSION_KEY = "deskboard.stores"


@dataclass
class Stores:
    settings: Settings
    warehouse: Warehouse
    meta: MetaStore
    cache: Any  # a flask_caching.Cache; ``cache.cache`` is its backend, see backend.cache

    @classmethod
    def open(cls, settings: Settings, cache: Any) -> Stores:
        """Open (and migrate) every store; a store that cannot open stops the start."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        warehouse = open_warehouse(settings.warehouse_url, settings.warehouse_database)
        meta = open_meta(settings.meta_database_url)
        return cls(settings=settings, warehouse=warehouse, meta=meta, cache=cache)


def current_stores() -> Stores:
    """The stores of the Flask app handling the current request."""
    return current_app.extensions[EXTENSION_KEY]
