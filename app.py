"""Deskboard: a trading-desk analytics workbench. ``python app.py`` serves it."""

from __future__ import annotations

import atexit
import logging
import sys
from pathlib import Path

import diskcache
import pandas  # noqa: F401  (see below)
from dash import Dash, DiskcacheManager, set_props

from backend.access.install import install_access
from backend.access.usage import install_usage
from backend.api import register_api
from backend.cache import init_cache
from backend.config import Settings, SettingsError, load_settings
from backend.jobs.runtime import install_jobs
from backend.meta import MetaError
from backend.observability.install import install_observability
from backend.research.runtime import install_research
from backend.server_mode import install_market, install_warehouse_errors, open_stores, warehouse_reachable
from backend.stores import EXTENSION_KEY, Stores
from backend.stream.runtime import install_bus
from backend.warehouse import WarehouseError

# Components register their callbacks as Dash hooks, which an app picks up when it
# is built: import them before the first Dash() (pages are imported after hooks).
from components import job_progress as _job_progress  # noqa: F401
from components import saved_views as _saved_views  # noqa: F401
from components.shell import shell_layout

# pandas is imported above, before the server starts: pyarrow and Plotly import it lazily, and
# two request threads importing it at once can see a half-initialised module (a 500 on first load).
HERE = Path(__file__).resolve().parent
log = logging.getLogger("deskboard")


def create_app(settings: Settings | None = None, *, market: bool = True) -> Dash:
    """The whole app; ``market=False`` leaves the live market feed stopped (tests, tools)."""
    settings = settings or load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Background callbacks run in worker processes: they must never open the warehouse.
    jobs = DiskcacheManager(diskcache.Cache(str(settings.data_dir / "jobs")))
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder=str(HERE / "pages"),
        assets_folder=str(HERE / "assets"),
        title="Deskboard",
        update_title=None,
        suppress_callback_exceptions=True,
        background_callback_manager=jobs,
        serve_locally=True,
    )
    server = app.server
    server.config["SECRET_KEY"] = settings.secret_key
    # First, so every later request hook and start-up line logs with the request id / as JSON.
    install_observability(app, notify=set_props)
    cache = init_cache(server, settings)
    # A warehouse server that is down does not stop the start: pages and /health say so.
    stores = open_stores(settings, cache)
    server.extensions[EXTENSION_KEY] = stores
    # Usage events (page views, API calls, pivots, jobs) are buffered and written off the request path.
    atexit.register(install_usage(server, stores.warehouse).stop)
    # At start, not on first use: jobs a previous server left queued run, and ones it left running fail.
    install_jobs(server, stores)
    _ensure_demo_data(stores)
    install_research(server, settings, stores.meta, stores.warehouse)
    register_api(server)
    install_warehouse_errors(server)
    install_bus(server, settings)  # trades, market, signals, alerts and fills for /api/v1/stream
    if market:
        install_market(server, stores)  # as DESKBOARD_FEED says: embedded thread, feed process, or off
    # Last of the server's set-up: the access check must know every route, and wraps them all.
    install_access(server, stores, settings, callback_map=lambda: app.callback_map)
    app.layout = shell_layout
    return app


def _ensure_demo_data(stores: Stores) -> None:
    if stores.settings.demo_rows <= 0 or not warehouse_reachable(stores.warehouse):
        return
    from backend.datagen import ensure_demo_data

    if ensure_demo_data(
        stores.warehouse,
        rows=stores.settings.demo_rows,
        seed=stores.settings.demo_seed,
        folder=stores.settings.data_dir / "demo",
    ):
        log.info("created demo data in %s", stores.settings.data_dir / "demo")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        app = create_app(settings)
    except (SettingsError, WarehouseError, MetaError) as exc:
        print(f"Deskboard cannot start: {exc}", file=sys.stderr)
        return 2
    # The reloader would start a second process on the same chDB folder, which chDB refuses.
    app.run(host=settings.host, port=settings.port, debug=settings.debug, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
