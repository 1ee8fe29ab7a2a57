"""Gunicorn settings for Deskboard: ``gunicorn -c deploy/gunicorn.conf.py wsgi:server``.

gthread workers: Dash callbacks are short and I/O-bound, and live pages poll, so each
worker serves many requests with threads. Every value can be overridden from the
environment (``DESKBOARD_WORKERS``, ``DESKBOARD_THREADS``, ``DESKBOARD_HOST``,
``DESKBOARD_PORT``) or on the command line.

The web workers do not run the live feed: unless ``DESKBOARD_FEED`` says otherwise they
read the board that ``python -m backend.market.feed_process`` publishes to Redis. The
warehouse and records schemas are migrated once, here in the master before the workers
start, so workers never race each other's migrations.
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("DESKBOARD_FEED", "process")
# Prometheus multi-process mode: every worker writes its samples under this folder, and /metrics
# adds them up. It must be set before prometheus_client is first imported, so here.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR",
                      os.path.join(os.path.abspath(os.environ.get("DESKBOARD_DATA_DIR", "./data")), "prometheus"))

wsgi_app = "wsgi:server"
bind = [f"{os.environ.get('DESKBOARD_HOST', '127.0.0.1')}:{os.environ.get('DESKBOARD_PORT', '8050')}"]
worker_class = "gthread"
workers = int(os.environ.get("DESKBOARD_WORKERS", "2"))
threads = int(os.environ.get("DESKBOARD_THREADS", "8"))
timeout = 60
graceful_timeout = 20
keepalive = 5
preload_app = False  # each worker opens its own connections and threads
control_socket_disable = True  # no control socket under ~/.gunicorn
accesslog = os.environ.get("DESKBOARD_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("DESKBOARD_LOG_LEVEL", "info")


def on_starting(server) -> None:  # gunicorn's Arbiter
    """Check the settings and prepare the stores once, before any worker starts."""
    from backend.config import load_settings
    from backend.meta import close_meta, open_meta
    from backend.observability import reset_multiprocess_dir
    from backend.warehouse import WarehouseError, close_all, open_warehouse

    log = logging.getLogger("deskboard")
    reset_multiprocess_dir()
    settings = load_settings()
    if settings.embedded_warehouse and server.cfg.workers > 1:
        raise SystemExit("Deskboard: several gunicorn workers cannot share the embedded warehouse (chDB lets one "
                         "process open its folder): set DESKBOARD_WAREHOUSE_DSN to a ClickHouse server, or run one "
                         "worker (DESKBOARD_WORKERS=1)")
    if settings.feed == "embedded" and server.cfg.workers > 1:
        raise SystemExit("Deskboard: DESKBOARD_FEED=embedded would run one live feed per worker (each writing the "
                         "same history): run the feed process (DESKBOARD_FEED=process) or one worker")
    if settings.feed == "process" and not settings.redis_url:
        raise SystemExit("Deskboard: DESKBOARD_FEED=process needs DESKBOARD_REDIS_URL (the feed process publishes "
                         "the board there)")
    open_meta(settings.meta_database_url)  # migrates the records schema once
    close_meta()
    if not settings.embedded_warehouse:
        try:
            warehouse = open_warehouse(settings.warehouse_url, settings.warehouse_database)  # and its schema
            if settings.demo_rows > 0:
                from backend.datagen import ensure_demo_data

                ensure_demo_data(warehouse, rows=settings.demo_rows, seed=settings.demo_seed,
                                 folder=settings.data_dir / "demo")
        except WarehouseError as exc:
            log.warning("warehouse not ready at start (%s); workers will keep trying", exc)
        finally:
            close_all()


def child_exit(server, worker) -> None:  # a worker left: its live gauges leave with it
    from backend.observability import child_exit as metrics_child_exit

    metrics_child_exit(server, worker)
