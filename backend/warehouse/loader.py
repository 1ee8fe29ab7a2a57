"""Bulk loading of the generator's Parquet folders into the warehouse.

Folder layout (written by ``python -m backend.datagen --out DIR``)::

    DIR/instruments.parquet
    DIR/constituents.parquet
    DIR/trades_1d/part-00000.parquet, part-00001.parquet, ...

Reference tables are replaced; trades replace the trade dates the folder covers
(in the fact table and in every rollup), so loading the same folder twice never
double counts. On chDB the engine reads the files itself (``file()``), which is
several times faster than sending Arrow batches; a server gets Arrow batches.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from clickhouse_connect.driver.exceptions import ClickHouseError

from backend.warehouse.client import Warehouse, WarehouseError
from backend.warehouse.schema import ROLLUP_TABLES, TRADES_COLUMN_NAMES, TRADES_COLUMNS


@dataclass(frozen=True)
class LoadReport:
    instruments: int
    constituents: int
    trades: int
    dates: tuple[date, date] | None
    data_version: str
    seconds: float


def _trade_files(folder: Path) -> list[Path]:
    files = sorted((folder / "trades_1d").glob("*.parquet"))
    single = folder / "trades_1d.parquet"
    return files or ([single] if single.exists() else [])


def _read_schema(path: Path) -> pa.Schema:
    try:
        return pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise WarehouseError(f"{path.name} is not a readable Parquet file: {exc}") from None


def _accepts(ctype: str, arrow_type: pa.DataType) -> bool:
    """Whether a Parquet column of ``arrow_type`` can be inserted into a ``ctype`` column."""
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if ctype.startswith("LowCardinality(String)") or ctype == "String":
        return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
    if ctype.startswith(("UInt", "Int")):
        return pa.types.is_integer(arrow_type)
    if ctype.startswith("Float"):
        return pa.types.is_floating(arrow_type) or pa.types.is_integer(arrow_type)
    if ctype == "Date":
        return pa.types.is_date(arrow_type)
    if ctype.startswith("DateTime"):
        return pa.types.is_timestamp(arrow_type)
    return True


def _check_columns(path: Path, expected: tuple[str, ...]) -> None:
    schema = _read_schema(path)
    missing = [c for c in expected if c not in schema.names]
    if missing:
        raise WarehouseError(f"{path.name} is missing columns: {', '.join(missing[:8])}")
    types = dict(TRADES_COLUMNS)
    wrong = [
        f"{name} ({schema.field(name).type}, expected {types[name]})"
        for name in expected
        if name in types and not _accepts(types[name], schema.field(name).type)
    ]
    if wrong:
        raise WarehouseError(f"{path.name} has columns of the wrong type: {', '.join(wrong[:8])}")


def _date_span(files: list[Path]) -> tuple[date, date] | None:
    lo: date | None = None
    hi: date | None = None
    for path in files:
        try:
            col = pq.read_table(path, columns=["trade_date"]).column("trade_date")
        except (pa.ArrowException, OSError) as exc:
            raise WarehouseError(f"{path.name} cannot be read: {exc}") from None
        if len(col) == 0:
            continue
        mm = pc.min_max(col).as_py()
        lo = mm["min"] if lo is None or mm["min"] < lo else lo
        hi = mm["max"] if hi is None or mm["max"] > hi else hi
    return (lo, hi) if lo is not None and hi is not None else None


# Big insert blocks leave a few large parts per month instead of many small ones:
# measured at 20M rows, raw-table queries were then no slower than after an
# OPTIMIZE ... FINAL, which would rewrite the whole table (about a minute).
# Each rollup's view aggregates every block in one thread; fed side by side, the
# three views of 20M rows took 46 s on 2 cores instead of 81 s one after another.
_BULK_INSERT = (
    " SETTINGS max_insert_block_size = 4000000, min_insert_block_size_rows = 4000000,"
    " min_insert_block_size_bytes = 0, parallel_view_processing = 1"
)


def _insert_file(wh: Warehouse, table: str, path: Path | str, columns: tuple[str, ...]) -> None:
    """Insert one Parquet file (on chDB also a glob of files, read in parallel)."""
    if wh.embedded:
        cols = ", ".join(f"`{c}`" for c in columns)
        # The path is ours (files we listed and checked), bound as a parameter all the same.
        wh.command(
            f"INSERT INTO {{db}}.{table} ({cols}) SELECT {cols} FROM file({{path:String}}, Parquet)" + _BULK_INSERT,
            {"path": str(path)},
        )
    else:
        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=500_000, columns=list(columns)):
            wh.insert_arrow(table, pa.Table.from_batches([batch]))


def _insert_trades(wh: Warehouse, files: list[Path]) -> None:
    folder = files[0].parent.resolve()
    if wh.embedded and len(files) > 1 and sorted(files) == sorted(folder.glob("*.parquet")):
        # One statement over all files: the engine reads them on every core.
        _insert_file(wh, "trades_1d", f"{folder}/*.parquet", TRADES_COLUMN_NAMES)
        return
    for path in files:
        _insert_file(wh, "trades_1d", path.resolve(), TRADES_COLUMN_NAMES)


def load_folder(wh: Warehouse, folder: Path, *, optimize: bool = True) -> LoadReport:
    """Load a generator folder; return what was loaded and the new data version.

    Every file is checked (readable, expected columns and types) before anything in
    the warehouse changes, so a bad folder leaves the loaded data as it was.
    """
    try:
        return _load_folder(wh, folder, optimize=optimize)
    except ClickHouseError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WarehouseError(f"loading {folder} failed: {first}") from None


def _load_folder(wh: Warehouse, folder: Path, *, optimize: bool) -> LoadReport:
    started = time.perf_counter()
    folder = folder.resolve()
    if not folder.is_dir():
        raise WarehouseError(f"{folder} is not a folder")
    instruments = folder / "instruments.parquet"
    constituents = folder / "constituents.parquet"
    trade_files = _trade_files(folder)
    if not instruments.exists() and not constituents.exists() and not trade_files:
        raise WarehouseError(
            f"{folder} holds no instruments.parquet, constituents.parquet or trades_1d/*.parquet"
        )

    reference: dict[str, tuple[Path, tuple[str, ...]]] = {}
    for table, path in (("instruments", instruments), ("constituents", constituents)):
        if path.exists():
            names = tuple(_read_schema(path).names)
            known = set(_reference_columns(wh, table))
            unknown = [c for c in names if c not in known]
            if unknown:
                raise WarehouseError(f"{path.name} has columns {table} does not have: {', '.join(unknown[:8])}")
            reference[table] = (path, names)
    for path in trade_files:
        _check_columns(path, TRADES_COLUMN_NAMES)
    span = _date_span(trade_files) if trade_files else None

    counts = {"instruments": 0, "constituents": 0}
    for table, (path, names) in reference.items():
        wh.command(f"TRUNCATE TABLE {{db}}.{table}")
        _insert_file(wh, table, path, names)
        counts[table] = pq.read_metadata(path).num_rows

    trades = 0
    if trade_files:
        if span is not None:
            params = {"lo": span[0], "hi": span[1]}
            for table in ("trades_1d", *(r.name for r in ROLLUP_TABLES)):
                # A mutation rewrites parts even when nothing matches; most loads are of new
                # dates, so look first (and chDB has shown rare mutation temp-file errors).
                present = wh.query_rows(
                    f"SELECT count() FROM {{db}}.{table} WHERE trade_date BETWEEN {{lo:Date}} AND {{hi:Date}}",
                    params,
                )[0][0]
                if present:
                    wh.command(
                        f"ALTER TABLE {{db}}.{table} DELETE WHERE trade_date BETWEEN "
                        "{lo:Date} AND {hi:Date} SETTINGS mutations_sync = 2",
                        params,
                    )
        _insert_trades(wh, trade_files)
        trades = sum(pq.read_metadata(path).num_rows for path in trade_files)
        if optimize:
            # chDB runs no background merges, and a SummingMergeTree rollup collapses
            # its rows only when merged: merged, the pivot reads ~100x fewer rows.
            for rollup in ROLLUP_TABLES:
                wh.command(f"OPTIMIZE TABLE {{db}}.{rollup.name} FINAL")

    version = record_load(wh, source=str(folder), rows=trades)
    return LoadReport(
        instruments=counts["instruments"],
        constituents=counts["constituents"],
        trades=trades,
        dates=span,
        data_version=version,
        seconds=time.perf_counter() - started,
    )


def _reference_columns(wh: Warehouse, table: str) -> list[str]:
    rows = wh.query_rows(
        "SELECT name FROM system.columns WHERE database = {db:String} AND table = {table:String}",
        {"db": wh.database, "table": table},
    )
    return [r[0] for r in rows]


def record_load(wh: Warehouse, *, source: str, rows: int) -> str:
    """Record a load and return the new data version."""
    load_id = uuid.uuid4()
    wh.insert_rows(
        "data_loads",
        [(load_id, datetime.now(UTC).replace(tzinfo=None), source, rows)],
        ["load_id", "loaded_at", "source", "rows"],
    )
    wh.forget_data_version()
    return str(load_id)
