"""The analytical warehouse in a backup: one Parquet file per base table.

Each table is read by one statement, so each file is a consistent copy of its
table (ClickHouse reads the parts that existed when the statement began). Tables
fed by materialized views (the trades rollups) are not stored: a restore loads
the base tables into a schema that has the views, so the views rebuild them
exactly once, the same way a load feeds them. ``schema_migrations`` is not stored
either: the restore's own migrations write it.

On chDB the engine writes and reads the files itself (``file()``); a server
streams Arrow batches to and from this process instead, since its ``file()``
would be the server's disk.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq
from clickhouse_connect.driver.exceptions import ClickHouseError

from backend.backup.common import BackupError, BackupRefused, Progress, check_identifier, no_progress, quote
from backend.backup.manifest import WarehouseSection, WarehouseTable
from backend.warehouse import Warehouse
from backend.warehouse.loader import record_load
from backend.warehouse.schema import MIGRATIONS, MIGRATIONS_DDL, ROLLUP_TABLES

NOT_STORED: Final = frozenset({"schema_migrations"})
RECORD_TABLES: Final = frozenset({"data_loads"})
_VIEW_TARGET = re.compile(r"\bTO\s+`?[A-Za-z0-9_]+`?\.`?([A-Za-z0-9_]+)`?", re.IGNORECASE)
# A row TTL in a table's engine text, and the shape of one this code can evaluate (a plain delete
# TTL over the table's own columns, as the market history tables have).
_TTL = re.compile(r"\bTTL\s+(.+?)(?:\s+SETTINGS\s|$)")
_PLAIN_TTL = re.compile(r"^[A-Za-z0-9_(),.+\-* ]+$")
_TTL_CLAUSES = re.compile(r"\b(TO|GROUP|WHERE|SET|DELETE|RECOMPRESS)\b", re.IGNORECASE)
_PARQUET_OUT: Final = " SETTINGS output_format_parquet_string_as_string = 1"
# optimize_on_insert = 0: a Replacing/SummingMergeTree table may hold rows not yet merged (an
# alert and its acknowledgement); collapsing them on the way in would change the table's rows.
_INSERT_SETTINGS: Final = {"optimize_on_insert": 0}
_BULK_INSERT: Final = (
    " SETTINGS max_insert_block_size = 4000000, min_insert_block_size_rows = 4000000,"
    " min_insert_block_size_bytes = 0, parallel_view_processing = 1, optimize_on_insert = 0"
)


def latest_schema_version() -> int:
    return max(version for version, _, _ in MIGRATIONS)


def _database_exists(wh: Warehouse) -> bool:
    rows = wh.query_rows("SELECT count() FROM system.databases WHERE name = {db:String}", {"db": wh.database})
    return bool(rows[0][0])


def _table_kinds(wh: Warehouse) -> tuple[list[str], dict[str, int]]:
    """(base tables to store, view-fed tables with their row counts) of the warehouse's database."""
    rows = wh.query_rows(
        "SELECT name, engine, create_table_query, total_rows FROM system.tables WHERE database = {db:String} "
        "ORDER BY name",
        {"db": wh.database},
    )
    fed = {m.group(1) for _, engine, ddl, _ in rows if engine == "MaterializedView" for m in [_VIEW_TARGET.search(ddl)]
           if m}
    base: list[str] = []
    rebuilt: dict[str, int] = {}
    for name, engine, _ddl, total in rows:
        if engine in ("View", "MaterializedView") or name.startswith(".inner") or name in NOT_STORED:
            continue
        check_identifier(name, "warehouse table")
        if name in fed:
            rebuilt[name] = int(total or 0)
        else:
            base.append(name)
    # The load log is a record of the data: read before the tables it describes, so a load that
    # lands during an online backup is never listed without its rows.
    base.sort(key=lambda table: (table not in RECORD_TABLES, table))
    return base, rebuilt


def _columns(wh: Warehouse, table: str) -> list[tuple[str, str]]:
    rows = wh.query_rows(
        "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String} ORDER BY position",
        {"db": wh.database, "t": table},
    )
    return [(check_identifier(name, "warehouse column"), str(ctype)) for name, ctype in rows]


def _arrow_stream(wh: Warehouse, sql: str) -> Any:
    # Warehouse has no streaming read yet; the client's own stream keeps memory to one block.
    return wh._client.query_arrow_stream(wh.sql(sql), settings={"output_format_arrow_string_as_string": 1})


def _export_table(wh: Warehouse, table: str, path: Path) -> None:
    sql = f"SELECT * FROM {{db}}.{quote(table)}"
    if wh.embedded:
        wh.command(f"INSERT INTO FUNCTION file({{path:String}}, Parquet) {sql}" + _PARQUET_OUT, {"path": str(path)})
        return
    writer: pq.ParquetWriter | None = None
    try:
        with _arrow_stream(wh, sql) as stream:
            for block in stream:
                if writer is None:
                    writer = pq.ParquetWriter(path, block.schema)
                writer.write(block)  # a RecordBatch per block
    finally:
        if writer is not None:
            writer.close()
    if writer is None:  # an empty table: still a file, with the table's columns
        empty = wh.query_arrow(f"{sql} LIMIT 0")
        pq.write_table(empty, path)


def dump_warehouse(wh: Warehouse, folder: Path, relative: str, progress: Progress = no_progress) -> WarehouseSection:
    """Write each base table of ``wh``'s database to ``folder/<table>.parquet``; return the manifest section."""
    try:
        if not _database_exists(wh):
            return WarehouseSection(present=False, database=wh.database, schema_version=0, tables={}, rebuilt={})
        version = wh.schema_version()
        base, rebuilt = _table_kinds(wh)
        folder.mkdir(parents=True, exist_ok=True)
        tables: dict[str, WarehouseTable] = {}
        for index, name in enumerate(base):
            path = folder / f"{name}.parquet"
            _export_table(wh, name, path)
            rows = pq.read_metadata(path).num_rows
            tables[name] = WarehouseTable(file=f"{relative}/{name}.parquet", rows=rows, columns=_columns(wh, name))
            progress((index + 1) / len(base), f"warehouse: {name} ({rows:,} rows)")
    except ClickHouseError as exc:
        raise BackupError(f"reading the warehouse failed: {_first_line(exc)}") from None
    return WarehouseSection(present=True, database=wh.database, schema_version=version, tables=tables,
                            rebuilt=rebuilt)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def holds_rows(wh: Warehouse) -> bool:
    """Whether the warehouse's database has any table with rows."""
    if not _database_exists(wh):
        return False
    rows = wh.query_rows(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND total_rows > 0 AND name != "
        "'schema_migrations'",
        {"db": wh.database},
    )
    return bool(rows[0][0])


def _migrate_to(wh: Warehouse, version: int) -> None:
    """Apply the migrations up to ``version`` (the backup's schema), as ``Warehouse.migrate`` does for all."""
    wh.command(f"CREATE DATABASE IF NOT EXISTS {quote(wh.database)}")
    wh.command(MIGRATIONS_DDL)
    for number, description, statements in MIGRATIONS:
        if number > version:
            break
        for statement in statements:
            wh.command(statement)
        wh.insert_rows("schema_migrations", [(number, description)], ["version", "description"])


def _import_table(wh: Warehouse, table: str, path: Path, columns: list[tuple[str, str]]) -> None:
    names = ", ".join(quote(name) for name, _ in columns)
    if wh.embedded:
        # The structure is the target table's own (read from the engine, checked names), so every
        # value is converted to its column's type by the engine, as the table would store it.
        structure = ", ".join(f"{quote(name)} {ctype}" for name, ctype in columns)
        wh.command(
            f"INSERT INTO {{db}}.{quote(table)} ({names}) SELECT {names} "
            "FROM file({path:String}, Parquet, {structure:String})" + _BULK_INSERT,
            {"path": str(path), "structure": structure},
        )
        return
    parquet = pq.ParquetFile(path)
    for batch in parquet.iter_batches(batch_size=500_000):
        # Warehouse.insert_arrow takes no settings; the client's own call does.
        wh._client.insert_arrow(f"{wh.database}.{table}", pa.Table.from_batches([batch]), settings=_INSERT_SETTINGS)


def _row_ttl(wh: Warehouse, table: str) -> str | None:
    """The table's row TTL expression, when it is a plain one over its columns (else None)."""
    rows = wh.query_rows("SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = {t:String}",
                         {"db": wh.database, "t": table})
    found = _TTL.search(rows[0][0]) if rows else None
    if found is None:
        return None
    expression = found.group(1).strip()
    if not _PLAIN_TTL.match(expression) or _TTL_CLAUSES.search(expression):
        return None
    return expression


def _live_rows(wh: Warehouse, path: Path, columns: list[tuple[str, str]], ttl: str) -> int:
    """Rows of the file that the table's TTL keeps now."""
    structure = ", ".join(f"{quote(name)} {ctype}" for name, ctype in columns)
    # ``ttl`` is the engine's text for a table this code's migrations created, not text from the backup.
    rows = wh.query_rows(f"SELECT countIf(({ttl}) > now()) FROM file({{path:String}}, Parquet, {{structure:String}})",
                         {"path": str(path), "structure": structure})
    return int(rows[0][0])


def restore_warehouse(wh: Warehouse, backup: Path, section: WarehouseSection, *, created_at: str,
                      progress: Progress = no_progress, notes: list[str] | None = None) -> dict[str, int]:
    """Rebuild ``wh``'s (empty) database from ``section``; return the restored rows per table."""
    if section.schema_version > latest_schema_version():
        raise BackupRefused(
            f"this backup's warehouse schema (version {section.schema_version}) is newer than this Deskboard "
            f"knows (version {latest_schema_version()}): restore it with the version that wrote it"
        )
    try:
        if holds_rows(wh):
            raise BackupRefused(f"the warehouse database {wh.database} already holds data; restore into an empty one")
        counts: dict[str, int] = {}
        if section.present:
            _migrate_to(wh, section.schema_version)
            counts = _load(wh, backup, section, progress, notes if notes is not None else [])
        wh.migrate()
        for name in _table_kinds(wh)[1]:
            # chDB runs no background merges; a merged SummingMergeTree is what the pivot reads fast.
            wh.command(f"OPTIMIZE TABLE {{db}}.{quote(name)} FINAL")
        _check_rollups(wh, counts.get("trades_1d", 0))
        record_load(wh, source=f"restore of the backup made at {created_at}", rows=counts.get("trades_1d", 0))
    except ClickHouseError as exc:
        raise BackupError(f"restoring the warehouse failed: {_first_line(exc)}") from None
    return counts


def _load(wh: Warehouse, backup: Path, section: WarehouseSection, progress: Progress,
          notes: list[str]) -> dict[str, int]:
    existing, _ = _table_kinds(wh)
    unknown = [name for name in section.tables if name not in existing]
    if unknown:
        raise BackupRefused(
            f"the backup holds warehouse tables that schema version {section.schema_version} does not have: "
            f"{', '.join(unknown[:5])}"
        )
    counts: dict[str, int] = {}
    for index, (name, entry) in enumerate(section.tables.items()):
        columns = _columns(wh, name)
        if [tuple(c) for c in entry.columns] != columns:
            raise BackupRefused(f"warehouse table {name}: the backup's columns differ from schema "
                                f"version {section.schema_version}")
        path = backup / entry.file
        if pq.read_metadata(path).num_rows != entry.rows:
            raise BackupRefused(f"{entry.file} holds a different number of rows than the manifest says")
        ttl = _row_ttl(wh, name)
        _import_table(wh, name, path, columns)
        got = int(wh.query_rows(f"SELECT count() FROM {{db}}.{quote(name)}")[0][0])
        if got != entry.rows:
            # Rows past the table's retention (market history keeps 30 days) may be dropped by a TTL
            # merge as soon as they are in: expected in an older backup, and said so. Every row the
            # TTL keeps must be there.
            # (A server's disk is not ours to read with file(): there the check is only an upper bound.)
            live = _live_rows(wh, path, columns, ttl) if ttl and wh.embedded else 0
            if ttl is None or not live <= got <= entry.rows:
                raise BackupError(f"warehouse table {name} holds {got:,} rows after the restore, not {entry.rows:,}")
            notes.append(f"{entry.rows - got:,} rows of {name} were past the table's retention and were not restored")
        counts[name] = got
        progress((index + 1) / max(len(section.tables), 1), f"warehouse: {name} ({got:,} rows)")
    return counts


def _check_rollups(wh: Warehouse, trades: int) -> None:
    """Each rollup counts every trade exactly once: neither double-fed nor missing a load."""
    for rollup in ROLLUP_TABLES:
        rows = wh.query_rows(f"SELECT toUInt64(sum(sum_trade_count)) FROM {{db}}.{quote(rollup.name)}")
        counted = int(rows[0][0] or 0)
        if counted != trades:
            raise BackupError(f"{rollup.name} counts {counted:,} trades after the restore, trades_1d holds {trades:,}")
