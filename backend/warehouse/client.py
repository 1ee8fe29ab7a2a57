"""One client factory for the analytical warehouse, embedded (chDB) or server (HTTP).

``clickhouse_connect.get_client(dsn=...)`` speaks to both; this module adds the
things a desk needs around it: one open client per process and DSN (chDB holds an
exclusive lock on its folder), schema migrations, a data version for caches, and
plain-words errors when the folder is locked.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from backend.warehouse.schema import MIGRATIONS, MIGRATIONS_DDL


class WarehouseError(RuntimeError):
    """A warehouse problem described for the person who has to fix it."""


class WarehouseLockedError(WarehouseError):
    """Another process holds the embedded warehouse folder."""


_LOCK_HINT = (
    "The embedded warehouse at {path} is in use by another Deskboard process "
    "(the app server, a CLI, or a debug reloader). chDB lets one process open a folder "
    "at a time. Stop that process and try again, or write Parquet files with "
    "`python -m backend.datagen --out DIR` and load them once the app is stopped."
)


class Warehouse:
    """Thin, thread-safe facade over one clickhouse-connect client."""

    # How long a read data version may be reused. Loads made by this process bump it
    # at once; loads made by another process are seen within this window.
    VERSION_TTL_SECONDS = 1.0

    def __init__(self, client: Client, database: str, url: str) -> None:
        self._client = client
        self.database = database
        self.url = url
        self.embedded = url.startswith("chdb://")
        self._version: tuple[float, str] | None = None
        self._version_lock = threading.Lock()

    # -- queries -----------------------------------------------------------------
    def sql(self, template: str) -> str:
        """Fill the database name into a statement written with ``{db}``."""
        return template.replace("{db}", f"`{self.database}`")

    def query_arrow(self, sql: str, parameters: Mapping[str, Any] | None = None) -> pa.Table:
        return self._client.query_arrow(self.sql(sql), parameters=dict(parameters or {}))

    def query_rows(
        self, sql: str, parameters: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        return list(self._client.query(self.sql(sql), parameters=dict(parameters or {})).result_rows)

    def query_df(self, sql: str, parameters: Mapping[str, Any] | None = None):
        return self._client.query_df(self.sql(sql), parameters=dict(parameters or {}))

    def raw_query(self, sql: str, parameters: Mapping[str, Any] | None = None, fmt: str = "CSV") -> bytes:
        """The engine's own output format as bytes (CSV for exports), unparsed."""
        return self._client.raw_query(self.sql(sql), parameters=dict(parameters or {}), fmt=fmt)

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any:
        return self._client.command(self.sql(sql), parameters=dict(parameters or {}))

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        self._client.insert_arrow(f"{self.database}.{table}", data)

    def insert_rows(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        self._client.insert(f"{self.database}.{table}", list(rows), column_names=list(columns))

    def ping(self) -> bool:
        try:
            return self.query_rows("SELECT 1") == [(1,)]
        except ClickHouseError:
            return False

    # -- schema ------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply pending migrations in order; return the versions applied now."""
        self.command(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
        self.command(MIGRATIONS_DDL)
        done = {row[0] for row in self.query_rows("SELECT version FROM {db}.schema_migrations")}
        applied = []
        for version, description, statements in MIGRATIONS:
            if version in done:
                continue
            for statement in statements:
                self.command(statement)
            self.insert_rows(
                "schema_migrations", [(version, description)], ["version", "description"]
            )
            applied.append(version)
        return applied

    def schema_version(self) -> int:
        rows = self.query_rows("SELECT max(version) FROM {db}.schema_migrations")
        return int(rows[0][0] or 0)

    # -- data version ------------------------------------------------------------
    def data_version(self) -> str:
        """Identifier of the latest load; changes on every load (cache keys use it)."""
        now = time.monotonic()
        cached = self._version
        if cached is not None and now - cached[0] < self.VERSION_TTL_SECONDS:
            return cached[1]
        with self._version_lock:
            rows = self.query_rows(
                "SELECT toString(load_id) FROM {db}.data_loads ORDER BY loaded_at DESC LIMIT 1"
            )
            version = rows[0][0] if rows else "empty"
            self._version = (time.monotonic(), version)
            return version

    def forget_data_version(self) -> None:
        self._version = None

    def table_counts(self) -> dict[str, int]:
        rows = self.query_rows(
            "SELECT name, total_rows FROM system.tables WHERE database = {db:String} "
            "AND engine NOT IN ('MaterializedView', 'View') ORDER BY name",
            {"db": self.database},
        )
        return {name: int(count or 0) for name, count in rows}

    def close(self) -> None:
        self._client.close()


_open: dict[str, Warehouse] = {}
_open_lock = threading.Lock()


def folder_locked(folder: str | os.PathLike[str]) -> bool:
    """Whether another process holds the engine's lock on ``folder/status``."""
    status = os.path.join(folder, "status")
    try:
        fd = os.open(status, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _connect(url: str) -> Client:
    parts = urlsplit(url)
    try:
        if parts.scheme == "chdb":
            return clickhouse_connect.get_client(dsn=url)
        return clickhouse_connect.get_client(dsn=url, connect_timeout=5, send_receive_timeout=300)
    except ClickHouseError as exc:
        text = str(exc)
        # The engine reports the lock on stderr and raises a generic start-up error,
        # so the lock file itself is the reliable witness.
        locked = parts.scheme == "chdb" and folder_locked(parts.path)
        if locked or "Cannot lock file" in text or "already running" in text:
            raise WarehouseLockedError(_LOCK_HINT.format(path=parts.path)) from None
        where = parts.path if parts.scheme == "chdb" else parts.hostname
        raise WarehouseError(f"cannot open the warehouse at {where}: {text.splitlines()[0]}") from None
    except OSError as exc:
        raise WarehouseError(f"cannot reach the warehouse at {parts.hostname}: {exc}") from None


def open_warehouse(url: str, database: str = "deskboard", *, migrate: bool = True) -> Warehouse:
    """Return this process's warehouse for ``url``, opening and migrating it once."""
    key = f"{url}#{database}"
    with _open_lock:
        wh = _open.get(key)
        if wh is None:
            wh = Warehouse(_connect(url), database, url)
            if migrate:
                wh.migrate()
            _open[key] = wh
        return wh


def close_all() -> None:
    with _open_lock:
        for wh in _open.values():
            wh.close()
        _open.clear()
