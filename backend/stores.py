"""The stores one process uses, opened once from settings.

The web server keeps one ``Stores`` on its Flask app (``server.extensions``);
callbacks and API views reach it through ``current_stores()``. Background-job
processes never open the warehouse (chDB's lock belongs to the server process).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import current_app

from backend.config import Settings
from backend.meta import MetaStore, open_meta
from backend.meta.legacy_market import LEGACY_FILE_NAME, LegacyImportError, import_market_file
from backend.warehouse import Warehouse, open_warehouse

EXTENSION_KEY = "deskboard.stores"
log = logging.getLogger(__name__)


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
        _import_old_market_file(meta, settings)
        return cls(settings=settings, warehouse=warehouse, meta=meta, cache=cache)


def current_stores() -> Stores:
    """The stores of the Flask app handling the current request."""
    return current_app.extensions[EXTENSION_KEY]


def _import_old_market_file(meta: MetaStore, settings: Settings) -> None:
    """Watchlists and price rules of older versions move into the records store at first start.

    A file that cannot be imported does not stop the app: the board works without the
    lists, the file stays untouched, and the log says which file and why.
    """
    try:
        import_market_file(meta, settings.data_dir / LEGACY_FILE_NAME)
    except LegacyImportError as exc:
        log.warning("%s — the app starts without them; the next start tries again", exc)
