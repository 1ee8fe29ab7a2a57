"""The research services of one app: the measurements store its settings name, and datasets."""

from __future__ import annotations

import logging
from typing import Final

from flask import Flask, current_app

from backend.access.flags import DuplicateFlagError, FlagNotFoundError, Flags
from backend.config import Settings
from backend.measurements.clickhouse_store import ClickHouseMeasurements
from backend.measurements.frames import Measurements
from backend.measurements.parquet_store import ParquetMeasurements
from backend.measurements.records import MeasurementRecords
from backend.meta.store import MetaStore
from backend.research.dataset_service import Datasets
from backend.research.demo import ensure_demo_datasets
from backend.research.simulation_service import Simulations
from backend.warehouse import Warehouse

log = logging.getLogger(__name__)

EXTENSION_KEY: Final = "deskboard.datasets"
# The research pages ship behind this flag (backend.access.policy.PAGE_FLAGS).
PAGES_FLAG: Final = "research"
UPLOAD_LIMIT_KEY: Final = "DESKBOARD_UPLOAD_MAX_BYTES"  # the server's config: the largest upload, in bytes


def open_measurements(settings: Settings, warehouse: Warehouse | None) -> tuple[Measurements, str]:
    """The configured store and its name. Parquet needs no warehouse (job workers and tools use it
    beside the web process); ClickHouse keeps research series in the warehouse's database."""
    research = settings.research
    if research.measurements == "questdb" and research.questdb_ilp and research.questdb_sql:
        import psycopg

        from backend.measurements.questdb_store import QuestDBMeasurements

        url = research.questdb_sql.get_secret_value()
        return QuestDBMeasurements(research.questdb_ilp, lambda: psycopg.connect(url, autocommit=True)), "questdb"
    if settings.research.measurements == "clickhouse":
        if warehouse is None:
            raise RuntimeError("DESKBOARD_RESEARCH_MEASUREMENTS=clickhouse needs the warehouse")
        return ClickHouseMeasurements(warehouse), "clickhouse"
    return ParquetMeasurements(settings.data_dir / "measurements"), "parquet"


def open_datasets(settings: Settings, meta: MetaStore, warehouse: Warehouse | None) -> Datasets:
    measurements, store = open_measurements(settings, warehouse)
    return Datasets(measurements, MeasurementRecords(meta), store)


def install_research(server: Flask, settings: Settings, meta: MetaStore, warehouse: Warehouse) -> Datasets:
    """Give the server its datasets; a new installation with demo data gets the demo datasets."""
    datasets = open_datasets(settings, meta, warehouse)
    server.extensions[EXTENSION_KEY] = datasets
    server.config[UPLOAD_LIMIT_KEY] = settings.research.upload_max_mb * 1024 * 1024
    if settings.demo.rows > 0:
        _switch_on_for_a_new_installation(meta)
    if settings.demo.rows > 0 and settings.research.demo_datasets:
        try:
            added = ensure_demo_datasets(datasets)
        except Exception:  # demo data must never stop the start
            log.warning("demo datasets could not be added", exc_info=True)
        else:
            if added:
                log.info("added demo datasets %s", ", ".join(added))
    return datasets


def current_datasets() -> Datasets:
    return current_app.extensions[EXTENSION_KEY]


def current_simulations() -> Simulations:
    return Simulations(current_datasets())


def _switch_on_for_a_new_installation(meta: MetaStore) -> None:
    """A new installation (one that makes demo data) gets the research pages' flag on for everyone;
    an administrator turns it off or narrows it in /admin/flags, and a flag they changed is theirs."""
    flags = Flags(meta)
    try:
        flags.get(PAGES_FLAG)
    except FlagNotFoundError:
        try:
            flags.create(PAGES_FLAG, description="The research pages (/research): datasets and the indicator explorer",
                         enabled=True, rollout=100, actor="deskboard")
        except DuplicateFlagError:
            pass  # another process made it meanwhile
